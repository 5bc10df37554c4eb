//! `latent eval`: what [`AnyModel::evaluate`](latent_models::model::AnyModel::evaluate)
//! finds, printed: the reconstruction error; for an RBM the
//! pseudo-log-likelihood and the exact (small models) or AIS
//! log-likelihood; for a DBN with `--ais` the lower bound on its
//! log-likelihood; for a VAE the ELBO and the importance-weighted bound;
//! for a DBM see [`eval_dbm`](super::eval_dbm); for a classifier with
//! `--labels` see [`eval_labels`](super::eval_labels).

use std::path::PathBuf;

use clap::Args;
use latent_engine::Par;
use latent_models::ae::Loss;
use latent_models::eval::MAX_EXACT_UNITS;
use latent_models::model::{
    AisOptions, AisResult, AnyModel, DbnBoundResult, EvalOptions, Evaluation,
};
use serde_json::{Value, json};

use super::{PrecisionFlag, check_chains_fit, load_with, model_data, say};
use crate::cli::error::{CliError, Result};
use crate::cli::progress::json_f64;
use crate::cli::{Global, Report};

/// Flags of `latent eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A model file written by `latent train`.
    pub model: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub precision: PrecisionFlag,
    /// The data to evaluate on.
    #[arg(long)]
    pub data: PathBuf,
    /// Estimate the log-likelihood by annealed importance sampling (RBM),
    /// or a lower bound on it with log Z by AIS (a DBN's top RBM; a DBM).
    #[arg(long)]
    pub ais: bool,
    /// AIS: independent runs.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(2..))]
    pub ais_runs: u32,
    /// AIS: intermediate temperatures (split 500:4000:10000 over [0,.5], [.5,.9], [.9,1]).
    #[arg(long, default_value_t = 14500, value_parser = clap::value_parser!(u32).range(3..))]
    pub ais_steps: u32,
    /// DBN (with --ais): samples from the recognition model per image for the bound.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(2..))]
    pub bound_samples: u32,
    /// VAE: importance samples per image for the log-likelihood estimate.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub iw_samples: u32,
    /// DBM: the most mean-field sweeps of the bound's posteriors, 1 to
    /// 10000 [default: the model's mf_iters].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=latent_models::dbm::MAX_MF_ITERS as i64))]
    pub mf_iters: Option<u32>,
    /// DBM: the bound's mean field stops once no posterior changes by more
    /// than this (0: always --mf-iters sweeps) [default: the model's mf_tol].
    #[arg(long, value_parser = super::eval_dbm::non_negative_f32, allow_negative_numbers = true)]
    pub mf_tol: Option<f32>,
    /// Seed of the stochastic estimates.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Classifier: the true classes of --data (IDX, NPY integers or a CSV
    /// column): accuracy, per-class accuracy and the confusion matrix.
    #[arg(long)]
    pub labels: Option<PathBuf>,
}

/// Runs `latent eval`.
pub fn run(args: &EvalArgs, g: &Global) -> Result<Report> {
    let m = load_with(&args.model, &args.precision)?;
    super::eval_labels::check(args, &m)?;
    if let Some(labels) = &args.labels {
        return super::eval_labels::run(args, g, &m, labels);
    }
    if m.model.as_dbm().is_some() {
        return super::eval_dbm::run(args, g, &m);
    }
    if let Some(flag) = super::eval_dbm::mean_field_flag(args) {
        return Err(CliError::unsupported(
            format!(
                "{flag} with the {} model {}",
                m.kind.name(),
                args.model.display()
            ),
            "it sets a dbm's mean field",
        ));
    }
    let dbn = matches!(m.model, AnyModel::Dbn(_));
    if args.ais && m.model.as_rbm().is_none() && !dbn {
        let vae_note = if m.model.as_vae().is_some() {
            "; a VAE's log-likelihood is estimated by importance sampling (--iw-samples)"
        } else {
            ""
        };
        return Err(CliError::unsupported(
            format!(
                "--ais with the {} model {}",
                m.kind.name(),
                args.model.display()
            ),
            format!(
                "AIS estimates the partition function of an RBM (or of a DBN's top RBM){vae_note}"
            ),
        ));
    }
    if args.ais {
        check_chains_fit(&m, "--ais-runs", args.ais_runs.into())?;
        if dbn {
            check_chains_fit(&m, "--bound-samples", args.bound_samples.into())?;
        }
    }
    if m.model.as_vae().is_some() {
        check_chains_fit(&m, "--iw-samples", args.iw_samples.into())?;
    }
    let x = model_data(&m, &args.data)?;
    let opts = EvalOptions {
        ais: args.ais.then_some(AisOptions {
            runs: args.ais_runs as usize,
            steps: args.ais_steps as usize,
        }),
        bound_samples: args.bound_samples as usize,
        iw_samples: args.iw_samples as usize,
        seed: args.seed,
    };
    let e = m.model.evaluate(&x, &opts, Par::All)?;
    say(g, format!("samples:                  {}", e.samples));
    let mut out = json!({"command": "eval", "samples": e.samples});
    if let Some((loss, value)) = e.loss {
        print_autoencoder(g, &e, loss, value, &mut out);
    } else if let (Some(elbo), Some((ll, k))) = (e.elbo, e.log_likelihood_iw) {
        print_vae(g, &e, elbo, ll, k, &mut out);
    } else {
        print_rbm(g, &e, &mut out);
    }
    Ok(Report::json(out))
}

