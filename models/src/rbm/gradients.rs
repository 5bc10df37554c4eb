//! The gradients of a training step from the stacks the chain left
//! (`[V⁰; Vᵏ]` and `[P⁰; −Pᵏ]`): the bias gradients as column sums, the
//! learned-σ gradient, the sparsity term, and the weight gradient as one
//! product, with the optimiser's step of `W` fused into it when offered.

use latent_engine::ParamSet;
use latent_engine::train::FusedUpdate;
use latent_kernels::Par;
use latent_kernels::gemm::{Accum, MatMut, MatRef, NoEpilogue, product};
use latent_kernels::reduce::col_sums;
use latent_kernels::update::{RankOne, RankOneAdd, SgdUpdate, product_sgd_update};
use rayon::prelude::*;

use super::workspace::Workspace;
use super::{B_VIS, C_HID, LOG_SIGMA, Rbm, W};
use crate::error::Result;

/// Visible units below which a share of the learned-σ gradient's column sums
/// is not worth its own task.
const SIGMA_GRAD_MIN_COLS: usize = 64;

impl Rbm {
    /// Bias gradients: `−(mean V⁰ − mean Vᵏ)` and `−(mean P⁰ − mean Pᵏ)`
    /// (with respect to `β = b/σ` when σ is learned), from the column sums
    /// of the stacks' halves (kept in the workspace for the sparsity term).
    /// The chain left `−Pᵏ` in the stack, so the last sum is `−Σ Pᵏ`
    /// (exactly: the same additions with the sign flipped) and
    /// `s0 − sk = s0 + (−sk)`.
    pub(super) fn bias_gradients(
        &mut self,
        rows: usize,
        grads: &mut ParamSet,
        par: Par,
    ) -> Result<()> {
        let (v_n, h_n) = (self.config.n_visible, self.config.n_hidden);
        column_sums(&mut self.ws, rows, v_n, h_n, par)?;
        let [sum_v0, sum_vk] = &self.ws.sum_v;
        let [sum_p0, sum_pk_neg] = &self.ws.sum_p;
        let inv_b = 1.0 / rows as f32;
        for ((g, &s0), &sk) in grads
            .value_mut(B_VIS)
            .as_mut_slice()
            .iter_mut()
            .zip(sum_v0.iter())
            .zip(sum_vk.iter())
        {
            *g = -(s0 - sk) * inv_b;
        }
        for ((g, &s0), &sk_neg) in grads
            .value_mut(C_HID)
            .as_mut_slice()
            .iter_mut()
            .zip(sum_p0.iter())
            .zip(sum_pk_neg.iter())
        {
            *g = -(s0 + sk_neg) * inv_b;
        }
        Ok(())
    }

    /// Learned σ: the gradient of `ln σ`, and the visible-bias gradient
    /// turned from `β = b/σ` to `b`. `∂E/∂ln σ_i = −(s_i − β_i)² + s_i
    /// (W h)_i`, with `p(h|v)` for `h`: data minus model term, from the
    /// products `P⁰Wᵀ` and `PᵏWᵀ`, made as one product of the stack
    /// `[P⁰; −Pᵏ]` (its lower half is `−PᵏWᵀ`, exactly the negation of
    /// `PᵏWᵀ`: every term and sum flips sign).
    pub(super) fn log_sigma_gradient(
        &mut self,
        rows: usize,
        grads: &mut ParamSet,
        par: Par,
    ) -> Result<()> {
        let (v_n, h_n) = (self.config.n_visible, self.config.n_hidden);
        let ws = &mut self.ws;
        // `Wᵀ` in the model's precision (bf16: packed at the step's start).
        let wt = ws
            .packed
            .operands(self.precision, self.params.value(W).view());
        let pw = &mut ws.pw[..2 * rows * v_n];
        product(
            1.0,
            MatRef::row_major(&ws.stacked_p[..2 * rows * h_n], 2 * rows, h_n)?,
            wt.down,
            Accum::Replace,
            MatMut::row_major(pw, 2 * rows, v_n)?,
            &NoEpilogue,
            par,
        )?;
        let stacks = SigmaGradInputs {
            rows,
            v_n,
            sv: &ws.stacked_v[..2 * rows * v_n],
            pw,
            beta: &ws.beta[..v_n],
        };
        // A sum over the 2·rows rows for each visible unit: split by columns
        // between the threads, each column summed in row order, so the bits
        // do not depend on the threads.
        let g = grads.value_mut(LOG_SIGMA).as_mut_slice();
        let tasks = par.max_tasks().min(v_n / SIGMA_GRAD_MIN_COLS).max(1);
        if tasks > 1 {
            let per_task = v_n.div_ceil(tasks);
            g.par_chunks_mut(per_task)
                .enumerate()
                .for_each(|(t, g)| stacks.columns(t * per_task, g));
        } else {
            stacks.columns(0, g);
        }
        // The bias gradient is with respect to β = b/σ.
        for (g, &sd) in grads
            .value_mut(B_VIS)
            .as_mut_slice()
            .iter_mut()
            .zip(&ws.sigma[..v_n])
        {
            *g /= sd;
        }
        Ok(())
    }

