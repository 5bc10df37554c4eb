//! Annealed importance sampling estimate of a DBM's `ln Z` (Salakhutdinov &
//! Murray 2008; Salakhutdinov & Hinton, "Deep Boltzmann machines", AISTATS
//! 2009), with the odd layers summed out analytically.
//!
//! The path is geometric: `p_β ∝ e^{-(1-β) E_A - β E}` with `E` the DBM's
//! energy and `E_A = e_A(v)` the base model's, which has independent
//! visibles (biases `b_A` from the data, [`dbm_base_rate_visible_bias`]) and
//! uniform hidden layers, so `ln Z_0 = ln Z_A + (n_1 + … + n_L) ln 2` is
//! exact. Summing the odd layers out, the chain state is the even layers
//! `x = (v, h², h⁴, …)` and
//!
//! ```text
//! ln p*_β(x) = (1-β) q_A(v) + β q(v) + β Σ_{even l ≥ 2} b^lᵀh^l + Σ_{odd l} Σ_j softplus(β a^l_j)
//! ```
//!
//! with `q = -e_0` (as in the RBM's AIS) and `a^l = b^l + W^lᵀx^{l-1} +
//! W^{l+1}h^{l+1}` the odd layer's total input. Each run draws `x₁ ~ p_0`,
//! and for `k = 1..K` adds `ln p*_k(x_k) - ln p*_{k-1}(x_k)` to its
//! log-weight, then moves `x_k → x_{k+1}` by one Gibbs sweep that leaves
//! `p_k` invariant: the odd layers given the even ones, `h^l ~ σ(β a^l)`,
//! then the even layers given the odd ones at the same `β`. The estimate and
//! its ±3σ interval are formed as in [`crate::eval::ais_log_z`].
//!
//! Runs are processed in fixed blocks of [`AisConfig::runs_per_block`]; each
//! block runs the whole schedule on its own (SGEMMs over all its runs), and
//! each run draws from its own stream `(seed, run index)`. Blocks are spread
//! over rayon tasks, so the estimate is bit-identical for any thread count.

use latent_engine::Rng;
use latent_kernels::{Accum, BiasAdd, MatMut, MatRef, NoEpilogue, Par, gemm};

use super::DbmParams;
use crate::error::Result;
use crate::eval::ais::{base_log_z, run_blocks, summarise};
use crate::eval::{
    AisConfig, AisEstimate, VisibleUnits, base_rate_visible_bias, sigmoid_f32, sum_softplus_f64,
};

/// The stream id of DBM AIS runs (mixed with the seed and the run index).
const DBM_AIS_STREAM: u64 = 0x4149_5344_424d_0000;

/// The base-rate visible biases `b_A` of [`dbm_ais_log_z`] from the data
/// (`B x n_0`): as [`base_rate_visible_bias`] for the DBM's visible layer
/// (clipped logits of the pixel means, or the means for Gaussian visibles).
///
/// Errors if the parameters are invalid or `data` is not at least one whole
/// row.
pub fn dbm_base_rate_visible_bias(params: &DbmParams<'_>, data: &[f32]) -> Result<Vec<f32>> {
    params.validate()?;
    base_rate_visible_bias(&params.bottom_rbm(), data)
}

/// Estimates `ln Z` of the DBM `params` by annealed importance sampling
/// from the base-rate model with visible biases `base_visible_bias` (see
/// [`dbm_base_rate_visible_bias`]), the odd layers summed out.
///
/// Errors if the parameters are invalid, `base_visible_bias.len() != n_0` or
/// holds a non-finite value, or the configuration is invalid (see
/// [`AisConfig`]). The estimate is the same for any `par`.
pub fn dbm_ais_log_z(
    params: &DbmParams<'_>,
    base_visible_bias: &[f32],
    config: &AisConfig,
    par: Par,
) -> Result<AisEstimate> {
    params.validate()?;
    config.validate()?;
    let sizes = params.sizes();
    let log_z_a = base_log_z(
        params.visible,
        base_visible_bias,
        sizes[0],
        "DBM AIS base-rate visible bias",
    )?;
    let hidden_units: usize = sizes[1..].iter().sum();
    let log_z_base = log_z_a + hidden_units as f64 * std::f64::consts::LN_2;

    let transposed = transposed_weights(params);
    let log_weights = run_blocks(config, par, |first, runs| {
        Block::new(params, &transposed, base_visible_bias, config, first, runs).run(&config.betas)
    })?;
    Ok(summarise(log_z_base, log_weights))
}

/// `(W^l)ᵀ` (`n_l x n_{l-1}`, row-major) for `l = 1..=L`, at index `l - 1`,
/// so the downward products read a row-major operand.
fn transposed_weights(params: &DbmParams<'_>) -> Vec<Vec<f32>> {
    let sizes = params.sizes();
    (1..sizes.len())
        .map(|l| {
            let (a, b) = (sizes[l - 1], sizes[l]);
            let w = params.w(l);
            let mut t = vec![0.0f32; a * b];
            for i in 0..a {
                for j in 0..b {
                    t[j * a + i] = w[i * b + j];
                }
            }
            t
        })
        .collect()
}

