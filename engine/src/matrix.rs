//! A dense, row-major `f32` matrix with 64-byte aligned storage.
//!
//! Storage is a `Vec` of 64-byte chunks (`#[repr(C, align(64))]`, sixteen
//! `f32` each) viewed as `&[f32]` through `bytemuck`, so the first element
//! of every matrix sits on a cache line (and an AVX-512 register) boundary
//! without any `unsafe` here. Views convert straight into the kernels'
//! [`MatRef`]/[`MatMut`].

use bytemuck::{Pod, Zeroable};
use latent_kernels::{MatMut, MatRef};

use crate::error::{EngineError, Result};

/// Sixteen `f32`: one cache line, the unit of aligned storage.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C, align(64))]
struct Chunk([f32; 16]);

const CHUNK: usize = 16;

/// A dense row-major `rows x cols` matrix of `f32` whose storage starts on
/// a 64-byte boundary.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Matrix {
    chunks: Vec<Chunk>,
    rows: usize,
    cols: usize,
}

fn checked_len(rows: usize, cols: usize) -> Result<usize> {
    rows.checked_mul(cols)
        .filter(|&n| n <= isize::MAX as usize / 4)
        .ok_or_else(|| EngineError::InvalidArgument {
            what: "matrix shape",
            value: format!("{rows}x{cols}"),
            expected: "a size that fits in memory",
        })
}

impl Matrix {
    /// A `rows x cols` matrix of zeros. A size the allocator cannot give is
    /// an error naming the shape and the bytes (not an abort).
    pub fn zeros(rows: usize, cols: usize) -> Result<Self> {
        let mut m = Self::reserved(rows, cols)?;
        let n = m.chunks.capacity();
        m.chunks.resize(n, Chunk([0.0; CHUNK]));
        Ok(m)
    }

    /// A `rows x cols` matrix whose storage is reserved but holds no chunk
    /// yet (so nothing is written): [`zeros`](Self::zeros) and
    /// [`from_blocks`](Self::from_blocks) fill it.
    fn reserved(rows: usize, cols: usize) -> Result<Self> {
        let len = checked_len(rows, cols)?;
        let n = len.div_ceil(CHUNK);
        let mut chunks = Vec::new();
        chunks
            .try_reserve_exact(n)
            .map_err(|_| EngineError::InvalidArgument {
                what: "matrix shape",
                value: format!(
                    "{rows}x{cols} ({} bytes)",
                    n.saturating_mul(std::mem::size_of::<Chunk>())
                ),
                expected: "a size the memory can hold",
            })?;
        Ok(Matrix { chunks, rows, cols })
    }

    /// A `rows x cols` matrix whose elements, row-major, `fill` writes a
    /// block at a time: blocks of `block` elements (rounded up to a
    /// multiple of 16; the last one shorter), each zeroed just before, so a
    /// large matrix is written while it is in cache instead of zeroed in one
    /// pass and filled in another. The first error of `fill` is returned.
    pub fn from_blocks(
        rows: usize,
        cols: usize,
        block: usize,
        mut fill: impl FnMut(&mut [f32]) -> Result<()>,
    ) -> Result<Self> {
        let mut m = Self::reserved(rows, cols)?;
        let (len, per) = (m.len(), block.div_ceil(CHUNK).max(1));
        let mut done = 0;
        while done < len {
            let start = m.chunks.len();
            let end = (start + per).min(m.chunks.capacity());
            m.chunks.resize(end, Chunk([0.0; CHUNK]));
            let values = bytemuck::cast_slice_mut::<Chunk, f32>(&mut m.chunks[start..]);
            let n = values.len().min(len - done);
            fill(&mut values[..n])?;
            done += n;
        }
        Ok(m)
    }

    /// A `rows x cols` matrix filled with `value`.
    pub fn filled(rows: usize, cols: usize, value: f32) -> Result<Self> {
        let mut m = Self::zeros(rows, cols)?;
        m.as_mut_slice().fill(value);
        Ok(m)
    }

    /// A matrix holding `data` (row-major); `data.len()` must be `rows * cols`.
    pub fn from_slice(rows: usize, cols: usize, data: &[f32]) -> Result<Self> {
        let len = checked_len(rows, cols)?;
        if data.len() != len {
            return Err(EngineError::Shape {
                what: "Matrix::from_slice: data length",
                expected: format!("{rows}x{cols} = {len} elements"),
                found: format!("{} elements", data.len()),
            });
        }
        let mut m = Self::zeros(rows, cols)?;
        m.as_mut_slice().copy_from_slice(data);
        Ok(m)
    }

    /// A matrix whose element `(i, j)` is `f(i, j)`.
    pub fn from_fn(
        rows: usize,
        cols: usize,
        mut f: impl FnMut(usize, usize) -> f32,
    ) -> Result<Self> {
        let mut m = Self::zeros(rows, cols)?;
        for i in 0..rows {
            for (j, v) in m.row_mut(i).iter_mut().enumerate() {
                *v = f(i, j);
            }
        }
        Ok(m)
    }

