//! The positive phase and the Gibbs chain of a training step, run block by
//! block of the minibatch's rows.

use latent_engine::Matrix;
use latent_kernels::Par;
use latent_kernels::activation::{Activation, BiasActivation};
use latent_kernels::gemm::{Accum, BiasAdd, MatMut, MatRef, gemm};
use latent_kernels::random::{Scale, Streams, bernoulli, gaussian, sigmoid_bernoulli};
use latent_kernels::reduce::sq_err;

use super::VisibleUnits;
use crate::ae::util::copy_row_range;
use crate::error::Result;

/// Rows below which a block of the Gibbs chain is not worth its own task.
pub(super) const CHAIN_MIN_ROWS: usize = 24;

/// What every block of the negative-phase chain shares.
pub(super) struct ChainCtx<'a> {
    /// The minibatch (V⁰ in the data's units; any layout).
    pub(super) x: MatRef<'a>,
    pub(super) w: &'a Matrix,
    /// Visible biases (`b/σ` when σ is learned).
    pub(super) b: &'a [f32],
    pub(super) c: &'a [f32],
    pub(super) sigma: &'a [f32],
    pub(super) visible: VisibleUnits,
    pub(super) visible_act: Activation,
    pub(super) k: usize,
    pub(super) persistent: bool,
    pub(super) sample_v: bool,
    pub(super) learn_sigma: bool,
    pub(super) v_n: usize,
    pub(super) h_n: usize,
    /// The step's streams; every block offsets them to its first row.
    pub(super) streams: Streams,
}

/// Rows `r0 .. r0 + rows` of the step's buffers.
pub(super) struct ChainBlock<'a> {
    pub(super) r0: usize,
    pub(super) rows: usize,
    /// V⁰ (or V⁰/σ), copied in from the minibatch by the block.
    pub(super) sv_pos: &'a mut [f32],
    pub(super) sv_neg: &'a mut [f32],
    pub(super) sp_pos: &'a mut [f32],
    pub(super) sp_neg: &'a mut [f32],
    pub(super) h: &'a mut [f32],
    pub(super) v_mean: &'a mut [f32],
    pub(super) recon_rows: &'a mut [f32],
    /// PCD: this block's rows of the persistent chains, which it continues
    /// and updates.
    pub(super) chain: Option<&'a mut [f32]>,
}

