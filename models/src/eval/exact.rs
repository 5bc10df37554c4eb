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
//!   with `a = W h`.
//!
//! Configurations are enumerated in fixed blocks of `2^12` (the high bits
//! name the block, the low bits run in Gray-code order so each step adds or
//! removes one weight vector); each block is reduced on its own and the
//! block results are combined in block order, so the result is bit-identical
//! for any thread count.

use latent_kernels::Par;

use super::free_energy::free_energy_row_f64;
use super::{RbmParams, VisibleUnits, fill_rows, fill_rows_min, log_sum_exp, sum_softplus_f64};
use crate::error::{ModelError, Result};

/// The most units the enumerated side may have (`2^25` configurations).
pub const MAX_EXACT_UNITS: usize = 25;

/// Low bits enumerated inside one block.
const BLOCK_BITS: usize = 12;

/// Which layer's configurations the exact sum runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExactSide {
    /// Sum over the `2^V` visible configurations (Bernoulli visibles only).
    Visible,
    /// Sum over the `2^H` hidden configurations.
    Hidden,
}

/// What the marginalised layer contributes, as a function of its total
/// input `a_l`.
enum OtherTerm {
    /// `softplus(a_l)`: a layer of Bernoulli units.
    Softplus,
    /// `coef_l a_l + a_l²/2`: Gaussian visibles integrated out, with
    /// `coef_l = b_l/σ_l` and `a = W h`.
    Gaussian { coef: Vec<f64> },
}

/// `ln Σ_u exp(unit_biasᵀu + Σ_l g(a_l))`, `a = other_init + Σ_k u_k w_k`,
/// over `u ∈ {0,1}^n`.
struct Enumeration {
    n: usize,
    m: usize,
    unit_bias: Vec<f64>,
    /// `n x m`: the weight vector of each enumerated unit.
    unit_w: Vec<f64>,
    other_init: Vec<f64>,
    other: OtherTerm,
}

impl Enumeration {
    #[inline]
    fn other_sum(&self, a: &[f64]) -> f64 {
        match &self.other {
            OtherTerm::Softplus => sum_softplus_f64(a),
            OtherTerm::Gaussian { coef } => {
                a.iter().zip(coef).map(|(&a, &k)| k * a + 0.5 * a * a).sum()
            }
        }
    }

    /// `ln Σ exp(value)` over the configurations of block `block`.
    fn block_log_sum(&self, block: usize, low_bits: usize) -> f64 {
        let m = self.m;
        let mut a = self.other_init.clone();
        let mut lin = 0.0f64;
        for k in low_bits..self.n {
            if (block >> (k - low_bits)) & 1 == 1 {
                lin += self.unit_bias[k];
                for (al, &w) in a.iter_mut().zip(&self.unit_w[k * m..(k + 1) * m]) {
                    *al += w;
                }
            }
        }
        let mut on = vec![false; low_bits];
        let mut max = f64::NEG_INFINITY;
        let mut sum = 0.0f64;
        for t in 0..1usize << low_bits {
            if t > 0 {
                let k = t.trailing_zeros() as usize;
                on[k] = !on[k];
                let sign = if on[k] { 1.0 } else { -1.0 };
                lin += sign * self.unit_bias[k];
                for (al, &w) in a.iter_mut().zip(&self.unit_w[k * m..(k + 1) * m]) {
                    *al += sign * w;
                }
            }
            let x = lin + self.other_sum(&a);
            if x > max {
                sum = sum * (max - x).exp() + 1.0;
                max = x;
            } else {
                sum += (x - max).exp();
            }
        }
        max + sum.ln()
    }

    fn log_sum(&self, par: Par) -> f64 {
        let low_bits = self.n.min(BLOCK_BITS);
        let blocks = 1usize << (self.n - low_bits);
        let mut per_block = vec![0.0f64; blocks];
        fill_rows_min(&mut per_block, par, 1, |b| self.block_log_sum(b, low_bits));
        log_sum_exp(per_block.iter().copied())
    }
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
    let f = |x: &[f32]| x.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    // W transposed: row j is the weight vector of hidden unit j.
    let w_t = || {
        let mut t = vec![0.0f64; v * h];
        for i in 0..v {
            for j in 0..h {
                t[j * v + i] = params.w[i * h + j] as f64;
            }
        }
        t
    };
    let (enumeration, constant) = match (side, params.visible) {
        (ExactSide::Visible, VisibleUnits::Gaussian { .. }) => {
            return Err(ModelError::Unsupported {
                what: "exact log Z over the visible layer",
                why: "Gaussian visibles are continuous: sum over the hidden layer instead".into(),
            });
        }
        (ExactSide::Visible, VisibleUnits::Bernoulli) => {
            if v > MAX_EXACT_UNITS {
                return Err(too_many_units("visible", v));
            }
            let e = Enumeration {
                n: v,
                m: h,
                unit_bias: f(params.visible_bias),
                unit_w: f(params.w),
                other_init: f(params.hidden_bias),
                other: OtherTerm::Softplus,
            };
            (e, 0.0)
        }
        (ExactSide::Hidden, VisibleUnits::Bernoulli) => {
            if h > MAX_EXACT_UNITS {
                return Err(too_many_units("hidden", h));
            }
            let e = Enumeration {
                n: h,
                m: v,
                unit_bias: f(params.hidden_bias),
                unit_w: w_t(),
                other_init: f(params.visible_bias),
                other: OtherTerm::Softplus,
            };
            (e, 0.0)
        }
        (ExactSide::Hidden, VisibleUnits::Gaussian { sigma }) => {
            if h > MAX_EXACT_UNITS {
                return Err(too_many_units("hidden", h));
            }
            let coef = params
                .visible_bias
                .iter()
                .zip(sigma)
                .map(|(&b, &s)| b as f64 / s as f64)
                .collect();
            let half_ln_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
            let constant = sigma.iter().map(|&s| half_ln_2pi + (s as f64).ln()).sum();
            let e = Enumeration {
                n: h,
                m: v,
                unit_bias: f(params.hidden_bias),
                unit_w: w_t(),
                other_init: vec![0.0; v],
                other: OtherTerm::Gaussian { coef },
            };
            (e, constant)
        }
    };
    Ok(constant + enumeration.log_sum(par))
}

/// Exact `ln Z`, summing over the smaller layer (the hidden one on a tie,
/// and always for Gaussian visibles).
///
/// Errors if the parameters are invalid or that layer has more than
/// [`MAX_EXACT_UNITS`] units. The result is bit-identical for any `par`.
pub fn exact_log_z(params: &RbmParams<'_>, par: Par) -> Result<f64> {
    let side = match params.visible {
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
