//! Packing of A and B panels into contiguous, aligned buffers, and the
//! per-thread buffers that hold them.

use super::view::MatRef;
use crate::Isa;
use crate::dispatch::{Family, record};
use std::cell::RefCell;

/// Which instructions the packing may use, decided by the dispatch context's
/// instruction set (never by the CPU alone): the AVX2 transposes run only
/// under `avx2` or `avx512`, on a CPU with AVX2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PackIsa {
    avx2: bool,
}

impl PackIsa {
    /// The packing for kernels on `isa`.
    pub(crate) fn for_isa(isa: Isa) -> PackIsa {
        PackIsa {
            avx2: isa >= Isa::Avx2 && cpu_has_avx2(),
        }
    }
}

/// Whether this CPU has AVX2: the soundness check behind [`PackIsa`]
/// (`Isa::Avx512` alone promises only AVX-512F).
fn cpu_has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A growable buffer of 4-byte elements (`f32`, or `u32` pairs of bf16)
/// whose working slice starts on a 64-byte boundary. It only grows, so
/// after warm-up packing allocates nothing.
#[derive(Default)]
pub(crate) struct AlignedBuf<T = f32> {
    storage: Vec<T>,
}

impl<T: Copy + Default> AlignedBuf<T> {
    const ALIGN_FLOATS: usize = 16;

    /// A 64-byte-aligned slice of `len` elements (contents unspecified). An
    /// empty slice allocates nothing.
    pub(crate) fn slice(&mut self, len: usize) -> &mut [T] {
        const { assert!(std::mem::size_of::<T>() == 4) };
        if len == 0 {
            return &mut [];
        }
        let needed = len + Self::ALIGN_FLOATS;
        if self.storage.len() < needed {
            self.storage.resize(needed, T::default());
        }
        let misalign = (self.storage.as_ptr() as usize / 4) % Self::ALIGN_FLOATS;
        let offset = (Self::ALIGN_FLOATS - misalign) % Self::ALIGN_FLOATS;
        &mut self.storage[offset..offset + len]
    }
}

/// The packing buffers one thread uses.
#[derive(Default)]
pub(crate) struct PackBufs {
    /// The packed `mc x kc` block of A.
    pub(crate) a: AlignedBuf,
    /// The packed `kc x nc` block of B.
    pub(crate) b: AlignedBuf,
    /// The zero-padded edge panel of B when B is read in place.
    pub(crate) b_edge: AlignedBuf,
    /// The bf16 GEMM's packed A block (pairs of k).
    pub(crate) a_pairs: AlignedBuf<u32>,
    /// The bf16 GEMM's packed B block (pairs of k).
    pub(crate) b_pairs: AlignedBuf<u32>,
}

thread_local! {
    static PACK_BUFS: RefCell<PackBufs> = RefCell::new(PackBufs::default());
}

/// Runs `f` with this thread's packing buffers (or fresh ones if they are
/// already in use further up the stack, e.g. a GEMM called from an epilogue).
pub(crate) fn with_pack_bufs<R>(f: impl FnOnce(&mut PackBufs) -> R) -> R {
    PACK_BUFS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut bufs) => f(&mut bufs),
        Err(_) => f(&mut PackBufs::default()),
    })
}

