//! The updates fused into a GEMM's write-out: a rank-one term added to the
//! product ([`RankOneAdd`]) and SGD with momentum on each finished tile
//! ([`gemm_sgd_update`]).

use super::{RankOne, SgdMomentum, SgdRow, any_nonzero};
use crate::dispatch::Dispatch;
use crate::error::KernelError;
use crate::gemm::{Accum, Epilogue, MatMut, MatRef, Operand, TileRows};
use crate::simd::{Checked, Kernel, LANES, Simd, dispatch, prefetch_l2};
use crate::split::check_exact;
use crate::{Isa, Par};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

/// A GEMM epilogue that adds a rank-one term, `C[i][j] += rows[i]·cols[j]`
/// (the unfused counterpart of [`gemm_sgd_update`]'s rank-one term, with
/// the same arithmetic).
#[derive(Debug, Clone, Copy)]
pub struct RankOneAdd<'a> {
    term: RankOne<'a>,
    isa: Checked,
}

impl<'a> RankOneAdd<'a> {
    /// The epilogue adding `term`.
    pub fn new(term: RankOne<'a>) -> Self {
        RankOneAdd {
            term,
            isa: Checked::selected(),
        }
    }

    /// [`RankOneAdd::new`] on a given instruction set; errors if this CPU
    /// lacks it.
    pub fn on(isa: Isa, term: RankOne<'a>) -> Result<Self, KernelError> {
        Ok(RankOneAdd {
            term,
            isa: Checked::new(isa)?,
        })
    }
}

/// `values[j] += r · cols[j]`.
struct AddScaled<'a> {
    r: f32,
    cols: &'a [f32],
    values: &'a mut [f32],
}

impl Kernel for AddScaled<'_> {
    type Out = ();

    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let r = s.splat(self.r);
        for (v, c) in self.values.chunks_mut(LANES).zip(self.cols.chunks(LANES)) {
            let x = s.add(s.load_part(v, 0.0), s.mul(r, s.load_part(c, 0.0)));
            s.store_part(x, v);
        }
    }
}

impl Epilogue for RankOneAdd<'_> {
    fn check(&self, rows: usize, cols: usize) -> Result<(), KernelError> {
        self.term.check(rows, cols)
    }

    #[inline]
    fn apply_row(&self, row: usize, col0: usize, values: &mut [f32]) {
        let cols = &self.term.cols[col0..col0 + values.len()];
        dispatch(
            self.isa,
            AddScaled {
                r: self.term.rows[row],
                cols,
                values,
            },
        )
    }
}

/// The fused update of [`gemm_sgd_update`]: the old parameters, the
/// velocity it updates, and the rule.
#[derive(Debug)]
pub struct SgdUpdate<'a> {
    /// The rule.
    pub rule: SgdMomentum,
    /// The parameters before the step, `rows x cols` row-major.
    pub old: &'a [f32],
    /// The velocity, `rows x cols` row-major, updated in place.
    pub velocity: &'a mut [f32],
    /// A rank-one term added to the gradient first, if any.
    pub rank_one: Option<RankOne<'a>>,
}

/// The velocity as a raw pointer, so that threads can update disjoint
/// segments of it from the epilogue's shared reference.
struct VelocityPtr(*mut f32);

// SAFETY: the pointer comes from the `&mut [f32]` an `SgdUpdate` holds for
// the epilogue's whole life, so nothing else reaches the velocity; the
// epilogue is used for exactly one `gemm` call, which passes every element
// of C to `apply_row` exactly once, in disjoint row segments, so no element
// of the velocity is touched by two threads.
unsafe impl Send for VelocityPtr {}
// SAFETY: as above.
unsafe impl Sync for VelocityPtr {}

/// The epilogue behind [`gemm_sgd_update`]; made and used once per call.
struct SgdEpilogue<'a> {
    rule: SgdMomentum,
    old: &'a [f32],
    velocity: VelocityPtr,
    rank_one: Option<RankOne<'a>>,
    cols: usize,
    non_finite: AtomicBool,
    isa: Checked,
    _velocity: PhantomData<&'a mut [f32]>,
}

impl Epilogue for SgdEpilogue<'_> {
    #[inline]
    fn apply_row(&self, row: usize, col0: usize, values: &mut [f32]) {
        let bad = dispatch(
            self.isa,
            SgdTile {
                epi: self,
                row0: row,
                col0,
                rows: Rows::One(values),
            },
        );
        if bad {
            self.non_finite.store(true, Ordering::Relaxed);
        }
    }

    /// The old parameters and the velocity of the region, which the
    /// write-out reads for every element.
    #[inline]
    fn prefetch(&self, row0: usize, col0: usize, rows: usize, cols: usize) {
        for row in row0..row0 + rows {
            let start = row * self.cols + col0;
            prefetch_l2(self.old.as_ptr().wrapping_add(start), cols);
            prefetch_l2(self.velocity.0.wrapping_add(start), cols);
        }
    }

    #[inline]
    fn apply_tile(&self, row0: usize, col0: usize, tile: &mut TileRows<'_>) {
        let bad = dispatch(
            self.isa,
            SgdTile {
                epi: self,
                row0,
                col0,
                rows: Rows::Tile(tile),
            },
        );
        if bad {
            self.non_finite.store(true, Ordering::Relaxed);
        }
    }
}

