//! What a [`Model`] implements and what one training step gives it
//! ([`StepContext`], [`FusedUpdate`]) and gets back ([`StepOutput`],
//! [`Metrics`]).

use latent_kernels::Par;

use crate::error::{EngineError, Result};
use crate::matrix::Matrix;
use crate::minibatch::Batch;
use crate::params::{ParamSet, Tensor};
use crate::rng::Rng;

/// The most metrics a model can report per step.
pub const MAX_METRICS: usize = 8;

/// A fixed-capacity list of named metrics (no allocation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    entries: [(&'static str, f64); MAX_METRICS],
    len: usize,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            entries: [("", 0.0); MAX_METRICS],
            len: 0,
        }
    }
}

impl Metrics {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a metric; errors beyond [`MAX_METRICS`].
    pub fn push(&mut self, name: &'static str, value: f64) -> Result<()> {
        if self.len == MAX_METRICS {
            return Err(EngineError::InvalidArgument {
                what: "Metrics::push",
                value: name.into(),
                expected: "at most MAX_METRICS (8) metrics",
            });
        }
        self.entries[self.len] = (name, value);
        self.len += 1;
        Ok(())
    }

    /// The metrics, in the order pushed.
    pub fn as_slice(&self) -> &[(&'static str, f64)] {
        &self.entries[..self.len]
    }

    /// Adds `weight` times each of `other`'s metrics to the metric at the
    /// same position, appending those beyond this list's length (the
    /// trainer's per-epoch sums).
    pub(crate) fn add_weighted(&mut self, other: &Metrics, weight: f64) -> Result<()> {
        for (k, &(name, v)) in other.as_slice().iter().enumerate() {
            if k < self.len {
                self.entries[k].1 += v * weight;
            } else {
                self.push(name, v * weight)?;
            }
        }
        Ok(())
    }

    /// The metric called `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.as_slice()
            .iter()
            .find(|(n, _)| *n == name)
            .map(|e| e.1)
    }
}

/// What a model's [`Model::gradient`] returns for one minibatch.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StepOutput {
    /// The minibatch objective (mean over its rows), used for progress,
    /// history and the divergence guard.
    pub loss: f64,
    /// Other per-batch metrics (means over its rows).
    pub metrics: Metrics,
}

/// What a model gets besides the minibatch.
#[derive(Debug)]
pub struct StepContext<'a> {
    /// The parallelism to pass to every kernel.
    pub par: Par,
    /// The model's random stream (saved in checkpoints).
    pub rng: &'a mut Rng,
    /// 0-based epoch.
    pub epoch: usize,
    /// 0-based batch within the epoch.
    pub batch: usize,
    /// The optimiser step of the tensor named by
    /// [`Model::fusable_tensor`], offered to the model to apply while it
    /// computes that tensor's gradient; `None` when not offered.
    pub fused: Option<FusedUpdate<'a>>,
}

/// An SGD-with-momentum step of one parameter tensor, offered to the model
/// in [`StepContext::fused`] so that it can apply the step inside the
/// product that computes the tensor's gradient
/// ([`latent_kernels::update::gemm_sgd_update`]) instead of writing the
/// gradient for a separate pass. Applying it gives the same parameters, bit
/// for bit, as the optimiser's own step from the gradient would.
#[derive(Debug)]
pub struct FusedUpdate<'a> {
    /// Which parameter tensor.
    pub tensor: usize,
    /// This step's rule for the tensor (momentum, rate, decay).
    pub rule: latent_kernels::update::SgdMomentum,
    /// The optimiser's velocity for the tensor, to update in place.
    pub velocity: &'a mut [f32],
    /// Where the new values go (same shape as the parameter).
    pub out: &'a mut Matrix,
    /// Set by the model when it applied the step: then it has written every
    /// element of `out` and updated `velocity`, and need not write the
    /// tensor's gradient. Left `false`, the optimiser does the step from the
    /// gradient as usual.
    pub applied: bool,
    /// Set by the model when a new value it wrote is NaN or infinite.
    pub non_finite: bool,
}

