//! Data in and out: readers for IDX (MNIST), NPY and CSV, writers for NPY
//! and CSV, the [`Dataset`] they produce, the MNIST helpers, and
//! [`rows`]: rows fetched by index, from memory or read from a file when
//! they are needed.
//!
//! Every reader checks its input completely (magic numbers, declared vs
//! actual sizes, element types, ragged rows, NaN/Inf, empty files) and
//! returns either a whole dataset or a typed [`EngineError`] naming the
//! file, the byte offset or line, and what was expected — never a partial
//! result or a panic.

pub mod csv;
pub mod idx;
pub mod mnist;
pub mod npy;
pub mod rows;

use crate::error::{EngineError, Result};
use crate::matrix::Matrix;
use std::path::Path;

/// Samples (one a row) with optional integer labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The samples, `n x features`.
    pub x: Matrix,
    /// One label per sample, when the source has them.
    pub labels: Option<Vec<u32>>,
}

/// Reads a data file and, optionally, its label file with the given
/// readers; errors, naming both files, unless there is one label per row.
pub(crate) fn read_with_labels(
    x_path: &Path,
    labels_path: Option<&Path>,
    read_x: impl FnOnce(&Path) -> Result<Matrix>,
    read_labels: impl FnOnce(&Path) -> Result<Vec<u32>>,
) -> Result<Dataset> {
    let x = read_x(x_path)?;
    let labels = match labels_path {
        Some(l) => {
            let v = read_labels(l)?;
            if v.len() != x.rows() {
                return Err(EngineError::SizeMismatch {
                    what: format!(
                        "{} vs {}: number of labels vs number of rows",
                        l.display(),
                        x_path.display()
                    ),
                    expected: x.rows() as u64,
                    found: v.len() as u64,
                });
            }
            Some(v)
        }
        None => None,
    };
    Dataset::new(x, labels)
}

/// Checks that a binary array file of `file_len` bytes holds exactly the
/// `data_len` bytes its header declares from `data_offset` on: not none
/// (`empty` says why the shape gives none), not fewer (`declared` describes
/// the data for the message), not more.
pub(crate) fn check_payload(
    path: &Path,
    file_len: usize,
    data_offset: usize,
    data_len: usize,
    empty: &'static str,
    declared: impl FnOnce() -> String,
) -> Result<()> {
    if data_len == 0 {
        return Err(EngineError::NoElements {
            path: path.to_path_buf(),
            declared: declared(),
            expected: empty,
        });
    }
    let end = data_offset + data_len;
    if file_len < end {
        return Err(EngineError::Truncated {
            path: path.to_path_buf(),
            offset: file_len as u64,
            expected: format!("{} (the file should be {end} bytes)", declared()),
        });
    }
    if file_len > end {
        return Err(EngineError::TrailingData {
            path: path.to_path_buf(),
            offset: end as u64,
            extra: (file_len - end) as u64,
        });
    }
    Ok(())
}

impl Dataset {
    /// A dataset; errors if there is not exactly one label per row.
    pub fn new(x: Matrix, labels: Option<Vec<u32>>) -> Result<Self> {
        if let Some(l) = &labels
            && l.len() != x.rows()
        {
            return Err(EngineError::SizeMismatch {
                what: "dataset: number of labels vs number of samples".into(),
                expected: x.rows() as u64,
                found: l.len() as u64,
            });
        }
        Ok(Dataset { x, labels })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.x.rows()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.x.rows() == 0
    }

    /// Number of features (columns).
    pub fn features(&self) -> usize {
        self.x.cols()
    }

    /// The first `n` samples and the rest, as two datasets.
    pub fn split_at(&self, n: usize) -> Result<(Dataset, Dataset)> {
        if n > self.len() {
            return Err(EngineError::InvalidArgument {
                what: "Dataset::split_at: split point",
                value: n.to_string(),
                expected: "at most the number of samples",
            });
        }
        let rest = self.len() - n;
        let a = Dataset {
            x: self.x.slice_rows(0, n)?,
            labels: self.labels.as_ref().map(|l| l[..n].to_vec()),
        };
        let b = Dataset {
            x: self.x.slice_rows(n, rest)?,
            labels: self.labels.as_ref().map(|l| l[n..].to_vec()),
        };
        Ok((a, b))
    }
}
