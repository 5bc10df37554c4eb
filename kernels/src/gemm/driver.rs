//! The loops around the microkernel: blocking, packing, edge tiles, the
//! epilogue, and the split of C between threads.

use super::blocking::Blocking;
use super::pack::{AlignedBuf, PackBufs, PackIsa, pack_a, pack_b, with_pack_bufs};
use super::ukr::{MAX_TILE, Microkernel, TileBuf};
use super::view::{MatMut, MatRef};
use super::{Epilogue, TileRows};
use crate::Par;
use crate::dispatch::{Dispatch, Family, LoopOrder, PackB, record};
use rayon::prelude::*;
use std::ops::Range;

/// Work below which a task is not worth handing to another thread
/// (about 20 µs of one core).
const MIN_FLOP_PER_TASK: usize = 1 << 21;

/// C as raw parts, so threads can write disjoint blocks of it.
#[derive(Clone, Copy)]
pub(super) struct CPtr {
    pub(super) ptr: *mut f32,
    pub(super) rs: usize,
    pub(super) cs: usize,
}

// SAFETY: `CPtr` comes from a `MatMut` whose elements do not alias (checked
// when the view was made). Threads receive disjoint row and column ranges of
// it, so no element is touched by two threads, and the `MatMut` borrow is
// held by `gemm_impl` until every thread has finished.
unsafe impl Send for CPtr {}
// SAFETY: as above; shared references to `CPtr` only copy the pointer.
unsafe impl Sync for CPtr {}

/// How B reaches the microkernel.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum BMode {
    /// Packed into `kc x NR` panels.
    Packed,
    /// Read in place from a row-major B (unit column stride); only the edge
    /// panel is packed.
    InPlace,
}

fn choose_b_mode<K: Microkernel>(b: &MatRef<'_>, m: usize, blk: &Blocking, pack_b: PackB) -> BMode {
    if b.col_stride() != 1 {
        return BMode::Packed;
    }
    match pack_b {
        PackB::Always => return BMode::Packed,
        PackB::Never => return BMode::InPlace,
        PackB::Auto => {}
    }
    // In place pays when each B panel is reused by few A panels: packing
    // then costs as much as the arithmetic it feeds.
    if m <= blk.mc.min(16 * K::MR) {
        BMode::InPlace
    } else {
        BMode::Packed
    }
}

/// Chooses a `tm x tn` grid of tasks over C's tiles that minimises the
/// slowest task's estimated time (arithmetic plus its own packing).
fn choose_grid<K: Microkernel>(
    m: usize,
    n: usize,
    k: usize,
    max_tasks: usize,
    b_mode: BMode,
) -> (usize, usize) {
    let tile = (K::MR, K::NR);
    choose_grid_for(tile, m, n, k, max_tasks, b_mode == BMode::Packed)
}

/// [`choose_grid`] for an `mr x nr` tile; `packs_b`: whether each task
/// packs its B panels.
pub(super) fn choose_grid_for(
    (mr, nr): (usize, usize),
    m: usize,
    n: usize,
    k: usize,
    max_tasks: usize,
    packs_b: bool,
) -> (usize, usize) {
    let flops = 2usize.saturating_mul(m).saturating_mul(n).saturating_mul(k);
    let tasks = max_tasks.min(flops / MIN_FLOP_PER_TASK).max(1);
    if tasks == 1 {
        return (1, 1);
    }
    let (mt, nt) = (m.div_ceil(mr), n.div_ceil(nr));
    let mut best = (1, 1);
    let mut best_cost = f64::INFINITY;
    for tm in 1..=tasks.min(mt) {
        for tn in 1..=(tasks / tm).min(nt) {
            let rows = (mt.div_ceil(tm) * mr) as f64;
            let cols = (nt.div_ceil(tn) * nr) as f64;
            let k = k as f64;
            // Cycles: ~32 flop/cycle of arithmetic, ~1 cycle per packed float.
            let arithmetic = 2.0 * rows * cols * k / 32.0;
            let packing = rows * k + if packs_b { cols * k } else { 0.0 };
            let cost = arithmetic + packing;
            if cost < best_cost * 0.999 {
                best_cost = cost;
                best = (tm, tn);
            }
        }
    }
    best
}

