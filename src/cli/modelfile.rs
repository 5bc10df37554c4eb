//! Model files: the engine's [`Checkpoint`] format (versioned, checksummed,
//! written atomically), with these conventions on top.
//!
//! The model kind is the name `latent train` takes. The hyper-parameter
//! text is a few lines: the model's own (first), then `train:` (the
//! training settings, the defaults of a `--resume`) and `preprocess:`
//! (last).
//!
//! | kind | first line(s) | parameters |
//! | --- | --- | --- |
//! | `rbm`, `gaussian-rbm` | the `RbmConfig` (`visible=… n_visible=… n_hidden=… cd_k=… …`) | `W` (`V x H`), `b` (`1 x V`), `c` (`1 x H`) |
//! | `dbn` | `layers=784,500,250 bottom=bernoulli` (the sizes asked for), then `layer0: <RbmConfig>` per layer trained | `layer0.W`, `layer0.b`, `layer0.c`, `layer1.W`, … bottom first |
//! | `ae` | the `AeConfig` spec (`sizes=784,256 activations=sigmoid tied=false loss=cross-entropy sparsity=none noise=mask:0.3 contractive=none init_std=none`, see `latent_models::ae::spec`) | `W1, c1, …, WL, cL`, then per layer from the top the decoder's `WdL` (untied only) and `bL` |
//! | `vae` | the `VaeConfig` spec (`sizes=784,256 activations=relu latent=20 output=bernoulli init_std=none`) | `W1, c1, …, Wmu, bmu, Wlv, blv, Wd…, b…` |
//! | `deep-ae` | the deep `AeConfig` spec; `pretrain: ae\|rbm epochs=N phase=pretrain\|finetune`; `pretrain-layer: <spec of layer 0's AeConfig or the RbmConfig>` | `phase=finetune`: as `ae`; `phase=pretrain`: each pretraining layer's own tensors under `layer0.`, `layer1.`, … |
//!
//! Every file also holds the optimiser state, the random streams, the
//! persistent model state (PCD chains, …) and one history record per epoch
//! of the model in training; with `--resume` training continues exactly
//! where it stopped. Files written while a model is trained in stages (a
//! DBN's layers, a deep autoencoder's pretraining layers) hold the
//! finished stages' tensors and the stage in training, whose optimiser and
//! persistent state (under its `layer{l}.` prefix) are the file's; their
//! history records carry a metric `layer`. A deep autoencoder still in
//! pretraining is used as the stack pretrained so far, unrolled.
//!
//! `train:` is `train: epochs=10 optimizer=sgd lr=0.1 weight_decay=0.0001
//! momentum=hinton batch=100 seed=0` (`momentum` for SGD only). The
//! `preprocess:` line is `preprocess: none`, `preprocess: scale LO HI`,
//! `preprocess: binarize LO HI T` or `preprocess: standardize` (with
//! persistent tensors `preprocess.mean` and `preprocess.std`, `1 x V`), so
//! `encode`, `eval`, … apply exactly what training applied: `scale LO HI`
//! maps `[LO, HI]` onto `[0, 1]` (values outside are an error), `binarize`
//! then thresholds at `T`, `standardize` subtracts `preprocess.mean` and
//! divides by `preprocess.std`.

use std::path::Path;

use latent_engine::checkpoint::EpochRecord;
use latent_engine::preprocess::{Standardizer, binarise_threshold, scale_to_unit};
use latent_engine::train::Model as _;
use latent_engine::{Checkpoint, Matrix, ParamSet, Role, Tensor};
use latent_kernels::activation::Activation;
use latent_models::ae::{AeConfig, Autoencoder, Loss, PretrainedLayer, Stack, Vae, VaeConfig};
use latent_models::dbn::Dbn;
use latent_models::rbm::{Rbm, RbmConfig, Sparsity, VisibleUnits};

use crate::cli::error::{CliError, Result};

