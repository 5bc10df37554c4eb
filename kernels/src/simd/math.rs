//! Vectorised elementary functions on 16 lanes, generic over [`Simd`].
//!
//! - [`exp`]: Cody-Waite range reduction `x = n ln2 + r`, `|r| <= ln2/2`,
//!   with `ln2` split in two (the high part has 9 significant bits, so
//!   `n·ln2_hi` is exact without FMA), a degree-7 polynomial for `e^r`
//!   (Cephes `expf`, error below 1 ulp on the reduced range), and the scale
//!   `2^n` applied as two exact powers of two so that results near overflow
//!   and in the subnormal range round only once. Inputs are clamped to
//!   `[-105, 89]`, which still gives `0` below `ln(2^-150)` and `+inf` above
//!   `ln(f32::MAX)`. NaN propagates.
//! - [`ln`]: for positive *normal* inputs only (crate-internal callers pass
//!   `1 + t` with `t >= 0` or uniforms in `[2^-24, 1]`): exponent and
//!   mantissa from the bits, mantissa in `[√½, √2)`, Cephes `logf`
//!   polynomial; within 1 ulp.
//! - [`sigmoid`]: `t = e^{-|x|}`, then one correctly rounded division,
//!   `1/(1+t)` for `x >= 0` and `t/(1+t)` for `x < 0`: within 2 ulp of the
//!   correctly rounded result over all of `f32` (the tests measure it), exact
//!   `0.5` at `±0`, `1` above about 17, `e^x` down to about -87.3 and `0`
//!   below, where `e^x` would be subnormal (flushed: subnormal probabilities
//!   slow every product that reads them), never NaN for a non-NaN input.
//! - [`softplus`]: `max(x, 0) + log1p(e^{-|x|})`, with `log1p` by Goldberg's
//!   trick `log1p(t) = ln(u)·t/(u-1)`, `u = 1+t`: no overflow and full
//!   relative accuracy for very negative `x`.
//! - [`tanh`]: an odd polynomial for `|x| < 0.625` (Cephes `tanhf`) and
//!   `sign(x)·(1-t)/(1+t)`, `t = e^{-2|x|}`, above.
//! - [`expm1`]: `e^x - 1` by Kahan's trick `(u-1)·x/ln u`, `u = e^x`.

// Polynomial coefficients are quoted as published (Cephes); the compiler
// rounds each to the nearest f32, which is what the error analysis assumes.
#![allow(clippy::excessive_precision)]

use super::Simd;

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// `ln 2` high part: 9 significant bits, so `n * LN2_HI` is exact for |n| < 2^15.
const LN2_HI: f32 = 0.693_359_4;
/// `ln 2 - LN2_HI`.
const LN2_LO: f32 = -2.121_944_4e-4;
/// `1.5 * 2^23`: adding and subtracting it rounds to the nearest integer
/// (ties to even) for |x| < 2^22.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// Rounds `x` (|x| < 2²²) to the nearest integer, ties to even.
#[inline(always)]
pub(crate) fn round<S: Simd>(s: S, x: S::F) -> S::F {
    let m = s.splat(ROUND_MAGIC);
    s.sub(s.add(x, m), m)
}

/// `2^k` for integer-valued `k` in `[-126, 127]`, exactly.
#[inline(always)]
fn pow2<S: Simd>(s: S, k: S::F) -> S::F {
    let e = s.add_u(s.cvt_i32(k), s.splat_u(127));
    s.bits_to_f(s.shl_u(e, 23))
}

/// `e^x` (see the module documentation for the method and its accuracy).
#[inline(always)]
pub(crate) fn exp<S: Simd>(s: S, x: S::F) -> S::F {
    // max(lo, x) and min(hi, x) return x when x is NaN.
    let x = s.min(s.splat(89.0), s.max(s.splat(-105.0), x));
    let n = round(s, s.mul(x, s.splat(LOG2E)));
    let r = s.fma(n, s.splat(-LN2_HI), x);
    let r = s.fma(n, s.splat(-LN2_LO), r);
    let r2 = s.mul(r, r);
    let mut p = s.splat(1.987_569_2e-4);
    p = s.fma(p, r, s.splat(1.398_2e-3));
    p = s.fma(p, r, s.splat(8.333_452e-3));
    p = s.fma(p, r, s.splat(4.166_579_6e-2));
    p = s.fma(p, r, s.splat(1.666_666_5e-1));
    p = s.fma(p, r, s.splat(5.000_000_1e-1));
    let y = s.add(s.fma(p, r2, r), s.splat(1.0));
    // n is in [-152, 128]: 2^n as two factors in [-76, 64], so neither
    // overflows nor goes subnormal, and the product rounds once.
    let n1 = round(s, s.mul(n, s.splat(0.5)));
    let n2 = s.sub(n, n1);
    s.mul(s.mul(y, pow2(s, n1)), pow2(s, n2))
}

