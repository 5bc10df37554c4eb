//! Per-phase timing of the training step ([`StepProfile`]) and the
//! stopwatch that takes it ([`PhaseClock`]).

use std::time::{Duration, Instant};

/// Where the time of [`Rbm::cd_gradient`] went, summed over the steps since
/// profiling was switched on ([`Rbm::set_profiling`]): for finding what to
/// optimise, and for benchmark breakdowns.
///
/// [`Rbm::cd_gradient`]: super::Rbm::cd_gradient
/// [`Rbm::set_profiling`]: super::Rbm::set_profiling
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepProfile {
    /// Steps measured.
    pub steps: u64,
    /// The serial set-up between the workspace's allocation check and the
    /// chain region: bf16 packing of `W` and `Wᵀ`, and σ and `b/σ` when σ
    /// is learned.
    pub setup: Duration,
    /// The positive phase and the Gibbs chain (each block's copy of its
    /// minibatch rows and PCD chain states, the V x H products, the
    /// samplers and the reconstruction error).
    pub chain: Duration,
    /// Column sums and the bias (and learned-σ) gradients.
    pub bias_gradients: Duration,
    /// The weight gradient product (and the sparsity term).
    pub weight_gradient: Duration,
}

impl StepProfile {
    /// The phases as `(name, total time)`, in step order.
    pub fn phases(&self) -> [(&'static str, Duration); 4] {
        [
            ("setup", self.setup),
            ("chain", self.chain),
            ("bias_gradients", self.bias_gradients),
            ("weight_gradient", self.weight_gradient),
        ]
    }

    /// The total of all phases.
    pub fn total(&self) -> Duration {
        self.phases().iter().map(|&(_, t)| t).sum()
    }

    /// Adds the steps and phase times of `other` to these.
    pub(super) fn add(&mut self, other: &StepProfile) {
        self.steps += other.steps;
        self.setup += other.setup;
        self.chain += other.chain;
        self.bias_gradients += other.bias_gradients;
        self.weight_gradient += other.weight_gradient;
    }
}

/// A stopwatch that reads the clock only when profiling is on.
pub(super) struct PhaseClock(Option<Instant>);

impl PhaseClock {
    pub(super) fn new(on: bool) -> Self {
        PhaseClock(on.then(Instant::now))
    }

    /// Time since the last lap (zero when off).
    pub(super) fn lap(&mut self) -> Duration {
        match &mut self.0 {
            Some(t) => {
                let now = Instant::now();
                let d = now - *t;
                *t = now;
                d
            }
            None => Duration::ZERO,
        }
    }
}
