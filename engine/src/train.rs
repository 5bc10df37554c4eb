//! The training loop: a [`Trainer`] drives any [`Model`] through epochs of
//! shuffled minibatches with an [`Optimizer`], reports progress to an
//! [`Observer`], stops early on a validation metric, guards against
//! divergence, and saves and restores [`Checkpoint`]s.
//!
//! # Threads
//! [`Threads`] is the one place that decides how many threads training
//! uses. The trainer turns it into a [`Par`] that it passes to the model in
//! every [`StepContext`]; models hand that to the kernels and never pick a
//! thread count themselves. [`Threads::CallerPool`] runs on whatever rayon
//! pool the caller is in, so latent can live inside an application's pool.
//!
//! # Determinism
//! The shuffle of each epoch depends only on `(seed, epoch)`, the model's
//! random stream is saved in checkpoints, optimiser updates are element-wise
//! and the kernels never split a reduction across threads: the same seed
//! and data give bit-identical parameters with any thread count, and a run
//! resumed from a checkpoint taken at an epoch boundary ends where an
//! uninterrupted run would.
//!
//! # Divergence
//! Before each update the loss and every gradient are checked; a NaN or
//! infinity stops training with [`EngineError::Diverged`] naming the tensor,
//! the flat index, the epoch and the batch, and the parameters are
//! untouched. After the update the parameters are checked; if one became
//! non-finite they are put back from a copy taken before the step (the
//! optimiser's momentum/moment buffers are not rolled back).
//!
//! # Fused updates
//! A model can take over the SGD step of one tensor ([`Model::fusable_tensor`],
//! [`FusedUpdate`]) and apply it inside the product that computes its
//! gradient, so the largest tensor's gradient is never written and read
//! back. The result is bit-identical to the separate step;
//! [`TrainConfig::fuse_updates`] switches it off.
//!
//! # Allocation
//! Every buffer (minibatch, gradients, optimiser state, the divergence
//! guard's copy of the parameters) is allocated before the first step; a
//! training step allocates nothing as long as the model's own
//! [`Model::gradient`] does not (models allocate their scratch on the first
//! call and reuse it).

use std::path::Path;
use std::time::{Duration, Instant};

use latent_kernels::Par;

use crate::checkpoint::{Checkpoint, EpochRecord, OptimizerState};
use crate::data::Dataset;
use crate::error::{EngineError, Result};
use crate::matrix::Matrix;
use crate::minibatch::{Batch, Minibatcher};
use crate::optim::{Optimizer, OptimizerConfig};
use crate::params::{ParamSet, Tensor};
use crate::rng::{Rng, streams};

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
    /// [`TrainConfig::fuse_updates`] is on, the trainer offers the step in
    /// [`StepContext::fused`] (see [`FusedUpdate`]). The default, `None`,
    /// is always safe.
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

/// Whether training goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Keep training.
    Continue,
    /// Stop after this batch (or epoch).
    Stop,
}

/// Progress after one minibatch.
#[derive(Debug, Clone, Copy)]
pub struct BatchProgress<'a> {
    /// 0-based epoch.
    pub epoch: usize,
    /// Total epochs of the run.
    pub epochs: usize,
    /// 0-based batch within the epoch.
    pub batch: usize,
    /// Batches per epoch.
    pub batches: usize,
    /// This batch's loss.
    pub loss: f64,
    /// This batch's metrics.
    pub metrics: &'a Metrics,
    /// The learning rate used.
    pub lr: f32,
    /// Training throughput in this epoch so far.
    pub samples_per_sec: f64,
    /// Estimated time to the end of the run.
    pub eta: Option<Duration>,
}

/// Summary of one finished epoch.
#[derive(Debug, Clone, Copy)]
pub struct EpochProgress<'a> {
    /// The epoch's history record.
    pub record: &'a EpochRecord,
    /// Total epochs of the run.
    pub epochs: usize,
    /// Training throughput over the epoch.
    pub samples_per_sec: f64,
    /// Estimated time to the end of the run.
    pub eta: Option<Duration>,
    /// Whether the validation metric improved on the best so far.
    pub improved: bool,
}

