//! Free energy `F(v)` per sample (`MODELS.md` 2.1 and 2.2): `f32` through
//! one SGEMM for the batch, and an `f64` reference used by the exact
//! routines.
//!
//! - Bernoulli: `F(v) = -bᵀv - Σ_j softplus(c_j + (vᵀW)_j)`.
//! - Gaussian: `F(v) = Σ_i (v_i - b_i)²/(2σ_i²) - Σ_j softplus(c_j + Σ_i W_ij v_i/σ_i)`.
//! - Bernoulli visibles, linear hiddens: `F(v) = -bᵀv - Σ_j ½(c_j + (vᵀW)_j)²
//!   - (H/2) ln 2π` (the hiddens integrated as unit-variance Gaussians).

use super::{
    HiddenUnits, RbmParams, VisibleUnits, check_out, fill_rows, softplus_f32, softplus_f64,
};
use crate::error::Result;
use latent_kernels::{BiasAdd, MatMut, MatRef, Par, gemm};

/// The hidden pre-activations `A = X' W + 1 cᵀ` (`B x H`) of a batch, where
/// `X' = X` for Bernoulli visibles and `X'_i = X_i/σ_i` for Gaussian ones.
/// `params` must be validated and `data` whole rows.
pub(super) fn hidden_pre_activation(
    params: &RbmParams<'_>,
    data: &[f32],
    rows: usize,
    par: Par,
) -> Result<Vec<f32>> {
    let (v, h) = (params.n_visible(), params.n_hidden());
    let scaled;
    let x = match params.visible {
        VisibleUnits::Bernoulli => data,
        VisibleUnits::Gaussian { sigma } => {
            scaled = data
                .chunks_exact(v)
                .flat_map(|row| row.iter().zip(sigma).map(|(x, s)| x / s))
                .collect::<Vec<f32>>();
            &scaled[..]
        }
    };
    let mut pre = vec![0.0f32; rows * h];
    gemm(
        1.0,
        MatRef::row_major(x, rows, v)?,
        MatRef::row_major(params.w, v, h)?,
        latent_kernels::Accum::Replace,
        MatMut::row_major(&mut pre, rows, h)?,
        &BiasAdd::new(params.hidden_bias),
        par,
    )?;
    Ok(pre)
}

/// The visible part of `F(v)` for one sample: `-bᵀv` (Bernoulli) or
/// `Σ_i (v_i - b_i)²/(2σ_i²)` (Gaussian), in `f32`.
pub(super) fn visible_term_f32(params: &RbmParams<'_>, x: &[f32]) -> f32 {
    match params.visible {
        VisibleUnits::Bernoulli => -x
            .iter()
            .zip(params.visible_bias)
            .map(|(x, b)| x * b)
            .sum::<f32>(),
        VisibleUnits::Gaussian { sigma } => x
            .iter()
            .zip(params.visible_bias)
            .zip(sigma)
            .map(|((x, b), s)| {
                let d = (x - b) / s;
                0.5 * d * d
            })
            .sum::<f32>(),
    }
}

/// The hidden part of `-F(v)` for one sample from its pre-activations `a`,
/// in `f32`: `Σ_j softplus(a_j)` (Bernoulli) or `Σ_j ½a_j² + (H/2) ln 2π`
/// (linear).
fn hidden_term_f32(hidden: HiddenUnits, a: &[f32]) -> f32 {
    match hidden {
        HiddenUnits::Bernoulli => a.iter().map(|&a| softplus_f32(a)).sum::<f32>(),
        HiddenUnits::Linear => {
            let half_ln_2pi = 0.5 * (2.0 * std::f32::consts::PI).ln();
            a.iter().map(|&a| 0.5 * a * a + half_ln_2pi).sum::<f32>()
        }
    }
}

/// The hidden part of `-F(v)` for one sample from its pre-activations `a`,
/// in `f64` (see [`hidden_term_f32`]).
pub(super) fn hidden_term_f64(hidden: HiddenUnits, a: &[f64]) -> f64 {
    match hidden {
        HiddenUnits::Bernoulli => a.iter().map(|&a| softplus_f64(a)).sum(),
        HiddenUnits::Linear => {
            let half_ln_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
            a.iter().map(|&a| 0.5 * a * a + half_ln_2pi).sum()
        }
    }
}

/// `F(v)` of every row of `data` (`B x V`, row-major) into `out` (`B`), in
/// `f32`: one SGEMM for `vᵀW` over the batch, then the stable softplus.
///
/// Errors if the parameters' shapes disagree, `data` is not whole rows of
/// `V`, or `out.len() != B`.
pub fn free_energy(params: &RbmParams<'_>, data: &[f32], out: &mut [f32], par: Par) -> Result<()> {
    params.validate()?;
    let rows = params.rows_of("free_energy", data)?;
    check_out("free_energy", rows, out.len())?;
    if rows == 0 {
        return Ok(());
    }
    let (v, h) = (params.n_visible(), params.n_hidden());
    let pre = hidden_pre_activation(params, data, rows, par)?;
    fill_rows(out, par, |r| {
        let (x, a) = (&data[r * v..(r + 1) * v], &pre[r * h..(r + 1) * h]);
        visible_term_f32(params, x) - hidden_term_f32(params.hidden, a)
    });
    Ok(())
}

/// `F(v)` of one sample in `f64` (`x.len() == V`; `params` validated).
pub(super) fn free_energy_row_f64(params: &RbmParams<'_>, x: &[f32]) -> f64 {
    let h = params.n_hidden();
    let scale = |i: usize| match params.visible {
        VisibleUnits::Bernoulli => 1.0,
        VisibleUnits::Gaussian { sigma } => 1.0 / sigma[i] as f64,
    };
    let mut pre: Vec<f64> = params.hidden_bias.iter().map(|&c| c as f64).collect();
    for (i, &xi) in x.iter().enumerate() {
        let xs = xi as f64 * scale(i);
        if xs != 0.0 {
            for (a, &w) in pre.iter_mut().zip(&params.w[i * h..(i + 1) * h]) {
                *a += xs * w as f64;
            }
        }
    }
    let hidden = hidden_term_f64(params.hidden, &pre);
    let visible: f64 = match params.visible {
        VisibleUnits::Bernoulli => -x
            .iter()
            .zip(params.visible_bias)
            .map(|(&x, &b)| x as f64 * b as f64)
            .sum::<f64>(),
        VisibleUnits::Gaussian { sigma } => x
            .iter()
            .zip(params.visible_bias)
            .zip(sigma)
            .map(|((&x, &b), &s)| {
                let d = (x as f64 - b as f64) / s as f64;
                0.5 * d * d
            })
            .sum(),
    };
    visible - hidden
}

/// `F(v)` of every row of `data` (`B x V`) into `out` (`B`), computed in
/// `f64` from the `f32` parameters (the reference the exact routines use).
///
/// Errors as [`free_energy`] does.
pub fn free_energy_f64(
    params: &RbmParams<'_>,
    data: &[f32],
    out: &mut [f64],
    par: Par,
) -> Result<()> {
    params.validate()?;
    let rows = params.rows_of("free_energy_f64", data)?;
    check_out("free_energy_f64", rows, out.len())?;
    if rows == 0 {
        return Ok(());
    }
    let v = params.n_visible();
    fill_rows(out, par, |r| {
        free_energy_row_f64(params, &data[r * v..(r + 1) * v])
    });
    Ok(())
}
