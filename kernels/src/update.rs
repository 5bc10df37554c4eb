//! Optimiser updates as kernels: Adam ([`adam`]), and SGD with momentum and
//! L2 decay ([`SgdMomentum`]) over slices and fused into the write-out of a weight
//! gradient product ([`gemm_sgd_update`]), so that the gradient of a large
//! weight matrix never goes to memory and the update costs no pass of its
//! own.
//!
//! Both forms do the same `f32` operations in the same order (a multiply,
//! then an add: no fused multiply-add), on every instruction set, so a
//! fused update gives bit for bit the parameters that the separate pass
//! gives from the stored gradient.

use crate::error::KernelError;
use crate::gemm::{Accum, Epilogue, MatMut, MatRef, TileRows, gemm_on};
use crate::simd::{Checked, Kernel, LANES, Simd, dispatch, prefetch_l2};
use crate::split::check_exact;
use crate::{Isa, Par};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

/// SGD with momentum and L2 weight decay:
/// `v ← μ·v − lr·(g + λ·w)`, then `w ← w + v`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdMomentum {
    /// `μ`, the momentum (0 for plain SGD).
    pub momentum: f32,
    /// `lr`, the learning rate.
    pub lr: f32,
    /// `λ`, the L2 weight decay (added to the gradient).
    pub decay: f32,
}

/// A rank-one term `g[i][j] += rows[i] · cols[j]` added to a gradient
/// before the update (for example a sparsity penalty's weight gradient).
#[derive(Debug, Clone, Copy)]
pub struct RankOne<'a> {
    /// One factor per row of the gradient.
    pub rows: &'a [f32],
    /// One factor per column of the gradient.
    pub cols: &'a [f32],
}

impl RankOne<'_> {
    fn check(&self, rows: usize, cols: usize) -> Result<(), KernelError> {
        check_exact(
            "rank-one term: row factors (one per row)",
            self.rows.len(),
            rows,
        )?;
        check_exact(
            "rank-one term: column factors (one per column)",
            self.cols.len(),
            cols,
        )
    }
}

/// Where the old parameters and the gradient of one row segment come from.
/// `None` means "from `out`": the parameters for an in-place update, the
/// gradient for the GEMM epilogue (where `out` holds the finished product).
struct SgdRow<'a> {
    rule: SgdMomentum,
    old: Option<&'a [f32]>,
    grad: Option<&'a [f32]>,
    /// `rows[i]` and `cols[col0..]` of a rank-one term, for this segment.
    rank_one: Option<(f32, &'a [f32])>,
    velocity: &'a mut [f32],
    out: &'a mut [f32],
}

impl Kernel for SgdRow<'_> {
    /// Whether a new parameter is NaN or infinite.
    type Out = bool;

    #[inline(always)]
    fn run<S: Simd>(self, s: S) -> bool {
        let mut non_finite = s.splat(0.0);
        self.update(s, &mut non_finite);
        any_nonzero(s, non_finite)
    }
}

/// Whether any lane of `v` is not zero (NaN included).
#[inline(always)]
fn any_nonzero<S: Simd>(s: S, v: S::F) -> bool {
    let mut lanes = [0.0f32; LANES];
    s.store(v, &mut lanes);
    lanes.iter().any(|&x| x != 0.0)
}