    /// The smallest and largest element (`(inf, -inf)` when there is none;
    /// NaN is passed over), in one vectorised pass.
    pub fn value_range(&self) -> (f32, f32) {
        value_range(self.as_slice())
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// Whether the matrix has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All elements, row-major.
    pub fn as_slice(&self) -> &[f32] {
        let len = self.len();
        &bytemuck::cast_slice::<Chunk, f32>(&self.chunks)[..len]
    }

    /// All elements, row-major, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        let len = self.len();
        &mut bytemuck::cast_slice_mut::<Chunk, f32>(&mut self.chunks)[..len]
    }

    /// Row `i` (panics if `i >= rows`, like slice indexing).
    pub fn row(&self, i: usize) -> &[f32] {
        &self.as_slice()[i * self.cols..(i + 1) * self.cols]
    }

    /// Row `i`, mutable (panics if `i >= rows`, like slice indexing).
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        let c = self.cols;
        &mut self.as_mut_slice()[i * c..(i + 1) * c]
    }

    /// Element `(i, j)`, or `None` outside the matrix.
    pub fn get(&self, i: usize, j: usize) -> Option<f32> {
        (i < self.rows && j < self.cols).then(|| self.as_slice()[i * self.cols + j])
    }

    /// The whole matrix as a kernel view.
    pub fn view(&self) -> MatRef<'_> {
        self.rows_view(0, self.rows)
            .expect("a matrix's own shape always fits its storage")
    }

    /// The whole matrix as a mutable kernel view.
    pub fn view_mut(&mut self) -> MatMut<'_> {
        let (r, c) = self.shape();
        self.rows_view_mut(0, r)
            .unwrap_or_else(|_| unreachable!("a {r}x{c} matrix always fits its storage"))
    }

    fn check_rows(&self, start: usize, n: usize) -> Result<()> {
        match start.checked_add(n) {
            Some(end) if end <= self.rows => Ok(()),
            _ => Err(EngineError::Shape {
                what: "Matrix: row range",
                expected: format!("rows within 0..{}", self.rows),
                found: format!("rows {start}..{}", start.saturating_add(n)),
            }),
        }
    }

    /// Rows `start..start + n` as a kernel view (row-major, contiguous).
    pub fn rows_view(&self, start: usize, n: usize) -> Result<MatRef<'_>> {
        self.check_rows(start, n)?;
        let c = self.cols;
        let data = &self.as_slice()[start * c..(start + n) * c];
        // `MatRef::new`, not `row_major`: the latter formats an error message
        // eagerly (it allocates on every call), and views are made every step.
        Ok(MatRef::new(data, n, c, c.max(1), 1)?)
    }

    /// Rows `start..start + n` as a mutable kernel view.
    pub fn rows_view_mut(&mut self, start: usize, n: usize) -> Result<MatMut<'_>> {
        self.check_rows(start, n)?;
        let c = self.cols;
        let data = &mut self.as_mut_slice()[start * c..(start + n) * c];
        Ok(MatMut::new(data, n, c, c.max(1), 1)?)
    }

    fn check_cols(&self, start: usize, n: usize) -> Result<()> {
        match start.checked_add(n) {
            Some(end) if end <= self.cols => Ok(()),
            _ => Err(EngineError::Shape {
                what: "Matrix: column range",
                expected: format!("columns within 0..{}", self.cols),
                found: format!("columns {start}..{}", start.saturating_add(n)),
            }),
        }
    }

    /// Columns `start..start + n` (all rows) as a strided kernel view.
    pub fn cols_view(&self, start: usize, n: usize) -> Result<MatRef<'_>> {
        self.check_cols(start, n)?;
        if self.rows == 0 || n == 0 {
            return Ok(MatRef::new(&[], self.rows, n, self.cols.max(1), 1)?);
        }
        let data = &self.as_slice()[start..];
        Ok(MatRef::new(data, self.rows, n, self.cols, 1)?)
    }

    /// Columns `start..start + n` (all rows) as a mutable strided kernel view.
    pub fn cols_view_mut(&mut self, start: usize, n: usize) -> Result<MatMut<'_>> {
        self.check_cols(start, n)?;
        let (rows, cols) = self.shape();
        if rows == 0 || n == 0 {
            return Ok(MatMut::new(&mut [], rows, n, cols.max(1), 1)?);
        }
        let data = &mut self.as_mut_slice()[start..];
        Ok(MatMut::new(data, rows, n, cols, 1)?)
    }

    /// Column `j` as an `rows x 1` kernel view.
    pub fn col_view(&self, j: usize) -> Result<MatRef<'_>> {
        self.cols_view(j, 1)
    }

    /// Copies `other` into `self`; the shapes must match. Allocates nothing.
    pub fn copy_from(&mut self, other: &Matrix) -> Result<()> {
        if self.shape() != other.shape() {
            return Err(EngineError::Shape {
                what: "Matrix::copy_from",
                expected: format!("{}x{}", self.rows, self.cols),
                found: format!("{}x{}", other.rows, other.cols),
            });
        }
        self.as_mut_slice().copy_from_slice(other.as_slice());
        Ok(())
    }

    /// A new matrix holding the rows `start..start + n`.
    pub fn slice_rows(&self, start: usize, n: usize) -> Result<Matrix> {
        self.check_rows(start, n)?;
        let c = self.cols;
        Matrix::from_slice(n, c, &self.as_slice()[start * c..(start + n) * c])
    }

    /// The first non-finite element as `(flat index, value)`, if any.
    pub fn first_non_finite(&self) -> Option<(usize, f32)> {
        first_non_finite(self.as_slice())
    }
}

