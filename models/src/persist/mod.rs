//! Model files: the engine's [`Checkpoint`] format (versioned, checksummed,
//! written atomically), with these conventions on top. [`load()`] reads any
//! kind into one [`ModelFile`] ([`from_bytes`] from a file's bytes in
//! memory, [`from_checkpoint`] from a checkpoint already read); [`finish`]
//! turns a trainer's checkpoint into a model file's contents;
//! [`ModelFile::save`] writes one.
//!
//! The model kind ([`Kind`]) is the name `latent train` takes. The
//! hyper-parameter text is a few lines: the model's own (first), then
//! `train:` (the training settings, the defaults of a resume) and
//! `preprocess:` (last).
//!
//! | kind | first line(s) | parameters |
//! | --- | --- | --- |
//! | `rbm`, `gaussian-rbm` | the RBM configuration ([`RbmConfig::to_text`](crate::rbm::RbmConfig::to_text): `visible=… n_visible=… n_hidden=… cd_k=… …`) | `W` (`V x H`), `b` (`1 x V`), `c` (`1 x H`), `log_sigma` (`1 x V`, learned σ only) |
//! | `dbn` | `layers=784,500,250 bottom=bernoulli` (the sizes asked for), then `layer0: <RBM configuration>` per layer trained | `layer0.W`, `layer0.b`, `layer0.c`, `layer1.W`, … bottom first |
//! | `ae` | the [`AeConfig`](crate::ae::AeConfig) spec (`sizes=784,256 activations=sigmoid tied=false loss=cross-entropy sparsity=none noise=mask:0.3 contractive=none init_std=none`) | `W1, c1, …, WL, cL`, then per layer from the top the decoder's `WdL` (untied only) and `bL` |
//! | `vae` | the [`VaeConfig`](crate::ae::VaeConfig) spec (`sizes=784,256 activations=relu latent=20 output=bernoulli init_std=none`) | `W1, c1, …, Wmu, bmu, Wlv, blv, Wd…, b…` |
//! | `dbm` | the [`DbmConfig`](crate::dbm::DbmConfig) line (`visible=bernoulli sizes=784,500,1000 mf_iters=10 mf_tol=0.0001 chains=batch cd_k=1 init_std=0.01`) ; a pretrained one then `pretrain: epochs=N lr=L cd_k=K` ([`DbmPretrain`](crate::train::DbmPretrain)) and its RBMs' history records tagged with their layer | `W1 … WL` (`n_{l−1} x n_l`), `b0 … bL` (`1 x n_l`); persistent `chains.l0 … chains.lL` (the chains' states) |
//! | `deep-ae` | the deep `AeConfig` spec; `pretrain: ae\|rbm epochs=N phase=pretrain\|finetune`; `pretrain-layer: <spec of layer 0's AeConfig or the RBM configuration>` ([`DeepAeSpec`]) | `phase=finetune`: as `ae`; `phase=pretrain`: each pretraining layer's own tensors under `layer0.`, `layer1.`, … |
//! | `psd` | the [`PsdConfig`](crate::psd::PsdConfig) line (`n_visible=784 codes=256 lambda=0.5 alpha=1 encoder=tanh fista_iters=100 fista_tol=0.0001`) | `D` (`K x V`, atoms of unit norm), `W` (`V x K`), `b` (`1 x K`), `g` (tanh) or `theta` (shrink) (`1 x K`) |
//! | `classifier` | `sizes=784,500,500 classes=10 activations=sigmoid,sigmoid`; `pretrain: rbm\|ae\|none epochs=N lr=L phase=pretrain\|finetune`; `pretrain-layer: …`; `validation: none\|data\|fraction=F patience=P\|none`; `early-stop: best_epoch=E` when it stopped early ([`ClassifierSpec`]) | `phase=finetune`: `W1, c1, …, WL, cL, V` (`H_L x classes`), `d` (the best validated epoch's), persistent `last.W1, …` (the last epoch's, when validated); `phase=pretrain`: as `deep-ae` |
//!
//! Every file written by training also holds the optimiser state, the
//! random streams, the persistent model state (PCD chains, …) and one
//! history record per epoch of the model in training, so a resumed run
//! continues exactly. Files written while a model is trained in stages
//! (see [`staged`]) hold the finished stages' tensors and the stage in
//! training, whose optimiser and persistent state (under its `layer{l}.`
//! prefix) are the file's; their history records carry a metric `layer`. A
//! deep autoencoder still in pretraining is used as the stack pretrained so
//! far, unrolled.
//!
//! `train:` is `train: epochs=10 optimizer=sgd lr=0.1 weight_decay=0.0001
//! momentum=hinton batch=100 seed=0` (`momentum` for SGD only). The
//! `preprocess:` line is [`Preprocess::describe`]: `none`, `scale LO HI`,
//! `binarize LO HI T` or `standardize` (with persistent tensors
//! `preprocess.mean` and `preprocess.std`, `1 x V`).
//!
//! Reading is strict: an unknown key or a value that does not parse is an
//! error naming the file and the key.
//!
//! Loading a file written by `latent train` and encoding data with it:
//!
//! ```
//! use latent_engine::data::csv::{CsvOptions, read};
//! use latent_kernels::Par;
//! use latent_models::model::Inference;
//! use latent_models::persist;
//! # fn main() -> latent_models::Result<()> {
//! // `latent train rbm --data binary16.csv --hidden 8 … --out rbm.latent`
//! let path = "tests/fixtures/rbm.latent".as_ref();
//! let file = persist::load(path)?;
//! let mut x = read("tests/fixtures/binary16.csv", &CsvOptions::default())?.dataset.x;
//! file.preprocess.apply(&mut x, path)?; // what training did to its data
//! let features = file.model.features(&x, Par::All)?; // p(h|v), one row per sample
//! assert_eq!(features.shape(), (60, 8));
//! # Ok(())
//! # }
//! ```

