//! The buffers of a VAE: the activations of a forward pass ([`Levels`]),
//! the model's own training workspace ([`Workspace`]) and the caller-kept
//! inference workspace ([`VaeScratch`]).

use crate::ae::operands::PackedWeights;
use crate::ae::util::{grown, grown_levels};

/// The activations of one pass through encoder, sample and decoder, each a
/// dense row-major buffer of at least `rows` rows (buffers only grow).
#[derive(Debug, Default)]
pub(super) struct Levels {
    /// Levels `0..=k` of the encoder (`h[0]` the input).
    pub(super) h: Vec<Vec<f32>>,
    /// The posterior means `μ`, `rows x Z`.
    pub(super) mu: Vec<f32>,
    /// The posterior log-variances `ln σ²`, `rows x Z`.
    pub(super) lv: Vec<f32>,
    /// The latent sample `z = μ + σ ε` (or the codes to decode), `rows x Z`.
    pub(super) z: Vec<f32>,
    /// The standard normal draws `ε`, `rows x Z`.
    pub(super) eps: Vec<f32>,
    /// Decoder outputs per level `0..=k` (`g[0]` the output pre-activation).
    pub(super) g: Vec<Vec<f32>>,
    /// Per-row `-ln p(x|z)`.
    pub(super) row_a: Vec<f32>,
    /// Per-row KL divergence.
    pub(super) row_b: Vec<f32>,
}

impl Levels {
    /// Grows every buffer to hold `rows` rows of `levels`
    /// (`[V, H_1, …, H_k, Z]`).
    pub(super) fn ensure(&mut self, rows: usize, levels: &[usize]) {
        let k = levels.len() - 2;
        let z = levels[k + 1];
        grown_levels(&mut self.h, rows, &levels[..=k]);
        grown_levels(&mut self.g, rows, &levels[..=k]);
        for b in [&mut self.mu, &mut self.lv, &mut self.z, &mut self.eps] {
            grown(b, rows * z);
        }
        grown(&mut self.row_a, rows);
        grown(&mut self.row_b, rows);
    }
}

/// The buffers of one training step, sized for the largest batch seen.
#[derive(Debug, Default)]
pub(super) struct Workspace {
    rows: usize,
    /// The forward pass.
    pub(super) fwd: Levels,
    /// Deltas at the encoder levels.
    pub(super) dh: Vec<Vec<f32>>,
    /// The gradient at `μ`.
    pub(super) dmu: Vec<f32>,
    /// The gradient at `ln σ²`.
    pub(super) dlv: Vec<f32>,
    /// The gradient at `z`.
    pub(super) dz: Vec<f32>,
    /// Deltas at the decoder levels.
    pub(super) dg: Vec<Vec<f32>>,
    /// The weights packed for a bf16 step.
    pub(super) packed: PackedWeights,
}

impl Workspace {
    /// Sizes every buffer for batches of up to `rows` rows (allocates only
    /// when `rows` is larger than any seen before).
    pub(super) fn ensure(&mut self, rows: usize, levels: &[usize]) {
        if rows <= self.rows && !self.dh.is_empty() {
            return;
        }
        self.rows = rows;
        let k = levels.len() - 2;
        let z = levels[k + 1];
        self.fwd.ensure(rows, levels);
        self.dh = levels[..=k].iter().map(|&n| vec![0.0; rows * n]).collect();
        self.dg = levels[..=k].iter().map(|&n| vec![0.0; rows * n]).collect();
        for b in [&mut self.dmu, &mut self.dlv, &mut self.dz] {
            *b = vec![0.0; rows * z];
        }
    }
}

/// The inference workspace of a [`Vae`](super::Vae): the buffers that the
/// `_with` forms of its inference and evaluation methods use, kept by the
/// caller so that the model can be shared (`&self`). Its buffers only grow:
/// once they have held the largest batch of every model they serve (one
/// scratch can serve models of different shapes), those calls allocate
/// nothing.
#[derive(Debug, Default)]
pub struct VaeScratch {
    /// The forward pass.
    pub(super) fwd: Levels,
    /// The importance log-weights of a batch, `k x batch`.
    pub(super) logw: Vec<f64>,
    /// Zeros, the prior mean of [`sample_with`](super::Vae::sample_with);
    /// never written.
    pub(super) zeros: Vec<f32>,
}

impl VaeScratch {
    /// An empty scratch; it grows on first use.
    pub fn new() -> Self {
        Self::default()
    }
}
