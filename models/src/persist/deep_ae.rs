//! Deep autoencoder files (`deep-ae`): the unrolled model's configuration,
//! how its layers are pretrained, and the state of a file in pretraining or
//! fine-tuning.

use std::path::Path;

use latent_engine::Checkpoint;
use latent_kernels::activation::Activation;

use super::load::{load_params, load_rbm};
use super::text::{bad_value, hyper_line, hyper_value, parse_rbm_config, parse_value};
use crate::ae::{AeConfig, Autoencoder, Loss, PretrainedLayer, Stack};
use crate::error::{ModelError, Result};
use crate::rbm::{HiddenUnits, Rbm, RbmConfig, VisibleUnits};
use crate::train::{Optimizer, Settings};

/// How the layers of a deep autoencoder are pretrained.
#[derive(Debug, Clone, PartialEq)]
pub enum Pretrain {
    /// One-layer autoencoders; this is layer 0's configuration, and layer
    /// `l` differs only in sizes, activation and loss (see
    /// [`DeepAeSpec::layer_ae`]).
    Ae(AeConfig),
    /// Bernoulli-visible RBMs with this configuration (sizes replaced per
    /// layer; linear hiddens on a layer with the identity activation).
    Rbm(RbmConfig),
}

/// The optimiser of a deep autoencoder's layer-by-layer pretraining, set
/// apart from the run's (which then only fine-tunes). Written as words of
/// the file's `pretrain:` line (`optimizer=sgd lr=0.1 momentum=hinton
/// weight_decay=0.0002 linear_lr=0.001`); a file without them pretrains
/// with the run's settings, as before this option existed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PretrainOptimizer {
    /// SGD or Adam.
    pub optimizer: Optimizer,
    /// The learning rate of every layer but the linear (identity) ones.
    pub lr: f32,
    /// A constant SGD momentum (`None`: Hinton's 0.5 for 5 epochs, then
    /// 0.9); SGD only.
    pub momentum: Option<f32>,
    /// L2 weight decay on the weights.
    pub weight_decay: f32,
    /// The learning rate of the layers with the identity activation (a
    /// linear code layer: an RBM with linear hiddens); `None`: `lr`.
    pub linear_lr: Option<f32>,
}

impl PretrainOptimizer {
    /// Hinton & Salakhutdinov (2006, `rbm.m`, `rbmhidlinear.m`): SGD at
    /// 0.1 (0.001 for the linear code layer), momentum 0.5 for 5 epochs
    /// then 0.9, weight decay 0.0002.
    pub fn hinton2006() -> Self {
        PretrainOptimizer {
            optimizer: Optimizer::Sgd,
            lr: 0.1,
            momentum: None,
            weight_decay: 0.0002,
            linear_lr: Some(0.001),
        }
    }

    /// Errors unless the rates are finite and positive, the weight decay
    /// finite and non-negative, and a momentum (SGD only) in `[0, 1)`.
    pub fn validate(&self) -> Result<()> {
        let bad = |what, value: String, expected| {
            Err(ModelError::InvalidConfig {
                what,
                value,
                expected,
            })
        };
        for (what, lr) in [
            ("pretrain lr", Some(self.lr)),
            ("pretrain linear_lr", self.linear_lr),
        ] {
            if let Some(lr) = lr.filter(|lr| !(lr.is_finite() && *lr > 0.0)) {
                return bad(what, lr.to_string(), "a finite number > 0");
            }
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            let value = self.weight_decay.to_string();
            return bad("pretrain weight_decay", value, "a finite number >= 0");
        }
        match (self.optimizer, self.momentum) {
            (_, None) => Ok(()),
            (Optimizer::Adam, Some(m)) => bad(
                "pretrain momentum",
                m.to_string(),
                "none with adam (an sgd setting)",
            ),
            (Optimizer::Sgd, Some(m)) if !(0.0..1.0).contains(&m) => {
                bad("pretrain momentum", m.to_string(), "a number in [0, 1)")
            }
            _ => Ok(()),
        }
    }

