//! The positive phase and the Gibbs chain of a training step, run block by
//! block of the minibatch's rows. Every row draws from its own stream, so
//! the results do not depend on how the rows are cut into blocks.

use latent_kernels::Par;
use latent_kernels::activation::{Activation, BiasActivation};
use latent_kernels::gemm::{Accum, BiasAdd, MatMut, MatRef, product};
use latent_kernels::random::{Scale, Streams, bernoulli, gaussian, sigmoid_bernoulli};
use latent_kernels::reduce::sq_err;

use super::workspace::WeightOperands;
use super::{HiddenUnits, VisibleUnits};
use crate::ae::util::copy_row_range;
use crate::error::Result;

/// Rows below which a block of the Gibbs chain is not worth its own task.
const CHAIN_MIN_ROWS: usize = 24;

/// What every block of the negative-phase chain shares.
pub(super) struct ChainCtx<'a> {
    /// The minibatch (V⁰ in the data's units; any layout).
    pub(super) x: MatRef<'a>,
    /// The weights `W` (`V x H`) and `Wᵀ` as the products' right operands,
    /// in the model's precision (bf16: packed once for the step).
    pub(super) w: WeightOperands<'a>,
    /// Visible biases (`b/σ` when σ is learned).
    pub(super) b: &'a [f32],
    /// Hidden biases.
    pub(super) c: &'a [f32],
    /// σ per visible unit (read only when learned).
    pub(super) sigma: &'a [f32],
    /// The factor of the products `VW` (2 for the bottom RBM of a DBM,
    /// [`DoubledInput::up_factor`](super::DoubledInput::up_factor)).
    pub(super) up_factor: f32,
    /// The factor of the products `HWᵀ` (2 for the top RBM of a DBM).
    pub(super) down_factor: f32,
    /// The visible units' kind (which sampler the chain uses).
    pub(super) visible: VisibleUnits,
    /// The hidden units' kind: Bernoulli samples of `σ(VW + c)`, or linear
    /// means `VW + c` sampled with unit-variance Gaussian noise.
    pub(super) hidden: HiddenUnits,
    /// The activation of the visible means' epilogue.
    pub(super) visible_act: Activation,
    /// Gibbs steps.
    pub(super) k: usize,
    /// PCD: the chain continues the persistent chains.
    pub(super) persistent: bool,
    /// Sample the visibles in the chain (else their means).
    pub(super) sample_v: bool,
    /// σ is learned: the chain runs on `v/σ`.
    pub(super) learn_sigma: bool,
    /// Visible units.
    pub(super) v_n: usize,
    /// Hidden units.
    pub(super) h_n: usize,
    /// The step's streams; every block offsets them to its first row.
    pub(super) streams: Streams,
}

/// Rows `r0 .. r0 + rows` of the step's buffers (all of them, before
/// [`run_blocks`] cuts them into blocks).
pub(super) struct ChainBlock<'a> {
    /// The block's first row in the minibatch.
    pub(super) r0: usize,
    /// The block's rows.
    pub(super) rows: usize,
    /// V⁰ (or V⁰/σ), copied in from the minibatch by the block.
    pub(super) sv_pos: &'a mut [f32],
    /// Vᵗ of the chain.
    pub(super) sv_neg: &'a mut [f32],
    /// P⁰.
    pub(super) sp_pos: &'a mut [f32],
    /// Pᵗ, and `−Pᵏ` at the end.
    pub(super) sp_neg: &'a mut [f32],
    /// Hidden samples.
    pub(super) h: &'a mut [f32],
    /// Visible means before sampling.
    pub(super) v_mean: &'a mut [f32],
    /// Per-row reconstruction errors.
    pub(super) recon_rows: &'a mut [f32],
    /// PCD: this block's rows of the persistent chains, which it continues
    /// and updates.
    pub(super) chain: Option<&'a mut [f32]>,
}

