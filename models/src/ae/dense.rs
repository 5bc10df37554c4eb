//! The dense autoencoder (MODELS.md 4.1-4.4): an encoder of any number of
//! layers `h_l = act_l(h_{l-1} W_l + 1 c_lᵀ)` and a mirrored decoder
//! `g_{l-1} = act'_l(g_l W'_lᵀ + 1 b_lᵀ)`, with `W'_l = W_l` (tied) or its own
//! weights (untied). Every `W` is stored lower x upper (`n_{l-1} x n_l`), so
//! the upward pass is `h W` and the downward pass `g Wᵀ`, as in MODELS.md.
//!
//! The decoder layer that rebuilds level `l-1 ≥ 1` uses the activation of
//! encoder layer `l-1` (the one that produced that level); the output layer
//! is linear for [`Loss::SquaredError`] (`L = ½ Σ (x̂ - x)²`) and a sigmoid
//! for [`Loss::CrossEntropy`], whose loss is computed from the logits. For
//! both the gradient at the output pre-activation is `x̂ - x`.
//!
//! Regularisers, each a real term of the objective `J` (a mean over the
//! minibatch of `B` rows unless said otherwise):
//!
//! - [`Sparsity::L1`]: `λ Σ_j |h_j|` on the code;
//! - [`Sparsity::Kl`]: `β Σ_j KL(ρ ‖ ρ̂_j)` on the batch-mean code `ρ̂`
//!   (sigmoid code layer; a batch-level term, not divided by `B`);
//! - [`Noise`]: the encoder sees `x̃ ~ C(x̃|x)` (fresh noise each step) and
//!   the loss compares with the clean `x`;
//! - contractive: `λ Σ_l ‖∂h_l/∂h_{l-1}‖_F²`, layer by layer for a deep
//!   encoder, in closed form (`latent_kernels::penalty`); for `l ≥ 2` the
//!   penalty's gradient also flows into the layers below.
//!
//! A step is: the input copied (and corrupted) once; one fused
//! GEMM+bias+activation per layer up and down; the loss and its gradient in
//! one pass; per layer down again one GEMM for the weight gradient (tied:
//! added to the encoder's), one column sum for the bias and one GEMM plus a
//! fused activation derivative for the delta below.

use latent_engine::train::{Model, StepContext, StepOutput};
use latent_engine::{Batch, Matrix, Metrics, ParamSet, Role};
use latent_kernels::Par;
use latent_kernels::activation::{Activation, BiasActivation, activation_grad};
use latent_kernels::gemm::{Accum, MatMut, MatRef, gemm};
use latent_kernels::penalty::{
    ContractiveShape, Encoder, contractive_penalty, contractive_workspace_len, kl_sparsity,
    l1_penalty,
};
use latent_kernels::random::{Streams, gaussian_noise, mask_noise, salt_pepper};
use latent_kernels::reduce::{bce_logits, sq_err};

use super::util::{
    Stored, bad, check_len, copy_rows, dense_backward, dense_forward, init_weights, into_engine,
    two_mut,
};
use crate::error::Result;

/// The reconstruction loss (MODELS.md 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Loss {
    /// Linear output, `L = ½ Σ_k (x̂_k - x_k)²`.
    #[default]
    SquaredError,
    /// Sigmoid output, `L = -Σ_k x_k ln x̂_k + (1-x_k) ln(1-x̂_k)`, computed
    /// from the logits; targets in `[0, 1]`.
    CrossEntropy,
}

impl Loss {
    /// `"squared-error"` or `"cross-entropy"`.
    pub fn name(self) -> &'static str {
        match self {
            Loss::SquaredError => "squared-error",
            Loss::CrossEntropy => "cross-entropy",
        }
    }

    /// The activation of the output layer: identity or sigmoid.
    pub fn output_activation(self) -> Activation {
        match self {
            Loss::SquaredError => Activation::Identity,
            Loss::CrossEntropy => Activation::Sigmoid,
        }
    }
}

/// A sparsity penalty on the code layer (MODELS.md 4.2).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Sparsity {
    /// No penalty.
    #[default]
    None,
    /// `λ Σ_j |h_j|` per sample (the Laplace prior).
    L1 {
        /// The weight `λ ≥ 0`.
        lambda: f32,
    },
    /// `β Σ_j KL(ρ ‖ ρ̂_j)` on the batch-mean activations `ρ̂` of a sigmoid
    /// code layer.
    Kl {
        /// The target activation `ρ ∈ (0, 1)`.
        rho: f32,
        /// The weight `β ≥ 0`.
        beta: f32,
    },
}

/// The corruption of a denoising autoencoder (MODELS.md 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Noise {
    /// No corruption: a plain autoencoder.
    #[default]
    None,
    /// Each input set to 0 with probability `nu`.
    Mask {
        /// The masking probability `ν ∈ [0, 1]`.
        nu: f32,
    },
    /// Additive Gaussian noise `x + N(0, std²)`.
    Gaussian {
        /// The noise standard deviation `s ≥ 0`.
        std: f32,
    },
    /// With probability `nu` an input is replaced by `lo` or `hi` (equally
    /// likely).
    SaltPepper {
        /// The corruption probability `ν ∈ [0, 1]`.
        nu: f32,
        /// The "pepper" value (usually 0).
        lo: f32,
        /// The "salt" value (usually 1).
        hi: f32,
    },
}

