//! Shrinkage (soft thresholding) and the fused FISTA step of sparse coding
//! (MODELS.md 4.8).
//!
//! - [`shrink`]: `z = sign(u)·max(|u| − t, 0)` with one threshold for every
//!   element ([`Threshold::Scalar`]) or one per column of a row-major
//!   matrix ([`Threshold::PerUnit`], the learned shrinkage encoder).
//! - [`fista_step`]: one proximal-gradient step with momentum, in one pass
//!   over the codes: `z' = shrink(y − s·g, s·λ)`, `y ← z' + β(z' − z)`,
//!   `z ← z'`, returning `Σ (z' − z)²` and `Σ z'²` for a stopping test.
//!
//! The shrinkage is computed as `u − min(max(u, −t), t)`, which is
//! `u − t`, `u + t` or exactly `0` (the same values, rounded once, as the
//! formula above), and the step as a multiply then a subtraction (no fused
//! multiply-add), so every instruction set gives the same bits. Nothing
//! here allocates, and nothing splits work between threads: the sums are
//! the same whatever the pool.

use crate::simd::{Checked, Kernel, LANES, Simd, dispatch};
use crate::split::check_exact;
use crate::{Isa, KernelError};

/// Elements summed in lanes before the block sum goes to the `f64` totals.
const BLOCK: usize = 1024;

/// The threshold of a shrinkage: one for all, or one per column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold<'a> {
    /// The same `t ≥ 0` for every element.
    Scalar(f32),
    /// `t_j ≥ 0` for column `j` of a row-major matrix with `t.len()`
    /// columns.
    PerUnit(&'a [f32]),
}

impl Threshold<'_> {
    /// Checks every threshold is `≥ 0` (and not NaN), and that a
    /// per-unit one fits `len` elements (a whole number of rows).
    fn check(&self, what: &'static str, len: usize) -> Result<(), KernelError> {
        let bad = |v: f32| KernelError::InvalidValue {
            what,
            value: v.to_string(),
            expected: "a threshold >= 0",
        };
        let valid = |v: f32| v >= 0.0;
        match *self {
            Threshold::Scalar(t) if !valid(t) => Err(bad(t)),
            Threshold::Scalar(_) => Ok(()),
            Threshold::PerUnit(t) => {
                if let Some(&v) = t.iter().find(|v| !valid(**v)) {
                    return Err(bad(v));
                }
                let whole = if t.is_empty() {
                    len == 0
                } else {
                    len.is_multiple_of(t.len())
                };
                if whole {
                    Ok(())
                } else {
                    Err(KernelError::LengthMismatch {
                        what: "shrink: elements (a whole number of rows of per-unit thresholds)",
                        expected: len.div_ceil(t.len().max(1)) * t.len(),
                        found: len,
                    })
                }
            }
        }
    }
}

/// `sign(u)·max(|u| − t, 0)` on 16 lanes, as `u − clamp(u, −t, t)`.
#[inline(always)]
fn shrink_lanes<S: Simd>(s: S, u: S::F, t: S::F) -> S::F {
    let neg = s.sub(s.splat(0.0), t);
    s.sub(u, s.min(s.max(u, neg), t))
}

struct Shrink<'a> {
    t: Threshold<'a>,
    u: Option<&'a [f32]>,
    out: &'a mut [f32],
}

impl Kernel for Shrink<'_> {
    type Out = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let n = self.out.len();
        let cols = match self.t {
            Threshold::Scalar(_) => n.max(1),
            Threshold::PerUnit(t) => t.len().max(1),
        };
        let mut row = 0;
        while row < n {
            let mut j = 0;
            while j < cols {
                let k = (cols - j).min(LANES);
                let t = match self.t {
                    Threshold::Scalar(t) => s.splat(t),
                    Threshold::PerUnit(t) => s.load_part(&t[j..j + k], 0.0),
                };
                let r = row + j..row + j + k;
                let u = match self.u {
                    Some(u) => s.load_part(&u[r.clone()], 0.0),
                    None => s.load_part(&self.out[r.clone()], 0.0),
                };
                s.store_part(shrink_lanes(s, u, t), &mut self.out[r]);
                j += k;
            }
            row += cols;
        }
    }
}

/// `out = sign(u)·max(|u| − t, 0)` element by element; with
/// [`Threshold::PerUnit`] `u` is a row-major matrix with one column per
/// threshold. Errors if the lengths differ, a threshold is negative or
/// NaN, or `u` is not a whole number of rows.
pub fn shrink(t: Threshold<'_>, u: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    shrink_on(Isa::selected(), t, u, out)
}

