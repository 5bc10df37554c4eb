//! Exact `ln Z` and exact average log-likelihood for small RBMs
//! (`MODELS.md` 2.4), in `f64` with log-sum-exp.
//!
//! The partition function is a sum over every configuration of one layer,
//! with the other layer marginalised in closed form:
//!
//! - over `h` (Bernoulli): `ln Z = ln Σ_h e^{cᵀh} Π_i (1 + e^{b_i + (W h)_i})`;
//! - over `v` (Bernoulli): `ln Z = ln Σ_v e^{bᵀv} Π_j (1 + e^{c_j + (vᵀW)_j})`;
//! - over `h` (Gaussian), integrating each `v_i` as a Gaussian:
//!   `ln Z = Σ_i ln(√(2π) σ_i) + ln Σ_h e^{cᵀh + Σ_i (b_i a_i/σ_i + a_i²/2)}`
//!   with `a = W h`;
//! - over `v` (Bernoulli) with linear hiddens, integrating each `h_j` as a
//!   unit-variance Gaussian:
//!   `ln Z = (H/2) ln 2π + ln Σ_v e^{bᵀv + Σ_j ½(c_j + (vᵀW)_j)²}`.
//!
//! The enumeration is [`super::enumeration`], shared with the DBM's.

use latent_kernels::Par;

use super::enumeration::Enumeration;
use super::free_energy::free_energy_row_f64;
use super::{HiddenUnits, RbmParams, VisibleUnits, fill_rows};
use crate::error::{ModelError, Result};

/// The most units the enumerated side may have (`2^25` configurations).
pub const MAX_EXACT_UNITS: usize = 25;

/// Which layer's configurations the exact sum runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExactSide {
    /// Sum over the `2^V` visible configurations (Bernoulli visibles only).
    Visible,
    /// Sum over the `2^H` hidden configurations.
    Hidden,
}

fn too_many_units(side: &str, units: usize) -> ModelError {
    ModelError::Unsupported {
        what: "exact log Z",
        why: format!(
            "the sum runs over the {side} layer's 2^{units} configurations; at most \
             {MAX_EXACT_UNITS} units on that side are supported (use AIS for larger models)"
        ),
    }
}

/// Exact `ln Z`, summing over the configurations of `side`.
///
/// Errors if the parameters are invalid, if `side` has more than
/// [`MAX_EXACT_UNITS`] units, or for [`ExactSide::Visible`] with Gaussian
/// visibles (which are integrated, not enumerated). `par` splits the fixed
/// blocks of configurations over rayon tasks; the result does not depend on
/// it.
pub fn exact_log_z_over(params: &RbmParams<'_>, side: ExactSide, par: Par) -> Result<f64> {
    params.validate()?;
    let (v, h) = (params.n_visible(), params.n_hidden());
    if params.hidden == HiddenUnits::Linear {
        return linear_hidden_log_z(params, side, par);
    }
    let (parity, sigma) = match (side, params.visible) {
        (ExactSide::Visible, VisibleUnits::Gaussian { .. }) => {
            return Err(ModelError::Unsupported {
                what: "exact log Z over the visible layer",
                why: "Gaussian visibles are continuous: sum over the hidden layer instead".into(),
            });
        }
        (ExactSide::Visible, VisibleUnits::Bernoulli) if v > MAX_EXACT_UNITS => {
            return Err(too_many_units("visible", v));
        }
        (ExactSide::Visible, VisibleUnits::Bernoulli) => (0, None),
        (ExactSide::Hidden, _) if h > MAX_EXACT_UNITS => {
            return Err(too_many_units("hidden", h));
        }
        (ExactSide::Hidden, VisibleUnits::Bernoulli) => (1, None),
        (ExactSide::Hidden, VisibleUnits::Gaussian { sigma }) => (1, Some(sigma)),
    };
    let f = |x: &[f32]| x.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let bias = [f(params.visible_bias), f(params.hidden_bias)];
    Ok(Enumeration::of_chain(&bias, &[params.w], parity, sigma).log_sum(par))
}

/// Exact `ln Z` of an RBM with linear hiddens (Bernoulli visibles): the sum
/// over the visible configurations, the hiddens integrated.
fn linear_hidden_log_z(params: &RbmParams<'_>, side: ExactSide, par: Par) -> Result<f64> {
    let v = params.n_visible();
    if side == ExactSide::Hidden {
        return Err(ModelError::Unsupported {
            what: "exact log Z over the hidden layer",
            why: "linear hiddens are continuous: sum over the visible layer instead".into(),
        });
    }
    if v > MAX_EXACT_UNITS {
        return Err(too_many_units("visible", v));
    }
    let f = |x: &[f32]| x.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let (b, c) = (f(params.visible_bias), f(params.hidden_bias));
    Ok(Enumeration::linear_hidden(b, c, params.w).log_sum(par))
}

/// Exact `ln Z`, summing over the smaller layer (the hidden one on a tie,
/// and always for Gaussian visibles; the visible one for linear hiddens).
///
/// Errors if the parameters are invalid or that layer has more than
/// [`MAX_EXACT_UNITS`] units. The result is bit-identical for any `par`.
pub fn exact_log_z(params: &RbmParams<'_>, par: Par) -> Result<f64> {
    let side = match params.visible {
        _ if params.hidden == HiddenUnits::Linear => ExactSide::Visible,
        VisibleUnits::Bernoulli if params.n_visible() < params.n_hidden() => ExactSide::Visible,
        _ => ExactSide::Hidden,
    };
    exact_log_z_over(params, side, par)
}

/// The average log-likelihood `-mean F(v) - ln Z` of the rows of `data`
/// (`B x V`) for a given `ln Z` (exact, or an AIS estimate), with `F` in
/// `f64`.
///
/// Errors if the parameters or `data` have the wrong shape, or `data` is
/// empty.
pub fn average_log_likelihood(
    params: &RbmParams<'_>,
    data: &[f32],
    log_z: f64,
    par: Par,
) -> Result<f64> {
    params.validate()?;
    let rows = params.rows_of("average_log_likelihood", data)?;
    if rows == 0 {
        return Err(ModelError::Shape {
            what: "average_log_likelihood: data rows (at least one)".into(),
            expected: 1,
            found: 0,
        });
    }
    let v = params.n_visible();
    let mut f = vec![0.0f64; rows];
    fill_rows(&mut f, par, |r| {
        free_energy_row_f64(params, &data[r * v..(r + 1) * v])
    });
    Ok(-f.iter().sum::<f64>() / rows as f64 - log_z)
}

/// The exact average log-likelihood `-mean F(v) - ln Z` of the rows of
/// `data`, with `ln Z` from [`exact_log_z`].
///
/// Errors as [`exact_log_z`] and [`average_log_likelihood`] do.
pub fn exact_average_log_likelihood(params: &RbmParams<'_>, data: &[f32], par: Par) -> Result<f64> {
    params.validate()?;
    if params.rows_of("exact_average_log_likelihood", data)? == 0 {
        // No rows: report that before paying for ln Z.
        return average_log_likelihood(params, data, 0.0, par);
    }
    let log_z = exact_log_z(params, par)?;
    average_log_likelihood(params, data, log_z, par)
}
