//! Checked, strided matrix views: the operands of [`gemm`](super::gemm).
//!
//! A view is a slice plus `rows`, `cols`, a row stride and a column stride
//! (in elements), so row-major, column-major and transposed operands are all
//! the same type and a transpose is free. Constructors check that every
//! element lies inside the slice; a mutable view also checks that no two
//! elements share storage, which is what lets kernels write to disjoint
//! blocks of it from several threads.

use crate::KernelError;

/// One past the largest offset a `rows x cols` view with these strides reads,
/// or `None` on overflow. Empty views need nothing.
fn extent(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    (rows - 1)
        .checked_mul(rs)?
        .checked_add((cols - 1).checked_mul(cs)?)?
        .checked_add(1)
}

fn check_bounds(
    what: &'static str,
    len: usize,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
) -> Result<(), KernelError> {
    let err = |needed| KernelError::ViewOutOfBounds {
        what,
        rows,
        cols,
        row_stride: rs,
        col_stride: cs,
        needed,
        len,
    };
    match extent(rows, cols, rs, cs) {
        Some(needed) if needed <= len => Ok(()),
        Some(needed) => Err(err(needed)),
        None => Err(err(usize::MAX)),
    }
}

/// Whether distinct `(i, j)` of a `rows x cols` view map to distinct offsets.
/// Accepts the layouts in which one stride spans the whole other dimension
/// (row-major-like or column-major-like), which covers every sub-view of a
/// dense matrix.
fn is_non_overlapping(rows: usize, cols: usize, rs: usize, cs: usize) -> bool {
    match (rows, cols) {
        (0, _) | (_, 0) => true,
        (1, 1) => true,
        (1, _) => cs >= 1,
        (_, 1) => rs >= 1,
        _ => {
            (cs >= 1 && rs >= cs.saturating_mul(cols)) || (rs >= 1 && cs >= rs.saturating_mul(rows))
        }
    }
}

/// A read-only strided view of an `f32` matrix.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> MatRef<'a> {
    /// A `rows x cols` view whose element `(i, j)` is `data[i*row_stride + j*col_stride]`.
    ///
    /// Fails if any element lies outside `data`.
    pub fn new(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<Self, KernelError> {
        check_bounds(
            "matrix view",
            data.len(),
            rows,
            cols,
            row_stride,
            col_stride,
        )?;
        Ok(MatRef {
            data,
            rows,
            cols,
            rs: row_stride,
            cs: col_stride,
        })
    }

    /// A dense row-major view; `data.len()` must be exactly `rows * cols`.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Result<Self, KernelError> {
        check_dense_len("row-major matrix", data.len(), rows, cols)?;
        Self::new(data, rows, cols, cols.max(1), 1)
    }

    /// A dense column-major view; `data.len()` must be exactly `rows * cols`.
    pub fn col_major(data: &'a [f32], rows: usize, cols: usize) -> Result<Self, KernelError> {
        check_dense_len("column-major matrix", data.len(), rows, cols)?;
        Self::new(data, rows, cols, 1, rows.max(1))
    }

    /// The transposed view (free: the strides swap).
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row stride in elements.
    pub fn row_stride(&self) -> usize {
        self.rs
    }

    /// Column stride in elements.
    pub fn col_stride(&self) -> usize {
        self.cs
    }

    /// The underlying slice.
    pub fn as_slice(&self) -> &'a [f32] {
        self.data
    }

    /// Element `(i, j)`, or `None` outside the view.
    pub fn get(&self, i: usize, j: usize) -> Option<f32> {
        (i < self.rows && j < self.cols).then(|| self.data[i * self.rs + j * self.cs])
    }
}

/// A mutable strided view of an `f32` matrix whose elements do not alias.
#[derive(Debug)]
pub struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> MatMut<'a> {
    /// A `rows x cols` view whose element `(i, j)` is `data[i*row_stride + j*col_stride]`.
    ///
    /// Fails if any element lies outside `data` or two elements share storage.
    pub fn new(
        data: &'a mut [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<Self, KernelError> {
        check_bounds(
            "mutable matrix view",
            data.len(),
            rows,
            cols,
            row_stride,
            col_stride,
        )?;
        if !is_non_overlapping(rows, cols, row_stride, col_stride) {
            return Err(KernelError::OverlappingView {
                what: "mutable matrix view",
                rows,
                cols,
                row_stride,
                col_stride,
            });
        }
        Ok(MatMut {
            data,
            rows,
            cols,
            rs: row_stride,
            cs: col_stride,
        })
    }

    /// A dense row-major view; `data.len()` must be exactly `rows * cols`.
    pub fn row_major(data: &'a mut [f32], rows: usize, cols: usize) -> Result<Self, KernelError> {
        check_dense_len("row-major matrix", data.len(), rows, cols)?;
        Self::new(data, rows, cols, cols.max(1), 1)
    }

    /// A dense column-major view; `data.len()` must be exactly `rows * cols`.
    pub fn col_major(data: &'a mut [f32], rows: usize, cols: usize) -> Result<Self, KernelError> {
        check_dense_len("column-major matrix", data.len(), rows, cols)?;
        Self::new(data, rows, cols, 1, rows.max(1))
    }

    /// The transposed view (free: the strides swap).
    pub fn t(self) -> Self {
        MatMut {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    /// A read-only view of the same elements.
    pub fn as_ref(&self) -> MatRef<'_> {
        MatRef {
            data: self.data,
            rows: self.rows,
            cols: self.cols,
            rs: self.rs,
            cs: self.cs,
        }
    }

    /// A shorter-lived mutable view of the same elements.
    pub fn reborrow(&mut self) -> MatMut<'_> {
        MatMut {
            data: self.data,
            rows: self.rows,
            cols: self.cols,
            rs: self.rs,
            cs: self.cs,
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row stride in elements.
    pub fn row_stride(&self) -> usize {
        self.rs
    }

    /// Column stride in elements.
    pub fn col_stride(&self) -> usize {
        self.cs
    }

    /// Element `(i, j)`, or `None` outside the view.
    pub fn get(&self, i: usize, j: usize) -> Option<f32> {
        (i < self.rows && j < self.cols).then(|| self.data[i * self.rs + j * self.cs])
    }

    /// The underlying slice (all of it, including elements the strides skip).
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        self.data
    }

    pub(crate) fn raw_parts(&mut self) -> (*mut f32, usize, usize, usize, usize) {
        (
            self.data.as_mut_ptr(),
            self.rows,
            self.cols,
            self.rs,
            self.cs,
        )
    }
}

fn check_dense_len(
    what: &'static str,
    len: usize,
    rows: usize,
    cols: usize,
) -> Result<(), KernelError> {
    let expected = rows
        .checked_mul(cols)
        .ok_or_else(|| KernelError::InvalidValue {
            what,
            value: format!("{rows}x{cols}"),
            expected: "a size that fits in memory",
        })?;
    if len != expected {
        return Err(KernelError::LengthMismatch {
            what,
            expected,
            found: len,
        });
    }
    Ok(())
}