/// The rows an [`SgdTile`] updates: one row segment, or a whole tile.
enum Rows<'t, 'a> {
    One(&'t mut [f32]),
    Tile(&'t mut TileRows<'a>),
}

/// The epilogue's update of one row segment or one tile, under a single
/// instruction-set dispatch.
struct SgdTile<'e, 't, 'a> {
    epi: &'e SgdEpilogue<'e>,
    row0: usize,
    col0: usize,
    rows: Rows<'t, 'a>,
}

/// The epilogue's update of row `row` from column `col0` on, `values`
/// holding the gradient on the way in and the new parameters on the way
/// out.
#[inline(always)]
fn sgd_epilogue_row<S: Simd>(
    s: S,
    epi: &SgdEpilogue<'_>,
    row: usize,
    col0: usize,
    values: &mut [f32],
    non_finite: &mut S::F,
) {
    let len = values.len();
    let start = row * epi.cols + col0;
    // SAFETY: `gemm_sgd_update` checked that the velocity holds
    // rows x cols elements and C is rows x cols, so this segment of row
    // `row` is inside it; see `VelocityPtr` for why no other reference
    // to these elements exists while this one does.
    let velocity = unsafe { std::slice::from_raw_parts_mut(epi.velocity.0.add(start), len) };
    SgdRow {
        rule: epi.rule,
        old: Some(&epi.old[start..start + len]),
        grad: None,
        rank_one: epi
            .rank_one
            .map(|t| (t.rows[row], &t.cols[col0..col0 + len])),
        velocity,
        out: values,
    }
    .update(s, non_finite)
}

impl Kernel for SgdTile<'_, '_, '_> {
    /// Whether a new parameter is NaN or infinite.
    type Out = bool;

    #[inline(always)]
    fn run<S: Simd>(self, s: S) -> bool {
        let SgdTile {
            epi,
            row0,
            col0,
            rows,
        } = self;
        let mut non_finite = s.splat(0.0);
        match rows {
            Rows::One(values) => sgd_epilogue_row(s, epi, row0, col0, values, &mut non_finite),
            Rows::Tile(tile) => {
                for i in 0..tile.rows() {
                    sgd_epilogue_row(s, epi, row0 + i, col0, tile.row(i), &mut non_finite);
                }
            }
        }
        any_nonzero(s, non_finite)
    }
}

/// A weight gradient and its SGD-with-momentum step in one product:
/// with `G = α·op(A)·op(B)` (plus `update.rank_one`),
/// `v ← μ·v − lr·(G + λ·W₀)` into `update.velocity` and `W₀ + v` into
/// `out`, tile by tile as the product finishes, with the same arithmetic
/// as [`sgd_momentum`] on a stored `G`. `out` must not be `update.old`
/// (the borrow rules see to that); it may be any strided view.
///
/// Returns whether any new parameter is NaN or infinite (the parameters
/// are written either way, so a caller keeps `W₀` to fall back on).
pub fn gemm_sgd_update(
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    update: SgdUpdate<'_>,
    out: MatMut<'_>,
    par: Par,
) -> Result<bool, KernelError> {
    gemm_sgd_update_on(Isa::selected(), alpha, a, b, update, out, par)
}

/// [`gemm_sgd_update`] on a given instruction set (the product and the
/// update both); errors if this CPU lacks it.
pub fn gemm_sgd_update_on(
    isa: Isa,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    update: SgdUpdate<'_>,
    out: MatMut<'_>,
    par: Par,
) -> Result<bool, KernelError> {
    let dispatch = Dispatch::global().with_isa(isa)?;
    product_sgd_update_under(&dispatch, alpha, a, Operand::F32(b), update, out, par)
}

/// [`gemm_sgd_update`] with the right operand in any precision
/// ([`Operand`]): the fused SGD step of a bf16 weight gradient. The
/// update's arithmetic is f32 either way.
pub fn product_sgd_update(
    alpha: f32,
    a: MatRef<'_>,
    b: Operand<'_>,
    update: SgdUpdate<'_>,
    out: MatMut<'_>,
    par: Par,
) -> Result<bool, KernelError> {
    product_sgd_update_under(Dispatch::global(), alpha, a, b, update, out, par)
}

/// [`product_sgd_update`] under a given context.
fn product_sgd_update_under(
    dispatch: &Dispatch,
    alpha: f32,
    a: MatRef<'_>,
    b: Operand<'_>,
    update: SgdUpdate<'_>,
    out: MatMut<'_>,
    par: Par,
) -> Result<bool, KernelError> {
    let checked = Checked::new(dispatch.isa())?;
    let (rows, cols) = (out.rows(), out.cols());
    let n = rows * cols;
    check_exact(
        "gemm_sgd_update: old parameters (rows x cols of C)",
        update.old.len(),
        n,
    )?;
    check_exact(
        "gemm_sgd_update: velocity (rows x cols of C)",
        update.velocity.len(),
        n,
    )?;
    if let Some(t) = &update.rank_one {
        t.check(rows, cols)?;
    }
    let epi = SgdEpilogue {
        rule: update.rule,
        old: update.old,
        velocity: VelocityPtr(update.velocity.as_mut_ptr()),
        rank_one: update.rank_one,
        cols,
        non_finite: AtomicBool::new(false),
        isa: checked,
        _velocity: PhantomData,
    };
    dispatch.product(alpha, a, b, Accum::Replace, out, &epi, par)?;
    Ok(epi.non_finite.into_inner())
}
