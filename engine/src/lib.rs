//! Training runtime for latent: matrices, data readers, minibatching,
//! optimisers, schedules, checkpoints and progress reporting.
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`error`] | [`EngineError`]: file, offset or line, and what was expected |
//! | [`data`] | IDX (plain or gzip), NPY and CSV readers and writers; [`data::mnist`] |
//! | [`preprocess`] | scaling to `[0, 1]`, binarisation, saved standardisation |
//! | [`matrix`] | [`Matrix`]: 64-byte aligned, views that are kernel operands |
//! | [`rng`] | seeded streams derived from `(seed, stream id)` |
//! | [`minibatch`] | per-epoch seeded shuffles into buffers allocated once |
//! | [`params`] | named tensors with weight/bias roles |
//! | [`optim`] | SGD with momentum schedules, Adam, learning-rate schedules |
//! | [`train`] | the [`Model`] trait, the [`Trainer`], observers, threads |
//! | [`fsutil`] | bounded reads of regular files; the output discipline (atomic, mode kept, links followed) |
//! | [`checkpoint`] | the versioned, checksummed, atomically written format |
//!
//! A model implements [`Model`] (its parameters as a [`ParamSet`] and a
//! gradient over a [`Batch`]); a [`Trainer`] does the rest. The engine knows
//! nothing about particular models; they live in `latent-models`. `unsafe`
//! is forbidden here: the kernels crate is the only place that needs it.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod checkpoint;
pub mod data;
pub mod error;
pub mod fsutil;
pub mod matrix;
pub mod minibatch;
pub mod optim;
pub mod params;
pub mod preprocess;
pub mod rng;
pub mod train;

pub use checkpoint::Checkpoint;
pub use data::Dataset;
pub use error::{EngineError, Location, Result};
pub use latent_kernels::Par;
pub use matrix::Matrix;
pub use minibatch::{Batch, Minibatcher};
pub use optim::{LrSchedule, Momentum, Optimizer, OptimizerConfig, OptimizerKind};
pub use params::{ParamSet, Role, Tensor};
pub use rng::Rng;
pub use train::{
    BatchProgress, Control, EarlyStopping, EpochProgress, FitSummary, GradientReducer,
    LocalReducer, Metrics, Model, Observer, Silent, StepContext, StepOutput, StopReason, Threads,
    TrainConfig, Trainer,
};
