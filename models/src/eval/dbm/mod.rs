//! Honest likelihood evaluation of deep Boltzmann machines (`MODELS.md`
//! section 3), on plain parameters ([`DbmParams`]) however the DBM was
//! trained:
//!
//! - [`dbm_ais_log_z`]: annealed importance sampling for `ln Z` with the odd
//!   layers summed out analytically (Salakhutdinov & Hinton 2009), with its
//!   ±3σ interval, from the base rate of [`dbm_base_rate_visible_bias`];
//! - [`dbm_exact_log_z`], [`dbm_log_likelihood`] and
//!   [`dbm_exact_average_log_likelihood`]: exact values by enumeration for
//!   tiny DBMs (at most [`DBM_MAX_EXACT_UNITS`] enumerated units);
//! - [`dbm_variational_bound`]: the per-sample mean-field lower bound
//!   `-E_q(v, μ) + H(q)` on `ln p(v) + ln Z`, for posteriors the caller
//!   computed.
//!
//! A DBM has layers `0..=L` (`L ≥ 2`) of sizes `n_0, …, n_L`: layer 0 is
//! visible (Bernoulli or Gaussian, [`VisibleUnits`]), layers `1..=L` are
//! Bernoulli. Its energy is
//!
//! ```text
//! E = -Σ_{l=1..L} x^{l-1}ᵀ W^l h^l - Σ_{l=1..L} b^lᵀ h^l + e_0(v)
//! ```
//!
//! with `x^0 = v` and `e_0(v) = -b^0ᵀv` for Bernoulli visibles, `x^0_i =
//! v_i/σ_i` and `e_0(v) = Σ_i (v_i - b^0_i)²/(2σ_i²)` for Gaussian ones, and
//! `x^l = h^l` above. Data is batch-major and row-major (`B x n_0`).

mod ais;
mod bound;
mod exact;
#[cfg(test)]
mod tests;

pub use ais::{dbm_ais_log_z, dbm_base_rate_visible_bias};
pub use bound::{dbm_variational_bound, dbm_variational_bound_with_log_z};
pub use exact::{
    DBM_MAX_EXACT_UNITS, DbmExactSide, dbm_exact_average_log_likelihood, dbm_exact_log_z,
    dbm_exact_log_z_over, dbm_log_likelihood, dbm_log_marginal_unnormalised,
};

use super::{RbmParams, VisibleUnits};
use crate::error::{ModelError, Result};

/// The parameters of a DBM, borrowed.
///
/// - `weights[l-1]` is `W^l` for `l = 1..=L`: `n_{l-1} x n_l`, row-major,
///   so `W^l[i*n_l + j]` links unit `i` of layer `l-1` and unit `j` of
///   layer `l`;
/// - `biases[l]` is `b^l` for `l = 0..=L` (`n_l` values): the sizes are
///   taken from the biases;
/// - `visible`: the kind of layer 0 (with `σ` for Gaussian visibles).
///
/// [`DbmParams::validate`] checks that everything agrees (every function of
/// this module calls it).
#[derive(Debug, Clone, PartialEq)]
pub struct DbmParams<'a> {
    /// `W^1, …, W^L`.
    pub weights: Vec<&'a [f32]>,
    /// `b^0, …, b^L`.
    pub biases: Vec<&'a [f32]>,
    /// The visible units' kind.
    pub visible: VisibleUnits<'a>,
}

impl<'a> DbmParams<'a> {
    /// A DBM with Bernoulli visibles.
    pub fn bernoulli(weights: Vec<&'a [f32]>, biases: Vec<&'a [f32]>) -> Self {
        DbmParams {
            weights,
            biases,
            visible: VisibleUnits::Bernoulli,
        }
    }

    /// A DBM with Gaussian visibles of standard deviations `sigma` (one per
    /// visible unit).
    pub fn gaussian(weights: Vec<&'a [f32]>, biases: Vec<&'a [f32]>, sigma: &'a [f32]) -> Self {
        DbmParams {
            weights,
            biases,
            visible: VisibleUnits::Gaussian { sigma },
        }
    }

    /// `L`, the number of hidden layers.
    pub fn n_hidden_layers(&self) -> usize {
        self.biases.len().saturating_sub(1)
    }

