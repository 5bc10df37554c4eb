//! The x86-64 implementations of [`Simd`] and the `#[target_feature]`
//! shells that [`dispatch`](super::dispatch) enters.
//!
//! `Avx512` holds 16 lanes in one `__m512`; `Avx2` in a pair of `__m256`.
//! The tokens have a private field and are only made inside the shells,
//! which are compiled with (and only entered on CPUs that have) their
//! instruction set.

use super::{Kernel, LANES, Simd};
use core::arch::x86_64::*;

/// Calls intrinsics of the token's instruction set.
macro_rules! tf {
    ($e:expr) => {
        // SAFETY: a token (`Avx2` / `Avx512`) exists only inside the
        // `#[target_feature]` shell below that made it, which `dispatch`
        // enters only when the CPU has the instruction set; every pointer an
        // intrinsic receives comes from a reference to 16 lanes.
        unsafe { $e }
    };
}

/// Proof that the CPU has AVX-512F.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Avx512(());

/// Proof that the CPU has AVX2 and FMA.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Avx2(());

/// Runs `k` compiled for AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) fn run_avx512<K: Kernel>(k: K) -> K::Out {
    k.run(Avx512(()))
}

/// Runs `k` compiled for AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) fn run_avx2<K: Kernel>(k: K) -> K::Out {
    k.run(Avx2(()))
}

impl Simd for Avx512 {
    type F = __m512;
    type U = __m512i;
    type M = __mmask16;

    #[inline(always)]
    fn splat(self, x: f32) -> __m512 {
        tf!(_mm512_set1_ps(x))
    }
    #[inline(always)]
    fn load(self, x: &[f32; LANES]) -> __m512 {
        tf!(_mm512_loadu_ps(x.as_ptr()))
    }
    #[inline(always)]
    fn store(self, v: __m512, out: &mut [f32; LANES]) {
        tf!(_mm512_storeu_ps(out.as_mut_ptr(), v))
    }
    #[inline(always)]
    fn add(self, a: __m512, b: __m512) -> __m512 {
        tf!(_mm512_add_ps(a, b))
    }
    #[inline(always)]
    fn sub(self, a: __m512, b: __m512) -> __m512 {
        tf!(_mm512_sub_ps(a, b))
    }
    #[inline(always)]
    fn mul(self, a: __m512, b: __m512) -> __m512 {
        tf!(_mm512_mul_ps(a, b))
    }
    #[inline(always)]
    fn div(self, a: __m512, b: __m512) -> __m512 {
        tf!(_mm512_div_ps(a, b))
    }
    #[inline(always)]
    fn fma(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        tf!(_mm512_fmadd_ps(a, b, c))
    }
    #[inline(always)]
    fn min(self, a: __m512, b: __m512) -> __m512 {
        tf!(_mm512_min_ps(a, b))
    }
    #[inline(always)]
    fn max(self, a: __m512, b: __m512) -> __m512 {
        tf!(_mm512_max_ps(a, b))
    }
    #[inline(always)]
    fn sqrt(self, a: __m512) -> __m512 {
        tf!(_mm512_sqrt_ps(a))
    }
    #[inline(always)]
    fn abs(self, a: __m512) -> __m512 {
        tf!(_mm512_abs_ps(a))
    }
    #[inline(always)]
    fn lt(self, a: __m512, b: __m512) -> __mmask16 {
        tf!(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, b))
    }
    #[inline(always)]
    fn eq(self, a: __m512, b: __m512) -> __mmask16 {
        tf!(_mm512_cmp_ps_mask::<_CMP_EQ_OQ>(a, b))
    }
    #[inline(always)]
    fn select(self, m: __mmask16, a: __m512, b: __m512) -> __m512 {
        tf!(_mm512_mask_blend_ps(m, b, a))
    }
    #[inline(always)]
    fn to_bits(self, a: __m512) -> __m512i {
        tf!(_mm512_castps_si512(a))
    }
    #[inline(always)]
    fn bits_to_f(self, a: __m512i) -> __m512 {
        tf!(_mm512_castsi512_ps(a))
    }
    #[inline(always)]
    fn cvt_i32(self, a: __m512) -> __m512i {
        tf!(_mm512_cvtps_epi32(a))
    }
    #[inline(always)]
    fn i32_to_f(self, a: __m512i) -> __m512 {
        tf!(_mm512_cvtepi32_ps(a))
    }
    #[inline(always)]
    fn splat_u(self, x: u32) -> __m512i {
        tf!(_mm512_set1_epi32(x as i32))
    }
    #[inline(always)]
    fn add_u(self, a: __m512i, b: __m512i) -> __m512i {
        tf!(_mm512_add_epi32(a, b))
    }
    #[inline(always)]
    fn mul_u(self, a: __m512i, b: __m512i) -> __m512i {
        tf!(_mm512_mullo_epi32(a, b))
    }
    #[inline(always)]
    fn xor_u(self, a: __m512i, b: __m512i) -> __m512i {
        tf!(_mm512_xor_si512(a, b))
    }
    #[inline(always)]
    fn and_u(self, a: __m512i, b: __m512i) -> __m512i {
        tf!(_mm512_and_si512(a, b))
    }
    #[inline(always)]
    fn or_u(self, a: __m512i, b: __m512i) -> __m512i {
        tf!(_mm512_or_si512(a, b))
    }
    #[inline(always)]
    fn shl_u(self, a: __m512i, n: u32) -> __m512i {
        tf!(_mm512_sll_epi32(a, _mm_cvtsi32_si128(n as i32)))
    }
    #[inline(always)]
    fn shr_u(self, a: __m512i, n: u32) -> __m512i {
        tf!(_mm512_srl_epi32(a, _mm_cvtsi32_si128(n as i32)))
    }
    #[inline(always)]
    fn rotl_u(self, a: __m512i, n: u32) -> __m512i {
        tf!(_mm512_rolv_epi32(a, _mm512_set1_epi32(n as i32)))
    }
    #[inline(always)]
    fn load_u(self, x: &[u32; LANES]) -> __m512i {
        tf!(_mm512_loadu_si512(x.as_ptr() as *const _))
    }
}

