//! Deep belief nets (MODELS.md 2.5): a stack of RBMs trained greedily, layer
//! by layer, each on the hidden probabilities (or samples) of the layer
//! below; features by the deterministic up-pass; generation by a Gibbs chain
//! in the top RBM followed by one top-down pass.

use latent_engine::train::{FitSummary, Observer, TrainConfig, Trainer};
use latent_engine::{Dataset, Matrix};
use latent_kernels::Par;
use latent_kernels::Precision;
use latent_kernels::random::{Streams, bernoulli};

use crate::error::{ModelError, Result};
use crate::model::{DbnScratch, Inference, SampleRequest};
use crate::rbm::{Rbm, RbmConfig, VisibleUnits};

/// What the layer above is trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Propagate {
    /// The hidden probabilities `p(h | v)` (the usual choice).
    #[default]
    Probabilities,
    /// Binary samples of them, drawn once per layer with the given seed.
    Samples {
        /// Seed of the samples' streams.
        seed: u64,
    },
}

/// A deep belief net: RBMs whose hidden layer is the next one's visible layer.
#[derive(Debug)]
pub struct Dbn {
    layers: Vec<Rbm>,
}

impl Dbn {
    /// A DBN with layer sizes `sizes` (`[V, H1, H2, …]`, at least two), a
    /// bottom layer of `bottom` units and Bernoulli units above, CD-1 and
    /// Hinton's defaults in every layer. Layer `l` is seeded with `seed + l`.
    pub fn new(sizes: &[usize], bottom: VisibleUnits, seed: u64) -> Result<Self> {
        if sizes.len() < 2 {
            return Err(ModelError::InvalidConfig {
                what: "DBN layer sizes",
                value: format!("{sizes:?}"),
                expected: "at least two sizes: visible and one hidden layer",
            });
        }
        let configs: Vec<RbmConfig> = sizes
            .windows(2)
            .enumerate()
            .map(|(l, pair)| {
                let config = RbmConfig::bernoulli(pair[0], pair[1]);
                if l == 0 {
                    RbmConfig {
                        visible: bottom,
                        ..config
                    }
                } else {
                    config
                }
            })
            .collect();
        Self::from_configs(&configs, seed)
    }

    /// A DBN with one RBM per configuration (sizes must chain: each
    /// `n_hidden` equals the next `n_visible`; only the bottom may be
    /// Gaussian).
    pub fn from_configs(configs: &[RbmConfig], seed: u64) -> Result<Self> {
        let layers = configs
            .iter()
            .enumerate()
            .map(|(l, c)| Rbm::new(*c, seed.wrapping_add(l as u64)))
            .collect::<Result<Vec<_>>>()?;
        Self::from_rbms(layers)
    }

    /// A DBN from trained (or fresh) RBMs, bottom first.
    pub fn from_rbms(layers: Vec<Rbm>) -> Result<Self> {
        if layers.is_empty() {
            return Err(ModelError::InvalidConfig {
                what: "DBN layers",
                value: "0".into(),
                expected: "at least one RBM",
            });
        }
        for (l, pair) in layers.windows(2).enumerate() {
            let (below, above) = (pair[0].config(), pair[1].config());
            if below.n_hidden != above.n_visible {
                return Err(ModelError::Shape {
                    what: format!(
                        "DBN: visible units of layer {} (hidden units of layer {l})",
                        l + 1
                    ),
                    expected: below.n_hidden,
                    found: above.n_visible,
                });
            }
            if above.visible != VisibleUnits::Bernoulli {
                return Err(ModelError::InvalidConfig {
                    what: "DBN: visible units above the bottom layer",
                    value: above.visible.name().into(),
                    expected: "bernoulli (they model binary hidden units of the layer below)",
                });
            }
        }
        Ok(Dbn { layers })
    }

    /// The precision of the layers' products (the bottom layer's; they
    /// are set together by [`set_precision`](Self::set_precision)).
    pub fn precision(&self) -> Precision {
        self.layers[0].precision()
    }

    /// Sets the precision of every layer's products: their training, and
    /// the up and down passes and generation, which run on the layers.
    pub fn set_precision(&mut self, precision: Precision) {
        for layer in &mut self.layers {
            layer.set_precision(precision);
        }
    }

    /// The RBMs, bottom first.
    pub fn layers(&self) -> &[Rbm] {
        &self.layers
    }

    /// The RBMs, bottom first, mutable (e.g. to set visible biases).
    pub fn layers_mut(&mut self) -> &mut [Rbm] {
        &mut self.layers
    }

