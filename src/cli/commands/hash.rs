//! `latent hash`: binary codes of data (semantic hashing): a model's
//! features in `[0, 1]` (an autoencoder's sigmoid code layer; the top
//! hidden probabilities of an RBM, a DBN or a DBM) thresholded and
//! bit-packed, written as an NPY `uint8` array of `samples x ceil(bits/8)`
//! in NumPy's `packbits` order (`np.unpackbits(codes, axis=1)` reads the
//! bits back). Also the reader and writer of such files, for `search`.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Args;
use latent_engine::Par;
use latent_engine::data::npy;
use latent_kernels::activation::Activation;
use latent_models::ae::BinaryCodes;
use latent_models::model::AnyModel;
use latent_models::persist::ModelFile;
use serde_json::json;

use super::{PrecisionFlag, load_with, model_data, say};
use crate::cli::error::{CliError, Result};
use crate::cli::io::{check_paths, write_atomic};
use crate::cli::{Global, Report};

/// Flags of `latent hash`.
#[derive(Debug, Args)]
pub struct HashArgs {
    /// A model file written by `latent train` (ae or deep-ae with a sigmoid
    /// code layer, rbm, gaussian-rbm, dbn, dbm).
    pub model: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub precision: PrecisionFlag,
    /// The data to hash (IDX, NPY or CSV).
    #[arg(long)]
    pub data: PathBuf,
    /// Output: the packed codes, an NPY uint8 array (samples x
    /// ceil(bits/8), np.packbits order).
    #[arg(long)]
    pub out: PathBuf,
    /// A feature above this value is a 1 bit [default: 0.5].
    #[arg(long, value_parser = parse_threshold, allow_negative_numbers = true)]
    pub threshold: Option<f32>,
}

/// `--threshold`'s value: a number in `[0, 1]`.
pub fn parse_threshold(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err("expected a number in [0, 1]".into()),
    }
}

/// Runs `latent hash`.
pub fn run(args: &HashArgs, g: &Global) -> Result<Report> {
    packed_out("--out", &args.out)?;
    check_paths(
        &[("model", &args.model), ("--data", &args.data)],
        &[("--out", &args.out)],
    )?;
    let m = load_with(&args.model, &args.precision)?;
    let threshold = args.threshold.unwrap_or(0.5);
    let codes = model_codes(&m, &args.model, &args.data, threshold)?;
    write_packed(&args.out, &codes)?;
    let ones: u64 = codes
        .as_words()
        .iter()
        .map(|w| u64::from(w.count_ones()))
        .sum();
    let mean_ones = ones as f64 / codes.len().max(1) as f64;
    say(
        g,
        format!(
            "hashed {} samples into {}-bit codes ({} bytes each, {mean_ones:.2} bits set on average): {}",
            codes.len(),
            codes.bits(),
            codes.packed_bytes(),
            args.out.display()
        ),
    );
    Ok(Report::json(json!({
        "command": "hash",
        "out": args.out.display().to_string(),
        "samples": codes.len(),
        "bits": codes.bits(),
        "bytes_per_code": codes.packed_bytes(),
        "threshold": threshold,
        "mean_bits_set": mean_ones,
    })))
}

/// The binary codes of the rows of `data` under the model `m` (read from
/// `path`): its top features, which must lie in `[0, 1]`, above
/// `threshold`.
pub fn model_codes(m: &ModelFile, path: &Path, data: &Path, threshold: f32) -> Result<BinaryCodes> {
    check_hashable(m, path)?;
    let x = model_data(m, data)?;
    let top = m.model.sizes().len() - 1;
    let features = m.model.encode_layer(&x, top, Par::All)?;
    if let Some((i, v)) = features
        .as_slice()
        .iter()
        .enumerate()
        .find(|(_, v)| !(0.0..=1.0).contains(*v))
    {
        return Err(CliError::mismatch(
            format!(
                "{}: the features of sample {}, feature {} (binary codes threshold features in [0, 1])",
                path.display(),
                i / features.cols() + 1,
                i % features.cols() + 1
            ),
            "a value in [0, 1]",
            v,
        ));
    }
    Ok(BinaryCodes::from_activations(
        features.as_slice(),
        features.rows(),
        features.cols(),
        threshold,
    )?)
}

