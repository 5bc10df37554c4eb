//! What an [`Observer`] sees of a run ([`BatchProgress`], [`EpochProgress`]),
//! how it asks to stop ([`Control`]), and what a fit reports at its end
//! ([`FitSummary`], [`StopReason`]).

use std::time::Duration;

use crate::checkpoint::EpochRecord;
use crate::train::Metrics;

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

/// Why [`Trainer::fit`](crate::Trainer::fit) returned.
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

/// What a call to [`Trainer::fit`](crate::Trainer::fit) did.
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
