//! NPY files (NumPy's `.npy`): versions 1.0, 2.0 and 3.0 headers, C order.
//!
//! Matrices may be stored as `f4`, `f8` (either byte order) or `u1`; labels
//! as any integer type up to 8 bytes. A 1-D array is read as one column; an
//! array of more than two dimensions keeps its first dimension as rows and
//! flattens the rest (so `(n, 28, 28)` images read as `n x 784`).
//! [`write_matrix`] writes `<f4`, version 1.0.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
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
pub(crate) struct Dtype {
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

/// An NPY file's header: the array's shape and element type, and where its
/// data starts.
struct NpyArray {
    shape: Vec<usize>,
    dtype: Dtype,
    descr: String,
    data_offset: usize,
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

/// Parses the header in `bytes`, the start of a file of `file_len` bytes
/// (all of it, or at least up to the end of the header), and checks that
/// the file holds exactly the data the header declares.
fn parse(path: &Path, bytes: &[u8], file_len: usize) -> Result<NpyArray> {
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
        file_len,
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
    })
}

/// Where the header of a file starting with `head` ends, when `head` has
/// the magic, a known version and the header length.
fn header_end(head: &[u8]) -> Option<usize> {
    if !head.starts_with(MAGIC) {
        return None;
    }
    match head.get(6)? {
        1 => Some(10 + u16::from_le_bytes([*head.get(8)?, *head.get(9)?]) as usize),
        2 | 3 => {
            let len: [u8; 4] = head.get(8..12)?.try_into().ok()?;
            Some(12 + u32::from_le_bytes(len) as usize)
        }
        _ => None,
    }
}

/// Opens an NPY file and parses its header, leaving the file at the start
/// of the data; only the header is read.
fn open(path: &Path) -> Result<(NpyArray, File)> {
    let io = |e| EngineError::io(path, "read", e);
    let mut f = File::open(path).map_err(io)?;
    let file_len = crate::fsutil::regular_len(path, &f)?;
    let file_len = usize::try_from(file_len).unwrap_or(usize::MAX);
    let mut head = Vec::new();
    (&mut f).take(12).read_to_end(&mut head).map_err(io)?;
    if let Some(end) = header_end(&head) {
        let rest = end.saturating_sub(head.len()) as u64;
        (&mut f).take(rest).read_to_end(&mut head).map_err(io)?;
    }
    let a = parse(path, &head, file_len)?;
    f.seek(SeekFrom::Start(a.data_offset as u64)).map_err(io)?;
    Ok((a, f))
}

/// Bytes of the file read at a time while converting a matrix (a multiple
/// of every element size).
const CHUNK_BYTES: usize = 1 << 16;

/// Converts `src`, whole elements of `N` bytes, into `dst` with `decode`.
fn convert<const N: usize>(src: &[u8], dst: &mut [f32], decode: impl Fn([u8; N]) -> f32) {
    for (d, b) in dst.iter_mut().zip(src.chunks_exact(N)) {
        *d = decode(b.try_into().expect("chunks of N bytes"));
    }
}

/// The index of the first NaN or infinity in `x`, if any (a branch-free
/// count first, as the values are almost always all finite).
fn first_non_finite(x: &[f32]) -> Option<usize> {
    let bad = x.iter().fold(0u32, |n, v| n + u32::from(!v.is_finite()));
    if bad == 0 {
        return None;
    }
    x.iter().position(|v| !v.is_finite())
}

impl Dtype {
    /// Converts the elements in `src` to `f32` into `dst` (one per element;
    /// the same values as `decode(..) as f32`), the matrix types `u1`, `f4`
    /// and `f8` (either byte order) without going through `f64`.
    fn decode_f32(self, src: &[u8], dst: &mut [f32]) {
        let be = self.big_endian;
        match (self.kind, self.size) {
            (Kind::Uint, 1) => dst.iter_mut().zip(src).for_each(|(d, &b)| *d = b as f32),
            (Kind::Float, 4) if be => convert(src, dst, f32::from_be_bytes),
            (Kind::Float, 4) => convert(src, dst, f32::from_le_bytes),
            (Kind::Float, _) if be => convert(src, dst, |b| f64::from_be_bytes(b) as f32),
            (Kind::Float, _) => convert(src, dst, |b| f64::from_le_bytes(b) as f32),
            _ => {
                for (d, b) in dst.iter_mut().zip(src.chunks_exact(self.size)) {
                    *d = self.decode(b) as f32;
                }
            }
        }
    }
}

/// A data matrix in an NPY file, open at its first value: the header, the
/// file, and where the next value starts.
struct MatrixReader<'p> {
    path: &'p Path,
    a: NpyArray,
    file: File,
    offset: usize,
    buf: Vec<u8>,
}

impl<'p> MatrixReader<'p> {
    /// Opens `path`, which must hold `f4`, `f8` or `u1` values.
    fn open(path: &'p Path) -> Result<Self> {
        let (a, file) = open(path)?;
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
        let offset = a.data_offset;
        Ok(MatrixReader {
            path,
            a,
            file,
            offset,
            buf: vec![0u8; CHUNK_BYTES],
        })
    }

    /// `(rows, cols)`: the first dimension, and the others flattened.
    fn shape(&self) -> (usize, usize) {
        (self.a.shape[0], self.a.shape[1..].iter().product())
    }

