//! Model files: the engine's [`Checkpoint`] format (versioned, checksummed,
//! written atomically), with these conventions on top.
//!
//! | field | RBM (`rbm`, `gaussian-rbm`) | DBN (`dbn`) |
//! | --- | --- | --- |
//! | model kind | `rbm` or `gaussian-rbm` | `dbn` |
//! | hyper-parameters | line 1: the `RbmConfig` (`visible=… n_visible=… n_hidden=… cd_k=… …`) | line 1: `layers=784,500,250 bottom=bernoulli`; then `layer0: <RbmConfig>` per layer |
//! | (last line of both) | `preprocess: none`, `preprocess: scale LO HI`, `preprocess: binarize LO HI T` or `preprocess: standardize` | same |
//! | parameters | `W` (`V x H`), `b` (`1 x V`), `c` (`1 x H`) | `layer0.W`, `layer0.b`, `layer0.c`, `layer1.W`, … bottom first |
//! | optimiser, RNG | the trainer's, for `--resume` | the top layer's |
//! | persistent state | PCD chains / sparsity averages (`pcd_chains`, `sparsity_q_hat`) and `preprocess.mean`, `preprocess.std` (`1 x V`) when standardised | `preprocess.*` only |
//! | history | one record per epoch | every layer's epochs, each with a metric `layer` |
//!
//! The preprocessing is stored so `encode`, `eval`, … apply exactly what
//! training applied: `scale LO HI` maps `[LO, HI]` onto `[0, 1]` (values
//! outside are an error), `binarize` then thresholds at `T`, `standardize`
//! subtracts `preprocess.mean` and divides by `preprocess.std`.

use std::path::Path;

use latent_engine::checkpoint::EpochRecord;
use latent_engine::preprocess::{Standardizer, binarise_threshold, scale_to_unit};
use latent_engine::{Checkpoint, Matrix, Role, Tensor};
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

/// A model the command line can use.
#[derive(Debug)]
pub enum Model {
    /// A Bernoulli or Gaussian RBM.
    Rbm(Box<Rbm>),
    /// A deep belief net.
    Dbn(Dbn),
}

impl Model {
    /// Visible units (columns the data must have).
    pub fn n_visible(&self) -> usize {
        match self {
            Model::Rbm(r) => r.config().n_visible,
            Model::Dbn(d) => d.sizes()[0],
        }
    }

    /// The first layer's RBM.
    pub fn first_rbm(&self) -> &Rbm {
        match self {
            Model::Rbm(r) => r,
            Model::Dbn(d) => &d.layers()[0],
        }
    }

