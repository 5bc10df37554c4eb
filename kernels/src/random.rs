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

use crate::activation::OpSigmoid;
use crate::activation::Unary;
use crate::simd::{Checked, Kernel, LANES, Simd, dispatch, math};
use crate::split::{check_exact, check_len, rows1, rows2};
use crate::{Isa, KernelError, Par};
use rand_xoshiro::Xoshiro128Plus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};

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

/// `fmix32` on 16 lanes (helpers are functions, not closures, so that they
/// are compiled inside the `#[target_feature]` shells).
#[inline(always)]
fn fmix32_v<S: Simd>(s: S, h: S::U) -> S::U {
    let h = s.xor_u(h, s.shr_u(h, 16));
    let h = s.mul_u(h, s.splat_u(0x85EB_CA6B));
    let h = s.xor_u(h, s.shr_u(h, 13));
    let h = s.mul_u(h, s.splat_u(0xC2B2_AE35));
    s.xor_u(h, s.shr_u(h, 16))
}

/// [`state_word`] for all 16 lanes at once.
#[inline(always)]
fn state_words<S: Simd>(s: S, lane: S::U, lo: S::U, hi: S::U, w: u32) -> S::U {
    let c = s.mul_u(s.add_u(lane, s.splat_u(16 * w)), s.splat_u(PHI32));
    fmix32_v(s, s.add_u(fmix32_v(s, s.xor_u(lo, c)), hi))
}

/// 16 `xoshiro128+` lanes in vector registers.
struct VRng<S: Simd> {
    s: [S::U; 4],
}

impl<S: Simd> VRng<S> {
    /// The generator of the row whose key is `key` (see the module
    /// documentation for the state hash).
    #[inline(always)]
    fn new(s: S, key: u64) -> Self {
        const IDX: [u32; LANES] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
        let lane = s.load_u(&IDX);
        let (lo, hi) = (s.splat_u(key as u32), s.splat_u((key >> 32) as u32));
        VRng {
            s: [
                state_words(s, lane, lo, hi, 0),
                state_words(s, lane, lo, hi, 1),
                state_words(s, lane, lo, hi, 2),
                state_words(s, lane, lo, hi, 3),
            ],
        }
    }

    /// The next 16 draws (`xoshiro128+`, as in `rand_xoshiro`).
    #[inline(always)]
    fn next(&mut self, s: S) -> S::U {
        let [s0, s1, s2, s3] = self.s;
        let out = s.add_u(s0, s3);
        let t = s.shl_u(s1, 9);
        let s2 = s.xor_u(s2, s0);
        let s3 = s.xor_u(s3, s1);
        let s1 = s.xor_u(s1, s2);
        let s0 = s.xor_u(s0, s3);
        let s2 = s.xor_u(s2, t);
        let s3 = s.rotl_u(s3, 11);
        self.s = [s0, s1, s2, s3];
        out
    }

    /// 16 uniforms in `[0, 1)` (multiples of `2^-24`).
    #[inline(always)]
    fn uniform(&mut self, s: S) -> S::F {
        let u = self.next(s);
        s.mul(s.i32_to_f(s.shr_u(u, 8)), s.splat(1.0 / 16_777_216.0))
    }

    /// 32 standard normals (Box–Muller on two vectors of uniforms).
    #[inline(always)]
    fn normal2(&mut self, s: S) -> (S::F, S::F) {
        let step = s.splat(1.0 / 16_777_216.0);
        // u1 in (0, 1]: ln never sees 0.
        let u1 = s.mul(
            s.i32_to_f(s.add_u(s.shr_u(self.next(s), 8), s.splat_u(1))),
            step,
        );
        let u2 = s.uniform_from(self.next(s));
        let r = s.sqrt(s.mul(s.splat(-2.0), math::ln(s, u1)));
        let (c, sn) = sincos_2pi(s, u2);
        (s.mul(r, c), s.mul(r, sn))
    }
}

