//! The stages of [`train_classifier`]: the hidden layers' pretraining (each
//! a staged file, as a DBN's), then fine-tuning with labels.

use latent_engine::checkpoint::EpochRecord;
use latent_engine::train::{EarlyStopping, FitSummary, Model, StopReason, Trainer};
use latent_engine::{Checkpoint, Dataset, Par, Tensor};

use super::classifier::{
    ClassifierOutcome, ClassifierPlan, ClassifierResume, Tuned, check_labels, pretrain_settings,
    split_validation,
};
use super::layer_stages::{Pretrained, Stage, layer_params, pretrain};
use super::{Run, join_history};
use crate::ae::{Classifier, StackedPretrainer};
use crate::error::{ModelError, Result};
use crate::model::WithPrecision;
use crate::persist::classifier::LAST_PREFIX;
use crate::persist::{ClassifierPretrain, ClassifierSpec, Kind, LayerModel, Validation};

/// The training and validation data of fine-tuning: the run's, or the
/// training rows split by the spec's fraction (from the run's seed).
fn fine_tuning_data<'d>(
    spec: &ClassifierSpec,
    seed: u64,
    (train, valid): (&'d Dataset, Option<&'d Dataset>),
) -> Result<(
    std::borrow::Cow<'d, Dataset>,
    Option<std::borrow::Cow<'d, Dataset>>,
)> {
    use std::borrow::Cow;
    check_labels(train, spec.classes, "the training data")?;
    Ok(match spec.validation {
        Validation::None => (Cow::Borrowed(train), None),
        Validation::Data => {
            let v = valid.ok_or_else(|| {
                ModelError::mismatch("validation data of a classifier", "labelled data", "none")
            })?;
            check_labels(v, spec.classes, "the validation data")?;
            (Cow::Borrowed(train), Some(Cow::Borrowed(v)))
        }
        Validation::Fraction(f) => {
            let (t, v) = split_validation(train, f, seed)?;
            (Cow::Owned(t), Some(Cow::Owned(v)))
        }
    })
}

/// Pretrains (what is left of) the hidden layers, then fine-tunes the
/// classifier on `data` (training with labels; validation with labels when
/// the spec validates on separate data) in `run`, writing the model file
/// of kind `classifier` as it goes and at the end.
pub fn train_classifier(
    run: &mut Run<'_>,
    plan: ClassifierPlan,
    data: (&Dataset, Option<&Dataset>),
) -> Result<ClassifierOutcome> {
    let spec = plan.spec;
    let (train, valid) = fine_tuning_data(&spec, run.settings.seed, data)?;
    let mut pre = Pretrained::new((&train, None), run.settings.precision);
    let (start, best, mut epochs_run) = match plan.resume {
        Some(ClassifierResume::FineTuning {
            current,
            best,
            history,
        }) => {
            pre.history = history;
            ((*current.0, Some(current.1)), best, 0)
        }
        resume => {
            let (clf, n) = pretrained(run, &spec, &mut pre, resume)?;
            ((clf, None), None, n)
        }
    };
    let tuned = Tuned::new(
        start.0,
        best.as_deref(),
        start.1.as_ref().map_or(&[], |s| &s.history),
    )?;
    let valid = valid.as_deref();
    let (trainer, summary) = finetune(run, &spec, &pre.history, (tuned, start.1), (&train, valid))?;
    epochs_run += summary.epochs_run;
    finish(
        run,
        &spec,
        &pre.history,
        trainer,
        summary,
        epochs_run,
        valid.map_or(0, Dataset::len),
    )
}

/// The classifier fine-tuning starts from: the hidden layers pretrained
/// (those of a file resumed in pretraining, then the rest) under a fresh
/// softmax, or a fresh classifier without pretraining; and the epochs run.
fn pretrained(
    run: &mut Run<'_>,
    spec: &ClassifierSpec,
    pre: &mut Pretrained<'_>,
    resume: Option<ClassifierResume>,
) -> Result<(Classifier, usize)> {
    let mut cont = None;
    if let Some(ClassifierResume::Pretraining {
        done,
        current,
        history,
    }) = resume
    {
        pre.history = history;
        for m in &done {
            pre.push(m.layer()?, layer_params(m))?;
        }
        cont = Some(current);
    }
    let epochs_run = pretrain_all(run, spec, pre, cont)?;
    let seed = run.settings.seed;
    let clf = match spec.pretrain {
        ClassifierPretrain::None => {
            Classifier::new(&spec.sizes, &spec.activations, spec.classes, seed)?
        }
        _ => spec.classifier_on(&pre.layers, seed)?,
    };
    Ok((clf, epochs_run))
}

/// Pretrains every layer not yet finished, `cont` the layer in training
/// of a resumed file; returns the epochs run.
fn pretrain_all(
    run: &mut Run<'_>,
    spec: &ClassifierSpec,
    pre: &mut Pretrained<'_>,
    mut cont: Option<(LayerModel, Checkpoint)>,
) -> Result<usize> {
    let mut epochs_run = 0;
    if spec.pretrain == ClassifierPretrain::None {
        return Ok(0);
    }
    for l in pre.layers.len()..spec.depth() {
        let (model, state) = match cont.take() {
            Some((m, s)) => (m, Some(s)),
            None => (
                new_layer(spec, l, run.settings.seed, pre.data.get().0)?,
                None,
            ),
        };
        let stage = Stage {
            kind: Kind::Classifier,
            lines: spec.lines(false, None),
            settings: pretrain_settings(spec, run.settings),
            sizes: (spec.sizes[l], spec.sizes[l + 1]),
        };
        let (layer, params, records, n) = pretrain(run, pre, (model, state), l, &stage)?;
        epochs_run += n;
        pre.history.extend(records);
        pre.push(layer, params)?;
    }
    Ok(epochs_run)
}

