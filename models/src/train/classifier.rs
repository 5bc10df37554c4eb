//! A classifier: its hidden layers pretrained greedily (as a DBN: RBMs by
//! CD-k with SGD and momentum; or as a stacked autoencoder; or not at all),
//! topped with a softmax, then the whole stack fine-tuned by backpropagation
//! of the cross-entropy of the labels. Fine-tuning validates every epoch
//! (on a fraction of the training rows held out by the seed, or on separate
//! labelled data) when asked, keeps the best epoch's parameters, and stops
//! after `patience` epochs without a better validation error. A resumed
//! file continues the layer it was pretraining, or its fine-tuning, exactly
//! (see [`persist::classifier`](crate::persist::classifier) for the file).

use latent_engine::checkpoint::EpochRecord;
use latent_engine::train::{FitSummary, Model, StepContext, StepOutput};
use latent_engine::{Batch, Checkpoint, Dataset, Matrix, Par, ParamSet, Rng};

use super::{Optimizer, Settings};
use crate::ae::Classifier;
use crate::error::{ModelError, Result};
use crate::model::WithPrecision;
use crate::persist::classifier::LAST_PREFIX;
use crate::persist::{
    ClassifierPretrain, ClassifierSpec, ClassifierState, Kind, LayerModel, record_layer,
    resume_state, stage_state,
};

/// Where a resumed classifier file left off.
#[derive(Debug)]
pub enum ClassifierResume {
    /// In pretraining: the finished layers' models, the layer in training
    /// with its trainer's state, and the finished layers' records.
    Pretraining {
        /// Finished layers, bottom first.
        done: Vec<LayerModel>,
        /// The layer in training and its state.
        current: (LayerModel, Checkpoint),
        /// The finished layers' records (tagged with their layer).
        history: Vec<EpochRecord>,
    },
    /// In fine-tuning: the classifier in training (the last epoch's
    /// parameters) and its state, the best epoch's parameters when
    /// validated, and every pretraining record.
    FineTuning {
        /// The classifier in training and its trainer's state.
        current: (Box<Classifier>, Checkpoint),
        /// The best validated epoch's classifier.
        best: Option<Box<Classifier>>,
        /// The pretraining records.
        history: Vec<EpochRecord>,
    },
}

impl ClassifierResume {
    /// Where the classifier file `ck` in state `state` (see
    /// [`classifier_state`](crate::persist::classifier_state)) left off.
    pub fn new(ck: &Checkpoint, state: ClassifierState) -> Result<ClassifierResume> {
        Ok(match state {
            ClassifierState::FineTuning(file, last) => {
                let history = ck
                    .history
                    .iter()
                    .filter(|r| record_layer(r).is_some())
                    .cloned()
                    .collect();
                let mut s = resume_state(ck, TUNED_KIND);
                s.persistent.retain(|t| !t.name.starts_with(LAST_PREFIX));
                let (current, best) = match last {
                    Some(last) => {
                        s.params.copy_from(last.params())?;
                        (last, Some(file))
                    }
                    None => (file, None),
                };
                ClassifierResume::FineTuning {
                    current: (current, s),
                    best,
                    history,
                }
            }
            ClassifierState::Pretraining(mut models) => {
                let top = models.len() - 1;
                let last = models.pop().expect("a classifier file has a layer");
                let history = ck
                    .history
                    .iter()
                    .filter(|r| record_layer(r).is_some_and(|l| l != top))
                    .cloned()
                    .collect();
                let kind = match &last {
                    LayerModel::Ae(a) => a.kind().to_string(),
                    LayerModel::Rbm(r) => r.kind().to_string(),
                };
                let state = stage_state(ck, top, &kind)?;
                ClassifierResume::Pretraining {
                    done: models,
                    current: (last, state),
                    history,
                }
            }
        })
    }
}

/// A classifier to train.
#[derive(Debug)]
pub struct ClassifierPlan {
    /// The setup: the network, its pretraining and validation.
    pub spec: ClassifierSpec,
    /// Where a resumed file left off.
    pub resume: Option<ClassifierResume>,
}

/// What [`train_classifier`] did.
#[derive(Debug)]
pub struct ClassifierOutcome {
    /// The classifier as written (the best validated epoch's parameters).
    pub classifier: Classifier,
    /// What the fine-tuning fit did.
    pub summary: FitSummary,
    /// Every record: pretraining (tagged with the layer), then fine-tuning.
    pub history: Vec<EpochRecord>,
    /// Epochs run by this call, pretraining and fine-tuning.
    pub epochs_run: usize,
    /// Fine-tuning epochs done in all.
    pub finetune_epochs: usize,
    /// The epoch (from 0) whose parameters were kept, when validated.
    pub best_epoch: Option<usize>,
    /// The validation rows (held out or given), 0 without validation.
    pub validation_rows: usize,
    /// The model file as written.
    pub checkpoint: Checkpoint,
}

/// Rows held out for validation from `n` training rows with fraction `f`
/// (at least one, and at least one left to train on).
pub fn held_out_rows(n: usize, f: f32) -> usize {
    ((n as f64 * f as f64).round() as usize).clamp(1, n.saturating_sub(1).max(1))
}

