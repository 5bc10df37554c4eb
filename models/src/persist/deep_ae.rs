//! Deep autoencoder files (`deep-ae`): the unrolled model's configuration,
//! how its layers are pretrained, and the state of a file in pretraining or
//! fine-tuning.

use std::path::Path;

use latent_engine::Checkpoint;
use latent_kernels::activation::Activation;

use super::load::{load_params, load_rbm};
use super::text::{hyper_line, hyper_value, parse_rbm_config, parse_value};
use crate::ae::{AeConfig, Autoencoder, Loss, PretrainedLayer, Stack};
use crate::error::{ModelError, Result};
use crate::rbm::{Rbm, RbmConfig, VisibleUnits};

/// How the layers of a deep autoencoder are pretrained.
#[derive(Debug, Clone, PartialEq)]
pub enum Pretrain {
    /// One-layer autoencoders; this is layer 0's configuration, and layer
    /// `l` differs only in sizes, activation and loss (see
    /// [`DeepAeSpec::layer_ae`]).
    Ae(AeConfig),
    /// Bernoulli RBMs with this configuration (sizes replaced per layer).
    Rbm(RbmConfig),
}

/// A deep autoencoder's setup: the unrolled model and how it is pretrained.
#[derive(Debug, Clone, PartialEq)]
pub struct DeepAeSpec {
    /// The deep (untied, plain) autoencoder that is fine-tuned.
    pub config: AeConfig,
    /// How each layer is pretrained.
    pub pretrain: Pretrain,
    /// Epochs of pretraining per layer.
    pub pretrain_epochs: usize,
}

impl DeepAeSpec {
    /// The loss of pretraining layer `l`: the deep model's loss for the
    /// data layer; above it cross-entropy only where the codes below are
    /// sigmoid (in `[0, 1]`) and the deep model uses cross-entropy, else
    /// squared error.
    pub fn layer_loss(&self, l: usize) -> Loss {
        let c = &self.config;
        if l == 0 || (c.loss == Loss::CrossEntropy && c.activations[l - 1] == Activation::Sigmoid) {
            c.loss
        } else {
            Loss::SquaredError
        }
    }

    /// The one-layer autoencoder that pretrains layer `l` (from the
    /// template `t`, layer 0's configuration).
    pub fn layer_ae(&self, t: &AeConfig, l: usize) -> AeConfig {
        let s = &self.config.sizes;
        let mut c = t.clone();
        c.sizes = vec![s[l], s[l + 1]];
        c.activations = vec![self.config.activations[l]];
        c.loss = self.layer_loss(l);
        c
    }

    /// The RBM that pretrains layer `l`.
    pub fn layer_rbm(&self, rc: &RbmConfig, l: usize) -> RbmConfig {
        let s = &self.config.sizes;
        RbmConfig {
            n_visible: s[l],
            n_hidden: s[l + 1],
            ..*rc
        }
    }

    /// The file's lines for this setup (`finetune`: the fine-tuning phase,
    /// else pretraining).
    pub fn lines(&self, finetune: bool) -> String {
        let (kind, layer) = match &self.pretrain {
            Pretrain::Ae(t) => ("ae", t.to_spec()),
            Pretrain::Rbm(rc) => ("rbm", rc.to_text()),
        };
        let phase = if finetune { "finetune" } else { "pretrain" };
        format!(
            "{}\npretrain: {kind} epochs={} phase={phase}\npretrain-layer: {layer}",
            self.config.to_spec(),
            self.pretrain_epochs,
        )
    }

    /// Reads the setup from a deep-ae file's text; also says whether the
    /// file is in the fine-tuning phase.
    pub fn parse(text: &str, path: &Path) -> Result<(DeepAeSpec, bool)> {
        let bad = |what: &str, e: String| {
            ModelError::mismatch(
                format!("{}: {what} of a deep-ae model file", path.display()),
                "a line written by latent train deep-ae",
                e,
            )
        };
        let first = text.lines().next().unwrap_or("");
        let config = AeConfig::from_spec(first).map_err(|e| bad("first line", e.to_string()))?;
        let pre =
            hyper_line(text, "pretrain").ok_or_else(|| bad("pretrain line", "none".into()))?;
        let layer = hyper_line(text, "pretrain-layer")
            .ok_or_else(|| bad("pretrain-layer line", "none".into()))?;
        let mut words = pre.split_whitespace();
        let kind = words.next();
        let (mut epochs, mut phase) = (None, None);
        for w in words {
            match w.split_once('=') {
                Some(("epochs", v)) => {
                    epochs = Some(parse_value(path, "pretrain line", "epochs", v, "a count")?)
                }
                Some(("phase", v)) => phase = Some(v),
                _ => return Err(bad("pretrain line", pre.to_string())),
            }
        }
        let pretrain_epochs = epochs.ok_or_else(|| bad("pretrain line", pre.to_string()))?;
        let finetune = match phase {
            Some("finetune") => true,
            Some("pretrain") => false,
            _ => return Err(bad("pretrain line", pre.to_string())),
        };
        let pretrain = match kind {
            Some("ae") => Pretrain::Ae(
                AeConfig::from_spec(layer)
                    .map_err(|e| bad("pretrain-layer line", e.to_string()))?,
            ),
            Some("rbm") => {
                let s = &config.sizes;
                Pretrain::Rbm(parse_rbm_config(
                    layer,
                    (VisibleUnits::Bernoulli, s[0], s[1]),
                    false,
                    path,
                    "pretrain-layer line",
                )?)
            }
            _ => return Err(bad("pretrain line", pre.to_string())),
        };
        Ok((
            DeepAeSpec {
                config,
                pretrain,
                pretrain_epochs,
            },
            finetune,
        ))
    }

