//! `latent score`: a per-sample anomaly score (free energy, reconstruction
//! error or negative ELBO).

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use latent_engine::{Matrix, Par};
use latent_models::model::{Inference, Score};
use serde_json::json;

use super::{PrecisionFlag, load_with, mean, model_data, say};
use crate::cli::error::{CliError, Result};
use crate::cli::io::{check_paths, matrix_out, write_matrix};
use crate::cli::progress::json_f64;
use crate::cli::{Global, Report};

/// What `latent score` computes per sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScoreKind {
    /// Free energy `F(v)` (RBM only): higher means less likely.
    FreeEnergy,
    /// Reconstruction error: squared error for RBMs, DBNs, DBMs and VAEs (of the
    /// mean reconstruction); an autoencoder's own loss (cross-entropy or
    /// ½ squared error).
    Recon,
    /// Negative ELBO (VAE only), one latent sample per row.
    NegElbo,
    /// The energy ½‖x − z*D‖² + λ‖z*‖₁ + α‖z* − F(x)‖² at the exact
    /// (FISTA) codes (PSD only).
    Energy,
}

impl ScoreKind {
    /// The library's score.
    fn score(self) -> Score {
        match self {
            ScoreKind::FreeEnergy => Score::FreeEnergy,
            ScoreKind::Recon => Score::Reconstruction,
            ScoreKind::NegElbo => Score::NegElbo,
            ScoreKind::Energy => Score::Energy,
        }
    }

    /// Where the score is defined, for the error when it is not.
    fn defined_for(self) -> &'static str {
        match self {
            ScoreKind::FreeEnergy => "free energy is defined for an RBM",
            ScoreKind::NegElbo => "the ELBO is a VAE's",
            ScoreKind::Recon => "every model has one",
            ScoreKind::Energy => "the energy is a psd model's",
        }
    }
}

/// Flags of `latent score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// A model file written by `latent train`.
    pub model: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub precision: PrecisionFlag,
    /// The data to score.
    #[arg(long)]
    pub data: PathBuf,
    /// Output: one score per sample (.npy or .csv).
    #[arg(long)]
    pub out: PathBuf,
    /// The score (default: free energy for an RBM, negative ELBO for a VAE,
    /// the energy for a PSD model, reconstruction error otherwise).
    #[arg(long, value_enum)]
    pub metric: Option<ScoreKind>,
    /// Seed of the VAE's latent samples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Runs `latent score`.
pub fn run(args: &ScoreArgs, g: &Global) -> Result<Report> {
    matrix_out("--out", &args.out)?;
    check_paths(
        &[("model", &args.model), ("--data", &args.data)],
        &[("--out", &args.out)],
    )?;
    let m = load_with(&args.model, &args.precision)?;
    let x = model_data(&m, &args.data)?;
    let supported = m.model.supported_scores();
    let score = match args.metric {
        Some(kind) if !supported.contains(&kind.score()) => {
            return Err(CliError::arg(
                "--metric",
                kind.score().name(),
                format!(
                    "recon for this {} model ({})",
                    m.kind.name(),
                    kind.defined_for()
                ),
            ));
        }
        Some(kind) => kind.score(),
        None => supported[0],
    };
    let scores = m.model.scores(&x, score, args.seed, Par::All)?;
    let out = Matrix::from_slice(scores.len(), 1, &scores)?;
    write_matrix("--out", &args.out, &out)?;
    let mean = mean(&scores);
    let name = score.name();
    say(
        g,
        format!(
            "scored {} samples ({name}, mean {mean:.4}): {}",
            scores.len(),
            args.out.display()
        ),
    );
    Ok(Report::json(json!({
        "command": "score",
        "metric": name,
        "samples": scores.len(),
        "mean": json_f64(mean),
        "out": args.out.display().to_string(),
    })))
}