/// Natural logarithm of a positive normal `x` (any other input gives an
/// unspecified finite or NaN value).
#[inline(always)]
pub(crate) fn ln<S: Simd>(s: S, x: S::F) -> S::F {
    let bits = s.to_bits(x);
    let e = s.i32_to_f(s.add_u(s.shr_u(bits, 23), s.splat_u((-126i32) as u32)));
    // Mantissa in [0.5, 1).
    let m = s.bits_to_f(s.or_u(
        s.and_u(bits, s.splat_u(0x807f_ffff)),
        s.splat_u(0x3f00_0000),
    ));
    let one = s.splat(1.0);
    let small = s.lt(m, s.splat(std::f32::consts::FRAC_1_SQRT_2));
    let e = s.select(small, s.sub(e, one), e);
    let x = s.select(small, s.sub(s.add(m, m), one), s.sub(m, one));
    let z = s.mul(x, x);
    let mut p = s.splat(7.037_683_6e-2);
    p = s.fma(p, x, s.splat(-1.151_461e-1));
    p = s.fma(p, x, s.splat(1.167_699_9e-1));
    p = s.fma(p, x, s.splat(-1.242_014_1e-1));
    p = s.fma(p, x, s.splat(1.424_932_3e-1));
    p = s.fma(p, x, s.splat(-1.666_805_8e-1));
    p = s.fma(p, x, s.splat(2.000_071_4e-1));
    p = s.fma(p, x, s.splat(-2.499_999_4e-1));
    p = s.fma(p, x, s.splat(3.333_333e-1));
    let y = s.mul(s.mul(x, z), p);
    let y = s.fma(e, s.splat(LN2_LO), y);
    let y = s.fma(z, s.splat(-0.5), y);
    let r = s.add(x, y);
    s.fma(e, s.splat(LN2_HI), r)
}

/// `ln(1 + t)` for `t >= 0` (accurate also for tiny `t`).
#[inline(always)]
pub(crate) fn log1p_nonneg<S: Simd>(s: S, t: S::F) -> S::F {
    let u = s.add(s.splat(1.0), t);
    let d = s.sub(u, s.splat(1.0));
    let exact = s.eq(d, s.splat(0.0));
    // For u == 1 the quotient is 0/0; that lane is replaced by t.
    let q = s.mul(ln(s, u), s.div(t, d));
    s.select(exact, t, q)
}

/// `σ(x) = 1/(1+e^{-x})` (see the module documentation for its accuracy).
#[inline(always)]
pub(crate) fn sigmoid<S: Simd>(s: S, x: S::F) -> S::F {
    let one = s.splat(1.0);
    let t = exp(s, s.sub(s.splat(0.0), s.abs(x)));
    let num = s.select(s.lt(x, s.splat(0.0)), t, one);
    let y = s.div(num, s.add(one, t));
    // Subnormal results (x below about -87.3) are flushed to 0: as operands
    // of the products that follow (a layer's probabilities) they cost a
    // microcode assist per multiply on Intel cores, and no draw or gradient
    // can tell them from 0.
    s.select(s.lt(y, s.splat(f32::MIN_POSITIVE)), s.splat(0.0), y)
}

/// `softplus(x) = ln(1 + e^x)` in the stable form.
#[inline(always)]
pub(crate) fn softplus<S: Simd>(s: S, x: S::F) -> S::F {
    let t = exp(s, s.sub(s.splat(0.0), s.abs(x)));
    s.add(s.max(x, s.splat(0.0)), log1p_nonneg(s, t))
}

/// `tanh(x)`.
#[inline(always)]
pub(crate) fn tanh<S: Simd>(s: S, x: S::F) -> S::F {
    let ax = s.abs(x);
    let z = s.mul(x, x);
    let mut p = s.splat(-5.704_988_7e-3);
    p = s.fma(p, z, s.splat(2.063_908_9e-2));
    p = s.fma(p, z, s.splat(-5.373_971_6e-2));
    p = s.fma(p, z, s.splat(1.333_144_2e-1));
    p = s.fma(p, z, s.splat(-3.333_328_2e-1));
    let small = s.fma(s.mul(p, z), x, x);
    // x + x·z·p rounds -0 to +0: keep the zero's sign.
    let small = s.select(s.eq(x, s.splat(0.0)), x, small);
    let one = s.splat(1.0);
    let t = exp(s, s.mul(ax, s.splat(-2.0)));
    let big = s.div(s.sub(one, t), s.add(one, t));
    let big = s.select(s.lt(x, s.splat(0.0)), s.sub(s.splat(0.0), big), big);
    s.select(s.lt(ax, s.splat(0.625)), small, big)
}

/// `e^x - 1`, accurate also for tiny `|x|`.
#[inline(always)]
pub(crate) fn expm1<S: Simd>(s: S, x: S::F) -> S::F {
    let one = s.splat(1.0);
    let u = exp(s, x);
    let um1 = s.sub(u, one);
    // ln(u) is only valid for positive normal u: the lanes where u is 0,
    // subnormal or infinite are the ones replaced below (u - 1 == -1, or
    // u == inf).
    let q = s.div(s.mul(um1, x), ln(s, u));
    let q = s.select(s.eq(um1, s.splat(-1.0)), um1, q);
    let q = s.select(s.eq(u, s.splat(f32::INFINITY)), u, q);
    s.select(s.eq(u, one), x, q)
}
