//! How the element-wise kernels split rows between rayon tasks
//! (crate-private).
//!
//! Work is cut only at row boundaries (or, for flat element-wise passes, at
//! multiples of 16 elements), and every row's result depends only on the
//! row, so the output is the same for every split.

use crate::Par;
use rayon::prelude::*;

/// Elements below which a task is not worth handing to another thread
/// (a few microseconds of one core for a memory-bound pass).
pub(crate) const MIN_ELEMS_PER_TASK: usize = 1 << 15;

/// Rows per task for `rows x cols` under `par`, or `None` to stay on the
/// calling thread.
pub(crate) fn rows_per_task(par: Par, rows: usize, cols: usize, min_elems: usize) -> Option<usize> {
    let elems = rows.saturating_mul(cols);
    let tasks = par
        .max_tasks()
        .min(elems / min_elems.max(1))
        .min(rows)
        .max(1);
    if tasks <= 1 {
        None
    } else {
        Some(rows.div_ceil(tasks))
    }
}

/// Calls `f(first_row, chunk)` on row blocks of the row-major `a`
/// (`rows x cols`), in parallel when `par` and the size allow.
pub(crate) fn rows1<F>(par: Par, rows: usize, cols: usize, a: &mut [f32], f: F)
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    match rows_per_task(par, rows, cols, MIN_ELEMS_PER_TASK) {
        None => f(0, a),
        Some(rpt) => a
            .par_chunks_mut(rpt * cols)
            .enumerate()
            .for_each(|(i, c)| f(i * rpt, c)),
    }
}

/// [`rows1`] over two row-major buffers with the same shape.
pub(crate) fn rows2<F>(par: Par, rows: usize, cols: usize, a: &mut [f32], b: &mut [f32], f: F)
where
    F: Fn(usize, &mut [f32], &mut [f32]) + Sync,
{
    match rows_per_task(par, rows, cols, MIN_ELEMS_PER_TASK) {
        None => f(0, a, b),
        Some(rpt) => a
            .par_chunks_mut(rpt * cols)
            .zip(b.par_chunks_mut(rpt * cols))
            .enumerate()
            .for_each(|(i, (ca, cb))| f(i * rpt, ca, cb)),
    }
}

/// Calls `f(offset, chunk)` on chunks of the flat buffer `a` whose lengths
/// are multiples of 16, in parallel when `par` and the size allow.
pub(crate) fn flat1<F>(par: Par, a: &mut [f32], f: F)
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    let n = a.len();
    match rows_per_task(par, n.div_ceil(16), 16, MIN_ELEMS_PER_TASK) {
        None => f(0, a),
        Some(blocks) => a
            .par_chunks_mut(blocks * 16)
            .enumerate()
            .for_each(|(i, c)| f(i * blocks * 16, c)),
    }
}

/// Checks that a row-major buffer holds exactly `rows * cols` elements.
pub(crate) fn check_len(
    what: &'static str,
    len: usize,
    rows: usize,
    cols: usize,
) -> Result<(), crate::KernelError> {
    // `ok_or_else`: the message is only formatted (allocated) on error.
    let expected = rows
        .checked_mul(cols)
        .ok_or_else(|| crate::KernelError::InvalidValue {
            what,
            value: format!("{rows}x{cols}"),
            expected: "a shape whose element count fits in usize",
        })?;
    if len != expected {
        return Err(crate::KernelError::LengthMismatch {
            what,
            expected,
            found: len,
        });
    }
    Ok(())
}

/// Checks that a slice has exactly `expected` elements.
pub(crate) fn check_exact(
    what: &'static str,
    len: usize,
    expected: usize,
) -> Result<(), crate::KernelError> {
    if len != expected {
        return Err(crate::KernelError::LengthMismatch {
            what,
            expected,
            found: len,
        });
    }
    Ok(())
}
