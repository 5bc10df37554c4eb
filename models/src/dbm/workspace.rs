//! Buffers that outlive a call: per-layer state matrices ([`LayerBufs`]),
//! the weights packed to bf16 ([`PackedLayers`]) and the weights as the
//! operands of a step's or a call's products ([`LayerOps`]); the caller-kept
//! inference scratch [`DbmScratch`] and the training step's [`Workspace`].
//! Everything grows to the largest batch seen and is reused, so steady use
//! allocates nothing.

use latent_engine::ParamSet;
use latent_kernels::gemm::PackedBf16;
use latent_kernels::{Dispatch, Operand, Precision};

use super::weight_index;

/// One `rows x n_l` row-major buffer per layer `l = 0..=L`, grown to the
/// largest `rows` seen.
#[derive(Debug, Default)]
pub(super) struct LayerBufs {
    pub(super) rows: usize,
    pub(super) sizes: Vec<usize>,
    pub(super) bufs: Vec<Vec<f32>>,
}

impl LayerBufs {
    /// Room for `rows` rows of layers of `sizes` (keeps larger buffers).
    pub(super) fn ensure(&mut self, rows: usize, sizes: &[usize]) {
        if rows <= self.rows && self.sizes == sizes {
            return;
        }
        if self.sizes != sizes {
            self.sizes = sizes.to_vec();
            self.rows = 0;
        }
        self.rows = rows.max(self.rows);
        self.bufs = sizes.iter().map(|&n| vec![0.0; self.rows * n]).collect();
    }

    /// Layer `l`'s first `rows` rows, mutable, with its neighbours' (`None`
    /// beyond the ends).
    pub(super) fn split(
        &mut self,
        l: usize,
        rows: usize,
    ) -> (Option<&[f32]>, &mut [f32], Option<&[f32]>) {
        let sizes = &self.sizes;
        let (below, rest) = self.bufs.split_at_mut(l);
        let (cur, above) = rest.split_first_mut().expect("layer l exists");
        (
            below.last().map(|b| &b[..rows * sizes[l - 1]]),
            &mut cur[..rows * sizes[l]],
            above.first().map(|a| &a[..rows * sizes[l + 1]]),
        )
    }

    /// Layer `l`'s first `rows` rows.
    pub(super) fn layer(&self, l: usize, rows: usize) -> &[f32] {
        &self.bufs[l][..rows * self.sizes[l]]
    }

    /// Layer `l`'s first `rows` rows, mutable.
    pub(super) fn layer_mut(&mut self, l: usize, rows: usize) -> &mut [f32] {
        &mut self.bufs[l][..rows * self.sizes[l]]
    }
}

/// Every `Wˡ` and `Wˡᵀ` rounded to bf16 and packed as the right operands of
/// the products `Hˡ⁻¹·Wˡ` and `Hˡ·Wˡᵀ`, for a model in bf16: packed once per
/// training step or inference call and read by all its products. Repacking
/// reuses the storage. Unused (empty) in f32.
#[derive(Debug, Default)]
pub(super) struct PackedLayers {
    up: Vec<PackedBf16>,
    down: Vec<PackedBf16>,
}

impl PackedLayers {
    /// For bf16, packs every weight matrix of `params` (a DBM of `depth`
    /// layers) both ways, in place; for f32, nothing.
    pub(super) fn repack(&mut self, precision: Precision, params: &ParamSet, depth: usize) {
        if precision != Precision::Bf16 {
            return;
        }
        self.up.resize_with(depth, PackedBf16::default);
        self.down.resize_with(depth, PackedBf16::default);
        let dispatch = Dispatch::global();
        for l in 1..=depth {
            let w = params.value(weight_index(l)).view();
            dispatch.repack_bf16_b(w, &mut self.up[l - 1]);
            dispatch.repack_bf16_b(w.t(), &mut self.down[l - 1]);
        }
    }
}

/// The weights as the right operands of products in the model's precision
/// (bf16: the forms packed by [`PackedLayers::repack`]).
#[derive(Clone, Copy)]
pub(super) struct LayerOps<'a> {
    pub(super) precision: Precision,
    pub(super) params: &'a ParamSet,
    pub(super) packed: &'a PackedLayers,
}

