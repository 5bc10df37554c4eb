//! Training runtime for latent: matrices and workspaces, data readers,
//! minibatching, optimisers, schedules, checkpoints and progress reporting.
//!
//! The engine knows nothing about particular models; models are built on it
//! in `latent-models`. `unsafe` is forbidden here: the kernels crate is the
//! only place that needs it.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod checkpoint;
pub mod data;
pub mod error;
mod fsutil;
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
    BatchProgress, Control, EarlyStopping, EpochProgress, FitSummary, Metrics, Model, Observer,
    Silent, StepContext, StepOutput, StopReason, Threads, TrainConfig, Trainer,
};
