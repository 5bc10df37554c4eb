//! `latent` model files of kind `rbm`: what `latent train rbm` writes and
//! `latent encode/score/info` read, from and to a [`NativeRbm`].

use std::path::Path;

use latent_engine::Checkpoint;
use latent_engine::checkpoint::{EpochRecord, OptimizerState};
use latent_engine::train::Model;
use latent_models::model::AnyModel;
use latent_models::persist::{self, Kind, Preprocess};
use latent_models::rbm::{Rbm, RbmConfig};
use latent_models::train::{Optimizer, Settings};
use latent_models::{ModelError, Result};
use pyo3::prelude::*;

use crate::rbm::NativeRbm;
use crate::value_error;

/// Writes `rbm` as a model file of kind `rbm` (no preprocessing) at
/// `path`, atomically; `(epochs, lr, batch, cd_k, momentum, seed)` make its
/// `train:` line (SGD, no weight decay), its model line's `cd_k` and its
/// history (`epochs` records without a loss).
pub(crate) fn save_rbm(
    rbm: &Rbm,
    path: &Path,
    (epochs, lr, batch, cd_k, momentum, seed): (usize, f32, usize, usize, f32, u64),
) -> Result<()> {
    let config = RbmConfig {
        cd_k,
        persistent: true,
        init_std: 0.01,
        ..*rbm.config()
    };
    let (w, b, c) = (
        rbm.weights().as_slice(),
        rbm.visible_bias(),
        rbm.hidden_bias(),
    );
    let mut model = Rbm::from_params(config, w, b, c)?;
    model.set_precision(rbm.precision());
    let settings = Settings {
        epochs,
        optimizer: Optimizer::Sgd,
        lr,
        weight_decay: 0.0,
        momentum: Some(momentum),
        batch,
        seed,
        precision: rbm.precision(),
    };
    let mut ck = Checkpoint {
        model_kind: Kind::Rbm.name().into(),
        hyperparameters: String::new(),
        trainer: String::new(),
        epoch: epochs as u64,
        step: 0,
        params: model.params().clone(),
        optimizer: OptimizerState {
            kind: "sgd".into(),
            step: 0,
            tensors: Vec::new(),
        },
        persistent: Vec::new(),
        rngs: Vec::new(),
        // One record per epoch (the file is then a finished run); the
        // estimator keeps no per-epoch loss.
        history: (0..epochs as u64).map(no_loss).collect(),
    };
    let lines = config.to_text();
    persist::finish(
        &mut ck,
        Kind::Rbm,
        &lines,
        &settings.line(),
        &Preprocess::None,
    )?;
    Ok(ck.save(path)?)
}

/// The record of an epoch whose loss was not measured.
fn no_loss(epoch: u64) -> EpochRecord {
    EpochRecord {
        epoch,
        train_loss: f64::NAN,
        valid_metric: None,
        samples: 0,
        seconds: 0.0,
        metrics: Vec::new(),
    }
}

/// Reads the model file at `path`: an `rbm` file without preprocessing.
/// Returns the RBM and the file's `train:` line (empty when it has none).
#[pyfunction]
pub(crate) fn load_rbm(py: Python<'_>, path: std::path::PathBuf) -> PyResult<(NativeRbm, String)> {
    let file = py.detach(|| persist::load(&path)).map_err(value_error)?;
    let what = path.display();
    let rbm = match file.model {
        AnyModel::Rbm(rbm) if file.kind == Kind::Rbm => rbm,
        _ => {
            return Err(value_error(format!(
                "{what}: a model file of kind {}; latent.load reads files of kind rbm",
                file.kind.name()
            )));
        }
    };
    if !matches!(file.preprocess, Preprocess::None) {
        return Err(value_error(ModelError::mismatch(
            format!("{what}: preprocess line"),
            "none (the Python estimators take the data as it is; train with --preprocess none)",
            file.preprocess.describe(),
        )));
    }
    let train = persist::hyper_line(&file.checkpoint.hyperparameters, "train").unwrap_or("");
    Ok((NativeRbm { rbm: *rbm }, train.to_string()))
}
