//! The standard lower bound on a deep belief net's log-likelihood
//! (Hinton, Osindero & Teh 2006; Salakhutdinov & Murray, "On the
//! quantitative analysis of deep belief networks", ICML 2008, section 4;
//! `MODELS.md` 2.5), on plain parameters ([`DbnParams`]) however the DBN
//! was trained.
//!
//! A DBN with layers `h⁰ = v, h¹, …, hᴸ` is a stack of `L` RBMs: RBM `l`
//! (`W^l`, visible biases `b^l`, hidden biases `c^l`) joins `h^{l-1}` and
//! `h^l`. The bottom `L-1` RBMs act as directed generative models
//! `p(h^{l-1} | h^l)` (their own down conditionals), the top RBM is the
//! undirected prior over `(h^{L-1}, hᴸ)`, and the recognition model is
//! `Q(h^l | h^{l-1})`, the up conditionals of the same RBMs. For any `v`,
//!
//! ```text
//! ln p(v) ≥ E_Q[ ln p*(h^{L-1}) + Σ_{l<L} ln p(h^{l-1} | h^l) - Σ_{l<L} ln Q(h^l | h^{l-1}) ] - ln Z_L
//! ```
//!
//! with `ln p*(h^{L-1}) = -F_L(h^{L-1})` the top RBM's unnormalised marginal
//! and `Z_L` its partition function (exact for tiny models, else by
//! [`ais_log_z`](super::ais_log_z)). The gap is `KL(Q(h|v) ‖ p(h|v))`. For
//! `L = 1` there is nothing to sample and the bound is the RBM's own
//! `ln p(v) = -F(v) - ln Z`.
//!
//! - [`dbn_variational_bound`]: the expectation by Monte Carlo, `S` samples
//!   from `Q` per row, with its standard error;
//! - [`dbn_exact_variational_bound`] and [`dbn_log_likelihood`]: the exact
//!   expectation and the exact `ln p(v)` by enumerating the hidden layers
//!   below the top, for tiny DBNs (at most [`DBN_MAX_EXACT_UNITS`] units);
//! - [`dbn_top_base_rate_visible_bias`]: the base-rate model of the top
//!   RBM's AIS, from the data passed up the stack.
//!
//! The bottom layer may be Gaussian ([`VisibleUnits::Gaussian`]: `p(v_i |
//! h¹) = N(b_i + σ_i (W¹h¹)_i, σ_i²)`, `Q` sees `v/σ`); every other layer is
//! Bernoulli. Data is batch-major and row-major (`B x n_0`).

mod bound;
mod exact;
#[cfg(test)]
mod tests;

pub use bound::{DbnBoundConfig, dbn_variational_bound};
pub use exact::{DBN_MAX_EXACT_UNITS, dbn_exact_variational_bound, dbn_log_likelihood};

use latent_kernels::{Accum, BiasAdd, MatMut, MatRef, Par, gemm};

use super::{RbmParams, VisibleUnits, base_rate_visible_bias, sigmoid_f32};
use crate::error::{ModelError, Result};

/// The parameters of a DBN, borrowed: its RBMs, bottom first. The hidden
/// layer of each is the visible layer of the next; only the bottom one may
/// have Gaussian visibles. [`DbnParams::validate`] checks that (every
/// function of this module calls it).
#[derive(Debug, Clone, PartialEq)]
pub struct DbnParams<'a> {
    /// RBM `l = 1..=L` at index `l - 1`.
    pub layers: Vec<RbmParams<'a>>,
}

impl<'a> DbnParams<'a> {
    /// A DBN of the RBMs `layers`, bottom first.
    pub fn new(layers: Vec<RbmParams<'a>>) -> Self {
        DbnParams { layers }
    }