    /// The words of the `pretrain:` line, each with a leading space.
    fn words(&self) -> String {
        let momentum = match (self.optimizer, self.momentum) {
            (Optimizer::Adam, _) => String::new(),
            (Optimizer::Sgd, None) => " momentum=hinton".into(),
            (Optimizer::Sgd, Some(m)) => format!(" momentum={m}"),
        };
        let linear = self
            .linear_lr
            .map_or(String::new(), |lr| format!(" linear_lr={lr}"));
        format!(
            " optimizer={} lr={}{momentum} weight_decay={}{linear}",
            self.optimizer.name(),
            self.lr,
            self.weight_decay
        )
    }

    /// Reads the words of [`words`](Self::words) (`key`, `value` pairs);
    /// `None` when there are none.
    fn parse(words: &[(&str, &str)], path: &Path) -> Result<Option<Self>> {
        if words.is_empty() {
            return Ok(None);
        }
        let what = "pretrain line";
        let get = |key: &str| words.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let missing = |key: &str| bad_value(path, what, key, "a value", "(missing)");
        let name = get("optimizer").ok_or_else(|| missing("optimizer"))?;
        let optimizer = Optimizer::from_name(name)
            .ok_or_else(|| bad_value(path, what, "optimizer", "sgd or adam", name))?;
        let number = |key: &str| -> Result<Option<f32>> {
            get(key)
                .map(|v| parse_value(path, what, key, v, "a number"))
                .transpose()
        };
        let momentum = match get("momentum") {
            None | Some("hinton") => None,
            Some(v) => Some(parse_value(
                path,
                what,
                "momentum",
                v,
                "hinton or a number",
            )?),
        };
        let p = PretrainOptimizer {
            optimizer,
            lr: number("lr")?.ok_or_else(|| missing("lr"))?,
            momentum,
            weight_decay: number("weight_decay")?.ok_or_else(|| missing("weight_decay"))?,
            linear_lr: number("linear_lr")?,
        };
        p.validate().map_err(|e| {
            ModelError::mismatch(
                format!("{}: the {what}", path.display()),
                "a valid pretraining optimiser",
                e,
            )
        })?;
        Ok(Some(p))
    }
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
    /// The pretraining's own optimiser (`None`: the run's settings).
    pub pretrain_optimizer: Option<PretrainOptimizer>,
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

    /// The RBM that pretrains layer `l`: linear hiddens where the layer's
    /// activation is the identity (a linear code layer), else `rc`'s.
    pub fn layer_rbm(&self, rc: &RbmConfig, l: usize) -> RbmConfig {
        let s = &self.config.sizes;
        let hidden = match self.config.activations[l] {
            Activation::Identity => HiddenUnits::Linear,
            _ => rc.hidden,
        };
        RbmConfig {
            n_visible: s[l],
            n_hidden: s[l + 1],
            hidden,
            ..*rc
        }
    }

    /// The settings that pretrain layer `l`: the run's `run`, for the
    /// spec's pretraining epochs, with the spec's pretraining optimiser when
    /// it has one (at its linear rate on a layer with the identity
    /// activation).
    pub fn layer_settings(&self, run: &Settings, l: usize) -> Settings {
        let mut s = Settings {
            epochs: self.pretrain_epochs,
            ..*run
        };
        if let Some(p) = self.pretrain_optimizer {
            s.optimizer = p.optimizer;
            s.lr = match p.linear_lr {
                Some(lr) if self.is_linear_layer(l) => lr,
                _ => p.lr,
            };
            s.momentum = p.momentum;
            s.weight_decay = p.weight_decay;
        }
        s
    }

    /// Whether layer `l` is pretrained at the linear layers' rate
    /// ([`PretrainOptimizer::linear_lr`]): its activation is the identity.
    pub fn is_linear_layer(&self, l: usize) -> bool {
        self.config.activations[l] == Activation::Identity
    }

