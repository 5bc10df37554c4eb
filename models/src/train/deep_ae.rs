//! A deep autoencoder: each layer pretrained greedily (a one-layer
//! autoencoder or an RBM on the codes of the layers below), the stack
//! unrolled, then fine-tuned end to end. A resumed file continues the layer
//! it was pretraining, or its fine-tuning.

use latent_engine::checkpoint::EpochRecord;
use latent_engine::train::{FitSummary, Model, Trainer};
use latent_engine::{Checkpoint, Dataset, Par};

use super::layer_stages::{Pretrained, Stage, layer_params, pretrain};
use super::{Run, Settings, join_history};
use crate::ae::{Autoencoder, StackedPretrainer};
use crate::error::Result;
use crate::persist::{
    DeepAeSpec, DeepAeState, Kind, LayerModel, Pretrain, record_layer, resume_state, stage_state,
};

/// Where a resumed deep-ae file left off.
#[derive(Debug)]
pub enum DeepAeResume {
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
    /// In fine-tuning: the unrolled model, its state, and every
    /// pretraining record.
    FineTuning {
        /// The unrolled model and its trainer's state.
        current: (Box<Autoencoder>, Checkpoint),
        /// The pretraining records.
        history: Vec<EpochRecord>,
    },
}

impl DeepAeResume {
    /// Where the file `ck` in state `state` (see
    /// [`deep_ae_state`](crate::persist::deep_ae_state)) left off.
    pub fn new(ck: &Checkpoint, state: DeepAeState) -> Result<DeepAeResume> {
        Ok(match state {
            DeepAeState::FineTuning(ae) => {
                let history = ck
                    .history
                    .iter()
                    .filter(|r| record_layer(r).is_some())
                    .cloned()
                    .collect();
                let s = resume_state(ck, ae.kind());
                DeepAeResume::FineTuning {
                    current: (ae, s),
                    history,
                }
            }
            DeepAeState::Pretraining(mut models) => {
                let top = models.len() - 1;
                let last = models.pop().expect("a deep-ae file has a layer");
                let history = ck
                    .history
                    .iter()
                    .filter(|r| record_layer(r).is_some_and(|l| l != top))
                    .cloned()
                    .collect();
                let kind = layer_kind(&last);
                let state = stage_state(ck, top, &kind)?;
                DeepAeResume::Pretraining {
                    done: models,
                    current: (last, state),
                    history,
                }
            }
        })
    }
}

fn layer_kind(m: &LayerModel) -> String {
    match m {
        LayerModel::Ae(a) => a.kind().to_string(),
        LayerModel::Rbm(r) => r.kind().to_string(),
    }
}

/// A deep autoencoder to train.
#[derive(Debug)]
pub struct DeepAePlan {
    /// The setup: the unrolled model, how its layers are pretrained.
    pub spec: DeepAeSpec,
    /// Where a resumed file left off.
    pub resume: Option<DeepAeResume>,
}

/// What [`train_deep_ae`] did.
#[derive(Debug)]
pub struct DeepAeOutcome {
    /// The fine-tuning trainer (its model is the deep autoencoder).
    pub trainer: Trainer<Autoencoder>,
    /// What the fine-tuning fit did.
    pub summary: FitSummary,
    /// Every record: pretraining (tagged with the layer), then fine-tuning.
    pub history: Vec<EpochRecord>,
    /// Epochs run by this call, pretraining and fine-tuning.
    pub epochs_run: usize,
}

/// Pretrains (what is left of) the stack, unrolls it and fine-tunes it on
/// `data` (training, validation) in `run`.
pub fn train_deep_ae(
    run: &mut Run<'_>,
    plan: DeepAePlan,
    data: (&Dataset, Option<&Dataset>),
) -> Result<DeepAeOutcome> {
    let spec = plan.spec;
    let mut pre = Pretrained::new(data, run.settings.precision);
    let mut epochs_run = 0;
    let start = match plan.resume {
        Some(DeepAeResume::FineTuning { current, history }) => {
            pre.history = history;
            (*current.0, Some(current.1))
        }
        resume => {
            let mut cont = None;
            if let Some(DeepAeResume::Pretraining {
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
            for l in pre.layers.len()..spec.config.depth() {
                let (model, state) = match cont.take() {
                    Some((m, s)) => (m, Some(s)),
                    None => (
                        new_layer(&spec, l, run.settings.seed, pre.data.get().0)?,
                        None,
                    ),
                };
                let stage = layer_stage(&spec, run.settings, l);
                let (layer, params, records, n) = pretrain(run, &pre, (model, state), l, &stage)?;
                epochs_run += n;
                pre.history.extend(records);
                pre.push(layer, params)?;
            }
            (spec.unroll(&pre.layers)?, None)
        }
    };
    let (trainer, summary) = finetune(run, &spec, &pre.history, start, data)?;
    epochs_run += summary.epochs_run;
    let history = join_history(&pre.history, trainer.history());
    Ok(DeepAeOutcome {
        trainer,
        summary,
        history,
        epochs_run,
    })
}

/// A new pretraining layer `l` on `input`, seeded with `seed + l`.
fn new_layer(spec: &DeepAeSpec, l: usize, seed: u64, input: &Dataset) -> Result<LayerModel> {
    let s = &spec.config.sizes;
    let seed = seed.wrapping_add(l as u64);
    Ok(match &spec.pretrain {
        Pretrain::Ae(t) => LayerModel::Ae(Box::new(StackedPretrainer::autoencoder_layer(
            &spec.layer_ae(t, l),
            s[l],
            s[l + 1],
            &input.x,
            seed,
            Par::All,
        )?)),
        Pretrain::Rbm(rc) => LayerModel::Rbm(Box::new(StackedPretrainer::rbm_layer(
            &spec.layer_rbm(rc, l),
            s[l],
            s[l + 1],
            &input.x,
            seed,
            Par::All,
        )?)),
    })
}

/// What layer `l`'s pretraining writes and trains with.
fn layer_stage(spec: &DeepAeSpec, run: &Settings, l: usize) -> Stage {
    let s = &spec.config.sizes;
    Stage {
        kind: Kind::DeepAe,
        lines: spec.lines(false),
        settings: spec.layer_settings(run, l),
        sizes: (s[l], s[l + 1]),
    }
}

/// Fine-tunes the unrolled model, writing the file after every piece and at
/// the end.
fn finetune(
    run: &mut Run<'_>,
    spec: &DeepAeSpec,
    pretraining: &[EpochRecord],
    start: (Autoencoder, Option<Checkpoint>),
    data: (&Dataset, Option<&Dataset>),
) -> Result<(Trainer<Autoencoder>, FitSummary)> {
    let sizes: Vec<String> = spec.config.sizes.iter().map(|s| s.to_string()).collect();
    let label = format!("deep-ae fine-tuning {}", sizes.join("-"));
    run.observer.stage(&label, None);
    let (file, lines) = (run.file(), spec.lines(true));
    let write = |t: &Trainer<Autoencoder>| -> Result<Checkpoint> {
        let mut ck = t.checkpoint();
        ck.history = join_history(pretraining, t.history());
        ck.epoch = ck.history.len() as u64;
        file.write(ck, Kind::DeepAe, &lines)
    };
    let mut save = |t: &Trainer<Autoencoder>| write(t).map(drop);
    let settings = *run.settings;
    let (trainer, summary) = run.train(start, &label, data, &settings, &mut save)?;
    run.keep(&write(&trainer)?);
    Ok((trainer, summary))
}
