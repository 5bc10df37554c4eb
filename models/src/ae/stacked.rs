//! Stacked autoencoders (MODELS.md 4.6): greedy layer-wise pretraining, each
//! layer an autoencoder of any variant ([`AeConfig`]: plain, sparse,
//! denoising, contractive) or an RBM, trained on the codes of the layer
//! below; then either
//!
//! - [`Stack::unroll`]: the encoders and their decoders unrolled into one
//!   deep untied [`Autoencoder`] (e.g. 784-1000-500-250-30 with a linear code
//!   layer) to fine-tune end to end on reconstruction, or
//! - [`Stack::classifier`]: the encoders topped with a softmax layer
//!   ([`Classifier`]) to fine-tune on labels.
//!
//! Autoencoder layers start with their output bias at the data's mean
//! ([`Autoencoder::init_output_bias_from_data`]), RBM layers with Hinton's
//! visible-bias initialisation.
//!
//! The precision of the products ([`PretrainConfig::precision`]) is every
//! layer's, and the codes passed up are computed in it; the unrolled
//! autoencoder and the classifier start in f32 and take theirs from
//! `set_precision`.

mod classifier;

pub use classifier::{Classifier, ClassifierScratch, argmax};

use latent_engine::Matrix;
use latent_engine::data::Dataset;
use latent_engine::train::{Silent, TrainConfig, Trainer};
use latent_kernels::Par;
use latent_kernels::activation::{Activation, BiasActivation};
use latent_kernels::gemm::{Accum, Precision, product};

use super::dense::{AeConfig, Autoencoder, Loss};
use super::util::{bad, check_len};
use crate::error::Result;
use crate::rbm::{Rbm, RbmConfig};

/// How one layer of a stack is pretrained.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerKind {
    /// A one-layer autoencoder of any variant; its `sizes` are replaced by
    /// `[n_in, n_out]` and it must have one activation.
    Autoencoder(AeConfig),
    /// An RBM (Bernoulli or Gaussian visibles); its sizes are replaced. Its
    /// encoder is `σ(xW + c)`, its decoder bias the visible bias.
    Rbm(RbmConfig),
}

/// Greedy pretraining of a stack.
#[derive(Debug, Clone)]
pub struct PretrainConfig {
    /// Layer sizes `[V, H_1, …, H_L]`.
    pub sizes: Vec<usize>,
    /// How each of the `L` layers is pretrained, with its training setup
    /// (epochs, batch, optimiser, threads, seed).
    pub layers: Vec<(LayerKind, TrainConfig)>,
    /// Seed of the layers' initial weights.
    pub seed: u64,
    /// The precision of every layer's products, in training and in the
    /// codes each layer passes up ([`Precision::F32`] from
    /// [`new`](Self::new)).
    pub precision: Precision,
}

impl PretrainConfig {
    /// Pretraining of `sizes` with one `(kind, training)` per layer and the
    /// weights' `seed`, in f32 (see [`with_precision`](Self::with_precision)).
    pub fn new(sizes: Vec<usize>, layers: Vec<(LayerKind, TrainConfig)>, seed: u64) -> Self {
        PretrainConfig {
            sizes,
            layers,
            seed,
            precision: Precision::F32,
        }
    }

    /// The same with the products in `precision`.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }
}

/// One pretrained layer: encoder `act(x W + c)`, decoder weights (untied
/// copy or the RBM's) and bias.
#[derive(Debug, Clone)]
pub struct PretrainedLayer {
    /// Encoder weights, `n_in x n_out`.
    pub w: Matrix,
    /// Encoder bias, `n_out`.
    pub c: Vec<f32>,
    /// Decoder weights, `n_in x n_out` (used as `h Wdᵀ`).
    pub wd: Matrix,
    /// Decoder bias, `n_in`.
    pub b: Vec<f32>,
    /// The encoder activation.
    pub activation: Activation,
    /// The training loss of the last epoch.
    pub final_loss: Option<f64>,
}