pub mod classifier;
pub mod deep_ae;
pub mod load;
pub mod preprocess;
pub mod staged;
pub mod text;

use std::path::Path;

use latent_engine::Checkpoint;

pub use classifier::{
    ClassifierPretrain, ClassifierSpec, ClassifierState, Validation, classifier_state,
};
pub use deep_ae::{
    DeepAeSpec, DeepAeState, LayerModel, Pretrain, PretrainOptimizer, deep_ae_state, target_epochs,
};
pub use load::{dbn_layers, dbn_target, from_bytes, from_checkpoint, load, load_params, load_rbm};
pub use preprocess::Preprocess;
pub use staged::{
    record_layer, resume_state, stage_records, stage_state, staged_checkpoint, tag_layer,
};
pub use text::{hyper_line, hyper_value, parse_rbm_config, train_precision};

use crate::error::Result;
use crate::model::AnyModel;

/// The kinds of model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A Bernoulli-Bernoulli RBM.
    Rbm,
    /// A Gaussian-Bernoulli RBM.
    GaussianRbm,
    /// A deep belief net.
    Dbn,
    /// An autoencoder (plain, sparse, denoising, contractive; one or more
    /// layers).
    Ae,
    /// A variational autoencoder.
    Vae,
    /// A deep autoencoder pretrained layer by layer.
    DeepAe,
    /// A deep Boltzmann machine.
    Dbm,
    /// Predictive sparse decomposition (sparse coding with a fast encoder).
    Psd,
    /// A feed-forward classifier (hidden layers pretrained as a DBN or a
    /// stacked autoencoder, or not), fine-tuned with labels.
    Classifier,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 9] = [
        Kind::Rbm,
        Kind::GaussianRbm,
        Kind::Dbn,
        Kind::Ae,
        Kind::Vae,
        Kind::DeepAe,
        Kind::Dbm,
        Kind::Psd,
        Kind::Classifier,
    ];

    /// The names of every kind, for messages.
    pub const NAMES: &'static str =
        "rbm, gaussian-rbm, dbn, ae, vae, deep-ae, dbm, psd, classifier";

    /// The name stored in model files (and taken by `latent train`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Rbm => "rbm",
            Kind::GaussianRbm => "gaussian-rbm",
            Kind::Dbn => "dbn",
            Kind::Ae => "ae",
            Kind::Vae => "vae",
            Kind::DeepAe => "deep-ae",
            Kind::Dbm => "dbm",
            Kind::Psd => "psd",
            Kind::Classifier => "classifier",
        }
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether the kind is one of the autoencoders (trained with Adam by
    /// default, no weight decay, real-valued data taken as it is); PSD, an
    /// encoder with a linear decoder, counts as one.
    pub fn is_autoencoder(self) -> bool {
        matches!(self, Kind::Ae | Kind::Vae | Kind::DeepAe | Kind::Psd)
    }
}

