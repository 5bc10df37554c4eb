//! The bf16 GEMM's microkernels: AVX512-BF16 (`vdpbf16ps`) and a portable
//! kernel that computes the same bits.
//!
//! Contract ([`Bf16Kernel::run`]): a packed A panel (`pairs x MR` words,
//! each a pair of bf16 of consecutive k) times a packed B panel (`pairs x
//! NR` words), accumulated in f32, then `C ← α·acc + β·C` on the top-left
//! `m x n` corner of the tile (β = 0: C is not read).
//!
//! The arithmetic, identical in both kernels (that of `vdpbf16ps`), for
//! each element of C: `acc = 0`, then for each pair `q` in order,
//! `acc ← acc + a_hi·b_hi` and then `acc ← acc + a_lo·b_lo`, each step one
//! fused multiply-add rounded to nearest even, with bf16 subnormal inputs
//! read as zero and subnormal results flushed to (signed) zero. The
//! write-out rounds `α·acc` and `β·C` separately and then adds them (no
//! fused multiply-add), so the kernels agree bit for bit.

use crate::isa::Bf16Isa;

/// A bf16 microkernel: tile shape, name and instruction set.
pub(crate) trait Bf16Kernel {
    /// Rows of the C tile.
    const MR: usize;
    /// Columns of the C tile.
    const NR: usize;
    /// The kernel's name, for reports.
    const NAME: &'static str;
    /// The instruction set the kernel needs.
    const ISA: Bf16Isa;

    /// The product of the panels into the `m x n` corner of the tile at
    /// `c` (`1 <= m <= MR`, `1 <= n <= NR`), as the module documents.
    ///
    /// # Safety
    /// - `a` is valid for reading `pairs * MR` words, `b` `pairs * NR`;
    /// - `c` is valid for writing (and, if `beta != 0`, reading)
    ///   `c[i*c_rs + j]` for `i < m`, `j < n`, and nothing aliases it;
    /// - the CPU supports [`ISA`](Self::ISA).
    #[allow(clippy::too_many_arguments)]
    unsafe fn run(
        pairs: usize,
        alpha: f32,
        a: *const u32,
        b: *const u32,
        beta: f32,
        c: *mut f32,
        c_rs: usize,
        m: usize,
        n: usize,
    );
}

/// The bf16 in the low (`hi = false`) or high half of `w`, widened to
/// f32, with a subnormal read as a zero of the same sign.
#[inline(always)]
fn half_daz(w: u32, hi: bool) -> f32 {
    let h = if hi { w >> 16 } else { w & 0xffff };
    if h & 0x7f80 == 0 {
        f32::from_bits((h & 0x8000) << 16)
    } else {
        f32::from_bits(h << 16)
    }
}

/// `acc + x·y` rounded once to f32 (to nearest even), a subnormal result
/// flushed to zero. The product of two bf16 is exact in f64, and the f64
/// sum rounded to f32 is the correctly rounded sum (f64 has more than
/// twice f32's precision plus two bits), so this is the fused
/// multiply-add of `vdpbf16ps` without needing an FMA unit.
#[inline(always)]
fn dp_step(acc: f32, x: f32, y: f32) -> f32 {
    let r = (f64::from(acc) + f64::from(x) * f64::from(y)) as f32;
    if r.is_subnormal() {
        0.0f32.copysign(r)
    } else {
        r
    }
}

/// The portable kernel: plain Rust, a 4 x 16 tile.
pub(crate) struct PortableBf16Ukr4x16;

impl Bf16Kernel for PortableBf16Ukr4x16 {
    const MR: usize = 4;
    const NR: usize = 16;
    const NAME: &'static str = "gemm_bf16_ukr_portable_4x16";
    const ISA: Bf16Isa = Bf16Isa::Portable;