/// An autoencoder's own loss, and the squared error when that differs.
fn print_autoencoder(g: &Global, e: &Evaluation, loss: Loss, value: f64, out: &mut Value) {
    let sq = e.squared_error;
    say(
        g,
        format!(
            "reconstruction error:     {value:.5} ({} per sample)",
            loss.name()
        ),
    );
    if loss != Loss::SquaredError {
        say(g, format!("squared error:            {sq:.5} (per sample)"));
    }
    out["loss"] = json!(loss.name());
    out["reconstruction_error"] = json_f64(value);
    out["squared_error"] = json_f64(sq);
}

/// A VAE's squared error, ELBO and importance-weighted bound.
fn print_vae(g: &Global, e: &Evaluation, elbo: f64, ll: f64, k: usize, out: &mut Value) {
    let sq = e.squared_error;
    say(
        g,
        format!(
            "reconstruction error:     {sq:.5} (squared, of the mean reconstruction, per sample)"
        ),
    );
    say(
        g,
        format!("ELBO:                     {elbo:.5} per sample (one z sample each)"),
    );
    say(
        g,
        format!(
            "log-likelihood (IW):      {ll:.5} per sample (importance-weighted bound, {k} samples each)"
        ),
    );
    out["reconstruction_error"] = json_f64(sq);
    out["elbo"] = json_f64(elbo);
    out["log_likelihood_iw"] = json_f64(ll);
    out["iw_samples"] = json!(k);
}

/// The mean-field reconstruction error, and an RBM's likelihoods.
fn print_rbm(g: &Global, e: &Evaluation, out: &mut Value) {
    let sq = e.squared_error;
    say(
        g,
        format!("reconstruction error:     {sq:.5} (mean-field, per sample)"),
    );
    out["reconstruction_error"] = json_f64(sq);
    if let Some(pll) = e.pseudo_log_likelihood {
        say(g, format!("pseudo-log-likelihood:    {pll:.5}"));
        out["pseudo_log_likelihood"] = json_f64(pll);
    }
    if let Some((log_z, ll)) = e.exact {
        say(g, format!("log Z (exact):            {log_z:.5}"));
        say(g, format!("log-likelihood (exact):   {ll:.5} per sample"));
        out["log_z_exact"] = json_f64(log_z);
        out["log_likelihood_exact"] = json_f64(ll);
    }
    if let Some(small) = e.exact_skipped {
        say(
            g,
            format!(
                "log-likelihood:           not computed ({small} units on the smaller side > {MAX_EXACT_UNITS}; pass --ais)"
            ),
        );
    }
    if let Some(a) = e.ais {
        print_ais(g, &a, out);
    }
    if let Some(d) = e.dbn_bound {
        print_dbn_bound(g, &d, out);
    }
}

fn print_ais(g: &Global, a: &AisResult, out: &mut Value) {
    let z = (a.log_z, a.log_z_minus_3sd, a.log_z_plus_3sd);
    print_log_z(
        g,
        ("log Z (AIS)", "log_z_ais"),
        z,
        (a.runs, a.temperatures),
        out,
    );
    say(
        g,
        format!(
            "log-likelihood (AIS):     {:.5} per sample (±3σ [{:.5}, {:.5}])",
            a.log_likelihood, a.log_likelihood_low, a.log_likelihood_high
        ),
    );
    out["log_likelihood_ais"] = json_f64(a.log_likelihood);
}

/// An AIS `ln Z` with its ±3σ interval (`z`), the line `label` and the JSON
/// fields `key`, `key_minus_3sd`, `key_plus_3sd`.
pub(super) fn print_log_z(
    g: &Global,
    (label, key): (&str, &str),
    (log_z, low, high): (f64, f64, f64),
    (runs, temperatures): (usize, usize),
    out: &mut Value,
) {
    say(
        g,
        format!(
            "{:<26}{log_z:.5} (±3σ [{low:.5}, {high:.5}], {runs} runs x {temperatures} temperatures)",
            format!("{label}:")
        ),
    );
    out[key] = json_f64(log_z);
    out[format!("{key}_minus_3sd")] = json_f64(low);
    out[format!("{key}_plus_3sd")] = json_f64(high);
}

/// A DBN's bound, with its top RBM's AIS `ln Z`.
fn print_dbn_bound(g: &Global, d: &DbnBoundResult, out: &mut Value) {
    let z = (d.log_z, d.log_z_minus_3sd, d.log_z_plus_3sd);
    let what = ("log Z (top RBM, AIS)", "log_z_top_ais");
    print_log_z(g, what, z, (d.runs, d.temperatures), out);
    say(
        g,
        format!(
            "log-likelihood bound:     {:.5} per sample (Monte Carlo standard error {:.5}, {} samples per image; ±3σ with AIS [{:.5}, {:.5}])",
            d.bound, d.std_error, d.samples, d.bound_low, d.bound_high
        ),
    );
    out["log_likelihood_bound"] = json_f64(d.bound);
    out["log_likelihood_bound_std_error"] = json_f64(d.std_error);
    out["log_likelihood_bound_low"] = json_f64(d.bound_low);
    out["log_likelihood_bound_high"] = json_f64(d.bound_high);
    out["bound_samples"] = json!(d.samples);
}
