//! Register-tiled SGEMM microkernels, one per instruction set and tile shape.
//!
//! Every microkernel has the same contract (see [`Microkernel::run`]): it
//! multiplies a packed `MR x kc` panel of A by a `kc x NR` panel of B held
//! in registers as `MR*NR/lanes` accumulators, then writes
//! `C ← α·acc + β·C` to a full `MR x NR` tile of C with unit column stride.
//! With `β = 0` it never reads C, so NaN or garbage there cannot leak.
//! Edge tiles go to [`Microkernel::run_partial`], which the AVX-512 kernel
//! implements with fewer rows and masked columns (no wasted arithmetic on
//! the padding); the others, and strided C, go through a local tile buffer.
//! The AVX-512 kernel also takes tiles of up to `MR + 2` rows
//! ([`Microkernel::run_tall`]), so a block of 50 rows is three 12-row tiles
//! and one of 14, not four and a 2-row tile.
//!
//! Panel layouts:
//! - A is packed k-major: element `(i, p)` of the panel is `a[p*MR + i]`.
//! - B is read as rows of `NR` contiguous floats, `b_rs` apart: element
//!   `(p, j)` is `b[p*b_rs + j]`. A packed panel has `b_rs = NR`; a panel
//!   read straight from a row-major B has `b_rs` = B's row stride.

use super::blocking::Blocking;
use crate::Isa;

/// A register-tiled microkernel and its preferred cache blocking.
pub(crate) trait Microkernel {
    /// Rows of the C tile (the A panel's height; broadcast side).
    const MR: usize;
    /// Columns of the C tile (the B panel's width; vector side).
    const NR: usize;
    /// The kernel's name, for reports.
    const NAME: &'static str;
    /// The instruction set the kernel needs.
    const ISA: Isa;
    /// Default blocking for this tile shape.
    const BLOCKING: Blocking;
    /// Rows past `MR` that [`run_tall`](Self::run_tall) takes in one pass
    /// (0: none). A block of `q·MR + r` rows with `1 <= r <= TALL` then runs
    /// its last `MR + r` rows as one tall tile, instead of a full tile and an
    /// `r`-row edge tile that streams the whole B panel again for a few
    /// rows (at 50 rows, 4 % of the work at half the speed).
    const TALL: usize = 0;

    /// `C[i, j] ← α·Σ_p A[i, p]·B[p, j] + β·C[i, j]` for `i < MR`, `j < NR`.
    ///
    /// # Safety
    /// - `a` is valid for reading `kc * MR` floats;
    /// - `b` is valid for reading `b[p*b_rs + j]` for `p < kc`, `j < NR`;
    /// - `c` is valid for writing (and, if `beta != 0`, reading)
    ///   `c[i*c_rs + j]` for `i < MR`, `j < NR`, and nothing else aliases it;
    /// - the CPU supports the kernel's instruction set.
    #[allow(clippy::too_many_arguments)]
    unsafe fn run(
        kc: usize,
        alpha: f32,
        a: *const f32,
        b: *const f32,
        b_rs: usize,
        beta: f32,
        c: *mut f32,
        c_rs: usize,
    );

    /// [`run`](Self::run) for the top-left `m x n` corner of the tile
    /// (`1 <= m <= MR`, `1 <= n <= NR`): edge tiles of C. Elements of C
    /// outside the corner are neither read nor written. The A and B panels
    /// are full (`MR` rows packed, `NR` readable columns), as for `run`.
    ///
    /// The default goes through a local tile buffer; a kernel that can
    /// skip the missing rows and mask the missing columns overrides it.
    ///
    /// # Safety
    /// As for [`run`](Self::run), except that `c` need only be valid for
    /// `c[i*c_rs + j]` with `i < m`, `j < n`.
    #[allow(clippy::too_many_arguments)]
    unsafe fn run_partial(
        kc: usize,
        alpha: f32,
        a: *const f32,
        b: *const f32,
        b_rs: usize,
        beta: f32,
        c: *mut f32,
        c_rs: usize,
        m: usize,
        n: usize,
    ) {
        debug_assert!(m <= Self::MR && n <= Self::NR && Self::MR * Self::NR <= MAX_TILE);
        let mut tile = TileBuf([0.0; MAX_TILE]);
        // SAFETY: the panels satisfy `run`'s contract (the caller's); the
        // tile buffer holds MR x NR floats with row stride NR.
        unsafe { Self::run(kc, alpha, a, b, b_rs, 0.0, tile.0.as_mut_ptr(), Self::NR) };
        for i in 0..m {
            for j in 0..n {
                // SAFETY: (i, j) is inside the m x n corner the caller
                // guarantees valid and unaliased.
                unsafe {
                    let out = c.add(i * c_rs + j);
                    let prior = if beta == 0.0 { 0.0 } else { beta * *out };
                    *out = tile.0[i * Self::NR + j] + prior;
                }
            }
        }
    }