/// The architecture and objective of an [`Autoencoder`].
#[derive(Debug, Clone, PartialEq)]
pub struct AeConfig {
    /// Layer sizes `[V, H_1, …, H_L]` of the encoder (`L ≥ 1`); the decoder
    /// mirrors them.
    pub sizes: Vec<usize>,
    /// The activation of each encoder layer (`L` of them); the last is the
    /// code layer's. The decoder layer rebuilding level `l ≥ 1` reuses
    /// `activations[l-1]`.
    pub activations: Vec<Activation>,
    /// Tied weights: the decoder uses `W_lᵀ` (gradient = sum of both uses).
    pub tied: bool,
    /// The reconstruction loss; it fixes the output activation.
    pub loss: Loss,
    /// Sparsity penalty on the code.
    pub sparsity: Sparsity,
    /// Input corruption (denoising).
    pub noise: Noise,
    /// Contractive penalty weight `λ` (`None`: no penalty). Every encoder
    /// layer must be sigmoid or ReLU.
    pub contractive: Option<f32>,
    /// Standard deviation of the initial weights; `None` for Glorot
    /// (`sqrt(2/(fan_in+fan_out))`).
    pub init_std: Option<f32>,
}

impl AeConfig {
    /// A plain untied autoencoder with `activation` on every encoder layer
    /// and squared-error loss.
    pub fn new(sizes: &[usize], activation: Activation) -> Self {
        AeConfig {
            sizes: sizes.to_vec(),
            activations: vec![activation; sizes.len().saturating_sub(1)],
            tied: false,
            loss: Loss::SquaredError,
            sparsity: Sparsity::None,
            noise: Noise::None,
            contractive: None,
            init_std: None,
        }
    }

    /// The same with per-layer activations (one per encoder layer).
    pub fn with_activations(mut self, activations: &[Activation]) -> Self {
        self.activations = activations.to_vec();
        self
    }

    /// The same with tied (or untied) weights.
    pub fn with_tied(mut self, tied: bool) -> Self {
        self.tied = tied;
        self
    }

    /// The same with another loss.
    pub fn with_loss(mut self, loss: Loss) -> Self {
        self.loss = loss;
        self
    }

    /// The same with a sparsity penalty (a sparse autoencoder).
    pub fn with_sparsity(mut self, sparsity: Sparsity) -> Self {
        self.sparsity = sparsity;
        self
    }

    /// The same with input corruption (a denoising autoencoder).
    pub fn with_noise(mut self, noise: Noise) -> Self {
        self.noise = noise;
        self
    }

    /// The same with a contractive penalty of weight `lambda`.
    pub fn with_contractive(mut self, lambda: f32) -> Self {
        self.contractive = Some(lambda);
        self
    }

    /// The same with `N(0, std²)` initial weights.
    pub fn with_init_std(mut self, std: f32) -> Self {
        self.init_std = Some(std);
        self
    }

    /// The number of encoder layers `L`.
    pub fn depth(&self) -> usize {
        self.sizes.len().saturating_sub(1)
    }

    /// The activation of the decoder layer that rebuilds level `level`
    /// (`0` is the output).
    pub fn decoder_activation(&self, level: usize) -> Activation {
        if level == 0 {
            self.loss.output_activation()
        } else {
            self.activations[level - 1]
        }
    }