/// The first non-finite element of `values` as `(index, value)`, if any.
/// Allocates nothing.
pub fn first_non_finite(values: &[f32]) -> Option<(usize, f32)> {
    // Branch-free fast path: `x * 0` is 0 for finite x and NaN otherwise.
    let mut acc = 0.0f32;
    for chunk in values.chunks(256) {
        for &v in chunk {
            acc += v * 0.0;
        }
        if acc.is_nan() {
            break;
        }
    }
    if !acc.is_nan() {
        return None;
    }
    values
        .iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite())
        .map(|(i, &v)| (i, v))
}

/// The smallest and largest of `values` (`(inf, -inf)` when there are none;
/// NaN is passed over), kept per lane of 16 so that the pass is vectorised.
pub fn value_range(values: &[f32]) -> (f32, f32) {
    let mut lo = [f32::INFINITY; CHUNK];
    let mut hi = [f32::NEG_INFINITY; CHUNK];
    let chunks = values.chunks_exact(CHUNK);
    let rest = chunks.remainder();
    for c in chunks {
        // Indexed over a fixed-size array: the form the compiler vectorises.
        let c: &[f32; CHUNK] = c.try_into().expect("chunks of CHUNK values");
        for j in 0..CHUNK {
            lo[j] = if c[j] < lo[j] { c[j] } else { lo[j] };
            hi[j] = if c[j] > hi[j] { c[j] } else { hi[j] };
        }
    }
    lo.iter()
        .zip(&hi)
        .chain(rest.iter().zip(rest))
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), (&l, &h)| {
            (if l < a { l } else { a }, if h > b { h } else { b })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use latent_kernels::{Accum, Par, sgemm};

    /// 4 TB (more than any machine that runs the tests) is an error, not an
    /// abort; so is a shape whose size overflows.
    #[test]
    fn a_matrix_too_large_for_memory_is_an_error() {
        let e = Matrix::zeros(1 << 20, 1 << 20).unwrap_err().to_string();
        assert!(e.contains("1048576x1048576") && e.contains("bytes"), "{e}");
        assert!(Matrix::zeros(usize::MAX, 2).is_err());
        assert_eq!(Matrix::zeros(3, 4).unwrap().as_slice(), &[0.0; 12]);
    }

    #[test]
    fn storage_is_aligned_and_views_work() {
        for (r, c) in [(0, 0), (1, 1), (3, 5), (17, 33)] {
            let m = Matrix::from_fn(r, c, |i, j| (i * 100 + j) as f32).unwrap();
            assert_eq!(m.as_slice().as_ptr() as usize % 64, 0);
            assert_eq!(m.clone().as_slice().as_ptr() as usize % 64, 0);
            if r > 0 && c > 0 {
                assert_eq!(
                    m.view().get(r - 1, c - 1),
                    Some(((r - 1) * 100 + c - 1) as f32)
                );
                assert_eq!(
                    m.col_view(c - 1).unwrap().get(r - 1, 0),
                    m.get(r - 1, c - 1)
                );
                assert_eq!(m.view().t().get(c - 1, 0), m.get(0, c - 1));
            }
        }
    }

    #[test]
    fn views_feed_gemm() {
        let a = Matrix::from_fn(3, 4, |i, j| (i + j) as f32).unwrap();
        let b = Matrix::from_fn(4, 6, |i, j| (i * j) as f32 * 0.5).unwrap();
        let mut c = Matrix::zeros(3, 2).unwrap();
        sgemm(
            1.0,
            a.view(),
            b.cols_view(2, 2).unwrap(),
            Accum::Replace,
            c.view_mut(),
            Par::Seq,
        )
        .unwrap();
        for i in 0..3 {
            for j in 0..2 {
                let want: f32 = (0..4)
                    .map(|k| a.get(i, k).unwrap() * b.get(k, j + 2).unwrap())
                    .sum();
                assert_eq!(c.get(i, j), Some(want));
            }
        }
        let mut cm = Matrix::zeros(3, 6).unwrap();
        sgemm(
            1.0,
            a.view(),
            b.view(),
            Accum::Replace,
            cm.cols_view_mut(1, 2).unwrap(),
            Par::Seq,
        )
        .unwrap_err();
        assert!(a.rows_view(2, 2).is_err());
    }

    #[test]
    fn non_finite_found() {
        let mut v = vec![1.0f32; 1000];
        assert_eq!(first_non_finite(&v), None);
        v[700] = f32::INFINITY;
        v[900] = f32::NAN;
        assert_eq!(first_non_finite(&v), Some((700, f32::INFINITY)));
    }
}
