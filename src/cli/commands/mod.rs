//! The subcommands that use a trained model, one file each: `info`,
//! `encode`, `reconstruct`, `score`, `sample`, `eval`, `filters`,
//! `export`, `predict`, `hash` and `search` (semantic hashing: packed binary
//! codes and retrieval over them).
//!
//! Each loads the model file through the library
//! ([`latent_models::persist::load`]), reads the data (applying the
//! preprocessing the model was trained with), checks that the data has as
//! many features as the model has visible units, and only then computes
//! (through [`latent_models::model::AnyModel`]) and writes its outputs
//! (atomically: a failure leaves an existing output untouched). A command
//! that does not fit the model's kind (`sample` on an autoencoder, `--ais`
//! on a VAE) fails with one line saying so.

pub mod encode;
pub mod eval;
pub mod eval_dbm;
pub mod eval_labels;
pub mod export;
pub mod filters;
pub mod hash;
pub mod info;
pub mod predict;
pub mod reconstruct;
pub mod sample;
pub mod score;
pub mod search;

use std::path::Path;

use latent_engine::{Matrix, fsutil};
use latent_kernels::Precision;
use latent_models::model::Inference;
use latent_models::persist::{ModelFile, Preprocess};

use crate::cli::Global;
use crate::cli::error::{CliError, Result};
use crate::cli::image::Shade;
use crate::cli::io::{check_paths, matrix_out, png_out, read_matrix};

/// A result line on standard output (not with `--quiet` or `--json`).
pub fn say(g: &Global, s: impl AsRef<str>) {
    if !g.quiet && !g.json {
        crate::cli::print_line(s.as_ref());
    }
}

/// Loads a model file.
pub fn load(path: &Path) -> Result<ModelFile> {
    Ok(latent_models::persist::load(path)?)
}

/// The `--precision` flag of the commands that run a model's products.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct PrecisionFlag {
    /// Precision of the matrix products, f32 or bf16 [default: the model
    /// file's, f32 unless it was trained with --precision bf16].
    #[arg(long, value_parser = parse_precision)]
    pub precision: Option<Precision>,
}

/// `--precision`'s value.
pub fn parse_precision(text: &str) -> std::result::Result<Precision, String> {
    text.parse::<Precision>()
        .map_err(|_| "expected f32 or bf16".to_string())
}

/// Loads a model file, its products in `flag`'s precision when given.
pub fn load_with(path: &Path, flag: &PrecisionFlag) -> Result<ModelFile> {
    let mut m = load(path)?;
    if let Some(p) = flag.precision {
        m.model.set_precision(p);
    }
    Ok(m)
}

/// Reads `path`, checks its columns and rows, and applies the model's
/// preprocessing.
pub fn model_data(m: &ModelFile, path: &Path) -> Result<Matrix> {
    let mut x = read_matrix(path)?;
    if x.cols() != m.model.n_visible() {
        return Err(CliError::mismatch(
            format!(
                "{}: features per sample vs the model's visible units",
                path.display()
            ),
            m.model.n_visible(),
            x.cols(),
        ));
    }
    if x.rows() == 0 {
        return Err(CliError::mismatch(
            format!("{}: samples", path.display()),
            "at least one",
            0,
        ));
    }
    m.prepare(&mut x, path)?;
    Ok(x)
}

/// Checks, before any is allocated, that `count` chains of the model `m`
/// (samples, AIS runs) fit in the memory available: each holds a few
/// vectors as wide as the visible units and the widest layer (estimated
/// as four `f32` vectors of each, and the per-run bookkeeping); the error
/// names `flag` and the bytes.
pub fn check_chains_fit(m: &ModelFile, flag: &'static str, count: u64) -> Result<()> {
    let width = m
        .checkpoint
        .params
        .tensors()
        .iter()
        .map(|t| t.value.rows().max(t.value.cols()))
        .max()
        .unwrap_or(0);
    let per_chain = 16 * (m.model.n_visible() as u128 + width as u128) + 64;
    fsutil::check_memory(|| format!("{flag} {count}"), per_chain * count as u128)?;
    Ok(())
}

/// The mean of `v` in f64.
pub fn mean(v: &[f32]) -> f64 {
    v.iter().map(|&e| e as f64).sum::<f64>() / v.len().max(1) as f64
}

/// Checks the `--out` (matrix) and `--png` (picture) paths of a command that
/// needs at least one of them, before any work is done.
pub fn check_outputs(
    inputs: &[(&'static str, &Path)],
    out: Option<&Path>,
    png: Option<&Path>,
) -> Result<()> {
    if out.is_none() && png.is_none() {
        return Err(CliError::arg(
            "--out/--png",
            "(neither given)",
            "an output file (.npy/.csv) and/or a picture (.png)",
        ));
    }
    if let Some(o) = out {
        matrix_out("--out", o)?;
    }
    if let Some(p) = png {
        png_out("--png", p)?;
    }
    let outputs: Vec<(&'static str, &Path)> = [("--out", out), ("--png", png)]
        .into_iter()
        .filter_map(|(f, p)| Some((f, p?)))
        .collect();
    check_paths(inputs, &outputs)
}

/// Grey levels for the model's data: `[0, 1]` as black..white for binary
/// or scaled data, per-tile stretching for real-valued (standardised) data.
pub fn shade_for(m: &ModelFile) -> Shade {
    match (&m.preprocess, m.model.unit_outputs()) {
        (Preprocess::Standardize(_), _) => Shade::PerTile,
        (pre, unit) if unit || pre.maps_to_unit() => Shade::Unit,
        _ => Shade::PerTile,
    }
}