/// What is done to data before the model sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Preprocess {
    /// Nothing: the data is used as it is.
    None,
    /// `[lo, hi]` mapped linearly onto `[0, 1]`.
    Scale {
        /// The value mapped to 0.
        lo: f32,
        /// The value mapped to 1.
        hi: f32,
    },
    /// Scaled, then 1 where the scaled value is above `threshold`, else 0.
    Binarize {
        /// The value mapped to 0.
        lo: f32,
        /// The value mapped to 1.
        hi: f32,
        /// The threshold in `[0, 1]`.
        threshold: f32,
    },
    /// Per-feature standardisation with saved statistics.
    Standardize(Standardizer),
}

impl Preprocess {
    /// The one-line description stored in model files.
    pub fn describe(&self) -> String {
        match self {
            Preprocess::None => "none".into(),
            Preprocess::Scale { lo, hi } => format!("scale {lo} {hi}"),
            Preprocess::Binarize { lo, hi, threshold } => {
                format!("binarize {lo} {hi} {threshold}")
            }
            Preprocess::Standardize(_) => "standardize".into(),
        }
    }

    /// Whether the transformed data is known to lie in `[0, 1]`.
    pub fn maps_to_unit(&self) -> bool {
        matches!(self, Preprocess::Scale { .. } | Preprocess::Binarize { .. })
    }

    /// Applies the transform in place; `what` names the data in errors.
    pub fn apply(&self, x: &mut Matrix, what: &Path) -> Result<()> {
        let wrap = |e: latent_engine::EngineError| {
            CliError::mismatch(
                format!("{}: preprocessing ({})", what.display(), self.describe()),
                "values the model's preprocessing accepts",
                e,
            )
        };
        match self {
            Preprocess::None => Ok(()),
            Preprocess::Scale { lo, hi } => scale_to_unit(x, *lo, *hi).map_err(wrap),
            Preprocess::Binarize { lo, hi, threshold } => {
                scale_to_unit(x, *lo, *hi).map_err(wrap)?;
                binarise_threshold(x, *threshold).map_err(wrap)
            }
            Preprocess::Standardize(s) => {
                if s.mean.len() != x.cols() {
                    return Err(CliError::mismatch(
                        format!("{}: columns vs the model's standardiser", what.display()),
                        s.mean.len(),
                        x.cols(),
                    ));
                }
                s.transform(x).map_err(wrap)
            }
        }
    }

    /// Maps model-space values back to data space where that is defined
    /// (standardisation); scaled data stays in `[0, 1]`.
    pub fn invert(&self, x: &mut Matrix) -> Result<()> {
        if let Preprocess::Standardize(s) = self {
            s.inverse_transform(x)?;
        }
        Ok(())
    }

    fn tensors(&self) -> Result<Vec<Tensor>> {
        Ok(match self {
            Preprocess::Standardize(s) => vec![
                Tensor {
                    name: "preprocess.mean".into(),
                    role: Role::Other,
                    value: Matrix::from_slice(1, s.mean.len(), &s.mean)?,
                },
                Tensor {
                    name: "preprocess.std".into(),
                    role: Role::Other,
                    value: Matrix::from_slice(1, s.std.len(), &s.std)?,
                },
            ],
            _ => Vec::new(),
        })
    }

    fn parse(line: &str, persistent: &[Tensor], path: &Path) -> Result<Preprocess> {
        let bad = || {
            CliError::mismatch(
                format!("{}: preprocessing line of the model file", path.display()),
                "none | scale LO HI | binarize LO HI T | standardize",
                line,
            )
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| -> Result<f32> {
            words
                .get(i)
                .and_then(|w| w.parse::<f32>().ok())
                .ok_or_else(bad)
        };
        Ok(match words.first().copied() {
            None | Some("none") => Preprocess::None,
            Some("scale") => Preprocess::Scale {
                lo: num(1)?,
                hi: num(2)?,
            },
            Some("binarize") => Preprocess::Binarize {
                lo: num(1)?,
                hi: num(2)?,
                threshold: num(3)?,
            },
            Some("standardize") => {
                let get = |name: &str| {
                    persistent
                        .iter()
                        .find(|t| t.name == name)
                        .map(|t| t.value.as_slice().to_vec())
                        .ok_or_else(|| {
                            CliError::mismatch(
                                format!("{}: standardised model", path.display()),
                                format!("a tensor {name}"),
                                "none",
                            )
                        })
                };
                Preprocess::Standardize(Standardizer {
                    mean: get("preprocess.mean")?,
                    std: get("preprocess.std")?,
                })
            }
            Some(_) => return Err(bad()),
        })
    }
}

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