/// Applies a binary `__m256` intrinsic to both halves.
macro_rules! both {
    ($f:ident, $a:expr, $b:expr) => {{
        let (a, b) = ($a, $b);
        tf!([$f(a[0], b[0]), $f(a[1], b[1])])
    }};
    ($f:ident, $a:expr) => {{
        let a = $a;
        tf!([$f(a[0]), $f(a[1])])
    }};
}

impl Simd for Avx2 {
    type F = [__m256; 2];
    type U = [__m256i; 2];
    type M = [__m256; 2];

    #[inline(always)]
    fn splat(self, x: f32) -> Self::F {
        let v = tf!(_mm256_set1_ps(x));
        [v, v]
    }
    #[inline(always)]
    fn load(self, x: &[f32; LANES]) -> Self::F {
        tf!([
            _mm256_loadu_ps(x.as_ptr()),
            _mm256_loadu_ps(x.as_ptr().add(8))
        ])
    }
    #[inline(always)]
    fn store(self, v: Self::F, out: &mut [f32; LANES]) {
        tf!({
            _mm256_storeu_ps(out.as_mut_ptr(), v[0]);
            _mm256_storeu_ps(out.as_mut_ptr().add(8), v[1]);
        })
    }
    #[inline(always)]
    fn add(self, a: Self::F, b: Self::F) -> Self::F {
        both!(_mm256_add_ps, a, b)
    }
    #[inline(always)]
    fn sub(self, a: Self::F, b: Self::F) -> Self::F {
        both!(_mm256_sub_ps, a, b)
    }
    #[inline(always)]
    fn mul(self, a: Self::F, b: Self::F) -> Self::F {
        both!(_mm256_mul_ps, a, b)
    }
    #[inline(always)]
    fn div(self, a: Self::F, b: Self::F) -> Self::F {
        both!(_mm256_div_ps, a, b)
    }
    #[inline(always)]
    fn fma(self, a: Self::F, b: Self::F, c: Self::F) -> Self::F {
        tf!([
            _mm256_fmadd_ps(a[0], b[0], c[0]),
            _mm256_fmadd_ps(a[1], b[1], c[1])
        ])
    }
    #[inline(always)]
    fn min(self, a: Self::F, b: Self::F) -> Self::F {
        both!(_mm256_min_ps, a, b)
    }
    #[inline(always)]
    fn max(self, a: Self::F, b: Self::F) -> Self::F {
        both!(_mm256_max_ps, a, b)
    }
    #[inline(always)]
    fn sqrt(self, a: Self::F) -> Self::F {
        both!(_mm256_sqrt_ps, a)
    }
    #[inline(always)]
    fn abs(self, a: Self::F) -> Self::F {
        let m = tf!(_mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff)));
        tf!([_mm256_and_ps(a[0], m), _mm256_and_ps(a[1], m)])
    }
    #[inline(always)]
    fn lt(self, a: Self::F, b: Self::F) -> Self::M {
        tf!([
            _mm256_cmp_ps::<_CMP_LT_OQ>(a[0], b[0]),
            _mm256_cmp_ps::<_CMP_LT_OQ>(a[1], b[1])
        ])
    }
    #[inline(always)]
    fn eq(self, a: Self::F, b: Self::F) -> Self::M {
        tf!([
            _mm256_cmp_ps::<_CMP_EQ_OQ>(a[0], b[0]),
            _mm256_cmp_ps::<_CMP_EQ_OQ>(a[1], b[1])
        ])
    }
    #[inline(always)]
    fn select(self, m: Self::M, a: Self::F, b: Self::F) -> Self::F {
        tf!([
            _mm256_blendv_ps(b[0], a[0], m[0]),
            _mm256_blendv_ps(b[1], a[1], m[1])
        ])
    }
    #[inline(always)]
    fn to_bits(self, a: Self::F) -> Self::U {
        both!(_mm256_castps_si256, a)
    }
    #[inline(always)]
    fn bits_to_f(self, a: Self::U) -> Self::F {
        both!(_mm256_castsi256_ps, a)
    }
    #[inline(always)]
    fn cvt_i32(self, a: Self::F) -> Self::U {
        both!(_mm256_cvtps_epi32, a)
    }
    #[inline(always)]
    fn i32_to_f(self, a: Self::U) -> Self::F {
        both!(_mm256_cvtepi32_ps, a)
    }
    #[inline(always)]
    fn splat_u(self, x: u32) -> Self::U {
        let v = tf!(_mm256_set1_epi32(x as i32));
        [v, v]
    }
    #[inline(always)]
    fn add_u(self, a: Self::U, b: Self::U) -> Self::U {
        both!(_mm256_add_epi32, a, b)
    }
    #[inline(always)]
    fn mul_u(self, a: Self::U, b: Self::U) -> Self::U {
        both!(_mm256_mullo_epi32, a, b)
    }
    #[inline(always)]
    fn xor_u(self, a: Self::U, b: Self::U) -> Self::U {
        both!(_mm256_xor_si256, a, b)
    }
    #[inline(always)]
    fn and_u(self, a: Self::U, b: Self::U) -> Self::U {
        both!(_mm256_and_si256, a, b)
    }
    #[inline(always)]
    fn or_u(self, a: Self::U, b: Self::U) -> Self::U {
        both!(_mm256_or_si256, a, b)
    }
    #[inline(always)]
    fn shl_u(self, a: Self::U, n: u32) -> Self::U {
        let c = tf!(_mm_cvtsi32_si128(n as i32));
        tf!([_mm256_sll_epi32(a[0], c), _mm256_sll_epi32(a[1], c)])
    }
    #[inline(always)]
    fn shr_u(self, a: Self::U, n: u32) -> Self::U {
        let c = tf!(_mm_cvtsi32_si128(n as i32));
        tf!([_mm256_srl_epi32(a[0], c), _mm256_srl_epi32(a[1], c)])
    }
    #[inline(always)]
    fn load_u(self, x: &[u32; LANES]) -> Self::U {
        let p = x.as_ptr() as *const __m256i;
        tf!([_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1))])
    }
}