/// The part `part` of `parts` of `tiles` tiles of `size`, as a range of
/// indices clipped to `len`.
pub(super) fn split(len: usize, size: usize, parts: usize, part: usize) -> Range<usize> {
    let tiles = len.div_ceil(size);
    let lo = (tiles * part / parts * size).min(len);
    let hi = (tiles * (part + 1) / parts * size).min(len);
    lo..hi
}

/// One product as its tasks see it: the operands, the scalars, and the
/// choices made once per call.
struct Job<'j, E> {
    alpha: f32,
    a: &'j MatRef<'j>,
    b: &'j MatRef<'j>,
    beta: f32,
    c: CPtr,
    epi: &'j E,
    blk: Blocking,
    b_mode: BMode,
    /// B panels outer, A panels inner, in the loop over microtiles.
    b_outer: bool,
    pack: PackIsa,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_impl<K: Microkernel, E: Epilogue>(
    ctx: &Dispatch,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    mut c: MatMut<'_>,
    epi: &E,
    par: Par,
) {
    let (m, n, k) = (a.rows(), b.cols(), a.cols());
    let Some(cp) = c_for_product(&mut c, k, beta, epi) else {
        return;
    };
    record(Family::Gemm, K::ISA);
    let blk = K::BLOCKING.resolve(ctx.blocking(), K::MR, K::NR);
    let b_mode = choose_b_mode::<K>(&b, m, &blk, ctx.pack_b());
    let (tm, tn) = choose_grid::<K>(m, n, k, par.max_tasks(), b_mode);
    let job = Job {
        alpha,
        a: &a,
        b: &b,
        beta,
        c: cp,
        epi,
        blk,
        b_mode,
        b_outer: b_panel_outer(ctx.order(), b_mode),
        pack: PackIsa::for_isa(ctx.isa()),
    };
    let run = |rows: Range<usize>, cols: Range<usize>| {
        with_pack_bufs(|bufs| gemm_block::<K, E>(&job, rows, cols, bufs))
    };
    if tm * tn == 1 {
        run(0..m, 0..n);
    } else {
        (0..tm * tn).into_par_iter().for_each(|t| {
            let (ti, tj) = (t / tn, t % tn);
            let rows = split(m, K::MR, tm, ti);
            let cols = split(n, K::NR, tn, tj);
            if !rows.is_empty() && !cols.is_empty() {
                run(rows, cols);
            }
        });
    }
}

/// C as raw parts for a product of depth `k`, or `None` when there is
/// nothing to multiply: C is empty, or `k = 0` (then `C ← β·C` and the
/// epilogue are done here).
pub(super) fn c_for_product<E: Epilogue>(
    c: &mut MatMut<'_>,
    k: usize,
    beta: f32,
    epi: &E,
) -> Option<CPtr> {
    let (m, n) = (c.rows(), c.cols());
    if m == 0 || n == 0 {
        return None;
    }
    let (ptr, _, _, rs, cs) = c.raw_parts();
    let cp = CPtr { ptr, rs, cs };
    if k == 0 {
        scale_only(cp, m, n, beta, epi);
        return None;
    }
    Some(cp)
}

/// `k = 0`: `C ← β·C` (or 0), then the epilogue.
fn scale_only<E: Epilogue>(c: CPtr, m: usize, n: usize, beta: f32, epi: &E) {
    let mut row_buf = [0.0f32; 64];
    for i in 0..m {
        for j0 in (0..n).step_by(row_buf.len()) {
            let len = row_buf.len().min(n - j0);
            let vals = &mut row_buf[..len];
            for (j, v) in vals.iter_mut().enumerate() {
                // SAFETY: (i, j0 + j) is inside the m x n view `c` came from.
                let old = unsafe { *c.ptr.add(i * c.rs + (j0 + j) * c.cs) };
                *v = if beta == 0.0 { 0.0 } else { beta * old };
            }
            epi.apply_row(i, j0, vals);
            for (j, v) in vals.iter().enumerate() {
                // SAFETY: as above; this thread is the only writer.
                unsafe { *c.ptr.add(i * c.rs + (j0 + j) * c.cs) = *v };
            }
        }
    }
}

/// Whether B panels are the outer loop over microtiles: as the context
/// says, else exactly when B is read in place.
fn b_panel_outer(order: LoopOrder, b_mode: BMode) -> bool {
    match order {
        LoopOrder::APanelsOuter => false,
        LoopOrder::BPanelsOuter => true,
        LoopOrder::Auto => b_mode == BMode::InPlace,
    }
}

