//! The [`Trainer`]: construction (the thread pool, the gradient and
//! optimiser buffers), accessors, and checkpoints. Its loop is in `fit.rs`.

use std::path::Path;

use latent_kernels::Par;

use crate::checkpoint::{Checkpoint, EpochRecord, OptimizerState};
use crate::error::{EngineError, Result};
use crate::optim::Optimizer;
use crate::params::{ParamSet, Tensor};
use crate::rng::{Rng, streams};
use crate::train::{GradientReducer, Metrics, Model, Threads, TrainConfig};

const MODEL_RNG: &str = "model";

/// The name of rank `rank`'s model stream in a checkpoint.
pub(super) fn rank_rng_name(rank: usize) -> String {
    format!("{MODEL_RNG}@rank{rank}")
}

/// Trains a model; owns the model, the optimiser and all buffers.
///
/// # Example
/// A model of one number `m` fitted to the data: the loss is
/// `½ mean (x - m)²`, its gradient `m - mean x`, so training finds the mean.
///
/// ```rust
/// use latent_engine::{
///     Batch, Dataset, Matrix, Model, OptimizerConfig, ParamSet, Result, Role, Silent,
///     StepContext, StepOutput, StopReason, TrainConfig, Trainer,
/// };
///
/// struct Mean {
///     params: ParamSet,
/// }
///
/// impl Model for Mean {
///     fn kind(&self) -> &str {
///         "mean"
///     }
///
///     fn hyperparameters(&self) -> String {
///         String::new()
///     }
///
///     fn params(&self) -> &ParamSet {
///         &self.params
///     }
///
///     fn params_mut(&mut self) -> &mut ParamSet {
///         &mut self.params
///     }
///
///     fn gradient(
///         &mut self,
///         batch: &Batch<'_>,
///         grads: &mut ParamSet,
///         _: &mut StepContext<'_>,
///     ) -> Result<StepOutput> {
///         let m = self.params.value(0).as_slice()[0];
///         let x = batch.x.as_slice(); // one column: the batch's samples
///         let n = x.len() as f32;
///         grads.value_mut(0).as_mut_slice()[0] = x.iter().map(|&v| m - v).sum::<f32>() / n;
///         let loss = x.iter().map(|&v| 0.5 * f64::from(v - m).powi(2)).sum::<f64>();
///         Ok(StepOutput {
///             loss: loss / f64::from(n),
///             ..StepOutput::default()
///         })
///     }
/// }
///
/// let mut params = ParamSet::new();
/// params.push("m", Role::Bias, Matrix::zeros(1, 1)?)?;
/// let data = Dataset::new(Matrix::from_slice(4, 1, &[1.0, 2.0, 3.0, 6.0])?, None)?;
/// let config = TrainConfig {
///     epochs: 300,
///     batch_size: 4,
///     ..TrainConfig::new(OptimizerConfig::sgd_hinton(0.1, 0.0))
/// };
/// let mut trainer = Trainer::new(Mean { params }, config)?;
/// let summary = trainer.fit(&data, None, &mut Silent)?;
/// assert_eq!((summary.epochs_run, summary.stop), (300, StopReason::Completed));
/// let m = trainer.model().params().value(0).as_slice()[0];
/// assert!((m - 3.0).abs() < 1e-3, "the mean is 3, got {m}");
///
/// // Ten epochs more, with a checkpoint after every four (at 304 and 308;
/// // the end, at 310, is the caller's to save).
/// trainer.set_epochs(310);
/// let mut saved = Vec::new();
/// let summary = trainer.fit_checkpointed(&data, None, &mut Silent, Some(4), |t| {
///     saved.push(t.checkpoint());
///     Ok::<(), latent_engine::EngineError>(())
/// })?;
/// assert_eq!(summary.epochs_run, 10);
/// let epochs: Vec<u64> = saved.iter().map(|c| c.epoch).collect();
/// assert_eq!(epochs, [304, 308]);
/// # Ok::<(), latent_engine::EngineError>(())
/// ```
pub struct Trainer<M: Model> {
    pub(super) model: M,
    pub(super) config: TrainConfig,
    pub(super) optimizer: Optimizer,
    pub(super) grads: ParamSet,
    pub(super) spare_params: ParamSet,
    pub(super) best: Option<ParamSet>,
    pub(super) rng: Rng,
    pub(super) epoch: usize,
    pub(super) history: Vec<EpochRecord>,
    pub(super) pool: Option<rayon::ThreadPool>,
    /// The ranks of a data-parallel run; `None` trains alone.
    pub(super) reducer: Option<Box<dyn GradientReducer>>,
    /// The metric names of the last reduced step with rows on this rank.
    pub(super) metric_names: Metrics,
    /// Every rank's model random stream at the last epoch's end (index:
    /// rank), saved in checkpoints; empty alone.
    pub(super) rank_rngs: Vec<[u8; 32]>,
    /// The random streams of the checkpoint last restored (a data-parallel
    /// run resumed takes its rank's from them).
    pub(super) restored_rngs: Vec<(String, [u8; 32])>,
    /// A data-parallel run's persistent state split by rows: every rank's
    /// rows gathered in rank order at the last epoch's end (what a run
    /// alone holds, and what checkpoints save); empty otherwise.
    pub(super) rank_state: Vec<Tensor>,
    /// Whether the persistent state is still to be split among the ranks
    /// (from [`set_reducer`](Self::set_reducer) to the first fit).
    pub(super) split_pending: bool,
    /// Parameter averaging every this many steps instead of gradient sums
    /// (a data-parallel run only; `averaging.rs`).
    pub(super) average_every: Option<usize>,
    /// The steps and rows since the last parameter average.
    pub(super) window: super::averaging::Window,
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
        let pool = thread_pool(config.threads)?;
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
            reducer: None,
            metric_names: Metrics::new(),
            rank_rngs: Vec::new(),
            restored_rngs: Vec::new(),
            rank_state: Vec::new(),
            split_pending: false,
            average_every: None,
            window: Default::default(),
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