/// Packs rows `rows.start..rows.start+mc` and columns `p0..p0+kc` of `a` into
/// `ceil(mc/MR)` k-major panels of `MR x kc`, zero-padding the last panel.
#[inline(always)]
#[allow(non_snake_case, clippy::too_many_arguments)]
pub(crate) fn pack_a(
    isa: PackIsa,
    MR: usize,
    a: &MatRef<'_>,
    i0: usize,
    mc: usize,
    p0: usize,
    kc: usize,
    dst: &mut [f32],
) {
    let data = a.as_slice();
    let (rs, cs) = (a.row_stride(), a.col_stride());
    for (panel, out) in dst
        .chunks_exact_mut(MR * kc)
        .take(mc.div_ceil(MR))
        .enumerate()
    {
        let r0 = i0 + panel * MR;
        let rows = MR.min(i0 + mc - r0);
        if cs == 1 {
            // Rows are contiguous: a transpose of the MR x kc block, done in
            // 8x8 and 4x8 register blocks where the CPU has AVX2.
            let mut i_done = 0;
            let mut k_done = 0;
            #[cfg(target_arch = "x86_64")]
            if kc >= 8 && rows >= 4 && isa.avx2 {
                record(Family::Pack, Isa::Avx2);
                let full_k = kc / 8 * 8;
                let mut i0 = 0;
                while i0 + 4 <= rows {
                    let block = if i0 + 8 <= rows { 8 } else { 4 };
                    let row0 = (r0 + i0) * rs + p0;
                    // The `block` source rows hold kc contiguous floats each.
                    let src = &data[row0..row0 + (block - 1) * rs + kc];
                    for pb in (0..full_k).step_by(8) {
                        let dst = &mut out[pb * MR + i0..pb * MR + i0 + 7 * MR + block];
                        // SAFETY: AVX2 is present (`isa.avx2`, checked by `PackIsa::for_isa`); `src`
                        // holds (r, q) at r*rs + pb + q for r < block, q < 8
                        // (largest (block-1)*rs + pb + 7 < its length) and
                        // `dst` holds (q, r) at q*MR + r (largest
                        // 7*MR + block - 1 < its length).
                        unsafe {
                            if block == 8 {
                                x86::transpose8x8_avx2(src[pb..].as_ptr(), rs, dst.as_mut_ptr(), MR)
                            } else {
                                x86::transpose4x8_avx2(src[pb..].as_ptr(), rs, dst.as_mut_ptr(), MR)
                            }
                        }
                    }
                    i0 += block;
                }
                i_done = i0;
                k_done = full_k;
            }
            for i in 0..rows {
                let src = &data[(r0 + i) * rs + p0..(r0 + i) * rs + p0 + kc];
                let from = if i < i_done { k_done } else { 0 };
                for (p, &v) in src.iter().enumerate().skip(from) {
                    out[p * MR + i] = v;
                }
            }
        } else if rs == 1 {
            // Columns are contiguous (a transposed row-major matrix): each
            // k step of the panel is a copy of `rows` floats.
            // A full panel copies MR floats per step, a length the
            // compiler knows (this function is inlined with the kernel's
            // MR), so the copy is a few vector moves, not a memcpy call.
            if rows == MR {
                for p in 0..kc {
                    let col = (p0 + p) * cs + r0;
                    out[p * MR..p * MR + MR].copy_from_slice(&data[col..col + MR]);
                }
            } else {
                for p in 0..kc {
                    let col = (p0 + p) * cs + r0;
                    out[p * MR..p * MR + rows].copy_from_slice(&data[col..col + rows]);
                }
            }
        } else {
            for p in 0..kc {
                let col = (p0 + p) * cs;
                for i in 0..rows {
                    out[p * MR + i] = data[(r0 + i) * rs + col];
                }
            }
        }
        if rows < MR {
            for p in 0..kc {
                out[p * MR + rows..p * MR + MR].fill(0.0);
            }
        }
    }
}

