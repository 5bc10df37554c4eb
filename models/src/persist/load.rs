//! Reading a model file into a model, and finishing a checkpoint into one.

use std::path::Path;

use latent_engine::train::Model as _;
use latent_engine::{Checkpoint, Matrix, ParamSet};

use super::classifier::{ClassifierState, classifier_state};
use super::deep_ae::{DeepAeState, LayerModel, deep_ae_state, target_epochs};
use super::preprocess::Preprocess;
use super::staged::stage_records;
use super::text::{hyper_line, hyper_value, parse_rbm_config, split_hyper, train_precision};
use super::{Kind, ModelFile};
use crate::ae::{AeConfig, Autoencoder, Vae, VaeConfig};
use crate::dbm::{Dbm, DbmConfig};
use crate::dbn::Dbn;
use crate::error::{ModelError, Result};
use crate::model::{AnyModel, Inference};
use crate::psd::{Psd, PsdConfig};
use crate::rbm::{LOG_SIGMA, Rbm, VisibleUnits};

fn tensor<'a>(ck: &'a Checkpoint, name: &str, path: &Path) -> Result<&'a Matrix> {
    ck.params.get(name).ok_or_else(|| {
        ModelError::mismatch(
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

/// Builds an RBM of `visible` units from the tensors `{prefix}W`,
/// `{prefix}b`, `{prefix}c` (and `{prefix}log_sigma` when σ is learned)
/// and its configuration line `line` (see
/// [`parse_rbm_config`]; `check_sizes`:
/// the line's sizes must be the tensors').
pub fn load_rbm(
    ck: &Checkpoint,
    prefix: &str,
    line: &str,
    visible: VisibleUnits,
    check_sizes: bool,
    path: &Path,
) -> Result<Rbm> {
    let w = tensor(ck, &format!("{prefix}W"), path)?;
    let b = tensor(ck, &format!("{prefix}b"), path)?;
    let c = tensor(ck, &format!("{prefix}c"), path)?;
    let (v, h) = w.shape();
    if b.len() != v || c.len() != h {
        return Err(ModelError::mismatch(
            format!("{}: bias lengths of {prefix}W ({v} x {h})", path.display()),
            format!("{prefix}b {v}, {prefix}c {h}"),
            format!("{prefix}b {}, {prefix}c {}", b.len(), c.len()),
        ));
    }
    let what = if prefix.is_empty() {
        "model line".to_string()
    } else {
        format!("{} line", prefix.trim_end_matches('.'))
    };
    let config = parse_rbm_config(line, (visible, v, h), check_sizes, path, &what)?;
    let mut rbm = Rbm::from_params(config, w.as_slice(), b.as_slice(), c.as_slice())?;
    if config.learn_sigma {
        let log_sigma = tensor(ck, &format!("{prefix}log_sigma"), path)?;
        if log_sigma.len() != v {
            return Err(ModelError::mismatch(
                format!("{}: length of {prefix}log_sigma", path.display()),
                v,
                log_sigma.len(),
            ));
        }
        rbm.params_mut()
            .value_mut(LOG_SIGMA)
            .as_mut_slice()
            .copy_from_slice(log_sigma.as_slice());
    }
    Ok(rbm)
}

/// Copies the tensors `{prefix}{name}` of a checkpoint into `params` (every
/// one of them, same shapes), naming the file and the tensor on a mismatch;
/// the file must hold no other tensors under `prefix`.
pub fn load_params(
    ck: &Checkpoint,
    prefix: &str,
    params: &mut ParamSet,
    path: &Path,
) -> Result<()> {
    for t in params.tensors_mut() {
        let src = tensor(ck, &format!("{prefix}{}", t.name), path)?;
        if src.shape() != t.value.shape() {
            return Err(ModelError::mismatch(
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
        let under = if prefix.is_empty() {
            String::new()
        } else {
            format!(" under {prefix}")
        };
        return Err(ModelError::mismatch(
            format!("{}: tensors{under}", path.display()),
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
        None | Some("bernoulli") => VisibleUnits::Bernoulli,
        Some(other) => {
            return Err(ModelError::mismatch(
                format!(
                    "{}: bottom in the first line of a dbn model",
                    path.display()
                ),
                "bernoulli or gaussian",
                format!("{other:?}"),
            ));
        }
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
        layers.push(load_rbm(
            ck,
            &format!("layer{l}."),
            line,
            units,
            true,
            path,
        )?);
    }
    if layers.is_empty() {
        return Err(ModelError::mismatch(
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
    crate::ae::parse_sizes(hyper_value(first, "layers")?).ok()
}

/// Reads a model file: the checkpoint, the model (any kind), its
/// preprocessing, and whether training finished.
pub fn load(path: &Path) -> Result<ModelFile> {
    from_checkpoint(Checkpoint::load(path)?, path)
}

/// A model file from its bytes (what [`Checkpoint::to_bytes`] gives, e.g.
/// a file read elsewhere or a pickled model), without touching the file
/// system; `source` names the bytes in errors (and in an unfinished run's
/// `--resume` hint), as the path does for [`load`].
pub fn from_bytes(bytes: &[u8], source: &Path) -> Result<ModelFile> {
    from_checkpoint(Checkpoint::from_bytes(source, bytes)?, source)
}

/// A model file from a checkpoint already read: the model (any kind), its
/// preprocessing, and whether training finished, with errors naming
/// `source` (the file or the bytes the checkpoint came from).
pub fn from_checkpoint(ck: Checkpoint, source: &Path) -> Result<ModelFile> {
    let kind = Kind::from_name(&ck.model_kind).ok_or_else(|| {
        ModelError::mismatch(
            format!("{}: model kind", source.display()),
            Kind::NAMES,
            format!("{:?}", ck.model_kind),
        )
    })?;
    check_finite(&ck, source)?;
    let (lines, pre) = split_hyper(&ck.hyperparameters);
    let preprocess = Preprocess::parse(pre, &ck.persistent, source)?;
    let first = lines.first().copied().unwrap_or("");
    let (mut model, status) = load_model(&ck, kind, first, source)?;
    let what = format!("{}: train line, precision", source.display());
    model.set_precision(train_precision(
        hyper_line(&ck.hyperparameters, "train"),
        &what,
    )?);
    if let Preprocess::Standardize(s) = &preprocess
        && s.mean.len() != model.n_visible()
    {
        return Err(ModelError::mismatch(
            format!("{}: preprocess.mean length", source.display()),
            model.n_visible(),
            s.mean.len(),
        ));
    }
    Ok(ModelFile {
        checkpoint: ck,
        kind,
        model,
        preprocess,
        status,
    })
}

/// Every parameter and persistent tensor (chains, standardisation
/// statistics) is finite: a NaN or infinity behind a valid checksum would
/// make every output NaN.
fn check_finite(ck: &Checkpoint, path: &Path) -> Result<()> {
    let tensors = ck.params.tensors().iter().chain(&ck.persistent);
    for t in tensors {
        if let Some((i, v)) = t.value.first_non_finite() {
            let (row, col) = (i / t.value.cols().max(1), i % t.value.cols().max(1));
            return Err(ModelError::mismatch(
                format!("{}: tensor {} at ({row}, {col})", path.display(), t.name),
                "a finite value",
                v,
            ));
        }
    }
    Ok(())
}

/// The model of a file of kind `kind` whose first text line is `first`,
/// and its status line when training did not finish.
fn load_model(
    ck: &Checkpoint,
    kind: Kind,
    first: &str,
    path: &Path,
) -> Result<(AnyModel, Option<String>)> {
    let config_err = |e: ModelError| {
        ModelError::mismatch(
            format!(
                "{}: configuration line of the {} model",
                path.display(),
                ck.model_kind
            ),
            "a line written by latent train",
            e,
        )
    };
    let unfinished = |done: usize, what: String| unfinished(ck, path, done, what);
    Ok(match kind {
        Kind::Rbm | Kind::GaussianRbm => {
            let visible = if kind == Kind::Rbm {
                VisibleUnits::Bernoulli
            } else {
                VisibleUnits::Gaussian
            };
            let rbm = load_rbm(ck, "", first, visible, true, path)?;
            let status = unfinished(ck.history.len(), String::new());
            (AnyModel::Rbm(Box::new(rbm)), status)
        }
        Kind::Dbn => load_dbn(ck, path)?,
        Kind::Ae => {
            let config = AeConfig::from_spec(first).map_err(config_err)?;
            let mut ae = Autoencoder::new(config, 0)?;
            load_params(ck, "", ae.params_mut(), path)?;
            let status = unfinished(ck.history.len(), String::new());
            (AnyModel::Ae(Box::new(ae)), status)
        }
        Kind::Vae => {
            let config = VaeConfig::from_spec(first).map_err(config_err)?;
            let mut vae = Vae::new(config, 0)?;
            load_params(ck, "", vae.params_mut(), path)?;
            let status = unfinished(ck.history.len(), String::new());
            (AnyModel::Vae(Box::new(vae)), status)
        }
        Kind::DeepAe => load_deep_ae(ck, path)?,
        Kind::Classifier => load_classifier(ck, path)?,
        Kind::Dbm => {
            let config = DbmConfig::from_text(first).map_err(config_err)?;
            let mut dbm = Dbm::new(config, 0)?;
            load_params(ck, "", dbm.params_mut(), path)?;
            let chains: Vec<_> = ck
                .persistent
                .iter()
                .filter(|t| t.name.starts_with("chains."))
                .cloned()
                .collect();
            dbm.load_persistent_state(&chains).map_err(|e| {
                ModelError::mismatch(
                    format!("{}: the chains of the dbm model", path.display()),
                    "chains written by latent train",
                    e,
                )
            })?;
            // Pretraining's records (tagged with their layer) are not epochs.
            let joint = stage_records(&ck.history, None).len();
            let status = unfinished(joint, String::new());
            (AnyModel::Dbm(Box::new(dbm)), status)
        }
        Kind::Psd => {
            let config = PsdConfig::from_text(first).map_err(config_err)?;
            let mut psd = Psd::new(config, 0)?;
            load_params(ck, "", psd.params_mut(), path)?;
            psd.project();
            let status = unfinished(ck.history.len(), String::new());
            (AnyModel::Psd(Box::new(psd)), status)
        }
    })
}

/// `unfinished: <what>epoch <done> of <n>; continue with …` when the file's
/// `train:` target is more than `done` epochs.
fn unfinished(ck: &Checkpoint, path: &Path, done: usize, what: String) -> Option<String> {
    target_epochs(ck).filter(|&n| done < n).map(|n| {
        format!(
            "unfinished: {what}epoch {done} of {n}; continue with latent train {} --resume {}",
            ck.model_kind,
            path.display()
        )
    })
}

fn load_dbn(ck: &Checkpoint, path: &Path) -> Result<(AnyModel, Option<String>)> {
    let layers = dbn_layers(ck, path)?;
    let top = layers.len() - 1;
    let target = dbn_target(ck).map_or(layers.len(), |t| t.len() - 1);
    let done = stage_records(&ck.history, Some(top)).len();
    let mut status = unfinished(ck, path, done, format!("layer {} of {target}, ", top + 1));
    if status.is_none() && layers.len() < target {
        status = Some(format!(
            "unfinished: {} of {target} layers; continue with latent train dbn --resume {}",
            layers.len(),
            path.display()
        ));
    }
    Ok((AnyModel::Dbn(Dbn::from_rbms(layers)?), status))
}

fn load_deep_ae(ck: &Checkpoint, path: &Path) -> Result<(AnyModel, Option<String>)> {
    Ok(match deep_ae_state(ck, path)? {
        (_, DeepAeState::FineTuning(ae)) => {
            let done = stage_records(&ck.history, None).len();
            let status = unfinished(ck, path, done, "fine-tuning, ".into());
            (AnyModel::DeepAe(ae), status)
        }
        (spec, DeepAeState::Pretraining(models)) => {
            let top = models.len() - 1;
            let done = stage_records(&ck.history, Some(top)).len();
            let status = format!(
                "unfinished: pretraining layer {} of {}, epoch {done} of {} (used as the {} layer(s) pretrained so far, unrolled); continue with latent train deep-ae --resume {}",
                top + 1,
                spec.config.depth(),
                spec.pretrain_epochs,
                models.len(),
                path.display()
            );
            let layers = models
                .iter()
                .map(LayerModel::layer)
                .collect::<Result<Vec<_>>>()?;
            (
                AnyModel::DeepAe(Box::new(spec.unroll(&layers)?)),
                Some(status),
            )
        }
    })
}

fn load_classifier(ck: &Checkpoint, path: &Path) -> Result<(AnyModel, Option<String>)> {
    Ok(match classifier_state(ck, path)? {
        (_, ClassifierState::FineTuning(clf, _), early) => {
            let done = stage_records(&ck.history, None).len();
            let status = match early {
                Some(_) => None,
                None => unfinished(ck, path, done, "fine-tuning, ".into()),
            };
            (AnyModel::Classifier(clf), status)
        }
        (spec, ClassifierState::Pretraining(models), _) => {
            let top = models.len() - 1;
            let done = stage_records(&ck.history, Some(top)).len();
            let status = format!(
                "unfinished: pretraining layer {} of {}, epoch {done} of {} (used as the {} layer(s) pretrained so far under an untrained softmax); continue with latent train classifier --resume {}",
                top + 1,
                spec.depth(),
                spec.pretrain_epochs,
                models.len(),
                path.display()
            );
            let layers = models
                .iter()
                .map(LayerModel::layer)
                .collect::<Result<Vec<_>>>()?;
            let clf = spec.classifier_on(&layers, 0)?;
            (AnyModel::Classifier(Box::new(clf)), Some(status))
        }
    })
}
