//! A 16-lane SIMD abstraction for the element-wise kernels (crate-private).
//!
//! Every element-wise kernel is written once, as an `#[inline(always)]`
//! body generic over [`Simd`], and compiled three times by [`dispatch`]:
//! inside an `#[target_feature(enable = "avx512f")]` shell (one `__m512`
//! per vector), inside an `#[target_feature(enable = "avx2,fma")]` shell
//! (a pair of `__m256`) and as plain Rust over `[f32; 16]` arrays that the
//! compiler vectorises for the baseline target. All three process 16 lanes,
//! so a kernel consumes random numbers and visits elements in the same order
//! on every instruction set.
//!
//! A value of a token type ([`Portable`], `Avx2`, `Avx512`) proves that the
//! CPU has its instruction set; tokens are only made inside the
//! `#[target_feature]` shells, which [`dispatch`] enters only for a
//! [`Checked`] instruction set. That is what makes the token's methods safe.

pub(crate) mod math;
mod portable;
#[cfg(target_arch = "x86_64")]
mod x86;

pub(crate) use portable::Portable;

use crate::{Isa, KernelError};

/// Lanes of every vector, on every instruction set.
pub(crate) const LANES: usize = 16;

/// The operations the element-wise kernels need, on 16 `f32` lanes
/// (`F`), 16 `u32` lanes (`U`) and 16-lane masks (`M`).
///
/// Semantics are those of the x86 instructions, on every implementation:
/// `min(a, b) = if a < b { a } else { b }` and `max(a, b) = if a > b { a }
/// else { b }` (so a NaN in `b` is returned), comparisons are ordered
/// (false on NaN), `fma` is fused on AVX2 and AVX-512 and a multiply then an
/// add in the portable version.
pub(crate) trait Simd: Copy + Send + Sync {
    /// 16 `f32` lanes.
    type F: Copy;
    /// 16 `u32` lanes.
    type U: Copy;
    /// A 16-lane mask.
    type M: Copy;

    fn splat(self, x: f32) -> Self::F;
    fn load(self, x: &[f32; LANES]) -> Self::F;
    fn store(self, v: Self::F, out: &mut [f32; LANES]);
    fn add(self, a: Self::F, b: Self::F) -> Self::F;
    fn sub(self, a: Self::F, b: Self::F) -> Self::F;
    fn mul(self, a: Self::F, b: Self::F) -> Self::F;
    fn div(self, a: Self::F, b: Self::F) -> Self::F;
    /// `a * b + c`.
    fn fma(self, a: Self::F, b: Self::F, c: Self::F) -> Self::F;
    fn min(self, a: Self::F, b: Self::F) -> Self::F;
    fn max(self, a: Self::F, b: Self::F) -> Self::F;
    fn sqrt(self, a: Self::F) -> Self::F;
    fn abs(self, a: Self::F) -> Self::F;
    fn lt(self, a: Self::F, b: Self::F) -> Self::M;
    fn eq(self, a: Self::F, b: Self::F) -> Self::M;
    /// `if m { a } else { b }`, lane by lane.
    fn select(self, m: Self::M, a: Self::F, b: Self::F) -> Self::F;
    fn to_bits(self, a: Self::F) -> Self::U;
    fn bits_to_f(self, a: Self::U) -> Self::F;
    /// An integer-valued `a` (|a| < 2³¹) as `i32` lanes.
    fn cvt_i32(self, a: Self::F) -> Self::U;
    /// `i32` lanes as `f32`.
    fn i32_to_f(self, a: Self::U) -> Self::F;
    fn splat_u(self, x: u32) -> Self::U;
    fn add_u(self, a: Self::U, b: Self::U) -> Self::U;
    /// The low 32 bits of the product.
    fn mul_u(self, a: Self::U, b: Self::U) -> Self::U;
    fn xor_u(self, a: Self::U, b: Self::U) -> Self::U;
    fn and_u(self, a: Self::U, b: Self::U) -> Self::U;
    fn or_u(self, a: Self::U, b: Self::U) -> Self::U;
    /// Logical shift left by `n < 32`.
    fn shl_u(self, a: Self::U, n: u32) -> Self::U;
    /// Logical shift right by `n < 32`.
    fn shr_u(self, a: Self::U, n: u32) -> Self::U;
    fn load_u(self, x: &[u32; LANES]) -> Self::U;

    /// Rotate left by `0 < n < 32`.
    #[inline(always)]
    fn rotl_u(self, a: Self::U, n: u32) -> Self::U {
        self.or_u(self.shl_u(a, n), self.shr_u(a, 32 - n))
    }