impl ChainBlock<'_> {
    /// The first `n` rows and the rest, as two blocks.
    fn split_at(self, n: usize, v_n: usize, h_n: usize) -> (Self, Self) {
        let (sv_pos, sv_pos_rest) = self.sv_pos.split_at_mut(n * v_n);
        let (sv_neg, sv_neg_rest) = self.sv_neg.split_at_mut(n * v_n);
        let (sp_pos, sp_pos_rest) = self.sp_pos.split_at_mut(n * h_n);
        let (sp_neg, sp_neg_rest) = self.sp_neg.split_at_mut(n * h_n);
        let (h, h_rest) = self.h.split_at_mut(n * h_n);
        let (v_mean, v_mean_rest) = self.v_mean.split_at_mut(n * v_n);
        let (recon_rows, recon_rows_rest) = self.recon_rows.split_at_mut(n);
        let (chain, chain_rest) = match self.chain {
            Some(c) => {
                let (c, rest) = c.split_at_mut(n * v_n);
                (Some(c), Some(rest))
            }
            None => (None, None),
        };
        let first = ChainBlock {
            r0: self.r0,
            rows: n,
            sv_pos,
            sv_neg,
            sp_pos,
            sp_neg,
            h,
            v_mean,
            recon_rows,
            chain,
        };
        let rest = ChainBlock {
            r0: self.r0 + n,
            rows: self.rows - n,
            sv_pos: sv_pos_rest,
            sv_neg: sv_neg_rest,
            sp_pos: sp_pos_rest,
            sp_neg: sp_neg_rest,
            h: h_rest,
            v_mean: v_mean_rest,
            recon_rows: recon_rows_rest,
            chain: chain_rest,
        };
        (first, rest)
    }
}

/// How a step's `rows` are cut into chain blocks: the rows per block and
/// the parallelism left for each block's products.
///
/// The chain is independent row by row: it runs as one parallel region over
/// blocks of rows, not as a parallel region per product. With more threads
/// than blocks (many cores, small batches: 16 threads and 100 rows make 4
/// blocks), the threads left over work inside the blocks' products; with as
/// many blocks as threads each block runs on one.
pub(super) fn chain_blocks(rows: usize, par: Par) -> (usize, Par) {
    let threads = par.max_tasks();
    let tasks = threads.min(rows / CHAIN_MIN_ROWS).max(1);
    match (tasks, threads / tasks) {
        (1, _) => (rows, par),
        (_, 1) => (rows.div_ceil(tasks), Par::Seq),
        (_, inner) => (rows.div_ceil(tasks), Par::Rayon(inner)),
    }
}

/// [`run_chain`] on `blk` cut into blocks of `rb` rows (the last one
/// shorter), the blocks in parallel (halved by `rayon::join` down to single
/// blocks), each block's products with `par`.
pub(super) fn run_blocks(
    ctx: &ChainCtx<'_>,
    blk: ChainBlock<'_>,
    rb: usize,
    par: Par,
) -> Result<()> {
    let blocks = blk.rows.div_ceil(rb);
    if blocks <= 1 {
        return run_chain(ctx, blk, par);
    }
    let (first, rest) = blk.split_at(blocks / 2 * rb, ctx.v_n, ctx.h_n);
    let (a, b) = rayon::join(
        || run_blocks(ctx, first, rb, par),
        || run_blocks(ctx, rest, rb, par),
    );
    a.and(b)
}

/// The positive phase and the k-step chain for one block of rows: copies
/// its rows of the minibatch into `sv_pos` (as V⁰/σ when σ is learned),
/// then `P⁰ = σ(V⁰W + c)`, `H⁰ ~ P⁰`, `Vᵗ = E[v|Hᵗ⁻¹]` (sampled when
/// asked), `Pᵗ = σ(VᵗW + c)`, sampling `Hᵗ` unless `t = k`; PCD continues
/// the block's rows of the persistent chains (copied into `sv_neg`, and
/// their new states back at the end) instead of starting at the data.
/// Leaves `−Pᵏ` in `sp_neg` (the sign the weight gradient's stacked product
/// wants) and per-row reconstruction errors `Σ_i (v_i − E[v_i|H⁰])²` (in the
/// data's units) in `recon_rows`.
fn run_chain(ctx: &ChainCtx<'_>, mut blk: ChainBlock<'_>, par: Par) -> Result<()> {
    let ops = BlockOps::new(ctx, blk.rows, par);
    load_block(ctx, &mut blk);
    let streams = ctx.streams.rows_from(blk.r0 as u64);
    // Positive phase.
    let mut streams = ops.sample_hidden(blk.sv_pos, blk.sp_pos, blk.h, streams)?;
    if ctx.persistent {
        streams = pcd_continue(&ops, &mut blk, streams)?;
    }
    gibbs_steps(&ops, &mut blk, streams)?;
    store_block(blk);
    Ok(())
}