    /// The file's lines for this setup (`phase` is `pretrain` or
    /// `finetune`).
    pub fn lines(&self, phase: &str) -> String {
        let (kind, layer) = match &self.pretrain {
            Pretrain::Ae(t) => ("ae", t.to_spec()),
            Pretrain::Rbm(rc) => ("rbm", rbm_text(rc)),
        };
        format!(
            "{}\npretrain: {kind} epochs={} phase={phase}\npretrain-layer: {layer}",
            self.config.to_spec(),
            self.pretrain_epochs,
        )
    }

    /// Reads the setup from a deep-ae file's lines; also says whether the
    /// file is in the fine-tuning phase.
    fn parse(text: &str, path: &Path) -> Result<(DeepAeSpec, bool)> {
        let bad = |what: &str, e: String| {
            CliError::mismatch(
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
        let pretrain_epochs = hyper_value(pre, "epochs")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad("pretrain line", pre.to_string()))?;
        let finetune = match hyper_value(pre, "phase") {
            Some("finetune") => true,
            Some("pretrain") => false,
            _ => return Err(bad("pretrain line", pre.to_string())),
        };
        let pretrain = match pre.split_whitespace().next() {
            Some("ae") => Pretrain::Ae(
                AeConfig::from_spec(layer)
                    .map_err(|e| bad("pretrain-layer line", e.to_string()))?,
            ),
            Some("rbm") => {
                let s = &config.sizes;
                Pretrain::Rbm(rbm_config(layer, VisibleUnits::Bernoulli, s[0], s[1]))
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
}

/// The text of an RBM configuration, as an RBM's checkpoint stores it.
pub fn rbm_text(rc: &RbmConfig) -> String {
    Rbm::new(*rc, 0).map_or_else(|e| format!("invalid: {e}"), |r| r.hyperparameters())
}

/// A model the command line can use.
#[derive(Debug)]
pub enum Model {
    /// A Bernoulli or Gaussian RBM.
    Rbm(Box<Rbm>),
    /// A deep belief net.
    Dbn(Dbn),
    /// An autoencoder (plain, sparse, denoising or contractive).
    Ae(Box<Autoencoder>),
    /// A variational autoencoder.
    Vae(Box<Vae>),
    /// A deep autoencoder (pretrained layer-wise; fine-tuned, or the stack
    /// so far unrolled while still in pretraining).
    DeepAe(Box<Autoencoder>),
}

impl Model {
    /// Visible units (columns the data must have).
    pub fn n_visible(&self) -> usize {
        match self {
            Model::Rbm(r) => r.config().n_visible,
            Model::Dbn(d) => d.sizes()[0],
            Model::Ae(a) | Model::DeepAe(a) => a.n_visible(),
            Model::Vae(v) => v.config().sizes[0],
        }
    }

    /// Layer sizes: `[V, H]`, `[V, H1, H2, …]`, or for a VAE
    /// `[V, H1, …, Z]` (the latent last).
    pub fn sizes(&self) -> Vec<usize> {
        match self {
            Model::Rbm(r) => vec![r.config().n_visible, r.config().n_hidden],
            Model::Dbn(d) => d.sizes(),
            Model::Ae(a) | Model::DeepAe(a) => a.config().sizes.clone(),
            Model::Vae(v) => {
                let mut s = v.config().sizes.clone();
                s.push(v.latent());
                s
            }
        }
    }

    /// The weights of the first layer (`V x H`): the RBM's, the DBN's
    /// bottom RBM's, the first encoder layer's (a VAE without hidden
    /// layers: its mean head's).
    pub fn first_weights(&self) -> &Matrix {
        match self {
            Model::Rbm(r) => r.weights(),
            Model::Dbn(d) => d.layers()[0].weights(),
            Model::Ae(a) | Model::DeepAe(a) => a.params().value(0),
            Model::Vae(v) => v.params().value(0),
        }
    }

    /// Whether the model's inputs and outputs are in `[0, 1]` (binary
    /// visibles, a cross-entropy loss, a Bernoulli decoder).
    pub fn unit_outputs(&self) -> bool {
        match self {
            Model::Rbm(r) => r.config().visible == VisibleUnits::Bernoulli,
            Model::Dbn(d) => d.layers()[0].config().visible == VisibleUnits::Bernoulli,
            Model::Ae(a) | Model::DeepAe(a) => a.config().loss == Loss::CrossEntropy,
            Model::Vae(v) => v.config().output == latent_models::ae::VaeOutput::Bernoulli,
        }
    }
}

/// A loaded model file.
#[derive(Debug)]
pub struct ModelFile {
    /// The checkpoint as stored.
    pub checkpoint: Checkpoint,
    /// The model.
    pub model: Model,
    /// The preprocessing its training data had.
    pub preprocess: Preprocess,
    /// Set when the file was written before training finished (by
    /// `--checkpoint-every`): how far it got, and how to go on.
    pub status: Option<String>,
}

/// Kinds this program reads and writes.
pub const KINDS: &str = "rbm, gaussian-rbm, dbn, ae, vae, deep-ae";

/// The hyper-parameter lines of a model file: the model's own text, and
/// the `preprocess:` line.
fn split_hyper(text: &str) -> (Vec<&str>, &str) {
    let mut model = Vec::new();
    let mut pre = "none";
    for line in text.lines() {
        if let Some(p) = line.strip_prefix("preprocess:") {
            pre = p.trim();
        } else {
            model.push(line);
        }
    }
    (model, pre)
}

/// The rest of the hyper-parameter line that starts with `name:`.
pub fn hyper_line<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|r| r.strip_prefix(':'))
            .map(str::trim)
    })
}