    unsafe fn run(
        pairs: usize,
        alpha: f32,
        a: *const u32,
        b: *const u32,
        beta: f32,
        c: *mut f32,
        c_rs: usize,
        m: usize,
        n: usize,
    ) {
        const MR: usize = PortableBf16Ukr4x16::MR;
        const NR: usize = PortableBf16Ukr4x16::NR;
        // SAFETY: the caller guarantees `pairs * MR` and `pairs * NR`
        // readable words.
        let (a, b) = unsafe {
            (
                std::slice::from_raw_parts(a, pairs * MR),
                std::slice::from_raw_parts(b, pairs * NR),
            )
        };
        let mut acc = [[0.0f32; NR]; MR];
        for (aq, bq) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
            for (row, &aw) in acc.iter_mut().zip(aq) {
                let (a_lo, a_hi) = (half_daz(aw, false), half_daz(aw, true));
                for (v, &bw) in row.iter_mut().zip(bq) {
                    let t = dp_step(*v, a_hi, half_daz(bw, true));
                    *v = dp_step(t, a_lo, half_daz(bw, false));
                }
            }
        }
        for (i, row) in acc.iter().enumerate().take(m) {
            for (j, &v) in row.iter().enumerate().take(n) {
                // SAFETY: (i, j) is inside the m x n corner the caller
                // guarantees valid and unaliased.
                unsafe {
                    let out = c.add(i * c_rs + j);
                    *out = if beta == 0.0 {
                        alpha * v
                    } else {
                        alpha * v + beta * *out
                    };
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::Avx512Bf16Ukr12x32;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Bf16Kernel;
    use crate::isa::Bf16Isa;
    use core::arch::x86_64::*;

    /// AVX512-BF16 12 x 32 tile: 24 zmm accumulators, two B vectors (32
    /// columns of pairs) and one broadcast pair of A per step, as the f32
    /// AVX-512 kernel.
    pub(crate) struct Avx512Bf16Ukr12x32;

    impl Bf16Kernel for Avx512Bf16Ukr12x32 {
        const MR: usize = 12;
        const NR: usize = 32;
        const NAME: &'static str = "gemm_bf16_ukr_avx512bf16_12x32";
        const ISA: Bf16Isa = Bf16Isa::Avx512Bf16;

        unsafe fn run(
            pairs: usize,
            alpha: f32,
            a: *const u32,
            b: *const u32,
            beta: f32,
            c: *mut f32,
            c_rs: usize,
            m: usize,
            n: usize,
        ) {
            // SAFETY: the caller's contract is the kernel's, and it
            // guarantees AVX512-BF16 (and so AVX-512F).
            unsafe { kernel_12x32(pairs, alpha, a, b, beta, c, c_rs, m, n) }
        }
    }

    /// A pair-of-bf16 vector from 16 words.
    #[inline(always)]
    fn bh(v: __m512i) -> __m512bh {
        // SAFETY: both are 64-byte plain vectors; every bit pattern is a
        // valid `__m512bh`.
        unsafe { std::mem::transmute::<__m512i, __m512bh>(v) }
    }

    #[target_feature(enable = "avx512f,avx512bf16")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn kernel_12x32(
        pairs: usize,
        alpha: f32,
        a: *const u32,
        b: *const u32,
        beta: f32,
        c: *mut f32,
        c_rs: usize,
        m: usize,
        n: usize,
    ) {
        let mut acc = [[_mm512_setzero_ps(); 2]; 12];
        for q in 0..pairs {
            // SAFETY: word q*32 + 31 of B and q*12 + 11 of A are inside the
            // panels (q < pairs; the caller's contract).
            let (b0, b1) = unsafe {
                (
                    bh(_mm512_loadu_si512(b.add(q * 32).cast())),
                    bh(_mm512_loadu_si512(b.add(q * 32 + 16).cast())),
                )
            };
            for (i, row) in acc.iter_mut().enumerate() {
                // SAFETY: as above.
                let ai = bh(_mm512_set1_epi32(unsafe { *a.add(q * 12 + i) } as i32));
                row[0] = _mm512_dpbf16_ps(row[0], ai, b0);
                row[1] = _mm512_dpbf16_ps(row[1], ai, b1);
            }
        }
        let (va, vb) = (_mm512_set1_ps(alpha), _mm512_set1_ps(beta));
        for (i, row) in acc.iter().enumerate().take(m) {
            for (h, &v) in row.iter().enumerate() {
                let cols = n.saturating_sub(16 * h).min(16);
                if cols == 0 {
                    continue;
                }
                let mask: __mmask16 = ((1u32 << cols) - 1) as u16;
                // SAFETY: columns 16h .. 16h + cols of row i < m are inside
                // the m x n corner of C (the caller's contract).
                let out = unsafe { c.add(i * c_rs + 16 * h) };
                let mut r = _mm512_mul_ps(va, v);
                if beta != 0.0 {
                    // SAFETY: as above; masked lanes are not read.
                    let old = unsafe { _mm512_maskz_loadu_ps(mask, out) };
                    r = _mm512_add_ps(r, _mm512_mul_ps(vb, old));
                }
                // SAFETY: as above; masked lanes are not written.
                unsafe { _mm512_mask_storeu_ps(out, mask, r) };
            }
        }
    }
}