    /// Layer sizes, `[V, H]` or `[V, H1, H2, …]`.
    pub fn sizes(&self) -> Vec<usize> {
        match self {
            Model::Rbm(r) => vec![r.config().n_visible, r.config().n_hidden],
            Model::Dbn(d) => d.sizes(),
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
}

/// Kinds this program reads and writes.
pub const KINDS: &str = "rbm, gaussian-rbm, dbn";

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

/// `key=value` of a hyper-parameter line (`sparsity=target=…` keeps the
/// rest after the first `=`).
fn hyper_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// The RBM configuration stored in a hyper-parameter line, for a model of
/// `v x h` units (sizes come from the tensors; the training settings are
/// read when present and otherwise take their defaults).
fn rbm_config(line: &str, visible: VisibleUnits, v: usize, h: usize) -> RbmConfig {
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
fn load_rbm(
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
        latent::engine::train::Model::params_mut(&mut rbm)
            .value_mut(latent::models::rbm::LOG_SIGMA)
            .as_mut_slice()
            .copy_from_slice(log_sigma.as_slice());
    }
    Ok(rbm)
}

/// Loads a model file.
pub fn load(path: &Path) -> Result<ModelFile> {
    let ck = Checkpoint::load(path)?;
    let (lines, pre) = split_hyper(&ck.hyperparameters);
    let preprocess = Preprocess::parse(pre, &ck.persistent, path)?;
    let first = lines.first().copied().unwrap_or("");
    let model = match ck.model_kind.as_str() {
        "rbm" => Model::Rbm(Box::new(load_rbm(
            &ck,
            "",
            first,
            VisibleUnits::Bernoulli,
            path,
        )?)),
        "gaussian-rbm" => Model::Rbm(Box::new(load_rbm(
            &ck,
            "",
            first,
            VisibleUnits::Gaussian,
            path,
        )?)),
        "dbn" => {
            let bottom = match hyper_value(first, "bottom") {
                Some("gaussian") => VisibleUnits::Gaussian,
                _ => VisibleUnits::Bernoulli,
            };
            let mut layers = Vec::new();
            while ck.params.get(&format!("layer{}.W", layers.len())).is_some() {
                let l = layers.len();
                let line = lines
                    .iter()
                    .find_map(|s| s.strip_prefix(&format!("layer{l}:")))
                    .unwrap_or("");
                let units = if l == 0 {
                    bottom
                } else {
                    VisibleUnits::Bernoulli
                };
                layers.push(load_rbm(&ck, &format!("layer{l}."), line, units, path)?);
            }
            if layers.is_empty() {
                return Err(CliError::mismatch(
                    format!("{}: tensors of a dbn model", path.display()),
                    "layer0.W, layer0.b, layer0.c, …",
                    "no layer0.W",
                ));
            }
            Model::Dbn(Dbn::from_rbms(layers)?)
        }
        other if other.contains("ae") => {
            return Err(CliError::NotAvailable {
                what: format!("{}: model kind {other:?}", path.display()),
                why: format!("the latent command reads {KINDS} so far (autoencoders are coming)"),
            });
        }
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
    })
}

/// Adds the preprocessing to a checkpoint made by a trainer (or by the DBN
/// writer) before it is saved.
pub fn attach_preprocess(ck: &mut Checkpoint, pre: &Preprocess) -> Result<()> {
    ck.hyperparameters = format!(
        "{}\npreprocess: {}",
        ck.hyperparameters.trim_end(),
        pre.describe()
    );
    ck.persistent.retain(|t| !t.name.starts_with("preprocess."));
    ck.persistent.extend(pre.tensors()?);
    Ok(())
}

/// The persistent state of a checkpoint without the preprocessing tensors
/// (what the model itself restores on `--resume`).
pub fn model_state_only(ck: &Checkpoint) -> Checkpoint {
    let mut ck = ck.clone();
    ck.persistent.retain(|t| !t.name.starts_with("preprocess."));
    ck
}

/// A checkpoint for a trained DBN: every layer's tensors, the layers'
/// hyper-parameters, the concatenated history; `top` supplies the
/// optimiser and RNG state of the last layer's trainer.
pub fn dbn_checkpoint(
    dbn: &Dbn,
    layer_hyper: &[String],
    history: Vec<EpochRecord>,
    top: &Checkpoint,
) -> Result<Checkpoint> {
    use latent_engine::ParamSet;
    use latent_engine::train::Model as _;
    let sizes = dbn.sizes();
    let bottom = dbn.layers()[0].config().visible.name();
    let mut hyper = format!(
        "layers={} bottom={bottom}",
        sizes
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    for (l, h) in layer_hyper.iter().enumerate() {
        hyper.push_str(&format!("\nlayer{l}: {h}"));
    }
    let mut params = ParamSet::new();
    for (l, rbm) in dbn.layers().iter().enumerate() {
        for t in rbm.params().tensors() {
            params.push(format!("layer{l}.{}", t.name), t.role, t.value.clone())?;
        }
    }
    Ok(Checkpoint {
        model_kind: "dbn".into(),
        hyperparameters: hyper,
        trainer: top.trainer.clone(),
        epoch: history.len() as u64,
        step: top.step,
        params,
        optimizer: latent_engine::checkpoint::OptimizerState {
            kind: top.optimizer.kind.clone(),
            step: top.optimizer.step,
            tensors: Vec::new(),
        },
        persistent: Vec::new(),
        rngs: top.rngs.clone(),
        history,
    })
}