    /// Layer sizes `[V, H1, H2, …]`.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![self.layers[0].config().n_visible];
        sizes.extend(self.layers.iter().map(|r| r.config().n_hidden));
        sizes
    }

    /// Greedy layer-wise training: layer `l` is trained with
    /// `config_for(l)` on the data (l = 0) or on what the layer below passes
    /// up. The bottom layer's visible biases are initialised from the data
    /// first (Hinton's guide), and so are the upper layers' from their
    /// inputs. On error the layers trained so far are kept and the error
    /// names the layer.
    pub fn pretrain(
        &mut self,
        data: &Dataset,
        mut config_for: impl FnMut(usize, &RbmConfig) -> TrainConfig,
        propagate: Propagate,
        observer: &mut (dyn Observer + Send),
    ) -> Result<Vec<FitSummary>> {
        let check = data.x.cols();
        if check != self.layers[0].config().n_visible {
            return Err(ModelError::Shape {
                what: "DBN::pretrain: columns of the data (visible units)".into(),
                expected: self.layers[0].config().n_visible,
                found: check,
            });
        }
        let mut summaries = Vec::with_capacity(self.layers.len());
        let mut input: Option<Dataset> = None;
        let count = self.layers.len();
        for l in 0..count {
            let layer_data = input.as_ref().unwrap_or(data);
            let rbm = std::mem::replace(&mut self.layers[l], placeholder()?);
            let mut rbm = rbm;
            rbm.init_visible_bias_from_data(&layer_data.x, Par::All)?;
            let config = config_for(l, rbm.config());
            let mut trainer = match Trainer::new(rbm, config) {
                Ok(t) => t,
                Err(e) => return Err(layer_error(l, e.into())),
            };
            let fitted = trainer.fit(layer_data, None, observer);
            self.layers[l] = trainer.into_model();
            summaries.push(fitted.map_err(|e| layer_error(l, e.into()))?);
            if l + 1 < count {
                let next = self.up_one(l, &layer_data.x, propagate, Par::All)?;
                input = Some(Dataset::new(next, None)?);
            }
        }
        Ok(summaries)
    }

    /// What layer `l` passes up for `x`: probabilities or samples.
    fn up_one(&self, l: usize, x: &Matrix, propagate: Propagate, par: Par) -> Result<Matrix> {
        let rbm = &self.layers[l];
        let mut p = Matrix::zeros(x.rows(), rbm.config().n_hidden)?;
        rbm.transform(x.view(), p.view_mut(), par)?;
        if let Propagate::Samples { seed } = propagate {
            let mut s = Matrix::zeros(p.rows(), p.cols())?;
            let streams = Streams::new(seed).at_step(l as u64);
            bernoulli(
                streams,
                p.as_slice(),
                s.as_mut_slice(),
                p.rows(),
                p.cols(),
                par,
            )?;
            return Ok(s);
        }
        Ok(p)
    }

    /// The deterministic up-pass `q(hˡ | v) = σ(q(hˡ⁻¹ | v) Wˡ + cˡ)` to the
    /// top layer: the DBN's features of the rows of `x`.
    pub fn transform(&self, x: &Matrix, par: Par) -> Result<Matrix> {
        self.transform_to(x, self.layers.len(), par)
    }

    /// The up-pass to layer `level` (1 = the first hidden layer): the
    /// allocating form of [`Dbn::encode_to_with`].
    pub fn transform_to(&self, x: &Matrix, level: usize, par: Par) -> Result<Matrix> {
        let h = self.layers[level.clamp(1, self.layers.len()) - 1]
            .config()
            .n_hidden;
        let mut out = Matrix::zeros(x.rows(), h)?;
        let scratch = &mut DbnScratch::default();
        self.encode_to_with(x.view(), level, out.view_mut(), scratch, par)?;
        Ok(out)
    }

    /// `n` samples: a Gibbs chain of `steps` steps in the top RBM (from
    /// random states, streams of `seed`), then one top-down pass of means
    /// `p(hˡ⁻¹ | hˡ)` to the visibles. Returns the visible means (`n x V`);
    /// [`Inference::sample_into`] with a caller-kept scratch.
    pub fn generate(&self, n: usize, steps: usize, seed: u64, par: Par) -> Result<Matrix> {
        self.samples(n, SampleRequest { steps, seed }, par)
    }
}

/// A 1x1 RBM standing in while a layer is being trained.
fn placeholder() -> Result<Rbm> {
    Rbm::new(RbmConfig::bernoulli(1, 1), 0)
}

fn layer_error(layer: usize, e: ModelError) -> ModelError {
    ModelError::Layer {
        layer,
        source: Box::new(e),
    }
}