    /// [`run_partial`](Self::run_partial) for an `m x n` tile taller than
    /// the kernel (`MR < m <= MR + TALL`, `1 <= n <= NR`): rows below `MR`
    /// come from the packed panel `a`, the `m - MR` rows past it from the
    /// next packed panel, `a_next` (the first rows of a full `MR x kc`
    /// panel). The default runs the two panels one after the other.
    ///
    /// # Safety
    /// As for [`run_partial`](Self::run_partial) with `m` rows, and `a_next`
    /// valid for reading `kc * MR` floats.
    #[allow(clippy::too_many_arguments)]
    unsafe fn run_tall(
        kc: usize,
        alpha: f32,
        a: *const f32,
        a_next: *const f32,
        b: *const f32,
        b_rs: usize,
        beta: f32,
        c: *mut f32,
        c_rs: usize,
        m: usize,
        n: usize,
    ) {
        debug_assert!(m > Self::MR && m <= Self::MR + Self::TALL);
        // SAFETY: the caller's contract, split at row MR: the first MR
        // rows of the tile from `a`, the rest from `a_next`.
        unsafe {
            Self::run_partial(kc, alpha, a, b, b_rs, beta, c, c_rs, Self::MR, n);
            Self::run_partial(
                kc,
                alpha,
                a_next,
                b,
                b_rs,
                beta,
                c.add(Self::MR * c_rs),
                c_rs,
                m - Self::MR,
                n,
            );
        }
    }
}

/// The largest tile any microkernel uses (`MR * NR`).
pub(crate) const MAX_TILE: usize = 12 * 32;

/// A 64-byte aligned buffer for one C tile.
#[repr(align(64))]
pub(crate) struct TileBuf(pub(crate) [f32; MAX_TILE]);

/// Portable fallback: a 4x8 tile in plain Rust, vectorised by the compiler
/// for the baseline target (SSE2 on x86-64).
pub(crate) struct PortableUkr4x8;

impl Microkernel for PortableUkr4x8 {
    const MR: usize = 4;
    const NR: usize = 8;
    const NAME: &'static str = "sgemm_ukr_portable_4x8";
    const ISA: Isa = Isa::Portable;
    const BLOCKING: Blocking = Blocking {
        mc: 512,
        kc: 256,
        nc: 512,
    };