/// The positive phase and the k-step chain for one block of rows: copies
/// its rows of the minibatch into `sv_pos` (as V⁰/σ when σ is learned),
/// then `P⁰ = σ(V⁰W + c)`, `H⁰ ~ P⁰`, `Vᵗ = E[v|Hᵗ⁻¹]` (sampled when
/// asked), `Pᵗ = σ(VᵗW + c)`, sampling `Hᵗ` unless `t = k`; PCD continues
/// the block's rows of the persistent chains (copied into `sv_neg`, and
/// their new states back at the end) instead of starting at the data. Leaves `−Pᵏ` in `sp_neg` (the sign the weight
/// gradient's stacked product wants) and per-row reconstruction errors
/// `Σ_i (v_i − E[v_i|H⁰])²` (in the data's units) in `recon_rows`.
pub(super) fn run_chain(ctx: &ChainCtx<'_>, blk: ChainBlock<'_>, par: Par) -> Result<()> {
    let (rows, v_n, h_n) = (blk.rows, ctx.v_n, ctx.h_n);
    let ChainBlock {
        sv_pos,
        sv_neg,
        sp_pos,
        sp_neg,
        h,
        v_mean,
        recon_rows,
        chain,
        ..
    } = blk;
    let mut streams = ctx.streams.rows_from(blk.r0 as u64);
    // V⁰: this block's rows of the minibatch (a strided x is gathered).
    copy_row_range(&ctx.x, blk.r0..blk.r0 + rows, sv_pos);
    if ctx.learn_sigma {
        for row in sv_pos.chunks_exact_mut(v_n) {
            for (s, &sd) in row.iter_mut().zip(ctx.sigma) {
                *s /= sd;
            }
        }
    }
    let sv_pos = &*sv_pos;
    // PCD: the negative chains continue from where they stopped.
    if let Some(chain) = &chain {
        sv_neg.copy_from_slice(chain);
    }
    let w = ctx.w.view();
    let wt = w.t();
    let up = BiasAdd::new(ctx.c);
    let down = BiasActivation::new(ctx.b, ctx.visible_act);
    let recon = |mean: &[f32], out: &mut [f32]| -> Result<()> {
        if !ctx.learn_sigma {
            sq_err(mean, sv_pos, rows, v_n, Some(out), None, 0.0)?;
            return Ok(());
        }
        for ((m_row, d_row), e_out) in mean
            .chunks_exact(v_n)
            .zip(sv_pos.chunks_exact(v_n))
            .zip(out.iter_mut())
        {
            let mut total = 0.0f32;
            for ((&m, &d), &sd) in m_row.iter().zip(d_row).zip(ctx.sigma) {
                let e = (m - d) * sd;
                total += e * e;
            }
            *e_out = total;
        }
        Ok(())
    };
    // P = σ(VW + c) into `p` and H ~ P into `h`, drawing from `streams`;
    // returns the streams of the next draw.
    let sample_hidden =
        |v: &[f32], p: &mut [f32], h: &mut [f32], streams: Streams| -> Result<Streams> {
            let (vv, pv) = (
                MatRef::row_major(v, rows, v_n)?,
                MatMut::row_major(p, rows, h_n)?,
            );
            gemm(1.0, vv, w, Accum::Replace, pv, &up, par)?;
            sigmoid_bernoulli(streams, p, None, h, rows, h_n, par)?;
            Ok(streams.next_step())
        };
    // E[v | H] (through the visible epilogue) into `out`.
    let visible_means = |h: &[f32], out: &mut [f32]| -> Result<()> {
        let (hv, ov) = (
            MatRef::row_major(h, rows, h_n)?,
            MatMut::row_major(out, rows, v_n)?,
        );
        gemm(1.0, hv, wt, Accum::Replace, ov, &down, par)?;
        Ok(())
    };
    // Positive phase.
    streams = sample_hidden(sv_pos, sp_pos, h, streams)?;
    let mut recon_done = false;
    if ctx.persistent {
        // The reconstruction error still refers to the data: V¹ = E[v | H⁰].
        visible_means(h, v_mean)?;
        recon(v_mean, recon_rows)?;
        recon_done = true;
        // The negative chains continue from their states, copied into
        // `sv_neg` above.
        streams = sample_hidden(sv_neg, sp_neg, h, streams)?;
    }
    for t in 1..=ctx.k {
        // Vᵗ = E[v | Hᵗ⁻¹] (and a sample of it when asked). Mean-field
        // reconstructions go straight into the stack.
        let means: &mut [f32] = if ctx.sample_v {
            &mut *v_mean
        } else {
            &mut *sv_neg
        };
        visible_means(h, means)?;
        if !recon_done {
            recon(means, recon_rows)?;
            recon_done = true;
        }
        if ctx.sample_v {
            match ctx.visible {
                VisibleUnits::Bernoulli => bernoulli(streams, v_mean, sv_neg, rows, v_n, par)?,
                VisibleUnits::Gaussian => {
                    gaussian(streams, v_mean, Scale::Scalar(1.0), sv_neg, rows, v_n, par)?
                }
            }
            streams = streams.next_step();
        }
        // Pᵗ = σ(VᵗW + c); Hᵗ ~ Pᵗ unless this is the last step.
        if t < ctx.k {
            streams = sample_hidden(sv_neg, sp_neg, h, streams)?;
        } else {
            let vt = MatRef::row_major(sv_neg, rows, v_n)?;
            let pt = MatMut::row_major(sp_neg, rows, h_n)?;
            gemm(
                1.0,
                vt,
                w,
                Accum::Replace,
                pt,
                &BiasActivation::new(ctx.c, Activation::Sigmoid),
                par,
            )?;
        }
    }
    for p in sp_neg.iter_mut() {
        *p = -*p;
    }
    if let Some(chain) = chain {
        chain.copy_from_slice(sv_neg);
    }
    Ok(())
}
