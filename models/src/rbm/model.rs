//! The engine's [`Model`] trait for [`Rbm`]: gradient steps, validation,
//! and the persistent state (PCD chains, sparsity averages) of checkpoints.

use latent_engine::train::{Model, StepContext, StepOutput};
use latent_engine::{Batch, Matrix, ParamSet, Rng, Role, Tensor};
use latent_kernels::Par;

use super::{Rbm, VisibleUnits, W};
use crate::error::into_engine;

impl Model for Rbm {
    fn kind(&self) -> &str {
        match self.config.visible {
            VisibleUnits::Bernoulli => "rbm",
            VisibleUnits::Gaussian => "gaussian-rbm",
        }
    }

    fn hyperparameters(&self) -> String {
        self.config.to_text()
    }

    fn params(&self) -> &ParamSet {
        &self.params
    }

    fn params_mut(&mut self) -> &mut ParamSet {
        &mut self.params
    }

    fn overwrites_gradients(&self) -> bool {
        true
    }

    fn fusable_tensor(&self) -> Option<usize> {
        Some(W)
    }

    fn gradient(
        &mut self,
        batch: &Batch<'_>,
        grads: &mut ParamSet,
        ctx: &mut StepContext<'_>,
    ) -> latent_engine::Result<StepOutput> {
        let seed = ctx.rng.next_u64();
        let loss = self
            .cd_step(batch.x, grads, seed, ctx.par, ctx.fused.as_mut())
            .map_err(into_engine)?;
        Ok(StepOutput {
            loss,
            ..StepOutput::default()
        })
    }

    fn validation_metric(
        &mut self,
        x: &Matrix,
        _labels: Option<&[u32]>,
        par: Par,
    ) -> latent_engine::Result<Option<f64>> {
        self.reconstruction_error(x, 0x5EED, par)
            .map(Some)
            .map_err(into_engine)
    }

    fn persistent_state(&self) -> Vec<Tensor> {
        let mut state = Vec::new();
        if let Some(chains) = &self.chains {
            state.push(Tensor {
                name: "pcd_chains".into(),
                role: Role::Other,
                value: chains.clone(),
            });
        }
        if !self.q_hat.is_empty() {
            let q = Matrix::from_slice(1, self.q_hat.len(), &self.q_hat).expect("q_hat is 1 x H");
            state.push(Tensor {
                name: "sparsity_q_hat".into(),
                role: Role::Other,
                value: q,
            });
        }
        state
    }

    /// The PCD chains, one per batch row; not the sparsity averages (the
    /// whole batch's means, which the ranks cannot split).
    fn persistent_by_row(&self, name: &str) -> bool {
        name == "pcd_chains"
    }

    /// PCD: the chains the first step would start (`rows` of them, from
    /// the step's seed, `rng`'s next draw).
    fn start_persistent_state(
        &mut self,
        rows: usize,
        rng: &Rng,
        par: Par,
    ) -> latent_engine::Result<()> {
        if !self.config.persistent || self.chains.is_some() {
            return Ok(());
        }
        let seed = rng.clone().next_u64();
        self.ensure_chains(rows, seed, par).map_err(into_engine)
    }

    fn load_persistent_state(&mut self, state: &[Tensor]) -> latent_engine::Result<()> {
        for t in state {
            match t.name.as_str() {
                "pcd_chains"
                    if self.config.persistent && t.value.cols() == self.config.n_visible =>
                {
                    self.chains = Some(t.value.clone())
                }
                "sparsity_q_hat" if t.value.len() == self.config.n_hidden => {
                    self.q_hat = t.value.as_slice().to_vec()
                }
                _ => {
                    return Err(latent_engine::EngineError::Mismatch {
                        what: format!("persistent state of model {}", self.kind()),
                        expected: format!(
                            "pcd_chains (rows x {}, persistent chains only) or sparsity_q_hat (1 x {})",
                            self.config.n_visible, self.config.n_hidden
                        ),
                        found: format!("{} ({} x {})", t.name, t.value.rows(), t.value.cols()),
                    });
                }
            }
        }
        Ok(())
    }
}