/// A pretrained stack.
#[derive(Debug, Clone)]
pub struct Stack {
    /// Layer sizes `[V, H_1, …, H_L]`.
    pub sizes: Vec<usize>,
    /// The layers, bottom first.
    pub layers: Vec<PretrainedLayer>,
}

/// Greedy layer-wise pretraining.
#[derive(Debug, Clone, Copy, Default)]
pub struct StackedPretrainer;

impl StackedPretrainer {
    /// Pretrains every layer in turn on the codes of the one below (the
    /// first on `data`), with its own trainer.
    pub fn pretrain(config: &PretrainConfig, data: &Dataset) -> Result<Stack> {
        let s = &config.sizes;
        if s.len() < 2 || s.contains(&0) {
            return bad(
                "PretrainConfig::sizes",
                format!("{s:?}"),
                "[V, H_1, ...] all >= 1",
            );
        }
        check_len(
            "PretrainConfig::layers (one per layer)",
            config.layers.len(),
            s.len() - 1,
        )?;
        check_len("pretrain: columns of the data", data.features(), s[0])?;
        let mut input = data.x.clone();
        let mut layers = Vec::new();
        for (i, (kind, train)) in config.layers.iter().enumerate() {
            let (n_in, n_out) = (s[i], s[i + 1]);
            let ds = Dataset::new(input, None)?;
            let par = if train.threads == latent_engine::Threads::Count(1) {
                Par::Seq
            } else {
                Par::All
            };
            let seed = config.seed.wrapping_add(i as u64);
            let layer = match kind {
                LayerKind::Autoencoder(ae) => {
                    let mut ae = Self::autoencoder_layer(ae, n_in, n_out, &ds.x, seed, par)?;
                    ae.set_precision(config.precision);
                    let mut trainer = Trainer::new(ae, *train)?;
                    let summary = trainer.fit(&ds, None, &mut Silent)?;
                    PretrainedLayer::from_autoencoder(trainer.model(), summary.last_train_loss)?
                }
                LayerKind::Rbm(rc) => {
                    let mut rbm = Self::rbm_layer(rc, n_in, n_out, &ds.x, seed, par)?;
                    rbm.set_precision(config.precision);
                    let mut trainer = Trainer::new(rbm, *train)?;
                    let summary = trainer.fit(&ds, None, &mut Silent)?;
                    PretrainedLayer::from_rbm(trainer.model(), summary.last_train_loss)
                }
            };
            // The codes of this layer feed the next.
            let codes = layer.encode_in(&ds.x, config.precision, par)?;
            input = codes;
            layers.push(layer);
        }
        Ok(Stack {
            sizes: s.clone(),
            layers,
        })
    }
}

impl StackedPretrainer {
    /// The untrained one-layer autoencoder that [`pretrain`](Self::pretrain)
    /// makes for a layer of `n_in -> n_out` units from `config` (its sizes
    /// replaced; it must have one activation), with its output bias at the
    /// mean of `input`, the layer's training data. For callers that train
    /// the layers themselves (progress, checkpoints between epochs).
    pub fn autoencoder_layer(
        config: &AeConfig,
        n_in: usize,
        n_out: usize,
        input: &Matrix,
        seed: u64,
        par: Par,
    ) -> Result<Autoencoder> {
        let mut cfg = config.clone();
        cfg.sizes = vec![n_in, n_out];
        if cfg.activations.len() != 1 {
            return bad(
                "LayerKind::Autoencoder: activations",
                format!("{:?}", cfg.activations),
                "exactly one (a single-layer autoencoder)",
            );
        }
        let mut ae = Autoencoder::new(cfg, seed)?;
        ae.init_output_bias_from_data(input, par)?;
        Ok(ae)
    }

    /// The untrained RBM that [`pretrain`](Self::pretrain) makes for a layer
    /// of `n_in -> n_out` units from `config` (its sizes replaced), with
    /// Hinton's visible-bias initialisation from `input`.
    pub fn rbm_layer(
        config: &RbmConfig,
        n_in: usize,
        n_out: usize,
        input: &Matrix,
        seed: u64,
        par: Par,
    ) -> Result<Rbm> {
        let cfg = RbmConfig {
            n_visible: n_in,
            n_hidden: n_out,
            ..*config
        };
        let mut rbm = Rbm::new(cfg, seed)?;
        rbm.init_visible_bias_from_data(input, par)?;
        Ok(rbm)
    }
}

