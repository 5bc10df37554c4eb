//! What [`AnyModel::evaluate`] reports for a DBM ([`DbmEvaluation`]): the
//! mean-field reconstruction error always; the exact `ln Z` and average
//! log-likelihood when the enumerations are small (as the RBM's, without
//! being asked); on request an AIS estimate of `ln Z` with its ±3σ
//! interval; and, with either `ln Z`, the mean variational lower bound on
//! the log-likelihood per row, `-E_q(v, μ) + H(q) - ln Z`, at the model's
//! mean-field posteriors (its `mf_iters`, `mf_tol`, or the caller's).

use latent_engine::Matrix;
use latent_kernels::Par;
use latent_kernels::gemm::MatRef;

use super::evaluate::ais_config;
use super::{AnyModel, BLOCK, EvalOptions, Evaluation, Inference, row_squared_errors};
use crate::dbm::{Dbm, DbmScratch, MeanFieldOptions};
use crate::error::{ModelError, Result};
use crate::eval::{
    DbmParams, dbm_ais_log_z, dbm_base_rate_visible_bias, dbm_exact_log_z,
    dbm_log_marginal_unnormalised, dbm_variational_bound,
};
use crate::rbm::VisibleUnits;

/// The most units the exact evaluation enumerates without being asked:
/// once for `ln Z`, and for every row's hidden sum (`rows x 2^units`
/// configurations) at most [`DBM_EXACT_ROW_UNITS`].
pub const DBM_EXACT_UNITS: usize = 20;

/// The most hidden units enumerated per row by the exact log-likelihood.
pub const DBM_EXACT_ROW_UNITS: usize = 16;

/// Exact values of a small DBM.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DbmExact {
    /// `ln Z`.
    pub log_z: f64,
    /// The average log-likelihood per row.
    pub log_likelihood: f64,
    /// The mean variational lower bound per row with this `ln Z` (at most
    /// the log-likelihood).
    pub bound: f64,
}

/// An AIS estimate of a DBM's `ln Z` and the bound it gives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DbmAis {
    /// `ln Ẑ`.
    pub log_z: f64,
    /// The lower end of the ±3σ interval of `ln Ẑ`.
    pub log_z_minus_3sd: f64,
    /// The upper end.
    pub log_z_plus_3sd: f64,
    /// The mean variational lower bound per row with `ln Ẑ`.
    pub bound: f64,
    /// With the upper end of `ln Ẑ` (the low end of the bound).
    pub bound_low: f64,
    /// With the lower end of `ln Ẑ`.
    pub bound_high: f64,
    /// Runs.
    pub runs: usize,
    /// Temperatures, both ends included.
    pub temperatures: usize,
}

/// A DBM's likelihoods.
#[derive(Debug, Clone, PartialEq)]
pub struct DbmEvaluation {
    /// The mean-field settings of the posteriors.
    pub mean_field: MeanFieldOptions,
    /// The most sweeps any block of rows ran.
    pub mf_sweeps: usize,
    /// The exact values, when small enough.
    pub exact: Option<DbmExact>,
    /// Too large for the exact values: the units the larger of the two
    /// enumerations would run over.
    pub exact_skipped: Option<usize>,
    /// AIS, when asked for.
    pub ais: Option<DbmAis>,
}

impl AnyModel {
    /// [`evaluate`](Self::evaluate) for a DBM, its posteriors by mean field
    /// with `mean_field` (`None`: the model's own `mf_iters` and `mf_tol`).
    /// Errors for other kinds.
    pub fn evaluate_dbm(
        &self,
        x: &Matrix,
        opts: &EvalOptions,
        mean_field: Option<MeanFieldOptions>,
        par: Par,
    ) -> Result<Evaluation> {
        let dbm = self.as_dbm().ok_or_else(|| ModelError::Unsupported {
            what: "evaluate_dbm",
            why: "the model is not a DBM".into(),
        })?;
        let r = self.reconstructions(x, par)?;
        let mut sq = vec![0.0f32; x.rows()];
        row_squared_errors(x.view(), r.view(), &mut sq)?;
        let mean_field = mean_field.unwrap_or_else(|| dbm.mean_field_options());
        let squared_error = sq.iter().map(|&v| v as f64).sum::<f64>() / x.rows().max(1) as f64;
        Ok(Evaluation {
            samples: x.rows(),
            squared_error,
            dbm: Some(evaluate(dbm, x, opts, mean_field, par)?),
            ..Evaluation::default()
        })
    }
}