/// The block size at most `max` (a multiple of `unit`) that cuts `len`
/// into the fewest, most even blocks.
pub(super) fn balanced(len: usize, max: usize, unit: usize) -> usize {
    let blocks = len.div_ceil(max).max(1);
    (len.div_ceil(blocks).div_ceil(unit) * unit).max(unit)
}

/// One rank-`kc` update of a block of C: rows `ic..ic+mc`, columns
/// `jc..jc+nc`, depth `pc..pc+kc`.
#[derive(Clone, Copy)]
struct Update {
    ic: usize,
    mc: usize,
    jc: usize,
    nc: usize,
    pc: usize,
    kc: usize,
    /// The factor on C: the caller's β for the first update, then 1.
    beta: f32,
    /// The last update: the epilogue runs after it.
    last: bool,
}

/// Where one microtile lies in its update's block, and its size.
#[derive(Clone, Copy)]
struct TilePos {
    ir: usize,
    jr: usize,
    m: usize,
    n: usize,
}

/// The B operand of one update: packed panels, or (B read in place) the
/// packed edge panel.
#[derive(Clone, Copy)]
struct BPanels<'p> {
    packed: &'p [f32],
    edge: &'p [f32],
}

/// Sequential GEMM on the block `rows x cols` of C: for each block of rows
/// and each depth block, in order, A is packed once and every column block
/// gets its B panels and its sweep of microtiles.
fn gemm_block<K: Microkernel, E: Epilogue>(
    job: &Job<'_, E>,
    rows: Range<usize>,
    cols: Range<usize>,
    bufs: &mut PackBufs,
) {
    let mr = K::MR;
    debug_assert!(mr * K::NR <= MAX_TILE);
    let k = job.a.cols();
    let mut tile = TileBuf([0.0; MAX_TILE]);
    // Even blocks: 1024 rows are two blocks of 516, not 1008 + 16, and
    // k = 784 is four updates of 196, not three of 256 and one of 16.
    let mc_blk = balanced(rows.len(), job.blk.mc, mr);
    let nc_blk = balanced(cols.len(), job.blk.nc, K::NR);
    let kc_blk = balanced(k, job.blk.kc, 1);
    for ic in rows.clone().step_by(mc_blk) {
        let mc = mc_blk.min(rows.end - ic);
        for pc in (0..k).step_by(kc_blk) {
            let kc = kc_blk.min(k - pc);
            let apack = bufs.a.slice(mc.div_ceil(mr) * mr * kc);
            pack_a(job.pack, K::MR, job.a, ic, mc, pc, kc, apack);
            for jc in cols.clone().step_by(nc_blk) {
                let upd = Update {
                    ic,
                    mc,
                    jc,
                    nc: nc_blk.min(cols.end - jc),
                    pc,
                    kc,
                    beta: if pc == 0 { job.beta } else { 1.0 },
                    last: pc + kc == k,
                };
                let bp = pack_b_block::<K, E>(job, &upd, &mut bufs.b, &mut bufs.b_edge);
                sweep_tiles::<K, E>(job, &upd, apack, bp, &mut tile);
            }
        }
    }
}

/// Packs the B panels of `upd`: all of them, or only the edge panel when
/// B is read in place.
#[inline]
fn pack_b_block<'p, K: Microkernel, E>(
    job: &Job<'_, E>,
    upd: &Update,
    b: &'p mut AlignedBuf,
    b_edge: &'p mut AlignedBuf,
) -> BPanels<'p> {
    let (nr, nc, kc) = (K::NR, upd.nc, upd.kc);
    let n_full = nc / nr * nr;
    match job.b_mode {
        BMode::Packed => {
            let buf = b.slice(nc.div_ceil(nr) * nr * kc);
            pack_b(job.pack, K::NR, job.b, upd.pc, kc, upd.jc, nc, buf);
            BPanels {
                packed: buf,
                edge: &[],
            }
        }
        BMode::InPlace => {
            let edge = b_edge.slice(if nc > n_full { nr * kc } else { 0 });
            if nc > n_full {
                pack_b(
                    job.pack,
                    K::NR,
                    job.b,
                    upd.pc,
                    kc,
                    upd.jc + n_full,
                    nc - n_full,
                    edge,
                );
            }
            BPanels { packed: &[], edge }
        }
    }
}

