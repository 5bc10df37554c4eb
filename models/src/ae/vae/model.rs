//! The VAE as a trainer's [`Model`]: its kind, settings, parameters,
//! gradient step and validation metric.

use latent_engine::train::{Model, StepContext, StepOutput};
use latent_engine::{Batch, Matrix, Metrics, ParamSet};
use latent_kernels::Par;

use super::Vae;
use crate::ae::util::into_engine;

impl Model for Vae {
    fn kind(&self) -> &str {
        "vae"
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

    fn gradient(
        &mut self,
        batch: &Batch<'_>,
        grads: &mut ParamSet,
        ctx: &mut StepContext<'_>,
    ) -> latent_engine::Result<StepOutput> {
        let seed = ctx.rng.next_u64();
        let step = self
            .loss_and_gradient(batch.x, grads, seed, ctx.par)
            .map_err(into_engine)?;
        let mut metrics = Metrics::new();
        metrics.push("elbo", step.elbo())?;
        metrics.push("reconstruction", step.reconstruction)?;
        metrics.push("kl", step.kl)?;
        Ok(StepOutput {
            loss: step.loss,
            metrics,
        })
    }

    /// The negative ELBO (lower is better).
    fn validation_metric(
        &mut self,
        x: &Matrix,
        _labels: Option<&[u32]>,
        par: Par,
    ) -> latent_engine::Result<Option<f64>> {
        self.elbo(x, 500, 0x5EED, par)
            .map(|e| Some(-e))
            .map_err(into_engine)
    }
}