/// `u32` draws to uniforms (crate-private helper on every `Simd`).
trait UniformFrom: Simd {
    #[inline(always)]
    fn uniform_from(self, u: Self::U) -> Self::F {
        self.mul(
            self.i32_to_f(self.shr_u(u, 8)),
            self.splat(1.0 / 16_777_216.0),
        )
    }
}

impl<S: Simd> UniformFrom for S {}

/// `(cos 2πu, sin 2πu)` for `u` in `[0, 1)` on the `2^-24` grid: the
/// quadrant reduction `4u = q + f` is exact, then minimax polynomials on
/// `|x| = |f|·π/2 ≤ π/4` (Cephes `sinf`/`cosf`).
#[inline(always)]
fn sincos_2pi<S: Simd>(s: S, u: S::F) -> (S::F, S::F) {
    let t = s.mul(u, s.splat(4.0));
    let q = math::round(s, t);
    let x = s.mul(s.sub(t, q), s.splat(std::f32::consts::FRAC_PI_2));
    let z = s.mul(x, x);
    let mut ps = s.splat(-1.951_529_6e-4);
    ps = s.fma(ps, z, s.splat(8.332_161e-3));
    ps = s.fma(ps, z, s.splat(-1.666_665_5e-1));
    let sin = s.fma(s.mul(ps, z), x, x);
    let mut pc = s.splat(2.443_315_7e-5);
    pc = s.fma(pc, z, s.splat(-1.388_731_6e-3));
    pc = s.fma(pc, z, s.splat(4.166_664_6e-2));
    let cos = s.fma(s.mul(pc, z), z, s.fma(z, s.splat(-0.5), s.splat(1.0)));
    let k = s.and_u(s.cvt_i32(q), s.splat_u(3));
    let swap = s.eq(s.i32_to_f(s.and_u(k, s.splat_u(1))), s.splat(1.0));
    let (c, sn) = (s.select(swap, sin, cos), s.select(swap, cos, sin));
    // cos is negative in quadrants 1 and 2, sin in 2 and 3.
    let cneg = s.shl_u(s.and_u(s.add_u(k, s.splat_u(1)), s.splat_u(2)), 30);
    let sneg = s.shl_u(s.and_u(k, s.splat_u(2)), 30);
    (
        s.bits_to_f(s.xor_u(s.to_bits(c), cneg)),
        s.bits_to_f(s.xor_u(s.to_bits(sn), sneg)),
    )
}

/// What a row sampler does with its uniforms.
#[derive(Clone, Copy)]
enum UMode<'a> {
    /// `out = u`.
    Uniform,
    /// `out = [u < p]`.
    Bernoulli { p: &'a [f32] },
    /// `out = x·[u >= nu]`.
    Mask { x: &'a [f32], nu: f32 },
    /// `out = lo` if `u < nu/2`, `hi` if `nu/2 <= u < nu`, else `x`.
    SaltPepper {
        x: &'a [f32],
        nu: f32,
        lo: f32,
        hi: f32,
    },
}

struct URows<'a> {
    streams: Streams,
    row0: usize,
    cols: usize,
    out: &'a mut [f32],
    mode: UMode<'a>,
}

