//! Training orchestration: a run writes a model file (see
//! [`persist`](crate::persist)) while it trains and when it ends, every
//! `checkpoint_every` epochs too, so a killed run loses at most that many
//! epochs and continues exactly from the file ([`resume_state`]); a run
//! made by [`Run::in_memory`] writes nothing and keeps the finished file's
//! contents ([`Run::kept`]). One model
//! ([`train_model`]) or a model trained in stages: a DBN layer by layer
//! ([`train_dbn`]), a deep autoencoder's layers pretrained then the
//! unrolled stack fine-tuned ([`train_deep_ae`]), a DBM pretrained (or
//! not) then trained jointly ([`train_dbm`]), a classifier pretrained (or
//! not) then fine-tuned with labels ([`train_classifier`]). The settings and their
//! defaults are [`Settings`]; what a person sees of the run goes through a
//! [`RunObserver`].
//!
//! ```
//! use latent_engine::{Dataset, Matrix, Par};
//! use latent_models::model::Inference;
//! use latent_models::persist::{self, Kind, Preprocess};
//! use latent_models::rbm::{Rbm, RbmConfig};
//! use latent_models::train::{self, Run, Settings, SettingsOverrides, Silent};
//! # fn main() -> latent_models::Result<()> {
//! // Sixty 4x4 bars-and-stripes images.
//! let x = Matrix::from_fn(60, 16, |i, j| ((i % 4 == j % 4) ^ (i % 2 == 0)) as u8 as f32)?;
//! let data = Dataset::new(x, None)?;
//! let flags = SettingsOverrides { epochs: Some(3), batch: Some(10), ..Default::default() };
//! let settings = Settings::resolve(Kind::Rbm, &flags, None)?;
//! let out = std::env::temp_dir().join(format!("doc-rbm-{}.latent", std::process::id()));
//! let (none, mut silent) = (Preprocess::None, Silent);
//! let mut run = Run::new(&out, &settings, &none, &mut silent);
//! let rbm = Rbm::new(RbmConfig::bernoulli(16, 8), settings.seed)?;
//! let (trainer, _) = train::train_model(&mut run, (rbm, None), ("rbm", Kind::Rbm), (&data, None))?;
//! assert_eq!(trainer.epochs_done(), 3);
//! // The file loads back as a model of any kind and encodes data.
//! let file = persist::load(&out)?;
//! let features = file.model.features(&data.x, Par::All)?;
//! assert_eq!(features.shape(), (60, 8));
//! # std::fs::remove_file(&out).ok();
//! # Ok(())
//! # }
//! ```

mod classifier;
mod classifier_stages;
mod dbm;
mod dbn;
mod deep_ae;
mod layer_stages;
mod psd;
mod settings;

pub use classifier::{
    ClassifierOutcome, ClassifierPlan, ClassifierResume, check_labels, default_pretrain_lr,
    held_out_rows, pretrain_settings, split_validation,
};
pub use classifier_stages::train_classifier;
pub use dbm::{DbmOutcome, DbmPlan, DbmPretrain, DbmResume, train_dbm};
pub use dbn::{DbnOutcome, DbnPlan, DbnResume, train_dbn};
pub use deep_ae::{DeepAeOutcome, DeepAePlan, DeepAeResume, train_deep_ae};
pub use psd::train_psd;
pub use settings::{Optimizer, Settings, SettingsOverrides, default_lr, default_weight_decay};

use std::path::Path;

use latent_engine::checkpoint::EpochRecord;
use latent_engine::data::rows::TrainRows;
use latent_engine::train::{FitSummary, GradientReducer, Model, Observer, Trainer};
use latent_engine::{Checkpoint, Dataset};

use crate::error::{ModelError, Result};
use crate::model::WithPrecision;
pub use crate::persist::resume_state;
use crate::persist::{Kind, Preprocess, finish};

/// What a person sees of a run, beyond the engine's per-batch and
/// per-epoch [`Observer`] calls.
pub trait RunObserver: Observer + Send {
    /// A stage starts (a DBN layer, a pretraining layer, fine-tuning):
    /// its label, and its layer when it trains one.
    fn stage(&mut self, label: &str, layer: Option<usize>) {
        let _ = (label, layer);
    }

    /// A line about the run: what is trained on what.
    fn note(&mut self, text: &str) {
        let _ = text;
    }

    /// The epochs in all of the fit that starts (it may run in pieces).
    fn begin_fit(&mut self, epochs: usize) {
        let _ = epochs;
    }

