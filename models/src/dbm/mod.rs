//! Deep Boltzmann machines (MODELS.md section 3): layers `h⁰ = v, h¹, …,
//! hᴸ` (`L ≥ 2`), Bernoulli hidden units, Bernoulli or unit-variance
//! Gaussian visibles, energy
//! `E = −Σ_l hˡ⁻¹ᵀ Wˡ hˡ − Σ_l bˡᵀ hˡ` (Gaussian visibles:
//! `Σ_i (v_i − b⁰_i)²/2` in place of `−b⁰ᵀv`).
//!
//! Parameters: `Wˡ` (`n_{l−1} x n_l`, row-major, `Wˡ[i·n_l + j]` links unit
//! `i` of layer `l − 1` to unit `j` of layer `l`) for `l = 1..L`, named
//! `W1 … WL`, then the biases `bˡ` (`1 x n_l`) for `l = 0..L`, named
//! `b0 … bL`.
//!
//! Training (Salakhutdinov & Hinton 2009) through the engine's
//! [`Trainer`](latent_engine::train::Trainer): a mean-field positive phase
//! ([`Dbm::mean_field`]), persistent chains moved by `k` alternating
//! odd/even Gibbs sweeps for the negative phase, and the gradient
//! `−(⟨μˡ⁻¹μˡᵀ⟩_data − ⟨hˡ⁻¹hˡᵀ⟩_chains)` (biases likewise) handed to the
//! engine's optimiser, schedules and weight decay. Every sampler draws
//! from per-row streams, so results do not depend on the thread count, and
//! the chains are persistent state of checkpoints, so `--resume` continues
//! exactly.
//!
//! Precision ([`Dbm::set_precision`]): in bf16 every product has bf16
//! operands (the weights packed once per step or call) and f32
//! accumulation; parameters, samplers and sums stay f32.

mod config;
mod gibbs;
mod inference;
mod mean_field;
mod train;
mod workspace;

pub use config::{DbmConfig, MAX_MF_ITERS};
pub use inference::Layers;
pub use mean_field::{MeanFieldOptions, MeanFieldStats};
pub use train::StepStats;
pub use workspace::DbmScratch;

use latent_engine::{Matrix, ParamSet, Role};
use latent_kernels::Precision;
use latent_kernels::activation::Activation;

use crate::ae::util::check_len;
use crate::error::{ModelError, Result};
use crate::rbm::VisibleUnits;
use workspace::{LayerBufs, Workspace};

/// The index in the parameter set of `Wˡ` (`l = 1..=L`).
pub fn weight_index(l: usize) -> usize {
    l - 1
}

/// A deep Boltzmann machine with its training state.
#[derive(Debug)]
pub struct Dbm {
    config: DbmConfig,
    params: ParamSet,
    ws: Workspace,
    /// The persistent chains' states, one `chains x n_l` buffer per layer
    /// `l = 0..=L` (none until the first training step).
    chains: LayerBufs,
    precision: Precision,
}

impl Dbm {
    /// A new DBM with every `Wˡ ~ N(0, init_std²)` (seeded) and zero biases.
    pub fn new(config: DbmConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let mut rng = latent_engine::Rng::stream(seed, 0x44_424d); // "DBM"
        let mut params = ParamSet::new();
        for (l, pair) in config.sizes.windows(2).enumerate() {
            let std = config.init_std as f64;
            let w = Matrix::from_fn(pair[0], pair[1], |_, _| (rng.normal() * std) as f32)?;
            params.push(format!("W{}", l + 1), Role::Weight, w)?;
        }
        for (l, &n) in config.sizes.iter().enumerate() {
            params.push(format!("b{l}"), Role::Bias, Matrix::zeros(1, n)?)?;
        }
        Ok(Dbm {
            config,
            params,
            ws: Workspace::default(),
            chains: LayerBufs::default(),
            precision: Precision::F32,
        })
    }

    /// A DBM with the given parameters: `weights[l − 1]` is `Wˡ`
    /// (`n_{l−1} x n_l`) for `l = 1..=L`, `biases[l]` is `bˡ` (`n_l`) for
    /// `l = 0..=L`.
    pub fn from_params(config: DbmConfig, weights: &[Matrix], biases: &[Vec<f32>]) -> Result<Self> {
        let mut dbm = Dbm::new(
            DbmConfig {
                init_std: 0.0,
                ..config.clone()
            },
            0,
        )?;
        dbm.config.init_std = config.init_std;
        let depth = config.depth();
        check_len("Dbm::from_params: weight matrices", weights.len(), depth)?;
        check_len("Dbm::from_params: bias vectors", biases.len(), depth + 1)?;
        for (l, w) in weights.iter().enumerate() {
            let (a, b) = (config.sizes[l], config.sizes[l + 1]);
            if w.shape() != (a, b) {
                return Err(ModelError::mismatch(
                    format!("Dbm::from_params: shape of W{}", l + 1),
                    format!("{a} x {b}"),
                    format!("{} x {}", w.rows(), w.cols()),
                ));
            }
            dbm.params.value_mut(weight_index(l + 1)).copy_from(w)?;
        }
        for (l, b) in biases.iter().enumerate() {
            check_len(
                &format!("Dbm::from_params: length of b{l}"),
                b.len(),
                config.sizes[l],
            )?;
            let index = dbm.bias_index(l);
            dbm.params
                .value_mut(index)
                .as_mut_slice()
                .copy_from_slice(b);
        }
        Ok(dbm)
    }