impl Kernel for URows<'_> {
    type Out = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let cols = self.cols;
        if cols == 0 {
            return;
        }
        let zero = s.splat(0.0);
        let one = s.splat(1.0);
        for (i, row) in self.out.chunks_exact_mut(cols).enumerate() {
            let r = self.row0 + i;
            let mut g = VRng::new(s, self.streams.row_key(r as u64));
            let off = i * cols;
            let mut j = 0;
            while j < cols {
                let n = (cols - j).min(LANES);
                let u = g.uniform(s);
                let v = match self.mode {
                    UMode::Uniform => u,
                    UMode::Bernoulli { p } => {
                        let p = s.load_part(&p[off + j..off + j + n], 0.0);
                        s.select(s.lt(u, p), one, zero)
                    }
                    UMode::Mask { x, nu } => {
                        let x = s.load_part(&x[off + j..off + j + n], 0.0);
                        s.select(s.lt(u, s.splat(nu)), zero, x)
                    }
                    UMode::SaltPepper { x, nu, lo, hi } => {
                        let x = s.load_part(&x[off + j..off + j + n], 0.0);
                        let v = s.select(s.lt(u, s.splat(nu)), s.splat(hi), x);
                        s.select(s.lt(u, s.splat(0.5 * nu)), s.splat(lo), v)
                    }
                };
                if n == LANES {
                    let dst: &mut [f32; LANES] = (&mut row[j..j + LANES]).try_into().unwrap();
                    s.store(v, dst);
                } else {
                    s.store_part(v, &mut row[j..j + n]);
                }
                j += n;
            }
        }
    }
}

/// Rows of `a ← σ(a + bias)`, `samples = [u < σ(a + bias)]`, in one pass.
struct SigmoidBernoulliRows<'a> {
    streams: Streams,
    row0: usize,
    cols: usize,
    a: &'a mut [f32],
    samples: &'a mut [f32],
    bias: Option<&'a [f32]>,
}

impl Kernel for SigmoidBernoulliRows<'_> {
    type Out = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let cols = self.cols;
        if cols == 0 {
            return;
        }
        let zero = s.splat(0.0);
        let one = s.splat(1.0);
        for (i, (arow, srow)) in self
            .a
            .chunks_exact_mut(cols)
            .zip(self.samples.chunks_exact_mut(cols))
            .enumerate()
        {
            let mut g = VRng::new(s, self.streams.row_key((self.row0 + i) as u64));
            let mut j = 0;
            while j < cols {
                let n = (cols - j).min(LANES);
                let mut a = s.load_part(&arow[j..j + n], 0.0);
                if let Some(b) = self.bias {
                    a = s.add(a, s.load_part(&b[j..j + n], 0.0));
                }
                let p = OpSigmoid::f(s, a);
                let u = g.uniform(s);
                let h = s.select(s.lt(u, p), one, zero);
                s.store_part(p, &mut arow[j..j + n]);
                s.store_part(h, &mut srow[j..j + n]);
                j += n;
            }
        }
    }
}

/// How the standard deviation of a Gaussian sampler is given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale<'a> {
    /// One `σ` for every element.
    Scalar(f32),
    /// One `σ_j` per column (per visible unit of a GB-RBM).
    PerColumn(&'a [f32]),
    /// One `σ_ij` per element.
    PerElement(&'a [f32]),
}

/// What a Gaussian row sampler computes from `ε`.
#[derive(Clone, Copy)]
enum GMode<'a> {
    /// `out = mean + scale·ε`.
    Affine { mean: &'a [f32], scale: Scale<'a> },
    /// `out = μ + e^{lnσ²/2}·ε` and `eps = ε`.
    Reparam { mu: &'a [f32], logvar: &'a [f32] },
}

struct GRows<'a> {
    streams: Streams,
    row0: usize,
    cols: usize,
    out: &'a mut [f32],
    eps: Option<&'a mut [f32]>,
    mode: GMode<'a>,
}

impl GRows<'_> {
    /// Writes `n` outputs at element `j` of row `i` from the normals `e`.
    #[inline(always)]
    fn emit<S: Simd>(&mut self, s: S, i: usize, j: usize, n: usize, e: S::F) {
        let off = i * self.cols + j;
        let v = match self.mode {
            GMode::Affine { mean, scale } => {
                let m = s.load_part(&mean[off..off + n], 0.0);
                let sd = match scale {
                    Scale::Scalar(v) => s.splat(v),
                    Scale::PerColumn(c) => s.load_part(&c[j..j + n], 0.0),
                    Scale::PerElement(e) => s.load_part(&e[off..off + n], 0.0),
                };
                s.fma(sd, e, m)
            }
            GMode::Reparam { mu, logvar } => {
                let m = s.load_part(&mu[off..off + n], 0.0);
                let lv = s.load_part(&logvar[off..off + n], 0.0);
                let sd = math::exp(s, s.mul(lv, s.splat(0.5)));
                s.fma(sd, e, m)
            }
        };
        s.store_part(v, &mut self.out[off..off + n]);
        if let Some(eps) = self.eps.as_deref_mut() {
            s.store_part(e, &mut eps[off..off + n]);
        }
    }
}