/// `key=value` of a hyper-parameter line (`sparsity=target=…` keeps the
/// rest after the first `=`).
pub fn hyper_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// The RBM configuration stored in a hyper-parameter line, for a model of
/// `v x h` units (sizes come from the tensors; the training settings are
/// read when present and otherwise take their defaults).
pub fn rbm_config(line: &str, visible: VisibleUnits, v: usize, h: usize) -> RbmConfig {
    let mut c = match visible {
        VisibleUnits::Bernoulli => RbmConfig::bernoulli(v, h),
        VisibleUnits::Gaussian => RbmConfig::gaussian(v, h),
    };
    if let Some(k) = hyper_value(line, "cd_k").and_then(|s| s.parse().ok()) {
        c.cd_k = k;
    }
    if let Some(p) = hyper_value(line, "persistent").and_then(|s| s.parse().ok()) {
        c.persistent = p;
    }
    if let Some(p) = hyper_value(line, "sample_visible").and_then(|s| s.parse().ok()) {
        c.sample_visible = p;
    }
    if let Some(p) = hyper_value(line, "init_std").and_then(|s| s.parse().ok()) {
        c.init_std = p;
    }
    if let Some(p) = hyper_value(line, "learn_sigma").and_then(|s| s.parse().ok()) {
        c.learn_sigma = p;
    }
    if let (Some(t), Some(k), Some(d)) = (
        hyper_value(line, "sparsity")
            .and_then(|s| s.strip_prefix("target="))
            .and_then(|s| s.parse().ok()),
        hyper_value(line, "cost").and_then(|s| s.parse().ok()),
        hyper_value(line, "decay").and_then(|s| s.parse().ok()),
    ) {
        c.sparsity = Some(Sparsity {
            target: t,
            cost: k,
            decay: d,
        });
    }
    c
}

