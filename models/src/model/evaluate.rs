//! [`AnyModel::evaluate`]: what `latent eval` reports for each kind of
//! model. Every model: the squared error of its mean reconstruction. An
//! autoencoder: its own loss. An RBM: the pseudo-log-likelihood (binary
//! visibles), the exact log-likelihood when one layer is small enough to
//! sum over, and an AIS estimate on request, all with the RBM's own σ when
//! it learned one. A DBN, with AIS asked for: the lower bound on its
//! log-likelihood ([`DbnBoundResult`]). A VAE: the ELBO and the
//! importance-weighted bound. A DBM: see [`AnyModel::evaluate_dbm`].

use latent_engine::Matrix;
use latent_kernels::Par;

use super::evaluate_dbn::{DbnBoundResult, dbn_bound};
use super::{AnyModel, BLOCK, Inference, row_squared_errors};
use crate::ae::Loss;
use crate::error::{ModelError, Result};
use crate::eval::{
    AisConfig, MAX_EXACT_UNITS, ais_log_z, average_log_likelihood, base_rate_visible_bias,
    exact_log_z, piecewise_linear_betas, pseudo_log_likelihood,
};
use crate::rbm::{HiddenUnits, Rbm, VisibleUnits};

/// AIS settings for an RBM's `ln Z` (or a DBN's top RBM's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AisOptions {
    /// Independent runs (at least 2).
    pub runs: usize,
    /// Intermediate temperatures, split 500:4000:10000 over `[0, .5]`,
    /// `[.5, .9]` and `[.9, 1]`.
    pub steps: usize,
}

/// What [`AnyModel::evaluate`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalOptions {
    /// Estimate an RBM's `ln Z` by AIS, or a DBN's bound with its top
    /// RBM's `ln Z` by AIS (an error for other kinds).
    pub ais: Option<AisOptions>,
    /// A DBN's samples from its recognition model per row for its bound
    /// (with `ais`; at least 2).
    pub bound_samples: usize,
    /// A VAE's importance samples per row for its log-likelihood bound.
    pub iw_samples: usize,
    /// Seed of the stochastic estimates.
    pub seed: u64,
}

/// An AIS estimate of `ln Z` and the average log-likelihood it gives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AisResult {
    /// `ln Ẑ`.
    pub log_z: f64,
    /// The lower end of the ±3σ interval of `ln Ẑ`.
    pub log_z_minus_3sd: f64,
    /// The upper end.
    pub log_z_plus_3sd: f64,
    /// The average log-likelihood per sample with `ln Ẑ`.
    pub log_likelihood: f64,
    /// With the upper end of `ln Ẑ` (the lower end of the likelihood).
    pub log_likelihood_low: f64,
    /// With the lower end of `ln Ẑ`.
    pub log_likelihood_high: f64,
    /// Runs.
    pub runs: usize,
    /// Temperatures, both ends included.
    pub temperatures: usize,
}

/// What [`AnyModel::evaluate`] found; a field is `None` where it does not
/// apply to the model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Evaluation {
    /// Rows evaluated.
    pub samples: usize,
    /// Mean over rows of `Σ_k (x_k − x̂_k)²` of the mean reconstruction.
    pub squared_error: f64,
    /// An autoencoder's own loss and its mean per row.
    pub loss: Option<(Loss, f64)>,
    /// An RBM with binary visibles: the mean pseudo-log-likelihood.
    pub pseudo_log_likelihood: Option<f64>,
    /// An RBM small enough: exact `ln Z` and the average log-likelihood.
    pub exact: Option<(f64, f64)>,
    /// An RBM too large for the exact sum (and no AIS asked): the units on
    /// the side the sum would run over.
    pub exact_skipped: Option<usize>,
    /// A DBM: its likelihoods (exact, AIS, the variational bound).
    pub dbm: Option<super::DbmEvaluation>,
    /// An RBM with AIS asked for.
    pub ais: Option<AisResult>,
    /// A DBN with AIS asked for: its log-likelihood bound.
    pub dbn_bound: Option<DbnBoundResult>,
    /// A VAE: the mean ELBO (one latent sample per row).
    pub elbo: Option<f64>,
    /// A VAE: the importance-weighted log-likelihood bound and its samples
    /// per row.
    pub log_likelihood_iw: Option<(f64, usize)>,
}

fn mean(v: &[f32]) -> f64 {
    v.iter().map(|&e| e as f64).sum::<f64>() / v.len().max(1) as f64
}