impl Kernel for GRows<'_> {
    type Out = ();
    #[inline(always)]
    fn run<S: Simd>(mut self, s: S) {
        let cols = self.cols;
        if cols == 0 {
            return;
        }
        let rows = self.out.len() / cols;
        for i in 0..rows {
            let mut g = VRng::new(s, self.streams.row_key((self.row0 + i) as u64));
            let mut j = 0;
            while j < cols {
                let (e1, e2) = g.normal2(s);
                let n1 = (cols - j).min(LANES);
                self.emit(s, i, j, n1, e1);
                j += n1;
                if j < cols {
                    let n2 = (cols - j).min(LANES);
                    self.emit(s, i, j, n2, e2);
                    j += n2;
                }
            }
        }
    }
}

fn run_u(
    isa: Checked,
    streams: Streams,
    out: &mut [f32],
    rows: usize,
    cols: usize,
    mode: UMode<'_>,
    par: Par,
) {
    rows1(par, rows, cols, out, |row0, out| {
        let off = row0 * cols;
        let n = out.len();
        let mode = match mode {
            UMode::Uniform => UMode::Uniform,
            UMode::Bernoulli { p } => UMode::Bernoulli {
                p: &p[off..off + n],
            },
            UMode::Mask { x, nu } => UMode::Mask {
                x: &x[off..off + n],
                nu,
            },
            UMode::SaltPepper { x, nu, lo, hi } => UMode::SaltPepper {
                x: &x[off..off + n],
                nu,
                lo,
                hi,
            },
        };
        dispatch(
            isa,
            URows {
                streams,
                row0,
                cols,
                out,
                mode,
            },
        )
    })
}

fn check_prob(what: &'static str, nu: f32) -> Result<(), KernelError> {
    if (0.0..=1.0).contains(&nu) {
        Ok(())
    } else {
        Err(KernelError::InvalidValue {
            what,
            value: nu.to_string(),
            expected: "a probability in [0, 1]",
        })
    }
}

/// Fills the row-major `rows x cols` `out` with uniforms in `[0, 1)`.
pub fn uniform(
    streams: Streams,
    out: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    uniform_on(Isa::selected(), streams, out, rows, cols, par)
}

/// [`uniform`] on a given instruction set.
pub fn uniform_on(
    isa: Isa,
    streams: Streams,
    out: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    let isa = Checked::new(isa)?;
    check_len("uniform: out (rows x cols)", out.len(), rows, cols)?;
    run_u(isa, streams, out, rows, cols, UMode::Uniform, par);
    Ok(())
}

/// Bernoulli samples `out = [u < p]` (as `1.0`/`0.0`) of the probabilities
/// `p`, both row-major `rows x cols`.
pub fn bernoulli(
    streams: Streams,
    p: &[f32],
    out: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    bernoulli_on(Isa::selected(), streams, p, out, rows, cols, par)
}

/// [`bernoulli`] on a given instruction set.
pub fn bernoulli_on(
    isa: Isa,
    streams: Streams,
    p: &[f32],
    out: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    let isa = Checked::new(isa)?;
    check_len("bernoulli: p (rows x cols)", p.len(), rows, cols)?;
    check_len("bernoulli: out (rows x cols)", out.len(), rows, cols)?;
    run_u(isa, streams, out, rows, cols, UMode::Bernoulli { p }, par);
    Ok(())
}

