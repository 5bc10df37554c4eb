//! `latent eval` on a DBM file: the mean-field reconstruction error; the
//! exact `ln Z`, log-likelihood and variational bound of a small DBM; with
//! `--ais`, the AIS `ln Z` (±3σ) and the mean variational lower bound per
//! row with it. `--mf-iters`/`--mf-tol` run the bound's mean field further
//! than the model's own settings.

use latent_engine::Par;
use latent_models::dbm::MeanFieldOptions;
use latent_models::model::{
    AisOptions, DBM_EXACT_ROW_UNITS, DBM_EXACT_UNITS, DbmEvaluation, EvalOptions,
};
use latent_models::persist::ModelFile;
use serde_json::{Value, json};

use super::eval::{EvalArgs, print_log_z};
use super::{check_chains_fit, model_data, say};
use crate::cli::error::{CliError, Result};
use crate::cli::progress::json_f64;
use crate::cli::{Global, Report};

/// The mean-field flag given, if any (they apply to dbm files only).
pub fn mean_field_flag(args: &EvalArgs) -> Option<&'static str> {
    match (args.mf_iters, args.mf_tol) {
        (Some(_), _) => Some("--mf-iters"),
        (None, Some(_)) => Some("--mf-tol"),
        (None, None) => None,
    }
}

/// `--mf-tol`: a finite number ≥ 0.
pub fn non_negative_f32(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err("expected a finite number >= 0".into()),
    }
}

/// Runs `latent eval` on the DBM file `m`.
pub fn run(args: &EvalArgs, g: &Global, m: &ModelFile) -> Result<Report> {
    let dbm = m
        .model
        .as_dbm()
        .ok_or_else(|| CliError::mismatch("eval_dbm: model kind", "dbm", m.kind.name()))?;
    let own = dbm.mean_field_options();
    let mean_field = MeanFieldOptions {
        max_iters: args.mf_iters.map_or(own.max_iters, |n| n as usize),
        tol: args.mf_tol.unwrap_or(own.tol),
    };
    if args.ais {
        check_chains_fit(m, "--ais-runs", args.ais_runs.into())?;
    }
    let x = model_data(m, &args.data)?;
    let opts = EvalOptions {
        ais: args.ais.then_some(AisOptions {
            runs: args.ais_runs as usize,
            steps: args.ais_steps as usize,
        }),
        iw_samples: 1,
        seed: args.seed,
        bound_samples: args.bound_samples as usize, // DBNs only
    };
    let e = m
        .model
        .evaluate_dbm(&x, &opts, Some(mean_field), Par::All)?;
    let d = e
        .dbm
        .as_ref()
        .ok_or_else(|| CliError::mismatch("eval of a dbm: results", "the DBM's", "none"))?;
    say(g, format!("samples:                  {}", e.samples));
    let sq = e.squared_error;
    say(
        g,
        format!("reconstruction error:     {sq:.5} (mean-field, per sample)"),
    );
    let mut out = json!({
        "command": "eval",
        "samples": e.samples,
        "reconstruction_error": json_f64(sq),
        "mf_iters": d.mean_field.max_iters,
        "mf_tol": json_f64(d.mean_field.tol.into()),
    });
    print_likelihoods(g, d, &mut out);
    Ok(Report::json(out))
}

/// The exact values, the AIS estimate and the bounds of `d`.
fn print_likelihoods(g: &Global, d: &DbmEvaluation, out: &mut Value) {
    let mf = format!(
        "mean field: up to {} sweeps to tolerance {}, ran {}",
        d.mean_field.max_iters, d.mean_field.tol, d.mf_sweeps
    );
    if d.exact.is_some() || d.ais.is_some() {
        out["mf_sweeps"] = json!(d.mf_sweeps);
    }
    if let Some(x) = d.exact {
        say(g, format!("log Z (exact):            {:.5}", x.log_z));
        say(
            g,
            format!(
                "log-likelihood (exact):   {:.5} per sample",
                x.log_likelihood
            ),
        );
        say(
            g,
            format!("bound (exact log Z):      {:.5} per sample ({mf})", x.bound),
        );
        out["log_z_exact"] = json_f64(x.log_z);
        out["log_likelihood_exact"] = json_f64(x.log_likelihood);
        out["bound_exact"] = json_f64(x.bound);
    }
    if let Some(a) = d.ais {
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
                "bound (AIS log Z):        {:.5} per sample (±3σ [{:.5}, {:.5}]; {mf})",
                a.bound, a.bound_low, a.bound_high
            ),
        );
        out["bound_ais"] = json_f64(a.bound);
        out["bound_ais_low"] = json_f64(a.bound_low);
        out["bound_ais_high"] = json_f64(a.bound_high);
        out["ais_runs"] = json!(a.runs);
        out["ais_temperatures"] = json!(a.temperatures);
    } else if let Some(units) = d.exact_skipped {
        say(
            g,
            format!(
                "log-likelihood:           not computed ({units} units to enumerate > {DBM_EXACT_UNITS} for ln Z or {DBM_EXACT_ROW_UNITS} per sample; pass --ais for the bound)"
            ),
        );
    }
}
