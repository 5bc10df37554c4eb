//! Classifier files (`classifier`): the network's sizes, classes and
//! activations, how its hidden layers were pretrained (a DBN's RBMs, one-layer
//! autoencoders, or not at all), how it was validated, and the state of a
//! file in pretraining or fine-tuning.
//!
//! The lines (then `train:`, the fine-tuning's settings, and
//! `preprocess:`):
//!
//! ```text
//! sizes=784,500,500 classes=10 activations=sigmoid,sigmoid
//! pretrain: rbm epochs=5 lr=0.1 phase=finetune
//! pretrain-layer: <layer 0's RBM configuration or AeConfig spec>   (not with none)
//! validation: fraction=0.1 patience=10      (or none, or data; patience=none)
//! early-stop: best_epoch=7                  (only when fine-tuning stopped early)
//! ```
//!
//! In pretraining the tensors are staged as a DBN's (see
//! [`staged`](super::staged)). In fine-tuning the parameters are `W1, c1, …,
//! WL, cL, V, d`: the best validated epoch's (the last epoch's without
//! validation), the model the file is used as; when validated, the last
//! epoch's parameters, from which a resumed run goes on, are the persistent
//! tensors `last.W1, …`.

use std::path::Path;

use latent_engine::Checkpoint;
use latent_engine::train::Model as _;
use latent_kernels::activation::Activation;

use super::deep_ae::LayerModel;
use super::load::{load_params, load_rbm};
use super::text::{hyper_line, hyper_value, parse_rbm_config, parse_value};
use crate::ae::{AeConfig, Autoencoder, Classifier, Loss, PretrainedLayer, Stack};
use crate::error::{ModelError, Result};
use crate::rbm::{RbmConfig, VisibleUnits};

/// The prefix of the last epoch's parameters in a validated file.
pub const LAST_PREFIX: &str = "last.";

/// How a classifier's hidden layers are pretrained.
#[derive(Debug, Clone, PartialEq)]
pub enum ClassifierPretrain {
    /// Not at all: fine-tuning starts from random weights.
    None,
    /// As a DBN: Bernoulli RBMs with this configuration (sizes replaced per
    /// layer), CD-k with SGD and momentum.
    Rbm(RbmConfig),
    /// As a stacked autoencoder: one-layer autoencoders; this is layer 0's
    /// configuration (see [`ClassifierSpec::layer_ae`]).
    Ae(AeConfig),
}

impl ClassifierPretrain {
    /// `none`, `rbm` or `ae`.
    pub fn name(&self) -> &'static str {
        match self {
            ClassifierPretrain::None => "none",
            ClassifierPretrain::Rbm(_) => "rbm",
            ClassifierPretrain::Ae(_) => "ae",
        }
    }
}

/// Where fine-tuning's validation data comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Validation {
    /// No validation: the last epoch's parameters are kept.
    None,
    /// This fraction of the training rows, held out (chosen from the seed).
    Fraction(f32),
    /// Separate validation data and labels.
    Data,
}

/// A classifier's setup: the network, its pretraining, its validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierSpec {
    /// `[V, H_1, …, H_L]` (`[V]` alone: softmax regression on the input).
    pub sizes: Vec<usize>,
    /// The activation of each hidden layer.
    pub activations: Vec<Activation>,
    /// Classes of the softmax.
    pub classes: usize,
    /// How the hidden layers are pretrained.
    pub pretrain: ClassifierPretrain,
    /// Epochs of pretraining per layer.
    pub pretrain_epochs: usize,
    /// The pretraining's learning rate.
    pub pretrain_lr: f32,
    /// Fine-tuning's validation data.
    pub validation: Validation,
    /// Stop fine-tuning after this many epochs without a better validation
    /// error (`None`: train every epoch; the best epoch is kept anyway).
    pub patience: Option<usize>,
}

impl ClassifierSpec {
    /// Hidden layers.
    pub fn depth(&self) -> usize {
        self.sizes.len() - 1
    }

    /// The one-layer autoencoder that pretrains layer `l` (from the template
    /// `t`, layer 0's): its sizes and activation, and cross-entropy only
    /// where its input is in `[0, 1]` (the data layer with the template's
    /// loss, a sigmoid layer below), else squared error.
    pub fn layer_ae(&self, t: &AeConfig, l: usize) -> AeConfig {
        let mut c = t.clone();
        c.sizes = vec![self.sizes[l], self.sizes[l + 1]];
        c.activations = vec![self.activations[l]];
        let unit_input = l == 0 || self.activations[l - 1] == Activation::Sigmoid;
        if !(unit_input && t.loss == Loss::CrossEntropy) {
            c.loss = Loss::SquaredError;
        }
        c
    }

    /// The RBM that pretrains layer `l`.
    pub fn layer_rbm(&self, rc: &RbmConfig, l: usize) -> RbmConfig {
        RbmConfig {
            n_visible: self.sizes[l],
            n_hidden: self.sizes[l + 1],
            ..*rc
        }
    }

