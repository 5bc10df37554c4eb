//! Training a model of any kind from Python (`latent._native.train`): the
//! library's trainers ([`train_model`], [`train_dbn`], [`train_deep_ae`])
//! in a run that writes no file ([`Run::in_memory`]), the model built as
//! `latent train` builds it, with the settings `latent train` resolves.

use std::path::Path;

use latent_engine::preprocess::Standardizer;
use latent_engine::train::{EpochProgress, Observer};
use latent_engine::{Dataset, Matrix};
use latent_kernels::Par;
use latent_models::ae::{AeConfig, Autoencoder, Vae, VaeConfig};
use latent_models::dbm::{Dbm, DbmConfig};
use latent_models::dbn::Dbn;
use latent_models::model::AnyModel;
use latent_models::persist::{self, DeepAeSpec, Kind, ModelFile, Preprocess, Pretrain};
use latent_models::psd::{Psd, PsdConfig};
use latent_models::rbm::{Rbm, RbmConfig, Sparsity, VisibleUnits};
use latent_models::train::{
    DbnPlan, DeepAePlan, Optimizer, Run, RunObserver, Settings, SettingsOverrides, train_dbn,
    train_deep_ae, train_model, train_psd,
};
use latent_models::{ModelError, Result};
use numpy::{PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::classifier::{self, ClassifierOptions};
use crate::model::NativeModel;
use crate::{compute, rows_of, value_error};

/// What Python sees of a run: every epoch goes to `progress` (when given)
/// as `(stage, epoch, loss, seconds)`, and a pending signal (Ctrl-C) or an
/// error raised by `progress` stops the run and is raised when it returns.
struct PyObserver {
    progress: Option<Py<PyAny>>,
    stage: String,
    error: Option<PyErr>,
}

impl Observer for PyObserver {
    fn on_epoch(&mut self, p: &EpochProgress<'_>) -> latent_engine::train::Control {
        use latent_engine::train::Control;
        let r = p.record;
        let outcome = Python::attach(|py| {
            py.check_signals()?;
            if let Some(f) = &self.progress {
                f.call1(py, (&self.stage, r.epoch, r.train_loss, r.seconds))?;
            }
            Ok::<_, PyErr>(())
        });
        match outcome {
            Ok(()) => Control::Continue,
            Err(e) => {
                self.error = Some(e);
                Control::Stop
            }
        }
    }
}

impl RunObserver for PyObserver {
    fn stage(&mut self, label: &str, _layer: Option<usize>) {
        self.stage = label.to_string();
    }
}

/// The RBM configuration of `visible` units and sizes `v x h` from its
/// text form (`cd_k=1 persistent=false learn_sigma=false`, see
/// [`persist::parse_rbm_config`]) and a target hidden activation.
fn rbm_config(
    text: &str,
    (visible, v, h): (VisibleUnits, usize, usize),
    sparsity: Option<f32>,
) -> Result<RbmConfig> {
    let what = "RBM configuration";
    let path = Path::new("the estimator's parameters");
    let mut c = persist::parse_rbm_config(text, (visible, v, h), false, path, what)?;
    if let Some(t) = sparsity {
        c.sparsity = Some(Sparsity::with_target(t));
        c.validate()?;
    }
    Ok(c)
}

/// Trains the model `kind` of `spec` on `data` in `run`: the model file's
/// model, and the file the run kept.
fn train_kind(
    run: &mut Run<'_>,
    (kind, spec, sizes, sparsity): (Kind, &str, &[usize], Option<f32>),
    data: &Dataset,
) -> Result<AnyModel> {
    let seed = run.settings.seed;
    let io = (data, None);
    let label = kind.name();
    Ok(match kind {
        Kind::Rbm | Kind::GaussianRbm => {
            let visible = if kind == Kind::Rbm {
                VisibleUnits::Bernoulli
            } else {
                VisibleUnits::Gaussian
            };
            let (v, h) = (data.features(), sizes.get(1).copied().unwrap_or(0));
            let mut rbm = Rbm::new(rbm_config(spec, (visible, v, h), sparsity)?, seed)?;
            rbm.init_visible_bias_from_data(&data.x, Par::All)?;
            let (t, _) = train_model(run, (rbm, None), (label, kind), io)?;
            AnyModel::Rbm(Box::new(t.into_model()))
        }
        Kind::Dbn => {
            let (v, h) = (sizes[0], sizes.get(1).copied().unwrap_or(0));
            let layer = rbm_config(spec, (VisibleUnits::Bernoulli, v, h), sparsity)?;
            let plan = DbnPlan {
                sizes: sizes.to_vec(),
                layer,
                resume: None,
            };
            let outcome = train_dbn(run, plan, io)?;
            let path = Path::new("the trained dbn");
            AnyModel::Dbn(Dbn::from_rbms(persist::dbn_layers(
                &outcome.checkpoint,
                path,
            )?)?)
        }
        Kind::Ae => {
            let mut ae = Autoencoder::new(AeConfig::from_spec(spec)?, seed)?;
            ae.init_output_bias_from_data(&data.x, Par::All)?;
            let (t, _) = train_model(run, (ae, None), (label, kind), io)?;
            AnyModel::Ae(Box::new(t.into_model()))
        }
        Kind::Vae => {
            let vae = Vae::new(VaeConfig::from_spec(spec)?, seed)?;
            let (t, _) = train_model(run, (vae, None), (label, kind), io)?;
            AnyModel::Vae(Box::new(t.into_model()))
        }
        Kind::Dbm => {
            let config = DbmConfig::from_text(spec)?;
            if config.sizes != sizes {
                return Err(ModelError::mismatch(
                    "the DBM configuration's sizes vs the layer sizes",
                    format!("{sizes:?}"),
                    format!("{:?}", config.sizes),
                ));
            }
            let mut dbm = Dbm::new(config, seed)?;
            dbm.init_visible_bias_from_data(&data.x)?;
            let (t, _) = train_model(run, (dbm, None), (label, kind), io)?;
            AnyModel::Dbm(Box::new(t.into_model()))
        }
        Kind::DeepAe => {
            let (spec, _) = DeepAeSpec::parse(spec, Path::new("the estimator's parameters"))?;
            if let Pretrain::Ae(t) = &spec.pretrain {
                for l in 0..spec.config.depth() {
                    spec.layer_ae(t, l)
                        .validate()
                        .map_err(|e| ModelError::Layer {
                            layer: l,
                            source: Box::new(e),
                        })?;
                }
            }
            let plan = DeepAePlan { spec, resume: None };
            let outcome = train_deep_ae(run, plan, io)?;
            AnyModel::DeepAe(Box::new(outcome.trainer.into_model()))
        }
        Kind::Psd => {
            let psd = Psd::new(PsdConfig::from_text(spec)?, seed)?;
            let (t, _) = train_psd(run, (psd, None), label, io)?;
            AnyModel::Psd(Box::new(t.into_model()))
        }
        Kind::Classifier => {
            return Err(ModelError::Unsupported {
                what: "training a classifier without its options",
                why: "pass classifier= (the classes, pretraining and validation) and labels="
                    .into(),
            });
        }
    })
}

/// The caller's settings (`None`: `latent train`'s default for the kind).
#[derive(Debug, Clone, FromPyObject)]
#[pyo3(from_item_all)]
struct PySettings {
    epochs: Option<usize>,
    optimizer: Option<String>,
    lr: Option<f32>,
    weight_decay: Option<f32>,
    momentum: Option<f32>,
    batch: Option<usize>,
    seed: Option<u64>,
    precision: Option<String>,
}

/// Trains a model of `kind` on the rows of `x` (used as they are; a
/// Gaussian RBM's standardised first with `standardize`): `sizes` are the
/// layer sizes (visible first), `spec` the model's text form (an RBM's or
/// DBN layer's configuration words, an `ae`/`vae` spec, a `deep-ae` file's
/// three lines, a `dbm` file's configuration line; unused by a
/// classifier), `settings` what `latent train` takes as flags. A
/// classifier takes `labels` (the class index of every row, below
/// `classifier["classes"]`) and `classifier`, its options (see
/// [`ClassifierOptions`]). Returns the model file it would have written;
/// the GIL is released meanwhile.
#[pyfunction]
#[pyo3(signature = (kind, x, sizes, spec, settings, sparsity = None, standardize = false, threads = None, progress = None, labels = None, classifier = None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn train(
    py: Python<'_>,
    kind: &str,
    x: PyReadonlyArray2<'_, f32>,
    sizes: Vec<usize>,
    spec: &str,
    settings: &Bound<'_, PyDict>,
    sparsity: Option<f32>,
    standardize: bool,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
    labels: Option<PyReadonlyArray1<'_, u32>>,
    classifier: Option<ClassifierOptions>,
) -> PyResult<NativeModel> {
    let kind = Kind::from_name(kind)
        .ok_or_else(|| value_error(format!("kind {kind:?}: one of {}", Kind::NAMES)))?;
    let settings = resolve(kind, settings)?;
    let (data, n, v) = rows_of(&x, "X")?;
    let labels = labels_of(labels.as_ref(), n)?;
    let mut observer = PyObserver {
        progress,
        stage: kind.name().to_string(),
        error: None,
    };
    let obs = &mut observer;
    let trained = compute(py, threads, move |_| -> Result<ModelFile> {
        let mut m = Matrix::from_slice(n, v, data)?;
        let pre = if standardize {
            let p = Preprocess::Standardize(Standardizer::fit(&m)?);
            p.apply(&mut m, Path::new("X"))?;
            p
        } else {
            Preprocess::None
        };
        let data = Dataset::new(m, labels)?;
        let mut run = Run::in_memory(&settings, &pre, obs);
        let mut model = match (kind, &classifier) {
            (Kind::Classifier, Some(o)) => classifier::train(&mut run, o, &sizes, &data)?,
            _ => train_kind(&mut run, (kind, spec, &sizes, sparsity), &data)?,
        };
        model.set_precision(settings.precision);
        let checkpoint = run.kept.take().ok_or_else(|| {
            ModelError::mismatch("the run's model file", "kept in memory", "none")
        })?;
        Ok(ModelFile {
            checkpoint,
            kind,
            model,
            preprocess: pre,
            status: None,
        })
    });
    if let Some(e) = observer.error.take() {
        return Err(e);
    }
    Ok(NativeModel { file: trained? })
}

