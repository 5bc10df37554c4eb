//! Numeric CSV files, with or without a header line.
//!
//! Fields are separated by a delimiter (`,` by default) and trimmed; lines
//! end in `\n` or `\r\n`; blank lines are skipped. Every data row must have
//! as many fields as the first one. With [`Header::Auto`] the first line is
//! a header exactly when every one of its fields is non-empty and not a
//! number; otherwise it is data, and a bad or empty field in it is an
//! error naming line 1 and the field, as on any other line. One column may
//! hold integer labels ([`CsvOptions::label_column`]).

use std::fmt::Write as _;
use std::path::Path;

use crate::data::Dataset;
use crate::error::{EngineError, Location, Result};
use crate::fsutil::write_atomic;
use crate::matrix::Matrix;

/// Whether the first line is a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Header {
    /// A header exactly when every field of the first line is non-empty
    /// and not a number (a first line that is partly numeric is data).
    #[default]
    Auto,
    /// The first line is a header.
    Present,
    /// Every line is data.
    Absent,
}

/// How to read a CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvOptions {
    /// The field separator.
    pub delimiter: u8,
    /// Whether there is a header line.
    pub header: Header,
    /// A 0-based column holding non-negative integer labels, removed from
    /// the data matrix.
    pub label_column: Option<usize>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: b',',
            header: Header::Auto,
            label_column: None,
        }
    }
}

/// A CSV file's data, labels and column names (when it has a header).
#[derive(Debug, Clone, PartialEq)]
pub struct CsvData {
    /// The samples and labels.
    pub dataset: Dataset,
    /// The header's names of the data columns (the label column removed).
    pub columns: Option<Vec<String>>,
}

fn shorten(s: &str) -> String {
    if s.len() <= 40 {
        s.to_string()
    } else {
        let mut end = 40;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    }
}

/// Reads a numeric CSV file.
pub fn read(path: impl AsRef<Path>, opts: &CsvOptions) -> Result<CsvData> {
    let path = path.as_ref();
    let p = || path.to_path_buf();
    let bytes = crate::fsutil::read_file(path)?;
    if bytes.is_empty() {
        return Err(EngineError::Empty {
            path: p(),
            expected: "CSV data",
        });
    }
    let delim = opts.delimiter as char;
    let mut values: Vec<f32> = Vec::new();
    let mut labels: Vec<u32> = Vec::new();
    let mut width: Option<usize> = None;
    let mut columns = None;
    let mut first = true;
    let mut rows = 0usize;
    for (idx, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = idx + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw).map_err(|e| EngineError::Parse {
            path: p(),
            location: Location::Line {
                line: line_no,
                field: 0,
            },
            found: format!("invalid UTF-8 at byte {} of the line", e.valid_up_to()),
            expected: "UTF-8 text",
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(delim).map(str::trim).collect();
        if first {
            first = false;
            let is_header = match opts.header {
                Header::Present => true,
                Header::Absent => false,
                Header::Auto => fields
                    .iter()
                    .all(|f| !f.is_empty() && f.parse::<f64>().is_err()),
            };
            if is_header {
                if let Some(c) = opts.label_column
                    && c >= fields.len()
                {
                    return Err(label_col_err(path, c, fields.len()));
                }
                columns = Some(
                    fields
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| Some(*i) != opts.label_column)
                        .map(|(_, f)| f.to_string())
                        .collect::<Vec<_>>(),
                );
                width = Some(fields.len());
                continue;
            }
        }
        match width {
            None => {
                if let Some(c) = opts.label_column
                    && c >= fields.len()
                {
                    return Err(label_col_err(path, c, fields.len()));
                }
                width = Some(fields.len());
            }
            Some(w) if w != fields.len() => {
                return Err(EngineError::RaggedRow {
                    path: p(),
                    line: line_no,
                    expected: w,
                    found: fields.len(),
                });
            }
            Some(_) => {}
        }
        for (j, f) in fields.iter().enumerate() {
            let location = Location::Line {
                line: line_no,
                field: j + 1,
            };
            if Some(j) == opts.label_column {
                let l = f.parse::<u32>().map_err(|_| EngineError::Parse {
                    path: p(),
                    location,
                    found: shorten(f),
                    expected: "a non-negative integer label",
                })?;
                labels.push(l);
                continue;
            }
            let v = f.parse::<f64>().map_err(|_| EngineError::Parse {
                path: p(),
                location,
                found: shorten(f),
                expected: "a number",
            })?;
            let x = v as f32;
            if !x.is_finite() {
                return Err(EngineError::NonFinite {
                    path: p(),
                    location,
                    value: v,
                });
            }
            values.push(x);
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(EngineError::Empty {
            path: p(),
            expected: "at least one data row",
        });
    }
    let cols = values.len() / rows;
    let x = Matrix::from_slice(rows, cols, &values)?;
    let labels = opts.label_column.map(|_| labels);
    Ok(CsvData {
        dataset: Dataset::new(x, labels)?,
        columns,
    })
}

fn label_col_err(path: &Path, c: usize, n: usize) -> EngineError {
    EngineError::RaggedRow {
        path: path.to_path_buf(),
        line: 1,
        expected: c + 1,
        found: n,
    }
}

/// The text of a CSV file holding `m`, with an optional header. Values are
/// written in Rust's shortest round-trip form, so reading them back gives
/// the same `f32` bits.
pub fn to_string(m: &Matrix, header: Option<&[&str]>) -> Result<String> {
    let mut out = String::new();
    if let Some(h) = header {
        if h.len() != m.cols() {
            return Err(EngineError::SizeMismatch {
                what: "CSV header: names vs matrix columns".into(),
                expected: m.cols() as u64,
                found: h.len() as u64,
            });
        }
        out.push_str(&h.join(","));
        out.push('\n');
    }
    for i in 0..m.rows() {
        for (j, v) in m.row(i).iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            let _ = write!(out, "{v}");
        }
        out.push('\n');
    }
    Ok(out)
}

/// Writes `m` as a CSV file with an optional header, atomically.
pub fn write(path: impl AsRef<Path>, m: &Matrix, header: Option<&[&str]>) -> Result<()> {
    write_atomic(path.as_ref(), to_string(m, header)?.as_bytes())
}
