//! The settings of a dense autoencoder: its loss, sparsity penalty and input
//! corruption, the [`AeConfig`] that holds them with the layer sizes, and
//! what one training step measured ([`AeStep`]).

use latent_kernels::activation::Activation;

use crate::ae::util::{bad, check_len};
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

/// Deterministic Gaussian noise on the code layer's input during training
/// (semantic hashing, MODELS.md 5): `N(0, std²)` is added to the code
/// layer's pre-activation, the same noise for a training row every time it
/// is seen (drawn from `seed` and the row's index in the data set), so that
/// the objective stays a deterministic function of the parameters and a
/// sigmoid code learns to saturate to 0 or 1. Inference adds nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CodeNoise {
    /// The standard deviation `s >= 0` (Salakhutdinov & Hinton: variance
    /// 16, `s = 4`).
    pub std: f32,
    /// The seed the per-row noise is drawn from.
    pub seed: u64,
}

/// The architecture and objective of an [`Autoencoder`](super::Autoencoder).
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
    /// Deterministic noise on the code layer's input in training (`None`:
    /// none).
    pub code_noise: Option<CodeNoise>,
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
            code_noise: None,
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

    /// The same with deterministic `N(0, std²)` noise on the code layer's
    /// input in training, drawn from `seed` ([`CodeNoise`]).
    pub fn with_code_noise(mut self, std: f32, seed: u64) -> Self {
        self.code_noise = Some(CodeNoise { std, seed });
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
        self.validate_sparsity()?;
        self.validate_noise()?;
        self.validate_contractive()?;
        if let Some(s) = self.init_std
            && !(s.is_finite() && s >= 0.0)
        {
            return bad("init_std", s.to_string(), "finite, >= 0");
        }
        if let Some(n) = self.code_noise
            && !(n.std.is_finite() && n.std >= 0.0)
        {
            return bad("code_noise std", n.std.to_string(), "finite, >= 0");
        }
        Ok(())
    }

    /// The sparsity penalty's weights, and a sigmoid code for KL.
    fn validate_sparsity(&self) -> Result<()> {
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
        Ok(())
    }

    /// The corruption's probability, standard deviation or values.
    fn validate_noise(&self) -> Result<()> {
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
        Ok(())
    }

    /// The contractive weight, and sigmoid or ReLU on every encoder layer.
    fn validate_contractive(&self) -> Result<()> {
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
        Ok(())
    }
}

/// What one
/// [`Autoencoder::loss_and_gradient`](super::Autoencoder::loss_and_gradient)
/// call measured (means over the minibatch).
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
