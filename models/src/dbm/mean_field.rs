//! Mean-field posteriors (the variational positive phase): the factorised
//! `q(h|v) = Π_l Π_j μˡ_j^{hˡ_j}(1 − μˡ_j)^{1−hˡ_j}` that maximises the
//! bound `ln p(v) ≥ −E_q[E(v, h)] + H(q) − ln Z`, by the fixed-point updates
//! `μˡ ← σ(μˡ⁻¹Wˡ + μˡ⁺¹Wˡ⁺¹ᵀ + bˡ)` (`μ⁰ = v`; the top layer sees only the
//! layer below).
//!
//! The schedule alternates the odd layers and the even ones, as the Gibbs
//! sampler does: given the even layers the odd ones do not interact, so
//! updating all odd layers at once is an exact coordinate ascent step on
//! the bound for that half (likewise for the even half), and the bound
//! cannot decrease from one update to the next. Updating every layer at
//! once from the old values (Jacobi) has no such guarantee and can
//! oscillate; a bottom-to-top sequential schedule is also monotone but
//! gives the updates of a parity an order they do not need. With two
//! hidden layers the two schedules are the same.
//!
//! Start: one bottom-up pass with the input from below doubled for every
//! layer but the top (`μˡ = σ(2μˡ⁻¹Wˡ + bˡ)`), standing in for the missing
//! top-down input, as in Salakhutdinov & Hinton (2009). A sweep updates the
//! odd layers then the even ones; the iteration stops after the sweep in
//! which no `μ` of any row changed by more than the tolerance, or after the
//! maximum number of sweeps. Whether a batch stops is decided for the
//! batch as a whole (the largest change of any row), so a row's posterior
//! may differ with the rows it is computed with, by about the tolerance.
//!
//! Each update is one or two products into the layer's next buffer, the
//! bias and the sigmoid fused into the write-out of the last one.

use latent_engine::ParamSet;
use latent_kernels::Par;
use latent_kernels::activation::{Activation, BiasActivation, bias_activation};
use latent_kernels::gemm::{Accum, Epilogue, MatMut, MatRef, NoEpilogue, product};

use super::workspace::{LayerBufs, LayerOps};
use super::{Dbm, DbmScratch};
use crate::ae::util::copy_row_range;
use crate::error::Result;

/// How far mean-field iterates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanFieldOptions {
    /// The most sweeps (odd layers, then even layers), at least 1.
    pub max_iters: usize,
    /// Stop after a sweep whose largest absolute change is at most this
    /// (0: run all `max_iters`).
    pub tol: f32,
}

/// What a mean-field call did.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MeanFieldStats {
    /// Sweeps run.
    pub iterations: usize,
    /// The largest absolute change of any posterior in the last sweep.
    pub max_change: f32,
}

/// The model as the products see it: sizes, parameters, weight operands.
#[derive(Clone, Copy)]
pub(super) struct Net<'a> {
    pub(super) sizes: &'a [usize],
    pub(super) params: &'a ParamSet,
    pub(super) ops: LayerOps<'a>,
}

impl<'a> Net<'a> {
    /// The number of hidden layers `L`.
    pub(super) fn depth(&self) -> usize {
        self.sizes.len() - 1
    }

    /// `bˡ`.
    pub(super) fn bias(&self, l: usize) -> &'a [f32] {
        self.params.value(self.depth() + l).as_slice()
    }
}

/// `out ← epi(scale·below·Wˡ + above·Wˡ⁺¹ᵀ)` for `rows` rows of layer `l`:
/// the total input from the neighbours (`below`: layer `l − 1`, absent for
/// the visible layer; `above`: layer `l + 1`, absent for the top), with
/// `epi` (the bias, and the activation) fused into the last product.
#[allow(clippy::too_many_arguments)]
pub(super) fn layer_input<E: Epilogue>(
    net: &Net<'_>,
    l: usize,
    rows: usize,
    below: Option<&[f32]>,
    above: Option<&[f32]>,
    scale: f32,
    out: &mut [f32],
    epi: &E,
    par: Par,
) -> Result<()> {
    let n = net.sizes[l];
    let mut accum = Accum::Replace;
    if let Some(a) = above {
        let a = MatRef::row_major(a, rows, net.sizes[l + 1])?;
        let o = MatMut::row_major(out, rows, n)?;
        match below {
            Some(_) => product(1.0, a, net.ops.down(l + 1), accum, o, &NoEpilogue, par)?,
            None => product(1.0, a, net.ops.down(l + 1), accum, o, epi, par)?,
        }
        accum = Accum::Add { beta: 1.0 };
    }
    if let Some(b) = below {
        let b = MatRef::row_major(b, rows, net.sizes[l - 1])?;
        let o = MatMut::row_major(out, rows, n)?;
        product(scale, b, net.ops.up(l), accum, o, epi, par)?;
    }
    Ok(())
}

/// The visible means `E[v | h¹]` of `rows` rows of `h1` into `out`:
/// `σ(h¹W¹ᵀ + b⁰)` or (Gaussian) `h¹W¹ᵀ + b⁰`.
pub(super) fn visible_means(
    net: &Net<'_>,
    act: Activation,
    h1: &[f32],
    rows: usize,
    out: &mut [f32],
    par: Par,
) -> Result<()> {
    let epi = BiasActivation::new(net.bias(0), act);
    layer_input(net, 0, rows, None, Some(h1), 1.0, out, &epi, par)
}