    /// Checks every field; errors name the offending one.
    pub fn validate(&self) -> Result<()> {
        if self.sizes.len() < 2 {
            return bad(
                "sizes",
                format!("{:?}", self.sizes),
                "at least [V, H]: an input and one code layer",
            );
        }
        if self.sizes.contains(&0) {
            return bad("sizes", format!("{:?}", self.sizes), "every size >= 1");
        }
        check_len(
            "AeConfig: activations (one per encoder layer)",
            self.activations.len(),
            self.depth(),
        )?;
        match self.sparsity {
            Sparsity::None => {}
            Sparsity::L1 { lambda } => {
                if !(lambda.is_finite() && lambda >= 0.0) {
                    return bad("sparsity L1 lambda", lambda.to_string(), "finite, >= 0");
                }
            }
            Sparsity::Kl { rho, beta } => {
                if !(rho > 0.0 && rho < 1.0) {
                    return bad("sparsity KL rho", rho.to_string(), "a value in (0, 1)");
                }
                if !(beta.is_finite() && beta >= 0.0) {
                    return bad("sparsity KL beta", beta.to_string(), "finite, >= 0");
                }
                if self.activations.last() != Some(&Activation::Sigmoid) {
                    return bad(
                        "sparsity KL: code activation",
                        format!("{:?}", self.activations.last()),
                        "a sigmoid code layer (rho-hat must be a mean activation in (0, 1))",
                    );
                }
            }
        }
        match self.noise {
            Noise::None => {}
            Noise::Mask { nu } | Noise::SaltPepper { nu, .. } if !(0.0..=1.0).contains(&nu) => {
                return bad("noise nu", nu.to_string(), "a probability in [0, 1]");
            }
            Noise::Gaussian { std } if !(std.is_finite() && std >= 0.0) => {
                return bad("noise std", std.to_string(), "finite, >= 0");
            }
            Noise::SaltPepper { lo, hi, .. } if !(lo.is_finite() && hi.is_finite()) => {
                return bad("noise salt/pepper", format!("{lo}/{hi}"), "finite values");
            }
            _ => {}
        }
        if let Some(l) = self.contractive {
            if !(l.is_finite() && l >= 0.0) {
                return bad("contractive lambda", l.to_string(), "finite, >= 0");
            }
            if let Some(a) = self
                .activations
                .iter()
                .find(|a| !matches!(a, Activation::Sigmoid | Activation::Relu))
            {
                return bad(
                    "contractive: encoder activation",
                    a.name().to_string(),
                    "sigmoid or relu on every encoder layer (closed-form Jacobian)",
                );
            }
        }
        if let Some(s) = self.init_std
            && !(s.is_finite() && s >= 0.0)
        {
            return bad("init_std", s.to_string(), "finite, >= 0");
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let acts: Vec<&str> = self.activations.iter().map(|a| a.name()).collect();
        format!(
            "sizes={:?} activations={:?} tied={} loss={} sparsity={:?} noise={:?} contractive={:?} init_std={:?}",
            self.sizes,
            acts,
            self.tied,
            self.loss.name(),
            self.sparsity,
            self.noise,
            self.contractive,
            self.init_std
        )
    }
}

/// What one [`Autoencoder::loss_and_gradient`] call measured (means over
/// the minibatch).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AeStep {
    /// The whole objective `J` (reconstruction + penalties).
    pub objective: f64,
    /// The reconstruction loss alone.
    pub reconstruction: f64,
    /// The sparsity penalty (0 without one).
    pub sparsity: f64,
    /// The contractive penalty `λ Σ_l ‖J_l‖²` (0 without one).
    pub contractive: f64,
}

/// Buffers of one step, sized for the largest batch seen.
#[derive(Debug, Default)]
struct Workspace {
    rows: usize,
    /// The clean input, `B x V`.
    clean: Vec<f32>,
    /// Encoder levels `h[0]` (the possibly corrupted input) … `h[L]`.
    h: Vec<Vec<f32>>,
    /// Decoder outputs per level `0..L` (`g[0]` = output pre-activation).
    g: Vec<Vec<f32>>,
    /// Deltas at the decoder levels `0..L`.
    dg: Vec<Vec<f32>>,
    /// Deltas at the encoder levels `1..=L` (`dh[0]` unused).
    dh: Vec<Vec<f32>>,
    /// Per-row losses, `B`.
    row_loss: Vec<f32>,
    /// Batch-mean code activations (KL sparsity), `H_L`.
    rho_hat: Vec<f32>,
    /// Workspace of the first layer's contractive kernel.
    cwork: Vec<f32>,
    /// `n_j = Σ_k W_kj²` and `t_j = Σ_i s_ij²` of a deeper contractive layer.
    nvec: Vec<f32>,
    tvec: Vec<f32>,
}

impl Workspace {
    fn ensure(&mut self, rows: usize, cfg: &AeConfig) {
        if rows <= self.rows && !self.h.is_empty() {
            return;
        }
        let rows = rows.max(self.rows);
        self.rows = rows;
        let s = &cfg.sizes;
        let l = cfg.depth();
        self.clean = vec![0.0; rows * s[0]];
        self.h = s.iter().map(|&n| vec![0.0; rows * n]).collect();
        self.g = s[..l].iter().map(|&n| vec![0.0; rows * n]).collect();
        self.dg = s[..l].iter().map(|&n| vec![0.0; rows * n]).collect();
        self.dh = s.iter().map(|&n| vec![0.0; rows * n]).collect();
        self.row_loss = vec![0.0; rows];
        self.rho_hat = vec![0.0; s[l]];
        if cfg.contractive.is_some() {
            self.cwork = vec![0.0; contractive_workspace_len(rows, s[1])];
            let widest = s.iter().copied().max().unwrap_or(0);
            self.nvec = vec![0.0; widest];
            self.tvec = vec![0.0; widest];
        }
    }
}

/// A dense autoencoder (plain, sparse, denoising or contractive, by its
/// [`AeConfig`]) with its training state.
///
/// Parameters, in order: `W1, c1, …, WL, cL` (encoder, `W_l` is
/// `n_{l-1} x n_l`), then for `l = L … 1` the decoder's `Wd_l` (untied only,
/// same shape as `W_l`) and `b_l` (`1 x n_{l-1}`).
#[derive(Debug)]
pub struct Autoencoder {
    config: AeConfig,
    params: ParamSet,
    enc_w: Vec<usize>,
    enc_c: Vec<usize>,
    dec_w: Vec<usize>,
    dec_b: Vec<usize>,
    ws: Workspace,
}

