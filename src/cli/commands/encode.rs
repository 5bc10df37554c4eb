//! `latent encode`: hidden probabilities `p(h|v)` (a DBN: the up-pass; a
//! DBM: the mean-field posterior, of one layer or all), an autoencoder's
//! code `h_L`, a VAE's posterior mean `μ(x)`, a PSD model's fast codes
//! `F(x)` (with `--exact` its FISTA codes `z*`).

use std::path::PathBuf;

use clap::Args;
use latent_engine::{Matrix, Par};
use latent_models::psd::PsdScratch;
use serde_json::json;

use super::{PrecisionFlag, load_with, model_data, say};
use crate::cli::error::{CliError, Result};
use crate::cli::io::{check_paths, matrix_out, write_matrix};
use crate::cli::{Global, Report};

/// Flags of `latent encode`.
#[derive(Debug, Args)]
pub struct EncodeArgs {
    /// A model file written by `latent train`.
    pub model: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub precision: PrecisionFlag,
    /// The data to encode (IDX, NPY or CSV).
    #[arg(long)]
    pub data: PathBuf,
    /// Output: features, one row per sample (.npy or .csv).
    #[arg(long)]
    pub out: PathBuf,
    /// DBN, DBM: the layer whose features to write (1 = first hidden;
    /// default top); autoencoders give their code layer only.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..), conflicts_with = "all_layers")]
    pub layer: Option<u32>,
    /// DBM: the mean-field posteriors of every hidden layer, side by side
    /// (first hidden layer first).
    #[arg(long)]
    pub all_layers: bool,
    /// psd: the exact sparse codes z* = argmin_z E(x, z) by FISTA, instead
    /// of the fast encoder's prediction F(x).
    #[arg(long, conflicts_with_all = ["layer", "all_layers"])]
    pub exact: bool,
}

/// Runs `latent encode`.
pub fn run(args: &EncodeArgs, g: &Global) -> Result<Report> {
    matrix_out("--out", &args.out)?;
    check_paths(
        &[("model", &args.model), ("--data", &args.data)],
        &[("--out", &args.out)],
    )?;
    let m = load_with(&args.model, &args.precision)?;
    if args.all_layers && m.model.as_dbm().is_none() {
        return Err(CliError::unsupported(
            format!(
                "--all-layers with the {} model {}",
                m.kind.name(),
                args.model.display()
            ),
            "it applies to dbm models (a dbn: --layer L)",
        ));
    }
    if args.exact && m.model.as_psd().is_none() {
        return Err(CliError::unsupported(
            format!(
                "--exact with the {} model {}",
                m.kind.name(),
                args.model.display()
            ),
            "it applies to psd models (the FISTA codes instead of the fast encoder's)",
        ));
    }
    let x = model_data(&m, &args.data)?;
    let codes = if let (true, Some(psd)) = (args.exact, m.model.as_psd()) {
        let mut z = Matrix::zeros(x.rows(), psd.config().codes)?;
        psd.exact_codes_into(x.view(), z.view_mut(), &mut PsdScratch::default(), Par::All)?;
        z
    } else if args.all_layers {
        m.model.encode_all_layers(&x, Par::All)?
    } else {
        let level = m
            .model
            .encode_level(args.layer.map(|l| l as usize))
            .map_err(|expected| CliError::arg("--layer", args.layer.unwrap_or(0), expected))?;
        m.model.encode_layer(&x, level, Par::All)?
    };
    write_matrix("--out", &args.out, &codes)?;
    say(
        g,
        format!(
            "encoded {} samples into {} features: {}",
            codes.rows(),
            codes.cols(),
            args.out.display()
        ),
    );
    Ok(Report::json(json!({
        "command": "encode",
        "out": args.out.display().to_string(),
        "shape": [codes.rows(), codes.cols()],
    })))
}
