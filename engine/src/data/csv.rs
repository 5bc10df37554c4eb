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
    let bytes = crate::fsutil::read_file(path)?;
    if bytes.is_empty() {
        return Err(empty(path));
    }
    let mut values: Vec<f32> = Vec::new();
    let mut labels: Vec<u32> = Vec::new();
    let mut lines = Lines::new(path, opts);
    for (idx, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        lines.line(idx + 1, raw, &mut values, &mut labels)?;
    }
    let rows = lines.data_rows()?;
    let cols = values.len() / rows;
    let x = Matrix::from_slice(rows, cols, &values)?;
    let labels = opts.label_column.map(|_| labels);
    Ok(CsvData {
        dataset: Dataset::new(x, labels)?,
        columns: lines.columns,
    })
}

/// The error for an empty file.
pub(crate) fn empty(path: &Path) -> EngineError {
    EngineError::Empty {
        path: path.to_path_buf(),
        expected: "CSV data",
    }
}

/// The checks of [`read`], line by line: the header, the width of every
/// row, every field a number (or a label), no NaN or infinity. Fed every
/// line of a file in order, whole or streamed.
pub(crate) struct Lines<'a> {
    path: &'a Path,
    opts: &'a CsvOptions,
    width: Option<usize>,
    first: bool,
    rows: usize,
    /// The header's names of the data columns, when there is a header.
    pub columns: Option<Vec<String>>,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(path: &'a Path, opts: &'a CsvOptions) -> Self {
        Lines {
            path,
            opts,
            width: None,
            first: true,
            rows: 0,
            columns: None,
        }
    }

    /// Checks line `line_no` (1-based; `raw` without its `\n`): a data row
    /// appends its values to `values` and its label to `labels` and gives
    /// `true`; a blank line or the header gives `false`.
    pub(crate) fn line(
        &mut self,
        line_no: usize,
        raw: &[u8],
        values: &mut Vec<f32>,
        labels: &mut Vec<u32>,
    ) -> Result<bool> {
        let (path, opts) = (self.path, self.opts);
        let line = utf8_line(path, line_no, raw)?;
        if line.trim().is_empty() {
            return Ok(false);
        }
        let fields: Vec<&str> = line.split(opts.delimiter as char).map(str::trim).collect();
        if std::mem::take(&mut self.first) {
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
                self.columns = Some(
                    fields
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| Some(*i) != opts.label_column)
                        .map(|(_, f)| f.to_string())
                        .collect::<Vec<_>>(),
                );
                self.width = Some(fields.len());
                return Ok(false);
            }
        }
        match self.width {
            None => {
                if let Some(c) = opts.label_column
                    && c >= fields.len()
                {
                    return Err(label_col_err(path, c, fields.len()));
                }
                self.width = Some(fields.len());
            }
            Some(w) if w != fields.len() => {
                return Err(EngineError::RaggedRow {
                    path: path.to_path_buf(),
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
                labels.push(parse_label(path, f, location)?);
            } else {
                values.push(parse_value(path, f, location)?);
            }
        }
        self.rows += 1;
        Ok(true)
    }

    /// The number of data rows seen; an error when there is none.
    pub(crate) fn data_rows(&self) -> Result<usize> {
        if self.rows == 0 {
            return Err(EngineError::Empty {
                path: self.path.to_path_buf(),
                expected: "at least one data row",
            });
        }
        Ok(self.rows)
    }
}

/// `raw` as text (without a final `\r`); an error naming line `line_no`
/// unless it is UTF-8.
fn utf8_line<'r>(path: &Path, line_no: usize, raw: &'r [u8]) -> Result<&'r str> {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    std::str::from_utf8(raw).map_err(|e| EngineError::Parse {
        path: path.to_path_buf(),
        location: Location::Line {
            line: line_no,
            field: 0,
        },
        found: format!("invalid UTF-8 at byte {} of the line", e.valid_up_to()),
        expected: "UTF-8 text",
    })
}

/// A label field.
fn parse_label(path: &Path, f: &str, location: Location) -> Result<u32> {
    f.parse::<u32>().map_err(|_| EngineError::Parse {
        path: path.to_path_buf(),
        location,
        found: shorten(f),
        expected: "a non-negative integer label",
    })
}

/// A data field: a finite number, as `f32`.
fn parse_value(path: &Path, f: &str, location: Location) -> Result<f32> {
    let v = f.parse::<f64>().map_err(|_| EngineError::Parse {
        path: path.to_path_buf(),
        location,
        found: shorten(f),
        expected: "a number",
    })?;
    let x = v as f32;
    if !x.is_finite() {
        return Err(EngineError::NonFinite {
            path: path.to_path_buf(),
            location,
            value: v,
        });
    }
    Ok(x)
}

/// Parses the data row `raw` (one line, without its `\n`, checked before
/// by [`Lines`]) into `out`, one value per data column, with [`read`]'s
/// conversions; allocates nothing. An error (the file changed since it
/// was checked) names the line by its byte `offset` in the file.
pub(crate) fn parse_row(
    path: &Path,
    opts: &CsvOptions,
    (offset, raw): (u64, &[u8]),
    out: &mut [f32],
) -> Result<()> {
    let at = Location::Offset(offset);
    let line = utf8_line(path, 0, raw).map_err(|_| EngineError::Parse {
        path: path.to_path_buf(),
        location: at,
        found: "invalid UTF-8".into(),
        expected: "the UTF-8 data row checked when the file was opened",
    })?;
    let (mut fields, mut k) = (0, 0);
    for (j, f) in line
        .split(opts.delimiter as char)
        .map(str::trim)
        .enumerate()
    {
        fields += 1;
        if Some(j) == opts.label_column {
            continue;
        }
        let Some(o) = out.get_mut(k) else { break };
        *o = parse_value(path, f, at)?;
        k += 1;
    }
    let want = out.len() + usize::from(opts.label_column.is_some());
    if fields != want || k != out.len() {
        return Err(EngineError::Parse {
            path: path.to_path_buf(),
            location: at,
            found: "a row of another width".into(),
            expected: "the data row checked when the file was opened",
        });
    }
    Ok(())
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