impl SgdRow<'_> {
    /// The update, adding `w − w` for every new value `w` to `non_finite`
    /// (which stays exactly 0 while every new value is finite).
    #[inline(always)]
    fn update<S: Simd>(self, s: S, non_finite: &mut S::F) {
        let SgdRow {
            rule,
            old,
            grad,
            rank_one,
            velocity,
            out,
        } = self;
        let (mu, lr, lam) = (
            s.splat(rule.momentum),
            s.splat(rule.lr),
            s.splat(rule.decay),
        );
        // `sgd_step` is a function, not a closure, so that it is compiled
        // inside the `#[target_feature]` shell.
        let consts = (mu, lr, lam);
        let n = out.len();
        let full = n - n % LANES;
        // Whole vectors, with the sources chosen outside the loop.
        {
            let outs = out[..full].as_chunks_mut::<LANES>().0;
            let vels = velocity[..full].as_chunks_mut::<LANES>().0;
            match (old, grad, rank_one) {
                (Some(old), Some(grad), _) => {
                    let olds = old[..full].as_chunks::<LANES>().0;
                    let grads = grad[..full].as_chunks::<LANES>().0;
                    for (((o, v), w0), g) in outs.iter_mut().zip(vels).zip(olds).zip(grads) {
                        let (nv, nw) =
                            sgd_step(s, consts, s.load(w0), s.load(g), s.load(v), non_finite);
                        s.store(nv, v);
                        s.store(nw, o);
                    }
                }
                (None, Some(grad), _) => {
                    let grads = grad[..full].as_chunks::<LANES>().0;
                    for ((o, v), g) in outs.iter_mut().zip(vels).zip(grads) {
                        let (nv, nw) =
                            sgd_step(s, consts, s.load(o), s.load(g), s.load(v), non_finite);
                        s.store(nv, v);
                        s.store(nw, o);
                    }
                }
                (Some(old), None, None) => {
                    let olds = old[..full].as_chunks::<LANES>().0;
                    for ((o, v), w0) in outs.iter_mut().zip(vels).zip(olds) {
                        let (nv, nw) =
                            sgd_step(s, consts, s.load(w0), s.load(o), s.load(v), non_finite);
                        s.store(nv, v);
                        s.store(nw, o);
                    }
                }
                (Some(old), None, Some((r, cols))) => {
                    let olds = old[..full].as_chunks::<LANES>().0;
                    let colv = cols[..full].as_chunks::<LANES>().0;
                    let r = s.splat(r);
                    for (((o, v), w0), c) in outs.iter_mut().zip(vels).zip(olds).zip(colv) {
                        let g = s.add(s.load(o), s.mul(r, s.load(c)));
                        let (nv, nw) = sgd_step(s, consts, s.load(w0), g, s.load(v), non_finite);
                        s.store(nv, v);
                        s.store(nw, o);
                    }
                }
                // Neither source given: `out` is both; not constructed.
                (None, None, _) => {}
            }
        }
        if full < n {
            let w0 = s.load_part(&old.unwrap_or(&*out)[full..], 0.0);
            let mut g = s.load_part(&grad.unwrap_or(&*out)[full..], 0.0);
            if let Some((r, cols)) = rank_one {
                g = s.add(g, s.mul(s.splat(r), s.load_part(&cols[full..], 0.0)));
            }
            let v0 = s.load_part(&velocity[full..], 0.0);
            let (nv, nw) = sgd_step(s, consts, w0, g, v0, non_finite);
            s.store_part(nv, &mut velocity[full..]);
            s.store_part(nw, &mut out[full..]);
        }
    }
}

/// One 16-lane SGD step: `v = μ·v0 − lr·(g + λ·w0)`, `w = w0 + v`
/// (multiplies then adds, as the scalar rule); adds `w − w` to
/// `non_finite`.
#[inline(always)]
fn sgd_step<S: Simd>(
    s: S,
    (mu, lr, lam): (S::F, S::F, S::F),
    w0: S::F,
    g: S::F,
    v0: S::F,
    non_finite: &mut S::F,
) -> (S::F, S::F) {
    let v = s.sub(s.mul(mu, v0), s.mul(lr, s.add(g, s.mul(lam, w0))));
    let w = s.add(w0, v);
    *non_finite = s.add(*non_finite, s.sub(w, w));
    (v, w)
}

/// One SGD-with-momentum step over a whole parameter tensor: reads the
/// parameters from `old` (or from `params` itself when `old` is `None`) and
/// the gradient `grad`, updates `velocity` and writes the new parameters to
/// `params`. Returns whether any new parameter is NaN or infinite.
pub fn sgd_momentum(
    rule: SgdMomentum,
    old: Option<&[f32]>,
    grad: &[f32],
    velocity: &mut [f32],
    params: &mut [f32],
) -> Result<bool, KernelError> {
    sgd_momentum_on(Isa::selected(), rule, old, grad, velocity, params)
}

