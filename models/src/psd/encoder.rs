//! The fast encoder `F(x)` of PSD and the gradient of the prediction term
//! `α‖z − F(x)‖²` with respect to its parameters (MODELS.md 4.8).
//!
//! With `A = XW + 1bᵀ` (`B x K`, `W: V x K`):
//!
//! - tanh: `F = g ⊙ T`, `T = tanh(A)`; with `Δ = ∂E/∂F`,
//!   `∂g_j = Σ_i Δ_ij T_ij`, `∂A = Δ ⊙ g ⊙ (1 − T²)`;
//! - shrink: `F = sign(A)·max(|A| − θ, 0)`, `M = [|A| > θ]`,
//!   `∂θ_j = −Σ_i Δ_ij sign(A_ij) M_ij`, `∂A = Δ ⊙ M`;
//!
//! then `∂W = Xᵀ ∂A`, `∂b = 1ᵀ ∂A`. For the batch mean of
//! `α‖z − F(x)‖²` with the codes `z` fixed, `Δ = 2α(F − Z)/B`.

use latent_kernels::activation::{Activation, BiasActivation};
use latent_kernels::gemm::{MatMut, MatRef};
use latent_kernels::shrink::{Threshold, shrink};
use latent_kernels::{Accum, NoEpilogue, Par, Precision, product};

use super::EncoderKind;
use crate::error::Result;

/// The encoder's parameters: `W` (`V x K`), `b` and the per-unit `g` (the
/// gains) or `θ` (the thresholds), `1 x K`.
#[derive(Debug, Clone, Copy)]
pub struct EncoderParams<'a> {
    /// Which encoder.
    pub kind: EncoderKind,
    /// `W`, row-major `V x K`.
    pub w: &'a [f32],
    /// `b`.
    pub b: &'a [f32],
    /// `g` (tanh) or `θ` (shrink).
    pub unit: &'a [f32],
}

/// `F(X)` into `f` (`B x K`); `act` (`B x K`) receives `T = tanh(A)`
/// (tanh) or `A` (shrink), which [`backward`] needs. Thresholds must be
/// `≥ 0` (the model keeps them so).
pub fn forward(
    e: &EncoderParams<'_>,
    x: MatRef<'_>,
    precision: Precision,
    act: &mut [f32],
    f: &mut [f32],
    par: Par,
) -> Result<()> {
    let (rows, v, k) = (x.rows(), x.cols(), e.b.len());
    let w = MatRef::row_major(e.w, v, k)?;
    let a = MatMut::row_major(&mut act[..rows * k], rows, k)?;
    match e.kind {
        EncoderKind::Tanh => {
            let ep = BiasActivation::new(e.b, Activation::Tanh);
            product(1.0, x, precision.operand(w), Accum::Replace, a, &ep, par)?;
            for (fr, tr) in f[..rows * k].chunks_exact_mut(k).zip(act.chunks_exact(k)) {
                for ((fv, &tv), &gv) in fr.iter_mut().zip(tr).zip(e.unit) {
                    *fv = gv * tv;
                }
            }
        }
        EncoderKind::Shrink => {
            let ep = BiasActivation::new(e.b, Activation::Identity);
            product(1.0, x, precision.operand(w), Accum::Replace, a, &ep, par)?;
            shrink(
                Threshold::PerUnit(e.unit),
                &act[..rows * k],
                &mut f[..rows * k],
            )?;
        }
    }
    Ok(())
}

/// The encoder's gradients from `delta = ∂E/∂F` (`B x K`, overwritten by
/// `∂A`): `∂W` (`V x K`, replaced), `∂b` and `∂g`/`∂θ` (replaced).
#[allow(clippy::too_many_arguments)]
pub fn backward(
    e: &EncoderParams<'_>,
    x: MatRef<'_>,
    act: &[f32],
    delta: &mut [f32],
    precision: Precision,
    grads: (&mut [f32], &mut [f32], &mut [f32]),
    par: Par,
) -> Result<()> {
    let (rows, v, k) = (x.rows(), x.cols(), e.b.len());
    let (gw, gb, gu) = grads;
    gu.fill(0.0);
    for (dr, ar) in delta[..rows * k]
        .chunks_exact_mut(k)
        .zip(act.chunks_exact(k))
    {
        for j in 0..k {
            let (d, a) = (dr[j], ar[j]);
            match e.kind {
                EncoderKind::Tanh => {
                    gu[j] += d * a;
                    dr[j] = d * e.unit[j] * (1.0 - a * a);
                }
                EncoderKind::Shrink => {
                    let on = a.abs() > e.unit[j];
                    if on {
                        gu[j] -= d * a.signum();
                    } else {
                        dr[j] = 0.0;
                    }
                }
            }
        }
    }
    gb.fill(0.0);
    for dr in delta[..rows * k].chunks_exact(k) {
        for (g, &d) in gb.iter_mut().zip(dr) {
            *g += d;
        }
    }
    product(
        1.0,
        x.t(),
        precision.operand(MatRef::row_major(&delta[..rows * k], rows, k)?),
        Accum::Replace,
        MatMut::row_major(gw, v, k)?,
        &NoEpilogue,
        par,
    )?;
    Ok(())
}
