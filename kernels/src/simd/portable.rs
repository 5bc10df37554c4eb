//! The portable implementation of [`Simd`]: `[f32; 16]` arrays in plain
//! Rust, vectorised by the compiler for the baseline target (SSE2 on
//! x86-64). No fused multiply-add: `fma` is a multiply then an add.

use super::{LANES, Simd};

/// The portable token (always available).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Portable;

type F = [f32; LANES];
type U = [u32; LANES];
type M = [bool; LANES];

#[inline(always)]
fn map(f: impl Fn(usize) -> f32) -> F {
    core::array::from_fn(f)
}

#[inline(always)]
fn map_u(f: impl Fn(usize) -> u32) -> U {
    core::array::from_fn(f)
}

#[inline(always)]
fn map_m(f: impl Fn(usize) -> bool) -> M {
    core::array::from_fn(f)
}

impl Simd for Portable {
    type F = F;
    type U = U;
    type M = M;

    #[inline(always)]
    fn splat(self, x: f32) -> F {
        [x; LANES]
    }
    #[inline(always)]
    fn load(self, x: &[f32; LANES]) -> F {
        *x
    }
    #[inline(always)]
    fn store(self, v: F, out: &mut [f32; LANES]) {
        *out = v;
    }
    #[inline(always)]
    fn add(self, a: F, b: F) -> F {
        map(|i| a[i] + b[i])
    }
    #[inline(always)]
    fn sub(self, a: F, b: F) -> F {
        map(|i| a[i] - b[i])
    }
    #[inline(always)]
    fn mul(self, a: F, b: F) -> F {
        map(|i| a[i] * b[i])
    }
    #[inline(always)]
    fn div(self, a: F, b: F) -> F {
        map(|i| a[i] / b[i])
    }
    #[inline(always)]
    fn fma(self, a: F, b: F, c: F) -> F {
        map(|i| a[i] * b[i] + c[i])
    }
    #[inline(always)]
    fn min(self, a: F, b: F) -> F {
        map(|i| if a[i] < b[i] { a[i] } else { b[i] })
    }
    #[inline(always)]
    fn max(self, a: F, b: F) -> F {
        map(|i| if a[i] > b[i] { a[i] } else { b[i] })
    }
    #[inline(always)]
    fn sqrt(self, a: F) -> F {
        map(|i| a[i].sqrt())
    }
    #[inline(always)]
    fn abs(self, a: F) -> F {
        map(|i| a[i].abs())
    }
    #[inline(always)]
    fn lt(self, a: F, b: F) -> M {
        map_m(|i| a[i] < b[i])
    }
    #[inline(always)]
    fn eq(self, a: F, b: F) -> M {
        map_m(|i| a[i] == b[i])
    }
    #[inline(always)]
    fn select(self, m: M, a: F, b: F) -> F {
        map(|i| if m[i] { a[i] } else { b[i] })
    }
    #[inline(always)]
    fn to_bits(self, a: F) -> U {
        map_u(|i| a[i].to_bits())
    }
    #[inline(always)]
    fn bits_to_f(self, a: U) -> F {
        map(|i| f32::from_bits(a[i]))
    }
    #[inline(always)]
    fn cvt_i32(self, a: F) -> U {
        map_u(|i| a[i] as i32 as u32)
    }
    #[inline(always)]
    fn i32_to_f(self, a: U) -> F {
        map(|i| a[i] as i32 as f32)
    }
    #[inline(always)]
    fn splat_u(self, x: u32) -> U {
        [x; LANES]
    }
    #[inline(always)]
    fn add_u(self, a: U, b: U) -> U {
        map_u(|i| a[i].wrapping_add(b[i]))
    }
    #[inline(always)]
    fn mul_u(self, a: U, b: U) -> U {
        map_u(|i| a[i].wrapping_mul(b[i]))
    }
    #[inline(always)]
    fn xor_u(self, a: U, b: U) -> U {
        map_u(|i| a[i] ^ b[i])
    }
    #[inline(always)]
    fn and_u(self, a: U, b: U) -> U {
        map_u(|i| a[i] & b[i])
    }
    #[inline(always)]
    fn or_u(self, a: U, b: U) -> U {
        map_u(|i| a[i] | b[i])
    }
    #[inline(always)]
    fn shl_u(self, a: U, n: u32) -> U {
        map_u(|i| a[i] << (n & 31))
    }
    #[inline(always)]
    fn shr_u(self, a: U, n: u32) -> U {
        map_u(|i| a[i] >> (n & 31))
    }
    #[inline(always)]
    fn load_u(self, x: &[u32; LANES]) -> U {
        *x
    }
}
