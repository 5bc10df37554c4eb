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

mod adam;
mod fused;

pub use adam::{AdamRule, adam, adam_on};
pub use fused::{RankOneAdd, SgdUpdate, gemm_sgd_update, gemm_sgd_update_on, product_sgd_update};

use crate::Isa;
use crate::error::KernelError;
use crate::simd::{Checked, Kernel, LANES, Simd, dispatch};
use crate::split::check_exact;

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