/// The labels of the `n` rows of `X` (a copy), one per row.
fn labels_of(labels: Option<&PyReadonlyArray1<'_, u32>>, n: usize) -> PyResult<Option<Vec<u32>>> {
    let Some(l) = labels else {
        return Ok(None);
    };
    let l = l
        .as_slice()
        .map_err(|_| value_error("y: expected a contiguous uint32 array"))?;
    if l.len() != n {
        return Err(value_error(format!(
            "y: labels vs samples of X: expected {n}, found {}",
            l.len()
        )));
    }
    Ok(Some(l.to_vec()))
}

/// [`Settings::resolve`] of the caller's settings (a dict of
/// [`PySettings`]' keys, `None` values taking the kind's defaults).
fn resolve(kind: Kind, settings: &Bound<'_, PyDict>) -> PyResult<Settings> {
    let s: PySettings = settings.extract()?;
    let optimizer = match s.optimizer.as_deref() {
        None => None,
        Some("sgd") => Some(Optimizer::Sgd),
        Some("adam") => Some(Optimizer::Adam),
        Some(other) => {
            return Err(value_error(format!("optimizer {other:?}: sgd or adam")));
        }
    };
    let precision = match s.precision.as_deref() {
        None => None,
        Some(p) => Some(p.parse().map_err(value_error)?),
    };
    let flags = SettingsOverrides {
        epochs: s.epochs,
        optimizer,
        lr: s.lr,
        weight_decay: s.weight_decay,
        momentum: s.momentum,
        batch: s.batch,
        seed: s.seed,
        precision,
    };
    Settings::resolve(kind, &flags, None).map_err(value_error)
}

/// `latent train`'s settings for `kind` when no flag is given: `epochs`,
/// `optimizer`, `lr`, `weight_decay`, `momentum` (`None`: Hinton's
/// schedule), `batch`, `seed`, `precision`.
#[pyfunction]
pub(crate) fn defaults<'py>(py: Python<'py>, kind: &str) -> PyResult<Bound<'py, PyDict>> {
    let kind = Kind::from_name(kind)
        .ok_or_else(|| value_error(format!("kind {kind:?}: one of {}", Kind::NAMES)))?;
    let s = Settings::resolve(kind, &SettingsOverrides::default(), None).map_err(value_error)?;
    let d = PyDict::new(py);
    d.set_item("epochs", s.epochs)?;
    d.set_item("optimizer", s.optimizer.name())?;
    d.set_item("lr", s.lr)?;
    d.set_item("weight_decay", s.weight_decay)?;
    d.set_item("momentum", s.momentum)?;
    d.set_item("batch", s.batch)?;
    d.set_item("seed", s.seed)?;
    d.set_item("precision", s.precision.name())?;
    Ok(d)
}
