//! The RBM's hyper-parameters: the kinds of visible and hidden units, the optional
//! sparsity target, and [`RbmConfig`] with its checks and its one-line text
//! form (the `hyperparameters` of checkpoints and model files).

use latent_engine::OptimizerConfig;

use crate::error::{ModelError, Result};

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

/// The kind of hidden units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HiddenUnits {
    /// Binary hiddens: `p(h_j = 1 | v) = σ(c_j + (vᵀW)_j)` (the default).
    #[default]
    Bernoulli,
    /// Linear (Gaussian, unit-variance) hiddens: `p(h_j | v) = N(c_j +
    /// (vᵀW)_j, 1)`, the energy `E(v, h) = −bᵀv − cᵀh + ½‖h‖² − vᵀWh`
    /// (Hinton & Salakhutdinov 2006, `rbmhidlinear.m`): the code layer of
    /// their deep autoencoder. The features are the means; CD samples the
    /// positive phase's hiddens as mean + N(0, 1) noise and uses the means
    /// elsewhere. Bernoulli visibles only (with Gaussian visibles the joint
    /// is a Gaussian that need not be normalisable).
    Linear,
}

impl HiddenUnits {
    /// `"bernoulli"` or `"linear"`.
    pub fn name(self) -> &'static str {
        match self {
            HiddenUnits::Bernoulli => "bernoulli",
            HiddenUnits::Linear => "linear",
        }
    }

    /// The activation of the hidden units' means: sigmoid or identity.
    pub fn activation(self) -> latent_kernels::activation::Activation {
        match self {
            HiddenUnits::Bernoulli => latent_kernels::activation::Activation::Sigmoid,
            HiddenUnits::Linear => latent_kernels::activation::Activation::Identity,
        }
    }
}

/// Which input of an RBM counts twice: the modified RBMs that pretrain a
/// deep Boltzmann machine layer by layer (Salakhutdinov & Hinton 2009,
/// "Deep Boltzmann Machines", greedy layerwise pretraining; MODELS.md 3).
///
/// The factor multiplies the product with `W` in one direction (the GEMM's
/// `α`), so training (CD-k, PCD-k, either precision) and inference run the
/// same code as an ordinary RBM. Such an RBM has no joint distribution of
/// its own (its two conditionals disagree about the weights), so its free
/// energy and likelihoods are refused
/// ([`ModelError::Unsupported`](crate::ModelError::Unsupported)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DoubledInput {
    /// An ordinary RBM (the default).
    #[default]
    None,
    /// The bottom RBM of a DBM: two tied copies of the visible vector, so
    /// `p(h | v) = σ(2vᵀW + c)` while `p(v | h)` is the usual one.
    BottomUp,
    /// The top RBM of a DBM: two tied copies of the hidden vector, so
    /// `p(v | h) = σ(2Wh + b)` while `p(h | v)` is the usual one.
    TopDown,
}

