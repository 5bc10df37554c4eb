//! `latent export`: the parameters (and standardisation statistics) as NPY
//! files or one safetensors file, for numpy and PyTorch; all the files are
//! written together or none is.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use latent_engine::data::npy;
use latent_engine::{Matrix, fsutil};
use serde_json::{Value, json};

use super::{load, say};
use crate::cli::error::{CliError, Result};
use crate::cli::io;
use crate::cli::{Global, Report};

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One `.npy` file per tensor.
    Npy,
    /// One `model.safetensors` file with every tensor.
    Safetensors,
}

/// Flags of `latent export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A model file written by `latent train`.
    pub model: PathBuf,
    /// The folder to write into (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// The format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Npy)]
    pub format: ExportFormat,
}

/// `latent export`: the parameters (and standardisation statistics) as NPY
/// files or one safetensors file, for numpy and PyTorch.
pub fn run(args: &ExportArgs, g: &Global) -> Result<Report> {
    let m = load(&args.model)?;
    let ck = &m.checkpoint;
    let tensors: Vec<(&str, &Matrix)> = ck
        .params
        .tensors()
        .iter()
        .chain(
            ck.persistent
                .iter()
                .filter(|t| t.name.starts_with("preprocess.")),
        )
        .map(|t| (t.name.as_str(), &t.value))
        .collect();
    let contents: Vec<(PathBuf, Vec<u8>)> = match args.format {
        ExportFormat::Npy => tensors
            .iter()
            .map(|(name, value)| {
                let p = args.out.join(format!("{name}.npy"));
                (p, npy::matrix_to_bytes(value))
            })
            .collect(),
        ExportFormat::Safetensors => vec![(
            args.out.join("model.safetensors"),
            safetensors(&tensors, ck)?,
        )],
    };
    let outputs: Vec<(&'static str, &Path)> = contents
        .iter()
        .map(|(p, _)| ("--out", p.as_path()))
        .collect();
    if args.out.exists() && !args.out.is_dir() {
        return Err(CliError::unsupported(
            format!("--out {}", args.out.display()),
            "not a folder (export writes its files into a folder, created if missing)",
        ));
    }
    io::check_distinct(&[("model", &args.model)], &outputs)?;
    io::create_dir(&args.out)?;
    // All files or none: a failure leaves every existing file as it was.
    fsutil::write_all_atomic(&contents)?;
    let files: Vec<String> = contents
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    say(
        g,
        format!(
            "exported {} tensor(s) to {}",
            tensors.len(),
            args.out.display()
        ),
    );
    Ok(Report::json(json!({
        "command": "export",
        "files": files,
    })))
}

/// The safetensors format: a little-endian `u64` header length, a JSON
/// header (`dtype`, `shape`, `data_offsets` per tensor, and string
/// metadata), then the raw little-endian `f32` data.
fn safetensors(tensors: &[(&str, &Matrix)], ck: &latent_engine::Checkpoint) -> Result<Vec<u8>> {
    let mut header = serde_json::Map::new();
    header.insert(
        "__metadata__".into(),
        json!({"kind": ck.model_kind, "hyperparameters": ck.hyperparameters}),
    );
    let mut data = Vec::new();
    for (name, value) in tensors {
        let start = data.len();
        for v in value.as_slice() {
            data.extend_from_slice(&v.to_le_bytes());
        }
        header.insert(
            (*name).to_string(),
            json!({"dtype": "F32", "shape": [value.rows(), value.cols()], "data_offsets": [start, data.len()]}),
        );
    }
    let mut text = Value::Object(header).to_string().into_bytes();
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + data.len());
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(&text);
    out.extend_from_slice(&data);
    Ok(out)
}