/// Splits `data` into training and validation rows: `held_out_rows` rows
/// chosen by a shuffle seeded with `seed` go to validation; both keep the
/// rows' order.
pub fn split_validation(data: &Dataset, fraction: f32, seed: u64) -> Result<(Dataset, Dataset)> {
    let n = data.len();
    if n < 2 {
        return Err(ModelError::mismatch(
            "training samples to hold a validation fraction out of",
            "at least 2",
            n,
        ));
    }
    let mut order: Vec<usize> = (0..n).collect();
    Rng::stream(seed, 0x5641_4c49_4400).shuffle(&mut order); // "VALID"
    let mut held = vec![false; n];
    for &i in &order[..held_out_rows(n, fraction)] {
        held[i] = true;
    }
    let pick = |keep: bool| -> Result<Dataset> {
        let rows: Vec<usize> = (0..n).filter(|&i| held[i] == keep).collect();
        let cols = data.x.cols();
        let mut x = Matrix::zeros(rows.len(), cols)?;
        for (o, &i) in rows.iter().enumerate() {
            x.as_mut_slice()[o * cols..(o + 1) * cols].copy_from_slice(data.x.row(i));
        }
        let labels = (data.labels.as_ref()).map(|l| rows.iter().map(|&i| l[i]).collect());
        Ok(Dataset::new(x, labels)?)
    };
    Ok((pick(false)?, pick(true)?))
}

/// Checks that `d` has labels, all below `classes`; `what` names the data.
pub fn check_labels(d: &Dataset, classes: usize, what: &str) -> Result<()> {
    let labels = d.labels.as_ref().ok_or_else(|| {
        ModelError::mismatch(format!("{what}: labels"), "one label per sample", "none")
    })?;
    if let Some((i, &y)) = labels
        .iter()
        .enumerate()
        .find(|&(_, &y)| y as usize >= classes)
    {
        return Err(ModelError::mismatch(
            format!("{what}: label of sample {}", i + 1),
            format!("a class in 0..{classes}"),
            y,
        ));
    }
    Ok(())
}

/// The kind fine-tuning's trainer states carry.
const TUNED_KIND: &str = "classifier";

/// The classifier in fine-tuning, keeping the best validated epoch's
/// parameters (the engine's early stopping only decides when to stop).
#[derive(Debug)]
pub(super) struct Tuned {
    pub(super) clf: Classifier,
    /// The best epoch's parameters (the start's until one is validated).
    pub(super) best: ParamSet,
    /// The best validation error so far.
    pub(super) best_metric: Option<f64>,
}

impl Tuned {
    pub(super) fn new(
        clf: Classifier,
        best: Option<&Classifier>,
        history: &[EpochRecord],
    ) -> Result<Self> {
        let mut params = clf.params().clone();
        if let Some(b) = best {
            params.copy_from(b.params())?;
        }
        // The first of the lowest, as the engine's early stopping finds it.
        let best_metric =
            history
                .iter()
                .filter_map(|r| r.valid_metric)
                .fold(None, |b: Option<f64>, v| match b {
                    Some(b) if b <= v => Some(b),
                    _ => Some(v),
                });
        Ok(Tuned {
            clf,
            best: params,
            best_metric,
        })
    }
}

impl Model for Tuned {
    fn kind(&self) -> &str {
        TUNED_KIND
    }

    fn hyperparameters(&self) -> String {
        self.clf.hyperparameters()
    }

    fn params(&self) -> &ParamSet {
        self.clf.params()
    }

    fn params_mut(&mut self) -> &mut ParamSet {
        self.clf.params_mut()
    }

    fn gradient(
        &mut self,
        batch: &Batch<'_>,
        grads: &mut ParamSet,
        ctx: &mut StepContext<'_>,
    ) -> latent_engine::Result<StepOutput> {
        self.clf.gradient(batch, grads, ctx)
    }

    /// The classifier's error rate; a strictly lower one than before keeps
    /// these parameters as the best.
    fn validation_metric(
        &mut self,
        x: &Matrix,
        labels: Option<&[u32]>,
        par: Par,
    ) -> latent_engine::Result<Option<f64>> {
        let m = self.clf.validation_metric(x, labels, par)?;
        if let Some(v) = m
            && self.best_metric.is_none_or(|b| v < b)
        {
            self.best_metric = Some(v);
            self.best.copy_from(self.clf.params())?;
        }
        Ok(m)
    }
}

impl WithPrecision for Tuned {
    fn precision(&self) -> latent_kernels::Precision {
        self.clf.precision()
    }
    fn set_precision(&mut self, precision: latent_kernels::Precision) {
        self.clf.set_precision(precision)
    }
}

/// The training settings of pretraining: as `latent train dbn` trains an
/// RBM (SGD with Hinton's momentum, weight decay 1e-4) or as `deep-ae`
/// trains an autoencoder (Adam, no weight decay), at the spec's rate and
/// epochs; batch, seed and precision the run's.
pub fn pretrain_settings(spec: &ClassifierSpec, run: &Settings) -> Settings {
    let kind = match spec.pretrain {
        ClassifierPretrain::Ae(_) => Kind::Ae,
        _ => Kind::Dbn,
    };
    let base = Settings::defaults(kind);
    Settings {
        epochs: spec.pretrain_epochs,
        lr: spec.pretrain_lr,
        momentum: None,
        batch: run.batch,
        seed: run.seed,
        precision: run.precision,
        ..base
    }
}

/// The default pretraining learning rate: 0.1 for RBMs (SGD), 0.001 for
/// autoencoders (Adam).
pub fn default_pretrain_lr(pretrain: &ClassifierPretrain) -> f32 {
    match pretrain {
        ClassifierPretrain::Ae(_) => super::default_lr(Kind::Ae, Optimizer::Adam),
        _ => super::default_lr(Kind::Dbn, Optimizer::Sgd),
    }
}