/// The Gibbs half-step in one pass: `a ← σ(a + 1 biasᵀ)` (the
/// probabilities, in place over the pre-activations) and
/// `samples = [u < a]`. `a` and `samples` are row-major `rows x cols`;
/// `bias` is `None` (already added, e.g. by the GEMM epilogue) or has `cols`
/// elements.
pub fn sigmoid_bernoulli(
    streams: Streams,
    a: &mut [f32],
    bias: Option<&[f32]>,
    samples: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    sigmoid_bernoulli_on(Isa::selected(), streams, a, bias, samples, rows, cols, par)
}

/// [`sigmoid_bernoulli`] on a given instruction set.
#[allow(clippy::too_many_arguments)]
pub fn sigmoid_bernoulli_on(
    isa: Isa,
    streams: Streams,
    a: &mut [f32],
    bias: Option<&[f32]>,
    samples: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    let isa = Checked::new(isa)?;
    check_len("sigmoid_bernoulli: a (rows x cols)", a.len(), rows, cols)?;
    check_len(
        "sigmoid_bernoulli: samples (rows x cols)",
        samples.len(),
        rows,
        cols,
    )?;
    if let Some(b) = bias {
        check_exact("sigmoid_bernoulli: bias (one per column)", b.len(), cols)?;
    }
    rows2(par, rows, cols, a, samples, |row0, a, samples| {
        dispatch(
            isa,
            SigmoidBernoulliRows {
                streams,
                row0,
                cols,
                a,
                samples,
                bias,
            },
        )
    });
    Ok(())
}

/// Masking noise: `out = x·[u >= ν]`, each input zeroed with probability
/// `nu` (denoising autoencoders).
pub fn mask_noise(
    streams: Streams,
    x: &[f32],
    out: &mut [f32],
    nu: f32,
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    mask_noise_on(Isa::selected(), streams, x, out, nu, rows, cols, par)
}

/// [`mask_noise`] on a given instruction set.
#[allow(clippy::too_many_arguments)]
pub fn mask_noise_on(
    isa: Isa,
    streams: Streams,
    x: &[f32],
    out: &mut [f32],
    nu: f32,
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    let isa = Checked::new(isa)?;
    check_prob("mask_noise: nu", nu)?;
    check_len("mask_noise: x (rows x cols)", x.len(), rows, cols)?;
    check_len("mask_noise: out (rows x cols)", out.len(), rows, cols)?;
    run_u(isa, streams, out, rows, cols, UMode::Mask { x, nu }, par);
    Ok(())
}

/// Salt-and-pepper noise: with probability `nu` an input is replaced, by
/// `lo` or `hi` with equal probability; otherwise it is kept.
#[allow(clippy::too_many_arguments)]
pub fn salt_pepper(
    streams: Streams,
    x: &[f32],
    out: &mut [f32],
    nu: f32,
    lo: f32,
    hi: f32,
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    salt_pepper_on(
        Isa::selected(),
        streams,
        x,
        out,
        nu,
        lo,
        hi,
        rows,
        cols,
        par,
    )
}

/// [`salt_pepper`] on a given instruction set.
#[allow(clippy::too_many_arguments)]
pub fn salt_pepper_on(
    isa: Isa,
    streams: Streams,
    x: &[f32],
    out: &mut [f32],
    nu: f32,
    lo: f32,
    hi: f32,
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    let isa = Checked::new(isa)?;
    check_prob("salt_pepper: nu", nu)?;
    check_len("salt_pepper: x (rows x cols)", x.len(), rows, cols)?;
    check_len("salt_pepper: out (rows x cols)", out.len(), rows, cols)?;
    run_u(
        isa,
        streams,
        out,
        rows,
        cols,
        UMode::SaltPepper { x, nu, lo, hi },
        par,
    );
    Ok(())
}

/// Gaussian samples `out = mean + σ·ε`, `ε ~ N(0, 1)`, row-major
/// `rows x cols` (GB-RBM visibles: `mean = b + σ W h`).
pub fn gaussian(
    streams: Streams,
    mean: &[f32],
    scale: Scale<'_>,
    out: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    gaussian_on(Isa::selected(), streams, mean, scale, out, rows, cols, par)
}

