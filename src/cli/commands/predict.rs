//! `latent predict`: a classifier's class of every sample, and with
//! `--proba` its class probabilities. CSV: a header `class` (`class,p0,…`
//! with `--proba`), then one row per sample. NPY: the classes as a 1-D
//! `int64` array (what `--labels` reads back), or with `--proba` the
//! probabilities as a `float32` array of one row per sample.

use std::path::PathBuf;

use clap::Args;
use latent_engine::{Matrix, Par};
use serde_json::json;

use super::{PrecisionFlag, load_with, model_data, say};
use crate::cli::error::{CliError, Result};
use crate::cli::io::{MatrixOut, check_paths, matrix_out, write_atomic, write_matrix};
use crate::cli::{Global, Report};

/// Flags of `latent predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// A classifier model file written by `latent train classifier`.
    pub model: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub precision: PrecisionFlag,
    /// The data to classify.
    #[arg(long)]
    pub data: PathBuf,
    /// Output: the classes (.csv: a column `class`; .npy: int64).
    #[arg(long)]
    pub out: PathBuf,
    /// Write the class probabilities too (.csv: columns class,p0,p1,…;
    /// .npy: the probabilities alone, float32, one row per sample).
    #[arg(long)]
    pub proba: bool,
}

/// Runs `latent predict`.
pub fn run(args: &PredictArgs, g: &Global) -> Result<Report> {
    let format = matrix_out("--out", &args.out)?;
    check_paths(
        &[("model", &args.model), ("--data", &args.data)],
        &[("--out", &args.out)],
    )?;
    let m = load_with(&args.model, &args.precision)?;
    if m.model.as_classifier().is_none() {
        return Err(CliError::unsupported(
            format!("latent predict {}", args.model.display()),
            format!(
                "a {} model has no classes; predict works with classifier models (latent train classifier)",
                m.kind.name()
            ),
        ));
    }
    let x = model_data(&m, &args.data)?;
    let (classes, p) = m.model.predict_classes(&x, Par::All)?;
    match (format, args.proba) {
        (MatrixOut::Csv, proba) => {
            write_atomic(&args.out, csv_text(&classes, &p, proba).as_bytes())?
        }
        (MatrixOut::Npy, false) => write_atomic(&args.out, &npy_int64(&classes))?,
        (MatrixOut::Npy, true) => write_matrix("--out", &args.out, &p)?,
    }
    say(
        g,
        format!(
            "predicted {} samples ({} classes{}): {}",
            classes.len(),
            p.cols(),
            if args.proba {
                ", with probabilities"
            } else {
                ""
            },
            args.out.display()
        ),
    );
    if let Some(s) = &m.status {
        say(g, format!("note: {s}"));
    }
    Ok(Report::json(json!({
        "command": "predict",
        "samples": classes.len(),
        "classes": p.cols(),
        "proba": args.proba,
        "out": args.out.display().to_string(),
    })))
}

/// The CSV text: `class` (and `p0,…`) then a row per sample.
fn csv_text(classes: &[u32], p: &Matrix, proba: bool) -> String {
    let k = p.cols();
    let mut text = String::from("class");
    if proba {
        for j in 0..k {
            text.push_str(&format!(",p{j}"));
        }
    }
    text.push('\n');
    for (i, c) in classes.iter().enumerate() {
        text.push_str(&c.to_string());
        if proba {
            for v in p.row(i) {
                text.push_str(&format!(",{v}"));
            }
        }
        text.push('\n');
    }
    text
}

/// An NPY version 1.0 file of a 1-D `<i8` array holding `values`.
fn npy_int64(values: &[u32]) -> Vec<u8> {
    let dict = format!(
        "{{'descr': '<i8', 'fortran_order': False, 'shape': ({},), }}",
        values.len()
    );
    let unpadded = 10 + dict.len() + 1;
    let total = unpadded.div_ceil(64) * 64;
    let mut header = dict.into_bytes();
    header.resize(total - 10 - 1, b' ');
    header.push(b'\n');
    let mut out = Vec::with_capacity(total + 8 * values.len());
    out.extend_from_slice(b"\x93NUMPY");
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(&header);
    for &v in values {
        out.extend_from_slice(&(v as i64).to_le_bytes());
    }
    out
}
