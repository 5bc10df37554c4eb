//! Training: the CD-k / PCD-k gradient of a minibatch, with the optimiser's
//! step of `W` fused into the weight-gradient product when the trainer
//! offers it, and the persistent chains of PCD.

use latent_engine::train::FusedUpdate;
use latent_engine::{Matrix, ParamSet};
use latent_kernels::Par;
use latent_kernels::activation::Activation;
use latent_kernels::gemm::MatRef;
use latent_kernels::random::{Scale, Streams, bernoulli, gaussian};

use super::chain::{ChainBlock, ChainCtx, chain_blocks, run_blocks};
use super::profile::{PhaseClock, StepProfile};
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
        let rows = x.rows();
        if rows == 0 {
            return Ok(0.0);
        }
        let (v_n, h_n) = (self.config.n_visible, self.config.n_hidden);
        self.ws.ensure(rows, v_n, h_n, self.config.learn_sigma);
        if self.config.persistent {
            self.ensure_chains(rows, seed, par)?;
        }
        let mut clock = PhaseClock::new(self.profile.is_some());
        let mut lap = StepProfile {
            steps: 1,
            ..StepProfile::default()
        };
        // bf16: W and Wᵀ packed once, for every product of the step.
        let w = self.params.value(W).view();
        self.ws.packed.repack(self.precision, w);
        self.prepare_sigma();
        lap.setup = clock.lap();
        self.run_chains(x, seed, par)?;
        lap.chain = clock.lap();
        let recon_error = self.mean_reconstruction_error(rows);
        self.bias_gradients(rows, grads, par)?;
        if self.config.learn_sigma {
            self.log_sigma_gradient(rows, grads, par)?;
        }
        lap.bias_gradients = clock.lap();
        self.sparsity_term(rows, grads);
        self.weight_gradient(rows, grads, fused, par)?;
        lap.weight_gradient = clock.lap();
        if let Some(p) = self.profile.as_mut() {
            p.add(&lap);
        }
        Ok(recon_error)
    }

    /// Learned σ: `σ = exp(ln σ)` and `β = b/σ` into the workspace. The
    /// chain runs on `s = v/σ`, a unit-variance Gaussian RBM with visible
    /// bias `β` (the same energy, rescaled), so its steps are the fixed-σ
    /// ones on `s`.
    fn prepare_sigma(&mut self) {
        if !self.config.learn_sigma {
            return;
        }
        let z = self.params.value(LOG_SIGMA).as_slice();
        let b = self.params.value(B_VIS).as_slice();
        let ws = &mut self.ws;
        for i in 0..self.config.n_visible {
            ws.sigma[i] = z[i].exp();
            ws.beta[i] = b[i] / ws.sigma[i];
        }
    }

    /// The positive phase and the Gibbs chain of every row of `x`, in
    /// blocks of rows run in parallel ([`run_blocks`]): fills the stacks
    /// `[V⁰; Vᵏ]` and `[P⁰; −Pᵏ]` and the per-row reconstruction errors,
    /// and moves the PCD chains on.
    fn run_chains(&mut self, x: MatRef<'_>, seed: u64, par: Par) -> Result<()> {
        let (rows, v_n, h_n) = (x.rows(), self.config.n_visible, self.config.n_hidden);
        let config = &self.config;
        let ws = &mut self.ws;
        let b = match config.learn_sigma {
            true => &ws.beta[..v_n],
            false => self.params.value(B_VIS).as_slice(),
        };
        let ctx = ChainCtx {
            x,
            w: ws
                .packed
                .operands(self.precision, self.params.value(W).view()),
            b,
            c: self.params.value(C_HID).as_slice(),
            sigma: &ws.sigma[..v_n],
            up_factor: config.doubled.up_factor(),
            down_factor: config.doubled.down_factor(),
            visible: config.visible,
            hidden: config.hidden,
            visible_act: match config.visible {
                VisibleUnits::Bernoulli => Activation::Sigmoid,
                VisibleUnits::Gaussian => Activation::Identity,
            },
            k: config.cd_k,
            persistent: config.persistent,
            sample_v: config.persistent || config.sample_visible || config.learn_sigma,
            learn_sigma: config.learn_sigma,
            v_n,
            h_n,
            streams: Streams::new(seed),
        };
        let (sv_pos, sv_neg) = ws.stacked_v[..2 * rows * v_n].split_at_mut(rows * v_n);
        let (sp_pos, sp_neg) = ws.stacked_p[..2 * rows * h_n].split_at_mut(rows * h_n);
        let all_rows = ChainBlock {
            r0: 0,
            rows,
            sv_pos,
            sv_neg,
            sp_pos,
            sp_neg,
            h: &mut ws.h[..rows * h_n],
            v_mean: &mut ws.v_mean[..rows * v_n],
            recon_rows: &mut ws.recon_rows[..rows],
            // PCD: each block continues its rows of the persistent chains
            // and writes their new states back.
            chain: self
                .chains
                .as_mut()
                .map(|c| &mut c.as_mut_slice()[..rows * v_n]),
        };
        let (block_rows, block_par) = chain_blocks(rows, par);
        run_blocks(&ctx, all_rows, block_rows, block_par)
    }

    /// The mean over the batch of the per-row reconstruction errors that
    /// the chain left (summed in row order, in f64).
    fn mean_reconstruction_error(&self, rows: usize) -> f64 {
        let total: f64 = self.ws.recon_rows[..rows].iter().map(|&e| e as f64).sum();
        let inv_b = 1.0 / rows as f32;
        total * inv_b as f64
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
    pub(super) fn ensure_chains(&mut self, rows: usize, seed: u64, par: Par) -> Result<()> {
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
