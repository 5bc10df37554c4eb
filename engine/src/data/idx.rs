//! IDX files, the format of MNIST: plain or gzip-compressed (detected by
//! the gzip magic bytes, whatever the file is called).
//!
//! Layout (all integers big-endian): two zero bytes, a type byte
//! (`0x08` u8, `0x09` i8, `0x0B` i16, `0x0C` i32, `0x0D` f32, `0x0E` f64),
//! the number of dimensions `d`, then `d` u32 sizes, then the elements in
//! row-major order. The file must hold exactly the declared elements.

use std::fs::File;
use std::path::Path;

use crate::data::Dataset;
use crate::error::{EngineError, Location, Result};
use crate::fsutil::read_maybe_gzip;
use crate::matrix::Matrix;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dtype {
    U8,
    I8,
    I16,
    I32,
    F32,
    F64,
}

impl Dtype {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0x08 => Dtype::U8,
            0x09 => Dtype::I8,
            0x0B => Dtype::I16,
            0x0C => Dtype::I32,
            0x0D => Dtype::F32,
            0x0E => Dtype::F64,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Dtype::U8 | Dtype::I8 => 1,
            Dtype::I16 => 2,
            Dtype::I32 | Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }

    fn is_float(self) -> bool {
        matches!(self, Dtype::F32 | Dtype::F64)
    }

    /// Decodes the big-endian element at the start of `b`.
    fn decode(self, b: &[u8]) -> f64 {
        match self {
            Dtype::U8 => b[0] as f64,
            Dtype::I8 => b[0] as i8 as f64,
            Dtype::I16 => i16::from_be_bytes([b[0], b[1]]) as f64,
            Dtype::I32 => i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f64,
            Dtype::F32 => f32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f64,
            Dtype::F64 => f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        }
    }
}

/// A parsed, size-checked IDX file.
struct IdxArray {
    dims: Vec<usize>,
    dtype: Dtype,
    data_offset: usize,
    bytes: Vec<u8>,
}

impl IdxArray {
    fn count(&self) -> usize {
        self.dims.iter().product()
    }

