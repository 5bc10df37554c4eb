//! The dense autoencoder as a trainer's [`Model`]: its kind, settings,
//! parameters, gradient step and validation metric.

use latent_engine::train::{Model, StepContext, StepOutput};
use latent_engine::{Batch, Matrix, Metrics, ParamSet};
use latent_kernels::Par;

use super::Autoencoder;
use super::config::{Noise, Sparsity};
use crate::ae::util::into_engine;

impl Model for Autoencoder {
    fn kind(&self) -> &str {
        if self.config.contractive.is_some() {
            "contractive-autoencoder"
        } else if self.config.noise != Noise::None {
            "denoising-autoencoder"
        } else if self.config.sparsity != Sparsity::None {
            "sparse-autoencoder"
        } else {
            "autoencoder"
        }
    }

    fn hyperparameters(&self) -> String {
        self.config.to_spec()
    }

    fn params(&self) -> &ParamSet {
        &self.params
    }

    fn params_mut(&mut self) -> &mut ParamSet {
        &mut self.params
    }

    /// Every gradient tensor is written each step: the weight products
    /// replace (the tied encoder adds to what the decoder's product
    /// replaced), the bias column sums replace, and the penalties add to
    /// those; so the trainer need not zero them (a pass over every
    /// parameter per step).
    fn overwrites_gradients(&self) -> bool {
        true
    }

    fn gradient(
        &mut self,
        batch: &Batch<'_>,
        grads: &mut ParamSet,
        ctx: &mut StepContext<'_>,
    ) -> latent_engine::Result<StepOutput> {
        let seed = ctx.rng.next_u64();
        let step = self
            .loss_and_gradient_rows(batch.x, batch.indices, grads, seed, ctx.par)
            .map_err(into_engine)?;
        let mut metrics = Metrics::new();
        metrics.push("reconstruction", step.reconstruction)?;
        if self.config.sparsity != Sparsity::None {
            metrics.push("sparsity", step.sparsity)?;
        }
        if self.config.contractive.is_some() {
            metrics.push("contractive", step.contractive)?;
        }
        Ok(StepOutput {
            loss: step.objective,
            metrics,
        })
    }

    fn validation_metric(
        &mut self,
        x: &Matrix,
        _labels: Option<&[u32]>,
        par: Par,
    ) -> latent_engine::Result<Option<f64>> {
        self.mean_reconstruction_error(x, 500, par)
            .map(Some)
            .map_err(into_engine)
    }
}