/// The state of one block of AIS runs.
struct Block<'p, 'a> {
    params: &'p DbmParams<'a>,
    /// `(W^l)ᵀ` at index `l - 1`.
    w_t: &'p [Vec<f32>],
    base: &'p [f32],
    sizes: Vec<usize>,
    runs: usize,
    rngs: Vec<Rng>,
    /// The visible states `v` (`runs x n_0`).
    v: Vec<f32>,
    /// `x^l` of every layer (`runs x n_l`): `v` or `v/σ` for layer 0, the
    /// binary states above (the odd ones as last sampled).
    x: Vec<Vec<f32>>,
    /// The total input of every layer from its neighbours (and its bias,
    /// except layer 0's).
    pre: Vec<Vec<f32>>,
    log_w: Vec<f64>,
    /// `β a` of one odd layer of one run, at the new and the old `β`.
    at_beta: Vec<f64>,
    at_prev: Vec<f64>,
}

impl<'p, 'a> Block<'p, 'a> {
    /// Runs `first .. first + runs`, drawn from the base model.
    fn new(
        params: &'p DbmParams<'a>,
        w_t: &'p [Vec<f32>],
        base: &'p [f32],
        config: &AisConfig,
        first: usize,
        runs: usize,
    ) -> Self {
        let sizes = params.sizes();
        let mut rngs: Vec<Rng> = (first..first + runs)
            .map(|m| Rng::substream(config.seed, DBM_AIS_STREAM, m as u64))
            .collect();
        let nv = sizes[0];
        let mut v = vec![0.0f32; runs * nv];
        let mut x: Vec<Vec<f32>> = sizes.iter().map(|&n| vec![0.0f32; runs * n]).collect();
        // x₁ ~ p_0: independent visibles, uniform even hidden layers.
        for (r, rng) in rngs.iter_mut().enumerate() {
            for (i, vi) in v[r * nv..(r + 1) * nv].iter_mut().enumerate() {
                *vi = match params.visible {
                    VisibleUnits::Bernoulli => {
                        (rng.uniform_f32() < sigmoid_f32(base[i])) as u8 as f32
                    }
                    VisibleUnits::Gaussian { sigma } => base[i] + sigma[i] * rng.normal() as f32,
                };
            }
            for l in (2..sizes.len()).step_by(2) {
                for h in x[l][r * sizes[l]..(r + 1) * sizes[l]].iter_mut() {
                    *h = (rng.uniform_f32() < 0.5) as u8 as f32;
                }
            }
        }
        let widest_odd = sizes.iter().skip(1).step_by(2).copied().max().unwrap_or(0);
        let mut block = Block {
            params,
            w_t,
            base,
            pre: sizes.iter().map(|&n| vec![0.0f32; runs * n]).collect(),
            sizes,
            runs,
            rngs,
            v,
            x,
            log_w: vec![0.0f64; runs],
            at_beta: vec![0.0f64; widest_odd],
            at_prev: vec![0.0f64; widest_odd],
        };
        block.set_visible_inputs();
        block
    }

    /// All `K` steps; returns the log-weights.
    fn run(&mut self, betas: &[f64]) -> Result<Vec<f64>> {
        let k_last = betas.len() - 1;
        for k in 1..=k_last {
            let (beta, beta_prev) = (betas[k], betas[k - 1]);
            for l in (1..self.sizes.len()).step_by(2) {
                self.layer_input(l)?;
            }
            self.add_log_weights(beta, beta_prev);
            if k == k_last {
                break;
            }
            let beta_f = beta as f32;
            for l in (1..self.sizes.len()).step_by(2) {
                self.sample_hidden(l, beta_f);
            }
            for l in (0..self.sizes.len()).step_by(2) {
                self.layer_input(l)?;
            }
            self.sample_visible(beta_f);
            for l in (2..self.sizes.len()).step_by(2) {
                self.sample_hidden(l, beta_f);
            }
        }
        Ok(std::mem::take(&mut self.log_w))
    }

    /// `pre[l] = x^{l-1} W^l + x^{l+1} (W^{l+1})ᵀ + b^l` (no bias for
    /// `l = 0`) for every run of the block.
    fn layer_input(&mut self, l: usize) -> Result<()> {
        let (runs, sizes) = (self.runs, &self.sizes);
        let top = sizes.len() - 1;
        let mut accum = Accum::Replace;
        let pre = &mut self.pre[l];
        if l > 0 {
            let a = MatRef::row_major(&self.x[l - 1], runs, sizes[l - 1])?;
            let b = MatRef::row_major(self.params.w(l), sizes[l - 1], sizes[l])?;
            let c = MatMut::row_major(pre, runs, sizes[l])?;
            if l == top {
                let bias = BiasAdd::new(self.params.biases[l]);
                return Ok(gemm(1.0, a, b, accum, c, &bias, Par::Seq)?);
            }
            gemm(1.0, a, b, accum, c, &NoEpilogue, Par::Seq)?;
            accum = Accum::Add { beta: 1.0 };
        }
        let a = MatRef::row_major(&self.x[l + 1], runs, sizes[l + 1])?;
        let b = MatRef::row_major(&self.w_t[l], sizes[l + 1], sizes[l])?;
        let c = MatMut::row_major(pre, runs, sizes[l])?;
        if l == 0 {
            gemm(1.0, a, b, accum, c, &NoEpilogue, Par::Seq)?;
        } else {
            let bias = BiasAdd::new(self.params.biases[l]);
            gemm(1.0, a, b, accum, c, &bias, Par::Seq)?;
        }
        Ok(())
    }