    fn element(&self, i: usize) -> f64 {
        let s = self.dtype.size();
        let o = self.data_offset + i * s;
        self.dtype.decode(&self.bytes[o..o + s])
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn parse(path: &Path) -> Result<IdxArray> {
    let bytes = read_maybe_gzip(path, "an IDX file")?;
    let (dims, dtype, data_offset) = parse_header(path, &bytes, bytes.len())?;
    Ok(IdxArray {
        dims,
        dtype,
        data_offset,
        bytes,
    })
}

/// The longest IDX header: the magic number and 255 dimension sizes.
pub(crate) const MAX_HEADER: usize = 4 + 4 * 255;

/// Parses the header at the start of `bytes` (the file's first bytes: all
/// of them, or at least [`MAX_HEADER`]) of a file of `file_len` bytes and
/// checks that the file holds exactly the declared elements: the
/// dimensions, the element type and where the data starts.
fn parse_header(path: &Path, bytes: &[u8], file_len: usize) -> Result<(Vec<usize>, Dtype, usize)> {
    let p = || path.to_path_buf();
    if bytes.len() < 4 {
        return Err(EngineError::Truncated {
            path: p(),
            offset: bytes.len() as u64,
            expected: "the 4-byte IDX magic number".into(),
        });
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(EngineError::BadMagic {
            path: p(),
            expected: "00 00 <type> <dims> (IDX)".into(),
            found: hex(&bytes[..4]),
        });
    }
    let dtype = Dtype::from_code(bytes[2]).ok_or_else(|| EngineError::UnsupportedDtype {
        path: p(),
        found: format!("IDX type code {:#04x}", bytes[2]),
        expected: "0x08 (u8), 0x09 (i8), 0x0b (i16), 0x0c (i32), 0x0d (f32) or 0x0e (f64)",
    })?;
    let ndims = bytes[3] as usize;
    if ndims == 0 {
        return Err(EngineError::BadHeader {
            path: p(),
            offset: 3,
            expected: "at least one dimension".into(),
            found: "0 dimensions".into(),
        });
    }
    let data_offset = 4 + 4 * ndims;
    if bytes.len() < data_offset {
        return Err(EngineError::Truncated {
            path: p(),
            offset: bytes.len() as u64,
            expected: format!("{ndims} dimension sizes (header ends at byte {data_offset})"),
        });
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|d| {
            let o = 4 + 4 * d;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let data_len = dims
        .iter()
        .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or_else(|| EngineError::BadHeader {
            path: p(),
            offset: 4,
            expected: "dimension sizes whose product fits in memory".into(),
            found: format!("{dims:?}"),
        })?;
    super::check_payload(
        path,
        file_len,
        data_offset,
        data_len,
        "at least one element (a dimension size is 0)",
        || format!("{data_len} bytes of data for dimensions {dims:?}"),
    )?;
    Ok((dims, dtype, data_offset))
}

/// An uncompressed IDX matrix opened for reading rows at random (see
/// [`FileRows`](crate::data::rows::FileRows)): the header checked as
/// [`read_matrix`] checks it, the data not read.
pub(crate) struct MatrixLayout {
    pub file: File,
    pub rows: usize,
    pub cols: usize,
    pub data_offset: u64,
    pub dtype: Dtype,
}

/// Opens the uncompressed IDX file at `head` (its first bytes, at least
/// [`MAX_HEADER`] or all) for reading rows: the checks and errors of
/// [`read_matrix`] on the header and the file's size.
pub(crate) fn open_matrix(
    path: &Path,
    file: File,
    head: &[u8],
    file_len: usize,
) -> Result<MatrixLayout> {
    let (dims, dtype, data_offset) = parse_header(path, head, file_len)?;
    let rows = dims[0];
    Ok(MatrixLayout {
        file,
        rows,
        cols: dims.iter().product::<usize>() / rows,
        data_offset: data_offset as u64,
        dtype,
    })
}

impl Dtype {
    /// Bytes per element.
    pub(crate) fn bytes(self) -> usize {
        self.size()
    }

    /// Converts the elements in `src` into `dst` as [`read_matrix`] does,
    /// checking floats for NaN and infinity; `offset` is where `src`
    /// starts in `path`, for the error.
    pub(crate) fn decode_checked(
        self,
        path: &Path,
        offset: u64,
        src: &[u8],
        dst: &mut [f32],
    ) -> Result<()> {
        if self == Dtype::U8 {
            dst.iter_mut().zip(src).for_each(|(d, &b)| *d = b as f32);
            return Ok(());
        }
        let size = self.size();
        for (i, (d, b)) in dst.iter_mut().zip(src.chunks_exact(size)).enumerate() {
            let v = self.decode(b);
            let f = v as f32;
            if self.is_float() && !f.is_finite() {
                return Err(EngineError::NonFinite {
                    path: path.to_path_buf(),
                    location: Location::Offset(offset + (i * size) as u64),
                    value: v,
                });
            }
            *d = f;
        }
        Ok(())
    }
}

/// Reads an IDX file as a matrix: the first dimension is the rows, the
/// others are flattened into the columns (a 1-D file gives one column).
/// Float files are checked for NaN and infinity.
pub fn read_matrix(path: impl AsRef<Path>) -> Result<Matrix> {
    let path = path.as_ref();
    let a = parse(path)?;
    let rows = a.dims[0];
    let cols = a.count() / rows;
    let mut m = Matrix::zeros(rows, cols)?;
    if a.dtype == Dtype::U8 {
        let data = &a.bytes[a.data_offset..];
        for (dst, &src) in m.as_mut_slice().iter_mut().zip(data) {
            *dst = src as f32;
        }
        return Ok(m);
    }
    for (i, dst) in m.as_mut_slice().iter_mut().enumerate() {
        let v = a.element(i);
        let f = v as f32;
        if a.dtype.is_float() && !f.is_finite() {
            return Err(EngineError::NonFinite {
                path: path.to_path_buf(),
                location: Location::Offset((a.data_offset + i * a.dtype.size()) as u64),
                value: v,
            });
        }
        *dst = f;
    }
    Ok(m)
}

/// Reads a 1-D IDX file of integer labels (u8, i8, i16 or i32, all
/// non-negative).
pub fn read_labels(path: impl AsRef<Path>) -> Result<Vec<u32>> {
    let path = path.as_ref();
    let a = parse(path)?;
    if a.dims.len() != 1 {
        return Err(EngineError::BadHeader {
            path: path.to_path_buf(),
            offset: 3,
            expected: "1 dimension (a vector of labels)".into(),
            found: format!("{} dimensions {:?}", a.dims.len(), a.dims),
        });
    }
    if a.dtype.is_float() {
        return Err(EngineError::UnsupportedDtype {
            path: path.to_path_buf(),
            found: format!("{:?}", a.dtype).to_lowercase(),
            expected: "an integer type (u8, i8, i16, i32) for labels",
        });
    }
    (0..a.count())
        .map(|i| {
            let v = a.element(i);
            if v < 0.0 {
                Err(EngineError::Parse {
                    path: path.to_path_buf(),
                    location: Location::Offset((a.data_offset + i * a.dtype.size()) as u64),
                    found: v.to_string(),
                    expected: "a non-negative label",
                })
            } else {
                Ok(v as u32)
            }
        })
        .collect()
}

/// Reads an IDX image file and, optionally, its IDX label file; errors if
/// the counts differ.
pub fn read_dataset(images: impl AsRef<Path>, labels: Option<&Path>) -> Result<Dataset> {
    super::read_with_labels(
        images.as_ref(),
        labels,
        |p| read_matrix(p),
        |p| read_labels(p),
    )
}