    /// Sparsity (MODELS.md 2.3): the running mean `q̂` of the hidden
    /// probabilities pulls `c` and `W` toward the target: `∂/∂c_j +=
    /// cost·(q̂_j − ρ)` here, and `∂/∂W_ij += v̄_i·cost·(q̂_j − ρ)`, a rank-one
    /// term whose factors go to the workspace for
    /// [`weight_gradient`](Self::weight_gradient). Nothing without a target.
    pub(super) fn sparsity_term(&mut self, rows: usize, grads: &mut ParamSet) {
        let Some(s) = self.config.sparsity else {
            return;
        };
        let ws = &mut self.ws;
        let (sum_v0, sum_p0) = (&ws.sum_v[0], &ws.sum_p[0]);
        let inv_b = 1.0 / rows as f32;
        let grad_c = grads.value_mut(C_HID).as_mut_slice();
        for (j, q) in self.q_hat.iter_mut().enumerate() {
            *q = s.decay * *q + (1.0 - s.decay) * sum_p0[j] * inv_b;
            grad_c[j] += s.cost * (*q - s.target);
            ws.sparse_cols[j] = s.cost * (*q - s.target);
        }
        for (v_bar, &sum) in ws.sparse_rows.iter_mut().zip(sum_v0.iter()) {
            *v_bar = sum * inv_b;
        }
    }

    /// Weight gradient: `−(1/B)·[V⁰; Vᵏ]ᵀ [P⁰; −Pᵏ]` (plus the sparsity
    /// term), one GEMM in the model's precision (bf16: both stacks rounded
    /// while packed; f32 accumulation), with the optimiser's step fused
    /// into its write-out when `fused` offers it for `W` (then `W`'s
    /// gradient is not written).
    pub(super) fn weight_gradient(
        &mut self,
        rows: usize,
        grads: &mut ParamSet,
        fused: Option<&mut FusedUpdate<'_>>,
        par: Par,
    ) -> Result<()> {
        let (v_n, h_n) = (self.config.n_visible, self.config.n_hidden);
        let ws = &self.ws;
        let rank_one = self.config.sparsity.map(|_| RankOne {
            rows: &ws.sparse_rows[..v_n],
            cols: &ws.sparse_cols[..h_n],
        });
        let inv_b = 1.0 / rows as f32;
        let sv = MatRef::row_major(&ws.stacked_v[..2 * rows * v_n], 2 * rows, v_n)?;
        let sp = MatRef::row_major(&ws.stacked_p[..2 * rows * h_n], 2 * rows, h_n)?;
        let sp = self.precision.operand(sp);
        match fused {
            Some(f) if f.tensor == W => {
                let update = SgdUpdate {
                    rule: f.rule,
                    old: self.params.value(W).as_slice(),
                    velocity: &mut *f.velocity,
                    rank_one,
                };
                f.non_finite =
                    product_sgd_update(-inv_b, sv.t(), sp, update, f.out.view_mut(), par)?;
                f.applied = true;
            }
            _ => {
                let grad_w = grads.value_mut(W).view_mut();
                match rank_one {
                    Some(t) => {
                        let epi = RankOneAdd::new(t);
                        product(-inv_b, sv.t(), sp, Accum::Replace, grad_w, &epi, par)?
                    }
                    None => {
                        let none = &NoEpilogue;
                        product(-inv_b, sv.t(), sp, Accum::Replace, grad_w, none, par)?
                    }
                }
            }
        }
        Ok(())
    }
}