/// A trainable model: named parameters and a gradient over a minibatch.
///
/// An RBM returns its CD-k or PCD estimate of the negative log-likelihood
/// gradient and keeps its persistent chains in
/// [`persistent_state`](Model::persistent_state); an autoencoder returns
/// the back-propagated gradient of its loss.
pub trait Model {
    /// A short name of the model's kind, checked when loading a checkpoint.
    fn kind(&self) -> &str;

    /// The hyper-parameters as text (stored in checkpoints).
    fn hyperparameters(&self) -> String;

    /// The parameters.
    fn params(&self) -> &ParamSet;

    /// The parameters, mutable.
    fn params_mut(&mut self) -> &mut ParamSet;

    /// Writes the gradient of the minibatch objective (to be minimised)
    /// into `grads` (zeroed by the trainer unless
    /// [`overwrites_gradients`](Model::overwrites_gradients) says otherwise, same layout as the
    /// parameters) and returns the loss. Must not allocate after its first
    /// call for a given batch size, and should report the same metrics in
    /// the same order for every batch (the trainer averages them by
    /// position).
    fn gradient(
        &mut self,
        batch: &Batch<'_>,
        grads: &mut ParamSet,
        ctx: &mut StepContext<'_>,
    ) -> Result<StepOutput>;

    /// Whether [`gradient`](Model::gradient) writes every element of
    /// `grads` (rather than accumulating into them), so the trainer can skip
    /// zeroing them before each step. The default, `false`, is always safe.
    fn overwrites_gradients(&self) -> bool {
        false
    }

    /// The parameter tensor whose optimiser step the model can fuse into
    /// the computation of its gradient, if any. When this names a tensor,
    /// the optimiser is SGD with momentum and
    /// [`TrainConfig::fuse_updates`](crate::TrainConfig::fuse_updates) is
    /// on, the trainer offers the step in [`StepContext::fused`] (see
    /// [`FusedUpdate`]). The default, `None`, is always safe.
    fn fusable_tensor(&self) -> Option<usize> {
        None
    }

    /// A validation metric on `x` (lower is better), for early stopping;
    /// `None` if the model has none.
    fn validation_metric(
        &mut self,
        x: &Matrix,
        labels: Option<&[u32]>,
        par: Par,
    ) -> Result<Option<f64>> {
        let _ = (x, labels, par);
        Ok(None)
    }

    /// Persistent state other than parameters (e.g. PCD chains), saved in
    /// checkpoints.
    fn persistent_state(&self) -> Vec<Tensor> {
        Vec::new()
    }

    /// Whether the persistent state tensor `name` is kept row by row, its
    /// row `i` going on with row `i` of every minibatch (PCD chains, one
    /// per batch row): a rank of a data-parallel run keeps the rows of its
    /// share of the batch ([`Trainer::set_reducer`](crate::Trainer::set_reducer)).
    /// The default, `false`, is state the ranks cannot split, which a
    /// data-parallel run refuses.
    fn persistent_by_row(&self, name: &str) -> bool {
        let _ = name;
        false
    }

    /// Starts the persistent state for minibatches of `rows` rows (the
    /// first and largest batch) as the first [`gradient`](Model::gradient)
    /// drawing from `rng` would (the trainer's stream before that step;
    /// `rng` itself does not move), when it has not started yet: a
    /// data-parallel run starts the whole state on every rank, then each
    /// rank keeps its rows. The default does nothing.
    fn start_persistent_state(&mut self, rows: usize, rng: &Rng, par: Par) -> Result<()> {
        let _ = (rows, rng, par);
        Ok(())
    }

    /// Restores [`persistent_state`](Model::persistent_state).
    fn load_persistent_state(&mut self, state: &[Tensor]) -> Result<()> {
        if state.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Mismatch {
                what: format!("persistent state of model {}", self.kind()),
                expected: "none".into(),
                found: format!("{} tensors", state.len()),
            })
        }
    }
}