/// Packs rows `p0..p0+kc` and columns `j0..j0+nc` of `b` into `ceil(nc/NR)`
/// panels of `kc x NR` (row `p` of a panel is `NR` contiguous floats),
/// zero-padding the last panel.
#[inline(always)]
#[allow(non_snake_case, clippy::too_many_arguments)]
pub(crate) fn pack_b(
    isa: PackIsa,
    NR: usize,
    b: &MatRef<'_>,
    p0: usize,
    kc: usize,
    j0: usize,
    nc: usize,
    dst: &mut [f32],
) {
    let data = b.as_slice();
    let (rs, cs) = (b.row_stride(), b.col_stride());
    for (panel, out) in dst
        .chunks_exact_mut(NR * kc)
        .take(nc.div_ceil(NR))
        .enumerate()
    {
        let c0 = j0 + panel * NR;
        let cols = NR.min(j0 + nc - c0);
        if cs == 1 && cols == NR {
            // As for A: a copy of a length known at compile time.
            for p in 0..kc {
                let row = (p0 + p) * rs + c0;
                out[p * NR..p * NR + NR].copy_from_slice(&data[row..row + NR]);
            }
        } else if cs == 1 {
            for p in 0..kc {
                let row = (p0 + p) * rs + c0;
                out[p * NR..p * NR + cols].copy_from_slice(&data[row..row + cols]);
                out[p * NR + cols..p * NR + NR].fill(0.0);
            }
        } else if rs == 1 {
            // Columns are contiguous (a transposed row-major matrix, e.g.
            // Wᵀ in an RBM's downward pass): a transpose, done in 8x8
            // register blocks where the CPU has AVX2.
            let mut j_done = 0;
            #[cfg(target_arch = "x86_64")]
            if NR.is_multiple_of(8) && kc >= 8 && isa.avx2 {
                record(Family::Pack, Isa::Avx2);
                let full_cols = cols / 8 * 8;
                let full_k = kc / 8 * 8;
                for j0 in (0..full_cols).step_by(8) {
                    let col0 = (c0 + j0) * cs + p0;
                    // The 8 source columns j0..j0+8 hold kc contiguous
                    // floats each; this slice covers all of them.
                    let src = &data[col0..col0 + 7 * cs + kc];
                    for pb in (0..full_k).step_by(8) {
                        let dst = &mut out[pb * NR + j0..pb * NR + j0 + 7 * NR + 8];
                        // SAFETY: AVX2 is present (`isa.avx2`, checked by `PackIsa::for_isa`). `src`
                        // holds element (r, q) at r*cs + pb + q for r, q < 8
                        // (the largest, 7*cs + pb + 7, is below 7*cs + kc),
                        // and `dst` holds (q, r) at q*NR + r (the largest,
                        // 7*NR + 7, is below its length 7*NR + 8).
                        unsafe {
                            x86::transpose8x8_avx2(src[pb..].as_ptr(), cs, dst.as_mut_ptr(), NR)
                        };
                    }
                    for j in j0..j0 + 8 {
                        let col = &data[(c0 + j) * cs + p0..(c0 + j) * cs + p0 + kc];
                        for p in full_k..kc {
                            out[p * NR + j] = col[p];
                        }
                    }
                }
                j_done = full_cols;
            }
            for j in j_done..cols {
                let src = &data[(c0 + j) * cs + p0..(c0 + j) * cs + p0 + kc];
                for (p, &v) in src.iter().enumerate() {
                    out[p * NR + j] = v;
                }
            }
            for p in 0..kc {
                out[p * NR + cols..p * NR + NR].fill(0.0);
            }
        } else {
            for p in 0..kc {
                for j in 0..cols {
                    out[p * NR + j] = data[(p0 + p) * rs + (c0 + j) * cs];
                }
                out[p * NR + cols..p * NR + NR].fill(0.0);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    /// Writes the transpose of the 4x8 block `src[r*src_stride + c]`
    /// (`r < 4`, `c < 8`) to `dst[c*dst_stride + r]`.
    ///
    /// # Safety
    /// The CPU has AVX2; `src` is valid for reading `src[r*src_stride + c]`
    /// and `dst` for writing `dst[c*dst_stride + r]`, for `r < 4`, `c < 8`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn transpose4x8_avx2(
        src: *const f32,
        src_stride: usize,
        dst: *mut f32,
        dst_stride: usize,
    ) {
        // SAFETY: the caller guarantees the four 8-float rows are readable.
        let r: [__m256; 4] =
            core::array::from_fn(|i| unsafe { _mm256_loadu_ps(src.add(i * src_stride)) });
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let s = [
            _mm256_shuffle_ps::<0x44>(t0, t2),
            _mm256_shuffle_ps::<0xEE>(t0, t2),
            _mm256_shuffle_ps::<0x44>(t1, t3),
            _mm256_shuffle_ps::<0xEE>(t1, t3),
        ];
        for (c, v) in s.into_iter().enumerate() {
            // SAFETY: the caller guarantees rows c and c + 4 of `dst` (4
            // floats each) are writable.
            unsafe {
                _mm_storeu_ps(dst.add(c * dst_stride), _mm256_castps256_ps128(v));
                _mm_storeu_ps(dst.add((c + 4) * dst_stride), _mm256_extractf128_ps::<1>(v));
            }
        }
    }

    /// Writes the transpose of the 8x8 block `src[r*src_stride + c]` to
    /// `dst[c*dst_stride + r]`.
    ///
    /// # Safety
    /// The CPU has AVX2; `src` is valid for reading `src[r*src_stride + c]`
    /// and `dst` for writing `dst[c*dst_stride + r]`, for `r, c < 8`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn transpose8x8_avx2(
        src: *const f32,
        src_stride: usize,
        dst: *mut f32,
        dst_stride: usize,
    ) {
        // SAFETY: the caller guarantees the eight 8-float rows are readable.
        let r: [__m256; 8] =
            core::array::from_fn(|i| unsafe { _mm256_loadu_ps(src.add(i * src_stride)) });
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        let out = [
            _mm256_permute2f128_ps::<0x20>(s0, s4),
            _mm256_permute2f128_ps::<0x20>(s1, s5),
            _mm256_permute2f128_ps::<0x20>(s2, s6),
            _mm256_permute2f128_ps::<0x20>(s3, s7),
            _mm256_permute2f128_ps::<0x31>(s0, s4),
            _mm256_permute2f128_ps::<0x31>(s1, s5),
            _mm256_permute2f128_ps::<0x31>(s2, s6),
            _mm256_permute2f128_ps::<0x31>(s3, s7),
        ];
        for (c, v) in out.into_iter().enumerate() {
            // SAFETY: the caller guarantees the eight 8-float rows of `dst`
            // are writable.
            unsafe { _mm256_storeu_ps(dst.add(c * dst_stride), v) };
        }
    }
}