    /// `n_l`, the size of layer `l` (0 for a layer that does not exist).
    pub fn size(&self, l: usize) -> usize {
        self.biases.get(l).map_or(0, |b| b.len())
    }

    /// `[n_0, …, n_L]`.
    pub fn sizes(&self) -> Vec<usize> {
        self.biases.iter().map(|b| b.len()).collect()
    }

    /// `n_0`, the number of visible units.
    pub fn n_visible(&self) -> usize {
        self.size(0)
    }

    /// `W^l` for `l = 1..=L` (`params` validated).
    fn w(&self, l: usize) -> &'a [f32] {
        self.weights[l - 1]
    }

    /// Checks the shapes (`L ≥ 2`, every `n_l ≥ 1`, `L` weight matrices of
    /// `n_{l-1}·n_l` values, `|σ| = n_0`) and that every `σ_i` is finite and
    /// positive.
    pub fn validate(&self) -> Result<()> {
        let sizes = self.sizes();
        if sizes.len() < 3 || sizes.contains(&0) {
            return Err(ModelError::InvalidConfig {
                what: "DBM layer sizes (from the biases b^0..b^L)",
                value: format!("{sizes:?}"),
                expected: "a visible layer and at least two hidden layers, each of at least one unit",
            });
        }
        if self.weights.len() != sizes.len() - 1 {
            return Err(ModelError::Shape {
                what: format!("DBM weight matrices W^1..W^L for layer sizes {sizes:?}"),
                expected: sizes.len() - 1,
                found: self.weights.len(),
            });
        }
        for l in 1..sizes.len() {
            let (a, b) = (sizes[l - 1], sizes[l]);
            let expected = a.checked_mul(b).ok_or_else(|| ModelError::InvalidConfig {
                what: "DBM layer sizes (from the biases b^0..b^L)",
                value: format!("{sizes:?}"),
                expected: "n_{l-1}·n_l representable in usize",
            })?;
            if self.weights[l - 1].len() != expected {
                return Err(ModelError::Shape {
                    what: format!("DBM weights W^{l} ({a} x {b}, row-major)"),
                    expected,
                    found: self.weights[l - 1].len(),
                });
            }
        }
        // The bottom RBM checks σ (shape and values) as the RBM code does.
        self.bottom_rbm().validate()
    }

    /// The RBM of layers 0 and 1 (`W^1`, `b^0`, `b^1`, the visible kind).
    fn bottom_rbm(&self) -> RbmParams<'a> {
        RbmParams {
            w: self.weights.first().copied().unwrap_or(&[]),
            visible_bias: self.biases.first().copied().unwrap_or(&[]),
            hidden_bias: self.biases.get(1).copied().unwrap_or(&[]),
            visible: self.visible,
            hidden: crate::rbm::HiddenUnits::Bernoulli,
        }
    }

    /// Checks that `data` holds whole rows of `n_0` values and returns the
    /// number of rows (`params` validated).
    fn rows_of(&self, what: &str, data: &[f32]) -> Result<usize> {
        self.bottom_rbm().rows_of(what, data)
    }

    /// `-e_0(v)` of one visible row in `f64`: `b^0ᵀv`, or `-Σ_i (v_i -
    /// b^0_i)²/(2σ_i²)`.
    fn visible_log_factor(&self, v: &[f32]) -> f64 {
        let b = self.biases[0];
        match self.visible {
            VisibleUnits::Bernoulli => v.iter().zip(b).map(|(&x, &b)| x as f64 * b as f64).sum(),
            VisibleUnits::Gaussian { sigma } => v
                .iter()
                .zip(b)
                .zip(sigma)
                .map(|((&x, &b), &s)| {
                    let d = (x as f64 - b as f64) / s as f64;
                    -0.5 * d * d
                })
                .sum(),
        }
    }

    /// `x^0` of a batch: the rows themselves, or `v_i/σ_i`.
    fn visible_inputs<'d>(&self, data: &'d [f32]) -> std::borrow::Cow<'d, [f32]> {
        match self.visible {
            VisibleUnits::Bernoulli => std::borrow::Cow::Borrowed(data),
            VisibleUnits::Gaussian { sigma } => std::borrow::Cow::Owned(
                data.chunks_exact(sigma.len())
                    .flat_map(|row| row.iter().zip(sigma).map(|(x, s)| x / s))
                    .collect(),
            ),
        }
    }
}