/// Receives progress; either hook can ask to stop.
pub trait Observer {
    /// Called after every minibatch.
    fn on_batch(&mut self, progress: &BatchProgress<'_>) -> Control {
        let _ = progress;
        Control::Continue
    }

    /// Called after every epoch.
    fn on_epoch(&mut self, progress: &EpochProgress<'_>) -> Control {
        let _ = progress;
        Control::Continue
    }
}

/// An observer that does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}

/// How many threads training uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Threads {
    /// A pool with one thread per core (the default).
    #[default]
    AllCores,
    /// A pool of exactly this many threads (1 runs on the caller's thread).
    Count(usize),
    /// Whatever rayon pool the caller runs in (all its threads).
    CallerPool,
}

/// Early stopping on the model's validation metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EarlyStopping {
    /// Epochs without an improvement of more than `min_delta` before stopping.
    pub patience: usize,
    /// The smallest decrease that counts as an improvement.
    pub min_delta: f64,
    /// Whether to put back the best parameters when stopping.
    pub restore_best: bool,
}

/// How to train.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainConfig {
    /// Total epochs (a resumed run continues up to this).
    pub epochs: usize,
    /// Minibatch size.
    pub batch_size: usize,
    /// The run's seed: every random stream derives from it.
    pub seed: u64,
    /// Shuffle every epoch (otherwise samples come in order).
    pub shuffle: bool,
    /// Skip a last batch smaller than `batch_size`.
    pub drop_last: bool,
    /// The optimiser.
    pub optimizer: OptimizerConfig,
    /// Threads.
    pub threads: Threads,
    /// Early stopping, when validation data is given.
    pub early_stopping: Option<EarlyStopping>,
    /// Let a model apply the SGD step of its largest tensor inside its
    /// gradient product ([`Model::fusable_tensor`]): the same parameters,
    /// one pass over the weights fewer per step. On by default.
    pub fuse_updates: bool,
}

impl TrainConfig {
    /// The configuration as one line of `key=value` pairs (stored in
    /// checkpoints and shown by `latent info`).
    pub fn describe(&self) -> String {
        use crate::optim::{Decay, Momentum, OptimizerKind};
        let optimizer = match self.optimizer.kind {
            OptimizerKind::Sgd { momentum } => match momentum {
                Momentum::Constant(m) => format!("sgd(momentum={m})"),
                Momentum::Switch {
                    initial,
                    final_value,
                    switch_epoch,
                } => format!("sgd(momentum={initial}->{final_value}@epoch{switch_epoch})"),
            },
            OptimizerKind::Adam { beta1, beta2, eps } => {
                format!("adam(beta1={beta1},beta2={beta2},eps={eps})")
            }
        };
        let lr = &self.optimizer.lr;
        let decay = match lr.decay {
            Decay::Constant => "constant".to_string(),
            Decay::Step { every, gamma } => format!("x{gamma}-every-{every}-epochs"),
            Decay::Exponential { gamma } => format!("x{gamma}-per-epoch"),
        };
        let threads = match self.threads {
            Threads::AllCores => "all-cores".to_string(),
            Threads::Count(n) => n.to_string(),
            Threads::CallerPool => "caller-pool".to_string(),
        };
        let early = match self.early_stopping {
            None => "none".to_string(),
            Some(e) => format!(
                "patience={},min_delta={},restore_best={}",
                e.patience, e.min_delta, e.restore_best
            ),
        };
        format!(
            "epochs={} batch={} seed={} shuffle={} drop_last={} optimizer={optimizer} lr={} lr_decay={decay} warmup_steps={} weight_decay={} threads={threads} early_stopping={early} fuse_updates={}",
            self.epochs,
            self.batch_size,
            self.seed,
            self.shuffle,
            self.drop_last,
            lr.base,
            lr.warmup_steps,
            self.optimizer.weight_decay,
            self.fuse_updates
        )
    }

