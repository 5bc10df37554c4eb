//! Seeded random streams.
//!
//! Every consumer of randomness (the shuffle, stochastic binarisation, a
//! model's Gibbs sampling, weight initialisation) gets its own stream,
//! derived from the run's seed and a stream id ([`Rng::stream`]), so adding
//! a new consumer never changes the numbers another one sees. A stream's
//! state is 32 bytes ([`Rng::state`]) and is saved in checkpoints.

use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng as _, SeedableRng};

/// Well-known stream ids, so the engine's own streams never collide.
pub mod streams {
    /// The per-epoch minibatch shuffle (mixed with the epoch number).
    pub const SHUFFLE: u64 = 0x5348_5546_464c_4500;
    /// Stochastic binarisation of data.
    pub const BINARISE: u64 = 0x4249_4e41_5249_5300;
    /// A model's own sampling during training (Gibbs chains, noise).
    pub const MODEL: u64 = 0x4d4f_4445_4c00_0000;
    /// Parameter initialisation.
    pub const INIT: u64 = 0x494e_4954_0000_0000;
}

/// SplitMix64's finaliser: a bijective 64-bit mixer.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seeded xoshiro256++ generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    inner: Xoshiro256PlusPlus,
}

impl Rng {
    /// A generator seeded from one number.
    pub fn new(seed: u64) -> Self {
        Rng {
            inner: Xoshiro256PlusPlus::seed_from_u64(seed),
        }
    }

    /// The stream `stream` of the run seeded with `seed`. Different stream
    /// ids give unrelated sequences.
    pub fn stream(seed: u64, stream: u64) -> Self {
        Self::new(mix64(
            seed ^ mix64(stream.wrapping_add(0x9e37_79b9_7f4a_7c15)),
        ))
    }

    /// Sub-stream `index` (an epoch, a sample index, …) of
    /// [`stream`](Rng::stream)`(seed, stream)`.
    pub fn substream(seed: u64, stream: u64, index: u64) -> Self {
        Self::stream(
            seed,
            mix64(stream) ^ mix64(index.wrapping_mul(0xd1b5_4a32_d192_ed03)),
        )
    }

    /// The generator's state, to save in a checkpoint.
    pub fn state(&self) -> [u8; 32] {
        self.inner.state()
    }

    /// A generator restored from [`state`](Rng::state).
    pub fn from_state(state: [u8; 32]) -> Self {
        Rng {
            inner: Xoshiro256PlusPlus::from_seed(state),
        }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// The next 32 random bits.
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        (self.inner.next_u64() >> 32) as u32
    }

    /// A uniform `f32` in `[0, 1)` (24 random bits).
    #[inline]
    pub fn uniform_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// A uniform `f64` in `[0, 1)` (53 random bits).
    #[inline]
    pub fn uniform_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `0..n` without modulo bias (Lemire's method);
    /// `0` when `n == 0`.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let mut m = (self.next_u64() as u128) * (n as u128);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = (self.next_u64() as u128) * (n as u128);
            }
        }
        (m >> 64) as u64
    }

    /// A standard normal `f64` (Box–Muller; uses two uniforms).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform_f64(); // (0, 1]
        let u2 = self.uniform_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Shuffles `items` in place (Fisher–Yates); allocates nothing.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_and_reproduce() {
        let a: Vec<u64> = (0..4).map(|_| Rng::stream(1, 2).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::stream(1, 2).next_u64(), Rng::stream(1, 3).next_u64());
        assert_ne!(Rng::stream(1, 2).next_u64(), Rng::stream(2, 2).next_u64());
        assert_ne!(
            Rng::substream(1, 2, 0).next_u64(),
            Rng::substream(1, 2, 1).next_u64()
        );
    }

    #[test]
    fn state_round_trips() {
        let mut r = Rng::stream(7, 9);
        r.next_u64();
        let mut s = Rng::from_state(r.state());
        for _ in 0..10 {
            assert_eq!(r.next_u64(), s.next_u64());
        }
    }

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut r = Rng::new(3);
        let mut counts = [0u32; 7];
        for _ in 0..70_000 {
            counts[r.below(7) as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
        let u = r.uniform_f32();
        assert!((0.0..1.0).contains(&u));
    }
}