    /// The file's lines for this setup (`finetune`: the fine-tuning phase,
    /// else pretraining).
    pub fn lines(&self, finetune: bool) -> String {
        let (kind, layer) = match &self.pretrain {
            Pretrain::Ae(t) => ("ae", t.to_spec()),
            Pretrain::Rbm(rc) => ("rbm", rc.to_text()),
        };
        let phase = if finetune { "finetune" } else { "pretrain" };
        let opt = self.pretrain_optimizer.map_or(String::new(), |p| p.words());
        format!(
            "{}\npretrain: {kind} epochs={} phase={phase}{opt}\npretrain-layer: {layer}",
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
        let (mut epochs, mut phase, mut opt_words) = (None, None, Vec::new());
        for w in words {
            match w.split_once('=') {
                Some(("epochs", v)) => {
                    epochs = Some(parse_value(path, "pretrain line", "epochs", v, "a count")?)
                }
                Some(("phase", v)) => phase = Some(v),
                Some(kv @ ("optimizer" | "lr" | "momentum" | "weight_decay" | "linear_lr", _)) => {
                    opt_words.push(kv)
                }
                _ => return Err(bad("pretrain line", pre.to_string())),
            }
        }
        let pretrain_optimizer = PretrainOptimizer::parse(&opt_words, path)?;
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
                pretrain_optimizer,
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
            Pretrain::Rbm(rc) => {
                // The template's line with this layer's hidden units.
                let line = spec.layer_rbm(rc, l).to_text();
                let layer = load_rbm(ck, &prefix, &line, VisibleUnits::Bernoulli, false, path)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(opt: Option<PretrainOptimizer>) -> DeepAeSpec {
        let config = AeConfig::new(&[16, 8, 4], Activation::Identity)
            .with_activations(&[Activation::Sigmoid, Activation::Identity]);
        DeepAeSpec {
            config,
            pretrain: Pretrain::Rbm(RbmConfig::bernoulli(16, 8)),
            pretrain_epochs: 3,
            pretrain_optimizer: opt,
        }
    }

    #[test]
    fn the_pretraining_optimiser_round_trips_and_sets_each_layer() {
        let path = Path::new("d.latent");
        for opt in [
            None,
            Some(PretrainOptimizer::hinton2006()),
            Some(PretrainOptimizer {
                optimizer: Optimizer::Adam,
                lr: 0.002,
                momentum: None,
                weight_decay: 0.0,
                linear_lr: None,
            }),
            Some(PretrainOptimizer {
                momentum: Some(0.7),
                ..PretrainOptimizer::hinton2006()
            }),
        ] {
            let s = spec(opt);
            let (back, finetune) = DeepAeSpec::parse(&s.lines(true), path).unwrap();
            assert_eq!((back, finetune), (s, true));
        }
        let s = spec(Some(PretrainOptimizer::hinton2006()));
        // The code layer's RBM has linear hiddens and the linear rate.
        let rc = RbmConfig::bernoulli(16, 8);
        assert_eq!(s.layer_rbm(&rc, 0).hidden, HiddenUnits::Bernoulli);
        assert_eq!(s.layer_rbm(&rc, 1).hidden, HiddenUnits::Linear);
        let run = Settings::defaults(crate::persist::Kind::DeepAe);
        let (l0, l1) = (s.layer_settings(&run, 0), s.layer_settings(&run, 1));
        assert_eq!(
            (l0.optimizer, l0.lr, l0.weight_decay),
            (Optimizer::Sgd, 0.1, 0.0002)
        );
        assert_eq!((l1.lr, l1.momentum, l1.epochs), (0.001, None, 3));
        // Without one, the run's settings (as before the option).
        let plain = spec(None).layer_settings(&run, 1);
        assert_eq!(plain, Settings { epochs: 3, ..run });
    }

    #[test]
    fn a_bad_pretraining_optimiser_word_is_named() {
        let s = spec(Some(PretrainOptimizer::hinton2006())).lines(false);
        for (from, to, key) in [
            ("optimizer=sgd", "optimizer=rmsprop", "optimizer"),
            (" lr=0.1", " lr=x", "lr"),
            (" lr=0.1", "", "lr"),
            ("momentum=hinton", "momentum=1.5", "momentum"),
            ("linear_lr=0.001", "linear_lr=-1", "linear_lr"),
        ] {
            let text = s.replace(from, to);
            let e = DeepAeSpec::parse(&text, Path::new("d.latent"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
    }
}