    /// The stack of `layers` unrolled into a deep autoencoder with the
    /// spec's loss and code noise (what a file still in pretraining is
    /// used as).
    pub fn unroll(&self, layers: &[PretrainedLayer]) -> Result<Autoencoder> {
        let stack = Stack {
            sizes: self.config.sizes[..=layers.len()].to_vec(),
            layers: layers.to_vec(),
        };
        let mut ae = stack.unroll(self.config.loss, 0)?;
        ae.set_code_noise(self.config.code_noise)?;
        Ok(ae)
    }
}

/// A layer of a deep autoencoder in pretraining: the model that trains it.
#[derive(Debug)]
pub enum LayerModel {
    /// A one-layer autoencoder.
    Ae(Box<Autoencoder>),
    /// An RBM.
    Rbm(Box<Rbm>),
}

impl LayerModel {
    /// The pretrained layer this model gives.
    pub fn layer(&self) -> Result<PretrainedLayer> {
        Ok(match self {
            LayerModel::Ae(a) => PretrainedLayer::from_autoencoder(a, None)?,
            LayerModel::Rbm(r) => PretrainedLayer::from_rbm(r, None),
        })
    }
}

/// A deep-ae file's state: the fine-tuned model or the pretraining layers
/// present so far (the last possibly unfinished).
#[derive(Debug)]
pub enum DeepAeState {
    /// Pretraining: one model per layer present, bottom first.
    Pretraining(Vec<LayerModel>),
    /// Fine-tuning: the unrolled model.
    FineTuning(Box<Autoencoder>),
}

/// Reads a deep-ae file's setup and state.
pub fn deep_ae_state(ck: &Checkpoint, path: &Path) -> Result<(DeepAeSpec, DeepAeState)> {
    let (spec, finetune) = DeepAeSpec::parse(&ck.hyperparameters, path)?;
    if finetune {
        let mut ae = Autoencoder::new(spec.config.clone(), 0)?;
        load_params(
            ck,
            "",
            latent_engine::train::Model::params_mut(&mut ae),
            path,
        )?;
        return Ok((spec, DeepAeState::FineTuning(Box::new(ae))));
    }
    let depth = spec.config.depth();
    let mut layers = Vec::new();
    let present = |l: usize| {
        let prefix = format!("layer{l}.");
        ck.params
            .tensors()
            .iter()
            .any(|t| t.name.starts_with(&prefix))
    };
    while layers.len() < depth && present(layers.len()) {
        let l = layers.len();
        let prefix = format!("layer{l}.");
        layers.push(match &spec.pretrain {
            Pretrain::Ae(t) => {
                let mut ae = Autoencoder::new(spec.layer_ae(t, l), 0)?;
                load_params(
                    ck,
                    &prefix,
                    latent_engine::train::Model::params_mut(&mut ae),
                    path,
                )?;
                LayerModel::Ae(Box::new(ae))
            }
            Pretrain::Rbm(_) => {
                let line = hyper_line(&ck.hyperparameters, "pretrain-layer").unwrap_or("");
                let layer = load_rbm(ck, &prefix, line, VisibleUnits::Bernoulli, false, path)?;
                LayerModel::Rbm(Box::new(layer))
            }
        });
    }
    if layers.is_empty() {
        return Err(ModelError::mismatch(
            format!(
                "{}: tensors of a deep-ae model in pretraining",
                path.display()
            ),
            "layer0.…",
            "none",
        ));
    }
    Ok((spec, DeepAeState::Pretraining(layers)))
}

/// The `epochs=` target of a file's `train:` line.
pub fn target_epochs(ck: &Checkpoint) -> Option<usize> {
    hyper_value(hyper_line(&ck.hyperparameters, "train")?, "epochs")?
        .parse()
        .ok()
}