fn tensor<'a>(ck: &'a Checkpoint, name: &str, path: &Path) -> Result<&'a Matrix> {
    ck.params.get(name).ok_or_else(|| {
        CliError::mismatch(
            format!("{}: tensors of a {} model", path.display(), ck.model_kind),
            format!("a tensor {name:?}"),
            format!(
                "{:?}",
                ck.params
                    .tensors()
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
            ),
        )
    })
}

/// Builds an RBM from the tensors `{prefix}W`, `{prefix}b`, `{prefix}c`.
pub fn load_rbm(
    ck: &Checkpoint,
    prefix: &str,
    line: &str,
    visible: VisibleUnits,
    path: &Path,
) -> Result<Rbm> {
    let w = tensor(ck, &format!("{prefix}W"), path)?;
    let b = tensor(ck, &format!("{prefix}b"), path)?;
    let c = tensor(ck, &format!("{prefix}c"), path)?;
    let (v, h) = w.shape();
    if b.len() != v || c.len() != h {
        return Err(CliError::mismatch(
            format!("{}: bias lengths of {prefix}W ({v} x {h})", path.display()),
            format!("{prefix}b {v}, {prefix}c {h}"),
            format!("{prefix}b {}, {prefix}c {}", b.len(), c.len()),
        ));
    }
    let config = rbm_config(line, visible, v, h);
    let mut rbm = Rbm::from_params(config, w.as_slice(), b.as_slice(), c.as_slice())?;
    if config.learn_sigma {
        let log_sigma = tensor(ck, &format!("{prefix}log_sigma"), path)?;
        if log_sigma.len() != v {
            return Err(CliError::mismatch(
                format!("{}: length of {prefix}log_sigma", path.display()),
                v.to_string(),
                log_sigma.len().to_string(),
            ));
        }
        rbm.params_mut()
            .value_mut(latent::models::rbm::LOG_SIGMA)
            .as_mut_slice()
            .copy_from_slice(log_sigma.as_slice());
    }
    Ok(rbm)
}

/// Copies the tensors `{prefix}{name}` of a checkpoint into `params` (every
/// one of them, same shapes), naming the file and the tensor on a mismatch.
pub fn load_params(
    ck: &Checkpoint,
    prefix: &str,
    params: &mut ParamSet,
    path: &Path,
) -> Result<()> {
    for t in params.tensors_mut() {
        let src = tensor(ck, &format!("{prefix}{}", t.name), path)?;
        if src.shape() != t.value.shape() {
            return Err(CliError::mismatch(
                format!("{}: shape of {prefix}{}", path.display(), t.name),
                format!("{} x {}", t.value.rows(), t.value.cols()),
                format!("{} x {}", src.rows(), src.cols()),
            ));
        }
        t.value.copy_from(src)?;
    }
    let expected = params.len();
    let found = ck
        .params
        .tensors()
        .iter()
        .filter(|t| {
            t.name.starts_with(prefix)
                && (prefix.is_empty() || !t.name[prefix.len()..].contains('.'))
        })
        .count();
    if found != expected {
        return Err(CliError::mismatch(
            format!(
                "{}: tensors{}",
                path.display(),
                if prefix.is_empty() {
                    String::new()
                } else {
                    format!(" under {prefix}")
                }
            ),
            expected,
            found,
        ));
    }
    Ok(())
}

