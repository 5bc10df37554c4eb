//! The right operands of the autoencoders' products in the model's
//! precision: a weight matrix as stored or transposed ([`Use`]), taken as
//! f32, rounded to bf16 by the product itself, or (in a bf16 training step)
//! from its packing ([`PackedWeights`], made once per step and reused by
//! every product with that matrix in that orientation); data operands
//! (activations, deltas) are rounded by the product. Packed and unpacked
//! bf16 products give the same bits.

use latent_engine::ParamSet;
use latent_kernels::Dispatch;
use latent_kernels::gemm::{MatRef, Operand, PackedBf16, Precision};

/// How a product multiplies by a stored weight matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    /// `· W`.
    AsStored,
    /// `· Wᵀ`.
    Transposed,
}

impl Use {
    fn slot(self) -> usize {
        match self {
            Use::AsStored => 0,
            Use::Transposed => 1,
        }
    }
}

/// A model's weight matrices rounded to bf16 and packed, per parameter index
/// and [`Use`]: kept in a training workspace and repacked in place at the
/// start of every bf16 step (after the optimiser's update), so that a step
/// allocates nothing once the packings have held the weights.
#[derive(Debug, Default)]
pub(crate) struct PackedWeights {
    /// Per parameter index, `[as stored, transposed]`.
    packs: Vec<[PackedBf16; 2]>,
    /// Whether each packing holds this step's weights.
    current: Vec<[bool; 2]>,
}

impl PackedWeights {
    /// Forgets every packing (their storage is kept) and makes room for
    /// `n_params` parameters: call at the start of a step, then
    /// [`pack`](Self::pack) what it multiplies by.
    pub(crate) fn start_step(&mut self, n_params: usize) {
        if self.packs.len() < n_params {
            self.packs.resize_with(n_params, Default::default);
            self.current.resize(n_params, [false; 2]);
        }
        self.current.iter_mut().for_each(|c| *c = [false; 2]);
    }

    /// Packs parameter `idx` of `params` for products `· W` or `· Wᵀ`
    /// (`use_`), into its existing storage (after [`start_step`](Self::start_step)).
    /// Packing it again in the same step does nothing (tied weights).
    pub(crate) fn pack(&mut self, params: &ParamSet, idx: usize, use_: Use) {
        if self.current[idx][use_.slot()] {
            return;
        }
        let view = params.value(idx).view();
        let view = match use_ {
            Use::AsStored => view,
            Use::Transposed => view.t(),
        };
        Dispatch::global().repack_bf16_b(view, &mut self.packs[idx][use_.slot()]);
        self.current[idx][use_.slot()] = true;
    }

    fn get(&self, idx: usize, use_: Use) -> Option<&PackedBf16> {
        let current = self.current.get(idx)?[use_.slot()];
        current.then(|| &self.packs[idx][use_.slot()])
    }
}

/// Where a model's products take their right operands: its parameters in
/// its precision, and the step's packings where there are some.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Weights<'a> {
    params: &'a ParamSet,
    precision: Precision,
    packed: Option<&'a PackedWeights>,
}

impl<'a> Weights<'a> {
    /// The parameters `params` multiplied in `precision`, from `packed`
    /// where it holds a packing (bf16 only).
    pub(crate) fn new(
        params: &'a ParamSet,
        precision: Precision,
        packed: Option<&'a PackedWeights>,
    ) -> Self {
        Weights {
            params,
            precision,
            packed: packed.filter(|_| precision == Precision::Bf16),
        }
    }

    /// Parameter `idx` as the right operand `· W` or `· Wᵀ`.
    pub(crate) fn of(&self, idx: usize, use_: Use) -> Operand<'a> {
        if let Some(p) = self.packed.and_then(|p| p.get(idx, use_)) {
            return Operand::Packed(p);
        }
        let view = self.params.value(idx).view();
        self.precision.operand(match use_ {
            Use::AsStored => view,
            Use::Transposed => view.t(),
        })
    }

    /// A data matrix (activations, deltas) as a right operand.
    pub(crate) fn data<'b>(&self, m: MatRef<'b>) -> Operand<'b> {
        self.precision.operand(m)
    }
}
