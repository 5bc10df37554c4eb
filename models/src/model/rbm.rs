//! [`Inference`] for an RBM: `p(h|v)`, mean-field reconstructions, free
//! energy and Gibbs samples, on the RBM's own `_with` forms (so in the
//! RBM's [`precision`](Rbm::precision)).

use latent_kernels::Par;
use latent_kernels::gemm::{MatMut, MatRef};

use super::{Inference, SampleRequest, Score, squared_error_scores};
use crate::error::{ModelError, Result};
use crate::rbm::{Rbm, RbmScratch};

/// A `rows x V` buffer of reconstructions kept for [`Score::Reconstruction`].
#[derive(Debug, Default)]
pub struct RbmInferenceScratch {
    /// The RBM's own workspace.
    pub rbm: RbmScratch,
    /// Reconstructions for the squared-error score.
    pub recon: Vec<f32>,
}

impl Inference for Rbm {
    type Scratch = RbmInferenceScratch;

    fn n_visible(&self) -> usize {
        self.config().n_visible
    }

    fn n_features(&self) -> usize {
        self.config().n_hidden
    }

    fn encode_into(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut Self::Scratch,
        par: Par,
    ) -> Result<()> {
        self.transform_with(x, out, &mut scratch.rbm, par)
    }

    fn reconstruct_into(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut Self::Scratch,
        par: Par,
    ) -> Result<()> {
        self.reconstruct_with(x, out, &mut scratch.rbm, par)
    }

    fn supported_scores(&self) -> &'static [Score] {
        &[Score::FreeEnergy, Score::Reconstruction]
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
        match score {
            Score::FreeEnergy => self.free_energy_with(x, out, &mut scratch.rbm, par),
            Score::Reconstruction => {
                squared_error_scores(self, x, out, scratch, |s| &mut s.recon, par)
            }
            Score::NegElbo => Err(ModelError::Unsupported {
                what: "the negative ELBO",
                why: "the ELBO is a VAE's; an RBM scores free-energy or recon".into(),
            }),
            Score::Energy => Err(ModelError::Unsupported {
                what: "the energy",
                why: "the energy is a psd model's; an RBM scores free-energy or recon".into(),
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
        self.sample_with(out, request.steps, request.seed, &mut scratch.rbm, par)
    }
}