/// A loaded model file.
#[derive(Debug)]
pub struct ModelFile {
    /// The checkpoint as stored.
    pub checkpoint: Checkpoint,
    /// The file's kind.
    pub kind: Kind,
    /// The model.
    pub model: AnyModel,
    /// The preprocessing its training data had.
    pub preprocess: Preprocess,
    /// Set when the file was written before training finished (by a
    /// checkpoint every N epochs): how far it got, and how to go on.
    pub status: Option<String>,
}

impl ModelFile {
    /// Makes `x` what the model was trained on: a check that the values lie
    /// where the model takes them ([`check_input_range`](Self::check_input_range)),
    /// the file's preprocessing, then, when something was preprocessed, a
    /// check that the values lie where the model's inputs live (`[0, 1]`
    /// for binary visibles, a cross-entropy loss, a Bernoulli decoder);
    /// `what` names the data in errors.
    pub fn prepare(&self, x: &mut latent_engine::Matrix, what: &Path) -> Result<()> {
        self.check_input_range(x, what)?;
        self.preprocess.apply(x, what)?;
        if self.model.unit_outputs() && self.preprocess != Preprocess::None {
            let outside = x.as_slice().iter().position(|v| !(0.0..=1.0).contains(v));
            if let Some(i) = outside {
                let cols = x.cols().max(1);
                return Err(crate::ModelError::mismatch(
                    format!(
                        "{}: value at ({}, {}) for a {} model with inputs in [0, 1] (preprocessing {})",
                        what.display(),
                        i / cols,
                        i % cols,
                        self.kind.name(),
                        self.preprocess.describe()
                    ),
                    "a value in [0, 1] (data on the scale the model was trained on)",
                    x.as_slice()[i],
                ));
            }
        }
        Ok(())
    }

    /// Checks data, before any preprocessing, for a model whose
    /// preprocessing scales `[lo, hi]` onto `[0, 1]`, or that takes `[0, 1]`
    /// inputs unpreprocessed: the first value outside is an error naming
    /// the sample and the feature (counted from 1) in plain words.
    pub fn check_input_range(&self, x: &latent_engine::Matrix, what: &Path) -> Result<()> {
        let (lo, hi, why) = match self.preprocess {
            Preprocess::Scale { lo, hi } | Preprocess::Binarize { lo, hi, .. } => (
                lo,
                hi,
                format!(
                    "the range the model's preprocessing ({}) maps onto [0, 1]",
                    self.preprocess.describe()
                ),
            ),
            Preprocess::None if self.model.unit_outputs() => (
                0.0,
                1.0,
                format!(
                    "the inputs of this {} model (not preprocessed: data on the scale it was trained on)",
                    self.kind.name()
                ),
            ),
            Preprocess::None | Preprocess::Standardize(_) => return Ok(()),
        };
        let Some(i) = x.as_slice().iter().position(|v| !(lo..=hi).contains(v)) else {
            return Ok(());
        };
        let cols = x.cols().max(1);
        Err(crate::ModelError::mismatch(
            format!(
                "{}: the value of sample {}, feature {}",
                what.display(),
                i / cols + 1,
                i % cols + 1
            ),
            format!("a value in [{lo}, {hi}], {why}"),
            x.as_slice()[i],
        ))
    }

    /// Writes the file (atomically: a failure leaves an existing file at
    /// `path` as it was).
    pub fn save(&self, path: &Path) -> Result<()> {
        Ok(self.checkpoint.save(path)?)
    }
}

/// Finishes a checkpoint for saving as a model file: the `kind`, the
/// model's own `lines` (first), then the `train:` line `settings` and the
/// `preprocess:` line, and the preprocessing tensors.
pub fn finish(
    ck: &mut Checkpoint,
    kind: Kind,
    lines: &str,
    settings: &str,
    pre: &Preprocess,
) -> Result<()> {
    ck.model_kind = kind.name().to_string();
    ck.hyperparameters = format!(
        "{}\ntrain: {settings}\npreprocess: {}",
        lines.trim_end(),
        pre.describe()
    );
    ck.persistent
        .retain(|t| !Preprocess::is_preprocess_tensor(&t.name));
    ck.persistent.extend(pre.tensors()?);
    Ok(())
}