/// Runs the microtiles of `upd` in the job's loop order, each written to
/// C (and, after the last update, through the epilogue).
#[inline]
fn sweep_tiles<K: Microkernel, E: Epilogue>(
    job: &Job<'_, E>,
    upd: &Update,
    apack: &[f32],
    bp: BPanels<'_>,
    tile: &mut TileBuf,
) {
    let (mr, nr, mc) = (K::MR, K::NR, upd.mc);
    // A short last A panel (1 <= rem <= TALL rows) joins the one before it
    // as a tall tile when the kernel has one.
    let rem = mc % mr;
    let tall = job.c.cs == 1 && mc > mr && rem != 0 && rem <= K::TALL;
    let (n_ir, n_jr) = (mc.div_ceil(mr) - usize::from(tall), upd.nc.div_ceil(nr));
    for t in 0..n_ir * n_jr {
        let (ir, jr) = if job.b_outer {
            ((t % n_ir) * mr, (t / n_ir) * nr)
        } else {
            ((t / n_jr) * mr, (t % n_jr) * nr)
        };
        let m = if tall && ir + mr + rem == mc {
            mr + rem
        } else {
            mr.min(mc - ir)
        };
        let pos = TilePos {
            ir,
            jr,
            m,
            n: nr.min(upd.nc - jr),
        };
        let (b_panel, b_rs) = b_panel::<K, E>(job, upd, bp, &pos);
        if upd.last {
            job.epi.prefetch(upd.ic + ir, upd.jc + jr, pos.m, pos.n);
        }
        if job.c.cs == 1 {
            run_tile::<K, E>(job, upd, apack, b_panel, b_rs, &pos);
            strip_epilogue::<K, E>(job, upd, &pos);
        } else {
            run_tile_strided::<K, E>(job, upd, apack, b_panel, b_rs, &pos, tile);
        }
    }
}

/// The B panel of the tile at `pos` and its row stride: packed, read in
/// place from B, or the packed edge panel.
#[inline(always)]
fn b_panel<K: Microkernel, E>(
    job: &Job<'_, E>,
    upd: &Update,
    bp: BPanels<'_>,
    pos: &TilePos,
) -> (*const f32, usize) {
    match job.b_mode {
        BMode::Packed => (bp.packed[pos.jr * upd.kc..].as_ptr(), K::NR),
        BMode::InPlace if pos.n == K::NR => {
            let start = upd.pc * job.b.row_stride() + upd.jc + pos.jr;
            (job.b.as_slice()[start..].as_ptr(), job.b.row_stride())
        }
        BMode::InPlace => (bp.edge.as_ptr(), K::NR),
    }
}

/// One microtile straight into a C with unit column stride: a full tile,
/// a tall one, or an edge corner.
#[inline(always)]
fn run_tile<K: Microkernel, E>(
    job: &Job<'_, E>,
    upd: &Update,
    apack: &[f32],
    b_panel: *const f32,
    b_rs: usize,
    pos: &TilePos,
) {
    let (mr, nr, kc, c) = (K::MR, K::NR, upd.kc, job.c);
    let a_panel = apack[pos.ir * kc..].as_ptr();
    let (ci, cj) = (upd.ic + pos.ir, upd.jc + pos.jr);
    // SAFETY: the tile origin (ci, cj) is inside C.
    let c_tile = unsafe { c.ptr.add(ci * c.rs + cj * c.cs) };
    let (alpha, beta) = (job.alpha, upd.beta);
    if pos.m == mr && pos.n == nr {
        // SAFETY: `a_panel` holds MR*kc packed floats; `b_panel` rows hold
        // NR floats for kc rows (packed, or a full in-place panel: columns
        // cj..cj+NR < n, rows pc..pc+kc <= k, and the view's bounds were
        // checked); the full C tile lies in this task's block, unit column
        // stride. The ISA was checked by the `Dispatch` that chose `K`.
        unsafe { K::run(kc, alpha, a_panel, b_panel, b_rs, beta, c_tile, c.rs) };
    } else if pos.m > mr {
        let a_next = apack[(pos.ir + mr) * kc..].as_ptr();
        // SAFETY: as above for B; `a_panel` and the next packed panel (the
        // block's last, which `apack` holds in full) each hold MR*kc
        // floats; the m x n tile of C lies in this task's block, unit
        // column stride, and m <= MR + TALL.
        unsafe {
            K::run_tall(
                kc, alpha, a_panel, a_next, b_panel, b_rs, beta, c_tile, c.rs, pos.m, pos.n,
            )
        };
    } else {
        // SAFETY: as above for A and B (an edge B panel is packed to NR
        // columns); the m x n corner of C lies in this task's block, unit
        // column stride.
        unsafe {
            K::run_partial(
                kc, alpha, a_panel, b_panel, b_rs, beta, c_tile, c.rs, pos.m, pos.n,
            )
        };
    }
}

