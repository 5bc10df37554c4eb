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
//! Gaussian visibles use unit variance (`σ_i = 1`, MODELS.md 2.2): standardise
//! the data per feature first (`latent_engine::preprocess`).

use latent_engine::train::{FusedUpdate, Model, StepContext, StepOutput};
use latent_engine::{Batch, Matrix, OptimizerConfig, ParamSet, Role, Tensor};
use latent_kernels::Par;
use latent_kernels::activation::{Activation, BiasActivation};
use latent_kernels::gemm::{Accum, BiasAdd, Epilogue, MatMut, MatRef, gemm, sgemm};
use latent_kernels::random::{Scale, Streams, bernoulli, gaussian, sigmoid_bernoulli};
use latent_kernels::reduce::{col_sums, sq_err};
use latent_kernels::update::{RankOne, RankOneAdd, SgdUpdate, gemm_sgd_update};
use rayon::iter::Either;
use rayon::prelude::*;
use std::time::{Duration, Instant};

use crate::ae::util::copy_row_range;
use crate::error::{ModelError, Result, into_engine};

/// The kind of visible units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisibleUnits {
    /// Binary visibles: `p(v_i = 1 | h) = σ(b_i + (W h)_i)`.
    Bernoulli,
    /// Real-valued visibles with unit variance: `p(v_i | h) = N(b_i + (W h)_i, 1)`.
    Gaussian,
}

impl VisibleUnits {
    /// `"bernoulli"` or `"gaussian"`.
    pub fn name(self) -> &'static str {
        match self {
            VisibleUnits::Bernoulli => "bernoulli",
            VisibleUnits::Gaussian => "gaussian",
        }
    }
}

/// A target for the mean hidden activation (Hinton's guide, section 11).
///
/// `q̂_j ← decay·q̂_j + (1 − decay)·mean(P⁰_j)` each step, and the gradient
/// of the penalty `cost·Σ_j (q̂_j − target)` pushes the hidden biases by
/// `cost·(q̂_j − target)` and the weights by `cost·(q̂_j − target)·v̄_i`
/// (`v̄` the batch mean of the data), the derivative through each unit's
/// total input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sparsity {
    /// The target mean activation `ρ` in (0, 1).
    pub target: f32,
    /// The penalty's weight `κ`.
    pub cost: f32,
    /// The decay of the moving average `q̂` in [0, 1).
    pub decay: f32,
}

/// Hyper-parameters of an RBM and its training.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RbmConfig {
    /// Visible units' kind.
    pub visible: VisibleUnits,
    /// Number of visible units `V`.
    pub n_visible: usize,
    /// Number of hidden units `H`.
    pub n_hidden: usize,
    /// Gibbs steps per gradient estimate (`k` of CD-k / PCD-k), at least 1.
    pub cd_k: usize,
    /// Persistent CD: keep the negative chains across minibatches.
    pub persistent: bool,
    /// Sample the visibles in the negative chain instead of using their
    /// means (mean-field reconstructions, the default for CD). PCD always
    /// samples, since its chains must be proper Markov chains.
    pub sample_visible: bool,
    /// Standard deviation of the initial weights (Hinton: 0.01).
    pub init_std: f32,
    /// Optional sparsity target.
    pub sparsity: Option<Sparsity>,
    /// Gaussian visibles only: learn a standard deviation `σ_i` per visible
    /// unit (parameterised as `ln σ_i`, no weight decay) instead of fixing
    /// `σ_i = 1` (MODELS.md 2.2). Learning σ by CD needs sampled visibles
    /// in the chain, so it implies [`sample_visible`](Self::sample_visible).
    pub learn_sigma: bool,
}

impl RbmConfig {
    /// CD-1 with Hinton's defaults for `n_visible` Bernoulli visibles and
    /// `n_hidden` hidden units.
    pub fn bernoulli(n_visible: usize, n_hidden: usize) -> Self {
        RbmConfig {
            visible: VisibleUnits::Bernoulli,
            n_visible,
            n_hidden,
            cd_k: 1,
            persistent: false,
            sample_visible: false,
            init_std: 0.01,
            sparsity: None,
            learn_sigma: false,
        }
    }

    /// CD-1 with Hinton's defaults for `n_visible` unit-variance Gaussian
    /// visibles (standardised data) and `n_hidden` hidden units.
    pub fn gaussian(n_visible: usize, n_hidden: usize) -> Self {
        RbmConfig {
            visible: VisibleUnits::Gaussian,
            ..Self::bernoulli(n_visible, n_hidden)
        }
    }

