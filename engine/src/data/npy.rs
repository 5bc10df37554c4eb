//! NPY files (NumPy's `.npy`): versions 1.0, 2.0 and 3.0 headers, C order.
//!
//! Matrices may be stored as `f4`, `f8` (either byte order) or `u1`; labels
//! as any integer type up to 8 bytes. A 1-D array is read as one column; an
//! array of more than two dimensions keeps its first dimension as rows and
//! flattens the rest (so `(n, 28, 28)` images read as `n x 784`).
//! [`write_matrix`] writes `<f4`, version 1.0.

use std::path::Path;

use crate::data::Dataset;
use crate::error::{EngineError, Location, Result};
use crate::fsutil::write_atomic;
use crate::matrix::Matrix;

/// The six magic bytes every NPY file starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Float,
    Int,
    Uint,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dtype {
    kind: Kind,
    size: usize,
    big_endian: bool,
}

impl Dtype {
    fn parse(descr: &str) -> Option<Self> {
        let (order, rest) = match descr.as_bytes().first()? {
            b'<' | b'=' => (false, &descr[1..]),
            b'>' => (true, &descr[1..]),
            b'|' => (false, &descr[1..]),
            _ => (false, descr),
        };
        let kind = match rest.as_bytes().first()? {
            b'f' => Kind::Float,
            b'i' => Kind::Int,
            b'u' => Kind::Uint,
            _ => return None,
        };
        let size: usize = rest[1..].parse().ok()?;
        let ok = match kind {
            Kind::Float => size == 4 || size == 8,
            Kind::Int | Kind::Uint => matches!(size, 1 | 2 | 4 | 8),
        };
        ok.then_some(Dtype {
            kind,
            size,
            big_endian: order && size > 1,
        })
    }

    fn decode(self, b: &[u8]) -> f64 {
        let mut buf = [0u8; 8];
        buf[..self.size].copy_from_slice(&b[..self.size]);
        if self.big_endian {
            buf[..self.size].reverse();
        }
        match (self.kind, self.size) {
            (Kind::Float, 4) => f32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as f64,
            (Kind::Float, _) => f64::from_le_bytes(buf),
            (Kind::Uint, _) => u64::from_le_bytes(buf) as f64,
            (Kind::Int, n) => {
                // Sign-extend from n bytes.
                let shift = 64 - 8 * n as u32;
                ((u64::from_le_bytes(buf) << shift) as i64 >> shift) as f64
            }
        }
    }
}

struct NpyArray {
    shape: Vec<usize>,
    dtype: Dtype,
    descr: String,
    data_offset: usize,
    bytes: Vec<u8>,
}

/// A value in the header dictionary.
#[derive(Debug)]
enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

/// A tiny parser for the Python dict literal of an NPY header.
struct HeaderParser<'a> {
    path: &'a Path,
    text: &'a [u8],
    pos: usize,
    base: usize,
}

impl HeaderParser<'_> {
    fn err(&self, expected: &str) -> EngineError {
        let rest = &self.text[self.pos.min(self.text.len())..];
        let found = String::from_utf8_lossy(&rest[..rest.len().min(24)]).into_owned();
        EngineError::BadHeader {
            path: self.path.to_path_buf(),
            offset: (self.base + self.pos) as u64,
            expected: expected.into(),
            found: if found.is_empty() {
                "end of header".into()
            } else {
                format!("{found:?}")
            },
        }
    }

    fn ws(&mut self) {
        while self.pos < self.text.len() && self.text[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.text.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn string(&mut self) -> Result<String> {
        self.ws();
        let q = match self.text.get(self.pos) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err(self.err("a quoted string")),
        };
        let start = self.pos + 1;
        let len = self.text[start..]
            .iter()
            .position(|&c| c == q)
            .ok_or_else(|| self.err("a closing quote"))?;
        self.pos = start + len + 1;
        String::from_utf8(self.text[start..start + len].to_vec())
            .map_err(|_| self.err("UTF-8 text"))
    }

    fn usize(&mut self) -> Result<usize> {
        self.ws();
        let start = self.pos;
        while self.pos < self.text.len() && self.text[self.pos].is_ascii_digit() {
            self.pos += 1;
        }
        std::str::from_utf8(&self.text[start..self.pos])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                self.pos = start;
                self.err("a non-negative integer dimension")
            })
    }

    fn value(&mut self) -> Result<Value> {
        self.ws();
        let rest = &self.text[self.pos..];
        if rest.starts_with(b"True") {
            self.pos += 4;
            Ok(Value::Bool(true))
        } else if rest.starts_with(b"False") {
            self.pos += 5;
            Ok(Value::Bool(false))
        } else if self.eat(b'(') {
            let mut dims = Vec::new();
            loop {
                if self.eat(b')') {
                    break;
                }
                dims.push(self.usize()?);
                if self.eat(b')') {
                    break;
                }
                if !self.eat(b',') {
                    return Err(self.err("',' or ')' in the shape tuple"));
                }
            }
            Ok(Value::Tuple(dims))
        } else {
            Ok(Value::Str(self.string()?))
        }
    }

    fn dict(&mut self) -> Result<Vec<(String, Value)>> {
        if !self.eat(b'{') {
            return Err(self.err("'{' starting the header dictionary"));
        }
        let mut out = Vec::new();
        loop {
            if self.eat(b'}') {
                break;
            }
            let key = self.string()?;
            if !self.eat(b':') {
                return Err(self.err("':' after a key"));
            }
            let v = self.value()?;
            out.push((key, v));
            if self.eat(b'}') {
                break;
            }
            if !self.eat(b',') {
                return Err(self.err("',' or '}' in the header dictionary"));
            }
        }
        self.ws();
        if self.pos != self.text.len() {
            return Err(self.err("the end of the header after '}'"));
        }
        Ok(out)
    }
}

