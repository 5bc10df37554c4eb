//! Restricted Boltzmann machines (MODELS.md section 2): Bernoulli-Bernoulli
//! and Gaussian-Bernoulli, trained with CD-k or persistent CD through the
//! engine's [`Trainer`](latent_engine::train::Trainer).
//!
//! A training step is a handful of fused kernel calls on buffers allocated
//! once per batch size:
//!
//! 1. `P⁰ = σ(V⁰W + 1cᵀ)` and `H⁰ ~ Bernoulli(P⁰)`: one GEMM with a bias-add
//!    epilogue and one fused sigmoid+sample pass;
//! 2. the chain: `Vᵗ = p(v|Hᵗ⁻¹)` (GEMM with the activation fused into its
//!    write-out), `Pᵗ = σ(VᵗW + 1cᵀ)`, sampling `Hᵗ` unless `t = k`;
//! 3. the weight gradient `−(V⁰ᵀP⁰ − VᵏᵀPᵏ)/B` as **one** GEMM of the
//!    stacked matrices `[V⁰; Vᵏ]ᵀ [P⁰; −Pᵏ]`, and the bias gradients as column
//!    sums.
//!
//! The gradient handed to the optimiser is that of the negative
//! log-likelihood (to be minimised); weight decay and momentum are the
//! optimiser's (see [`RbmConfig::default_optimizer`]). The reported loss is
//! the reconstruction error: the mean over the batch of
//! `Σ_i (v_i − p(v_i|H⁰))²`.
//!
//! Precision ([`Rbm::set_precision`]): in bf16, every matrix product of
//! training and inference has bf16 operands and f32 accumulation. A
//! training step packs `W` and `Wᵀ` to bf16 once, into its workspace, for
//! all the products that read them (the chain's, the learned-σ gradient's);
//! the weight gradient rounds its data operands (the stacks) while packing.
//! The master parameters, the gradients' accumulation, the optimiser, the
//! samplers and the losses stay f32, and so does the likelihood evaluation
//! ([`crate::eval`], which reads the f32 parameters).
//!
//! The modified RBMs that pretrain a deep Boltzmann machine
//! ([`DoubledInput`], `RbmConfig::doubled`) double one direction's product
//! (its GEMM's `α`): training and inference are the same code, and the
//! likelihood evaluation refuses them (they have no joint distribution).
//!
//! Linear hiddens ([`HiddenUnits::Linear`], Hinton & Salakhutdinov 2006,
//! `rbmhidlinear.m`) run the same steps with the identity in place of the
//! sigmoid and Gaussian noise in place of the Bernoulli draw: `P = VW + 1cᵀ`
//! (the features), `H = P + N(0, 1)` in the positive phase, the means in
//! the negative one; their free energy and exact `ln Z` integrate the
//! hiddens in closed form ([`crate::eval`]), and AIS refuses them.
//!
//! Gaussian visibles use unit variance (`σ_i = 1`, MODELS.md 2.2): standardise
//! the data per feature first (`latent_engine::preprocess`).

mod chain;
mod config;
mod epilogue;
mod eval;
mod gradients;
mod hidden_pcd;
mod inference;
mod model;
mod profile;
mod train;
mod workspace;

#[cfg(test)]
mod doubled_tests;
#[cfg(test)]
mod tests;

pub use config::{DoubledInput, HiddenUnits, RbmConfig, Sparsity, VisibleUnits};
pub use hidden_pcd::{FIT_STREAM, FitPlan, HiddenPcd, HiddenPcdConfig};
pub use profile::StepProfile;
pub use workspace::RbmScratch;

use latent_engine::{Matrix, ParamSet, Role};
use latent_kernels::Par;
use latent_kernels::Precision;

use crate::ae::util::check_len;
use crate::error::{ModelError, Result};
use workspace::Workspace;

/// Index of the weight matrix `W` (V x H) in the parameter set.
pub const W: usize = 0;
/// Index of the visible biases `b` (1 x V).
pub const B_VIS: usize = 1;
/// Index of the hidden biases `c` (1 x H).
pub const C_HID: usize = 2;
/// Index of `ln σ` (1 x V), present only when σ is learned.
pub const LOG_SIGMA: usize = 3;

/// A restricted Boltzmann machine with its training state.
#[derive(Debug)]
pub struct Rbm {
    config: RbmConfig,
    params: ParamSet,
    ws: Workspace,
    /// PCD: the negative chains' visible states (`chains x V`).
    chains: Option<Matrix>,
    /// Sparsity: the moving average of the hidden activations.
    q_hat: Vec<f32>,
    /// Phase times of `cd_gradient`, when profiling is on.
    profile: Option<StepProfile>,
    /// The precision of the matrix products.
    precision: Precision,
}