/// [`sgd_momentum`] on a given instruction set (for tests against the
/// portable path).
pub fn sgd_momentum_on(
    isa: Isa,
    rule: SgdMomentum,
    old: Option<&[f32]>,
    grad: &[f32],
    velocity: &mut [f32],
    params: &mut [f32],
) -> Result<bool, KernelError> {
    let isa = Checked::new(isa)?;
    let n = params.len();
    check_exact("sgd_momentum: gradient (one per parameter)", grad.len(), n)?;
    check_exact(
        "sgd_momentum: velocity (one per parameter)",
        velocity.len(),
        n,
    )?;
    if let Some(old) = old {
        check_exact(
            "sgd_momentum: old parameters (one per parameter)",
            old.len(),
            n,
        )?;
    }
    Ok(dispatch(
        isa,
        SgdRow {
            rule,
            old,
            grad: Some(grad),
            rank_one: None,
            velocity,
            out: params,
        },
    ))
}

/// Adam (Kingma & Ba 2015) with L2 weight decay added to the gradient and
/// bias-corrected moments: with `g ← g + λ·w`,
/// `m ← β₁·m + (1−β₁)·g`, `s ← β₂·s + (1−β₂)·g·g` and
/// `w ← w − lr·(m/c₁) / (√(s/c₂) + ε)`, where `c₁ = 1 − β₁ᵗ` and
/// `c₂ = 1 − β₂ᵗ` at step `t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamRule {
    /// `β₁`, the decay of the first moment.
    pub beta1: f32,
    /// `β₂`, the decay of the second moment.
    pub beta2: f32,
    /// `ε`, added to the root of the second moment.
    pub eps: f32,
    /// `lr`, the learning rate.
    pub lr: f32,
    /// `λ`, the L2 weight decay.
    pub decay: f32,
    /// `c₁ = 1 − β₁ᵗ`.
    pub c1: f32,
    /// `c₂ = 1 − β₂ᵗ`.
    pub c2: f32,
}

/// One Adam step over slices (see [`adam`]).
struct AdamRun<'a> {
    rule: AdamRule,
    old: Option<&'a [f32]>,
    grad: &'a [f32],
    m: &'a mut [f32],
    s: &'a mut [f32],
    out: &'a mut [f32],
}

impl Kernel for AdamRun<'_> {
    /// Whether a new parameter is NaN or infinite.
    type Out = bool;

    #[inline(always)]
    fn run<S: Simd>(self, s: S) -> bool {
        let AdamRun {
            rule,
            old,
            grad,
            m,
            s: sq,
            out,
        } = self;
        let r = rule;
        let (b1, b2, omb1, omb2) = (
            s.splat(r.beta1),
            s.splat(r.beta2),
            s.splat(1.0 - r.beta1),
            s.splat(1.0 - r.beta2),
        );
        let (eps, lr, lam, c1, c2) = (
            s.splat(r.eps),
            s.splat(r.lr),
            s.splat(r.decay),
            s.splat(r.c1),
            s.splat(r.c2),
        );
        let mut non_finite = s.splat(0.0);
        let k = AdamConsts {
            b1,
            b2,
            omb1,
            omb2,
            eps,
            lr,
            lam,
            c1,
            c2,
        };
        // `adam_step` is a function, not a closure: a closure is compiled
        // outside the instruction set's `#[target_feature]` shell, and its
        // vector operations would become calls.
        let n = out.len();
        let full = n - n % LANES;
        {
            let outs = out[..full].as_chunks_mut::<LANES>().0;
            let ms = m[..full].as_chunks_mut::<LANES>().0;
            let sqs = sq[..full].as_chunks_mut::<LANES>().0;
            let grads = grad[..full].as_chunks::<LANES>().0;
            let chunks = outs.iter_mut().zip(ms).zip(sqs).zip(grads);
            match old {
                Some(old) => {
                    let olds = old[..full].as_chunks::<LANES>().0;
                    for ((((o, mc), sc), g), w0) in chunks.zip(olds) {
                        let (m1, s1, w) = adam_step(
                            s,
                            &k,
                            s.load(w0),
                            s.load(g),
                            s.load(mc),
                            s.load(sc),
                            &mut non_finite,
                        );
                        s.store(m1, mc);
                        s.store(s1, sc);
                        s.store(w, o);
                    }
                }
                None => {
                    for (((o, mc), sc), g) in chunks {
                        let (m1, s1, w) = adam_step(
                            s,
                            &k,
                            s.load(o),
                            s.load(g),
                            s.load(mc),
                            s.load(sc),
                            &mut non_finite,
                        );
                        s.store(m1, mc);
                        s.store(s1, sc);
                        s.store(w, o);
                    }
                }
            }
        }
        if full < n {
            let w0 = s.load_part(&old.unwrap_or(&*out)[full..], 0.0);
            let (m1, s1, w) = adam_step(
                s,
                &k,
                w0,
                s.load_part(&grad[full..], 0.0),
                s.load_part(&m[full..], 0.0),
                s.load_part(&sq[full..], 0.0),
                &mut non_finite,
            );
            s.store_part(m1, &mut m[full..]);
            s.store_part(s1, &mut sq[full..]);
            s.store_part(w, &mut out[full..]);
        }
        any_nonzero(s, non_finite)
    }
}

