//! The buffers of a dense autoencoder: the activations of a forward pass
//! ([`Levels`]), the model's own training workspace ([`Workspace`]) and the
//! caller-kept inference workspace ([`AeScratch`]).

use latent_kernels::penalty::contractive_workspace_len;

use super::config::AeConfig;
use crate::ae::operands::PackedWeights;
use crate::ae::util::{grown, grown_levels};

/// The activations of one forward pass, each level a dense row-major
/// `rows x n` buffer (or longer: buffers only grow).
#[derive(Debug, Default)]
pub(super) struct Levels {
    /// Encoder levels `h[0]` (the possibly corrupted input) … `h[L]`.
    pub(super) h: Vec<Vec<f32>>,
    /// Decoder outputs per level `0..L` (`g[0]` = output pre-activation).
    pub(super) g: Vec<Vec<f32>>,
}

impl Levels {
    /// Grows the encoder levels `h[0..=L]` to hold `rows` rows of `sizes`.
    pub(super) fn ensure_encoder(&mut self, rows: usize, sizes: &[usize]) {
        grown_levels(&mut self.h, rows, sizes);
    }

    /// Grows the encoder and decoder levels to hold `rows` rows of `sizes`.
    pub(super) fn ensure(&mut self, rows: usize, sizes: &[usize]) {
        grown_levels(&mut self.h, rows, sizes);
        grown_levels(&mut self.g, rows, &sizes[..sizes.len() - 1]);
    }
}

/// The buffers of one training step, sized for the largest batch seen.
#[derive(Debug, Default)]
pub(super) struct Workspace {
    rows: usize,
    /// The forward pass.
    pub(super) fwd: Levels,
    /// The clean input, `B x V`.
    pub(super) clean: Vec<f32>,
    /// Deltas at the decoder levels `0..L`.
    pub(super) dg: Vec<Vec<f32>>,
    /// Deltas at the encoder levels `1..=L` (`dh[0]` unused).
    pub(super) dh: Vec<Vec<f32>>,
    /// Batch-mean code activations (KL sparsity), `H_L`.
    pub(super) rho_hat: Vec<f32>,
    /// Workspace of the first layer's contractive kernel.
    pub(super) cwork: Vec<f32>,
    /// `n_j = Σ_k W_kj²` of a deeper contractive layer.
    pub(super) nvec: Vec<f32>,
    /// `t_j = Σ_i s_ij²` of a deeper contractive layer.
    pub(super) tvec: Vec<f32>,
    /// The code layer's pre-activation, `B x H_L` (code noise only).
    pub(super) code_pre: Vec<f32>,
    /// The weights packed for a bf16 step.
    pub(super) packed: PackedWeights,
}

impl Workspace {
    /// Sizes every buffer for batches of up to `rows` rows (allocates only
    /// when `rows` is larger than any seen before).
    pub(super) fn ensure(&mut self, rows: usize, cfg: &AeConfig) {
        if rows <= self.rows && !self.fwd.h.is_empty() {
            return;
        }
        let rows = rows.max(self.rows);
        self.rows = rows;
        let s = &cfg.sizes;
        let l = cfg.depth();
        self.fwd.ensure(rows, s);
        self.clean = vec![0.0; rows * s[0]];
        self.dg = s[..l].iter().map(|&n| vec![0.0; rows * n]).collect();
        self.dh = s.iter().map(|&n| vec![0.0; rows * n]).collect();
        self.rho_hat = vec![0.0; s[l]];
        if cfg.code_noise.is_some() {
            self.code_pre = vec![0.0; rows * s[l]];
        }
        if cfg.contractive.is_some() {
            self.cwork = vec![0.0; contractive_workspace_len(rows, s[1])];
            let widest = s.iter().copied().max().unwrap_or(0);
            self.nvec = vec![0.0; widest];
            self.tvec = vec![0.0; widest];
        }
    }
}

/// The inference workspace of an [`Autoencoder`](super::Autoencoder): the
/// buffers that [`encode_with`](super::Autoencoder::encode_with),
/// [`reconstruct_with`](super::Autoencoder::reconstruct_with) and the
/// reconstruction errors' `_with` forms use, kept by the caller so that the
/// model can be shared (`&self`). Its buffers only grow: once they have held
/// the largest batch of every model they serve (one scratch can serve models
/// of different shapes), those calls allocate nothing.
#[derive(Debug, Default)]
pub struct AeScratch {
    /// The forward pass.
    pub(super) fwd: Levels,
    /// Per-row losses of a batch (the mean reconstruction error).
    pub(super) errs: Vec<f32>,
}

impl AeScratch {
    /// An empty scratch; it grows on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// The per-row error buffer, grown to `rows` (taken out of the scratch so
    /// that the forward buffers stay usable; put back with
    /// [`put_errs`](Self::put_errs)).
    pub(super) fn take_errs(&mut self, rows: usize) -> Vec<f32> {
        let mut errs = std::mem::take(&mut self.errs);
        grown(&mut errs, rows);
        errs
    }

    /// Puts back the buffer [`take_errs`](Self::take_errs) took.
    pub(super) fn put_errs(&mut self, errs: Vec<f32>) {
        self.errs = errs;
    }
}