    /// A configuration with the given optimiser and sensible defaults:
    /// 10 epochs, batches of 100, seed 0, shuffling, partial batches kept,
    /// all cores, no early stopping.
    pub fn new(optimizer: OptimizerConfig) -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 100,
            seed: 0,
            shuffle: true,
            drop_last: false,
            optimizer,
            threads: Threads::AllCores,
            early_stopping: None,
            fuse_updates: true,
        }
    }
}

/// Why [`Trainer::fit`] returned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StopReason {
    /// All epochs ran.
    Completed,
    /// The validation metric stopped improving; `best_epoch` was the best.
    EarlyStopped {
        /// 0-based epoch with the best validation metric.
        best_epoch: usize,
    },
    /// The observer asked to stop.
    Observer,
}

/// What a call to [`Trainer::fit`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitSummary {
    /// Epochs completed in this call.
    pub epochs_run: usize,
    /// Why it returned.
    pub stop: StopReason,
    /// Mean training loss of the last completed epoch.
    pub last_train_loss: Option<f64>,
    /// The best validation metric seen (whole history).
    pub best_valid: Option<f64>,
}

const MODEL_RNG: &str = "model";

/// Trains a model; owns the model, the optimiser and all buffers.
pub struct Trainer<M: Model> {
    model: M,
    config: TrainConfig,
    optimizer: Optimizer,
    grads: ParamSet,
    spare_params: ParamSet,
    best: Option<ParamSet>,
    rng: Rng,
    epoch: usize,
    history: Vec<EpochRecord>,
    pool: Option<rayon::ThreadPool>,
}

impl<M: Model> std::fmt::Debug for Trainer<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("model", &self.model.kind())
            .field("config", &self.config)
            .field("epoch", &self.epoch)
            .finish()
    }
}

fn diverged(epoch: usize, batch: usize, tensor: String, index: usize, value: f32) -> EngineError {
    EngineError::Diverged {
        epoch,
        batch,
        tensor,
        index,
        value,
    }
}

