//! The settings of a variational autoencoder: its output distribution, the
//! [`VaeConfig`] that holds it with the layer sizes, and what one training
//! step measured ([`VaeStep`]).

use latent_kernels::activation::Activation;

use crate::ae::util::{bad, check_len};
use crate::error::Result;

/// The decoder's output distribution `p(x|z)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VaeOutput {
    /// Independent Bernoulli pixels with logits `a`: `-ln p = Σ softplus(a) - x a`.
    #[default]
    Bernoulli,
    /// Unit-variance Gaussian with mean `x̂`: `-ln p = ½‖x - x̂‖² + (V/2) ln 2π`.
    Gaussian,
}

/// The architecture of a [`Vae`](super::Vae).
#[derive(Debug, Clone, PartialEq)]
pub struct VaeConfig {
    /// `[V, H_1, …, H_k]`: the input and the encoder's hidden layers
    /// (`k ≥ 0`); the decoder mirrors them.
    pub sizes: Vec<usize>,
    /// Activations of the hidden layers (`k`), reused by the mirrored
    /// decoder layers.
    pub activations: Vec<Activation>,
    /// The latent dimension `Z`.
    pub latent: usize,
    /// The decoder's output distribution.
    pub output: VaeOutput,
    /// Standard deviation of the initial weights; `None` for Glorot.
    pub init_std: Option<f32>,
}

impl VaeConfig {
    /// A VAE with hidden layers `hidden` (all with `activation`), latent size
    /// `latent` and Bernoulli output, for `n_visible` inputs.
    pub fn new(n_visible: usize, hidden: &[usize], latent: usize, activation: Activation) -> Self {
        let mut sizes = vec![n_visible];
        sizes.extend_from_slice(hidden);
        VaeConfig {
            sizes,
            activations: vec![activation; hidden.len()],
            latent,
            output: VaeOutput::Bernoulli,
            init_std: None,
        }
    }

    /// The same with another output distribution.
    pub fn with_output(mut self, output: VaeOutput) -> Self {
        self.output = output;
        self
    }

    /// The same with per-layer activations (one per hidden layer).
    pub fn with_activations(mut self, activations: &[Activation]) -> Self {
        self.activations = activations.to_vec();
        self
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        if self.sizes.is_empty() || self.sizes.contains(&0) {
            return bad(
                "VaeConfig::sizes",
                format!("{:?}", self.sizes),
                "[V, hidden...] all >= 1",
            );
        }
        if self.latent == 0 {
            return bad("VaeConfig::latent", "0".into(), "at least 1");
        }
        check_len(
            "VaeConfig: activations (one per hidden layer)",
            self.activations.len(),
            self.sizes.len() - 1,
        )?;
        if let Some(s) = self.init_std
            && !(s.is_finite() && s >= 0.0)
        {
            return bad("init_std", s.to_string(), "finite, >= 0");
        }
        Ok(())
    }

    /// The number of hidden layers `k`.
    pub fn hidden_layers(&self) -> usize {
        self.sizes.len() - 1
    }

    /// The sizes of the levels `[V, H_1, …, H_k, Z]`.
    pub(super) fn levels(&self) -> Vec<usize> {
        let mut s = self.sizes.clone();
        s.push(self.latent);
        s
    }
}

/// What one step measured (means over the minibatch).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct VaeStep {
    /// The negative ELBO (the loss).
    pub loss: f64,
    /// `-ln p(x|z)` at the sampled `z`.
    pub reconstruction: f64,
    /// `KL(q(z|x) ‖ p(z))`.
    pub kl: f64,
}

impl VaeStep {
    /// The ELBO, `-loss`.
    pub fn elbo(&self) -> f64 {
        -self.loss
    }
}