impl PretrainedLayer {
    /// The layer a trained one-layer autoencoder gives: its encoder, its
    /// decoder (the encoder's weights when tied) and its activation;
    /// `final_loss` is recorded as it is.
    pub fn from_autoencoder(ae: &Autoencoder, final_loss: Option<f64>) -> Result<Self> {
        let cfg = ae.config();
        if cfg.depth() != 1 {
            return bad(
                "PretrainedLayer::from_autoencoder: depth",
                cfg.depth().to_string(),
                "a single-layer autoencoder",
            );
        }
        let w = ae
            .encoder_weights(0)
            .cloned()
            .unwrap_or(Matrix::zeros(cfg.sizes[0], cfg.sizes[1])?);
        Ok(PretrainedLayer {
            wd: ae.decoder_weights(0).cloned().unwrap_or(w.clone()),
            w,
            c: ae.encoder_bias(0).unwrap_or(&[]).to_vec(),
            b: ae.decoder_bias(0).unwrap_or(&[]).to_vec(),
            activation: cfg.activations[0],
            final_loss,
        })
    }

    /// The layer a trained RBM gives: encoder `σ(xW + c)` (linear hiddens:
    /// `xW + c`), decoder weights `W` and the visible bias.
    pub fn from_rbm(rbm: &Rbm, final_loss: Option<f64>) -> Self {
        PretrainedLayer {
            w: rbm.weights().clone(),
            wd: rbm.weights().clone(),
            c: rbm.hidden_bias().to_vec(),
            b: rbm.visible_bias().to_vec(),
            activation: rbm.config().hidden.activation(),
            final_loss,
        }
    }

    /// The codes `act(x W + c)` of the rows of `x`: the next layer's data
    /// (in f32; see [`encode_in`](Self::encode_in)).
    pub fn encode(&self, x: &Matrix, par: Par) -> Result<Matrix> {
        self.encode_in(x, Precision::F32, par)
    }

    /// [`encode`](Self::encode) with the product in `precision`.
    pub fn encode_in(&self, x: &Matrix, precision: Precision, par: Par) -> Result<Matrix> {
        check_len(
            "PretrainedLayer::encode: columns of x",
            x.cols(),
            self.w.rows(),
        )?;
        let mut codes = Matrix::zeros(x.rows(), self.w.cols())?;
        product(
            1.0,
            x.view(),
            precision.operand(self.w.view()),
            Accum::Replace,
            codes.view_mut(),
            &BiasActivation::new(&self.c, self.activation),
            par,
        )?;
        Ok(codes)
    }
}

impl Stack {
    /// Unrolls the stack into a deep untied autoencoder with the layers'
    /// activations and the given output loss, ready to fine-tune.
    pub fn unroll(&self, loss: Loss, seed: u64) -> Result<Autoencoder> {
        let acts: Vec<Activation> = self.layers.iter().map(|l| l.activation).collect();
        let cfg = AeConfig::new(&self.sizes, Activation::Identity)
            .with_activations(&acts)
            .with_loss(loss);
        let mut ae = Autoencoder::new(cfg, seed)?;
        for (i, l) in self.layers.iter().enumerate() {
            ae.set_layer(i, l.w.as_slice(), &l.c, Some(l.wd.as_slice()), &l.b)?;
        }
        Ok(ae)
    }

    /// The stack's encoders topped with a fresh softmax layer over
    /// `classes` classes, ready to fine-tune on labels.
    pub fn classifier(&self, classes: usize, seed: u64) -> Result<Classifier> {
        let acts: Vec<Activation> = self.layers.iter().map(|l| l.activation).collect();
        let mut clf = Classifier::new(&self.sizes, &acts, classes, seed)?;
        for (i, l) in self.layers.iter().enumerate() {
            clf.set_encoder_layer(i, l.w.as_slice(), &l.c);
        }
        Ok(clf)
    }
}