/// The DBM's exact values, AIS and bound on the rows of `x`.
fn evaluate(
    dbm: &Dbm,
    x: &Matrix,
    opts: &EvalOptions,
    mean_field: MeanFieldOptions,
    par: Par,
) -> Result<DbmEvaluation> {
    let ones = vec![1.0f32; dbm.sizes()[0]];
    let weights: Vec<&[f32]> = dbm.weights().into_iter().map(|w| w.as_slice()).collect();
    let p = match dbm.config().visible {
        VisibleUnits::Bernoulli => DbmParams::bernoulli(weights, dbm.biases()),
        VisibleUnits::Gaussian => DbmParams::gaussian(weights, dbm.biases(), &ones),
    };
    let data = x.as_slice();
    let (z_units, row_units) = exact_units(dbm);
    let small = z_units <= DBM_EXACT_UNITS && row_units <= DBM_EXACT_ROW_UNITS;
    let mut e = DbmEvaluation {
        mean_field,
        mf_sweeps: 0,
        exact: None,
        exact_skipped: (!small).then_some(z_units.max(row_units)),
        ais: None,
    };
    if !small && opts.ais.is_none() {
        return Ok(e);
    }
    let (bound, sweeps) = mean_bound(dbm, &p, x, mean_field, par)?;
    e.mf_sweeps = sweeps;
    if small {
        let log_z = dbm_exact_log_z(&p, par)?;
        let mut ll = vec![0.0f64; x.rows()];
        dbm_log_marginal_unnormalised(&p, data, &mut ll, par)?;
        let n = x.rows().max(1) as f64;
        e.exact = Some(DbmExact {
            log_z,
            log_likelihood: ll.iter().sum::<f64>() / n - log_z,
            bound: bound - log_z,
        });
    }
    if let Some(ais) = opts.ais {
        let cfg = ais_config(ais, opts.seed);
        let base = dbm_base_rate_visible_bias(&p, data)?;
        let est = dbm_ais_log_z(&p, &base, &cfg, par)?;
        e.ais = Some(DbmAis {
            log_z: est.log_z,
            log_z_minus_3sd: est.log_z_minus_3sd,
            log_z_plus_3sd: est.log_z_plus_3sd,
            bound: bound - est.log_z,
            bound_low: bound - est.log_z_plus_3sd,
            bound_high: bound - est.log_z_minus_3sd,
            runs: cfg.n_runs,
            temperatures: cfg.betas.len(),
        });
    }
    Ok(e)
}

/// The units of the exact `ln Z`'s enumeration (the smaller parity of
/// layers; the odd ones for Gaussian visibles) and of each row's (the
/// smaller parity of hidden layers).
fn exact_units(dbm: &Dbm) -> (usize, usize) {
    let sizes = dbm.sizes();
    let parity = |p: usize, from: usize| -> usize {
        (from..sizes.len())
            .filter(|l| l % 2 == p)
            .map(|l| sizes[l])
            .sum()
    };
    let z = match dbm.config().visible {
        VisibleUnits::Bernoulli => parity(0, 0).min(parity(1, 0)),
        VisibleUnits::Gaussian => parity(1, 0),
    };
    (z, parity(0, 1).min(parity(1, 1)))
}

/// The mean over the rows of `x` of `-E_q(v, μ) + H(q)` (the bound on
/// `ln p(v) + ln Z`) at the mean-field posteriors, computed in blocks of
/// [`BLOCK`] rows; and the most sweeps a block ran.
fn mean_bound(
    dbm: &Dbm,
    p: &DbmParams<'_>,
    x: &Matrix,
    opts: MeanFieldOptions,
    par: Par,
) -> Result<(f64, usize)> {
    let (rows, cols) = x.shape();
    let mut scratch = DbmScratch::new();
    let mut out = vec![0.0f64; BLOCK.min(rows)];
    let (mut total, mut sweeps) = (0.0f64, 0);
    for start in (0..rows).step_by(BLOCK) {
        let n = BLOCK.min(rows - start);
        let block = &x.as_slice()[start * cols..(start + n) * cols];
        let stats =
            dbm.mean_field_with(MatRef::row_major(block, n, cols)?, opts, &mut scratch, par)?;
        sweeps = sweeps.max(stats.iterations);
        let mu: Vec<&[f32]> = (1..=dbm.depth())
            .map(|l| scratch.posterior(l).unwrap_or(&[]))
            .collect();
        dbm_variational_bound(p, block, &mu, &mut out[..n], par)?;
        total += out[..n].iter().sum::<f64>();
    }
    Ok((total / rows.max(1) as f64, sweeps))
}