/// The column sums of the stacks' four halves into the workspace: `Σ V⁰`,
/// `Σ Vᵏ`, `Σ P⁰` and `−Σ Pᵏ`. Four small reductions: one task each, not a
/// parallel region each. Every column is summed in row order either way, so
/// the bits do not depend on the threads.
fn column_sums(ws: &mut Workspace, rows: usize, v_n: usize, h_n: usize, par: Par) -> Result<()> {
    let (sv_pos, sv_neg) = ws.stacked_v[..2 * rows * v_n].split_at(rows * v_n);
    let (sp_pos, sp_neg) = ws.stacked_p[..2 * rows * h_n].split_at(rows * h_n);
    let [sum_v0, sum_vk] = &mut ws.sum_v;
    let [sum_p0, sum_pk_neg] = &mut ws.sum_p;
    let sums = [
        (sv_pos, v_n, &mut sum_v0[..]),
        (sv_neg, v_n, &mut sum_vk[..]),
        (sp_pos, h_n, &mut sum_p0[..]),
        (sp_neg, h_n, &mut sum_pk_neg[..]),
    ];
    if par.max_tasks() > 1 {
        sums.into_par_iter()
            .try_for_each(|(m, cols, out)| col_sums(m, rows, cols, out, Par::Seq))?;
    } else {
        for (m, cols, out) in sums {
            col_sums(m, rows, cols, out, Par::Seq)?;
        }
    }
    Ok(())
}

/// What the learned-σ gradient's column sums read: the stack `[S⁰; Sᵏ]`
/// (`S = V/σ`), the product `[P⁰; −Pᵏ] Wᵀ`, and `β = b/σ`.
struct SigmaGradInputs<'a> {
    /// Rows of each half of the stacks (the batch size `B`).
    rows: usize,
    v_n: usize,
    sv: &'a [f32],
    pw: &'a [f32],
    beta: &'a [f32],
}

impl SigmaGradInputs<'_> {
    /// The gradient of `ln σ` for the visible units `c0 .. c0 + g.len()`
    /// into `g`: `(1/B) Σ_rows ±(−(s − β)² + s·q)`, `+` on the data's rows
    /// and `−` on the chain's (whose `q` has the sign flipped back), each
    /// column summed in row order.
    fn columns(&self, c0: usize, g: &mut [f32]) {
        let (rows, v_n) = (self.rows, self.v_n);
        let inv_b = 1.0 / rows as f32;
        g.fill(0.0);
        let cols = c0..c0 + g.len();
        for (r, (s_row, q_row)) in self
            .sv
            .chunks_exact(v_n)
            .zip(self.pw.chunks_exact(v_n))
            .enumerate()
        {
            let (sign, q_sign) = if r < rows {
                (inv_b, 1.0)
            } else {
                (-inv_b, -1.0)
            };
            let (s_row, q_row) = (&s_row[cols.clone()], &q_row[cols.clone()]);
            for (((g, &s), &q), &beta) in g
                .iter_mut()
                .zip(s_row)
                .zip(q_row)
                .zip(&self.beta[cols.clone()])
            {
                let d = s - beta;
                *g += sign * (-d * d + s * (q_sign * q));
            }
        }
    }
}
