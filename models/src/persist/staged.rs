//! Files of models trained in stages (a DBN's layers, a deep autoencoder's
//! pretraining layers): the finished stages' tensors under `layer{l}.`, the
//! stage in training with the file's optimiser state, random streams and
//! persistent state, and history records tagged with a metric `layer`.

use latent_engine::checkpoint::EpochRecord;
use latent_engine::{Checkpoint, ParamSet, Tensor};

use crate::error::Result;

/// Epochs of the history records of stage `layer` (`None`: records
/// without a `layer` metric), with the `layer` metric removed.
pub fn stage_records(history: &[EpochRecord], layer: Option<usize>) -> Vec<EpochRecord> {
    history
        .iter()
        .filter(|r| record_layer(r) == layer)
        .cloned()
        .map(|mut r| {
            r.metrics.retain(|(k, _)| k != "layer");
            r
        })
        .collect()
}

/// The `layer` metric of a history record.
pub fn record_layer(r: &EpochRecord) -> Option<usize> {
    r.metrics
        .iter()
        .find(|(k, _)| k == "layer")
        .map(|&(_, l)| l as usize)
}

/// `records` with the metric `layer = l` added.
pub fn tag_layer(records: &[EpochRecord], l: usize) -> Vec<EpochRecord> {
    records
        .iter()
        .cloned()
        .map(|mut r| {
            r.metrics.retain(|(k, _)| k != "layer");
            r.metrics.push(("layer".into(), l as f64));
            r
        })
        .collect()
}

/// The state a model restores on a resume from a single-model file: the
/// checkpoint with the model's own kind (the trainer checks it), without
/// the preprocessing tensors, and with only the history records without a
/// `layer` metric.
pub fn resume_state(ck: &Checkpoint, model_kind: &str) -> Checkpoint {
    let mut ck = ck.clone();
    ck.model_kind = model_kind.to_string();
    ck.persistent.retain(|t| !t.name.starts_with("preprocess."));
    ck.history = stage_records(&ck.history, None);
    ck.epoch = ck.history.len() as u64;
    ck
}

/// The state of the stage in training of a staged file: its tensors under
/// `layer{l}.` (prefix removed), the file's optimiser state and random
/// streams, its persistent state and its history records.
pub fn stage_state(ck: &Checkpoint, l: usize, model_kind: &str) -> Result<Checkpoint> {
    let prefix = format!("layer{l}.");
    let strip = |ts: &[Tensor]| -> Vec<Tensor> {
        ts.iter()
            .filter_map(|t| {
                t.name.strip_prefix(&prefix).map(|n| Tensor {
                    name: n.to_string(),
                    role: t.role,
                    value: t.value.clone(),
                })
            })
            .collect()
    };
    let mut params = ParamSet::new();
    for t in strip(ck.params.tensors()) {
        params.push(t.name, t.role, t.value)?;
    }
    let history = stage_records(&ck.history, Some(l));
    Ok(Checkpoint {
        model_kind: model_kind.to_string(),
        hyperparameters: String::new(),
        trainer: ck.trainer.clone(),
        epoch: history.len() as u64,
        step: ck.step,
        params,
        optimizer: ck.optimizer.clone(),
        persistent: strip(&ck.persistent),
        rngs: ck.rngs.clone(),
        history,
    })
}

/// A staged file: the finished stages' tensors (`done[l]` under
/// `layer{l}.`), then the stage in training from its trainer's checkpoint
/// `current` (tensors under `layer{done.len()}.`, its optimiser state,
/// random streams and persistent state), and `history` (every stage's
/// records, with their `layer` metric). Kind and text are left empty for
/// [`finish`](super::finish).
pub fn staged_checkpoint(
    done: &[&ParamSet],
    current: &Checkpoint,
    history: Vec<EpochRecord>,
) -> Result<Checkpoint> {
    let mut params = ParamSet::new();
    let top = done.len();
    for (l, p) in done.iter().copied().chain([&current.params]).enumerate() {
        for t in p.tensors() {
            params.push(format!("layer{l}.{}", t.name), t.role, t.value.clone())?;
        }
    }
    Ok(Checkpoint {
        model_kind: String::new(),
        hyperparameters: String::new(),
        trainer: current.trainer.clone(),
        epoch: history.len() as u64,
        step: current.step,
        params,
        optimizer: current.optimizer.clone(),
        persistent: current
            .persistent
            .iter()
            .map(|t| Tensor {
                name: format!("layer{top}.{}", t.name),
                role: t.role,
                value: t.value.clone(),
            })
            .collect(),
        rngs: current.rngs.clone(),
        history,
    })
}
