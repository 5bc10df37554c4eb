//! Buffers that outlive a call: the training step's [`Workspace`] and the
//! inference calls' [`RbmScratch`], both grown to the largest batch seen and
//! reused, so that steady use allocates nothing.

/// Buffers of one training step, sized for the largest batch seen.
#[derive(Debug, Default)]
pub(super) struct Workspace {
    pub(super) rows: usize,
    /// `[V⁰; Vᵏ]`, `2B x V`.
    pub(super) stacked_v: Vec<f32>,
    /// `[P⁰; Pᵏ]` (then `[P⁰; −Pᵏ]`), `2B x H`.
    pub(super) stacked_p: Vec<f32>,
    /// Hidden samples, `B x H`.
    pub(super) h: Vec<f32>,
    /// Visible means before sampling, `B x V`.
    pub(super) v_mean: Vec<f32>,
    /// Column sums, `V` and `H` long, two of each.
    pub(super) sum_v: [Vec<f32>; 2],
    pub(super) sum_p: [Vec<f32>; 2],
    /// Learned σ: `σ`, `b/σ` (V each) and `[P⁰; Pᵏ] Wᵀ` (`2B x V`).
    pub(super) sigma: Vec<f32>,
    pub(super) beta: Vec<f32>,
    pub(super) pw: Vec<f32>,
    /// Per-row reconstruction errors, `B`.
    pub(super) recon_rows: Vec<f32>,
    /// Sparsity: the rank-one weight-gradient term's factors, the mean
    /// visible data `v̄` (V) and `cost·(q̂ − ρ)` (H).
    pub(super) sparse_rows: Vec<f32>,
    pub(super) sparse_cols: Vec<f32>,
}

impl Workspace {
    /// Sizes the buffers for `rows` rows (`learn_sigma`: also `[P⁰; Pᵏ] Wᵀ`,
    /// which only a learned σ needs).
    pub(super) fn ensure(&mut self, rows: usize, v: usize, h: usize, learn_sigma: bool) {
        if rows <= self.rows {
            return;
        }
        self.rows = rows;
        self.stacked_v = vec![0.0; 2 * rows * v];
        self.stacked_p = vec![0.0; 2 * rows * h];
        self.h = vec![0.0; rows * h];
        self.v_mean = vec![0.0; rows * v];
        self.sum_v = [vec![0.0; v], vec![0.0; v]];
        self.sum_p = [vec![0.0; h], vec![0.0; h]];
        self.sigma = vec![1.0; v];
        self.beta = vec![0.0; v];
        self.pw = if learn_sigma {
            vec![0.0; 2 * rows * v]
        } else {
            Vec::new()
        };
        self.recon_rows = vec![0.0; rows];
        self.sparse_rows = vec![0.0; v];
        self.sparse_cols = vec![0.0; h];
    }
}

/// Buffers for the inference calls of [`Rbm`] ([`transform_with`],
/// [`visible_means_with`], [`reconstruct_with`], [`free_energy_with`],
/// [`gibbs_with`], [`sample_with`]), kept by the caller: they grow to the
/// largest batch seen and are reused, so calling these batch after batch
/// allocates nothing after the first call. The methods without `_with` make
/// a fresh one per call.
///
/// [`Rbm`]: super::Rbm
/// [`transform_with`]: super::Rbm::transform_with
/// [`visible_means_with`]: super::Rbm::visible_means_with
/// [`reconstruct_with`]: super::Rbm::reconstruct_with
/// [`free_energy_with`]: super::Rbm::free_energy_with
/// [`gibbs_with`]: super::Rbm::gibbs_with
/// [`sample_with`]: super::Rbm::sample_with
#[derive(Debug, Default)]
pub struct RbmScratch {
    /// σ per visible unit (Gaussian visibles).
    pub(super) sigma: Vec<f32>,
    /// `x/σ` (learned σ), `rows x V`.
    pub(super) scaled: Vec<f32>,
    /// Hidden probabilities or activations, `rows x H`.
    pub(super) hidden_p: Vec<f32>,
    /// Hidden samples, `rows x H`.
    pub(super) hidden_h: Vec<f32>,
    /// Visible means, `rows x V`.
    pub(super) visible: Vec<f32>,
    /// The chains' visible states of [`Rbm::sample_with`](super::Rbm::sample_with), `n x V`.
    pub(super) chains: Vec<f32>,
}

impl RbmScratch {
    /// Empty buffers (they grow on first use).
    pub fn new() -> Self {
        Self::default()
    }
}

/// The first `len` floats of `buf`, growing it (zero-filled) when shorter.
pub(super) fn grown(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}
