//! The variational autoencoder (MODELS.md 4.5).
//!
//! The encoder's hidden layers `h_l = act_l(h_{l-1} W_l + 1 c_lᵀ)` end in two
//! linear heads, `μ = h_k W_μ + 1 b_μᵀ` and `ln σ² = h_k W_lv + 1 b_lvᵀ`; the
//! latent is reparameterised, `z = μ + σ ⊙ ε` with `ε ~ N(0, I)` drawn from
//! the step's [`Streams`] (one fused kernel); the decoder mirrors the hidden
//! layers (untied weights, `n_{l-1} x n_l` like every weight here, used as
//! `g Wᵀ`) and ends in Bernoulli logits or a unit-variance Gaussian mean.
//!
//! The loss is the negative ELBO per sample, `L_recon + KL(N(μ, σ²) ‖ N(0, I))`
//! with `L_recon = -ln p(x|z)`: the cross-entropy from logits (Bernoulli) or
//! `½ ‖x - x̂‖² + (V/2) ln 2π` (Gaussian, the constant included so the ELBO
//! is a true bound on `ln p(x)`). The gradient through the sample uses
//! `∂z/∂μ = 1` and `∂z/∂ln σ² = ½ σ ε = ½ (z - μ)`.
//!
//! [`Vae::log_likelihood_iw`] gives the importance-weighted estimate
//! `ln p(x) ≈ ln (1/K) Σ_k p(x, z_k) / q(z_k|x)` for evaluation, and
//! [`Vae::sample`] decodes `z ~ N(0, I)`.
//!
//! Inference ([`Vae::encode`], [`Vae::decode`], [`Vae::reconstruct`],
//! [`Vae::sample`]) and evaluation ([`Vae::elbo`], [`Vae::elbo_rows`],
//! [`Vae::log_likelihood_iw`]) take `&self` and a caller-kept [`VaeScratch`]
//! (the `_with` forms; the plain forms make a fresh one); training keeps its
//! own workspace.

mod backward;
mod config;
mod eval;
mod forward;
mod infer;
mod model;
#[cfg(test)]
mod tests;
mod workspace;

pub use config::{VaeConfig, VaeOutput, VaeStep};
pub use workspace::VaeScratch;

use latent_engine::{Matrix, ParamSet, Role};
use latent_kernels::Par;
use latent_kernels::gemm::{MatRef, Precision};
use latent_kernels::random::{Streams, gaussian_reparam};

use self::workspace::Workspace;
use super::util::{check_len, init_weights};
use crate::error::Result;

/// A variational autoencoder with its training state.
///
/// Parameters, in order: `W1, c1, …, Wk, ck`, `Wmu, bmu, Wlv, blv`, then the
/// decoder `Wd_{k+1}, b_{k+1}, …, Wd1, b1` (`Wd_l` is `n_{l-1} x n_l` with
/// level `k+1` the latent).
#[derive(Debug)]
pub struct Vae {
    config: VaeConfig,
    levels: Vec<usize>,
    params: ParamSet,
    enc_w: Vec<usize>,
    enc_c: Vec<usize>,
    heads: [usize; 4],
    dec_w: Vec<usize>,
    dec_b: Vec<usize>,
    ws: Workspace,
    /// The precision of the matrix products.
    precision: Precision,
}

impl Vae {
    /// A new VAE with seeded random weights and zero biases.
    pub fn new(config: VaeConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let levels = config.levels();
        let k = config.hidden_layers();
        let mut rng = latent_engine::Rng::stream(seed, 0x5641_4500); // "VAE"
        let mut params = ParamSet::new();
        let (mut enc_w, mut enc_c) = (vec![], vec![]);
        for i in 0..k {
            let w = init_weights(&mut rng, levels[i], levels[i + 1], config.init_std)?;
            enc_w.push(params.push(format!("W{}", i + 1), Role::Weight, w)?);
            enc_c.push(params.push(
                format!("c{}", i + 1),
                Role::Bias,
                Matrix::zeros(1, levels[i + 1])?,
            )?);
        }
        let (hk, z) = (levels[k], levels[k + 1]);
        let wmu = init_weights(&mut rng, hk, z, config.init_std)?;
        let wlv = init_weights(&mut rng, hk, z, config.init_std)?;
        let heads = [
            params.push("Wmu", Role::Weight, wmu)?,
            params.push("bmu", Role::Bias, Matrix::zeros(1, z)?)?,
            params.push("Wlv", Role::Weight, wlv)?,
            params.push("blv", Role::Bias, Matrix::zeros(1, z)?)?,
        ];
        let (mut dec_w, mut dec_b) = (vec![0; k + 1], vec![0; k + 1]);
        for i in (0..=k).rev() {
            let w = init_weights(&mut rng, levels[i], levels[i + 1], config.init_std)?;
            dec_w[i] = params.push(format!("Wd{}", i + 1), Role::Weight, w)?;
            dec_b[i] = params.push(
                format!("b{}", i + 1),
                Role::Bias,
                Matrix::zeros(1, levels[i])?,
            )?;
        }
        Ok(Vae {
            config,
            levels,
            params,
            enc_w,
            enc_c,
            heads,
            dec_w,
            dec_b,
            ws: Workspace::default(),
            precision: Precision::F32,
        })
    }

    /// The precision of the model's matrix products ([`Precision::F32`]
    /// unless set), in training and inference alike.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Sets the precision of the model's matrix products (master
    /// parameters and everything else stay f32).
    pub fn set_precision(&mut self, precision: Precision) {
        self.precision = precision;
    }

    /// The configuration.
    pub fn config(&self) -> &VaeConfig {
        &self.config
    }

    /// The latent dimension `Z`.
    pub fn latent(&self) -> usize {
        self.config.latent
    }

    /// The `ε ~ N(0, I)` (`rows x Z`, row-major) that a step with `seed`
    /// uses, for tests that hold the noise fixed.
    pub fn draw_eps(&self, seed: u64, rows: usize, out: &mut [f32]) -> Result<()> {
        let z = self.config.latent;
        check_len("Vae::draw_eps: out (rows x Z)", out.len(), rows * z)?;
        let zeros = vec![0.0f32; rows * z];
        let mut tmp = vec![0.0f32; rows * z];
        gaussian_reparam(
            Streams::new(seed),
            &zeros,
            &zeros,
            &mut tmp,
            out,
            rows,
            z,
            Par::Seq,
        )?;
        Ok(())
    }

    fn check_input(&self, what: &str, x: &MatRef<'_>) -> Result<()> {
        if x.cols() == self.levels[0] {
            return Ok(());
        }
        // Formatted only on error: a training step must not allocate.
        check_len(
            &format!("{what}: columns of the data"),
            x.cols(),
            self.levels[0],
        )
    }
}