fn parse(path: &Path, bytes: Vec<u8>) -> Result<NpyArray> {
    let p = || path.to_path_buf();
    if bytes.is_empty() {
        return Err(EngineError::Empty {
            path: p(),
            expected: "an NPY file",
        });
    }
    if bytes.len() < 6 || &bytes[..6] != MAGIC {
        let n = bytes.len().min(6);
        return Err(EngineError::BadMagic {
            path: p(),
            expected: "\"\\x93NUMPY\" (NPY)".into(),
            found: format!("{:?}", String::from_utf8_lossy(&bytes[..n])),
        });
    }
    if bytes.len() < 8 {
        return Err(EngineError::Truncated {
            path: p(),
            offset: bytes.len() as u64,
            expected: "the 2-byte NPY format version".into(),
        });
    }
    let major = bytes[6];
    let (len_bytes, header_start) = match major {
        1 => (2usize, 10usize),
        2 | 3 => (4, 12),
        v => {
            return Err(EngineError::UnsupportedVersion {
                path: p(),
                found: v as u32,
                supported: 3,
            });
        }
    };
    if bytes.len() < header_start {
        return Err(EngineError::Truncated {
            path: p(),
            offset: bytes.len() as u64,
            expected: format!("the {len_bytes}-byte header length"),
        });
    }
    let header_len = if len_bytes == 2 {
        u16::from_le_bytes([bytes[8], bytes[9]]) as usize
    } else {
        u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
    };
    let data_offset = header_start + header_len;
    if bytes.len() < data_offset {
        return Err(EngineError::Truncated {
            path: p(),
            offset: bytes.len() as u64,
            expected: format!("a {header_len}-byte header (ending at byte {data_offset})"),
        });
    }
    let text = &bytes[header_start..data_offset];
    if major < 3 && !text.is_ascii() {
        return Err(EngineError::BadHeader {
            path: p(),
            offset: header_start as u64,
            expected: "an ASCII header (versions 1 and 2)".into(),
            found: "non-ASCII bytes".into(),
        });
    }
    let mut parser = HeaderParser {
        path,
        text,
        pos: 0,
        base: header_start,
    };
    let entries = parser.dict()?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (k, v) in entries {
        match (k.as_str(), v) {
            ("descr", Value::Str(s)) => descr = Some(s),
            ("fortran_order", Value::Bool(b)) => fortran = Some(b),
            ("shape", Value::Tuple(t)) => shape = Some(t),
            (k, v) => {
                return Err(EngineError::BadHeader {
                    path: p(),
                    offset: header_start as u64,
                    expected: "'descr': str, 'fortran_order': bool, 'shape': tuple".into(),
                    found: format!("{k:?}: {v:?}"),
                });
            }
        }
    }
    let missing = |what: &str| EngineError::BadHeader {
        path: p(),
        offset: header_start as u64,
        expected: format!("a {what:?} entry in the header"),
        found: "none".into(),
    };
    let descr = descr.ok_or_else(|| missing("descr"))?;
    let fortran = fortran.ok_or_else(|| missing("fortran_order"))?;
    let shape = shape.ok_or_else(|| missing("shape"))?;
    let dtype = Dtype::parse(&descr).ok_or_else(|| EngineError::UnsupportedDtype {
        path: p(),
        found: descr.clone(),
        expected: "'<f4', '<f8', '|u1' (or another byte order) for data; an integer type for labels",
    })?;
    if shape.is_empty() {
        return Err(EngineError::BadHeader {
            path: p(),
            offset: header_start as u64,
            expected: "an array of at least one dimension".into(),
            found: "shape () (a scalar)".into(),
        });
    }
    if fortran && shape.iter().filter(|&&d| d > 1).count() > 1 {
        return Err(EngineError::BadHeader {
            path: p(),
            offset: header_start as u64,
            expected: "fortran_order False (C order)".into(),
            found: "fortran_order True".into(),
        });
    }
    let data_len = shape
        .iter()
        .try_fold(dtype.size, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or_else(|| EngineError::BadHeader {
            path: p(),
            offset: header_start as u64,
            expected: "a shape whose size fits in memory".into(),
            found: format!("{shape:?}"),
        })?;
    super::check_payload(
        path,
        bytes.len(),
        data_offset,
        data_len,
        "at least one element (the shape has a 0)",
        || format!("{data_len} bytes of {descr} data for shape {shape:?}"),
    )?;
    Ok(NpyArray {
        shape,
        dtype,
        descr,
        data_offset,
        bytes,
    })
}

fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    crate::fsutil::read_file(path)
}