    /// Values read at a time: one chunk of the file.
    fn chunk_values(&self) -> usize {
        CHUNK_BYTES / self.a.dtype.size
    }

    /// Reads the next `dst.len()` values (at most [`chunk_values`]) as
    /// `f32`, checking for NaN and infinity.
    ///
    /// [`chunk_values`]: Self::chunk_values
    fn read(&mut self, dst: &mut [f32]) -> Result<()> {
        let s = self.a.dtype.size;
        let src = &mut self.buf[..dst.len() * s];
        self.file
            .read_exact(src)
            .map_err(|e| EngineError::io(self.path, "read", e))?;
        (self.a.dtype).decode_checked(self.path, self.offset as u64, src, dst)?;
        self.offset += src.len();
        Ok(())
    }
}

/// A data matrix in an NPY file opened for reading rows at random (see
/// [`FileRows`](crate::data::rows::FileRows)): the header checked as
/// [`read_matrix`] checks it, the data not read.
pub(crate) struct MatrixLayout {
    pub file: File,
    pub rows: usize,
    pub cols: usize,
    pub data_offset: u64,
    pub dtype: Dtype,
}

impl Dtype {
    /// Bytes per element.
    pub(crate) fn size(self) -> usize {
        self.size
    }

    /// Whether the elements are `f32` in the machine's byte order (read
    /// as they are, with no conversion).
    pub(crate) fn is_native_f32(self) -> bool {
        self.kind == Kind::Float && self.size == 4 && self.big_endian == cfg!(target_endian = "big")
    }

    /// [`decode_checked`](Self::decode_checked)'s check of values read as
    /// they are ([`is_native_f32`](Self::is_native_f32)): the same error
    /// for the first NaN or infinity, `offset` being where `values` start.
    pub(crate) fn check_finite(self, path: &Path, offset: u64, values: &[f32]) -> Result<()> {
        match first_non_finite(values) {
            Some(i) => Err(EngineError::NonFinite {
                path: path.to_path_buf(),
                location: Location::Offset(offset + (i * self.size) as u64),
                value: values[i] as f64,
            }),
            None => Ok(()),
        }
    }

    /// Converts the elements in `src` into `dst` as [`read_matrix`] does,
    /// checking for NaN and infinity; `offset` is where `src` starts in
    /// `path`, for the error.
    pub(crate) fn decode_checked(
        self,
        path: &Path,
        offset: u64,
        src: &[u8],
        dst: &mut [f32],
    ) -> Result<()> {
        self.decode_f32(src, dst);
        if self.kind == Kind::Float
            && let Some(i) = first_non_finite(dst)
        {
            return Err(EngineError::NonFinite {
                path: path.to_path_buf(),
                location: Location::Offset(offset + (i * self.size) as u64),
                value: self.decode(&src[i * self.size..]),
            });
        }
        Ok(())
    }
}

/// Opens the data matrix at `path` for reading rows at random: the checks
/// and errors of [`read_matrix`] on the header and the file's size.
pub(crate) fn open_matrix(path: &Path) -> Result<MatrixLayout> {
    let r = MatrixReader::open(path)?;
    let (rows, cols) = r.shape();
    Ok(MatrixLayout {
        rows,
        cols,
        data_offset: r.a.data_offset as u64,
        dtype: r.a.dtype,
        file: r.file,
    })
}

/// Reads an NPY array of `f4`, `f8` or `u1` as a matrix, checking for NaN
/// and infinity.
pub fn read_matrix(path: impl AsRef<Path>) -> Result<Matrix> {
    read_matrix_with(path, |_| {})
}

/// [`read_matrix`] that hands each piece of the matrix, once read, to `map`
/// (e.g. preprocessing in place): the file is read and converted a chunk at
/// a time straight into the matrix, with no copy of the whole data, and
/// `map` sees each value once, while it is in cache.
pub fn read_matrix_with(path: impl AsRef<Path>, mut map: impl FnMut(&mut [f32])) -> Result<Matrix> {
    let mut r = MatrixReader::open(path.as_ref())?;
    let ((rows, cols), block) = (r.shape(), r.chunk_values());
    Matrix::from_blocks(rows, cols, block, |dst| {
        for piece in dst.chunks_mut(block) {
            r.read(piece)?;
            map(piece);
        }
        Ok(())
    })
}

/// The smallest and largest value of the matrix that [`read_matrix`] would
/// read from `path` (with the same checks and errors), read a chunk at a
/// time without holding the data.
pub fn value_range(path: impl AsRef<Path>) -> Result<(f32, f32)> {
    let mut r = MatrixReader::open(path.as_ref())?;
    let (rows, cols) = r.shape();
    let mut values = vec![0f32; r.chunk_values()];
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    let mut left = rows * cols;
    while left > 0 {
        let piece = &mut values[..left.min(r.chunk_values())];
        r.read(piece)?;
        let (l, h) = crate::matrix::value_range(piece);
        (lo, hi) = (lo.min(l), hi.max(h));
        left -= piece.len();
    }
    Ok((lo, hi))
}

/// Reads a 1-D NPY array of non-negative integers as labels.
pub fn read_labels(path: impl AsRef<Path>) -> Result<Vec<u32>> {
    let path = path.as_ref();
    let (a, mut file) = open(path)?;
    let mut data = Vec::new();
    file.read_to_end(&mut data)
        .map_err(|e| EngineError::io(path, "read", e))?;
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
    data.chunks_exact(s)
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
