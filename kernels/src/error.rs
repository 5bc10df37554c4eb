//! The typed error of the kernels crate.

use std::fmt;

/// Why a kernel refused its arguments.
///
/// Kernels never panic on bad shapes: they return one of these, naming the
/// operand and the numbers that do not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelError {
    /// A strided view would reach past the end of its slice.
    ViewOutOfBounds {
        /// Which operand (`"A"`, `"C"`, …).
        what: &'static str,
        /// Rows of the view.
        rows: usize,
        /// Columns of the view.
        cols: usize,
        /// Row stride, in elements.
        row_stride: usize,
        /// Column stride, in elements.
        col_stride: usize,
        /// Elements needed: one past the largest offset the view reaches.
        needed: usize,
        /// Elements the slice has.
        len: usize,
    },
    /// A mutable view whose strides make two elements share storage.
    OverlappingView {
        /// Which operand.
        what: &'static str,
        /// Rows of the view.
        rows: usize,
        /// Columns of the view.
        cols: usize,
        /// Row stride, in elements.
        row_stride: usize,
        /// Column stride, in elements.
        col_stride: usize,
    },
    /// Two operands whose dimensions must agree do not.
    ShapeMismatch {
        /// What was being checked, e.g. `"gemm: columns of op(A) vs rows of op(B)"`.
        what: &'static str,
        /// The size the first operand implies.
        expected: usize,
        /// The size found.
        found: usize,
    },
    /// A slice whose length must equal a given size does not.
    LengthMismatch {
        /// Which argument.
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// An instruction set was asked for that this CPU does not support.
    IsaUnavailable(crate::isa::Isa),
    /// An argument value outside its domain (for example a probability
    /// outside `[0, 1]`).
    InvalidValue {
        /// Which argument.
        what: &'static str,
        /// Its value, as text.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::ViewOutOfBounds {
                what,
                rows,
                cols,
                row_stride,
                col_stride,
                needed,
                len,
            } => write!(
                f,
                "{what}: a {rows}x{cols} view with strides ({row_stride}, {col_stride}) needs {needed} elements but the slice has {len}"
            ),
            KernelError::OverlappingView {
                what,
                rows,
                cols,
                row_stride,
                col_stride,
            } => write!(
                f,
                "{what}: a {rows}x{cols} mutable view with strides ({row_stride}, {col_stride}) would alias elements"
            ),
            KernelError::ShapeMismatch {
                what,
                expected,
                found,
            } => write!(f, "{what}: expected {expected}, found {found}"),
            KernelError::LengthMismatch {
                what,
                expected,
                found,
            } => write!(f, "{what}: expected length {expected}, found {found}"),
            KernelError::IsaUnavailable(isa) => {
                write!(f, "instruction set {isa} is not supported by this CPU")
            }
            KernelError::InvalidValue {
                what,
                value,
                expected,
            } => write!(f, "{what}: got {value}, expected {expected}"),
        }
    }
}

impl std::error::Error for KernelError {}