    /// `[n_0, n_1, …, n_L]`: the visible units, then every hidden layer's.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes: Vec<usize> = self
            .layers
            .first()
            .map(|p| p.n_visible())
            .into_iter()
            .collect();
        sizes.extend(self.layers.iter().map(|p| p.n_hidden()));
        sizes
    }

    /// `n_0`, the number of visible units.
    pub fn n_visible(&self) -> usize {
        self.layers.first().map_or(0, |p| p.n_visible())
    }

    /// The top RBM, the undirected prior over `(h^{L-1}, hᴸ)` (`params`
    /// validated, so there is one).
    pub fn top(&self) -> &RbmParams<'a> {
        &self.layers[self.layers.len() - 1]
    }

    /// Checks that there is at least one RBM, that each is valid, that the
    /// sizes chain (`n_hidden` of RBM `l` = `n_visible` of RBM `l+1`) and
    /// that only the bottom RBM has Gaussian visibles.
    pub fn validate(&self) -> Result<()> {
        if self.layers.is_empty() {
            return Err(ModelError::InvalidConfig {
                what: "DBN layers",
                value: "0".into(),
                expected: "at least one RBM",
            });
        }
        for (l, p) in (1..).zip(&self.layers) {
            p.validate()?;
            if l > 1 && p.visible != VisibleUnits::Bernoulli {
                return Err(ModelError::InvalidConfig {
                    what: "DBN: visible units above the bottom RBM",
                    value: format!("Gaussian (RBM {l})"),
                    expected: "Bernoulli (they model binary hidden units of the RBM below)",
                });
            }
        }
        for (l, pair) in (1..).zip(self.layers.windows(2)) {
            if pair[0].n_hidden() != pair[1].n_visible() {
                return Err(ModelError::Shape {
                    what: format!(
                        "DBN: visible units of RBM {} (the hidden units of RBM {l})",
                        l + 1
                    ),
                    expected: pair[0].n_hidden(),
                    found: pair[1].n_visible(),
                });
            }
        }
        Ok(())
    }

    /// Checks that `data` holds whole rows of `n_0` values and returns the
    /// number of rows (`params` validated).
    fn rows_of(&self, what: &str, data: &[f32]) -> Result<usize> {
        self.layers[0].rows_of(what, data)
    }
}

/// The base-rate visible biases for [`ais_log_z`](super::ais_log_z) on the
/// top RBM ([`DbnParams::top`]): the rows of `data` (`B x n_0`, at least
/// one) passed up the stack by the deterministic up-pass `μ^l = σ(c^l +
/// W^lᵀ μ^{l-1})` (`μ^0 = v`, or `v/σ`) to layer `L-1`, then
/// [`base_rate_visible_bias`] of their means. With one RBM that is
/// [`base_rate_visible_bias`] of `data` itself. The products are f32
/// SGEMMs on the parameters, so the result does not depend on a model's
/// precision, nor on `par`.
///
/// Errors if the parameters are invalid or `data` is not at least one whole
/// row.
pub fn dbn_top_base_rate_visible_bias(
    params: &DbnParams<'_>,
    data: &[f32],
    par: Par,
) -> Result<Vec<f32>> {
    params.validate()?;
    let rows = params.rows_of("dbn_top_base_rate_visible_bias", data)?;
    let top = params.top();
    if params.layers.len() == 1 || rows == 0 {
        return base_rate_visible_bias(top, data);
    }
    let bottom = &params.layers[0];
    let mut below: Vec<f32> = match bottom.visible {
        VisibleUnits::Bernoulli => data.to_vec(),
        VisibleUnits::Gaussian { sigma } => data
            .chunks_exact(sigma.len())
            .flat_map(|row| row.iter().zip(sigma).map(|(x, s)| x / s))
            .collect(),
    };
    for layer in &params.layers[..params.layers.len() - 1] {
        let (k, n) = (layer.n_visible(), layer.n_hidden());
        let mut up = vec![0.0f32; rows * n];
        gemm(
            1.0,
            MatRef::row_major(&below, rows, k)?,
            MatRef::row_major(layer.w, k, n)?,
            Accum::Replace,
            MatMut::row_major(&mut up, rows, n)?,
            &BiasAdd::new(layer.hidden_bias),
            par,
        )?;
        up.iter_mut().for_each(|u| *u = sigmoid_f32(*u));
        below = up;
    }
    base_rate_visible_bias(top, &below)
}
