//! [`Inference`] for a DBN: the deterministic up-pass, reconstructions
//! through the whole stack (up to the top, means back down), squared-error
//! scores, and samples from a Gibbs chain in the top RBM; each layer's
//! products in that layer's precision ([`Dbn::set_precision`] sets them
//! all).

use latent_kernels::Par;
use latent_kernels::gemm::{MatMut, MatRef};

use super::{Inference, SampleRequest, Score, check_rows, grow, squared_error_scores};
use crate::dbn::Dbn;
use crate::error::{ModelError, Result};
use crate::rbm::RbmScratch;

/// The workspace of a DBN's inference: the layers' activations and the
/// RBMs' own scratch.
#[derive(Debug, Default)]
pub struct DbnScratch {
    rbm: RbmScratch,
    /// Two ping-pong buffers for the layers' activations.
    levels: [Vec<f32>; 2],
    /// The top layer's activations (or the chains' states).
    top: Vec<f32>,
    /// Reconstructions for the squared-error score.
    recon: Vec<f32>,
}

impl Dbn {
    /// The up-pass of the rows of `x` to hidden layer `level` (1 = the
    /// first) into `out` (`rows x H_level`), with a caller-kept scratch.
    pub fn encode_to_with(
        &self,
        x: MatRef<'_>,
        level: usize,
        out: MatMut<'_>,
        scratch: &mut DbnScratch,
        par: Par,
    ) -> Result<()> {
        let layers = self.layers();
        if level == 0 || level > layers.len() {
            return Err(ModelError::InvalidConfig {
                what: "DBN::encode_to_with: level",
                value: level.to_string(),
                expected: "a hidden layer, 1 ..= number of layers",
            });
        }
        let rows = x.rows();
        let DbnScratch { rbm, levels, .. } = scratch;
        let [a, b] = levels;
        let (mut input, mut output) = (a, b);
        for (l, layer) in layers[..level - 1].iter().enumerate() {
            let h = layer.config().n_hidden;
            let dst = MatMut::row_major(grow(output, rows * h), rows, h)?;
            if l == 0 {
                layer.transform_with(x, dst, rbm, par)?;
            } else {
                let v = layer.config().n_visible;
                let src = MatRef::row_major(&input[..rows * v], rows, v)?;
                layer.transform_with(src, dst, rbm, par)?;
            }
            std::mem::swap(&mut input, &mut output);
        }
        let top = &layers[level - 1];
        if level == 1 {
            top.transform_with(x, out, rbm, par)
        } else {
            let v = top.config().n_visible;
            let src = MatRef::row_major(&input[..rows * v], rows, v)?;
            top.transform_with(src, out, rbm, par)
        }
    }

    /// Means down the stack from the activations of hidden layer `from` in
    /// `scratch.top` (`rows x H_from`) to the visibles, into `out`.
    fn down_with(
        &self,
        rows: usize,
        from: usize,
        out: MatMut<'_>,
        scratch: &mut DbnScratch,
        par: Par,
    ) -> Result<()> {
        let DbnScratch {
            rbm, levels, top, ..
        } = scratch;
        let [l0, l1] = levels;
        let layers = &self.layers()[..from];
        let mut last: Option<usize> = None;
        for (k, layer) in layers[1..].iter().rev().enumerate() {
            let (v, h) = (layer.config().n_visible, layer.config().n_hidden);
            let (dst, src): (&mut Vec<f32>, &[f32]) = match (k % 2, last) {
                (0, None) => (&mut *l0, &top[..]),
                (0, _) => (&mut *l0, &l1[..]),
                _ => (&mut *l1, &l0[..]),
            };
            let src = MatRef::row_major(&src[..rows * h], rows, h)?;
            let dst = MatMut::row_major(grow(dst, rows * v), rows, v)?;
            layer.visible_means_with(src, dst, rbm, par)?;
            last = Some(k % 2);
        }
        let src: &[f32] = match last {
            None => top,
            Some(0) => l0,
            Some(_) => l1,
        };
        let bottom = &layers[0];
        let h = bottom.config().n_hidden;
        let src = MatRef::row_major(&src[..rows * h], rows, h)?;
        bottom.visible_means_with(src, out, rbm, par)
    }
}

impl Inference for Dbn {
    type Scratch = DbnScratch;

    fn n_visible(&self) -> usize {
        self.layers()[0].config().n_visible
    }

    fn n_features(&self) -> usize {
        self.layers()[self.layers().len() - 1].config().n_hidden
    }

    fn encode_into(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut Self::Scratch,
        par: Par,
    ) -> Result<()> {
        self.encode_to_with(x, self.layers().len(), out, scratch, par)
    }

    fn reconstruct_into(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut Self::Scratch,
        par: Par,
    ) -> Result<()> {
        check_rows("DBN reconstruct: rows of out", out.rows(), x.rows())?;
        let (rows, top) = (x.rows(), self.n_features());
        let mut top_buf = std::mem::take(&mut scratch.top);
        let dst = MatMut::row_major(grow(&mut top_buf, rows * top), rows, top)?;
        let up = self.encode_into(x, dst, scratch, par);
        scratch.top = top_buf;
        up?;
        self.down_with(rows, self.layers().len(), out, scratch, par)
    }

    fn supported_scores(&self) -> &'static [Score] {
        &[Score::Reconstruction]
    }

    fn score_into(
        &self,
        x: MatRef<'_>,
        score: Score,
        _seed: u64,
        out: &mut [f32],
        scratch: &mut Self::Scratch,
        par: Par,
    ) -> Result<()> {
        if score != Score::Reconstruction {
            return Err(ModelError::Unsupported {
                what: "this score",
                why: "a DBN scores recon (free energy is defined for an RBM, the ELBO for a VAE)"
                    .into(),
            });
        }
        squared_error_scores(self, x, out, scratch, |s| &mut s.recon, par)
    }

    fn can_sample(&self) -> bool {
        true
    }

    fn sample_into(
        &self,
        request: SampleRequest,
        out: MatMut<'_>,
        scratch: &mut Self::Scratch,
        par: Par,
    ) -> Result<()> {
        let n = out.rows();
        let layers = self.layers();
        let top = &layers[layers.len() - 1];
        if layers.len() == 1 {
            return top.sample_with(out, request.steps, request.seed, &mut scratch.rbm, par);
        }
        let v = top.config().n_visible;
        let mut chains = std::mem::take(&mut scratch.top);
        let dst = MatMut::row_major(grow(&mut chains, n * v), n, v)?;
        let drawn = top.sample_with(dst, request.steps, request.seed, &mut scratch.rbm, par);
        scratch.top = chains;
        drawn?;
        self.down_with(n, layers.len() - 1, out, scratch, par)
    }
}