    /// The file's lines (`finetune`: the fine-tuning phase, else
    /// pretraining; `early`: the best epoch when fine-tuning stopped early).
    pub fn lines(&self, finetune: bool, early: Option<usize>) -> String {
        let sizes: Vec<String> = self.sizes.iter().map(|s| s.to_string()).collect();
        let acts: Vec<&str> = self.activations.iter().map(|a| a.name()).collect();
        let acts = if acts.is_empty() {
            "none".to_string()
        } else {
            acts.join(",")
        };
        let phase = if finetune { "finetune" } else { "pretrain" };
        let mut text = format!(
            "sizes={} classes={} activations={acts}\npretrain: {} epochs={} lr={} phase={phase}",
            sizes.join(","),
            self.classes,
            self.pretrain.name(),
            self.pretrain_epochs,
            self.pretrain_lr,
        );
        match &self.pretrain {
            ClassifierPretrain::None => {}
            ClassifierPretrain::Rbm(rc) => {
                text.push_str(&format!("\npretrain-layer: {}", rc.to_text()))
            }
            ClassifierPretrain::Ae(t) => {
                text.push_str(&format!("\npretrain-layer: {}", t.to_spec()))
            }
        }
        let validation = match self.validation {
            Validation::None => "none".to_string(),
            Validation::Fraction(f) => format!("fraction={f}"),
            Validation::Data => "data".to_string(),
        };
        let patience = self.patience.map_or("none".into(), |p| p.to_string());
        text.push_str(&format!("\nvalidation: {validation} patience={patience}"));
        if let Some(e) = early {
            text.push_str(&format!("\nearly-stop: best_epoch={e}"));
        }
        text
    }

    /// Reads the setup from a classifier file's text; also says whether the
    /// file is in fine-tuning and, when fine-tuning stopped early, its best
    /// epoch.
    pub fn parse(text: &str, path: &Path) -> Result<(ClassifierSpec, bool, Option<usize>)> {
        let bad = bad_line(path);
        let first = text.lines().next().unwrap_or("");
        let get = |key| hyper_value(first, key).ok_or_else(|| bad("first line", first));
        let sizes = crate::ae::parse_sizes(get("sizes")?).map_err(|_| bad("first line", first))?;
        let what = "first line";
        let classes: usize = parse_value(path, what, "classes", get("classes")?, "a count")?;
        let activations = match get("activations")? {
            "none" => Vec::new(),
            a => crate::ae::parse_activations(a).map_err(|_| bad("first line", first))?,
        };
        if activations.len() + 1 != sizes.len() || classes < 2 {
            return Err(bad("first line", first));
        }
        let (pretrain, pretrain_epochs, pretrain_lr, finetune) =
            parse_pretrain(text, &sizes, path)?;
        let (validation, patience) = parse_validation(text, path)?;
        let early = match hyper_line(text, "early-stop") {
            None => None,
            Some(l) => {
                let e = hyper_value(l, "best_epoch").ok_or_else(|| bad("early-stop line", l))?;
                let what = "early-stop line";
                Some(parse_value(path, what, "best_epoch", e, "an epoch")?)
            }
        };
        let spec = ClassifierSpec {
            sizes,
            activations,
            classes,
            pretrain,
            pretrain_epochs,
            pretrain_lr,
            validation,
            patience,
        };
        Ok((spec, finetune, early))
    }

    /// The classifier of `layers` (the pretrained layers, all of them)
    /// topped with a fresh softmax seeded with `seed`: where fine-tuning
    /// starts.
    pub fn classifier_on(&self, layers: &[PretrainedLayer], seed: u64) -> Result<Classifier> {
        let stack = Stack {
            sizes: self.sizes[..=layers.len()].to_vec(),
            layers: layers.to_vec(),
        };
        stack.classifier(self.classes, seed)
    }
}

/// The error of a line (`what`) of the classifier file at `path` that
/// does not read (`found`).
fn bad_line(path: &Path) -> impl Fn(&str, &str) -> ModelError + '_ {
    move |what, found| {
        ModelError::mismatch(
            format!("{}: {what} of a classifier model file", path.display()),
            "a line written by latent train classifier",
            format!("{found:?}"),
        )
    }
}

/// The `pretrain:` and `pretrain-layer:` lines of a classifier of `sizes`:
/// how, for how many epochs per layer and at which rate it is pretrained,
/// and whether the file is in fine-tuning.
fn parse_pretrain(
    text: &str,
    sizes: &[usize],
    path: &Path,
) -> Result<(ClassifierPretrain, usize, f32, bool)> {
    let bad = bad_line(path);
    let what = "pretrain line";
    let pre = hyper_line(text, "pretrain").ok_or_else(|| bad(what, ""))?;
    let value = |key| hyper_value(pre, key).ok_or_else(|| bad(what, pre));
    let epochs = parse_value(path, what, "epochs", value("epochs")?, "a count")?;
    let lr = parse_value(path, what, "lr", value("lr")?, "a number")?;
    let finetune = match value("phase")? {
        "finetune" => true,
        "pretrain" => false,
        _ => return Err(bad(what, pre)),
    };
    let layer_what = "pretrain-layer line";
    let layer = || hyper_line(text, "pretrain-layer").ok_or_else(|| bad(layer_what, ""));
    let pretrain = match pre.split_whitespace().next() {
        Some("none") => ClassifierPretrain::None,
        Some("rbm") if sizes.len() > 1 => ClassifierPretrain::Rbm(parse_rbm_config(
            layer()?,
            (VisibleUnits::Bernoulli, sizes[0], sizes[1]),
            false,
            path,
            layer_what,
        )?),
        Some("ae") if sizes.len() > 1 => {
            let line = layer()?;
            ClassifierPretrain::Ae(AeConfig::from_spec(line).map_err(|_| bad(layer_what, line))?)
        }
        _ => return Err(bad(what, pre)),
    };
    Ok((pretrain, epochs, lr, finetune))
}

