//! The loops around the microkernel: blocking, packing, edge tiles, the
//! epilogue, and the split of C between threads.

use super::blocking::Blocking;
use super::pack::{PackBufs, pack_a, pack_b, with_pack_bufs};
use super::ukr::{MAX_TILE, Microkernel, TileBuf};
use super::view::{MatMut, MatRef};
use super::{Epilogue, TileRows};
use crate::Par;
use rayon::prelude::*;
use std::ops::Range;

/// Work below which a task is not worth handing to another thread
/// (about 20 µs of one core).
const MIN_FLOP_PER_TASK: usize = 1 << 21;

/// C as raw parts, so threads can write disjoint blocks of it.
#[derive(Clone, Copy)]
struct CPtr {
    ptr: *mut f32,
    rs: usize,
    cs: usize,
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

fn choose_b_mode<K: Microkernel>(b: &MatRef<'_>, m: usize, blk: &Blocking) -> BMode {
    use std::sync::OnceLock;
    static FORCED: OnceLock<Option<BMode>> = OnceLock::new();
    let forced = *FORCED.get_or_init(|| match std::env::var("LATENT_GEMM_PACK_B").as_deref() {
        Ok("always") => Some(BMode::Packed),
        Ok("never") => Some(BMode::InPlace),
        _ => None,
    });
    if b.col_stride() != 1 {
        return BMode::Packed;
    }
    if let Some(mode) = forced {
        return mode;
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
    let flops = 2usize.saturating_mul(m).saturating_mul(n).saturating_mul(k);
    let tasks = max_tasks.min(flops / MIN_FLOP_PER_TASK).max(1);
    if tasks == 1 {
        return (1, 1);
    }
    let (mt, nt) = (m.div_ceil(K::MR), n.div_ceil(K::NR));
    let mut best = (1, 1);
    let mut best_cost = f64::INFINITY;
    for tm in 1..=tasks.min(mt) {
        for tn in 1..=(tasks / tm).min(nt) {
            let rows = (mt.div_ceil(tm) * K::MR) as f64;
            let cols = (nt.div_ceil(tn) * K::NR) as f64;
            let k = k as f64;
            // Cycles: ~32 flop/cycle of arithmetic, ~1 cycle per packed float.
            let arithmetic = 2.0 * rows * cols * k / 32.0;
            let packing = rows * k
                + if b_mode == BMode::Packed {
                    cols * k
                } else {
                    0.0
                };
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
fn split(len: usize, size: usize, parts: usize, part: usize) -> Range<usize> {
    let tiles = len.div_ceil(size);
    let lo = (tiles * part / parts * size).min(len);
    let hi = (tiles * (part + 1) / parts * size).min(len);
    lo..hi
}

pub(crate) fn gemm_impl<K: Microkernel, E: Epilogue>(
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    mut c: MatMut<'_>,
    epi: &E,
    par: Par,
) {
    let (m, n, k) = (a.rows(), b.cols(), a.cols());
    if m == 0 || n == 0 {
        return;
    }
    let (ptr, _, _, rs, cs) = c.raw_parts();
    let cp = CPtr { ptr, rs, cs };
    if k == 0 {
        scale_only(cp, m, n, beta, epi);
        return;
    }
    let blk = K::BLOCKING.resolve(K::MR, K::NR);
    let b_mode = choose_b_mode::<K>(&b, m, &blk);
    let (tm, tn) = choose_grid::<K>(m, n, k, par.max_tasks(), b_mode);
    let run = |rows: Range<usize>, cols: Range<usize>| {
        with_pack_bufs(|bufs| {
            gemm_block::<K, E>(alpha, &a, &b, beta, cp, rows, cols, epi, &blk, b_mode, bufs)
        })
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

fn b_panel_outer(b_mode: BMode) -> bool {
    use std::sync::OnceLock;
    static ORDER: OnceLock<Option<bool>> = OnceLock::new();
    let forced = *ORDER.get_or_init(|| match std::env::var("LATENT_GEMM_ORDER").as_deref() {
        Ok("b") => Some(true),
        Ok("a") => Some(false),
        _ => None,
    });
    forced.unwrap_or(b_mode == BMode::InPlace)
}

/// The block size at most `max` (a multiple of `unit`) that cuts `len`
/// into the fewest, most even blocks.
fn balanced(len: usize, max: usize, unit: usize) -> usize {
    let blocks = len.div_ceil(max).max(1);
    (len.div_ceil(blocks).div_ceil(unit) * unit).max(unit)
}

/// Sequential GEMM on the block `rows x cols` of C.
#[allow(clippy::too_many_arguments)]
fn gemm_block<K: Microkernel, E: Epilogue>(
    alpha: f32,
    a: &MatRef<'_>,
    b: &MatRef<'_>,
    beta: f32,
    c: CPtr,
    rows: Range<usize>,
    cols: Range<usize>,
    epi: &E,
    blk: &Blocking,
    b_mode: BMode,
    bufs: &mut PackBufs,
) {
    let (mr, nr) = (K::MR, K::NR);
    debug_assert!(mr * nr <= MAX_TILE);
    let k = a.cols();
    let mut tile = TileBuf([0.0; MAX_TILE]);
    // Even blocks: 1024 rows are two blocks of 516, not 1008 + 16, and
    // k = 784 is four updates of 196, not three of 256 and one of 16.
    let mc_blk = balanced(rows.len(), blk.mc, mr);
    let nc_blk = balanced(cols.len(), blk.nc, nr);
    let kc_blk = balanced(k, blk.kc, 1);
    for ic in rows.clone().step_by(mc_blk) {
        let mc = mc_blk.min(rows.end - ic);
        for pc in (0..k).step_by(kc_blk) {
            let kc = kc_blk.min(k - pc);
            let beta_blk = if pc == 0 { beta } else { 1.0 };
            let last = pc + kc == k;
            let apack = bufs.a.slice(mc.div_ceil(mr) * mr * kc);
            pack_a(K::MR, a, ic, mc, pc, kc, apack);
            for jc in cols.clone().step_by(nc_blk) {
                let nc = nc_blk.min(cols.end - jc);
                let n_full = nc / nr * nr;
                let (bpack, bedge): (&[f32], &[f32]) = match b_mode {
                    BMode::Packed => {
                        let buf = bufs.b.slice(nc.div_ceil(nr) * nr * kc);
                        pack_b(K::NR, b, pc, kc, jc, nc, buf);
                        (buf, &[])
                    }
                    BMode::InPlace => {
                        let edge = bufs.b_edge.slice(if nc > n_full { nr * kc } else { 0 });
                        if nc > n_full {
                            pack_b(K::NR, b, pc, kc, jc + n_full, nc - n_full, edge);
                        }
                        (&[], edge)
                    }
                };
                // A short last A panel (1 <= rem <= TALL rows) joins the one
                // before it as a tall tile when the kernel has one.
                let rem = mc % mr;
                let tall = c.cs == 1 && mc > mr && rem != 0 && rem <= K::TALL;
                let (n_ir, n_jr) = (mc.div_ceil(mr) - usize::from(tall), nc.div_ceil(nr));
                let b_outer = b_panel_outer(b_mode);
                for t in 0..n_ir * n_jr {
                    let (ir, jr) = if b_outer {
                        ((t % n_ir) * mr, (t / n_ir) * nr)
                    } else {
                        ((t / n_jr) * mr, (t % n_jr) * nr)
                    };
                    let m_cur = if tall && ir + mr + rem == mc {
                        mr + rem
                    } else {
                        mr.min(mc - ir)
                    };
                    let a_panel = apack[ir * kc..].as_ptr();
                    {
                        let n_cur = nr.min(nc - jr);
                        let (b_panel, b_rs) = match b_mode {
                            BMode::Packed => (bpack[jr * kc..].as_ptr(), nr),
                            BMode::InPlace if n_cur == nr => {
                                let start = pc * b.row_stride() + jc + jr;
                                (b.as_slice()[start..].as_ptr(), b.row_stride())
                            }
                            BMode::InPlace => (bedge.as_ptr(), nr),
                        };
                        let (ci, cj) = (ic + ir, jc + jr);
                        if last {
                            epi.prefetch(ci, cj, m_cur, n_cur);
                        }
                        // SAFETY: the tile origin (ci, cj) is inside C.
                        let c_tile = unsafe { c.ptr.add(ci * c.rs + cj * c.cs) };
                        if c.cs == 1 {
                            if m_cur == mr && n_cur == nr {
                                // SAFETY: `a_panel` holds MR*kc packed floats;
                                // `b_panel` rows hold NR floats for kc rows
                                // (packed, or a full in-place panel: columns
                                // cj..cj+NR < n, rows pc..pc+kc <= k, and the
                                // view's bounds were checked); the full C tile
                                // lies in this task's block, unit column
                                // stride. The ISA was checked by `gemm_on`.
                                unsafe {
                                    K::run(
                                        kc, alpha, a_panel, b_panel, b_rs, beta_blk, c_tile, c.rs,
                                    )
                                };
                            } else if m_cur > mr {
                                // SAFETY: as above for B; `a_panel` and the
                                // next packed panel (the block's last, which
                                // `apack` holds in full) each hold MR*kc
                                // floats; the m_cur x n_cur tile of C lies
                                // in this task's block, unit column stride,
                                // and m_cur <= MR + TALL.
                                unsafe {
                                    K::run_tall(
                                        kc,
                                        alpha,
                                        a_panel,
                                        apack[(ir + mr) * kc..].as_ptr(),
                                        b_panel,
                                        b_rs,
                                        beta_blk,
                                        c_tile,
                                        c.rs,
                                        m_cur,
                                        n_cur,
                                    )
                                };
                            } else {
                                // SAFETY: as above for A and B (an edge B
                                // panel is packed to NR columns); the
                                // m_cur x n_cur corner of C lies in this
                                // task's block, unit column stride.
                                unsafe {
                                    K::run_partial(
                                        kc, alpha, a_panel, b_panel, b_rs, beta_blk, c_tile, c.rs,
                                        m_cur, n_cur,
                                    )
                                };
                            }
                            // The epilogue runs on whole strips of this
                            // block: a row strip (m_cur x nc) once its last
                            // tile is done when A panels are outer, a
                            // column strip (mc x n_cur) when B panels are.
                            // Its per-call costs are paid once per strip,
                            // and what it reads for the strip comes in long
                            // runs the hardware prefetcher follows.
                            let strip = if b_outer {
                                (ir + m_cur >= mc).then_some((ic, cj, mc, n_cur))
                            } else {
                                (jr + nr >= nc).then_some((ci, jc, m_cur, nc))
                            };
                            if let (true, Some((r0, c0, rows, cols))) = (last, strip) {
                                // SAFETY: the strip's `rows` rows of `cols`
                                // contiguous elements from (r0, c0), row
                                // stride c.rs, lie in this task's block of C
                                // (rows ic..ic+mc, columns jc..jc+nc), which
                                // no other thread touches, and all its tiles
                                // are finished.
                                let mut strip = unsafe {
                                    TileRows::from_raw(c.ptr.add(r0 * c.rs + c0), c.rs, rows, cols)
                                };
                                epi.apply_tile(r0, c0, &mut strip);
                            }
                        } else {
                            // SAFETY: as above for A and B; C goes to the
                            // local MR x NR tile buffer (row stride NR).
                            unsafe {
                                K::run(
                                    kc,
                                    alpha,
                                    a_panel,
                                    b_panel,
                                    b_rs,
                                    0.0,
                                    tile.0.as_mut_ptr(),
                                    nr,
                                )
                            };
                            if beta_blk != 0.0 {
                                for i in 0..m_cur {
                                    let vals = &mut tile.0[i * nr..i * nr + n_cur];
                                    for (j, v) in vals.iter_mut().enumerate() {
                                        // SAFETY: (ci+i, cj+j) is inside this task's block.
                                        *v +=
                                            beta_blk * unsafe { *c_tile.add(i * c.rs + j * c.cs) };
                                    }
                                }
                            }
                            if last {
                                // SAFETY: the local tile buffer holds m_cur
                                // rows of NR >= n_cur floats and is borrowed
                                // by nothing else.
                                let mut rows = unsafe {
                                    TileRows::from_raw(tile.0.as_mut_ptr(), nr, m_cur, n_cur)
                                };
                                epi.apply_tile(ci, cj, &mut rows);
                            }
                            for i in 0..m_cur {
                                for (j, v) in tile.0[i * nr..i * nr + n_cur].iter().enumerate() {
                                    // SAFETY: (ci+i, cj+j) is inside this task's block.
                                    unsafe { *c_tile.add(i * c.rs + j * c.cs) = *v };
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
