//! Training: the CD-k / PCD-k gradient of a minibatch, with the optimiser's
//! step of `W` fused into the weight-gradient product when the trainer
//! offers it, and the persistent chains of PCD.

use latent_engine::train::FusedUpdate;
use latent_engine::{Matrix, ParamSet};
use latent_kernels::Par;
use latent_kernels::activation::Activation;
use latent_kernels::gemm::{Accum, MatMut, MatRef, gemm, sgemm};
use latent_kernels::random::{Scale, Streams, bernoulli, gaussian};
use latent_kernels::reduce::col_sums;
use latent_kernels::update::{RankOne, RankOneAdd, SgdUpdate, gemm_sgd_update};
use rayon::iter::Either;
use rayon::prelude::*;
use std::time::Duration;

use super::chain::{CHAIN_MIN_ROWS, ChainBlock, ChainCtx, run_chain};
use super::profile::PhaseClock;
use super::{B_VIS, C_HID, LOG_SIGMA, Rbm, VisibleUnits, W};
use crate::error::Result;

impl Rbm {
    /// The CD-k / PCD-k gradient of the negative log-likelihood for the
    /// minibatch `x` (`B x V`) into `grads` (same layout as the parameters),
    /// drawing from the streams of `seed`. Returns the reconstruction error.
    /// Allocates only when the batch is larger than any seen before.
    pub fn cd_gradient(
        &mut self,
        x: MatRef<'_>,
        grads: &mut ParamSet,
        seed: u64,
        par: Par,
    ) -> Result<f64> {
        self.cd_step(x, grads, seed, par, None)
    }