/// After the last update, the epilogue on whole strips of the block: a
/// row strip (m x nc) once its last tile is done when A panels are outer,
/// a column strip (mc x n) when B panels are. Its per-call costs are paid
/// once per strip, and what it reads for the strip comes in long runs the
/// hardware prefetcher follows.
#[inline(always)]
fn strip_epilogue<K: Microkernel, E: Epilogue>(job: &Job<'_, E>, upd: &Update, pos: &TilePos) {
    if !upd.last {
        return;
    }
    let strip = if job.b_outer {
        (pos.ir + pos.m >= upd.mc).then_some((upd.ic, upd.jc + pos.jr, upd.mc, pos.n))
    } else {
        (pos.jr + K::NR >= upd.nc).then_some((upd.ic + pos.ir, upd.jc, pos.m, upd.nc))
    };
    if let Some((r0, c0, rows, cols)) = strip {
        let c = job.c;
        // SAFETY: the strip's `rows` rows of `cols` contiguous elements from
        // (r0, c0), row stride c.rs, lie in this task's block of C (rows
        // ic..ic+mc, columns jc..jc+nc), which no other thread touches, and
        // all its tiles are finished.
        let mut strip = unsafe { TileRows::from_raw(c.ptr.add(r0 * c.rs + c0), c.rs, rows, cols) };
        job.epi.apply_tile(r0, c0, &mut strip);
    }
}

/// One microtile for a C with strided columns: computed into the local
/// tile buffer, then `β·C` added, the epilogue applied (after the last
/// update) and the tile written out element by element.
#[inline]
fn run_tile_strided<K: Microkernel, E: Epilogue>(
    job: &Job<'_, E>,
    upd: &Update,
    apack: &[f32],
    b_panel: *const f32,
    b_rs: usize,
    pos: &TilePos,
    tile: &mut TileBuf,
) {
    let (nr, c) = (K::NR, job.c);
    let a_panel = apack[pos.ir * upd.kc..].as_ptr();
    let (ci, cj) = (upd.ic + pos.ir, upd.jc + pos.jr);
    // SAFETY: the tile origin (ci, cj) is inside C.
    let c_tile = unsafe { c.ptr.add(ci * c.rs + cj * c.cs) };
    let buf = tile.0.as_mut_ptr();
    // SAFETY: as in `run_tile` for A and B; C goes to the local MR x NR
    // tile buffer (row stride NR).
    unsafe { K::run(upd.kc, job.alpha, a_panel, b_panel, b_rs, 0.0, buf, nr) };
    if upd.beta != 0.0 {
        for i in 0..pos.m {
            let vals = &mut tile.0[i * nr..i * nr + pos.n];
            for (j, v) in vals.iter_mut().enumerate() {
                // SAFETY: (ci+i, cj+j) is inside this task's block.
                *v += upd.beta * unsafe { *c_tile.add(i * c.rs + j * c.cs) };
            }
        }
    }
    if upd.last {
        // SAFETY: the local tile buffer holds m rows of NR >= n floats and
        // is borrowed by nothing else.
        let mut rows = unsafe { TileRows::from_raw(tile.0.as_mut_ptr(), nr, pos.m, pos.n) };
        job.epi.apply_tile(ci, cj, &mut rows);
    }
    for i in 0..pos.m {
        for (j, v) in tile.0[i * nr..i * nr + pos.n].iter().enumerate() {
            // SAFETY: (ci+i, cj+j) is inside this task's block.
            unsafe { *c_tile.add(i * c.rs + j * c.cs) = *v };
        }
    }
}
