//! Random numbers for Gibbs sampling and noise: reproducible row streams,
//! vectorised generators, and fused samplers.
//!
//! # Streams
//! A [`Streams`] value is a `(seed, step)` pair. Row `r` of any sampled
//! matrix gets its own generator, seeded from `(seed, step, r)` alone, so
//! the numbers do not depend on how rows are split between threads: the same
//! seed gives bit-identical samples for every thread count, and on every
//! instruction set (all paths process 16 lanes in the same order).
//!
//! The generator of a row is 16 independent `xoshiro128+` lanes (the
//! algorithm of `rand_xoshiro::Xoshiro128Plus`). Their 64 state words are
//! a keyed hash of the row's 64-bit key (from `seed`, `step` and the row by
//! the SplitMix64 finaliser): word `w` of lane `l` is
//! `fmix32(fmix32(key_lo ^ (l + 16 w)·φ) + key_hi)`, with murmur3's
//! bijective `fmix32` and `φ = 0x9E3779B9`, computed in vector registers
//! (a few dozen instructions a row, so short rows do not pay a scalar
//! seeding loop). The 64 words of a row are distinct, so no lane starts
//! from the all-zero state. Element `j` of the row uses draw `j / 16` of
//! lane `j % 16`. A uniform is the top 24 bits of a draw times `2^-24`, so
//! it lies in `[0, 1)` on a grid of `2^-24` ([`Streams::lane`] gives the
//! scalar `Xoshiro128Plus` of one lane, for tests).
//!
//! # Samplers
//! Every sampler takes row-major `rows x cols` buffers and a [`Par`]; rows
//! are split between rayon tasks above a size threshold. Normal deviates
//! come from a vectorised Box–Muller transform (`ln`, `sqrt`, and a
//! polynomial `sin`/`cos` of an exactly reduced angle): two uniforms give
//! two normals, for elements `j` and `j + 16` of a block of 32. They are
//! exact to a few ulp, truncated at `|ε| ≤ 5.77` (probability `8·10⁻⁹`).

mod gaussian;
mod uniform;
mod vrng;

pub use gaussian::{
    Scale, gaussian, gaussian_noise, gaussian_noise_on, gaussian_on, gaussian_reparam,
    gaussian_reparam_on,
};
pub use uniform::{
    bernoulli, bernoulli_on, mask_noise, mask_noise_on, salt_pepper, salt_pepper_on,
    sigmoid_bernoulli, sigmoid_bernoulli_on, uniform, uniform_on,
};

use crate::simd::LANES;
use rand_xoshiro::Xoshiro128Plus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};
#[cfg(doc)]
use vrng::VRng;

/// A family of reproducible random streams: one per row, derived from
/// `(seed, step, row)`. Advance `step` once per use (per Gibbs step, per
/// minibatch) so that every use draws fresh numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Streams {
    seed: u64,
    step: u64,
    /// Added to the row index of every row a sampler sees, so a block of
    /// rows sampled on its own draws what the whole matrix would.
    first_row: u64,
}

/// The SplitMix64 finaliser: a bijection of `u64` with good avalanche.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `φ = 2^32 / golden ratio`, the multiplier that spreads lane and word
/// indices.
const PHI32: u32 = 0x9E37_79B9;

/// murmur3's 32-bit finaliser (a bijection).
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    h = h.wrapping_mul(0xC2B2_AE35);
    h ^ (h >> 16)
}

/// Word `w` of lane `lane`'s state for the row key `key` (scalar form of
/// what [`VRng::new`] computes in vector registers).
fn state_word(key: u64, lane: u32, w: u32) -> u32 {
    let c = (lane + 16 * w).wrapping_mul(PHI32);
    fmix32(fmix32(key as u32 ^ c).wrapping_add((key >> 32) as u32))
}

impl Streams {
    /// The streams of `seed` at step 0.
    pub fn new(seed: u64) -> Self {
        Streams {
            seed,
            step: 0,
            first_row: 0,
        }
    }

    /// The same streams for a block of rows that starts at row
    /// `first_row` of a larger matrix: sampling the block with these gives
    /// bit for bit what sampling the whole matrix gives for those rows.
    pub fn rows_from(self, first_row: u64) -> Self {
        Streams { first_row, ..self }
    }

    /// The same seed at another step.
    pub fn at_step(self, step: u64) -> Self {
        Streams { step, ..self }
    }

    /// The streams of the next step.
    pub fn next_step(self) -> Self {
        self.at_step(self.step.wrapping_add(1))
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The step.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The 64-bit key of row `row`'s generator (`row` counted from the
    /// block start set by [`rows_from`](Streams::rows_from), if any).
    pub fn row_key(&self, row: u64) -> u64 {
        let row = row.wrapping_add(self.first_row);
        let k = mix64(self.seed ^ 0x5851_F42D_4C95_7F2D);
        let k = mix64(k ^ self.step.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        mix64(k ^ row.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }

    /// The scalar generator of lane `lane` (`< 16`) of row `row`: draw `n`
    /// of it is the draw the samplers use for element `16 n + lane` of the
    /// row. For tests and for code that needs the same numbers one at a
    /// time. `lane` is taken modulo 16.
    pub fn lane(&self, row: u64, lane: usize) -> LaneRng {
        let key = self.row_key(row);
        let mut seed = [0u8; 16];
        for (w, bytes) in seed.chunks_exact_mut(4).enumerate() {
            let word = state_word(key, (lane % LANES) as u32, w as u32);
            bytes.copy_from_slice(&word.to_le_bytes());
        }
        LaneRng(Xoshiro128Plus::from_seed(seed))
    }
}

/// One lane of a row's generator, as a scalar `xoshiro128+`
/// (see [`Streams::lane`]).
#[derive(Debug, Clone)]
pub struct LaneRng(Xoshiro128Plus);

impl LaneRng {
    /// The next 32-bit draw.
    pub fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    /// The next uniform in `[0, 1)`, exactly as the vector samplers make it.
    pub fn next_uniform(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }
}
