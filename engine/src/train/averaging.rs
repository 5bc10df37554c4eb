//! Parameter averaging every `k` steps (local SGD), for ranks joined by a
//! slow network: a rank of a data-parallel run given
//! [`Trainer::set_average_every`] takes, on its share of every global
//! minibatch (the same shuffled order and shares as the gradient sums'),
//! the step of a run alone (fused update included) with no sums. Every
//! `k` steps, at the end of every epoch (so that the checkpoints rank 0
//! writes hold one agreed state) and before a stop, the ranks replace
//! their parameters and optimiser state (velocities, Adam moments) by
//! their average: each rank's values weighted by its share of the rows
//! trained since the last average, summed in the ring's fixed order.
//! After an average every rank holds the same bits, so a run resumed on
//! the same rank count continues exactly. Persistent state kept by row
//! (PCD chains) stays on its rank, as with gradient sums.
//!
//! Weighting by rows (not `1/N`) makes one step between averages (`k = 1`)
//! with SGD, momentum and weight decay included, the update of the
//! gradient sums up to float rounding (the SGD step is linear in the
//! gradient, the velocity and the weights); with Adam (not linear) it
//! differs. It also counts a rank whose share is a row short (a batch not
//! divisible by the rank count) for the rows it trained.

use latent_kernels::Par;

use crate::error::{EngineError, Result};
use crate::minibatch::Batch;
use crate::train::fit::EpochSums;
use crate::train::{MAX_METRICS, Metrics, Model, StepOutput, StepSums, SumOf, Trainer};

/// The steps and rows (this rank's, all ranks') since the last average.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Window {
    steps: usize,
    own_rows: usize,
    all_rows: usize,
}

impl<M: Model> Trainer<M> {
    /// With a reducer ([`set_reducer`](Self::set_reducer)): `Some(k)`
    /// trains by parameter averaging every `k` steps instead of summing
    /// gradients every step (see `averaging.rs`); `None` sums gradients
    /// (the default). Without a reducer it changes nothing. `Some(0)` is
    /// an error.
    pub fn set_average_every(&mut self, every: Option<usize>) -> Result<()> {
        if every == Some(0) {
            return Err(EngineError::InvalidArgument {
                what: "Trainer::set_average_every: steps between averages",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        self.average_every = every;
        self.window = Window::default();
        Ok(())
    }

    /// The steps between parameter averages; `None` sums gradients.
    pub fn average_every(&self) -> Option<usize> {
        self.average_every
    }

    /// A local step on this rank's `share` of batch `b` (of `rows` rows on
    /// all ranks): the step of a run alone. A rank with no rows (a last
    /// batch with fewer rows than ranks) steps with a zero gradient, so
    /// that every rank's optimiser counts the same steps.
    pub(super) fn step_local(
        &mut self,
        share: &Batch<'_>,
        (b, rows): (usize, usize),
        par: Par,
    ) -> Result<StepOutput> {
        let out = if share.is_empty() {
            self.grads.fill_zero();
            self.apply_update(None, b, par)?;
            StepOutput::default()
        } else {
            self.step(share, b, par)?
        };
        self.window.steps += 1;
        self.window.own_rows += share.len();
        self.window.all_rows += rows;
        Ok(out)
    }

    /// After batch `b` of `batches`: the average when it is due (every
    /// `k` steps, and after the epoch's last batch, with the epoch's loss
    /// and metric sums summed over the ranks). Nothing without averaging.
    pub(super) fn average_if_due(
        &mut self,
        (b, batches): (usize, usize),
        sums: &mut EpochSums,
    ) -> Result<()> {
        let Some(every) = self.average_every else {
            return Ok(());
        };
        if self.reducer.is_none() {
            return Ok(());
        }
        if b + 1 == batches {
            self.average_now(Some(sums), b)
        } else if self.window.steps >= every {
            self.average_now(None, b)
        } else {
            Ok(())
        }
    }

    /// The average of the parameters and optimiser state over the ranks,
    /// after batch `b`, when a step was taken since the last (and `sums`,
    /// the epoch's loss and metric sums, summed over the ranks in the same
    /// message). Nothing without averaging.
    pub(super) fn average_now(&mut self, sums: Option<&mut EpochSums>, b: usize) -> Result<()> {
        let window = std::mem::take(&mut self.window);
        let Some(reducer) = self.reducer.as_mut() else {
            return Ok(());
        };
        if self.average_every.is_none() || window.steps == 0 {
            return Ok(());
        }
        let step = (self.epoch, b);
        let weight = (window.own_rows as f64 / window.all_rows as f64) as f32;
        let mut values = [0.0f64; 2 + MAX_METRICS];
        let n = match &sums {
            Some(s) => pack_sums(s, &mut values),
            None => 0,
        };
        let labels = StepSums::PARAMETERS;
        let params = self.model.params_mut();
        reducer.sum_step(params, weight, &mut values[..n], (step, labels))?;
        for (name, v) in self.optimizer.state_values_mut() {
            let of = SumOf {
                what: "the optimiser state",
                tensor: Some(name),
                step: Some(step),
            };
            reducer.sum_weighted(v, weight, of)?;
        }
        if let Some(s) = sums {
            unpack_sums(&values[..n], s)?;
        }
        Ok(())
    }
}

/// The epoch's sums as f64 values: loss, samples, each metric; their count.
fn pack_sums(sums: &EpochSums, values: &mut [f64; 2 + MAX_METRICS]) -> usize {
    values[0] = sums.loss;
    values[1] = sums.samples as f64;
    let metrics = sums.metrics.as_slice();
    for (v, &(_, m)) in values[2..].iter_mut().zip(metrics) {
        *v = m;
    }
    2 + metrics.len()
}

/// The epoch's sums back from the summed [`pack_sums`] values.
fn unpack_sums(values: &[f64], sums: &mut EpochSums) -> Result<()> {
    sums.loss = values[0];
    sums.samples = values[1] as usize;
    let mut metrics = Metrics::new();
    for (&(name, _), &v) in sums.metrics.as_slice().iter().zip(&values[2..]) {
        metrics.push(name, v)?;
    }
    sums.metrics = metrics;
    Ok(())
}
