//! The vectorised generator: 16 `xoshiro128+` lanes seeded by the keyed
//! hash of the module documentation, uniforms and Box–Muller normals.

use super::PHI32;
#[cfg(doc)]
use super::state_word;
use crate::simd::{LANES, Simd, math};

/// `fmix32` on 16 lanes (helpers are functions, not closures, so that they
/// are compiled inside the `#[target_feature]` shells).
#[inline(always)]
pub(super) fn fmix32_v<S: Simd>(s: S, h: S::U) -> S::U {
    let h = s.xor_u(h, s.shr_u(h, 16));
    let h = s.mul_u(h, s.splat_u(0x85EB_CA6B));
    let h = s.xor_u(h, s.shr_u(h, 13));
    let h = s.mul_u(h, s.splat_u(0xC2B2_AE35));
    s.xor_u(h, s.shr_u(h, 16))
}

/// [`state_word`] for all 16 lanes at once.
#[inline(always)]
pub(super) fn state_words<S: Simd>(s: S, lane: S::U, lo: S::U, hi: S::U, w: u32) -> S::U {
    let c = s.mul_u(s.add_u(lane, s.splat_u(16 * w)), s.splat_u(PHI32));
    fmix32_v(s, s.add_u(fmix32_v(s, s.xor_u(lo, c)), hi))
}

/// 16 `xoshiro128+` lanes in vector registers.
pub(super) struct VRng<S: Simd> {
    s: [S::U; 4],
}

impl<S: Simd> VRng<S> {
    /// The generator of the row whose key is `key` (see the module
    /// documentation for the state hash).
    #[inline(always)]
    pub(super) fn new(s: S, key: u64) -> Self {
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
    pub(super) fn next(&mut self, s: S) -> S::U {
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
    pub(super) fn uniform(&mut self, s: S) -> S::F {
        let u = self.next(s);
        s.mul(s.i32_to_f(s.shr_u(u, 8)), s.splat(1.0 / 16_777_216.0))
    }

    /// 32 standard normals (Box–Muller on two vectors of uniforms).
    #[inline(always)]
    pub(super) fn normal2(&mut self, s: S) -> (S::F, S::F) {
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
pub(super) trait UniformFrom: Simd {
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
pub(super) fn sincos_2pi<S: Simd>(s: S, u: S::F) -> (S::F, S::F) {
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
