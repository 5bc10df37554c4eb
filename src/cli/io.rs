//! Files in and out: data matrices (IDX plain or gzip, NPY, CSV, detected
//! by magic bytes and extension), matrix outputs (NPY or CSV by extension,
//! through the engine's atomic writers) and atomic writes of other outputs
//! (PNG, JSON), so an existing output file is never left half-written or
//! destroyed by a failed command.

use std::fs::{self, File};
use std::io::Read;
use std::path::Path;

use latent_engine::data::{csv, idx, npy};
use latent_engine::{Matrix, fsutil};

use crate::cli::error::{CliError, Result};

/// A data file format this program reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFormat {
    /// IDX (MNIST), plain or gzip-compressed.
    Idx,
    /// NumPy `.npy`.
    Npy,
    /// Numeric CSV, with or without a header line.
    Csv,
}

const EXPECTED_DATA: &str =
    "IDX (plain or .gz), NPY (magic \\x93NUMPY) or CSV (numeric text, .csv)";

fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Decides a data file's format: a known extension first (so that its
/// reader reports precisely what is wrong with a damaged file), then the
/// magic bytes (IDX, gzip, NPY), then text that looks like CSV.
pub fn detect_format(path: &Path) -> Result<DataFormat> {
    let mut head = [0u8; 8];
    let mut f = File::open(path).map_err(|e| CliError::io(path, "open", e))?;
    fsutil::regular_len(path, &f)?;
    let n = f
        .read(&mut head)
        .map_err(|e| CliError::io(path, "read", e))?;
    let head = &head[..n];
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match extension(path).as_str() {
        "npy" => return Ok(DataFormat::Npy),
        "csv" | "tsv" | "txt" => return Ok(DataFormat::Csv),
        "idx" | "gz" => return Ok(DataFormat::Idx),
        _ if name.contains("-ubyte") || name.contains(".idx") => return Ok(DataFormat::Idx),
        _ => {}
    }
    if head.starts_with(b"\x93NUMPY") {
        return Ok(DataFormat::Npy);
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(DataFormat::Idx);
    }
    if head.len() >= 4 && head[0] == 0 && head[1] == 0 && matches!(head[2], 0x08..=0x0e) {
        return Ok(DataFormat::Idx);
    }
    if !head.is_empty()
        && head
            .iter()
            .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        return Ok(DataFormat::Csv);
    }
    Err(CliError::Format {
        path: path.to_path_buf(),
        expected: EXPECTED_DATA.into(),
    })
}

/// Reads a data file as a matrix, one sample a row (IDX images are
/// flattened: a `n x 28 x 28` file gives `n x 784`).
pub fn read_matrix(path: &Path) -> Result<Matrix> {
    Ok(match detect_format(path)? {
        DataFormat::Idx => idx::read_matrix(path)?,
        DataFormat::Npy => npy::read_matrix(path)?,
        DataFormat::Csv => csv::read(path, &csv::CsvOptions::default())?.dataset.x,
    })
}

/// Reads integer labels (IDX, NPY, or a one-column CSV).
pub fn read_labels(path: &Path) -> Result<Vec<u32>> {
    Ok(match detect_format(path)? {
        DataFormat::Idx => idx::read_labels(path)?,
        DataFormat::Npy => npy::read_labels(path)?,
        DataFormat::Csv => {
            let opts = csv::CsvOptions {
                label_column: Some(0),
                ..csv::CsvOptions::default()
            };
            let d = csv::read(path, &opts)?.dataset;
            if d.x.cols() != 0 {
                return Err(CliError::mismatch(
                    format!("{}: columns of a label file", path.display()),
                    1,
                    d.x.cols() + 1,
                ));
            }
            d.labels.unwrap_or_default()
        }
    })
}

/// The kind of a matrix output file, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatrixOut {
    /// `.npy`
    Npy,
    /// `.csv`
    Csv,
}

/// Checks an output path for a matrix (before any work is done).
pub fn matrix_out(flag: &'static str, path: &Path) -> Result<MatrixOut> {
    match extension(path).as_str() {
        "npy" => Ok(MatrixOut::Npy),
        "csv" => Ok(MatrixOut::Csv),
        _ => Err(CliError::arg(
            flag,
            path.display(),
            "a file name ending in .npy or .csv",
        )),
    }
}

/// Checks an output path for a picture.
pub fn png_out(flag: &'static str, path: &Path) -> Result<()> {
    if extension(path) == "png" {
        Ok(())
    } else {
        Err(CliError::arg(
            flag,
            path.display(),
            "a file name ending in .png",
        ))
    }
}

/// Writes a matrix as NPY or CSV (by extension), atomically.
pub fn write_matrix(flag: &'static str, path: &Path, m: &Matrix) -> Result<()> {
    match matrix_out(flag, path)? {
        MatrixOut::Npy => npy::write_matrix(path, m)?,
        MatrixOut::Csv => csv::write(path, m, None)?,
    }
    Ok(())
}

/// Writes `bytes` to the output `path` by the engine's output discipline
/// ([`fsutil::write_atomic`]): a regular file is replaced atomically
/// keeping its mode, a link's target is replaced, `/dev/null`, a terminal
/// or a FIFO is written straight through; on failure an existing `path`
/// is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(fsutil::write_atomic(path, bytes)?)
}

/// Checks a command's files before any work is done: every output can be
/// written ([`fsutil::check_output`]: not a directory, a block device or a
/// socket), and no output is the same file (device and inode, through
/// links) as an input or as another output. Each path comes with the flag
/// that named it. (`train --resume m --out m` is allowed: the resumed file
/// is read whole before anything is written, then replaced atomically.)
pub fn check_paths(
    inputs: &[(&'static str, &Path)],
    outputs: &[(&'static str, &Path)],
) -> Result<()> {
    for (flag, out) in outputs {
        check_folder(flag, out)?;
    }
    check_distinct(inputs, outputs)
}

/// Checks that the folder an output goes into exists (else the error
/// would name a temporary file, after the work was done).
fn check_folder(flag: &str, out: &Path) -> Result<()> {
    let folder = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => return Ok(()),
    };
    let why = match fs::metadata(folder) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => "is not a folder",
        Err(_) => "does not exist",
    };
    Err(CliError::unsupported(
        format!("{flag} {}", out.display()),
        format!("cannot write there: {} {why}", folder.display()),
    ))
}

/// Checks that every output can be written ([`fsutil::check_output`]) and
/// that no output is the same file as an input or an earlier output (the
/// outputs' folders may still be missing: `export` creates its folder).
pub fn check_distinct(
    inputs: &[(&'static str, &Path)],
    outputs: &[(&'static str, &Path)],
) -> Result<()> {
    for (i, (flag, out)) in outputs.iter().enumerate() {
        fsutil::check_output(out)?;
        let Some(id) = fsutil::file_id(out) else {
            continue;
        };
        let earlier = outputs[..i].iter().map(|(f, p)| (f, p, "output"));
        let named = inputs.iter().map(|(f, p)| (f, p, "input")).chain(earlier);
        for (other_flag, other, role) in named {
            if fsutil::file_id(other) == Some(id) {
                return Err(CliError::SameFile {
                    flag,
                    path: out.to_path_buf(),
                    other_flag,
                    other: other.to_path_buf(),
                    role,
                });
            }
        }
    }
    Ok(())
}

/// Creates a directory (and its parents) for outputs.
pub fn create_dir(path: &Path) -> Result<()> {
    fs::create_dir_all(path).map_err(|e| CliError::io(path, "create the directory", e))
}