/// Mean-field for the rows of `x` into `mu` (layer 0: `x` gathered), with
/// `next` as the updates' buffers and `bottom_up` holding `v·W¹` (`rows x
/// n1`): the data do not change during the iteration, so the first hidden
/// layer's input from below is computed once, not once per sweep.
pub(super) fn run(
    net: &Net<'_>,
    x: MatRef<'_>,
    opts: MeanFieldOptions,
    (mu, next, bottom_up): (&mut LayerBufs, &mut LayerBufs, &mut Vec<f32>),
    par: Par,
) -> Result<MeanFieldStats> {
    let (rows, depth) = (x.rows(), net.depth());
    mu.ensure(rows, net.sizes);
    next.ensure(rows, net.sizes);
    copy_row_range(&x, 0..rows, mu.layer_mut(0, rows));
    let n1 = net.sizes[1];
    if bottom_up.len() < rows * n1 {
        bottom_up.resize(rows * n1, 0.0);
    }
    let bottom_up = &mut bottom_up[..rows * n1];
    let v = MatRef::row_major(mu.layer(0, rows), rows, net.sizes[0])?;
    let c = MatMut::row_major(bottom_up, rows, n1)?;
    product(1.0, v, net.ops.up(1), Accum::Replace, c, &NoEpilogue, par)?;
    // The start: the input from below doubled (every layer but the top; a
    // DBM has at least two hidden layers, so not the first).
    let mu1 = mu.layer_mut(1, rows);
    for (m, &c) in mu1.iter_mut().zip(bottom_up.iter()) {
        *m = 2.0 * c;
    }
    bias_activation(Activation::Sigmoid, Some(net.bias(1)), mu1, rows, n1, par)?;
    for l in 2..=depth {
        let scale = if l < depth { 2.0 } else { 1.0 };
        let (below, cur, _) = mu.split(l, rows);
        let epi = BiasActivation::new(net.bias(l), Activation::Sigmoid);
        layer_input(net, l, rows, below, None, scale, cur, &epi, par)?;
    }
    let mut stats = MeanFieldStats::default();
    for t in 1..=opts.max_iters {
        let mut change = 0.0f32;
        for parity in [1, 0] {
            for l in (1..=depth).filter(|l| l % 2 == parity) {
                change = change.max(update(net, l, rows, (mu, next, bottom_up), par)?);
            }
        }
        stats = MeanFieldStats {
            iterations: t,
            max_change: change,
        };
        if opts.tol > 0.0 && change <= opts.tol {
            break;
        }
    }
    Ok(stats)
}

/// One update of layer `l` from its neighbours into `next`, swapped into
/// `mu`; returns the largest absolute change. Layer 1's input from below
/// is `bottom_up` (`v·W¹`, computed once by [`run`]).
fn update(
    net: &Net<'_>,
    l: usize,
    rows: usize,
    (mu, next, bottom_up): (&mut LayerBufs, &mut LayerBufs, &[f32]),
    par: Par,
) -> Result<f32> {
    let (below, cur, above) = mu.split(l, rows);
    let out = next.layer_mut(l, rows);
    let epi = BiasActivation::new(net.bias(l), Activation::Sigmoid);
    if l == 1 {
        out.copy_from_slice(bottom_up);
        let above = above.expect("a DBM has at least two hidden layers");
        let a = MatRef::row_major(above, rows, net.sizes[2])?;
        let o = MatMut::row_major(out, rows, net.sizes[1])?;
        let add = Accum::Add { beta: 1.0 };
        product(1.0, a, net.ops.down(2), add, o, &epi, par)?;
    } else {
        layer_input(net, l, rows, below, above, 1.0, out, &epi, par)?;
    }
    let change = cur
        .iter()
        .zip(out.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    std::mem::swap(&mut mu.bufs[l], &mut next.bufs[l]);
    Ok(change)
}

impl Dbm {
    /// The mean-field options of the configuration (`mf_iters`, `mf_tol`).
    pub fn mean_field_options(&self) -> MeanFieldOptions {
        self.config.mean_field_options()
    }

    /// The mean-field posteriors of the rows of `x` (`rows x n0`, any
    /// layout) with the configuration's options, into `scratch` (read them
    /// with [`DbmScratch::posterior`]). No allocation once the scratch has
    /// held as many rows.
    pub fn mean_field(
        &self,
        x: MatRef<'_>,
        scratch: &mut DbmScratch,
        par: Par,
    ) -> Result<MeanFieldStats> {
        self.mean_field_with(x, self.mean_field_options(), scratch, par)
    }

    /// [`mean_field`](Self::mean_field) with the given options.
    pub fn mean_field_with(
        &self,
        x: MatRef<'_>,
        opts: MeanFieldOptions,
        scratch: &mut DbmScratch,
        par: Par,
    ) -> Result<MeanFieldStats> {
        self.check_input("Dbm::mean_field", x.cols())?;
        if opts.max_iters == 0 {
            return Err(crate::ModelError::InvalidConfig {
                what: "mean-field max_iters",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        let DbmScratch {
            rows,
            mu,
            next,
            bottom_up,
            packed,
            ..
        } = scratch;
        packed.repack(self.precision, &self.params, self.depth());
        let net = self.net(packed);
        let stats = run(&net, x, opts, (mu, next, bottom_up), par)?;
        *rows = x.rows();
        Ok(stats)
    }

    /// The model as the products see it, with `packed` holding the bf16
    /// weights (repacked by the caller).
    pub(super) fn net<'a>(&'a self, packed: &'a super::workspace::PackedLayers) -> Net<'a> {
        Net {
            sizes: &self.config.sizes,
            params: &self.params,
            ops: LayerOps {
                precision: self.precision,
                params: &self.params,
                packed,
            },
        }
    }
}