/// A new pretraining layer `l` on `input`, seeded with `seed + l`.
fn new_layer(spec: &ClassifierSpec, l: usize, seed: u64, input: &Dataset) -> Result<LayerModel> {
    let s = &spec.sizes;
    let seed = seed.wrapping_add(l as u64);
    Ok(match &spec.pretrain {
        ClassifierPretrain::Ae(t) => {
            LayerModel::Ae(Box::new(StackedPretrainer::autoencoder_layer(
                &spec.layer_ae(t, l),
                s[l],
                s[l + 1],
                &input.x,
                seed,
                Par::All,
            )?))
        }
        ClassifierPretrain::Rbm(rc) => LayerModel::Rbm(Box::new(StackedPretrainer::rbm_layer(
            &spec.layer_rbm(rc, l),
            s[l],
            s[l + 1],
            &input.x,
            seed,
            Par::All,
        )?)),
        ClassifierPretrain::None => {
            return Err(ModelError::mismatch(
                "a layer to pretrain",
                "rbm or ae",
                "none",
            ));
        }
    })
}

/// The model file of fine-tuning's trainer `t`: the pretraining records
/// then fine-tuning's; validated, the best epoch's parameters as the
/// model's and the last epoch's as the persistent `last.` tensors.
fn finetune_checkpoint(t: &Trainer<Tuned>, pretraining: &[EpochRecord]) -> Result<Checkpoint> {
    let mut ck = t.checkpoint();
    ck.history = join_history(pretraining, t.history());
    ck.epoch = ck.history.len() as u64;
    if t.model().best_metric.is_some() {
        for p in ck.params.tensors() {
            ck.persistent.push(Tensor {
                name: format!("{LAST_PREFIX}{}", p.name),
                role: p.role,
                value: p.value.clone(),
            });
        }
        ck.params.copy_from(&t.model().best)?;
    }
    Ok(ck)
}

/// Fine-tunes the classifier, writing the file after every piece (the
/// caller writes the end).
fn finetune(
    run: &mut Run<'_>,
    spec: &ClassifierSpec,
    pretraining: &[EpochRecord],
    (mut model, state): (Tuned, Option<Checkpoint>),
    data: (&Dataset, Option<&Dataset>),
) -> Result<(Trainer<Tuned>, FitSummary)> {
    let label = format!(
        "classifier fine-tuning {} + softmax({})",
        dashed(&spec.sizes),
        spec.classes
    );
    run.observer.stage(&label, None);
    let s = *run.settings;
    model.set_precision(s.precision);
    let mut config = s.train_config();
    if data.1.is_some() {
        config.early_stopping = spec.patience.map(|patience| EarlyStopping {
            patience,
            min_delta: 0.0,
            restore_best: false,
        });
    }
    let mut trainer = Trainer::new(model, config)?;
    if let Some(state) = &state {
        trainer.restore(state)?;
    }
    run.intro(&label, data.0.len(), trainer.epochs_done(), &s);
    let (file, lines) = (run.file(), spec.lines(true, None));
    let mut save = |t: &Trainer<Tuned>| -> Result<()> {
        file.write(
            finetune_checkpoint(t, pretraining)?,
            Kind::Classifier,
            &lines,
        )
        .map(drop)
    };
    run.fit(trainer, s.epochs, data, &mut save)
}

/// Puts the best epoch's parameters into the classifier, writes the
/// finished file and says what was done.
fn finish(
    run: &mut Run<'_>,
    spec: &ClassifierSpec,
    pretraining: &[EpochRecord],
    trainer: Trainer<Tuned>,
    summary: FitSummary,
    epochs_run: usize,
    validation_rows: usize,
) -> Result<ClassifierOutcome> {
    let early = match summary.stop {
        StopReason::EarlyStopped { best_epoch } => Some(best_epoch),
        _ => None,
    };
    let ck = finetune_checkpoint(&trainer, pretraining)?;
    let checkpoint = run
        .file()
        .write(ck, Kind::Classifier, &spec.lines(true, early))?;
    run.keep(&checkpoint);
    let best_epoch = best_epoch(trainer.history());
    let history = join_history(pretraining, trainer.history());
    let finetune_epochs = trainer.epochs_done();
    let mut tuned = trainer.into_model();
    if tuned.best_metric.is_some() {
        tuned.clf.params_mut().copy_from(&tuned.best)?;
    }
    Ok(ClassifierOutcome {
        classifier: tuned.clf,
        summary,
        history,
        epochs_run,
        finetune_epochs,
        best_epoch,
        validation_rows,
        checkpoint,
    })
}

/// The epoch with the lowest validation error (the first of equals).
fn best_epoch(history: &[EpochRecord]) -> Option<usize> {
    history
        .iter()
        .filter_map(|r| r.valid_metric.map(|v| (r.epoch as usize, v)))
        .fold(None, |b: Option<(usize, f64)>, (e, v)| match b {
            Some((_, bv)) if bv <= v => b,
            _ => Some((e, v)),
        })
        .map(|(e, _)| e)
}

/// `784-500-500`.
fn dashed(sizes: &[usize]) -> String {
    let s: Vec<String> = sizes.iter().map(|s| s.to_string()).collect();
    s.join("-")
}
