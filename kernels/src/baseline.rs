//! Safe wrappers around the baselines latent is measured against. Only
//! compiled with the `baseline` feature (benchmarks and tests).

use crate::KernelError;
use crate::gemm::{MatMut, MatRef};

/// `C ← α·A·B + β·C` by `matrixmultiply::sgemm`, with the same views and
/// shape checks as [`crate::gemm()`]. matrixmultiply's thread count comes
/// from `MATMUL_NUM_THREADS`, read once per process.
pub fn matrixmultiply_sgemm(
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    beta: f32,
    mut c: MatMut<'_>,
) -> Result<(), KernelError> {
    crate::gemm::check_shapes(&a, &b, &c)?;
    let (m, k, n) = (a.rows(), a.cols(), b.cols());
    let (c_ptr, _, _, c_rs, c_cs) = c.raw_parts();
    // SAFETY: the views' constructors checked that every element (i, j) at
    // offset i*rs + j*cs lies inside its slice, and that C's elements do
    // not alias; the shapes were checked above. Strides fit in isize because
    // the offsets fit in a slice.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.as_slice().as_ptr(),
            a.row_stride() as isize,
            a.col_stride() as isize,
            b.as_slice().as_ptr(),
            b.row_stride() as isize,
            b.col_stride() as isize,
            beta,
            c_ptr,
            c_rs as isize,
            c_cs as isize,
        );
    }
    Ok(())
}