/// Copies the block's rows of the minibatch into `sv_pos` (a strided `x` is
/// gathered; divided by σ when σ is learned) and, for PCD, the chains'
/// states into `sv_neg`.
fn load_block(ctx: &ChainCtx<'_>, blk: &mut ChainBlock<'_>) {
    copy_row_range(&ctx.x, blk.r0..blk.r0 + blk.rows, blk.sv_pos);
    if ctx.learn_sigma {
        for row in blk.sv_pos.chunks_exact_mut(ctx.v_n) {
            for (s, &sd) in row.iter_mut().zip(ctx.sigma) {
                *s /= sd;
            }
        }
    }
    // PCD: the negative chains continue from where they stopped.
    if let Some(chain) = &blk.chain {
        blk.sv_neg.copy_from_slice(chain);
    }
}

/// PCD after the positive phase: the reconstruction error still refers to
/// the data (`V¹ = E[v | H⁰]`), then the chains' hidden units are sampled
/// from their visible states (in `sv_neg`). Returns the next draw's streams.
fn pcd_continue(ops: &BlockOps<'_>, blk: &mut ChainBlock<'_>, streams: Streams) -> Result<Streams> {
    ops.visible_means(blk.h, blk.v_mean)?;
    ops.recon(blk.v_mean, blk.sv_pos, blk.recon_rows)?;
    ops.sample_hidden(blk.sv_neg, blk.sp_neg, blk.h, streams)
}

/// The k Gibbs steps from the hidden sample in `h`: `Vᵗ = E[v | Hᵗ⁻¹]` (and
/// a sample of it when asked) into `sv_neg`, then `Pᵗ = σ(VᵗW + c)` into
/// `sp_neg` and `Hᵗ ~ Pᵗ` unless this is the last step. CD takes the
/// reconstruction error from the first step's means.
fn gibbs_steps(ops: &BlockOps<'_>, blk: &mut ChainBlock<'_>, streams: Streams) -> Result<()> {
    let ctx = ops.ctx;
    let mut streams = streams;
    let mut recon_done = ctx.persistent;
    for t in 1..=ctx.k {
        // Mean-field reconstructions go straight into the stack.
        let means: &mut [f32] = if ctx.sample_v { blk.v_mean } else { blk.sv_neg };
        ops.visible_means(blk.h, means)?;
        if !recon_done {
            ops.recon(means, blk.sv_pos, blk.recon_rows)?;
            recon_done = true;
        }
        if ctx.sample_v {
            streams = ops.sample_visible(blk.v_mean, blk.sv_neg, streams)?;
        }
        if t < ctx.k {
            streams = ops.sample_hidden(blk.sv_neg, blk.sp_neg, blk.h, streams)?;
        } else {
            ops.hidden_probs(blk.sv_neg, blk.sp_neg)?;
        }
    }
    Ok(())
}

/// Negates `Pᵏ` in `sp_neg` and, for PCD, writes the chains' new states
/// back.
fn store_block(blk: ChainBlock<'_>) {
    for p in blk.sp_neg.iter_mut() {
        *p = -*p;
    }
    if let Some(chain) = blk.chain {
        chain.copy_from_slice(blk.sv_neg);
    }
}

/// The products and samplers of one block's chain, on its `rows` rows.
struct BlockOps<'c> {
    ctx: &'c ChainCtx<'c>,
    rows: usize,
    par: Par,
    /// Adds `c` to the hidden units' total inputs.
    up: BiasAdd<'c>,
    /// Adds `b` to the visible units' total inputs and applies their
    /// activation.
    down: BiasActivation<'c>,
}

impl<'c> BlockOps<'c> {
    fn new(ctx: &'c ChainCtx<'c>, rows: usize, par: Par) -> Self {
        BlockOps {
            ctx,
            rows,
            par,
            up: BiasAdd::new(ctx.c),
            down: BiasActivation::new(ctx.b, ctx.visible_act),
        }
    }