    /// A piece of a fit ended, well or not; an error the observer met
    /// while it ran (e.g. writing a metrics file) fails the run.
    fn end_fit(&mut self) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(())
    }

    /// The whole fit ended, well or not (e.g. clear a progress bar).
    fn fit_done(&mut self) {}
}

/// A [`RunObserver`] that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}
impl RunObserver for Silent {}

/// The model file of a run: its path (none: kept in memory), and the
/// settings and preprocessing it records.
#[derive(Clone, Copy)]
struct ModelOut<'a> {
    out: Option<&'a Path>,
    settings: &'a Settings,
    preprocess: &'a Preprocess,
}

impl ModelOut<'_> {
    /// Finishes `ck` as a model file of `kind` with the model's `lines` and
    /// writes it (atomically) when the run has a path.
    fn write(self, mut ck: Checkpoint, kind: Kind, lines: &str) -> Result<Checkpoint> {
        finish(&mut ck, kind, lines, &self.settings.line(), self.preprocess)?;
        if let Some(out) = self.out {
            ck.save(out)?;
        }
        Ok(ck)
    }
}

/// A training run: where its model file goes and how often, its settings,
/// the preprocessing its data had, and its observer.
pub struct Run<'a> {
    /// The model file, written atomically; `None`: nothing is written, the
    /// finished file's contents are [`kept`](Self::kept).
    pub out: Option<&'a Path>,
    /// Write the file every this many epochs while training, too.
    pub checkpoint_every: Option<usize>,
    /// The settings.
    pub settings: &'a Settings,
    /// The preprocessing the data had (stored in the file).
    pub preprocess: &'a Preprocess,
    /// What a person sees.
    pub observer: &'a mut dyn RunObserver,
    /// Without `out`: the model file's contents as the run finished them
    /// (set when [`train_model`], [`train_dbn`], [`train_deep_ae`] or
    /// [`train_dbm`] returns); with `out`, `None`.
    pub kept: Option<Checkpoint>,
    /// The ranks of a data-parallel run, given to the trainer of each
    /// stage while it fits ([`Run::fit`]; see [`Trainer::set_reducer`]);
    /// `None` trains alone. Every rank trains every stage on the whole
    /// data's share it gets, and computes what a stage passes to the next
    /// (a layer's codes of the data) on all the rows, as a run alone does.
    pub reducer: Option<Box<dyn GradientReducer>>,
    /// With a reducer: average the ranks' parameters and optimiser state
    /// every this many steps instead of summing gradients every step
    /// ([`Trainer::set_average_every`]); `None` sums gradients.
    pub average_every: Option<usize>,
}

impl<'a> Run<'a> {
    /// A run writing `out` at the end only.
    pub fn new(
        out: &'a Path,
        settings: &'a Settings,
        preprocess: &'a Preprocess,
        observer: &'a mut dyn RunObserver,
    ) -> Self {
        Run {
            out: Some(out),
            checkpoint_every: None,
            settings,
            preprocess,
            observer,
            kept: None,
            reducer: None,
            average_every: None,
        }
    }

    /// A run that writes no file: when it ends, [`kept`](Self::kept) holds
    /// what [`new`](Self::new)'s run would have written at the end (for a
    /// caller that keeps the model in memory, e.g. the Python package).
    pub fn in_memory(
        settings: &'a Settings,
        preprocess: &'a Preprocess,
        observer: &'a mut dyn RunObserver,
    ) -> Self {
        Run {
            out: None,
            checkpoint_every: None,
            settings,
            preprocess,
            observer,
            kept: None,
            reducer: None,
            average_every: None,
        }
    }

    /// Keeps `ck`, the finished file's contents, when the run writes none.
    fn keep(&mut self, ck: &Checkpoint) {
        if self.out.is_none() {
            self.kept = Some(ck.clone());
        }
    }