    /// Hinton's optimiser: SGD with momentum 0.5 then 0.9, weight decay
    /// 1e-4 on the weights, learning rate 0.1 (binary data) or 0.001
    /// (Gaussian visibles).
    pub fn default_optimizer(&self) -> OptimizerConfig {
        let lr = match self.visible {
            VisibleUnits::Bernoulli => 0.1,
            VisibleUnits::Gaussian => 0.001,
        };
        OptimizerConfig::sgd_hinton(lr, 1e-4)
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        let bad = |what, value: String, expected| {
            Err(ModelError::InvalidConfig {
                what,
                value,
                expected,
            })
        };
        if self.n_visible == 0 {
            return bad("n_visible", "0".into(), "at least 1");
        }
        if self.n_hidden == 0 {
            return bad("n_hidden", "0".into(), "at least 1");
        }
        if self.cd_k == 0 {
            return bad("cd_k", "0".into(), "at least 1 Gibbs step");
        }
        if !(self.init_std.is_finite() && self.init_std >= 0.0) {
            return bad("init_std", self.init_std.to_string(), "a finite value >= 0");
        }
        if self.learn_sigma && self.visible != VisibleUnits::Gaussian {
            return bad(
                "learn_sigma",
                "true".into(),
                "Gaussian visible units (Bernoulli visibles have no σ)",
            );
        }
        if let Some(s) = self.sparsity {
            if !(s.target > 0.0 && s.target < 1.0) {
                return bad("sparsity target", s.target.to_string(), "a value in (0, 1)");
            }
            if !(s.cost.is_finite() && s.cost >= 0.0) {
                return bad("sparsity cost", s.cost.to_string(), "a finite value >= 0");
            }
            if !(0.0..1.0).contains(&s.decay) {
                return bad("sparsity decay", s.decay.to_string(), "a value in [0, 1)");
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let sparsity = match self.sparsity {
            Some(s) => format!("target={} cost={} decay={}", s.target, s.cost, s.decay),
            None => "none".into(),
        };
        format!(
            "visible={} n_visible={} n_hidden={} cd_k={} persistent={} sample_visible={} init_std={} sparsity={} learn_sigma={}",
            self.visible.name(),
            self.n_visible,
            self.n_hidden,
            self.cd_k,
            self.persistent,
            self.sample_visible,
            self.init_std,
            sparsity,
            self.learn_sigma
        )
    }
}

/// Index of the weight matrix `W` (V x H) in the parameter set.
pub const W: usize = 0;
/// Index of the visible biases `b` (1 x V).
pub const B_VIS: usize = 1;
/// Index of the hidden biases `c` (1 x H).
pub const C_HID: usize = 2;
/// Index of `ln σ` (1 x V), present only when σ is learned.
pub const LOG_SIGMA: usize = 3;

/// Buffers of one training step, sized for the largest batch seen.
#[derive(Debug, Default)]
struct Workspace {
    rows: usize,
    /// `[V⁰; Vᵏ]`, `2B x V`.
    stacked_v: Vec<f32>,
    /// `[P⁰; Pᵏ]` (then `[P⁰; −Pᵏ]`), `2B x H`.
    stacked_p: Vec<f32>,
    /// Hidden samples, `B x H`.
    h: Vec<f32>,
    /// Visible means before sampling, `B x V`.
    v_mean: Vec<f32>,
    /// Column sums, `V` and `H` long, two of each.
    sum_v: [Vec<f32>; 2],
    sum_p: [Vec<f32>; 2],
    /// Learned σ: `σ`, `b/σ` (V each) and `[P⁰; Pᵏ] Wᵀ` (`2B x V`).
    sigma: Vec<f32>,
    beta: Vec<f32>,
    pw: Vec<f32>,
    /// Per-row reconstruction errors, `B`.
    recon_rows: Vec<f32>,
    /// Sparsity: the rank-one weight-gradient term's factors, the mean
    /// visible data `v̄` (V) and `cost·(q̂ − ρ)` (H).
    sparse_rows: Vec<f32>,
    sparse_cols: Vec<f32>,
}

impl Workspace {
    /// Sizes the buffers for `rows` rows (`learn_sigma`: also `[P⁰; Pᵏ] Wᵀ`,
    /// which only a learned σ needs).
    fn ensure(&mut self, rows: usize, v: usize, h: usize, learn_sigma: bool) {
        if rows <= self.rows {
            return;
        }
        self.rows = rows;
        self.stacked_v = vec![0.0; 2 * rows * v];
        self.stacked_p = vec![0.0; 2 * rows * h];
        self.h = vec![0.0; rows * h];
        self.v_mean = vec![0.0; rows * v];
        self.sum_v = [vec![0.0; v], vec![0.0; v]];
        self.sum_p = [vec![0.0; h], vec![0.0; h]];
        self.sigma = vec![1.0; v];
        self.beta = vec![0.0; v];
        self.pw = if learn_sigma {
            vec![0.0; 2 * rows * v]
        } else {
            Vec::new()
        };
        self.recon_rows = vec![0.0; rows];
        self.sparse_rows = vec![0.0; v];
        self.sparse_cols = vec![0.0; h];
    }
}

/// Where the time of [`Rbm::cd_gradient`] went, summed over the steps
/// since profiling was switched on ([`Rbm::set_profiling`]): for finding
/// what to optimise, and for benchmark breakdowns.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepProfile {
    /// Steps measured.
    pub steps: u64,
    /// The serial set-up between the workspace's allocation check and the
    /// chain region (σ and `b/σ` when σ is learned).
    pub setup: Duration,
    /// The positive phase and the Gibbs chain (each block's copy of its
    /// minibatch rows and PCD chain states, the V x H products, the
    /// samplers and the reconstruction error).
    pub chain: Duration,
    /// Column sums and the bias (and learned-σ) gradients.
    pub bias_gradients: Duration,
    /// The weight gradient product (and the sparsity term).
    pub weight_gradient: Duration,
}

impl StepProfile {
    /// The phases as `(name, total time)`, in step order.
    pub fn phases(&self) -> [(&'static str, Duration); 4] {
        [
            ("setup", self.setup),
            ("chain", self.chain),
            ("bias_gradients", self.bias_gradients),
            ("weight_gradient", self.weight_gradient),
        ]
    }

    /// The total of all phases.
    pub fn total(&self) -> Duration {
        self.phases().iter().map(|&(_, t)| t).sum()
    }
}

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
        })
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

    fn check_input(&self, what: &str, x: &MatRef<'_>) -> Result<()> {
        if x.cols() == self.config.n_visible {
            return Ok(());
        }
        check_len(
            &format!("{what}: columns of the data (visible units)"),
            x.cols(),
            self.config.n_visible,
        )
    }

    /// [`sigma`](Self::sigma) into `out` (its old contents replaced, its
    /// room reused).
    fn sigma_into(&self, out: &mut Vec<f32>) {
        out.clear();
        match self.config.visible {
            VisibleUnits::Bernoulli => {}
            VisibleUnits::Gaussian if self.config.learn_sigma => out.extend(
                self.params
                    .value(LOG_SIGMA)
                    .as_slice()
                    .iter()
                    .map(|z| z.exp()),
            ),
            VisibleUnits::Gaussian => out.resize(self.config.n_visible, 1.0),
        }
    }

    /// `(x/σ) W` (σ only when learned; `sigma` is [`sigma_into`]'s) with
    /// `epi` fused into the write-out: the hidden units' total inputs.
    /// Learned σ costs a scaled copy of `x`, made in `scaled`.
    ///
    /// [`sigma_into`]: Self::sigma_into
    fn up<E: Epilogue>(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        epi: &E,
        par: Par,
        scaled: &mut Vec<f32>,
        sigma: &[f32],
    ) -> Result<()> {
        let w = self.weights().view();
        if !self.config.learn_sigma {
            gemm(1.0, x, w, Accum::Replace, out, epi, par)?;
            return Ok(());
        }
        let (rows, v_n) = (x.rows(), x.cols());
        let s = grown(scaled, rows * v_n);
        for (i, row) in s.chunks_exact_mut(v_n.max(1)).enumerate() {
            for (j, (o, &sd)) in row.iter_mut().zip(sigma).enumerate() {
                *o = x.get(i, j).unwrap_or(0.0) / sd;
            }
        }
        let s = MatRef::row_major(s, rows, v_n)?;
        gemm(1.0, s, w, Accum::Replace, out, epi, par)?;
        Ok(())
    }

    /// Hidden probabilities `p(h = 1 | v) = σ(xW + 1cᵀ)` of the rows of `x`
    /// into `out` (`rows x H`): the features of the data. One fused GEMM
    /// (Gaussian visibles with learned σ: of `x/σ`, which allocates; see
    /// [`transform_with`](Self::transform_with)).
    pub fn transform(&self, x: MatRef<'_>, out: MatMut<'_>, par: Par) -> Result<()> {
        self.transform_with(x, out, par, &mut RbmScratch::default())
    }

    /// [`transform`](Self::transform) with the caller's scratch buffers.
    pub fn transform_with(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        par: Par,
        scratch: &mut RbmScratch,
    ) -> Result<()> {
        self.check_input("Rbm::transform", &x)?;
        self.sigma_into(&mut scratch.sigma);
        self.up(
            x,
            out,
            &BiasActivation::new(self.hidden_bias(), Activation::Sigmoid),
            par,
            &mut scratch.scaled,
            &scratch.sigma,
        )
    }

    /// The visible means `E[v | h]` for hidden states `h` (`rows x H`) into
    /// `out` (`rows x V`): `σ(hWᵀ + 1bᵀ)`, `hWᵀ + 1bᵀ`, or with learned σ
    /// `b + σ ⊙ hWᵀ` (which allocates σ; see
    /// [`visible_means_with`](Self::visible_means_with)).
    pub fn visible_means(&self, h: MatRef<'_>, out: MatMut<'_>, par: Par) -> Result<()> {
        self.visible_means_with(h, out, par, &mut RbmScratch::default())
    }

    /// [`visible_means`](Self::visible_means) with the caller's scratch
    /// buffers.
    pub fn visible_means_with(
        &self,
        h: MatRef<'_>,
        out: MatMut<'_>,
        par: Par,
        scratch: &mut RbmScratch,
    ) -> Result<()> {
        self.sigma_into(&mut scratch.sigma);
        self.visible_means_sigma(h, out, par, &scratch.sigma)
    }

    /// [`visible_means`](Self::visible_means) with σ from
    /// [`sigma_into`](Self::sigma_into) (read only when learned).
    fn visible_means_sigma(
        &self,
        h: MatRef<'_>,
        out: MatMut<'_>,
        par: Par,
        sigma: &[f32],
    ) -> Result<()> {
        check_len(
            "Rbm::visible_means: columns of h (hidden units)",
            h.cols(),
            self.config.n_hidden,
        )?;
        let b = self.visible_bias();
        let wt = self.weights().view().t();
        match (self.config.visible, self.config.learn_sigma) {
            (VisibleUnits::Bernoulli, _) => gemm(
                1.0,
                h,
                wt,
                Accum::Replace,
                out,
                &BiasActivation::new(b, Activation::Sigmoid),
                par,
            )?,
            (VisibleUnits::Gaussian, false) => {
                gemm(1.0, h, wt, Accum::Replace, out, &BiasAdd::new(b), par)?
            }
            (VisibleUnits::Gaussian, true) => gemm(
                1.0,
                h,
                wt,
                Accum::Replace,
                out,
                &ScaleShift {
                    scale: sigma,
                    shift: b,
                },
                par,
            )?,
        }
        Ok(())
    }

    /// Mean-field reconstructions `E[v | h = p(h|x)]` of the rows of `x` into
    /// `out` (`rows x V`). Allocates a `rows x H` scratch buffer; see
    /// [`reconstruct_with`](Self::reconstruct_with).
    pub fn reconstruct(&self, x: MatRef<'_>, out: MatMut<'_>, par: Par) -> Result<()> {
        self.reconstruct_with(x, out, par, &mut RbmScratch::default())
    }

    /// [`reconstruct`](Self::reconstruct) with the caller's scratch buffers:
    /// no allocation once they have held a batch this large.
    pub fn reconstruct_with(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        par: Par,
        scratch: &mut RbmScratch,
    ) -> Result<()> {
        self.check_input("Rbm::reconstruct", &x)?;
        let (rows, h_n) = (x.rows(), self.config.n_hidden);
        self.sigma_into(&mut scratch.sigma);
        let p = grown(&mut scratch.hidden_p, rows * h_n);
        self.up(
            x,
            MatMut::row_major(p, rows, h_n)?,
            &BiasActivation::new(self.hidden_bias(), Activation::Sigmoid),
            par,
            &mut scratch.scaled,
            &scratch.sigma,
        )?;
        let p = MatRef::row_major(&scratch.hidden_p[..rows * h_n], rows, h_n)?;
        self.visible_means_sigma(p, out, par, &scratch.sigma)
    }

    /// Mean reconstruction error of `x` (MODELS.md 2.4): the mean over rows
    /// of `Σ_i (v_i − p(v_i | H⁰))²` with `H⁰` sampled from `p(h|v)` by the
    /// streams of `seed`.
    pub fn reconstruction_error(&self, x: &Matrix, seed: u64, par: Par) -> Result<f64> {
        let (rows, v_n, h_n) = (x.rows(), self.config.n_visible, self.config.n_hidden);
        self.check_input("Rbm::reconstruction_error", &x.view())?;
        if rows == 0 {
            return Ok(0.0);
        }
        let mut scratch = RbmScratch::default();
        let s = &mut scratch;
        self.sigma_into(&mut s.sigma);
        let (p, h) = (
            grown(&mut s.hidden_p, rows * h_n),
            grown(&mut s.hidden_h, rows * h_n),
        );
        let streams = Streams::new(seed);
        self.sample_hidden(x.view(), p, h, streams, par, &mut s.scaled, &s.sigma)?;
        let recon = grown(&mut s.visible, rows * v_n);
        let h = MatRef::row_major(&s.hidden_h[..rows * h_n], rows, h_n)?;
        let recon_view = MatMut::row_major(recon, rows, v_n)?;
        self.visible_means_sigma(h, recon_view, par, &s.sigma)?;
        let total = sq_err(
            &s.visible[..rows * v_n],
            x.as_slice(),
            rows,
            v_n,
            None,
            None,
            0.0,
        )?;
        Ok(total as f64 / rows as f64)
    }

    /// Free energies `F(v)` of the rows of `x` into `out` (MODELS.md 2.1,
    /// 2.2), in f32 with a stable softplus, the sums per row in f64; rows
    /// are split between threads. Allocates a `rows x H` scratch; see
    /// [`free_energy_with`](Self::free_energy_with).
    pub fn free_energy(&self, x: MatRef<'_>, out: &mut [f32], par: Par) -> Result<()> {
        self.free_energy_with(x, out, par, &mut RbmScratch::default())
    }

    /// [`free_energy`](Self::free_energy) with the caller's scratch buffers:
    /// no allocation once they have held a batch this large.
    pub fn free_energy_with(
        &self,
        x: MatRef<'_>,
        out: &mut [f32],
        par: Par,
        scratch: &mut RbmScratch,
    ) -> Result<()> {
        self.check_input("Rbm::free_energy", &x)?;
        let (rows, v_n, h_n) = (x.rows(), self.config.n_visible, self.config.n_hidden);
        check_len("Rbm::free_energy: out (one per row)", out.len(), rows)?;
        self.sigma_into(&mut scratch.sigma);
        let act = grown(&mut scratch.hidden_p, rows * h_n);
        self.up(
            x,
            MatMut::row_major(act, rows, h_n)?,
            &BiasActivation::new(self.hidden_bias(), Activation::Softplus),
            par,
            &mut scratch.scaled,
            &scratch.sigma,
        )?;
        let b = self.visible_bias();
        let sigma = &scratch.sigma;
        let (data, rs, cs) = (x.as_slice(), x.row_stride(), x.col_stride());
        let act = &scratch.hidden_p[..rows * h_n];
        let visible_units = self.config.visible;
        // Row by row, in f64; rows are independent, so the split between
        // threads does not change a bit of the result.
        let energy = |i: usize| -> f32 {
            let hidden: f64 = act[i * h_n..(i + 1) * h_n].iter().map(|&s| s as f64).sum();
            let row = (0..v_n).map(|j| data[i * rs + j * cs] as f64);
            let visible: f64 = match visible_units {
                VisibleUnits::Bernoulli => row.zip(b).map(|(v, &bj)| bj as f64 * v).sum(),
                VisibleUnits::Gaussian => -row
                    .zip(b)
                    .zip(sigma)
                    .map(|((v, &bj), &sd)| {
                        let d = (v - bj as f64) / sd as f64;
                        0.5 * d * d
                    })
                    .sum::<f64>(),
            };
            (-visible - hidden) as f32
        };
        let tasks = par.max_tasks().min(rows / 64).max(1);
        if tasks == 1 {
            for (i, f) in out.iter_mut().enumerate() {
                *f = energy(i);
            }
            return Ok(());
        }
        let chunk = rows.div_ceil(tasks);
        out.par_chunks_mut(chunk)
            .enumerate()
            .with_max_len(1)
            .for_each(|(t, out)| {
                for (k, f) in out.iter_mut().enumerate() {
                    *f = energy(t * chunk + k);
                }
            });
        Ok(())
    }

    /// Runs `steps` steps of block Gibbs sampling `v → h → v` in place on
    /// the visible states `v` (`rows x V`), drawing from `streams` (advanced
    /// once per half-step). Bernoulli visibles are sampled, Gaussian ones
    /// get unit-variance noise (σ when learned). Allocates scratch buffers;
    /// see [`gibbs_with`](Self::gibbs_with).
    pub fn gibbs(
        &self,
        v: &mut Matrix,
        steps: usize,
        streams: Streams,
        par: Par,
    ) -> Result<Streams> {
        self.gibbs_with(v, steps, streams, par, &mut RbmScratch::default())
    }

    /// [`gibbs`](Self::gibbs) with the caller's scratch buffers: no
    /// allocation once they have held this many chains.
    pub fn gibbs_with(
        &self,
        v: &mut Matrix,
        steps: usize,
        streams: Streams,
        par: Par,
        scratch: &mut RbmScratch,
    ) -> Result<Streams> {
        self.check_input("Rbm::gibbs", &v.view())?;
        let rows = v.rows();
        self.sigma_into(&mut scratch.sigma);
        self.gibbs_rows(v.as_mut_slice(), rows, steps, streams, par, scratch)
    }

    /// The Gibbs steps of [`gibbs_with`](Self::gibbs_with) on `rows`
    /// row-major visible states in `v`, with `scratch.sigma` already made.
    fn gibbs_rows(
        &self,
        v: &mut [f32],
        rows: usize,
        steps: usize,
        streams: Streams,
        par: Par,
        s: &mut RbmScratch,
    ) -> Result<Streams> {
        let (v_n, h_n) = (self.config.n_visible, self.config.n_hidden);
        grown(&mut s.hidden_p, rows * h_n);
        grown(&mut s.hidden_h, rows * h_n);
        grown(&mut s.visible, rows * v_n);
        let mut streams = streams;
        for _ in 0..steps {
            let (p, h) = (&mut s.hidden_p[..rows * h_n], &mut s.hidden_h[..rows * h_n]);
            let vv = MatRef::row_major(v, rows, v_n)?;
            self.sample_hidden(vv, p, h, streams, par, &mut s.scaled, &s.sigma)?;
            streams = streams.next_step();
            let h = MatRef::row_major(&s.hidden_h[..rows * h_n], rows, h_n)?;
            let mean = MatMut::row_major(&mut s.visible[..rows * v_n], rows, v_n)?;
            self.visible_means_sigma(h, mean, par, &s.sigma)?;
            let mean = &s.visible[..rows * v_n];
            self.sample_visible(streams, mean, v, rows, par, &s.sigma)?;
            streams = streams.next_step();
        }
        Ok(streams)
    }

    /// `p ← p(h|v)` and `h ~ Bernoulli(p)` for the rows of `v` (`p` and `h`
    /// are `rows x H`), drawing from `streams`; `scaled` and `sigma` are as
    /// for [`up`](Self::up).
    #[allow(clippy::too_many_arguments)]
    fn sample_hidden(
        &self,
        v: MatRef<'_>,
        p: &mut [f32],
        h: &mut [f32],
        streams: Streams,
        par: Par,
        scaled: &mut Vec<f32>,
        sigma: &[f32],
    ) -> Result<()> {
        let (rows, h_n) = (v.rows(), self.config.n_hidden);
        let pv = MatMut::row_major(p, rows, h_n)?;
        let bias = BiasAdd::new(self.hidden_bias());
        self.up(v, pv, &bias, par, scaled, sigma)?;
        sigmoid_bernoulli(streams, p, None, h, rows, h_n, par)?;
        Ok(())
    }

    /// `n` samples from the model: `n` chains started from uniform random
    /// binary states (Bernoulli) or standard normal states (Gaussian), run
    /// for `steps` Gibbs steps with the streams of `seed`. Returns the last
    /// visible means (`n x V`), the usual picture of RBM samples. Allocates
    /// the result and scratch buffers; see [`sample_with`](Self::sample_with).
    pub fn sample(&self, n: usize, steps: usize, seed: u64, par: Par) -> Result<Matrix> {
        let mut out = Matrix::zeros(n, self.config.n_visible)?;
        self.sample_with(out.view_mut(), steps, seed, par, &mut RbmScratch::default())?;
        Ok(out)
    }

    /// [`sample`](Self::sample) into the caller's `out`, one sample per row
    /// (`n x V`, any layout), with the caller's scratch buffers (which also
    /// hold the chains): no allocation once they have held `n` chains. The
    /// same numbers as `sample(n, steps, seed, par)`.
    pub fn sample_with(
        &self,
        out: MatMut<'_>,
        steps: usize,
        seed: u64,
        par: Par,
        scratch: &mut RbmScratch,
    ) -> Result<()> {
        let (n, v_n) = (out.rows(), self.config.n_visible);
        check_len(
            "Rbm::sample_with: columns of the output (visible units)",
            out.cols(),
            v_n,
        )?;
        // The chains live in the scratch; taken out for the run (the other
        // buffers are borrowed beside them) and put back whatever happens.
        let mut chains = std::mem::take(&mut scratch.chains);
        let states = grown(&mut chains, n * v_n);
        let result = self.sample_chains(states, out, steps, seed, par, scratch);
        scratch.chains = chains;
        result
    }

    /// The body of [`sample_with`](Self::sample_with) on the chains'
    /// states (`n x V`, row-major).
    fn sample_chains(
        &self,
        states: &mut [f32],
        out: MatMut<'_>,
        steps: usize,
        seed: u64,
        par: Par,
        s: &mut RbmScratch,
    ) -> Result<()> {
        let (n, h_n) = (out.rows(), self.config.n_hidden);
        let streams = Streams::new(seed);
        let means = grown(&mut s.visible, states.len());
        self.fill_random_states(states, means, n, streams, par)?;
        self.sigma_into(&mut s.sigma);
        let steps = steps.saturating_sub(1);
        let streams = self.gibbs_rows(states, n, steps, streams.next_step(), par, s)?;
        // The last step ends in means rather than samples.
        let (p, h) = (
            grown(&mut s.hidden_p, n * h_n),
            grown(&mut s.hidden_h, n * h_n),
        );
        let v = MatRef::row_major(states, n, self.config.n_visible)?;
        self.sample_hidden(v, p, h, streams, par, &mut s.scaled, &s.sigma)?;
        let h = MatRef::row_major(&s.hidden_h[..n * h_n], n, h_n)?;
        self.visible_means_sigma(h, out, par, &s.sigma)
    }

    /// Samples visibles from their means: Bernoulli draws, or Gaussian
    /// noise of unit variance (of σ, from `sigma`, when learned).
    fn sample_visible(
        &self,
        streams: Streams,
        mean: &[f32],
        out: &mut [f32],
        rows: usize,
        par: Par,
        sigma: &[f32],
    ) -> Result<()> {
        let v_n = self.config.n_visible;
        match self.config.visible {
            VisibleUnits::Bernoulli => bernoulli(streams, mean, out, rows, v_n, par)?,
            VisibleUnits::Gaussian if self.config.learn_sigma => {
                gaussian(streams, mean, Scale::PerColumn(sigma), out, rows, v_n, par)?
            }
            VisibleUnits::Gaussian => {
                gaussian(streams, mean, Scale::Scalar(1.0), out, rows, v_n, par)?
            }
        }
        Ok(())
    }

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
    fn cd_step(
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
    fn fill_random_states(
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

    /// The visible units' standard deviations: `exp(ln σ)` when learned,
    /// all 1 for fixed-variance Gaussian visibles, empty for Bernoulli.
    pub fn sigma(&self) -> Vec<f32> {
        let mut sigma = Vec::new();
        self.sigma_into(&mut sigma);
        sigma
    }

    /// Runs `f` on the parameters as the evaluation routines of
    /// [`crate::eval`] take them (exact `log Z`, AIS, pseudo-likelihood,
    /// f64 free energy).
    pub fn with_eval_params<R>(&self, f: impl FnOnce(&crate::eval::RbmParams<'_>) -> R) -> R {
        let (w, b, c) = (
            self.weights().as_slice(),
            self.visible_bias(),
            self.hidden_bias(),
        );
        let sigma = self.sigma();
        let params = match self.config.visible {
            VisibleUnits::Bernoulli => crate::eval::RbmParams::bernoulli(w, b, c),
            VisibleUnits::Gaussian => crate::eval::RbmParams::gaussian(w, b, c, &sigma),
        };
        f(&params)
    }

    /// Exact `ln Z`, summing over the smaller layer (at most 25 units).
    pub fn exact_log_z(&self, par: Par) -> Result<f64> {
        self.with_eval_params(|p| crate::eval::exact_log_z(p, par))
    }

    /// Exact mean log-likelihood `−mean F(v) − ln Z` of the rows of `x`
    /// (at most 25 units on the smaller side).
    pub fn exact_log_likelihood(&self, x: &Matrix, par: Par) -> Result<f64> {
        self.check_input("Rbm::exact_log_likelihood", &x.view())?;
        self.with_eval_params(|p| crate::eval::exact_average_log_likelihood(p, x.as_slice(), par))
    }

    /// Annealed-importance-sampling estimate of `ln Z`, from the base-rate
    /// RBM of the data `x` (MODELS.md 2.4).
    pub fn ais_log_z(
        &self,
        x: &Matrix,
        config: &crate::eval::AisConfig,
        par: Par,
    ) -> Result<crate::eval::AisEstimate> {
        self.check_input("Rbm::ais_log_z", &x.view())?;
        self.with_eval_params(|p| {
            let base = crate::eval::base_rate_visible_bias(p, x.as_slice())?;
            crate::eval::ais_log_z(p, &base, config, par)
        })
    }

    /// Mean stochastic pseudo-log-likelihood of the rows of `x` (one random
    /// bit flipped per row, drawn from `seed`; Bernoulli visibles).
    pub fn pseudo_log_likelihood(&self, x: &Matrix, seed: u64, par: Par) -> Result<f64> {
        self.check_input("Rbm::pseudo_log_likelihood", &x.view())?;
        if x.rows() == 0 {
            return Ok(0.0);
        }
        let mut per_row = vec![0.0f32; x.rows()];
        self.with_eval_params(|p| {
            crate::eval::pseudo_log_likelihood(p, x.as_slice(), seed, &mut per_row, par)
        })?;
        Ok(per_row.iter().map(|&v| v as f64).sum::<f64>() / x.rows() as f64)
    }

    /// The persistent chains (PCD), if any.
    pub fn chains(&self) -> Option<&Matrix> {
        self.chains.as_ref()
    }
}

fn check_len(what: &str, found: usize, expected: usize) -> Result<()> {
    if found != expected {
        return Err(ModelError::Shape {
            what: what.to_string(),
            expected,
            found,
        });
    }
    Ok(())
}

impl Model for Rbm {
    fn kind(&self) -> &str {
        match self.config.visible {
            VisibleUnits::Bernoulli => "rbm",
            VisibleUnits::Gaussian => "gaussian-rbm",
        }
    }

    fn hyperparameters(&self) -> String {
        self.config.describe()
    }

    fn params(&self) -> &ParamSet {
        &self.params
    }

    fn params_mut(&mut self) -> &mut ParamSet {
        &mut self.params
    }

    fn overwrites_gradients(&self) -> bool {
        true
    }

    fn fusable_tensor(&self) -> Option<usize> {
        Some(W)
    }

    fn gradient(
        &mut self,
        batch: &Batch<'_>,
        grads: &mut ParamSet,
        ctx: &mut StepContext<'_>,
    ) -> latent_engine::Result<StepOutput> {
        let seed = ctx.rng.next_u64();
        let loss = self
            .cd_step(batch.x, grads, seed, ctx.par, ctx.fused.as_mut())
            .map_err(into_engine)?;
        Ok(StepOutput {
            loss,
            ..StepOutput::default()
        })
    }

    fn validation_metric(
        &mut self,
        x: &Matrix,
        _labels: Option<&[u32]>,
        par: Par,
    ) -> latent_engine::Result<Option<f64>> {
        self.reconstruction_error(x, 0x5EED, par)
            .map(Some)
            .map_err(into_engine)
    }

    fn persistent_state(&self) -> Vec<Tensor> {
        let mut state = Vec::new();
        if let Some(chains) = &self.chains {
            state.push(Tensor {
                name: "pcd_chains".into(),
                role: Role::Other,
                value: chains.clone(),
            });
        }
        if !self.q_hat.is_empty() {
            let q = Matrix::from_slice(1, self.q_hat.len(), &self.q_hat).expect("q_hat is 1 x H");
            state.push(Tensor {
                name: "sparsity_q_hat".into(),
                role: Role::Other,
                value: q,
            });
        }
        state
    }

    fn load_persistent_state(&mut self, state: &[Tensor]) -> latent_engine::Result<()> {
        for t in state {
            match t.name.as_str() {
                "pcd_chains" if t.value.cols() == self.config.n_visible => {
                    self.chains = Some(t.value.clone())
                }
                "sparsity_q_hat" if t.value.len() == self.config.n_hidden => {
                    self.q_hat = t.value.as_slice().to_vec()
                }
                _ => {
                    return Err(latent_engine::EngineError::Mismatch {
                        what: format!("persistent state of model {}", self.kind()),
                        expected: format!(
                            "pcd_chains (rows x {}) or sparsity_q_hat (1 x {})",
                            self.config.n_visible, self.config.n_hidden
                        ),
                        found: format!("{} ({} x {})", t.name, t.value.rows(), t.value.cols()),
                    });
                }
            }
        }
        Ok(())
    }
}

/// `v ← shift + scale ⊙ v` per column: the visible means `b + σ ⊙ (hWᵀ)` of
/// a Gaussian RBM with learned σ, fused into the GEMM's write-out.
/// Buffers for the inference calls ([`Rbm::transform_with`],
/// [`Rbm::visible_means_with`], [`Rbm::reconstruct_with`],
/// [`Rbm::free_energy_with`], [`Rbm::gibbs_with`], [`Rbm::sample_with`]),
/// kept by the caller: they
/// grow to the largest batch seen and are reused, so calling these batch
/// after batch allocates nothing after the first call. The methods without
/// `_with` make a fresh one per call.
#[derive(Debug, Default)]
pub struct RbmScratch {
    /// σ per visible unit (Gaussian visibles).
    sigma: Vec<f32>,
    /// `x/σ` (learned σ), `rows x V`.
    scaled: Vec<f32>,
    /// Hidden probabilities or activations, `rows x H`.
    hidden_p: Vec<f32>,
    /// Hidden samples, `rows x H`.
    hidden_h: Vec<f32>,
    /// Visible means, `rows x V`.
    visible: Vec<f32>,
    /// The chains' visible states of [`Rbm::sample_with`], `n x V`.
    chains: Vec<f32>,
}

impl RbmScratch {
    /// Empty buffers (they grow on first use).
    pub fn new() -> Self {
        Self::default()
    }
}

/// The first `len` floats of `buf`, growing it (zero-filled) when shorter.
fn grown(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

struct ScaleShift<'a> {
    scale: &'a [f32],
    shift: &'a [f32],
}

impl Epilogue for ScaleShift<'_> {
    fn check(
        &self,
        _rows: usize,
        cols: usize,
    ) -> std::result::Result<(), latent_kernels::KernelError> {
        if self.scale.len() != cols || self.shift.len() != cols {
            return Err(latent_kernels::KernelError::LengthMismatch {
                what: "ScaleShift epilogue: scale and shift (one per column)",
                expected: cols,
                found: self.scale.len().min(self.shift.len()),
            });
        }
        Ok(())
    }

    fn apply_row(&self, _row: usize, col0: usize, values: &mut [f32]) {
        let n = values.len();
        for ((v, &s), &t) in values
            .iter_mut()
            .zip(&self.scale[col0..col0 + n])
            .zip(&self.shift[col0..col0 + n])
        {
            *v = t + s * *v;
        }
    }
}

/// Visible units below which a share of the learned-σ gradient's column sums
/// is not worth its own task.
const SIGMA_GRAD_MIN_COLS: usize = 64;

/// Rows below which a block of the Gibbs chain is not worth its own task.
const CHAIN_MIN_ROWS: usize = 24;

/// What every block of the negative-phase chain shares.
struct ChainCtx<'a> {
    /// The minibatch (V⁰ in the data's units; any layout).
    x: MatRef<'a>,
    w: &'a Matrix,
    /// Visible biases (`b/σ` when σ is learned).
    b: &'a [f32],
    c: &'a [f32],
    sigma: &'a [f32],
    visible: VisibleUnits,
    visible_act: Activation,
    k: usize,
    persistent: bool,
    sample_v: bool,
    learn_sigma: bool,
    v_n: usize,
    h_n: usize,
    /// The step's streams; every block offsets them to its first row.
    streams: Streams,
}