    /// Sets the epoch target, [`TrainConfig::epochs`]: the next
    /// [`fit`](Self::fit) trains until `epochs` epochs are done in all
    /// (none when that many are done already). Nothing else changes, so the
    /// run goes on exactly as with a trainer built with this target and
    /// [`restore`](Self::restore)d from this one's checkpoint; checkpoints
    /// taken from now on store the new target in their
    /// [`trainer`](Checkpoint::trainer) text.
    pub fn set_epochs(&mut self, epochs: usize) {
        self.config.epochs = epochs;
    }

    /// The parallelism models get: `Seq` for one thread, otherwise every
    /// thread of the pool training runs in.
    pub fn par(&self) -> Par {
        match self.config.threads {
            Threads::Count(1) => Par::Seq,
            _ => Par::All,
        }
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
            persistent: self.persistent_state(),
            rngs: self.rng_states(),
            history: self.history.clone(),
        }
    }

    /// The persistent state a checkpoint holds: the model's; in a
    /// data-parallel run whose state is split by rows, every rank's rows as
    /// gathered at the last epoch's end (the matrix of a run alone).
    fn persistent_state(&self) -> Vec<Tensor> {
        if self.rank_state.is_empty() {
            self.model.persistent_state()
        } else {
            self.rank_state.clone()
        }
    }

    /// The random streams a checkpoint holds: the model's; in a
    /// data-parallel run, every rank's at the last epoch's end (rank 0's
    /// as the model's, rank `r`'s as `model@rank<r>`).
    fn rng_states(&self) -> Vec<(String, [u8; 32])> {
        match self.rank_rngs.split_first() {
            None => vec![(MODEL_RNG.to_string(), self.rng.state())],
            Some((first, rest)) => std::iter::once((MODEL_RNG.to_string(), *first))
                .chain((rest.iter().enumerate()).map(|(r, s)| (rank_rng_name(r + 1), *s)))
                .collect(),
        }
    }

    /// Saves a checkpoint atomically.
    pub fn save_checkpoint(&self, path: impl AsRef<Path>) -> Result<()> {
        self.checkpoint().save(path)
    }

    /// Restores the state saved in `ck`: parameters, optimiser state, RNG,
    /// persistent model state, epoch counter and history. The model kind,
    /// parameter layout and optimiser kind must match; nothing is changed
    /// when they do not. A rank of a data-parallel run restores before
    /// [`set_reducer`](Self::set_reducer) (an error after).
    pub fn restore(&mut self, ck: &Checkpoint) -> Result<()> {
        if self.reducer.is_some() {
            return Err(EngineError::InvalidArgument {
                what: "Trainer::restore",
                value: "a trainer given a reducer".into(),
                expected: "restore before Trainer::set_reducer",
            });
        }
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
        self.restored_rngs = ck.rngs.clone();
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

/// The pool training runs in: none for [`Threads::CallerPool`] and one
/// thread (the caller's thread), else a pool of that many threads.
fn thread_pool(threads: Threads) -> Result<Option<rayon::ThreadPool>> {
    let n = match threads {
        Threads::CallerPool | Threads::Count(1) => return Ok(None),
        Threads::Count(0) => {
            return Err(EngineError::InvalidArgument {
                what: "Threads::Count",
                value: "0".into(),
                expected: "at least 1 thread",
            });
        }
        Threads::Count(n) => n,
        Threads::AllCores => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("latent-{i}"))
        .build()
        .map(Some)
        .map_err(|e| EngineError::InvalidArgument {
            what: "Threads: building the thread pool",
            value: e.to_string(),
            expected: "a pool the OS can create",
        })
}