/// Refuses the kinds whose features are not probabilities.
fn check_hashable(m: &ModelFile, path: &Path) -> Result<()> {
    const WHY: &str = "binary codes need features in [0, 1]: an ae or deep-ae with a sigmoid code layer, or the hidden probabilities of an rbm, gaussian-rbm, dbn or dbm";
    match &m.model {
        AnyModel::Rbm(_) | AnyModel::Dbn(_) | AnyModel::Dbm(_) => Ok(()),
        AnyModel::Ae(a) | AnyModel::DeepAe(a) => match a.config().activations.last() {
            Some(Activation::Sigmoid) => Ok(()),
            other => Err(CliError::unsupported(
                format!(
                    "latent hash with the {} model {} (a {} code layer)",
                    m.kind.name(),
                    path.display(),
                    other.map_or("missing", |a| a.name())
                ),
                WHY,
            )),
        },
        _ => Err(CliError::unsupported(
            format!(
                "latent hash with the {} model {}",
                m.kind.name(),
                path.display()
            ),
            WHY,
        )),
    }
}

/// Checks an output path for packed codes: an `.npy` file.
pub fn packed_out(flag: &'static str, path: &Path) -> Result<()> {
    let npy = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    if npy {
        Ok(())
    } else {
        Err(CliError::arg(
            flag,
            path.display(),
            "a file name ending in .npy (packed codes are an NPY uint8 array)",
        ))
    }
}

/// The bytes of an NPY version 1.0 `|u1` file of `rows x cols` `data`.
pub fn packed_npy_bytes(data: &[u8], rows: usize, cols: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let total = (10 + dict.len() + 1).div_ceil(64) * 64;
    let mut header = dict.into_bytes();
    header.resize(total - 10 - 1, b' ');
    header.push(b'\n');
    let mut out = Vec::with_capacity(total + data.len());
    out.extend_from_slice(npy::MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(data);
    out
}

/// Writes `codes` as an NPY uint8 array in `packbits` order, atomically.
pub fn write_packed(path: &Path, codes: &BinaryCodes) -> Result<()> {
    let bytes = packed_npy_bytes(&codes.to_packbits(), codes.len(), codes.packed_bytes());
    write_atomic(path, &bytes)
}

/// Reads packed codes (an NPY uint8 array, one code a row, as `latent
/// hash` writes) given by `flag`.
pub fn read_packed(flag: &'static str, path: &Path) -> Result<BinaryCodes> {
    let descr = npy_descr(path)?;
    if !matches!(descr.as_str(), "|u1" | "<u1" | ">u1" | "=u1" | "u1") {
        return Err(CliError::mismatch(
            format!("{flag} {}: the NPY element type", path.display()),
            "'|u1' (uint8 packed codes, as latent hash writes)",
            format!("'{descr}'"),
        ));
    }
    let m = npy::read_matrix(path)?;
    let bytes: Vec<u8> = m.as_slice().iter().map(|&v| v as u8).collect();
    if m.cols() == 0 {
        return Err(CliError::mismatch(
            format!("{flag} {}: bytes per code", path.display()),
            "at least 1",
            0,
        ));
    }
    Ok(BinaryCodes::from_packbits(&bytes, m.rows(), m.cols())?)
}

/// The `descr` of an NPY file's header (the element type), as written.
fn npy_descr(path: &Path) -> Result<String> {
    let mut head = Vec::new();
    File::open(path)
        .and_then(|f| f.take(4096).read_to_end(&mut head))
        .map_err(|e| CliError::io(path, "read", e))?;
    let text = String::from_utf8_lossy(&head);
    let descr = text
        .split_once("'descr'")
        .and_then(|(_, rest)| rest.split('\'').nth(1))
        .filter(|_| head.starts_with(npy::MAGIC));
    descr.map(str::to_string).ok_or_else(|| CliError::Format {
        path: path.to_path_buf(),
        expected: "an NPY file (magic \\x93NUMPY) of packed codes, as latent hash writes".into(),
    })
}