/// Rows `r0 .. r0 + rows` of the step's buffers.
struct ChainBlock<'a> {
    r0: usize,
    rows: usize,
    /// V⁰ (or V⁰/σ), copied in from the minibatch by the block.
    sv_pos: &'a mut [f32],
    sv_neg: &'a mut [f32],
    sp_pos: &'a mut [f32],
    sp_neg: &'a mut [f32],
    h: &'a mut [f32],
    v_mean: &'a mut [f32],
    recon_rows: &'a mut [f32],
    /// PCD: this block's rows of the persistent chains, which it continues
    /// and updates.
    chain: Option<&'a mut [f32]>,
}

/// A stopwatch that reads the clock only when profiling is on.
struct PhaseClock(Option<Instant>);

impl PhaseClock {
    fn new(on: bool) -> Self {
        PhaseClock(on.then(Instant::now))
    }

    /// Time since the last lap (zero when off).
    fn lap(&mut self) -> Duration {
        match &mut self.0 {
            Some(t) => {
                let now = Instant::now();
                let d = now - *t;
                *t = now;
                d
            }
            None => Duration::ZERO,
        }
    }
}

/// The positive phase and the k-step chain for one block of rows: copies
/// its rows of the minibatch into `sv_pos` (as V⁰/σ when σ is learned),
/// then `P⁰ = σ(V⁰W + c)`, `H⁰ ~ P⁰`, `Vᵗ = E[v|Hᵗ⁻¹]` (sampled when
/// asked), `Pᵗ = σ(VᵗW + c)`, sampling `Hᵗ` unless `t = k`; PCD continues
/// the block's rows of the persistent chains (copied into `sv_neg`, and
/// their new states back at the end) instead of starting at the data. Leaves `−Pᵏ` in `sp_neg` (the sign the weight
/// gradient's stacked product wants) and per-row reconstruction errors
/// `Σ_i (v_i − E[v_i|H⁰])²` (in the data's units) in `recon_rows`.
fn run_chain(ctx: &ChainCtx<'_>, blk: ChainBlock<'_>, par: Par) -> Result<()> {
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