impl<M: Model> Trainer<M> {
    /// A trainer for `model`; checks the configuration, allocates the
    /// gradient and optimiser buffers and builds the thread pool.
    pub fn new(model: M, config: TrainConfig) -> Result<Self> {
        if config.batch_size == 0 {
            return Err(EngineError::InvalidArgument {
                what: "TrainConfig::batch_size",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        let pool = match config.threads {
            Threads::CallerPool | Threads::Count(1) => None,
            Threads::Count(0) => {
                return Err(EngineError::InvalidArgument {
                    what: "Threads::Count",
                    value: "0".into(),
                    expected: "at least 1 thread",
                });
            }
            Threads::Count(n) => Some(n),
            Threads::AllCores => Some(std::thread::available_parallelism().map_or(1, |n| n.get())),
        };
        let pool = match pool {
            Some(n) => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .thread_name(|i| format!("latent-{i}"))
                    .build()
                    .map_err(|e| EngineError::InvalidArgument {
                        what: "Threads: building the thread pool",
                        value: e.to_string(),
                        expected: "a pool the OS can create",
                    })?,
            ),
            None => None,
        };
        let optimizer = Optimizer::new(config.optimizer, model.params())?;
        let grads = model.params().zeros_like()?;
        let spare_params = model.params().clone();
        Ok(Trainer {
            rng: Rng::stream(config.seed, streams::MODEL),
            model,
            config,
            optimizer,
            grads,
            spare_params,
            best: None,
            epoch: 0,
            history: Vec::new(),
            pool,
        })
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The model, mutable.
    pub fn model_mut(&mut self) -> &mut M {
        &mut self.model
    }

    /// Gives the model back.
    pub fn into_model(self) -> M {
        self.model
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Epochs completed so far (including those before a resume).
    pub fn epochs_done(&self) -> usize {
        self.epoch
    }

    /// The per-epoch history.
    pub fn history(&self) -> &[EpochRecord] {
        &self.history
    }

    /// The optimiser.
    pub fn optimizer(&self) -> &Optimizer {
        &self.optimizer
    }

    /// The parallelism models get: `Seq` for one thread, otherwise every
    /// thread of the pool training runs in.
    pub fn par(&self) -> Par {
        match self.config.threads {
            Threads::Count(1) => Par::Seq,
            _ => Par::All,
        }
    }

    /// Trains on `train` until [`TrainConfig::epochs`] epochs are done (or an
    /// early stop), validating on `valid` after each epoch when given.
    pub fn fit(
        &mut self,
        train: &Dataset,
        valid: Option<&Dataset>,
        observer: &mut (dyn Observer + Send),
    ) -> Result<FitSummary>
    where
        M: Send,
    {
        match self.pool.take() {
            Some(pool) => {
                let r = pool.install(|| self.run(train, valid, observer));
                self.pool = Some(pool);
                r
            }
            None => self.run(train, valid, observer),
        }
    }

    fn best_valid(&self) -> Option<(usize, f64)> {
        self.history
            .iter()
            .filter_map(|h| h.valid_metric.map(|v| (h.epoch as usize, v)))
            .fold(None, |best: Option<(usize, f64)>, (e, v)| match best {
                Some((_, b)) if b <= v => best,
                _ => Some((e, v)),
            })
    }

    fn run(
        &mut self,
        train: &Dataset,
        valid: Option<&Dataset>,
        observer: &mut (dyn Observer + Send),
    ) -> Result<FitSummary> {
        let par = self.par();
        let cfg = self.config;
        let x = &train.x;
        let labels = train.labels.as_deref();
        if x.rows() == 0 {
            return Err(EngineError::InvalidArgument {
                what: "Trainer::fit: training data",
                value: "0 samples".into(),
                expected: "at least one sample",
            });
        }
        let mut batcher = Minibatcher::new(
            x.rows(),
            x.cols(),
            cfg.batch_size,
            cfg.seed,
            cfg.drop_last,
            cfg.shuffle,
        )?;
        let batches = batcher.num_batches();
        if batches == 0 {
            return Err(EngineError::InvalidArgument {
                what: "Trainer::fit: batch size with drop_last",
                value: format!("{} > {} samples", cfg.batch_size, x.rows()),
                expected: "at least one full batch",
            });
        }
        self.history.reserve(cfg.epochs.saturating_sub(self.epoch));
        if cfg.early_stopping.is_some_and(|e| e.restore_best)
            && valid.is_some()
            && self.best.is_none()
        {
            self.best = Some(self.model.params().clone());
        }
        let run_start = Instant::now();
        let first_epoch = self.epoch;
        let mut stop = StopReason::Completed;
        'epochs: while self.epoch < cfg.epochs {
            let epoch = self.epoch;
            let epoch_start = Instant::now();
            batcher.start_epoch(epoch);
            let (mut loss_sum, mut samples) = (0.0f64, 0usize);
            let mut metric_sums = Metrics::new();
            for b in 0..batches {
                // The gather of the next minibatch runs on the pool too: it
                // waits on memory (shuffled rows), and it wakes the pool's
                // threads before the step's first parallel region.
                let batch = batcher.batch_with(b, x, labels, par)?;
                let rows = batch.len();
                if !self.model.overwrites_gradients() {
                    self.grads.fill_zero();
                }
                let lr = self.optimizer.lr(epoch);
                let fusable = if cfg.fuse_updates {
                    self.model.fusable_tensor()
                } else {
                    None
                };
                let fused = fusable.and_then(|t| {
                    let role = self.model.params().tensors().get(t)?.role;
                    let out = self.spare_params.tensors_mut().get_mut(t)?;
                    let (rule, velocity) = self.optimizer.fusable_sgd(t, role, epoch)?;
                    Some(FusedUpdate {
                        tensor: t,
                        rule,
                        velocity,
                        out: &mut out.value,
                        applied: false,
                        non_finite: false,
                    })
                });
                let mut ctx = StepContext {
                    par,
                    rng: &mut self.rng,
                    epoch,
                    batch: b,
                    fused,
                };
                let out = self.model.gradient(&batch, &mut self.grads, &mut ctx)?;
                let fused = ctx
                    .fused
                    .filter(|f| f.applied)
                    .map(|f| (f.tensor, f.non_finite));
                if !out.loss.is_finite() {
                    return Err(diverged(epoch, b, "loss".into(), 0, out.loss as f32));
                }
                // One fused pass: the update is written into the spare
                // parameter set and checked as it is written; the sets swap
                // only when it is finite, so the last good parameters stay
                // in the model otherwise. A tensor the model updated itself
                // is skipped (and was checked by the model).
                self.optimizer.set_par(par);
                let mut bad = self.optimizer.step_into_except(
                    self.model.params(),
                    &self.grads,
                    &mut self.spare_params,
                    epoch,
                    fused.map(|(t, _)| t),
                )?;
                if let Some((t, true)) = fused {
                    let w = self.spare_params.value(t).as_slice();
                    if let Some((i, v)) = crate::matrix::first_non_finite(w) {
                        bad = bad.or(Some((t, i, v)));
                    }
                }
                if let Some((t, i, v)) = bad {
                    if let Some((gt, gi, gv)) = self.grads.first_non_finite() {
                        let name = format!("gradient of {}", self.grads.tensors()[gt].name);
                        return Err(diverged(epoch, b, name, gi, gv));
                    }
                    let name = self.model.params().tensors()[t].name.clone();
                    return Err(diverged(epoch, b, name, i, v));
                }
                std::mem::swap(self.model.params_mut(), &mut self.spare_params);
                loss_sum += out.loss * rows as f64;
                samples += rows;
                for (k, &(name, v)) in out.metrics.as_slice().iter().enumerate() {
                    if k < metric_sums.len {
                        metric_sums.entries[k].1 += v * rows as f64;
                    } else {
                        metric_sums.push(name, v * rows as f64)?;
                    }
                }
                let elapsed = epoch_start.elapsed().as_secs_f64();
                let rate = samples as f64 / elapsed.max(1e-9);
                let remaining = (batcher.samples_per_epoch() - samples)
                    + (cfg.epochs - epoch - 1) * batcher.samples_per_epoch();
                let progress = BatchProgress {
                    epoch,
                    epochs: cfg.epochs,
                    batch: b,
                    batches,
                    loss: out.loss,
                    metrics: &out.metrics,
                    lr,
                    samples_per_sec: rate,
                    eta: Some(Duration::from_secs_f64(remaining as f64 / rate.max(1e-9))),
                };
                if observer.on_batch(&progress) == Control::Stop {
                    stop = StopReason::Observer;
                    break 'epochs;
                }
            }
            let valid_metric = match valid {
                Some(v) => self
                    .model
                    .validation_metric(&v.x, v.labels.as_deref(), par)?,
                None => None,
            };
            if let Some(v) = valid_metric
                && !v.is_finite()
            {
                return Err(diverged(
                    epoch,
                    batches - 1,
                    "validation metric".into(),
                    0,
                    v as f32,
                ));
            }
            let prev_best = self.best_valid();
            let seconds = epoch_start.elapsed().as_secs_f64();
            let n = samples as f64;
            self.history.push(EpochRecord {
                epoch: epoch as u64,
                train_loss: loss_sum / n,
                valid_metric,
                samples: samples as u64,
                seconds,
                metrics: metric_sums
                    .as_slice()
                    .iter()
                    .map(|&(k, v)| (k.to_string(), v / n))
                    .collect(),
            });
            self.epoch += 1;
            let min_delta = cfg.early_stopping.map_or(0.0, |e| e.min_delta);
            let improved = match (valid_metric, prev_best) {
                (Some(v), Some((_, b))) => v < b - min_delta,
                (Some(_), None) => true,
                _ => false,
            };
            if improved && let Some(best) = &mut self.best {
                best.copy_from(self.model.params())?;
            }
            let rate = n / seconds.max(1e-9);
            let done = (self.epoch - first_epoch) as f64;
            let per_epoch = run_start.elapsed().as_secs_f64() / done;
            let record = self.history.last().expect("just pushed");
            let progress = EpochProgress {
                record,
                epochs: cfg.epochs,
                samples_per_sec: rate,
                eta: Some(Duration::from_secs_f64(
                    per_epoch * (cfg.epochs - self.epoch) as f64,
                )),
                improved,
            };
            if observer.on_epoch(&progress) == Control::Stop {
                stop = StopReason::Observer;
                break;
            }
            if let (Some(es), Some(_)) = (cfg.early_stopping, valid_metric) {
                // Epochs since the best (with min_delta) improvement.
                let mut best: Option<(usize, f64)> = None;
                for h in &self.history {
                    if let Some(v) = h.valid_metric
                        && best.is_none_or(|(_, b)| v < b - es.min_delta)
                    {
                        best = Some((h.epoch as usize, v));
                    }
                }
                if let Some((best_epoch, _)) = best
                    && epoch - best_epoch >= es.patience
                {
                    if es.restore_best
                        && let Some(b) = &self.best
                    {
                        self.model.params_mut().copy_from(b)?;
                    }
                    stop = StopReason::EarlyStopped { best_epoch };
                    break;
                }
            }
        }
        Ok(FitSummary {
            epochs_run: self.epoch - first_epoch,
            stop,
            last_train_loss: self.history.last().map(|h| h.train_loss),
            best_valid: self.best_valid().map(|b| b.1),
        })
    }

    /// A checkpoint of the current state.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            model_kind: self.model.kind().to_string(),
            hyperparameters: self.model.hyperparameters(),
            trainer: self.config.describe(),
            epoch: self.epoch as u64,
            step: self.optimizer.steps(),
            params: self.model.params().clone(),
            optimizer: OptimizerState {
                kind: self.optimizer.config().kind.name().to_string(),
                step: self.optimizer.steps(),
                tensors: self.optimizer.state().to_vec(),
            },
            persistent: self.model.persistent_state(),
            rngs: vec![(MODEL_RNG.to_string(), self.rng.state())],
            history: self.history.clone(),
        }
    }

    /// Saves a checkpoint atomically.
    pub fn save_checkpoint(&self, path: impl AsRef<Path>) -> Result<()> {
        self.checkpoint().save(path)
    }

    /// Restores the state saved in `ck`: parameters, optimiser state, RNG,
    /// persistent model state, epoch counter and history. The model kind,
    /// parameter layout and optimiser kind must match; nothing is changed
    /// when they do not.
    pub fn restore(&mut self, ck: &Checkpoint) -> Result<()> {
        if ck.model_kind != self.model.kind() {
            return Err(EngineError::Mismatch {
                what: "checkpoint model kind".into(),
                expected: self.model.kind().to_string(),
                found: ck.model_kind.clone(),
            });
        }
        self.model
            .params()
            .check_same_layout(&ck.params, "checkpoint parameters")?;
        let kind = self.optimizer.config().kind.name();
        if ck.optimizer.kind != kind {
            return Err(EngineError::Mismatch {
                what: "checkpoint optimiser".into(),
                expected: kind.into(),
                found: ck.optimizer.kind.clone(),
            });
        }
        let rng = ck.rng(MODEL_RNG).ok_or_else(|| EngineError::Mismatch {
            what: "checkpoint RNG streams".into(),
            expected: format!("a {MODEL_RNG:?} stream"),
            found: format!("{:?}", ck.rngs.iter().map(|r| &r.0).collect::<Vec<_>>()),
        })?;
        let mut opt = self.optimizer.clone();
        opt.restore(ck.optimizer.step, &ck.optimizer.tensors)?;
        self.model.load_persistent_state(&ck.persistent)?;
        self.optimizer = opt;
        self.model.params_mut().copy_from(&ck.params)?;
        self.rng = Rng::from_state(rng);
        self.epoch = ck.epoch as usize;
        self.history = ck.history.clone();
        if let Some(best) = &mut self.best {
            best.copy_from(&ck.params)?;
        }
        Ok(())
    }

    /// Loads a checkpoint file and [`restore`](Self::restore)s it.
    pub fn load_checkpoint(&mut self, path: impl AsRef<Path>) -> Result<()> {
        self.restore(&Checkpoint::load(path)?)
    }
}