    /// `x[..k]` for `k = x.len() <= 16`, the other lanes `fill`.
    #[inline(always)]
    fn load_part(self, x: &[f32], fill: f32) -> Self::F {
        if let Ok(full) = <&[f32; LANES]>::try_from(x) {
            return self.load(full);
        }
        let mut buf = [fill; LANES];
        let k = x.len().min(LANES);
        buf[..k].copy_from_slice(&x[..k]);
        self.load(&buf)
    }

    /// Stores the first `out.len() <= 16` lanes of `v`.
    #[inline(always)]
    fn store_part(self, v: Self::F, out: &mut [f32]) {
        if let Ok(full) = <&mut [f32; LANES]>::try_from(&mut *out) {
            return self.store(v, full);
        }
        let mut buf = [0.0; LANES];
        self.store(v, &mut buf);
        let k = out.len().min(LANES);
        out[..k].copy_from_slice(&buf[..k]);
    }

    /// The sum of the lanes, in a fixed pairwise order (the same on every
    /// instruction set).
    #[inline(always)]
    fn sum(self, v: Self::F) -> f32 {
        let mut b = [0.0; LANES];
        self.store(v, &mut b);
        let mut w = 8;
        while w > 0 {
            for i in 0..w {
                b[i] += b[i + w];
            }
            w /= 2;
        }
        b[0]
    }
}

/// An instruction set known to be available on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checked(Isa);

impl Checked {
    /// `isa`, if this CPU supports it.
    pub(crate) fn new(isa: Isa) -> Result<Self, KernelError> {
        if isa.is_available() {
            Ok(Checked(isa))
        } else {
            Err(KernelError::IsaUnavailable(isa))
        }
    }

    /// The default instruction set ([`Isa::selected`], always available).
    pub(crate) fn selected() -> Self {
        Checked(Isa::selected())
    }
}

/// A kernel body: `run` is `#[inline(always)]` in every implementation, so
/// it is compiled inside each instruction set's `#[target_feature]` shell.
pub(crate) trait Kernel {
    /// What the kernel returns.
    type Out;
    /// Runs the body with the vector operations of `s`.
    fn run<S: Simd>(self, s: S) -> Self::Out;
}

/// Runs `k` on the instruction set `isa`.
#[inline]
pub(crate) fn dispatch<K: Kernel>(isa: Checked, k: K) -> K::Out {
    crate::dispatch::record(crate::dispatch::Family::Elementwise, isa.0);
    match isa.0 {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Checked` is only made for an available instruction set,
        // and the AVX-512 shell needs exactly AVX-512F.
        Isa::Avx512 => unsafe { x86::run_avx512(k) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above; `Isa::Avx2` is available only with AVX2 and FMA.
        Isa::Avx2 => unsafe { x86::run_avx2(k) },
        _ => k.run(Portable),
    }
}

/// Asks the CPU to bring the `len` floats from `start` into the L2 cache
/// (one prefetch per 64-byte line). A hint only: a prefetch never faults,
/// whatever the address, so no pointer here is dereferenced and any
/// `start` is sound; on targets without a prefetch instruction it does
/// nothing.
#[inline]
pub(crate) fn prefetch_l2(start: *const f32, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
        let bytes = start as *const i8;
        let end = len * std::mem::size_of::<f32>();
        // The first line, then one per 64 bytes, then the line holding the
        // last byte (a run that starts mid-line spans one line more).
        let mut off = 0;
        while off < end {
            // SAFETY: SSE is part of the x86_64 baseline, and a prefetch
            // reads nothing and never faults, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T1>(bytes.wrapping_add(off)) };
            off += 64;
        }
        if end > 0 {
            // SAFETY: as above.
            unsafe { _mm_prefetch::<_MM_HINT_T1>(bytes.wrapping_add(end - 1)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (start, len);
    }
}

#[cfg(test)]
mod tests {
    use super::prefetch_l2;

    #[test]
    fn prefetch_accepts_any_address_and_length() {
        // A hint never faults: inside a buffer, past its end, unaligned,
        // empty, and at addresses nothing is mapped at.
        let buf = vec![1.0f32; 1000];
        prefetch_l2(buf.as_ptr(), buf.len());
        prefetch_l2(buf.as_ptr().wrapping_add(3), 17);
        prefetch_l2(buf.as_ptr().wrapping_add(990), 500);
        prefetch_l2(buf.as_ptr(), 0);
        prefetch_l2(std::ptr::null(), 64);
        prefetch_l2(usize::MAX as *const f32, 1);
        assert_eq!(buf.iter().sum::<f32>(), 1000.0);
    }
}
