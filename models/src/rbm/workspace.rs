//! Buffers that outlive a call: the training step's [`Workspace`] and the
//! inference calls' [`RbmScratch`], both grown to the largest batch seen and
//! reused, so that steady use allocates nothing; and [`PackedWeights`], the
//! weights packed to bf16 for the products of a step or a call.

use latent_kernels::gemm::{MatRef, PackedBf16};
use latent_kernels::{Dispatch, Operand, Precision};

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
    /// bf16: `W` and `Wᵀ` packed once per step (repacked in place).
    pub(super) packed: PackedWeights,
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
    /// bf16: `W` and `Wᵀ` packed once per call of the calls that make
    /// several products with each ([`gibbs_with`], [`sample_with`]).
    ///
    /// [`gibbs_with`]: super::Rbm::gibbs_with
    /// [`sample_with`]: super::Rbm::sample_with
    pub(super) packed: PackedWeights,
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

/// `W` (`V x H`) and `Wᵀ` rounded to bf16 and packed as the right operands
/// of the products `V·W` and `H·Wᵀ`, for a model whose precision is bf16:
/// packed once (per training step, or per inference call) and read by
/// every product of it. Repacking reuses the storage, so it allocates
/// nothing once it has held these weights. Unused (empty) in f32.
#[derive(Debug, Default)]
pub(super) struct PackedWeights {
    /// `W`: the B of `V·W` (depth V, H columns).
    w: PackedBf16,
    /// `Wᵀ`: the B of `H·Wᵀ` (depth H, V columns).
    wt: PackedBf16,
}

/// The weights as the right operands of a step's (or a call's) products.
#[derive(Debug, Clone, Copy)]
pub(super) struct WeightOperands<'a> {
    /// The B of `V·W` (upwards: visible to hidden).
    pub(super) up: Operand<'a>,
    /// The B of `H·Wᵀ` (downwards: hidden to visible).
    pub(super) down: Operand<'a>,
}

impl PackedWeights {
    /// For bf16, packs `w` and `wᵀ` for the [`Dispatch::global`] kernel
    /// (which every product uses), in place; for f32, nothing.
    pub(super) fn repack(&mut self, precision: Precision, w: MatRef<'_>) {
        if precision == Precision::Bf16 {
            let dispatch = Dispatch::global();
            dispatch.repack_bf16_b(w, &mut self.w);
            dispatch.repack_bf16_b(w.t(), &mut self.wt);
        }
    }

    /// The operands of the products with `w`: for bf16, the packed forms
    /// (the caller has [`repack`](Self::repack)ed `w` since it last
    /// changed); for f32, the views `w` and `wᵀ` themselves.
    pub(super) fn operands<'a>(
        &'a self,
        precision: Precision,
        w: MatRef<'a>,
    ) -> WeightOperands<'a> {
        match precision {
            Precision::F32 => WeightOperands {
                up: Operand::F32(w),
                down: Operand::F32(w.t()),
            },
            Precision::Bf16 => WeightOperands {
                up: Operand::Packed(&self.w),
                down: Operand::Packed(&self.wt),
            },
        }
    }
}