/// [`shrink`] on a given instruction set.
pub fn shrink_on(
    isa: Isa,
    t: Threshold<'_>,
    u: &[f32],
    out: &mut [f32],
) -> Result<(), KernelError> {
    let isa = Checked::new(isa)?;
    check_exact("shrink: out (one per element of u)", out.len(), u.len())?;
    t.check("shrink: threshold", u.len())?;
    dispatch(isa, Shrink { t, u: Some(u), out });
    Ok(())
}

/// [`shrink`] in place: `z ← sign(z)·max(|z| − t, 0)`.
pub fn shrink_in_place(t: Threshold<'_>, z: &mut [f32]) -> Result<(), KernelError> {
    shrink_in_place_on(Isa::selected(), t, z)
}

/// [`shrink_in_place`] on a given instruction set.
pub fn shrink_in_place_on(isa: Isa, t: Threshold<'_>, z: &mut [f32]) -> Result<(), KernelError> {
    let isa = Checked::new(isa)?;
    t.check("shrink: threshold", z.len())?;
    dispatch(isa, Shrink { t, u: None, out: z });
    Ok(())
}

/// The scalars of one FISTA step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FistaStep {
    /// The gradient step `s = 1/L`.
    pub step: f32,
    /// The shrinkage threshold `s·λ` (`≥ 0`).
    pub threshold: f32,
    /// The momentum `β = (t_k − 1)/t_{k+1}` (0: an ISTA step).
    pub beta: f32,
}

/// What a [`fista_step`] changed: `Σ (z' − z)²` and `Σ z'²`, summed in
/// lanes over blocks of 1,024 elements and the blocks in `f64`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FistaChange {
    /// `Σ (z' − z)²` over every element.
    pub change_sq: f64,
    /// `Σ z'²` over every element.
    pub norm_sq: f64,
}

struct Fista<'a> {
    p: FistaStep,
    g: &'a [f32],
    y: &'a mut [f32],
    z: &'a mut [f32],
}

impl Kernel for Fista<'_> {
    type Out = FistaChange;
    #[inline(always)]
    fn run<S: Simd>(self, s: S) -> FistaChange {
        let n = self.z.len();
        let (step, t, beta) = (
            s.splat(self.p.step),
            s.splat(self.p.threshold),
            s.splat(self.p.beta),
        );
        let mut total = FistaChange::default();
        let mut b = 0;
        while b < n {
            let e = (b + BLOCK).min(n);
            let (mut dacc, mut nacc) = (s.splat(0.0), s.splat(0.0));
            let mut j = b;
            while j < e {
                let k = (e - j).min(LANES);
                let r = j..j + k;
                let y = s.load_part(&self.y[r.clone()], 0.0);
                let g = s.load_part(&self.g[r.clone()], 0.0);
                let z0 = s.load_part(&self.z[r.clone()], 0.0);
                let z1 = shrink_lanes(s, s.sub(y, s.mul(step, g)), t);
                let d = s.sub(z1, z0);
                s.store_part(s.add(z1, s.mul(beta, d)), &mut self.y[r.clone()]);
                s.store_part(z1, &mut self.z[r]);
                dacc = s.add(dacc, s.mul(d, d));
                nacc = s.add(nacc, s.mul(z1, z1));
                j += k;
            }
            total.change_sq += s.sum(dacc) as f64;
            total.norm_sq += s.sum(nacc) as f64;
            b = e;
        }
        total
    }
}

/// One FISTA step on codes `z` (the last iterate) and `y` (the point the
/// gradient `g` was taken at), all the same length:
/// `z' = sign(u)·max(|u| − s·λ, 0)` with `u = y − s·g`, then
/// `y ← z' + β(z' − z)` and `z ← z'`. Returns `Σ (z' − z)²` and `Σ z'²`.
/// Errors if the lengths differ or the threshold is negative or NaN.
pub fn fista_step(
    p: FistaStep,
    g: &[f32],
    y: &mut [f32],
    z: &mut [f32],
) -> Result<FistaChange, KernelError> {
    fista_step_on(Isa::selected(), p, g, y, z)
}

/// [`fista_step`] on a given instruction set.
pub fn fista_step_on(
    isa: Isa,
    p: FistaStep,
    g: &[f32],
    y: &mut [f32],
    z: &mut [f32],
) -> Result<FistaChange, KernelError> {
    let isa = Checked::new(isa)?;
    check_exact("fista_step: g (one per code)", g.len(), z.len())?;
    check_exact("fista_step: y (one per code)", y.len(), z.len())?;
    Threshold::Scalar(p.threshold).check("fista_step: threshold", z.len())?;
    Ok(dispatch(isa, Fista { p, g, y, z }))
}