    /// Where and how the run's model file is written, apart from the run
    /// (a save closure holds it while the run trains).
    fn file(&self) -> ModelOut<'a> {
        ModelOut {
            out: self.out,
            settings: self.settings,
            preprocess: self.preprocess,
        }
    }

    /// `training <label> on <n> samples (<pre>), epochs a..b of b, batch B,
    /// lr L`, or that the epochs are done already.
    fn intro(&mut self, label: &str, samples: usize, done: usize, s: &Settings) {
        let text = if done >= s.epochs {
            format!(
                "{label}: {done} of {} epochs done already (a larger --epochs continues it)",
                s.epochs
            )
        } else {
            format!(
                "training {label} on {samples} samples ({}), epochs {}..{} of {}, batch {}, {}",
                self.preprocess.describe(),
                done + 1,
                s.epochs,
                s.epochs,
                s.batch,
                s.describe()
            )
        };
        self.observer.note(&text);
    }

    /// Trains `model` (restored from `state` when resuming) in `s`'s
    /// precision up to `s.epochs` epochs on `data` (training, validation): the intro line
    /// (`label`), then [`fit`](Self::fit) with `save` after every piece but
    /// the last (the caller saves the end). The training data is a
    /// [`Dataset`] or [`TrainRows`] (e.g. rows read from a file as needed).
    pub fn train<'d, M: Model + WithPrecision + Send>(
        &mut self,
        (mut model, state): (M, Option<Checkpoint>),
        label: &str,
        data: (impl Into<TrainRows<'d>>, Option<&'d Dataset>),
        s: &Settings,
        save: &mut dyn FnMut(&Trainer<M>) -> Result<()>,
    ) -> Result<(Trainer<M>, FitSummary)> {
        model.set_precision(s.precision);
        let mut trainer = Trainer::new(model, s.train_config())?;
        if let Some(state) = &state {
            trainer.restore(state)?;
        }
        let data = (data.0.into(), data.1);
        self.intro(label, data.0.len(), trainer.epochs_done(), s);
        self.fit(trainer, s.epochs, data, save)
    }

    /// Trains until `epochs` epochs are done with `save` every
    /// `checkpoint_every` epochs (not at the end: the caller saves that), as
    /// the engine's [`Trainer::fit_checkpointed`] does. Returns the trainer
    /// and what the whole call did. In a data-parallel run the trainer
    /// (restored first, when resuming) trains with the run's reducer, which
    /// comes back to the run when the fit ends, for the next stage.
    pub fn fit<'d, M: Model + Send>(
        &mut self,
        mut trainer: Trainer<M>,
        epochs: usize,
        data: (impl Into<TrainRows<'d>>, Option<&'d Dataset>),
        save: &mut dyn FnMut(&Trainer<M>) -> Result<()>,
    ) -> Result<(Trainer<M>, FitSummary)> {
        if let Some(reducer) = self.reducer.take() {
            trainer.set_reducer(reducer)?;
            trainer.set_average_every(self.average_every)?;
        }
        self.observer.begin_fit(epochs);
        trainer.set_epochs(epochs);
        let every = self.checkpoint_every;
        let fitted = trainer.fit_checkpointed(data.0, data.1, &mut *self.observer, every, save);
        self.reducer = trainer.take_reducer();
        let observed = self.observer.end_fit().map_err(ModelError::Observer);
        self.observer.fit_done();
        let summary = observed.and(fitted)?;
        Ok((trainer, summary))
    }
}

/// A run of one model (rbm, gaussian-rbm, ae, vae): [`Run::train`] on
/// `data`, writing the model file of `kind` (the model's own text, its
/// [`Model::hyperparameters`], see [`persist`](crate::persist); the
/// settings and preprocessing) every `checkpoint_every` epochs and at the
/// end.
pub fn train_model<'d, M: Model + WithPrecision + Send>(
    run: &mut Run<'_>,
    start: (M, Option<Checkpoint>),
    (label, kind): (&str, Kind),
    data: (impl Into<TrainRows<'d>>, Option<&'d Dataset>),
) -> Result<(Trainer<M>, FitSummary)> {
    let settings = *run.settings;
    let file = run.file();
    let mut save = |t: &Trainer<M>| -> Result<()> {
        let text = t.model().hyperparameters();
        file.write(t.checkpoint(), kind, &text).map(drop)
    };
    let (trainer, summary) = run.train(start, label, data, &settings, &mut save)?;
    let text = trainer.model().hyperparameters();
    let ck = file.write(trainer.checkpoint(), kind, &text)?;
    run.keep(&ck);
    Ok((trainer, summary))
}

/// What a stage of a layer-wise run trains on: the run's own data
/// (training, validation), borrowed, for the bottom layer; above it the
/// codes of the layers below, owned.
struct StageData<'d> {
    base: (&'d Dataset, Option<&'d Dataset>),
    codes: Option<(Dataset, Option<Dataset>)>,
}

impl<'d> StageData<'d> {
    fn new(base: (&'d Dataset, Option<&'d Dataset>)) -> Self {
        StageData { base, codes: None }
    }