    /// The configuration.
    pub fn config(&self) -> &DbmConfig {
        &self.config
    }

    /// The layer sizes `[n0, …, nL]`.
    pub fn sizes(&self) -> &[usize] {
        &self.config.sizes
    }

    /// The number of hidden layers `L`.
    pub fn depth(&self) -> usize {
        self.config.depth()
    }

    /// The index in the parameter set of `bˡ` (`l = 0..=L`).
    pub fn bias_index(&self, l: usize) -> usize {
        self.depth() + l
    }

    /// The weights `W¹ … Wᴸ`, bottom first.
    pub fn weights(&self) -> Vec<&Matrix> {
        (1..=self.depth())
            .map(|l| self.params.value(weight_index(l)))
            .collect()
    }

    /// `Wˡ` (`l = 1..=L`).
    pub fn weight(&self, l: usize) -> &Matrix {
        self.params.value(weight_index(l))
    }

    /// The biases `b⁰ … bᴸ`, visible first.
    pub fn biases(&self) -> Vec<&[f32]> {
        (0..=self.depth()).map(|l| self.bias(l)).collect()
    }

    /// `bˡ` (`l = 0..=L`).
    pub fn bias(&self, l: usize) -> &[f32] {
        self.params.value(self.bias_index(l)).as_slice()
    }

    /// The number of persistent chains (0 before the first training step).
    pub fn chain_count(&self) -> usize {
        self.chains.rows
    }

    /// The persistent chains' states of layer `l`, `chains x n_l`
    /// row-major (`None` before the first training step or past the top).
    pub fn chain_states(&self, l: usize) -> Option<&[f32]> {
        (self.chains.rows > 0 && l <= self.depth()).then(|| self.chains.layer(l, self.chains.rows))
    }

    /// The precision of the model's matrix products ([`Precision::F32`]
    /// unless set), in training and inference alike.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Sets the precision of the model's matrix products (parameters and
    /// everything else stay f32).
    pub fn set_precision(&mut self, precision: Precision) {
        self.precision = precision;
    }

    /// Hinton's visible-bias initialisation, as the RBM's: `b⁰_i = ln(p_i/(1
    /// − p_i))` of the data's column means `p_i` (clipped to `[1e-3, 1 −
    /// 1e-3]`) for Bernoulli visibles, the column means for Gaussian ones.
    pub fn init_visible_bias_from_data(&mut self, x: &Matrix) -> Result<()> {
        self.check_input("Dbm::init_visible_bias_from_data", x.cols())?;
        if x.rows() == 0 {
            return Err(ModelError::Shape {
                what: "Dbm::init_visible_bias_from_data: rows of x".into(),
                expected: 1,
                found: 0,
            });
        }
        let mut means = vec![0.0f32; x.cols()];
        let par = latent_kernels::Par::Seq;
        latent_kernels::reduce::col_means(x.as_slice(), x.rows(), x.cols(), &mut means, par)?;
        let gaussian = self.config.visible == VisibleUnits::Gaussian;
        let index = self.bias_index(0);
        for (b, &p) in self
            .params
            .value_mut(index)
            .as_mut_slice()
            .iter_mut()
            .zip(&means)
        {
            *b = match gaussian {
                true => p,
                false => {
                    let p = p.clamp(1e-3, 1.0 - 1e-3);
                    (p / (1.0 - p)).ln()
                }
            };
        }
        Ok(())
    }

    /// The activation of the visible units' total inputs.
    fn visible_activation(&self) -> Activation {
        visible_activation(self.config.visible)
    }

    /// An error unless `x` has a column per visible unit.
    fn check_input(&self, what: &str, cols: usize) -> Result<()> {
        if cols == self.config.sizes[0] {
            return Ok(());
        }
        check_len(
            &format!("{what}: columns of the data (visible units)"),
            cols,
            self.config.sizes[0],
        )
    }
}

/// The visible units' total inputs are activated by this: the sigmoid
/// (Bernoulli) or the identity (Gaussian means).
fn visible_activation(visible: VisibleUnits) -> Activation {
    match visible {
        VisibleUnits::Bernoulli => Activation::Sigmoid,
        VisibleUnits::Gaussian => Activation::Identity,
    }
}