impl AnyModel {
    /// Evaluates the model on the rows of `x` (already preprocessed).
    pub fn evaluate(&self, x: &Matrix, opts: &EvalOptions, par: Par) -> Result<Evaluation> {
        if self.as_dbm().is_some() {
            return self.evaluate_dbm(x, opts, None, par);
        }
        if opts.ais.is_some() && !matches!(self, AnyModel::Rbm(_) | AnyModel::Dbn(_)) {
            return Err(ModelError::Unsupported {
                what: "AIS",
                why: "AIS estimates the partition function of an RBM (or of a DBN's top RBM)"
                    .into(),
            });
        }
        let r = self.reconstructions(x, par)?;
        let mut sq = vec![0.0f32; x.rows()];
        row_squared_errors(x.view(), r.view(), &mut sq)?;
        let mut e = Evaluation {
            samples: x.rows(),
            squared_error: mean(&sq),
            loss: None,
            pseudo_log_likelihood: None,
            exact: None,
            exact_skipped: None,
            dbm: None,
            ais: None,
            dbn_bound: None,
            elbo: None,
            log_likelihood_iw: None,
        };
        if let Some(a) = self.as_autoencoder() {
            let losses = a.scores(x, super::Score::Reconstruction, 0, par)?;
            e.loss = Some((a.config().loss, mean(&losses)));
        } else if let Some(v) = self.as_vae() {
            let k = opts.iw_samples;
            e.elbo = Some(v.elbo(x, BLOCK, opts.seed, par)?);
            let ll = v.log_likelihood_iw(x, k, BLOCK.min(200), opts.seed, par)?;
            e.log_likelihood_iw = Some((ll, k));
        } else if let Some(rbm) = self.as_rbm() {
            evaluate_rbm(rbm, x, opts, par, &mut e)?;
        } else if let (AnyModel::Dbn(dbn), Some(ais)) = (self, opts.ais) {
            e.dbn_bound = Some(dbn_bound(dbn, x, ais, opts.bound_samples, opts.seed, par)?);
        }
        Ok(e)
    }
}

/// The RBM's likelihoods, with its own σ (learned or 1).
fn evaluate_rbm(
    rbm: &Rbm,
    x: &Matrix,
    opts: &EvalOptions,
    par: Par,
    e: &mut Evaluation,
) -> Result<()> {
    let bernoulli = rbm.config().visible == VisibleUnits::Bernoulli;
    let data = x.as_slice();
    if bernoulli {
        let mut pll = vec![0.0f32; x.rows()];
        rbm.with_eval_params(|p| pseudo_log_likelihood(p, data, opts.seed, &mut pll, par))?;
        e.pseudo_log_likelihood =
            Some(pll.iter().map(|&v| v as f64).sum::<f64>() / x.rows() as f64);
    }
    let (v, h) = (rbm.config().n_visible, rbm.config().n_hidden);
    let small = match (bernoulli, rbm.config().hidden) {
        (_, HiddenUnits::Linear) => v,
        (true, _) => v.min(h),
        (false, _) => h,
    };
    if small <= MAX_EXACT_UNITS {
        e.exact = Some(rbm.with_eval_params(|p| -> Result<(f64, f64)> {
            let z = exact_log_z(p, par)?;
            Ok((z, average_log_likelihood(p, data, z, par)?))
        })?);
    } else if opts.ais.is_none() {
        e.exact_skipped = Some(small);
    }
    if let Some(ais) = opts.ais {
        e.ais = Some(ais_estimate(rbm, data, ais, opts.seed, par)?);
    }
    Ok(())
}

/// AIS from the base-rate model (binary visibles) or from the RBM's own
/// visible biases (Gaussian).
fn ais_estimate(
    rbm: &Rbm,
    data: &[f32],
    ais: AisOptions,
    seed: u64,
    par: Par,
) -> Result<AisResult> {
    let cfg = ais_config(ais, seed);
    rbm.with_eval_params(|p| {
        let base = match rbm.config().visible {
            VisibleUnits::Bernoulli => base_rate_visible_bias(p, data)?,
            VisibleUnits::Gaussian => rbm.visible_bias().to_vec(),
        };
        let est = ais_log_z(p, &base, &cfg, par)?;
        Ok(AisResult {
            log_z: est.log_z,
            log_z_minus_3sd: est.log_z_minus_3sd,
            log_z_plus_3sd: est.log_z_plus_3sd,
            log_likelihood: average_log_likelihood(p, data, est.log_z, par)?,
            log_likelihood_low: average_log_likelihood(p, data, est.log_z_plus_3sd, par)?,
            log_likelihood_high: average_log_likelihood(p, data, est.log_z_minus_3sd, par)?,
            runs: cfg.n_runs,
            temperatures: cfg.betas.len(),
        })
    })
}

/// The AIS configuration of `ais`: `steps` temperatures split 500:4000:10000
/// over `[0, .5]`, `[.5, .9]` and `[.9, 1]`.
pub(super) fn ais_config(ais: AisOptions, seed: u64) -> AisConfig {
    let k = ais.steps;
    let (a, b) = ((k * 500 / 14500).max(1), (k * 4000 / 14500).max(1));
    let c = k.saturating_sub(a + b).max(1);
    AisConfig {
        betas: piecewise_linear_betas(&[(0.5, a), (0.9, b), (1.0, c)]),
        n_runs: ais.runs,
        seed,
        ..AisConfig::default()
    }
}
