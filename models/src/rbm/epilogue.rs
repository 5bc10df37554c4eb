//! The GEMM write-out of a learned-σ Gaussian RBM's visible means.

use latent_kernels::gemm::Epilogue;

/// `v ← shift + scale ⊙ v` per column: the visible means `b + σ ⊙ (hWᵀ)` of
/// a Gaussian RBM with learned σ, fused into the GEMM's write-out.
pub(super) struct ScaleShift<'a> {
    pub(super) scale: &'a [f32],
    pub(super) shift: &'a [f32],
}

impl Epilogue for ScaleShift<'_> {
    fn check(
        &self,
        _rows: usize,
        cols: usize,
    ) -> std::result::Result<(), latent_kernels::KernelError> {
        if self.scale.len() != cols || self.shift.len() != cols {
            return Err(latent_kernels::KernelError::LengthMismatch {
                what: "ScaleShift epilogue: scale and shift (one per column)",
                expected: cols,
                found: self.scale.len().min(self.shift.len()),
            });
        }
        Ok(())
    }

    fn apply_row(&self, _row: usize, col0: usize, values: &mut [f32]) {
        let n = values.len();
        for ((v, &s), &t) in values
            .iter_mut()
            .zip(&self.scale[col0..col0 + n])
            .zip(&self.shift[col0..col0 + n])
        {
            *v = t + s * *v;
        }
    }
}
