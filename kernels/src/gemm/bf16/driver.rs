//! The loops around the bf16 microkernels: the f32 driver's blocking, task
//! grid and `k = 0` case, with both operands packed to bf16 pairs (B
//! possibly packed once beforehand, [`PackedBf16`]).

use super::PackedBf16;
use super::pack::{pack_a_pairs, pack_b_pairs};
use super::ukr::Bf16Kernel;
use crate::Par;
use crate::dispatch::{Family, record};
use crate::gemm::blocking::Blocking;
use crate::gemm::driver::{CPtr, balanced, c_for_product, choose_grid_for, split};
use crate::gemm::pack::{PackBufs, with_pack_bufs};
use crate::gemm::ukr::{MAX_TILE, TileBuf};
use crate::gemm::{Epilogue, MatMut, MatRef, TileRows};
use rayon::prelude::*;
use std::ops::Range;

/// The blocking of every bf16 kernel. It is the same for all of them, and
/// `kc` is rounded to an even depth, so that every kernel sums each
/// element of C in the same order (the same bits) and a [`PackedBf16`]'s
/// depth blocks do not depend on the thread count. `mc` and `nc` are
/// rounded to each kernel's tile.
pub(crate) const BF16_BLOCKING: Blocking = Blocking {
    mc: 4080,
    kc: 512,
    nc: 512,
};

/// The depth of the bf16 GEMM's rank-`kc` updates for a depth of `k`
/// (even, so pairs never straddle two updates).
pub(crate) fn kc_block(k: usize) -> usize {
    balanced(k, BF16_BLOCKING.kc, 2)
}

/// Where the B operand comes from.
#[derive(Clone, Copy)]
pub(crate) enum BSource<'a> {
    /// An f32 view, packed per block while the product runs.
    View(&'a MatRef<'a>),
    /// Packed once beforehand (its kernel's `NR` and [`kc_block`] checked).
    Packed(&'a PackedBf16),
}

/// One bf16 product as its tasks see it.
struct Job<'j, E> {
    alpha: f32,
    a: &'j MatRef<'j>,
    b: BSource<'j>,
    beta: f32,
    c: CPtr,
    epi: &'j E,
    k: usize,
}

/// `C ← α·op(A)·op(B) + β·C` then the epilogue, with the kernel `K`;
/// shapes already checked.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_bf16_impl<K: Bf16Kernel, E: Epilogue>(
    alpha: f32,
    a: &MatRef<'_>,
    b: BSource<'_>,
    k: usize,
    n: usize,
    beta: f32,
    mut c: MatMut<'_>,
    epi: &E,
    par: Par,
) {
    let m = a.rows();
    let Some(cp) = c_for_product(&mut c, k, beta, epi) else {
        return;
    };
    record(Family::GemmBf16, K::ISA.base());
    let packs_b = matches!(b, BSource::View(_));
    let (tm, tn) = choose_grid_for((K::MR, K::NR), m, n, k, par.max_tasks(), packs_b);
    let job = Job {
        alpha,
        a,
        b,
        beta,
        c: cp,
        epi,
        k,
    };
    let run = |rows: Range<usize>, cols: Range<usize>| {
        with_pack_bufs(|bufs| gemm_block::<K, E>(&job, rows, cols, bufs))
    };
    if tm * tn == 1 {
        run(0..m, 0..n);
    } else {
        (0..tm * tn).into_par_iter().for_each(|t| {
            let (rows, cols) = (split(m, K::MR, tm, t / tn), split(n, K::NR, tn, t % tn));
            if !rows.is_empty() && !cols.is_empty() {
                run(rows, cols);
            }
        });
    }
}

/// Sequential bf16 GEMM on the block `rows x cols` of C (both starting on
/// a tile boundary): for each block of rows and each depth block, in
/// order, A is packed once, and each column block gets its B panels and
/// its tiles (A panels outer).
fn gemm_block<K: Bf16Kernel, E: Epilogue>(
    job: &Job<'_, E>,
    rows: Range<usize>,
    cols: Range<usize>,
    bufs: &mut PackBufs,
) {
    let (mr, nr, k) = (K::MR, K::NR, job.k);
    let blk = BF16_BLOCKING.resolve(None, mr, nr);
    let mc_blk = balanced(rows.len(), blk.mc, mr);
    let nc_blk = balanced(cols.len(), blk.nc, nr);
    let kc_blk = kc_block(k);
    for ic in rows.clone().step_by(mc_blk) {
        let mc = mc_blk.min(rows.end - ic);
        for pc in (0..k).step_by(kc_blk) {
            let kc = kc_blk.min(k - pc);
            let pairs = kc.div_ceil(2);
            let apack = bufs.a_pairs.slice(mc.div_ceil(mr) * mr * pairs);
            pack_a_pairs(mr, job.a, ic, mc, pc, kc, apack);
            for jc in cols.clone().step_by(nc_blk) {
                let nc = nc_blk.min(cols.end - jc);
                let bpack: &[u32] = match job.b {
                    BSource::View(b) => {
                        let buf = bufs.b_pairs.slice(nc.div_ceil(nr) * nr * pairs);
                        pack_b_pairs(nr, b, pc, kc, jc, nc, buf);
                        buf
                    }
                    BSource::Packed(p) => p.panels(pc, jc, nc),
                };
                let upd = Update {
                    ic,
                    mc,
                    jc,
                    nc,
                    pairs,
                    beta: if pc == 0 { job.beta } else { 1.0 },
                    last: pc + kc == k,
                };
                sweep::<K, E>(job, &upd, apack, bpack);
            }
        }
    }
}