    /// [`cd_gradient`](Self::cd_gradient), with the optimiser's step of `W`
    /// applied inside the weight-gradient product when `fused` offers it
    /// (then the gradient of `W` is not written).
    pub(super) fn cd_step(
        &mut self,
        x: MatRef<'_>,
        grads: &mut ParamSet,
        seed: u64,
        par: Par,
        fused: Option<&mut FusedUpdate<'_>>,
    ) -> Result<f64> {
        self.check_input("Rbm::cd_gradient", &x)?;
        self.params
            .check_same_layout(grads, "Rbm::cd_gradient: gradient layout")?;
        let (rows, v_n, h_n) = (x.rows(), self.config.n_visible, self.config.n_hidden);
        if rows == 0 {
            return Ok(0.0);
        }
        self.ws.ensure(rows, v_n, h_n, self.config.learn_sigma);
        if self.config.persistent {
            self.ensure_chains(rows, seed, par)?;
        }
        let mut clock = PhaseClock::new(self.profile.is_some());
        let mut times = [Duration::ZERO; 4];
        let ws = &mut self.ws;
        let params = &self.params;
        let (w, b, c) = (
            params.value(W),
            params.value(B_VIS).as_slice(),
            params.value(C_HID).as_slice(),
        );
        // Learned σ: the chain runs on s = v/σ, a unit-variance Gaussian RBM
        // with visible bias β = b/σ (the same energy, rescaled), so the
        // steps below are the fixed-σ ones on s.
        let learn_sigma = self.config.learn_sigma;
        if learn_sigma {
            let z = params.value(LOG_SIGMA).as_slice();
            for i in 0..v_n {
                ws.sigma[i] = z[i].exp();
                ws.beta[i] = b[i] / ws.sigma[i];
            }
        }
        let b = if learn_sigma { &ws.beta[..v_n] } else { b };
        let sigma = &ws.sigma[..v_n];
        let (sv_pos, sv_neg) = ws.stacked_v[..2 * rows * v_n].split_at_mut(rows * v_n);
        let (sp_pos, sp_neg) = ws.stacked_p[..2 * rows * h_n].split_at_mut(rows * h_n);
        let h = &mut ws.h[..rows * h_n];
        let v_mean = &mut ws.v_mean[..rows * v_n];

        let visible_epilogue_act = match self.config.visible {
            VisibleUnits::Bernoulli => Activation::Sigmoid,
            VisibleUnits::Gaussian => Activation::Identity,
        };
        let ctx = ChainCtx {
            x,
            w,
            b,
            c,
            sigma,
            visible: self.config.visible,
            visible_act: visible_epilogue_act,
            k: self.config.cd_k,
            persistent: self.config.persistent,
            sample_v: self.config.persistent || self.config.sample_visible || learn_sigma,
            learn_sigma,
            v_n,
            h_n,
            streams: Streams::new(seed),
        };
        let recon_rows = &mut ws.recon_rows[..rows];
        times[0] += clock.lap();
        // The chain is independent row by row: run it as one parallel region
        // over blocks of rows, not as a parallel region per product. Every
        // row draws from its own stream, so the result does not depend on
        // the blocks. With more threads than blocks (many cores, small
        // batches: 16 threads and 100 rows make 4 blocks), the threads left
        // over work inside the blocks' products; with as many blocks as
        // threads each block runs on one.
        let threads = par.max_tasks();
        let tasks = threads.min(rows / CHAIN_MIN_ROWS).max(1);
        let (rb, inner_par) = match (tasks, threads / tasks) {
            (1, _) => (rows, par),
            (_, 1) => (rows.div_ceil(tasks), Par::Seq),
            (_, inner) => (rows.div_ceil(tasks), Par::Rayon(inner)),
        };
        // PCD: each block continues its rows of the persistent chains and
        // writes their new states back.
        let chain_rows = match self.chains.as_mut() {
            Some(chains) => Either::Left(
                chains.as_mut_slice()[..rows * v_n]
                    .par_chunks_mut(rb * v_n)
                    .map(Some),
            ),
            None => Either::Right((0..rows.div_ceil(rb)).into_par_iter().map(|_| None)),
        };
        sv_pos
            .par_chunks_mut(rb * v_n)
            .zip(sv_neg.par_chunks_mut(rb * v_n))
            .zip(sp_pos.par_chunks_mut(rb * h_n))
            .zip(sp_neg.par_chunks_mut(rb * h_n))
            .zip(h.par_chunks_mut(rb * h_n))
            .zip(v_mean.par_chunks_mut(rb * v_n))
            .zip(recon_rows.par_chunks_mut(rb))
            .zip(chain_rows)
            .enumerate()
            .try_for_each(
                |(
                    i,
                    (((((((sv_pos, sv_neg), sp_pos), sp_neg), h), v_mean), recon_rows), chain),
                )| {
                    let block = ChainBlock {
                        r0: i * rb,
                        rows: recon_rows.len(),
                        sv_pos,
                        sv_neg,
                        sp_pos,
                        sp_neg,
                        h,
                        v_mean,
                        recon_rows,
                        chain,
                    };
                    run_chain(&ctx, block, inner_par)
                },
            )?;
        times[1] += clock.lap();
        let recon_error: f64 = recon_rows.iter().map(|&e| e as f64).sum();
        let wt = w.view().t();

        // Bias gradients: −(mean V⁰ − mean Vᵏ), −(mean P⁰ − mean Pᵏ); the
        // chain left −Pᵏ in the stack, so the last sum is −Σ Pᵏ (exactly:
        // the same additions with the sign flipped) and s0 − sk = s0 + (−sk).
        let [sum_v0, sum_vk] = &mut ws.sum_v;
        let [sum_p0, sum_pk_neg] = &mut ws.sum_p;
        // Four small reductions: one task each, not a parallel region each.
        // Every column is summed in row order either way, so the bits do not
        // depend on the threads.
        let sums = [
            (&*sv_pos, v_n, &mut sum_v0[..]),
            (&*sv_neg, v_n, &mut sum_vk[..]),
            (&*sp_pos, h_n, &mut sum_p0[..]),
            (&*sp_neg, h_n, &mut sum_pk_neg[..]),
        ];
        if par.max_tasks() > 1 {
            sums.into_par_iter()
                .try_for_each(|(m, cols, out)| col_sums(m, rows, cols, out, Par::Seq))?;
        } else {
            for (m, cols, out) in sums {
                col_sums(m, rows, cols, out, Par::Seq)?;
            }
        }
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
        if learn_sigma {
            // ∂E/∂ln σ_i = −(s_i − β_i)² + s_i (W h)_i, with p(h|v) for h:
            // data minus model term, from the GEMMs P⁰Wᵀ and PᵏWᵀ.
            // One product of the stack [P⁰; −Pᵏ]: its lower half is −PᵏWᵀ,
            // exactly the negation of PᵏWᵀ (every term and sum flips sign).
            let pw = &mut ws.pw[..2 * rows * v_n];
            sgemm(
                1.0,
                MatRef::row_major(&ws.stacked_p[..2 * rows * h_n], 2 * rows, h_n)?,
                wt,
                Accum::Replace,
                MatMut::row_major(pw, 2 * rows, v_n)?,
                par,
            )?;
            let pw = &*pw;
            let sv = &ws.stacked_v[..2 * rows * v_n];
            // A sum over the 2·rows rows for each visible unit: split by
            // columns between the threads, each column summed in row order,
            // so the bits do not depend on the threads.
            let sigma_grad = |c0: usize, g: &mut [f32]| {
                g.fill(0.0);
                let cols = c0..c0 + g.len();
                for (r, (s_row, q_row)) in
                    sv.chunks_exact(v_n).zip(pw.chunks_exact(v_n)).enumerate()
                {
                    let (sign, q_sign) = if r < rows {
                        (inv_b, 1.0)
                    } else {
                        (-inv_b, -1.0)
                    };
                    let (s_row, q_row) = (&s_row[cols.clone()], &q_row[cols.clone()]);
                    for (((g, &s), &q), &beta) in
                        g.iter_mut().zip(s_row).zip(q_row).zip(&b[cols.clone()])
                    {
                        let d = s - beta;
                        *g += sign * (-d * d + s * (q_sign * q));
                    }
                }
            };
            let g = grads.value_mut(LOG_SIGMA).as_mut_slice();
            let tasks = par.max_tasks().min(v_n / SIGMA_GRAD_MIN_COLS).max(1);
            if tasks > 1 {
                let per_task = v_n.div_ceil(tasks);
                g.par_chunks_mut(per_task)
                    .enumerate()
                    .for_each(|(t, g)| sigma_grad(t * per_task, g));
            } else {
                sigma_grad(0, g);
            }
            // The bias gradient above is with respect to β = b/σ.
            for (g, &sd) in grads.value_mut(B_VIS).as_mut_slice().iter_mut().zip(sigma) {
                *g /= sd;
            }
        }
        times[2] += clock.lap();
        // Sparsity (MODELS.md 2.3): the running mean q̂ of the hidden
        // probabilities pulls c and W toward the target: ∂/∂c_j += cost·(q̂_j
        // − ρ) and ∂/∂W_ij += v̄_i·cost·(q̂_j − ρ), a rank-one term added to
        // the product below.
        if let Some(s) = self.config.sparsity {
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
        let rank_one = self.config.sparsity.map(|_| RankOne {
            rows: &ws.sparse_rows[..v_n],
            cols: &ws.sparse_cols[..h_n],
        });
        // Weight gradient: −(1/B)·[V⁰; Vᵏ]ᵀ [P⁰; −Pᵏ], one GEMM, with the
        // optimiser's step fused into its write-out when offered.
        let sv = MatRef::row_major(&ws.stacked_v[..2 * rows * v_n], 2 * rows, v_n)?;
        let sp = MatRef::row_major(&ws.stacked_p[..2 * rows * h_n], 2 * rows, h_n)?;
        match fused {
            Some(f) if f.tensor == W => {
                let update = SgdUpdate {
                    rule: f.rule,
                    old: w.as_slice(),
                    velocity: &mut *f.velocity,
                    rank_one,
                };
                f.non_finite = gemm_sgd_update(-inv_b, sv.t(), sp, update, f.out.view_mut(), par)?;
                f.applied = true;
            }
            _ => {
                let grad_w = grads.value_mut(W).view_mut();
                match rank_one {
                    Some(t) => gemm(
                        -inv_b,
                        sv.t(),
                        sp,
                        Accum::Replace,
                        grad_w,
                        &RankOneAdd::new(t),
                        par,
                    )?,
                    None => sgemm(-inv_b, sv.t(), sp, Accum::Replace, grad_w, par)?,
                }
            }
        }
        times[3] += clock.lap();
        if let Some(p) = self.profile.as_mut() {
            p.steps += 1;
            p.setup += times[0];
            p.chain += times[1];
            p.bias_gradients += times[2];
            p.weight_gradient += times[3];
        }
        Ok(recon_error * inv_b as f64)
    }

    /// `rows` random visible states to start chains from: fair coin flips
    /// (Bernoulli) or standard normal values (Gaussian).
    fn random_states(&self, rows: usize, streams: Streams, par: Par) -> Result<Matrix> {
        let mut states = Matrix::zeros(rows, self.config.n_visible)?;
        let mut means = vec![0.0f32; states.len()];
        self.fill_random_states(states.as_mut_slice(), &mut means, rows, streams, par)?;
        Ok(states)
    }

    /// [`random_states`](Self::random_states) into `states` (`rows x V`),
    /// with `means` (as long) as the samplers' scratch.
    pub(super) fn fill_random_states(
        &self,
        states: &mut [f32],
        means: &mut [f32],
        rows: usize,
        streams: Streams,
        par: Par,
    ) -> Result<()> {
        let v_n = self.config.n_visible;
        match self.config.visible {
            VisibleUnits::Bernoulli => {
                means.fill(0.5);
                bernoulli(streams, means, states, rows, v_n, par)?;
            }
            VisibleUnits::Gaussian => {
                means.fill(0.0);
                gaussian(streams, means, Scale::Scalar(1.0), states, rows, v_n, par)?;
            }
        }
        Ok(())
    }

    /// PCD: makes sure there are at least `rows` chains, started at random
    /// states the first time.
    fn ensure_chains(&mut self, rows: usize, seed: u64, par: Par) -> Result<()> {
        if self.chains.as_ref().is_some_and(|c| c.rows() >= rows) {
            return Ok(());
        }
        let mut chains =
            self.random_states(rows, Streams::new(seed ^ 0xC4A1_7500_0000_0001), par)?;
        if let Some(old) = &self.chains {
            chains.as_mut_slice()[..old.len()].copy_from_slice(old.as_slice());
        }
        self.chains = Some(chains);
        Ok(())
    }
}

/// Visible units below which a share of the learned-σ gradient's column sums
/// is not worth its own task.
const SIGMA_GRAD_MIN_COLS: usize = 64;