    unsafe fn run(
        kc: usize,
        alpha: f32,
        a: *const f32,
        b: *const f32,
        b_rs: usize,
        beta: f32,
        c: *mut f32,
        c_rs: usize,
    ) {
        let mut acc = [[0.0f32; 8]; 4];
        for p in 0..kc {
            // SAFETY: the caller guarantees kc*MR readable floats at `a` and
            // NR readable floats at `b + p*b_rs` for every p < kc.
            let (av, bv) = unsafe {
                (
                    *(a.add(p * 4) as *const [f32; 4]),
                    *(b.add(p * b_rs) as *const [f32; 8]),
                )
            };
            for i in 0..4 {
                for j in 0..8 {
                    acc[i][j] += av[i] * bv[j];
                }
            }
        }
        for (i, row) in acc.iter().enumerate() {
            // SAFETY: the caller guarantees the MR x NR tile at `c` (row
            // stride c_rs) is valid and not aliased.
            let out = unsafe { &mut *(c.add(i * c_rs) as *mut [f32; 8]) };
            if beta == 0.0 {
                for j in 0..8 {
                    out[j] = alpha * row[j];
                }
            } else {
                for j in 0..8 {
                    out[j] = alpha * row[j] + beta * out[j];
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{Avx2Ukr6x16, Avx512Ukr12x32};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Blocking, Isa, Microkernel};
    use core::arch::x86_64::*;

    /// AVX2+FMA 6x16 tile (the BLIS haswell shape): 12 ymm accumulators,
    /// two B vectors and one broadcast per step.
    pub(crate) struct Avx2Ukr6x16;

    impl Microkernel for Avx2Ukr6x16 {
        const MR: usize = 6;
        const NR: usize = 16;
        const NAME: &'static str = "sgemm_ukr_avx2_6x16";
        const ISA: Isa = Isa::Avx2;
        const BLOCKING: Blocking = Blocking {
            mc: 4080,
            kc: 256,
            nc: 512,
        };

        unsafe fn run(
            kc: usize,
            alpha: f32,
            a: *const f32,
            b: *const f32,
            b_rs: usize,
            beta: f32,
            c: *mut f32,
            c_rs: usize,
        ) {
            // SAFETY: the caller guarantees the pointer contract of `run`
            // and that the CPU has AVX2 and FMA.
            unsafe { sgemm_ukr_avx2_6x16(kc, alpha, a, b, b_rs, beta, c, c_rs) }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn sgemm_ukr_avx2_6x16(
        kc: usize,
        alpha: f32,
        a: *const f32,
        b: *const f32,
        b_rs: usize,
        beta: f32,
        c: *mut f32,
        c_rs: usize,
    ) {
        const MR: usize = 6;
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        let mut ap = a;
        let mut bp = b;
        for _ in 0..kc {
            // SAFETY: `bp` points at a row of NR = 16 readable floats and
            // `ap` at MR readable floats (the caller's contract); the loop
            // advances them by one row/column of the panels.
            unsafe {
                let b0 = _mm256_loadu_ps(bp);
                let b1 = _mm256_loadu_ps(bp.add(8));
                for (i, row) in acc.iter_mut().enumerate() {
                    let ai = _mm256_broadcast_ss(&*ap.add(i));
                    row[0] = _mm256_fmadd_ps(ai, b0, row[0]);
                    row[1] = _mm256_fmadd_ps(ai, b1, row[1]);
                }
                ap = ap.add(MR);
                bp = bp.add(b_rs);
            }
        }
        let va = _mm256_set1_ps(alpha);
        let vb = _mm256_set1_ps(beta);
        for (i, row) in acc.iter().enumerate() {
            // SAFETY: the caller guarantees the MR x NR tile at `c` is valid
            // for writes, and for reads when beta != 0.
            unsafe {
                let cp = c.add(i * c_rs);
                if beta == 0.0 {
                    _mm256_storeu_ps(cp, _mm256_mul_ps(va, row[0]));
                    _mm256_storeu_ps(cp.add(8), _mm256_mul_ps(va, row[1]));
                } else {
                    let c0 = _mm256_mul_ps(vb, _mm256_loadu_ps(cp));
                    let c1 = _mm256_mul_ps(vb, _mm256_loadu_ps(cp.add(8)));
                    _mm256_storeu_ps(cp, _mm256_fmadd_ps(va, row[0], c0));
                    _mm256_storeu_ps(cp.add(8), _mm256_fmadd_ps(va, row[1], c1));
                }
            }
        }
    }

    /// AVX-512F 12x32 tile (row-major image of the BLIS skx/zen4 32x12
    /// shape): 24 zmm accumulators, two B vectors and one broadcast per step.
    pub(crate) struct Avx512Ukr12x32;

    impl Microkernel for Avx512Ukr12x32 {
        const MR: usize = 12;
        const NR: usize = 32;
        const NAME: &'static str = "sgemm_ukr_avx512_12x32";
        const ISA: Isa = Isa::Avx512;
        const BLOCKING: Blocking = Blocking {
            mc: 4080,
            kc: 512,
            nc: 512,
        };
        // 14 x 32 holds 28 accumulators, two B vectors and the broadcast in
        // the 32 zmm registers.
        const TALL: usize = 2;

        unsafe fn run(
            kc: usize,
            alpha: f32,
            a: *const f32,
            b: *const f32,
            b_rs: usize,
            beta: f32,
            c: *mut f32,
            c_rs: usize,
        ) {
            // SAFETY: the caller guarantees the pointer contract of `run`
            // (the full 12x32 tile) and that the CPU has AVX-512F.
            unsafe { tile::<12, 2>(kc, alpha, a, a, b, b_rs, beta, c, c_rs, 0xFFFF) }
        }

        unsafe fn run_partial(
            kc: usize,
            alpha: f32,
            a: *const f32,
            b: *const f32,
            b_rs: usize,
            beta: f32,
            c: *mut f32,
            c_rs: usize,
            m: usize,
            n: usize,
        ) {
            // SAFETY: the caller guarantees `run_partial`'s contract and
            // that the CPU has AVX-512F.
            unsafe { tile_partial(kc, alpha, a, a, b, b_rs, beta, c, c_rs, m, n) }
        }

        unsafe fn run_tall(
            kc: usize,
            alpha: f32,
            a: *const f32,
            a_next: *const f32,
            b: *const f32,
            b_rs: usize,
            beta: f32,
            c: *mut f32,
            c_rs: usize,
            m: usize,
            n: usize,
        ) {
            // SAFETY: the caller guarantees `run_tall`'s contract and that
            // the CPU has AVX-512F.
            unsafe { tile_partial(kc, alpha, a, a_next, b, b_rs, beta, c, c_rs, m, n) }
        }
    }

    /// Rows of the packed A panel the AVX-512 kernels read (`MR`).
    const AVX512_MR: usize = 12;

    /// The AVX-512 kernel for a `ROWS x (16·VECS)` tile, the last vector's
    /// columns limited by `last_mask`: `tile::<12, 2>` with a full mask is
    /// the 12x32 kernel, the others serve edge tiles without computing (or
    /// touching) rows and columns outside C, and tall tiles (`ROWS > 12`),
    /// whose rows past 12 come from the next packed panel, `a_next`.
    ///
    /// # Safety
    /// `Microkernel::run_partial`'s contract with `m = ROWS` and
    /// `n = 16·(VECS-1) + popcount(last_mask)` (a mask of low bits), or
    /// `run_tall`'s when `ROWS > 12`, and the CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const ROWS: usize, const VECS: usize>(
        kc: usize,
        alpha: f32,
        a: *const f32,
        a_next: *const f32,
        b: *const f32,
        b_rs: usize,
        beta: f32,
        c: *mut f32,
        c_rs: usize,
        last_mask: __mmask16,
    ) {
        // Rows of B fetched ahead of use (B comes from L2, or from memory
        // when read in place).
        const PREFETCH_ROWS: usize = 8;
        // Iterations before the end at which the C tile is pulled into L1.
        const C_TO_L1: usize = 16;
        let mut acc = [[_mm512_setzero_ps(); VECS]; ROWS];
        let mut ap = a;
        let mut ap_next = a_next;
        let mut bp = b;
        // Prefetching never faults. The C tile goes to L2 now (the B panel
        // streaming through L1 during the loop would evict it from there),
        // and to L1 shortly before the write-out.
        let prefetch_c = |hint_l1: bool| {
            for i in 0..ROWS {
                let row = c.wrapping_add(i * c_rs) as *const i8;
                for off in (0..VECS * 64).step_by(124) {
                    if hint_l1 {
                        _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(off));
                    } else {
                        _mm_prefetch::<_MM_HINT_T1>(row.wrapping_add(off));
                    }
                }
            }
        };
        prefetch_c(false);
        let mut step = |ap: &mut *const f32, ap_next: &mut *const f32, bp: &mut *const f32| {
            let ahead = bp.wrapping_add(PREFETCH_ROWS * b_rs) as *const i8;
            for off in (0..VECS * 64).step_by(124) {
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(off));
            }
            // SAFETY: `bp` points at a row of NR = 32 readable floats, `ap`
            // at MR readable floats and, for a tall tile, `ap_next` too (the
            // caller's contract, for each of the kc steps); each step
            // advances them by one row/column. `ap_next` is only read for
            // rows past MR, and only moved with wrapping arithmetic.
            unsafe {
                let mut bv = [_mm512_setzero_ps(); VECS];
                for (v, b) in bv.iter_mut().enumerate() {
                    *b = _mm512_loadu_ps(bp.add(16 * v));
                }
                for (i, row) in acc.iter_mut().enumerate() {
                    let ai = if i < AVX512_MR {
                        _mm512_set1_ps(*ap.add(i))
                    } else {
                        _mm512_set1_ps(*ap_next.add(i - AVX512_MR))
                    };
                    for (r, b) in row.iter_mut().zip(&bv) {
                        *r = _mm512_fmadd_ps(ai, *b, *r);
                    }
                }
                *ap = ap.add(AVX512_MR);
                *ap_next = ap_next.wrapping_add(AVX512_MR);
                *bp = bp.add(b_rs);
            }
        };
        let main = kc.saturating_sub(C_TO_L1);
        for _ in 0..main {
            step(&mut ap, &mut ap_next, &mut bp);
        }
        prefetch_c(true);
        for _ in main..kc {
            step(&mut ap, &mut ap_next, &mut bp);
        }
        let va = _mm512_set1_ps(alpha);
        let vb = _mm512_set1_ps(beta);
        let full = last_mask == 0xFFFF;
        for (i, row) in acc.iter().enumerate() {
            for (v, &r) in row.iter().enumerate() {
                let mask = if v + 1 == VECS { last_mask } else { 0xFFFF };
                // SAFETY: the caller guarantees the ROWS x n corner at `c`
                // is valid for writes, and for reads when beta != 0; only
                // lanes in `mask` are read or written (masked loads and
                // stores never touch masked-off lanes).
                unsafe {
                    let cp = c.add(i * c_rs + 16 * v);
                    let mut out = _mm512_mul_ps(va, r);
                    if beta != 0.0 {
                        out = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask, cp), out);
                    }
                    if full || v + 1 < VECS {
                        _mm512_storeu_ps(cp, out);
                    } else {
                        _mm512_mask_storeu_ps(cp, mask, out);
                    }
                }
            }
        }
    }

