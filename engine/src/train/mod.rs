//! The training loop: a [`Trainer`] drives any [`Model`] through epochs of
//! shuffled minibatches with an [`Optimizer`](crate::Optimizer), reports progress to an
//! [`Observer`], stops early on a validation metric, guards against
//! divergence, and saves and restores [`Checkpoint`](crate::Checkpoint)s.
//!
//! # Threads
//! [`Threads`] is the one place that decides how many threads training
//! uses. The trainer turns it into a [`Par`](crate::Par) that it passes to the model in
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
//! # Checkpoints during a run
//! [`Trainer::fit_checkpointed`] hands the trainer to a save callback every
//! N epochs (not at the end, which the caller saves), and
//! [`Trainer::set_epochs`] changes the epoch target in place; together they
//! give what fitting in pieces and rebuilding the trainer from its own
//! checkpoint gives, bit for bit.
//!
//! # Divergence
//! Before each update the loss and every gradient are checked; a NaN or
//! infinity stops training with
//! [`EngineError::Diverged`](crate::EngineError::Diverged) naming the
//! tensor, the flat index, the epoch and the batch, and the parameters are
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
//!
//! # Data-parallel training
//! A trainer given a [`GradientReducer`] ([`Trainer::set_reducer`]) is one
//! rank of a synchronous data-parallel run: it trains on its share of every
//! minibatch and the ranks' gradients are summed before the same update
//! runs on each (`reduce.rs`; [`LocalReducer`] runs the ranks as threads);
//! persistent state kept by row (PCD chains) is split among the ranks
//! and gathered for checkpoints (`rank_state.rs`). With
//! [`Trainer::set_average_every`] the ranks instead take local steps and
//! average their parameters and optimiser state every k steps and at each
//! epoch's end (`averaging.rs`).
//! Without one, training is exactly as described above.
//!
//! # Files
//! [`Model`] and what a step gives and gets are in `model.rs`; the
//! configuration ([`TrainConfig`], [`Threads`], [`EarlyStopping`]) in
//! `config.rs`; the [`Observer`] and the progress it sees in `observe.rs`;
//! the [`Trainer`] (construction, checkpoints) in `trainer.rs`; its loop,
//! phase by phase, in `fit.rs`.

mod averaging;
mod config;
mod fit;
mod model;
mod observe;
mod rank_state;
mod reduce;
mod trainer;

pub use config::{EarlyStopping, Threads, TrainConfig};
pub use model::{FusedUpdate, MAX_METRICS, Metrics, Model, StepContext, StepOutput};
pub use observe::{
    BatchProgress, Control, EpochProgress, FitSummary, Observer, Silent, StopReason,
};
pub use reduce::{GradientReducer, LocalReducer, PACK_BELOW, StepSums, SumOf, add_as_f32};
pub use trainer::Trainer;