impl Autoencoder {
    /// A new autoencoder with seeded random weights (see
    /// [`AeConfig::init_std`]) and zero biases.
    pub fn new(config: AeConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let mut rng = latent_engine::Rng::stream(seed, 0x4145_0000); // "AE"
        let s = config.sizes.clone();
        let l = config.depth();
        let mut params = ParamSet::new();
        let (mut enc_w, mut enc_c, mut dec_w, mut dec_b) = (vec![], vec![], vec![0; l], vec![0; l]);
        for i in 0..l {
            let w = init_weights(&mut rng, s[i], s[i + 1], config.init_std)?;
            enc_w.push(params.push(format!("W{}", i + 1), Role::Weight, w)?);
            enc_c.push(params.push(
                format!("c{}", i + 1),
                Role::Bias,
                Matrix::zeros(1, s[i + 1])?,
            )?);
        }
        for i in (0..l).rev() {
            dec_w[i] = if config.tied {
                enc_w[i]
            } else {
                let w = init_weights(&mut rng, s[i], s[i + 1], config.init_std)?;
                params.push(format!("Wd{}", i + 1), Role::Weight, w)?
            };
            dec_b[i] = params.push(format!("b{}", i + 1), Role::Bias, Matrix::zeros(1, s[i])?)?;
        }
        Ok(Autoencoder {
            config,
            params,
            enc_w,
            enc_c,
            dec_w,
            dec_b,
            ws: Workspace::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AeConfig {
        &self.config
    }

    /// The input width `V`.
    pub fn n_visible(&self) -> usize {
        self.config.sizes[0]
    }

    /// The code width `H_L`.
    pub fn code_size(&self) -> usize {
        self.config.sizes[self.config.depth()]
    }

    /// Encoder layer `l`'s weights (`0`-based, `n_l x n_{l+1}`).
    pub fn encoder_weights(&self, l: usize) -> Option<&Matrix> {
        self.enc_w.get(l).map(|&i| self.params.value(i))
    }

    /// Encoder layer `l`'s bias (`n_{l+1}`).
    pub fn encoder_bias(&self, l: usize) -> Option<&[f32]> {
        self.enc_c.get(l).map(|&i| self.params.value(i).as_slice())
    }

    /// Decoder layer `l`'s weights (the encoder's when tied), `n_l x n_{l+1}`.
    pub fn decoder_weights(&self, l: usize) -> Option<&Matrix> {
        self.dec_w.get(l).map(|&i| self.params.value(i))
    }

    /// Decoder layer `l`'s bias (`n_l`).
    pub fn decoder_bias(&self, l: usize) -> Option<&[f32]> {
        self.dec_b.get(l).map(|&i| self.params.value(i).as_slice())
    }

    /// Overwrites layer `l`'s parameters (`0`-based): encoder weights and
    /// bias, and the decoder's bias and (untied only) weights, e.g. from a
    /// pretrained layer. `wd` must be `None` for a tied model.
    pub fn set_layer(
        &mut self,
        l: usize,
        w: &[f32],
        c: &[f32],
        wd: Option<&[f32]>,
        b: &[f32],
    ) -> Result<()> {
        let depth = self.config.depth();
        if l >= depth {
            return bad(
                "set_layer: layer",
                l.to_string(),
                "an encoder layer index < depth",
            );
        }
        let (lo, hi) = (self.config.sizes[l], self.config.sizes[l + 1]);
        check_len("set_layer: w (lower x upper)", w.len(), lo * hi)?;
        check_len("set_layer: c (upper)", c.len(), hi)?;
        check_len("set_layer: b (lower)", b.len(), lo)?;
        match (self.config.tied, wd) {
            (true, Some(_)) => {
                return bad("set_layer: wd", "Some".into(), "None for tied weights");
            }
            (false, Some(wd)) => {
                check_len("set_layer: wd (lower x upper)", wd.len(), lo * hi)?;
                self.params
                    .value_mut(self.dec_w[l])
                    .as_mut_slice()
                    .copy_from_slice(wd);
            }
            (false, None) => {
                self.params
                    .value_mut(self.dec_w[l])
                    .as_mut_slice()
                    .copy_from_slice(w);
            }
            (true, None) => {}
        }
        self.params
            .value_mut(self.enc_w[l])
            .as_mut_slice()
            .copy_from_slice(w);
        self.params
            .value_mut(self.enc_c[l])
            .as_mut_slice()
            .copy_from_slice(c);
        self.params
            .value_mut(self.dec_b[l])
            .as_mut_slice()
            .copy_from_slice(b);
        Ok(())
    }

    /// Sets the output bias from the data's column means `p_k`: `ln(p/(1-p))`
    /// (clipped to `[1e-3, 1-1e-3]`) for cross-entropy, `p` for squared
    /// error, so that the initial reconstruction is the mean input. Without
    /// it an untied sigmoid autoencoder tends to spend its code units on
    /// the mean (saturating them) early in training.
    pub fn init_output_bias_from_data(&mut self, x: &Matrix, par: Par) -> Result<()> {
        check_len(
            "init_output_bias_from_data: columns of x",
            x.cols(),
            self.n_visible(),
        )?;
        if x.rows() == 0 {
            return bad(
                "init_output_bias_from_data: rows of x",
                "0".into(),
                "at least 1",
            );
        }
        let b = self.params.value_mut(self.dec_b[0]).as_mut_slice();
        latent_kernels::reduce::col_means(x.as_slice(), x.rows(), x.cols(), b, par)?;
        if self.config.loss == Loss::CrossEntropy {
            for v in b.iter_mut() {
                let p = v.clamp(1e-3, 1.0 - 1e-3);
                *v = (p / (1.0 - p)).ln();
            }
        }
        Ok(())
    }

    fn check_input(&self, what: &str, x: &MatRef<'_>) -> Result<()> {
        if x.cols() == self.n_visible() {
            return Ok(());
        }
        // Formatted only on error: a training step must not allocate.
        check_len(
            &format!("{what}: columns of the data (inputs)"),
            x.cols(),
            self.n_visible(),
        )
    }

    /// Applies this model's corruption to the rows of `x` (`B x V`
    /// row-major) into `out`, with the random streams of `seed`: exactly the
    /// `x̃` that [`loss_and_gradient`](Self::loss_and_gradient) with the same
    /// `seed` feeds the encoder. Copies `x` when there is no noise.
    pub fn corrupt(
        &self,
        x: &[f32],
        out: &mut [f32],
        rows: usize,
        seed: u64,
        par: Par,
    ) -> Result<()> {
        let v = self.n_visible();
        check_len("corrupt: x (rows x V)", x.len(), rows * v)?;
        check_len("corrupt: out (rows x V)", out.len(), rows * v)?;
        apply_noise(self.config.noise, Streams::new(seed), x, out, rows, v, par)
    }

    /// Runs the encoder on `ws.h[0]` (already filled) for `rows` rows.
    fn forward_encoder(&mut self, rows: usize, par: Par) -> Result<()> {
        self.forward_encoder_layers(rows, self.config.depth(), par)
    }

    /// Runs encoder layers `0..layers` on `ws.h[0]`.
    fn forward_encoder_layers(&mut self, rows: usize, layers: usize, par: Par) -> Result<()> {
        for i in 0..layers {
            let (lo, hi) = self.ws.h.split_at_mut(i + 1);
            dense_forward(
                &lo[i],
                rows,
                self.params.value(self.enc_w[i]).view(),
                self.params.value(self.enc_c[i]).as_slice(),
                self.config.activations[i],
                &mut hi[0],
                par,
            )?;
        }
        Ok(())
    }

    /// Runs the decoder from `ws.h[L]`; `g[0]` ends as the output
    /// pre-activation (CE) or the reconstruction (squared error).
    fn forward_decoder(&mut self, rows: usize, par: Par) -> Result<()> {
        let s = &self.config.sizes;
        let l = self.config.depth();
        for i in (0..l).rev() {
            let act = if i == 0 {
                Activation::Identity
            } else {
                self.config.activations[i - 1]
            };
            let (glo, ghi) = self.ws.g.split_at_mut(i + 1);
            let input = if i + 1 == l {
                &self.ws.h[l][..rows * s[l]]
            } else {
                &ghi[0][..rows * s[i + 1]]
            };
            dense_forward(
                input,
                rows,
                self.params.value(self.dec_w[i]).view().t(),
                self.params.value(self.dec_b[i]).as_slice(),
                act,
                &mut glo[i],
                par,
            )?;
        }
        Ok(())
    }

    /// The objective on the minibatch `x` (`B x V`) and its gradient into
    /// `grads` (same layout as the parameters, overwritten), with the noise
    /// of `seed` (see [`corrupt`](Self::corrupt)). Allocates only when the
    /// batch is larger than any seen before.
    pub fn loss_and_gradient(
        &mut self,
        x: MatRef<'_>,
        grads: &mut ParamSet,
        seed: u64,
        par: Par,
    ) -> Result<AeStep> {
        self.check_input("Autoencoder::loss_and_gradient", &x)?;
        self.params
            .check_same_layout(grads, "Autoencoder::loss_and_gradient: gradient layout")?;
        let rows = x.rows();
        if rows == 0 {
            grads.fill_zero();
            return Ok(AeStep::default());
        }
        self.ws.ensure(rows, &self.config);
        let l = self.config.depth();
        let v = self.config.sizes[0];
        let inv_b = 1.0 / rows as f32;

        copy_rows(&x, &mut self.ws.clean);
        {
            let ws = &mut self.ws;
            apply_noise(
                self.config.noise,
                Streams::new(seed),
                &ws.clean[..rows * v],
                &mut ws.h[0][..rows * v],
                rows,
                v,
                par,
            )?;
        }
        self.forward_encoder(rows, par)?;
        self.forward_decoder(rows, par)?;

        // Loss and its gradient at the output pre-activation, scaled by 1/B.
        let s = &self.config.sizes;
        let ws = &mut self.ws;
        let recon_sum = match self.config.loss {
            Loss::SquaredError => {
                0.5 * sq_err(
                    &ws.g[0][..rows * v],
                    &ws.clean[..rows * v],
                    rows,
                    v,
                    None,
                    Some(&mut ws.dg[0][..rows * v]),
                    inv_b,
                )? as f64
            }
            Loss::CrossEntropy => bce_logits(
                &ws.g[0][..rows * v],
                &ws.clean[..rows * v],
                rows,
                v,
                None,
                Some(&mut ws.dg[0][..rows * v]),
                inv_b,
            )? as f64,
        };
        let mut step = AeStep {
            reconstruction: recon_sum / rows as f64,
            ..AeStep::default()
        };

        // Decoder, from the output up to the code.
        for i in 0..l {
            let (n_lo, n_hi) = (s[i], s[i + 1]);
            let input: &[f32] = if i + 1 == l {
                &ws.h[l][..rows * n_hi]
            } else {
                &ws.g[i + 1][..rows * n_hi]
            };
            // ∂J/∂W'_i = dgᵀ · input (n_lo x n_hi), and the delta at the
            // input of decoder layer i: dg · W'_i.
            let (dglo, dghi) = ws.dg.split_at_mut(i + 1);
            let target: &mut [f32] = if i + 1 == l {
                &mut ws.dh[l][..rows * n_hi]
            } else {
                &mut dghi[0][..rows * n_hi]
            };
            dense_backward(
                input,
                &dglo[i][..rows * n_lo],
                (rows, n_hi, n_lo),
                self.params.value(self.dec_w[i]),
                Stored::OutByIn,
                Accum::Replace,
                two_mut(grads, self.dec_w[i], self.dec_b[i]),
                Some(&mut *target),
                par,
            )?;
            if i + 1 < l {
                activation_grad(
                    self.config.activations[i],
                    &ws.g[i + 1][..rows * n_hi],
                    target,
                    par,
                )?;
            }
        }

        // Sparsity on the code h_L (its gradient joins the code's delta).
        let hl = s[l];
        match self.config.sparsity {
            Sparsity::None => {}
            Sparsity::L1 { lambda } => {
                let pen = l1_penalty(
                    lambda,
                    &ws.h[l][..rows * hl],
                    Some(&mut ws.dh[l][..rows * hl]),
                    inv_b,
                )?;
                step.sparsity = pen as f64 / rows as f64;
            }
            Sparsity::Kl { rho, beta } => {
                let pen = kl_sparsity(
                    rho,
                    beta,
                    &ws.h[l][..rows * hl],
                    rows,
                    hl,
                    &mut ws.rho_hat,
                    Some(&mut ws.dh[l][..rows * hl]),
                    1.0,
                    par,
                )?;
                step.sparsity = pen as f64;
            }
        }

        // Encoder, from the code down.
        for i in (0..l).rev() {
            let (n_lo, n_hi) = (s[i], s[i + 1]);
            let act = self.config.activations[i];
            let (dlo, dhi) = ws.dh.split_at_mut(i + 1);
            let d = &mut dhi[0][..rows * n_hi];
            let hout = &ws.h[i + 1][..rows * n_hi];
            let hin = &ws.h[i][..rows * n_lo];
            activation_grad(act, hout, d, par)?;
            let lambda = self.config.contractive;
            // Deeper contractive layers: add ∂Ω/∂a = 2λ/B·G to the delta so
            // that it reaches W, c and the layers below; the direct term on W
            // is added after the weight-gradient GEMM.
            if let (Some(lam), true) = (lambda, i > 0) {
                let w = self.params.value(self.enc_w[i]).as_slice();
                let omega = deep_contractive(
                    act,
                    w,
                    hout,
                    rows,
                    n_lo,
                    n_hi,
                    d,
                    2.0 * lam * inv_b,
                    &mut ws.nvec[..n_hi],
                    &mut ws.tvec[..n_hi],
                );
                step.contractive += lam as f64 * omega / rows as f64;
            }
            let accum = if self.config.tied {
                Accum::ADD
            } else {
                Accum::Replace
            };
            dense_backward(
                hin,
                d,
                (rows, n_lo, n_hi),
                self.params.value(self.enc_w[i]),
                Stored::InByOut,
                accum,
                two_mut(grads, self.enc_w[i], self.enc_c[i]),
                if i > 0 {
                    Some(&mut dlo[i][..rows * n_lo])
                } else {
                    None
                },
                par,
            )?;
            if let Some(lam) = lambda {
                let w = self.params.value(self.enc_w[i]).as_slice();
                let (gw, gc) = two_mut(grads, self.enc_w[i], self.enc_c[i]);
                if i == 0 {
                    let enc = if act == Activation::Sigmoid {
                        Encoder::Sigmoid
                    } else {
                        Encoder::Relu
                    };
                    let omega = contractive_penalty(
                        enc,
                        ContractiveShape {
                            batch: rows,
                            visible: n_lo,
                            hidden: n_hi,
                        },
                        hin,
                        w,
                        hout,
                        Some(gw),
                        Some(gc),
                        lam * inv_b,
                        &mut ws.cwork,
                        par,
                    )?;
                    step.contractive += lam as f64 * omega as f64 / rows as f64;
                } else {
                    // Direct term ∂Ω/∂W_kj ⊃ 2 W_kj t_j.
                    let t = &ws.tvec[..n_hi];
                    let a = 2.0 * lam * inv_b;
                    for (grow_, wrow) in gw.chunks_exact_mut(n_hi).zip(w.chunks_exact(n_hi)) {
                        for ((g, &wk), &tj) in grow_.iter_mut().zip(wrow).zip(t) {
                            *g += a * wk * tj;
                        }
                    }
                }
            }
        }
        step.objective = step.reconstruction + step.sparsity + step.contractive;
        Ok(step)
    }

    /// The codes `h_L` of the rows of `x` into the caller's `out`
    /// (`rows x H_L`). Uses the model's buffers for the inner layers (no
    /// allocation after the first call at this batch size).
    pub fn encode(&mut self, x: MatRef<'_>, mut out: MatMut<'_>, par: Par) -> Result<()> {
        self.check_input("Autoencoder::encode", &x)?;
        check_len("Autoencoder::encode: rows of out", out.rows(), x.rows())?;
        check_len(
            "Autoencoder::encode: columns of out",
            out.cols(),
            self.code_size(),
        )?;
        let rows = x.rows();
        if rows == 0 {
            return Ok(());
        }
        let l = self.config.depth();
        let top = l - 1;
        let (w, c, act) = (
            self.enc_w[top],
            self.enc_c[top],
            self.config.activations[top],
        );
        if l == 1 {
            gemm(
                1.0,
                x,
                self.params.value(w).view(),
                Accum::Replace,
                out.reborrow(),
                &BiasActivation::new(self.params.value(c).as_slice(), act),
                par,
            )?;
            return Ok(());
        }
        self.ws.ensure(rows, &self.config);
        copy_rows(&x, &mut self.ws.h[0]);
        self.forward_encoder_layers(rows, top, par)?;
        let n = self.config.sizes[top];
        gemm(
            1.0,
            MatRef::row_major(&self.ws.h[top][..rows * n], rows, n)?,
            self.params.value(w).view(),
            Accum::Replace,
            out,
            &BiasActivation::new(self.params.value(c).as_slice(), act),
            par,
        )?;
        Ok(())
    }

    /// Reconstructions `x̂ = g(f(x))` (no noise) of the rows of `x` into
    /// `out` (`rows x V`), with the output activation applied (sigmoid
    /// probabilities for cross-entropy).
    pub fn reconstruct(&mut self, x: MatRef<'_>, out: &mut [f32], par: Par) -> Result<()> {
        self.check_input("Autoencoder::reconstruct", &x)?;
        let (rows, v) = (x.rows(), self.n_visible());
        check_len(
            "Autoencoder::reconstruct: out (rows x V)",
            out.len(),
            rows * v,
        )?;
        if rows == 0 {
            return Ok(());
        }
        self.ws.ensure(rows, &self.config);
        copy_rows(&x, &mut self.ws.h[0]);
        self.forward_encoder(rows, par)?;
        self.forward_decoder(rows, par)?;
        out.copy_from_slice(&self.ws.g[0][..rows * v]);
        if self.config.loss == Loss::CrossEntropy {
            latent_kernels::activation::activate(Activation::Sigmoid, out, par);
        }
        Ok(())
    }

    /// The reconstruction loss of each row of `x` (no noise, no penalty)
    /// into `out` (`rows`): the anomaly score of MODELS.md 5. Returns the
    /// mean.
    pub fn reconstruction_errors(
        &mut self,
        x: MatRef<'_>,
        out: &mut [f32],
        par: Par,
    ) -> Result<f64> {
        self.check_input("Autoencoder::reconstruction_errors", &x)?;
        let (rows, v) = (x.rows(), self.n_visible());
        check_len(
            "Autoencoder::reconstruction_errors: out (rows)",
            out.len(),
            rows,
        )?;
        if rows == 0 {
            return Ok(0.0);
        }
        self.ws.ensure(rows, &self.config);
        copy_rows(&x, &mut self.ws.h[0]);
        copy_rows(&x, &mut self.ws.clean);
        self.forward_encoder(rows, par)?;
        self.forward_decoder(rows, par)?;
        let ws = &self.ws;
        let total = match self.config.loss {
            Loss::SquaredError => {
                let t = sq_err(
                    &ws.g[0][..rows * v],
                    &ws.clean[..rows * v],
                    rows,
                    v,
                    Some(out),
                    None,
                    0.0,
                )?;
                out.iter_mut().for_each(|e| *e *= 0.5);
                0.5 * t as f64
            }
            Loss::CrossEntropy => bce_logits(
                &ws.g[0][..rows * v],
                &ws.clean[..rows * v],
                rows,
                v,
                Some(out),
                None,
                0.0,
            )? as f64,
        };
        Ok(total / rows as f64)
    }

    /// The mean reconstruction loss over the rows of `x`, in batches of at
    /// most `batch` rows (no noise, no penalty).
    pub fn mean_reconstruction_error(&mut self, x: &Matrix, batch: usize, par: Par) -> Result<f64> {
        if batch == 0 {
            return bad("mean_reconstruction_error: batch", "0".into(), "at least 1");
        }
        let mut errs = vec![0.0f32; batch];
        let mut total = 0.0;
        let mut start = 0;
        while start < x.rows() {
            let n = batch.min(x.rows() - start);
            let m = self.reconstruction_errors(x.rows_view(start, n)?, &mut errs[..n], par)?;
            total += m * n as f64;
            start += n;
        }
        Ok(if x.rows() == 0 {
            0.0
        } else {
            total / x.rows() as f64
        })
    }
}

/// `out = C(x)` for the configured noise, from `streams`.
fn apply_noise(
    noise: Noise,
    streams: Streams,
    x: &[f32],
    out: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<()> {
    match noise {
        Noise::None => out.copy_from_slice(x),
        Noise::Mask { nu } => mask_noise(streams, x, out, nu, rows, cols, par)?,
        Noise::Gaussian { std } => gaussian_noise(streams, x, out, std, rows, cols, par)?,
        Noise::SaltPepper { nu, lo, hi } => {
            salt_pepper(streams, x, out, nu, lo, hi, rows, cols, par)?
        }
    }
    Ok(())
}

/// The contractive penalty of an encoder layer above the first:
/// `Ω = Σ_i Σ_j s_ij² n_j` (sigmoid, `s = h(1-h)`) or `Σ_ij s_ij n_j` (ReLU,
/// `s = [h > 0]`), `n_j = Σ_k W_kj²`. Adds `scale·G` to the pre-activation
/// delta `d` (`G_ij = n_j s_ij² (1-2h_ij)`, zero for ReLU), writes
/// `t_j = Σ_i s_ij²` (for the direct term `2 W_kj t_j`) and returns `Ω`.
#[allow(clippy::too_many_arguments)]
fn deep_contractive(
    act: Activation,
    w: &[f32],
    h: &[f32],
    rows: usize,
    n_lo: usize,
    n_hi: usize,
    d: &mut [f32],
    scale: f32,
    n: &mut [f32],
    t: &mut [f32],
) -> f64 {
    n.fill(0.0);
    for wrow in w.chunks_exact(n_hi).take(n_lo) {
        for (nj, &wk) in n.iter_mut().zip(wrow) {
            *nj += wk * wk;
        }
    }
    t.fill(0.0);
    let mut omega = 0.0f64;
    let sigmoid = act == Activation::Sigmoid;
    for (hrow, drow) in h
        .chunks_exact(n_hi)
        .zip(d.chunks_exact_mut(n_hi))
        .take(rows)
    {
        let mut row = 0.0f64;
        for j in 0..n_hi {
            let hj = hrow[j];
            let (s2, g) = if sigmoid {
                let s = hj * (1.0 - hj);
                (s * s, n[j] * s * s * (1.0 - 2.0 * hj))
            } else {
                (if hj > 0.0 { 1.0 } else { 0.0 }, 0.0)
            };
            t[j] += s2;
            row += (s2 * n[j]) as f64;
            drow[j] += scale * g;
        }
        omega += row;
    }
    omega
}

impl Model for Autoencoder {
    fn kind(&self) -> &str {
        if self.config.contractive.is_some() {
            "contractive-autoencoder"
        } else if self.config.noise != Noise::None {
            "denoising-autoencoder"
        } else if self.config.sparsity != Sparsity::None {
            "sparse-autoencoder"
        } else {
            "autoencoder"
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

    /// Every gradient tensor is written each step: the weight products
    /// replace (the tied encoder adds to what the decoder's product
    /// replaced), the bias column sums replace, and the penalties add to
    /// those; so the trainer need not zero them (a pass over every
    /// parameter per step).
    fn overwrites_gradients(&self) -> bool {
        true
    }

    fn gradient(
        &mut self,
        batch: &Batch<'_>,
        grads: &mut ParamSet,
        ctx: &mut StepContext<'_>,
    ) -> latent_engine::Result<StepOutput> {
        let seed = ctx.rng.next_u64();
        let step = self
            .loss_and_gradient(batch.x, grads, seed, ctx.par)
            .map_err(into_engine)?;
        let mut metrics = Metrics::new();
        metrics.push("reconstruction", step.reconstruction)?;
        if self.config.sparsity != Sparsity::None {
            metrics.push("sparsity", step.sparsity)?;
        }
        if self.config.contractive.is_some() {
            metrics.push("contractive", step.contractive)?;
        }
        Ok(StepOutput {
            loss: step.objective,
            metrics,
        })
    }

    fn validation_metric(
        &mut self,
        x: &Matrix,
        _labels: Option<&[u32]>,
        par: Par,
    ) -> latent_engine::Result<Option<f64>> {
        self.mean_reconstruction_error(x, 500, par)
            .map(Some)
            .map_err(into_engine)
    }
}