/// The layers of a DBN file (as many as were trained), bottom first.
pub fn dbn_layers(ck: &Checkpoint, path: &Path) -> Result<Vec<Rbm>> {
    let text = &ck.hyperparameters;
    let first = text.lines().next().unwrap_or("");
    let bottom = match hyper_value(first, "bottom") {
        Some("gaussian") => VisibleUnits::Gaussian,
        _ => VisibleUnits::Bernoulli,
    };
    let mut layers = Vec::new();
    while ck.params.get(&format!("layer{}.W", layers.len())).is_some() {
        let l = layers.len();
        let line = hyper_line(text, &format!("layer{l}")).unwrap_or("");
        let units = if l == 0 {
            bottom
        } else {
            VisibleUnits::Bernoulli
        };
        layers.push(load_rbm(ck, &format!("layer{l}."), line, units, path)?);
    }
    if layers.is_empty() {
        return Err(CliError::mismatch(
            format!("{}: tensors of a dbn model", path.display()),
            "layer0.W, layer0.b, layer0.c, …",
            "no layer0.W",
        ));
    }
    Ok(layers)
}

/// The target sizes of a DBN file (its `layers=` word).
pub fn dbn_target(ck: &Checkpoint) -> Option<Vec<usize>> {
    let first = ck.hyperparameters.lines().next()?;
    latent_models::ae::parse_sizes(hyper_value(first, "layers")?).ok()
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

/// A deep-ae file: its setup, and either the fine-tuned model or the
/// pretraining layers present so far (the last possibly unfinished).
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
        load_params(ck, "", ae.params_mut(), path)?;
        return Ok((spec, DeepAeState::FineTuning(Box::new(ae))));
    }
    let depth = spec.config.depth();
    let mut layers = Vec::new();
    while layers.len() < depth
        && ck
            .params
            .tensors()
            .iter()
            .any(|t| t.name.starts_with(&format!("layer{}.", layers.len())))
    {
        let l = layers.len();
        let prefix = format!("layer{l}.");
        layers.push(match &spec.pretrain {
            Pretrain::Ae(t) => {
                let mut ae = Autoencoder::new(spec.layer_ae(t, l), 0)?;
                load_params(ck, &prefix, ae.params_mut(), path)?;
                LayerModel::Ae(Box::new(ae))
            }
            Pretrain::Rbm(_) => {
                let line = hyper_line(&ck.hyperparameters, "pretrain-layer").unwrap_or("");
                LayerModel::Rbm(Box::new(load_rbm(
                    ck,
                    &prefix,
                    line,
                    VisibleUnits::Bernoulli,
                    path,
                )?))
            }
        });
    }
    if layers.is_empty() {
        return Err(CliError::mismatch(
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

/// The stack of `layers` unrolled into a deep autoencoder with the spec's
/// loss (what a file still in pretraining is used as).
pub fn unroll(spec: &DeepAeSpec, layers: &[PretrainedLayer]) -> Result<Autoencoder> {
    let stack = Stack {
        sizes: spec.config.sizes[..=layers.len()].to_vec(),
        layers: layers.to_vec(),
    };
    Ok(stack.unroll(spec.config.loss, 0)?)
}

/// Epochs of the history records of stage `layer` (`None`: records
/// without a `layer` metric).
pub fn stage_records(history: &[EpochRecord], layer: Option<usize>) -> Vec<EpochRecord> {
    history
        .iter()
        .filter(|r| record_layer(r) == layer)
        .cloned()
        .map(|mut r| {
            r.metrics.retain(|(k, _)| k != "layer");
            r
        })
        .collect()
}

/// The `layer` metric of a history record.
pub fn record_layer(r: &EpochRecord) -> Option<usize> {
    r.metrics
        .iter()
        .find(|(k, _)| k == "layer")
        .map(|&(_, l)| l as usize)
}

/// The `epochs=` target of a file's `train:` line.
pub fn target_epochs(ck: &Checkpoint) -> Option<usize> {
    hyper_value(hyper_line(&ck.hyperparameters, "train")?, "epochs")?
        .parse()
        .ok()
}

/// Loads a model file.
pub fn load(path: &Path) -> Result<ModelFile> {
    let ck = Checkpoint::load(path)?;
    let (lines, pre) = split_hyper(&ck.hyperparameters);
    let preprocess = Preprocess::parse(pre, &ck.persistent, path)?;
    let first = lines.first().copied().unwrap_or("");
    let config_err = |e: latent_models::ModelError| {
        CliError::mismatch(
            format!(
                "{}: configuration line of the {} model",
                path.display(),
                ck.model_kind
            ),
            "a line written by latent train",
            e,
        )
    };
    let epochs = target_epochs(&ck);
    let unfinished = |done: usize, what: String| {
        epochs.filter(|&n| done < n).map(|n| {
            format!(
                "unfinished: {what}epoch {done} of {n}; continue with latent train {} --resume {}",
                ck.model_kind,
                path.display()
            )
        })
    };
    let mut status: Option<String>;
    let model = match ck.model_kind.as_str() {
        "rbm" | "gaussian-rbm" => {
            let visible = if ck.model_kind == "rbm" {
                VisibleUnits::Bernoulli
            } else {
                VisibleUnits::Gaussian
            };
            status = unfinished(ck.history.len(), String::new());
            Model::Rbm(Box::new(load_rbm(&ck, "", first, visible, path)?))
        }
        "dbn" => {
            let layers = dbn_layers(&ck, path)?;
            let top = layers.len() - 1;
            let target = dbn_target(&ck).map_or(layers.len(), |t| t.len() - 1);
            let done = stage_records(&ck.history, Some(top)).len();
            status = unfinished(done, format!("layer {} of {target}, ", top + 1));
            if status.is_none() && layers.len() < target {
                status = Some(format!(
                    "unfinished: {} of {target} layers; continue with latent train dbn --resume {}",
                    layers.len(),
                    path.display()
                ));
            }
            Model::Dbn(Dbn::from_rbms(layers)?)
        }
        "ae" => {
            let config = AeConfig::from_spec(first).map_err(config_err)?;
            let mut ae = Autoencoder::new(config, 0)?;
            load_params(&ck, "", ae.params_mut(), path)?;
            status = unfinished(ck.history.len(), String::new());
            Model::Ae(Box::new(ae))
        }
        "vae" => {
            let config = VaeConfig::from_spec(first).map_err(config_err)?;
            let mut vae = Vae::new(config, 0)?;
            load_params(&ck, "", vae.params_mut(), path)?;
            status = unfinished(ck.history.len(), String::new());
            Model::Vae(Box::new(vae))
        }
        "deep-ae" => match deep_ae_state(&ck, path)? {
            (_, DeepAeState::FineTuning(ae)) => {
                status = unfinished(
                    stage_records(&ck.history, None).len(),
                    "fine-tuning, ".into(),
                );
                Model::DeepAe(ae)
            }
            (spec, DeepAeState::Pretraining(models)) => {
                let top = models.len() - 1;
                let done = stage_records(&ck.history, Some(top)).len();
                status = Some(format!(
                    "unfinished: pretraining layer {} of {}, epoch {done} of {} (used as the {} layer(s) pretrained so far, unrolled); continue with latent train deep-ae --resume {}",
                    top + 1,
                    spec.config.depth(),
                    spec.pretrain_epochs,
                    models.len(),
                    path.display()
                ));
                let layers = models
                    .iter()
                    .map(LayerModel::layer)
                    .collect::<Result<Vec<_>>>()?;
                Model::DeepAe(Box::new(unroll(&spec, &layers)?))
            }
        },
        other => {
            return Err(CliError::mismatch(
                format!("{}: model kind", path.display()),
                KINDS,
                format!("{other:?}"),
            ));
        }
    };
    if let Preprocess::Standardize(s) = &preprocess
        && s.mean.len() != model.n_visible()
    {
        return Err(CliError::mismatch(
            format!("{}: preprocess.mean length", path.display()),
            model.n_visible(),
            s.mean.len(),
        ));
    }
    Ok(ModelFile {
        checkpoint: ck,
        model,
        preprocess,
        status,
    })
}

/// Finishes a checkpoint for saving: the CLI's model `kind`, the model's
/// own `lines` (first), then the `train:` line `settings` and the
/// `preprocess:` line, and the preprocessing tensors.
pub fn finish(
    ck: &mut Checkpoint,
    kind: &str,
    lines: &str,
    settings: &str,
    pre: &Preprocess,
) -> Result<()> {
    ck.model_kind = kind.to_string();
    ck.hyperparameters = format!(
        "{}\ntrain: {settings}\npreprocess: {}",
        lines.trim_end(),
        pre.describe()
    );
    ck.persistent.retain(|t| !t.name.starts_with("preprocess."));
    ck.persistent.extend(pre.tensors()?);
    Ok(())
}

/// The state a model restores on `--resume` from a single-model file: the
/// checkpoint with the model's own kind (the trainer checks it), without
/// the preprocessing tensors, and with only the history records of
/// `stage` (`None`: records without a `layer` metric).
pub fn resume_state(ck: &Checkpoint, model_kind: &str) -> Checkpoint {
    let mut ck = ck.clone();
    ck.model_kind = model_kind.to_string();
    ck.persistent.retain(|t| !t.name.starts_with("preprocess."));
    ck.history = stage_records(&ck.history, None);
    ck.epoch = ck.history.len() as u64;
    ck
}

/// The state of the stage in training of a staged file (a DBN layer, a
/// deep autoencoder's pretraining layer): its tensors under `layer{l}.`
/// (prefix removed), the file's optimiser state and random streams, its
/// persistent state and its history records.
pub fn stage_state(ck: &Checkpoint, l: usize, model_kind: &str) -> Result<Checkpoint> {
    let prefix = format!("layer{l}.");
    let strip = |ts: &[Tensor]| -> Vec<Tensor> {
        ts.iter()
            .filter_map(|t| {
                t.name.strip_prefix(&prefix).map(|n| Tensor {
                    name: n.to_string(),
                    role: t.role,
                    value: t.value.clone(),
                })
            })
            .collect()
    };
    let mut params = ParamSet::new();
    for t in strip(ck.params.tensors()) {
        params.push(t.name, t.role, t.value)?;
    }
    let history = stage_records(&ck.history, Some(l));
    Ok(Checkpoint {
        model_kind: model_kind.to_string(),
        hyperparameters: String::new(),
        trainer: ck.trainer.clone(),
        epoch: history.len() as u64,
        step: ck.step,
        params,
        optimizer: ck.optimizer.clone(),
        persistent: strip(&ck.persistent),
        rngs: ck.rngs.clone(),
        history,
    })
}

/// A staged file: the finished stages' tensors (`done[l]` under
/// `layer{l}.`), then the stage in training from its trainer's checkpoint
/// `current` (tensors under `layer{done.len()}.`, its optimiser state,
/// random streams and persistent state), and `history` (every stage's
/// records, with their `layer` metric).
pub fn staged_checkpoint(
    done: &[&ParamSet],
    current: &Checkpoint,
    history: Vec<EpochRecord>,
) -> Result<Checkpoint> {
    let mut params = ParamSet::new();
    let top = done.len();
    for (l, p) in done.iter().copied().chain([&current.params]).enumerate() {
        for t in p.tensors() {
            params.push(format!("layer{l}.{}", t.name), t.role, t.value.clone())?;
        }
    }
    Ok(Checkpoint {
        model_kind: String::new(),
        hyperparameters: String::new(),
        trainer: current.trainer.clone(),
        epoch: history.len() as u64,
        step: current.step,
        params,
        optimizer: current.optimizer.clone(),
        persistent: current
            .persistent
            .iter()
            .map(|t| Tensor {
                name: format!("layer{top}.{}", t.name),
                role: t.role,
                value: t.value.clone(),
            })
            .collect(),
        rngs: current.rngs.clone(),
        history,
    })
}

/// `records` with the metric `layer = l` added.
pub fn tag_layer(records: &[EpochRecord], l: usize) -> Vec<EpochRecord> {
    records
        .iter()
        .cloned()
        .map(|mut r| {
            r.metrics.retain(|(k, _)| k != "layer");
            r.metrics.push(("layer".into(), l as f64));
            r
        })
        .collect()
}