/// The `validation:` line.
fn parse_validation(text: &str, path: &Path) -> Result<(Validation, Option<usize>)> {
    let line = hyper_line(text, "validation").unwrap_or("none patience=none");
    let what = "validation line";
    let bad = || {
        ModelError::mismatch(
            format!("{}: {what} of a classifier model file", path.display()),
            "none, data or fraction=F, then patience=P or patience=none",
            format!("{line:?}"),
        )
    };
    let validation = match line.split_whitespace().next() {
        Some("none") => Validation::None,
        Some("data") => Validation::Data,
        Some(w) if w.starts_with("fraction=") => {
            let f: f32 = parse_value(
                path,
                what,
                "fraction",
                &w["fraction=".len()..],
                "a number in (0, 1)",
            )?;
            if !(f > 0.0 && f < 1.0) {
                return Err(bad());
            }
            Validation::Fraction(f)
        }
        _ => return Err(bad()),
    };
    let patience = match hyper_value(line, "patience") {
        None | Some("none") => None,
        Some(p) => Some(parse_value(path, what, "patience", p, "a count")?),
    };
    Ok((validation, patience))
}

/// A classifier file's state.
#[derive(Debug)]
pub enum ClassifierState {
    /// Pretraining: one model per layer present, bottom first (the last
    /// possibly unfinished).
    Pretraining(Vec<LayerModel>),
    /// Fine-tuning: the classifier as the file is used (the best epoch's
    /// parameters when validated), and the last epoch's parameters when
    /// they are stored apart.
    FineTuning(Box<Classifier>, Option<Box<Classifier>>),
}

/// Reads a classifier file's setup, its state and (fine-tuning stopped
/// early) the best epoch.
pub fn classifier_state(
    ck: &Checkpoint,
    path: &Path,
) -> Result<(ClassifierSpec, ClassifierState, Option<usize>)> {
    let (spec, finetune, early) = ClassifierSpec::parse(&ck.hyperparameters, path)?;
    if finetune || spec.pretrain == ClassifierPretrain::None {
        let mut clf = Classifier::new(&spec.sizes, &spec.activations, spec.classes, 0)?;
        load_params(ck, "", clf.params_mut(), path)?;
        let last = if ck
            .persistent
            .iter()
            .any(|t| t.name.starts_with(LAST_PREFIX))
        {
            let mut last = Classifier::new(&spec.sizes, &spec.activations, spec.classes, 0)?;
            load_last(ck, &mut last, path)?;
            Some(Box::new(last))
        } else {
            None
        };
        return Ok((
            spec,
            ClassifierState::FineTuning(Box::new(clf), last),
            early,
        ));
    }
    let mut layers = Vec::new();
    let present = |l: usize| ck.params.get(&format!("layer{l}.W")).is_some();
    while layers.len() < spec.depth() && present(layers.len()) {
        let l = layers.len();
        let prefix = format!("layer{l}.");
        layers.push(match &spec.pretrain {
            ClassifierPretrain::Ae(t) => {
                let mut ae = Autoencoder::new(spec.layer_ae(t, l), 0)?;
                load_params(ck, &prefix, ae.params_mut(), path)?;
                LayerModel::Ae(Box::new(ae))
            }
            _ => {
                let line = hyper_line(&ck.hyperparameters, "pretrain-layer").unwrap_or("");
                let rbm = load_rbm(ck, &prefix, line, VisibleUnits::Bernoulli, false, path)?;
                LayerModel::Rbm(Box::new(rbm))
            }
        });
    }
    if layers.is_empty() {
        return Err(ModelError::mismatch(
            format!("{}: tensors of a classifier in pretraining", path.display()),
            "layer0.W, …",
            "none",
        ));
    }
    Ok((spec, ClassifierState::Pretraining(layers), early))
}

/// Copies the persistent tensors `last.{name}` into `clf`'s parameters.
fn load_last(ck: &Checkpoint, clf: &mut Classifier, path: &Path) -> Result<()> {
    let mut tmp = Checkpoint {
        params: latent_engine::ParamSet::new(),
        ..ck.clone()
    };
    for t in ck
        .persistent
        .iter()
        .filter(|t| t.name.starts_with(LAST_PREFIX))
    {
        tmp.params.push(t.name.clone(), t.role, t.value.clone())?;
    }
    load_params(&tmp, LAST_PREFIX, clf.params_mut(), path)
}