/// One rank-`kc` update of the block of C at rows `ic..ic+mc`, columns
/// `jc..jc+nc`.
struct Update {
    ic: usize,
    mc: usize,
    jc: usize,
    nc: usize,
    pairs: usize,
    /// The factor on C: the caller's β for the first update, then 1.
    beta: f32,
    /// The last update: the epilogue runs after it.
    last: bool,
}

/// The tiles of one update, A panels outer; each tile written to C and,
/// after the last update, passed to the epilogue.
fn sweep<K: Bf16Kernel, E: Epilogue>(job: &Job<'_, E>, upd: &Update, apack: &[u32], bpack: &[u32]) {
    let (mr, nr, pairs, c) = (K::MR, K::NR, upd.pairs, job.c);
    for ir in (0..upd.mc).step_by(mr) {
        let a_panel = apack[ir * pairs..ir * pairs + mr * pairs].as_ptr();
        for jr in (0..upd.nc).step_by(nr) {
            let b_panel = bpack[jr * pairs..jr * pairs + nr * pairs].as_ptr();
            let (m, n) = (mr.min(upd.mc - ir), nr.min(upd.nc - jr));
            let (ci, cj) = (upd.ic + ir, upd.jc + jr);
            if upd.last {
                job.epi.prefetch(ci, cj, m, n);
            }
            // SAFETY: (ci, cj) is inside C.
            let c_tile = unsafe { c.ptr.add(ci * c.rs + cj * c.cs) };
            if c.cs == 1 {
                // SAFETY: the panels hold mr*pairs and nr*pairs words (the
                // slices above); the m x n tile of C lies in this task's
                // block, unit column stride, touched by no other thread;
                // the dispatch context that chose `K` checked its ISA.
                unsafe {
                    K::run(
                        pairs, job.alpha, a_panel, b_panel, upd.beta, c_tile, c.rs, m, n,
                    )
                };
                if upd.last {
                    // SAFETY: as above; the tile is finished.
                    let mut t = unsafe { TileRows::from_raw(c_tile, c.rs, m, n) };
                    job.epi.apply_tile(ci, cj, &mut t);
                }
            } else {
                let mut tile = TileBuf([0.0; MAX_TILE]);
                strided_tile::<K, E>(job, upd, (a_panel, b_panel), (ci, cj, m, n), &mut tile);
            }
        }
    }
}

/// One tile of a C with strided columns, through the local buffer: C
/// copied in (if β ≠ 0), the kernel, the epilogue, C copied out.
fn strided_tile<K: Bf16Kernel, E: Epilogue>(
    job: &Job<'_, E>,
    upd: &Update,
    (a_panel, b_panel): (*const u32, *const u32),
    (ci, cj, m, n): (usize, usize, usize, usize),
    tile: &mut TileBuf,
) {
    let (nr, c) = (K::NR, job.c);
    debug_assert!(K::MR * nr <= MAX_TILE);
    let at = |i: usize, j: usize| (ci + i) * c.rs + (cj + j) * c.cs;
    if upd.beta != 0.0 {
        for i in 0..m {
            for j in 0..n {
                // SAFETY: (ci+i, cj+j) is inside this task's block of C.
                tile.0[i * nr + j] = unsafe { *c.ptr.add(at(i, j)) };
            }
        }
    }
    // SAFETY: as in `sweep` for the panels; the tile buffer holds MR x NR
    // floats, row stride NR, borrowed by nothing else.
    let buf = tile.0.as_mut_ptr();
    unsafe {
        K::run(
            upd.pairs, job.alpha, a_panel, b_panel, upd.beta, buf, nr, m, n,
        )
    };
    if upd.last {
        // SAFETY: the buffer holds m rows of NR >= n floats, unaliased.
        let mut t = unsafe { TileRows::from_raw(buf, nr, m, n) };
        job.epi.apply_tile(ci, cj, &mut t);
    }
    for i in 0..m {
        for j in 0..n {
            // SAFETY: (ci+i, cj+j) is inside this task's block of C.
            unsafe { *c.ptr.add(at(i, j)) = tile.0[i * nr + j] };
        }
    }
}