impl Rbm {
    /// A new RBM with `W ~ N(0, init_std²)` (seeded), zero biases.
    pub fn new(config: RbmConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let (v, h) = (config.n_visible, config.n_hidden);
        let mut rng = latent_engine::Rng::stream(seed, 0x52_424d); // "RBM"
        let w = Matrix::from_fn(v, h, |_, _| (rng.normal() * config.init_std as f64) as f32)?;
        let mut params = ParamSet::new();
        params.push("W", Role::Weight, w)?;
        params.push("b", Role::Bias, Matrix::zeros(1, v)?)?;
        params.push("c", Role::Bias, Matrix::zeros(1, h)?)?;
        if config.learn_sigma {
            params.push("log_sigma", Role::Other, Matrix::zeros(1, v)?)?;
        }
        let q_hat = match config.sparsity {
            Some(s) => vec![s.target; h],
            None => Vec::new(),
        };
        Ok(Rbm {
            config,
            params,
            ws: Workspace::default(),
            chains: None,
            q_hat,
            profile: None,
            precision: Precision::F32,
        })
    }

    /// The precision of the model's matrix products ([`Precision::F32`]
    /// unless set), in training and inference alike (the likelihood
    /// evaluation, [`crate::eval`], stays f32).
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Sets the precision of the model's matrix products (master
    /// parameters and everything else stay f32).
    pub fn set_precision(&mut self, precision: Precision) {
        self.precision = precision;
    }

    /// Switches the per-phase timing of [`cd_gradient`](Self::cd_gradient)
    /// on (from zero) or off. Off by default; on, it costs a few clock reads
    /// per step.
    pub fn set_profiling(&mut self, on: bool) {
        self.profile = on.then(StepProfile::default);
    }

    /// The phase times since profiling was switched on, if it is.
    pub fn step_profile(&self) -> Option<StepProfile> {
        self.profile
    }

    /// An RBM with the given parameters (`w` is `V x H` row-major).
    pub fn from_params(config: RbmConfig, w: &[f32], b: &[f32], c: &[f32]) -> Result<Self> {
        let mut rbm = Rbm::new(
            RbmConfig {
                init_std: 0.0,
                ..config
            },
            0,
        )?;
        rbm.config.init_std = config.init_std;
        let (v, h) = (config.n_visible, config.n_hidden);
        check_len("Rbm::from_params: w (V*H)", w.len(), v * h)?;
        check_len("Rbm::from_params: b (V)", b.len(), v)?;
        check_len("Rbm::from_params: c (H)", c.len(), h)?;
        rbm.params.value_mut(W).as_mut_slice().copy_from_slice(w);
        rbm.params
            .value_mut(B_VIS)
            .as_mut_slice()
            .copy_from_slice(b);
        rbm.params
            .value_mut(C_HID)
            .as_mut_slice()
            .copy_from_slice(c);
        Ok(rbm)
    }

    /// The configuration.
    pub fn config(&self) -> &RbmConfig {
        &self.config
    }

    /// The weights `W`, `V x H` row-major.
    pub fn weights(&self) -> &Matrix {
        self.params.value(W)
    }

    /// The visible biases `b`.
    pub fn visible_bias(&self) -> &[f32] {
        self.params.value(B_VIS).as_slice()
    }

    /// The hidden biases `c`.
    pub fn hidden_bias(&self) -> &[f32] {
        self.params.value(C_HID).as_slice()
    }

    /// Hinton's visible-bias initialisation: `b_i = ln(p_i/(1 − p_i))` of the
    /// data's column means `p_i` (clipped to `[1e-3, 1 − 1e-3]`) for
    /// Bernoulli visibles; the column means for Gaussian visibles.
    pub fn init_visible_bias_from_data(&mut self, x: &Matrix, par: Par) -> Result<()> {
        check_len(
            "init_visible_bias_from_data: columns of x",
            x.cols(),
            self.config.n_visible,
        )?;
        if x.rows() == 0 {
            return Err(ModelError::Shape {
                what: "init_visible_bias_from_data: rows of x".into(),
                expected: 1,
                found: 0,
            });
        }
        let mut means = vec![0.0f32; x.cols()];
        latent_kernels::reduce::col_means(x.as_slice(), x.rows(), x.cols(), &mut means, par)?;
        let b = self.params.value_mut(B_VIS).as_mut_slice();
        for (bi, &p) in b.iter_mut().zip(&means) {
            *bi = match self.config.visible {
                VisibleUnits::Bernoulli => {
                    let p = p.clamp(1e-3, 1.0 - 1e-3);
                    (p / (1.0 - p)).ln()
                }
                VisibleUnits::Gaussian => p,
            };
        }
        Ok(())
    }

    /// The persistent chains (PCD), if any.
    pub fn chains(&self) -> Option<&Matrix> {
        self.chains.as_ref()
    }
}