/// Reads an NPY array of `f4`, `f8` or `u1` as a matrix, checking for NaN
/// and infinity.
pub fn read_matrix(path: impl AsRef<Path>) -> Result<Matrix> {
    let path = path.as_ref();
    let a = parse(path, read_bytes(path)?)?;
    let ok = match a.dtype.kind {
        Kind::Float => true,
        Kind::Uint => a.dtype.size == 1,
        Kind::Int => false,
    };
    if !ok {
        return Err(EngineError::UnsupportedDtype {
            path: path.to_path_buf(),
            found: a.descr,
            expected: "'<f4', '<f8' or '|u1' for a data matrix",
        });
    }
    if a.shape.len() < 2 {
        return Err(EngineError::BadHeader {
            path: path.to_path_buf(),
            offset: 10,
            expected: "a 2-D array (rows x features; one sample is shape (1, n))".into(),
            found: format!("shape ({},), a 1-D array", a.shape[0]),
        });
    }
    let rows = a.shape[0];
    let cols = a.shape[1..].iter().product();
    let mut m = Matrix::zeros(rows, cols)?;
    let s = a.dtype.size;
    let data = &a.bytes[a.data_offset..];
    for (i, (dst, src)) in m
        .as_mut_slice()
        .iter_mut()
        .zip(data.chunks_exact(s))
        .enumerate()
    {
        let v = a.dtype.decode(src);
        let f = v as f32;
        if !f.is_finite() {
            return Err(EngineError::NonFinite {
                path: path.to_path_buf(),
                location: Location::Offset((a.data_offset + i * s) as u64),
                value: v,
            });
        }
        *dst = f;
    }
    Ok(m)
}

/// Reads a 1-D NPY array of non-negative integers as labels.
pub fn read_labels(path: impl AsRef<Path>) -> Result<Vec<u32>> {
    let path = path.as_ref();
    let a = parse(path, read_bytes(path)?)?;
    if a.dtype.kind == Kind::Float {
        return Err(EngineError::UnsupportedDtype {
            path: path.to_path_buf(),
            found: a.descr,
            expected: "an integer type for labels",
        });
    }
    if a.shape.len() != 1 {
        return Err(EngineError::BadHeader {
            path: path.to_path_buf(),
            offset: 10,
            expected: "a 1-D array of labels".into(),
            found: format!("shape {:?}", a.shape),
        });
    }
    let s = a.dtype.size;
    a.bytes[a.data_offset..]
        .chunks_exact(s)
        .enumerate()
        .map(|(i, b)| {
            let v = a.dtype.decode(b);
            if v < 0.0 || v > u32::MAX as f64 {
                Err(EngineError::Parse {
                    path: path.to_path_buf(),
                    location: Location::Offset((a.data_offset + i * s) as u64),
                    found: v.to_string(),
                    expected: "a label in 0..=4294967295",
                })
            } else {
                Ok(v as u32)
            }
        })
        .collect()
}

/// Reads a data matrix and optional labels from two NPY files.
pub fn read_dataset(x: impl AsRef<Path>, labels: Option<&Path>) -> Result<Dataset> {
    super::read_with_labels(x.as_ref(), labels, |p| read_matrix(p), |p| read_labels(p))
}

/// The bytes of an NPY version 1.0 `<f4` file holding `m` (shape
/// `(rows, cols)`), with the header padded so the data is 64-byte aligned.
pub fn matrix_to_bytes(m: &Matrix) -> Vec<u8> {
    let dict = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
        m.rows(),
        m.cols()
    );
    let unpadded = 10 + dict.len() + 1;
    let total = unpadded.div_ceil(64) * 64;
    let mut header = dict.into_bytes();
    header.resize(total - 10 - 1, b' ');
    header.push(b'\n');
    let mut out = Vec::with_capacity(total + 4 * m.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(&header);
    for v in m.as_slice() {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Writes `m` as an NPY file (`<f4`, shape `(rows, cols)`), atomically.
pub fn write_matrix(path: impl AsRef<Path>, m: &Matrix) -> Result<()> {
    write_atomic(path.as_ref(), &matrix_to_bytes(m))
}
