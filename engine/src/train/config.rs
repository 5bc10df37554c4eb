//! How to train: [`TrainConfig`], the [`Threads`] it runs on and
//! [`EarlyStopping`].

use crate::optim::OptimizerConfig;

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
    /// gradient product
    /// ([`Model::fusable_tensor`](crate::Model::fusable_tensor)): the same
    /// parameters, one pass over the weights fewer per step. On by default.
    pub fuse_updates: bool,
}

impl TrainConfig {
    /// The configuration as one line of `key=value` pairs (stored in
    /// checkpoints and shown by `latent info`).
    pub fn describe(&self) -> String {
        use crate::optim::OptimizerKind;
        let optimizer = match self.optimizer.kind {
            OptimizerKind::Sgd { momentum } => format!("sgd(momentum={})", momentum.describe()),
            OptimizerKind::Adam { beta1, beta2, eps } => {
                format!("adam(beta1={beta1},beta2={beta2},eps={eps})")
            }
        };
        let lr = &self.optimizer.lr;
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
            "epochs={} batch={} seed={} shuffle={} drop_last={} optimizer={optimizer} {} weight_decay={} threads={threads} early_stopping={early} fuse_updates={}",
            self.epochs,
            self.batch_size,
            self.seed,
            self.shuffle,
            self.drop_last,
            lr.describe(),
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