/// Adam's constants as vectors.
struct AdamConsts<F> {
    b1: F,
    b2: F,
    omb1: F,
    omb2: F,
    eps: F,
    lr: F,
    lam: F,
    c1: F,
    c2: F,
}

/// One 16-lane Adam step: the new moments and parameters, in the scalar
/// rule's operations and order (no fused multiply-add); adds `w − w` to
/// `non_finite`.
#[inline(always)]
fn adam_step<S: Simd>(
    s: S,
    k: &AdamConsts<S::F>,
    w0: S::F,
    g: S::F,
    m0: S::F,
    s0: S::F,
    non_finite: &mut S::F,
) -> (S::F, S::F, S::F) {
    let g = s.add(g, s.mul(k.lam, w0));
    let m1 = s.add(s.mul(k.b1, m0), s.mul(k.omb1, g));
    let s1 = s.add(s.mul(k.b2, s0), s.mul(s.mul(k.omb2, g), g));
    let den = s.add(s.sqrt(s.div(s1, k.c2)), k.eps);
    let w = s.sub(w0, s.div(s.mul(k.lr, s.div(m1, k.c1)), den));
    *non_finite = s.add(*non_finite, s.sub(w, w));
    (m1, s1, w)
}

/// One Adam step over a whole parameter tensor: reads the parameters from
/// `old` (or from `params` itself when `old` is `None`) and the gradient,
/// updates the moments `m` and `s`, writes the new parameters to `params`.
/// Returns whether any new parameter is NaN or infinite. Bit for bit the
/// scalar rule (the same operations in the same order) on every
/// instruction set.
pub fn adam(
    rule: AdamRule,
    old: Option<&[f32]>,
    grad: &[f32],
    m: &mut [f32],
    s: &mut [f32],
    params: &mut [f32],
) -> Result<bool, KernelError> {
    adam_on(Isa::selected(), rule, old, grad, m, s, params)
}

/// [`adam`] on a given instruction set.
pub fn adam_on(
    isa: Isa,
    rule: AdamRule,
    old: Option<&[f32]>,
    grad: &[f32],
    m: &mut [f32],
    s: &mut [f32],
    params: &mut [f32],
) -> Result<bool, KernelError> {
    let isa = Checked::new(isa)?;
    let n = params.len();
    check_exact("adam: gradient (one per parameter)", grad.len(), n)?;
    check_exact("adam: first moment (one per parameter)", m.len(), n)?;
    check_exact("adam: second moment (one per parameter)", s.len(), n)?;
    if let Some(old) = old {
        check_exact("adam: old parameters (one per parameter)", old.len(), n)?;
    }
    Ok(dispatch(
        isa,
        AdamRun {
            rule,
            old,
            grad,
            m,
            s,
            out: params,
        },
    ))
}

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
    let checked = Checked::new(isa)?;
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
    gemm_on(isa, alpha, a, b, Accum::Replace, out, &epi, par)?;
    Ok(epi.non_finite.into_inner())
}