impl<'a> LayerOps<'a> {
    /// `Wˡ`, the B of `Hˡ⁻¹·Wˡ` (upwards into layer `l`).
    pub(super) fn up(&self, l: usize) -> Operand<'a> {
        match self.precision {
            Precision::F32 => Operand::F32(self.params.value(weight_index(l)).view()),
            Precision::Bf16 => Operand::Packed(&self.packed.up[l - 1]),
        }
    }

    /// `Wˡᵀ`, the B of `Hˡ·Wˡᵀ` (downwards into layer `l − 1`).
    pub(super) fn down(&self, l: usize) -> Operand<'a> {
        match self.precision {
            Precision::F32 => Operand::F32(self.params.value(weight_index(l)).view().t()),
            Precision::Bf16 => Operand::Packed(&self.packed.down[l - 1]),
        }
    }
}

/// Buffers for the mean-field posteriors and the inference calls of a
/// [`Dbm`](super::Dbm), kept by the caller: they grow to the largest batch
/// seen and are reused, so calling batch after batch allocates nothing
/// once warm. After [`Dbm::mean_field`](super::Dbm::mean_field) the
/// posteriors are read with [`posterior`](DbmScratch::posterior).
#[derive(Debug, Default)]
pub struct DbmScratch {
    /// Rows of the last mean-field call.
    pub(super) rows: usize,
    /// `μ⁰ = v` (the data, gathered) and `μ¹ … μᴸ`.
    pub(super) mu: LayerBufs,
    /// The new values of a layer's update, swapped in.
    pub(super) next: LayerBufs,
    /// `v·W¹` of the mean-field rows (`rows x n1`), computed once a call.
    pub(super) bottom_up: Vec<f32>,
    /// The chains of sampling (one buffer per layer), and their
    /// pre-activations / probabilities (per layer, reused).
    pub(super) states: LayerBufs,
    pub(super) probs: LayerBufs,
    /// bf16: the weights packed once per call.
    pub(super) packed: PackedLayers,
    /// Reconstructions for the squared-error score.
    pub(super) recon: Vec<f32>,
}

impl DbmScratch {
    /// Empty buffers (they grow on first use).
    pub fn new() -> Self {
        Self::default()
    }

    /// Rows of the last [`Dbm::mean_field`](super::Dbm::mean_field) call.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The mean-field posterior `μˡ` of the last
    /// [`Dbm::mean_field`](super::Dbm::mean_field) call, `rows x n_l`
    /// row-major (`l = 0` is the data; `None` past the top layer).
    pub fn posterior(&self, l: usize) -> Option<&[f32]> {
        (l < self.mu.sizes.len()).then(|| self.mu.layer(l, self.rows))
    }
}

/// Buffers of one training step, sized for the largest batch seen.
#[derive(Debug, Default)]
pub(super) struct Workspace {
    /// The positive phase's mean-field buffers.
    pub(super) mf: DbmScratch,
    /// The chains' pre-activations / probabilities, per layer.
    pub(super) probs: LayerBufs,
    /// Column sums per layer: of the data's posteriors and of the chains.
    pub(super) sum_data: Vec<Vec<f32>>,
    pub(super) sum_chains: Vec<Vec<f32>>,
    /// The visible means of `μ¹` (`B x n0`) and their per-row errors.
    pub(super) recon: Vec<f32>,
    pub(super) recon_rows: Vec<f32>,
    /// bf16: the weights packed once per step.
    pub(super) packed: PackedLayers,
}

impl Workspace {
    /// Sizes the buffers for `rows` data rows and `chains` chains.
    pub(super) fn ensure(&mut self, rows: usize, chains: usize, sizes: &[usize]) {
        self.probs.ensure(chains, sizes);
        if self.sum_data.len() != sizes.len() {
            self.sum_data = sizes.iter().map(|&n| vec![0.0; n]).collect();
            self.sum_chains = sizes.iter().map(|&n| vec![0.0; n]).collect();
        }
        if self.recon_rows.len() < rows {
            self.recon = vec![0.0; rows * sizes[0]];
            self.recon_rows = vec![0.0; rows];
        }
    }
}