    /// The training and validation data of the next stage.
    fn get(&self) -> (&Dataset, Option<&Dataset>) {
        match &self.codes {
            Some((train, valid)) => (train, valid.as_ref()),
            None => self.base,
        }
    }

    /// Moves both up through a finished layer, `up` giving its codes.
    fn up(&mut self, up: impl Fn(&Dataset) -> Result<Dataset>) -> Result<()> {
        let (train, valid) = self.get();
        let next = (up(train)?, valid.map(&up).transpose()?);
        self.codes = Some(next);
        Ok(())
    }
}

/// The history of a staged run as one list: the finished stages' records
/// (tagged with their layer) then the current stage's.
fn join_history(before: &[EpochRecord], current: &[EpochRecord]) -> Vec<EpochRecord> {
    let mut all = before.to_vec();
    all.extend(current.iter().cloned());
    all
}

#[cfg(test)]
mod tests {
    use latent_engine::Matrix;

    use super::*;
    use crate::persist::{DeepAeSpec, Pretrain};
    use crate::rbm::{Rbm, RbmConfig};

    /// What must agree between a file run and an in-memory run (the
    /// history records hold wall-clock seconds, which do not).
    fn contents(ck: &Checkpoint) -> (String, String, Vec<(String, Vec<f32>)>, usize) {
        let params = ck.params.tensors().iter();
        let params = params.map(|t| (t.name.clone(), t.value.as_slice().to_vec()));
        let kind = ck.model_kind.clone();
        (
            kind,
            ck.hyperparameters.clone(),
            params.collect(),
            ck.history.len(),
        )
    }

    /// Runs `train` once writing a file and once in memory: the kept
    /// checkpoint is the file's contents, and the in-memory run wrote
    /// nothing.
    fn same_in_memory(name: &str, train: impl Fn(&mut Run<'_>) -> Result<()>) {
        let dir = std::env::temp_dir().join(format!("latent-run-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("m.latent");
        let settings = Settings {
            epochs: 2,
            batch: 10,
            ..Settings::defaults(Kind::Rbm)
        };
        let (none, mut silent) = (Preprocess::None, Silent);
        let mut run = Run::new(&out, &settings, &none, &mut silent);
        train(&mut run).unwrap();
        assert!(
            run.kept.is_none(),
            "{name}: a run with a file keeps nothing"
        );
        let written = Checkpoint::load(&out).unwrap();
        std::fs::remove_file(&out).unwrap();
        let mut run = Run::in_memory(&settings, &none, &mut silent);
        train(&mut run).unwrap();
        let kept = run.kept.take().expect("an in-memory run keeps its file");
        assert_eq!(contents(&kept), contents(&written), "{name}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "{name}");
        std::fs::remove_dir(&dir).unwrap();
    }

    fn data() -> Dataset {
        let x = Matrix::from_fn(40, 8, |i, j| ((i * 7 + j * 3) % 5 < 2) as u8 as f32).unwrap();
        Dataset::new(x, None).unwrap()
    }

    #[test]
    fn an_in_memory_run_keeps_what_a_file_run_writes() {
        let d = data();
        same_in_memory("rbm", |run| {
            let rbm = Rbm::new(RbmConfig::bernoulli(8, 4), 3)?;
            train_model(run, (rbm, None), ("rbm", Kind::Rbm), (&d, None)).map(drop)
        });
        same_in_memory("dbn", |run| {
            let plan = DbnPlan {
                sizes: vec![8, 4, 3],
                layer: RbmConfig::bernoulli(1, 1),
                resume: None,
            };
            train_dbn(run, plan, (&d, None)).map(drop)
        });
        same_in_memory("dbm", |run| {
            let plan = DbmPlan {
                config: crate::dbm::DbmConfig::bernoulli(&[8, 4, 3]),
                pretrain: Some(DbmPretrain::new(1)),
                resume: None,
            };
            train_dbm(run, plan, (&d, None)).map(drop)
        });
        same_in_memory("deep-ae", |run| {
            let config = crate::ae::AeConfig::new(
                &[8, 4, 2],
                latent_kernels::activation::Activation::Sigmoid,
            );
            let spec = DeepAeSpec {
                pretrain: Pretrain::Rbm(RbmConfig::bernoulli(8, 4)),
                config,
                pretrain_epochs: 1,
                pretrain_optimizer: None,
            };
            train_deep_ae(run, DeepAePlan { spec, resume: None }, (&d, None)).map(drop)
        });
    }
}