    /// `P = σ(VW + c)` into `p` and `H ~ P` into `h` (linear hiddens: `P =
    /// VW + c` and `H = P + N(0, 1)` noise), drawing from `streams`;
    /// returns the streams of the next draw.
    fn sample_hidden(
        &self,
        v: &[f32],
        p: &mut [f32],
        h: &mut [f32],
        streams: Streams,
    ) -> Result<Streams> {
        let (rows, v_n, h_n) = (self.rows, self.ctx.v_n, self.ctx.h_n);
        let (vv, pv) = (
            MatRef::row_major(v, rows, v_n)?,
            MatMut::row_major(p, rows, h_n)?,
        );
        product(
            self.ctx.up_factor,
            vv,
            self.ctx.w.up,
            Accum::Replace,
            pv,
            &self.up,
            self.par,
        )?;
        match self.ctx.hidden {
            HiddenUnits::Bernoulli => sigmoid_bernoulli(streams, p, None, h, rows, h_n, self.par)?,
            HiddenUnits::Linear => {
                gaussian(streams, p, Scale::Scalar(1.0), h, rows, h_n, self.par)?
            }
        }
        Ok(streams.next_step())
    }

    /// `P = σ(VW + c)` (linear hiddens: `VW + c`) into `p`, not sampled
    /// (the chain's last step).
    fn hidden_probs(&self, v: &[f32], p: &mut [f32]) -> Result<()> {
        let (rows, v_n, h_n) = (self.rows, self.ctx.v_n, self.ctx.h_n);
        let vt = MatRef::row_major(v, rows, v_n)?;
        let pt = MatMut::row_major(p, rows, h_n)?;
        let act = BiasActivation::new(self.ctx.c, self.ctx.hidden.activation());
        let alpha = self.ctx.up_factor;
        product(alpha, vt, self.ctx.w.up, Accum::Replace, pt, &act, self.par)?;
        Ok(())
    }

    /// `E[v | H]` (through the visible epilogue) into `out`.
    fn visible_means(&self, h: &[f32], out: &mut [f32]) -> Result<()> {
        let (rows, v_n, h_n) = (self.rows, self.ctx.v_n, self.ctx.h_n);
        let (hv, ov) = (
            MatRef::row_major(h, rows, h_n)?,
            MatMut::row_major(out, rows, v_n)?,
        );
        product(
            self.ctx.down_factor,
            hv,
            self.ctx.w.down,
            Accum::Replace,
            ov,
            &self.down,
            self.par,
        )?;
        Ok(())
    }

    /// Visible states sampled from their means into `out`: Bernoulli draws,
    /// or unit-variance Gaussian noise (the chain of a learned σ runs on
    /// `v/σ`). Returns the streams of the next draw.
    fn sample_visible(&self, mean: &[f32], out: &mut [f32], streams: Streams) -> Result<Streams> {
        let (rows, v_n, par) = (self.rows, self.ctx.v_n, self.par);
        match self.ctx.visible {
            VisibleUnits::Bernoulli => bernoulli(streams, mean, out, rows, v_n, par)?,
            VisibleUnits::Gaussian => {
                gaussian(streams, mean, Scale::Scalar(1.0), out, rows, v_n, par)?
            }
        }
        Ok(streams.next_step())
    }

    /// Per-row reconstruction errors `Σ_i (mean_i − data_i)²` into `out`,
    /// in the data's units (times σ² when σ is learned).
    fn recon(&self, mean: &[f32], data: &[f32], out: &mut [f32]) -> Result<()> {
        let (rows, v_n) = (self.rows, self.ctx.v_n);
        if !self.ctx.learn_sigma {
            sq_err(mean, data, rows, v_n, Some(out), None, 0.0)?;
            return Ok(());
        }
        for ((m_row, d_row), e_out) in mean
            .chunks_exact(v_n)
            .zip(data.chunks_exact(v_n))
            .zip(out.iter_mut())
        {
            let mut total = 0.0f32;
            for ((&m, &d), &sd) in m_row.iter().zip(d_row).zip(self.ctx.sigma) {
                let e = (m - d) * sd;
                total += e * e;
            }
            *e_out = total;
        }
        Ok(())
    }
}