    /// `ln w += ln p*_k(x_k) - ln p*_{k-1}(x_k)` for every run, with the odd
    /// layers' inputs in `pre`.
    fn add_log_weights(&mut self, beta: f64, beta_prev: f64) {
        let dbeta = beta - beta_prev;
        let sizes = &self.sizes;
        for r in 0..self.runs {
            let mut linear = self.visible_log_ratio(r);
            for l in (2..sizes.len()).step_by(2) {
                let h = &self.x[l][r * sizes[l]..(r + 1) * sizes[l]];
                linear += h
                    .iter()
                    .zip(self.params.biases[l])
                    .map(|(&h, &b)| h as f64 * b as f64)
                    .sum::<f64>();
            }
            let mut odd = 0.0;
            for l in (1..sizes.len()).step_by(2) {
                let (n, a) = (sizes[l], &self.pre[l][r * sizes[l]..(r + 1) * sizes[l]]);
                let (at_beta, at_prev) = (&mut self.at_beta[..n], &mut self.at_prev[..n]);
                for ((xb, xp), &aj) in at_beta.iter_mut().zip(at_prev.iter_mut()).zip(a) {
                    *xb = beta * aj as f64;
                    *xp = beta_prev * aj as f64;
                }
                odd += sum_softplus_f64(at_beta) - sum_softplus_f64(at_prev);
            }
            self.log_w[r] += dbeta * linear + odd;
        }
    }

    /// `q(v) - q_A(v)` of run `r`, in `f64`.
    fn visible_log_ratio(&self, r: usize) -> f64 {
        let nv = self.sizes[0];
        let v = &self.v[r * nv..(r + 1) * nv];
        let pairs = v.iter().zip(self.params.biases[0].iter().zip(self.base));
        match self.params.visible {
            VisibleUnits::Bernoulli => pairs
                .map(|(&vi, (&bi, &ai))| vi as f64 * (bi as f64 - ai as f64))
                .sum(),
            VisibleUnits::Gaussian { sigma } => pairs
                .zip(sigma)
                .map(|((&vi, (&bi, &ai)), &si)| {
                    let (vi, si) = (vi as f64, si as f64);
                    let db = (vi - bi as f64) / si;
                    let da = (vi - ai as f64) / si;
                    -0.5 * (db * db - da * da)
                })
                .sum(),
        }
    }

    /// `h^l ~ σ(β pre^l)` for every run (`l ≥ 1`).
    fn sample_hidden(&mut self, l: usize, beta: f32) {
        let n = self.sizes[l];
        let rows = self.x[l]
            .chunks_exact_mut(n)
            .zip(self.pre[l].chunks_exact(n));
        for ((hr, ar), rng) in rows.zip(&mut self.rngs) {
            for (hj, &aj) in hr.iter_mut().zip(ar) {
                *hj = (rng.uniform_f32() < sigmoid_f32(beta * aj)) as u8 as f32;
            }
        }
    }

    /// `v ~ p_β(v | h¹)` for every run, with `W¹h¹` in `pre[0]`.
    fn sample_visible(&mut self, beta: f32) {
        let nv = self.sizes[0];
        let (b, base) = (self.params.biases[0], self.base);
        let one_minus = 1.0 - beta;
        let rows = self
            .v
            .chunks_exact_mut(nv)
            .zip(self.pre[0].chunks_exact(nv));
        for ((vr, dr), rng) in rows.zip(&mut self.rngs) {
            for (i, (vi, &d)) in vr.iter_mut().zip(dr).enumerate() {
                *vi = match self.params.visible {
                    VisibleUnits::Bernoulli => {
                        let p = sigmoid_f32(one_minus * base[i] + beta * (b[i] + d));
                        (rng.uniform_f32() < p) as u8 as f32
                    }
                    VisibleUnits::Gaussian { sigma: s } => {
                        let mean = one_minus * base[i] + beta * (b[i] + s[i] * d);
                        mean + s[i] * rng.normal() as f32
                    }
                };
            }
        }
        self.set_visible_inputs();
    }

    /// `x^0 = v` or `v/σ`.
    fn set_visible_inputs(&mut self) {
        match self.params.visible {
            VisibleUnits::Bernoulli => self.x[0].copy_from_slice(&self.v),
            VisibleUnits::Gaussian { sigma } => {
                let rows = self.x[0].chunks_exact_mut(sigma.len());
                for (xr, vr) in rows.zip(self.v.chunks_exact(sigma.len())) {
                    for ((xi, vi), si) in xr.iter_mut().zip(vr).zip(sigma) {
                        *xi = vi / si;
                    }
                }
            }
        }
    }
}
