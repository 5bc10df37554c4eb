//! [`Inference`] for the autoencoders: codes, reconstructions `g(f(x))`,
//! their own losses as scores; and for the VAE the posterior mean, the
//! decoder's mean, the negative ELBO and samples from the prior. Both run
//! over their input in blocks of [`BLOCK`](super::BLOCK) rows, so their
//! workspaces hold a block.

use latent_engine::Matrix;
use latent_kernels::Par;
use latent_kernels::gemm::{MatMut, MatRef};

use super::{
    BLOCK, Inference, SampleRequest, Score, by_blocks, by_blocks_rows, squared_error_scores,
};
use crate::ae::{AeScratch, Autoencoder, Vae, VaeScratch};
use crate::error::{ModelError, Result};

impl Inference for Autoencoder {
    type Scratch = AeScratch;

    fn n_visible(&self) -> usize {
        Autoencoder::n_visible(self)
    }

    fn n_features(&self) -> usize {
        self.code_size()
    }

    fn encode_into(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut Self::Scratch,
        par: Par,
    ) -> Result<()> {
        by_blocks(x, out, |x, out| self.encode_with(x, out, scratch, par))
    }

    fn reconstruct_into(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut Self::Scratch,
        par: Par,
    ) -> Result<()> {
        by_blocks(x, out, |x, out| self.reconstruct_with(x, out, scratch, par))
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
                why: "an autoencoder scores recon, its own reconstruction loss".into(),
            });
        }
        by_blocks_rows(x, out, |x, out| {
            self.reconstruction_errors_with(x, out, scratch, par)
                .map(drop)
        })
    }
}

/// The workspace of a VAE's inference: the VAE's own, and reconstructions
/// for the squared-error score.
#[derive(Debug, Default)]
pub struct VaeInferenceScratch {
    /// The VAE's workspace.
    pub vae: VaeScratch,
    /// Reconstructions for the squared-error score.
    pub recon: Vec<f32>,
}

impl Inference for Vae {
    type Scratch = VaeInferenceScratch;

    fn n_visible(&self) -> usize {
        self.config().sizes[0]
    }

    fn n_features(&self) -> usize {
        self.latent()
    }

    fn encode_into(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut Self::Scratch,
        par: Par,
    ) -> Result<()> {
        by_blocks(x, out, |x, out| {
            self.encode_with(x, out, &mut scratch.vae, par)
        })
    }

    fn reconstruct_into(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut Self::Scratch,
        par: Par,
    ) -> Result<()> {
        by_blocks(x, out, |x, out| {
            self.reconstruct_with(x, out, &mut scratch.vae, par)
        })
    }

    fn supported_scores(&self) -> &'static [Score] {
        &[Score::NegElbo, Score::Reconstruction]
    }

    /// The negative ELBO copies `x` into a dense matrix first (the VAE's
    /// ELBO reads a [`Matrix`]).
    fn score_into(
        &self,
        x: MatRef<'_>,
        score: Score,
        seed: u64,
        out: &mut [f32],
        scratch: &mut Self::Scratch,
        par: Par,
    ) -> Result<()> {
        match score {
            Score::NegElbo => {
                let dense = to_matrix(x)?;
                self.elbo_rows_with(&dense, BLOCK, seed, out, &mut scratch.vae, par)?;
                out.iter_mut().for_each(|v| *v = -*v);
                Ok(())
            }
            Score::Reconstruction => {
                squared_error_scores(self, x, out, scratch, |s| &mut s.recon, par)
            }
            Score::FreeEnergy => Err(ModelError::Unsupported {
                what: "the free energy",
                why: "free energy is defined for an RBM; a VAE scores neg-elbo or recon".into(),
            }),
            Score::Energy => Err(ModelError::Unsupported {
                what: "the energy",
                why: "the energy is a psd model's; a VAE scores neg-elbo or recon".into(),
            }),
        }
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
        self.sample_with(out.rows(), request.seed, out, &mut scratch.vae, par)
    }
}

/// A dense row-major copy of `x`.
fn to_matrix(x: MatRef<'_>) -> Result<Matrix> {
    let mut m = Matrix::zeros(x.rows(), x.cols())?;
    crate::ae::util::copy_rows(&x, m.as_mut_slice());
    Ok(m)
}
