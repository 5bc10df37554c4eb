//! PSD as the engine's [`Model`]: one minibatch step (project, predict,
//! infer `Z*` by FISTA, the gradient of the mean energy with `Z*` fixed)
//! and the validation energy for early stopping.

use latent_engine::train::{Metrics, Model, StepContext, StepOutput};
use latent_engine::{Batch, EngineError, Matrix, ParamSet};
use latent_kernels::gemm::MatRef;
use latent_kernels::{Accum, NoEpilogue, Par, product};

use super::{D, Psd, PsdScratch, encoder};
use crate::error::{Result, into_engine};
use crate::model::grow;
use crate::persist::Kind;

impl Psd {
    /// One step's work on the rows of `x`: `Z*`, the gradients into
    /// `grads` and what the step reports.
    fn step(
        &self,
        x: MatRef<'_>,
        grads: &mut ParamSet,
        s: &mut PsdScratch,
        par: Par,
    ) -> Result<StepOutput> {
        let (rows, k) = (x.rows(), self.config.codes);
        let n = rows * k;
        self.predict(x, s, par)?;
        let outcome = self.infer(x, s, par)?;
        self.energy_parts(x, s, par)?;
        let inv = 1.0 / rows.max(1) as f32;
        // ∂D = Z*ᵀ(Z*D − X)/B.
        product(
            inv,
            MatRef::row_major(&s.z[..n], rows, k)?.t(),
            self.precision.operand(MatRef::row_major(
                &s.resid[..rows * x.cols()],
                rows,
                x.cols(),
            )?),
            Accum::Replace,
            grads.value_mut(D).view_mut(),
            &NoEpilogue,
            par,
        )?;
        // Δ = 2α(F − Z*)/B, then the encoder's gradients.
        let delta = grow(&mut s.delta, n);
        let a2 = 2.0 * self.config.alpha * inv;
        for ((d, &f), &z) in delta.iter_mut().zip(&s.f[..n]).zip(&s.z[..n]) {
            *d = a2 * (f - z);
        }
        let [_, gw, gb, gu] = grads.tensors_mut() else {
            unreachable!("a PSD model has four parameter tensors")
        };
        encoder::backward(
            &self.encoder(),
            x,
            &s.act[..n],
            delta,
            self.precision,
            (
                gw.value.as_mut_slice(),
                gb.value.as_mut_slice(),
                gu.value.as_mut_slice(),
            ),
            par,
        )?;
        self.report(rows, outcome.iters, s)
    }

    /// The loss (the mean energy) and the metrics of a step.
    fn report(&self, rows: usize, iters: usize, s: &PsdScratch) -> Result<StepOutput> {
        let n = rows * self.config.codes;
        let (mut loss, mut sums) = (0.0, [0.0f64; 3]);
        for i in 0..rows {
            loss += self.energy_of(&s.parts, i);
            for (sum, part) in sums.iter_mut().zip(&s.parts[3 * i..3 * i + 3]) {
                *sum += part;
            }
        }
        let zeros = s.z[..n].iter().filter(|&&v| v == 0.0).count();
        let r = rows.max(1) as f64;
        let mut metrics = Metrics::new();
        metrics.push("recon", sums[0] / r)?;
        metrics.push("l1", sums[1] / r)?;
        metrics.push("pred", sums[2] / r)?;
        metrics.push("zeros", zeros as f64 / n.max(1) as f64)?;
        metrics.push("fista_iters", iters as f64)?;
        Ok(StepOutput {
            loss: loss / r,
            metrics,
        })
    }

    /// The mean energy `E(x, z*)` over the rows of `x`.
    pub fn mean_energy(&self, x: &Matrix, s: &mut PsdScratch, par: Par) -> Result<f64> {
        let mut e = vec![0.0f32; x.rows()];
        self.energies_into(x.view(), &mut e, s, par)?;
        Ok(e.iter().map(|&v| f64::from(v)).sum::<f64>() / x.rows().max(1) as f64)
    }
}

impl Model for Psd {
    fn kind(&self) -> &str {
        Kind::Psd.name()
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

    fn gradient(
        &mut self,
        batch: &Batch<'_>,
        grads: &mut ParamSet,
        ctx: &mut StepContext<'_>,
    ) -> latent_engine::Result<StepOutput> {
        if batch.x.cols() != self.config.n_visible {
            return Err(EngineError::Mismatch {
                what: "columns of a psd minibatch".into(),
                expected: self.config.n_visible.to_string(),
                found: batch.x.cols().to_string(),
            });
        }
        self.project();
        let mut s = std::mem::take(&mut self.work);
        let out = self.step(batch.x, grads, &mut s, ctx.par);
        self.work = s;
        out.map_err(into_engine)
    }

    fn overwrites_gradients(&self) -> bool {
        true
    }

    fn validation_metric(
        &mut self,
        x: &Matrix,
        _labels: Option<&[u32]>,
        par: Par,
    ) -> latent_engine::Result<Option<f64>> {
        self.project();
        let mut s = std::mem::take(&mut self.work);
        let e = self.mean_energy(x, &mut s, par);
        self.work = s;
        e.map(Some).map_err(into_engine)
    }
}