    /// `run_partial` and `run_tall` for the AVX-512 kernel: the `m`-row
    /// kernel, with one vector per row when `n <= 16`.
    ///
    /// # Safety
    /// `Microkernel::run_partial`'s contract (`m <= 12`, `a_next` unused)
    /// or `run_tall`'s (`m > 12`), and the CPU has AVX-512F.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_partial(
        kc: usize,
        alpha: f32,
        a: *const f32,
        a_next: *const f32,
        b: *const f32,
        b_rs: usize,
        beta: f32,
        c: *mut f32,
        c_rs: usize,
        m: usize,
        n: usize,
    ) {
        debug_assert!((1..=AVX512_MR + 2).contains(&m) && (1..=32).contains(&n));
        let tail = n - if n > 16 { 16 } else { 0 };
        let mask: __mmask16 = if tail >= 16 {
            0xFFFF
        } else {
            (1u16 << tail) - 1
        };
        macro_rules! dispatch {
            ($($rows:literal)*) => {
                match (m, n > 16) {
                    $(
                        // SAFETY: the caller's contract for an m x n tile.
                        ($rows, false) => unsafe {
                            tile::<$rows, 1>(kc, alpha, a, a_next, b, b_rs, beta, c, c_rs, mask)
                        },
                        // SAFETY: as above.
                        ($rows, true) => unsafe {
                            tile::<$rows, 2>(kc, alpha, a, a_next, b, b_rs, beta, c, c_rs, mask)
                        },
                    )*
                    _ => unreachable!("tile {m}x{n} outside 14x32"),
                }
            };
        }
        dispatch!(1 2 3 4 5 6 7 8 9 10 11 12 13 14)
    }
}