impl DoubledInput {
    /// `"none"`, `"bottom-up"` or `"top-down"`.
    pub fn name(self) -> &'static str {
        match self {
            DoubledInput::None => "none",
            DoubledInput::BottomUp => "bottom-up",
            DoubledInput::TopDown => "top-down",
        }
    }

    /// The factor of the visible-to-hidden product `vᵀW`: 2 bottom-up.
    pub fn up_factor(self) -> f32 {
        match self {
            DoubledInput::BottomUp => 2.0,
            _ => 1.0,
        }
    }

    /// The factor of the hidden-to-visible product `Wh`: 2 top-down.
    pub fn down_factor(self) -> f32 {
        match self {
            DoubledInput::TopDown => 2.0,
            _ => 1.0,
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

impl Sparsity {
    /// A target `ρ` with Hinton's defaults for the rest: cost 0.1, decay
    /// 0.9 (the practical guide, section 11).
    pub fn with_target(target: f32) -> Self {
        Sparsity {
            target,
            cost: 0.1,
            decay: 0.9,
        }
    }
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
    /// The modified RBMs of DBM pretraining: which input counts twice
    /// ([`DoubledInput::None`] for an ordinary RBM).
    pub doubled: DoubledInput,
    /// The hidden units' kind ([`HiddenUnits::Bernoulli`] unless asked).
    pub hidden: HiddenUnits,
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
            doubled: DoubledInput::None,
            hidden: HiddenUnits::Bernoulli,
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
    /// The same defaults as a run's ([`Settings`](crate::train::Settings)).
    pub fn default_optimizer(&self) -> OptimizerConfig {
        let kind = match self.visible {
            VisibleUnits::Bernoulli => crate::persist::Kind::Rbm,
            VisibleUnits::Gaussian => crate::persist::Kind::GaussianRbm,
        };
        crate::train::Settings::defaults(kind).optimizer_config()
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
        self.validate_doubled()?;
        self.validate_hidden()?;
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

    /// A doubled input needs fixed-variance visibles (the learned-σ chain
    /// and gradient assume the ordinary conditionals), and a doubled
    /// top-down input binary visibles (the top RBM models binary hidden
    /// units of the layer below).
    fn validate_doubled(&self) -> Result<()> {
        let value = self.doubled.name().to_string();
        if self.doubled != DoubledInput::None && self.learn_sigma {
            return Err(ModelError::InvalidConfig {
                what: "doubled (with learn_sigma)",
                value,
                expected: "none: a doubled input needs fixed-variance visibles (learn_sigma=false)",
            });
        }
        if self.doubled == DoubledInput::TopDown && self.visible != VisibleUnits::Bernoulli {
            return Err(ModelError::InvalidConfig {
                what: "doubled (with Gaussian visibles)",
                value,
                expected: "none or bottom-up: the top RBM of a DBM has binary visibles",
            });
        }
        Ok(())
    }

    /// Linear hiddens need Bernoulli visibles (a Gaussian-Gaussian RBM's
    /// joint need not be normalisable), no sparsity target (a mean
    /// activation in (0, 1) means nothing for them) and an ordinary input.
    fn validate_hidden(&self) -> Result<()> {
        if self.hidden == HiddenUnits::Bernoulli {
            return Ok(());
        }
        let bad = |what, value: &str, expected| {
            Err(ModelError::InvalidConfig {
                what,
                value: value.to_string(),
                expected,
            })
        };
        if self.visible != VisibleUnits::Bernoulli {
            return bad(
                "hidden=linear (with Gaussian visibles)",
                self.visible.name(),
                "bernoulli visibles: with Gaussian visibles and linear hiddens the joint is a Gaussian that need not be normalisable (not supported)",
            );
        }
        if self.sparsity.is_some() {
            return bad(
                "hidden=linear (with a sparsity target)",
                "sparsity=target",
                "no sparsity target: it is a mean activation in (0, 1) of binary hiddens",
            );
        }
        if self.doubled != DoubledInput::None {
            return bad(
                "hidden=linear (with a doubled input)",
                self.doubled.name(),
                "an ordinary RBM (doubled=none): DBMs have binary hidden layers",
            );
        }
        Ok(())
    }

    /// The configuration as one line of `key=value` words, as model files
    /// store it (`visible=… n_visible=… n_hidden=… cd_k=… persistent=…
    /// sample_visible=… init_std=… sparsity=none|target=T cost=C decay=D
    /// learn_sigma=…`; read back by
    /// [`persist::parse_rbm_config`](crate::persist::parse_rbm_config)).
    /// The modified RBMs of DBM pretraining add ` doubled=bottom-up|top-down`
    /// (ordinary RBMs' lines are as before), a key that parser does not
    /// know: such a line is refused rather than read as an ordinary RBM's.
    /// Linear hiddens add ` hidden=linear` (Bernoulli hiddens write no
    /// `hidden=` word, so their lines are as before).
    pub fn to_text(&self) -> String {
        let sparsity = match self.sparsity {
            Some(s) => format!("target={} cost={} decay={}", s.target, s.cost, s.decay),
            None => "none".into(),
        };
        let doubled = match self.doubled {
            DoubledInput::None => String::new(),
            d => format!(" doubled={}", d.name()),
        };
        let hidden = match self.hidden {
            HiddenUnits::Bernoulli => String::new(),
            h => format!(" hidden={}", h.name()),
        };
        format!(
            "visible={} n_visible={} n_hidden={} cd_k={} persistent={} sample_visible={} init_std={} sparsity={} learn_sigma={}{doubled}{hidden}",
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