/// [`gaussian`] on a given instruction set.
#[allow(clippy::too_many_arguments)]
pub fn gaussian_on(
    isa: Isa,
    streams: Streams,
    mean: &[f32],
    scale: Scale<'_>,
    out: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    let isa = Checked::new(isa)?;
    check_len("gaussian: mean (rows x cols)", mean.len(), rows, cols)?;
    check_len("gaussian: out (rows x cols)", out.len(), rows, cols)?;
    match scale {
        Scale::Scalar(_) => {}
        Scale::PerColumn(c) => check_exact("gaussian: scale (one per column)", c.len(), cols)?,
        Scale::PerElement(e) => check_len("gaussian: scale (rows x cols)", e.len(), rows, cols)?,
    }
    rows1(par, rows, cols, out, |row0, out| {
        let (off, n) = (row0 * cols, out.len());
        let scale = match scale {
            Scale::PerElement(e) => Scale::PerElement(&e[off..off + n]),
            other => other,
        };
        dispatch(
            isa,
            GRows {
                streams,
                row0,
                cols,
                out,
                eps: None,
                mode: GMode::Affine {
                    mean: &mean[off..off + n],
                    scale,
                },
            },
        )
    });
    Ok(())
}

/// Additive Gaussian noise `out = x + s·ε` (denoising autoencoders).
#[allow(clippy::too_many_arguments)]
pub fn gaussian_noise(
    streams: Streams,
    x: &[f32],
    out: &mut [f32],
    s: f32,
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    gaussian_noise_on(Isa::selected(), streams, x, out, s, rows, cols, par)
}

/// [`gaussian_noise`] on a given instruction set.
#[allow(clippy::too_many_arguments)]
pub fn gaussian_noise_on(
    isa: Isa,
    streams: Streams,
    x: &[f32],
    out: &mut [f32],
    s: f32,
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    gaussian_on(isa, streams, x, Scale::Scalar(s), out, rows, cols, par)
}

/// The VAE reparameterisation in one pass: `ε ~ N(0, 1)`,
/// `z = μ + e^{lnσ²/2}·ε`; writes `z` and `eps` (kept for the gradient
/// `∂z/∂lnσ² = ½ σ ε`). All buffers row-major `rows x cols`.
#[allow(clippy::too_many_arguments)]
pub fn gaussian_reparam(
    streams: Streams,
    mu: &[f32],
    logvar: &[f32],
    z: &mut [f32],
    eps: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    gaussian_reparam_on(
        Isa::selected(),
        streams,
        mu,
        logvar,
        z,
        eps,
        rows,
        cols,
        par,
    )
}

/// [`gaussian_reparam`] on a given instruction set.
#[allow(clippy::too_many_arguments)]
pub fn gaussian_reparam_on(
    isa: Isa,
    streams: Streams,
    mu: &[f32],
    logvar: &[f32],
    z: &mut [f32],
    eps: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    let isa = Checked::new(isa)?;
    check_len("gaussian_reparam: mu (rows x cols)", mu.len(), rows, cols)?;
    check_len(
        "gaussian_reparam: logvar (rows x cols)",
        logvar.len(),
        rows,
        cols,
    )?;
    check_len("gaussian_reparam: z (rows x cols)", z.len(), rows, cols)?;
    check_len("gaussian_reparam: eps (rows x cols)", eps.len(), rows, cols)?;
    rows2(par, rows, cols, z, eps, |row0, z, eps| {
        let (off, n) = (row0 * cols, z.len());
        dispatch(
            isa,
            GRows {
                streams,
                row0,
                cols,
                out: z,
                eps: Some(eps),
                mode: GMode::Reparam {
                    mu: &mu[off..off + n],
                    logvar: &logvar[off..off + n],
                },
            },
        )
    });
    Ok(())
}
