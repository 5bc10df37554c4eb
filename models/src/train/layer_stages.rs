//! What the stacks pretrained layer by layer share (a deep autoencoder's and
//! a classifier's hidden layers): the pretraining done so far
//! ([`Pretrained`]) and one layer's pretraining ([`pretrain`]), writing the
//! staged file after every piece.

use latent_engine::checkpoint::EpochRecord;
use latent_engine::train::{Model, Trainer};
use latent_engine::{Checkpoint, Dataset, Par, ParamSet};
use latent_kernels::Precision;

use super::{Run, Settings, StageData, join_history};
use crate::ae::{Autoencoder, PretrainedLayer};
use crate::error::Result;
use crate::model::WithPrecision;
use crate::persist::{self, Kind, LayerModel, tag_layer};
use crate::rbm::Rbm;

/// The pretraining done so far: the finished layers, their parameters and
/// records, and the data coded by them.
pub(super) struct Pretrained<'d> {
    /// The finished layers, bottom first.
    pub layers: Vec<PretrainedLayer>,
    /// Their parameters.
    pub params: Vec<ParamSet>,
    /// Their records (tagged with their layer).
    pub history: Vec<EpochRecord>,
    /// The data (training, validation) coded by the finished layers.
    pub data: StageData<'d>,
    /// The precision of the run's products, the codes passed up included.
    precision: Precision,
}

impl<'d> Pretrained<'d> {
    /// Nothing pretrained yet, on `data`, coding in `precision`.
    pub fn new(data: (&'d Dataset, Option<&'d Dataset>), precision: Precision) -> Self {
        Pretrained {
            layers: Vec::new(),
            params: Vec::new(),
            history: Vec::new(),
            data: StageData::new(data),
            precision,
        }
    }

    /// Adds a finished layer and moves the data up through it.
    pub fn push(&mut self, layer: PretrainedLayer, params: ParamSet) -> Result<()> {
        let precision = self.precision;
        let up = |d: &Dataset| -> Result<Dataset> {
            Ok(Dataset::new(
                layer.encode_in(&d.x, precision, Par::All)?,
                None,
            )?)
        };
        self.data.up(up)?;
        self.layers.push(layer);
        self.params.push(params);
        Ok(())
    }
}

/// The parameters of a pretraining layer's model.
pub(super) fn layer_params(m: &LayerModel) -> ParamSet {
    match m {
        LayerModel::Ae(a) => a.params().clone(),
        LayerModel::Rbm(r) => r.params().clone(),
    }
}

/// The file and the words of one layer's pretraining.
pub(super) struct Stage {
    /// The kind of the staged file written.
    pub kind: Kind,
    /// The file's hyper-parameter lines.
    pub lines: String,
    /// The layer's training settings.
    pub settings: Settings,
    /// The layer's sizes `(in, out)`.
    pub sizes: (usize, usize),
}

/// Pretrains layer `l` (`model`, resumed from `state` when given) as
/// `stage` says: the layer, its parameters, its records (tagged) and the
/// epochs run.
pub(super) fn pretrain(
    run: &mut Run<'_>,
    pre: &Pretrained,
    (model, state): (LayerModel, Option<Checkpoint>),
    l: usize,
    stage: &Stage,
) -> Result<(PretrainedLayer, ParamSet, Vec<EpochRecord>, usize)> {
    match model {
        LayerModel::Ae(a) => pretrain_layer(run, pre, (*a, state), l, stage, |m: &Autoencoder| {
            PretrainedLayer::from_autoencoder(m, None)
        }),
        LayerModel::Rbm(r) => pretrain_layer(run, pre, (*r, state), l, stage, |m: &Rbm| {
            Ok(PretrainedLayer::from_rbm(m, None))
        }),
    }
}

/// Pretrains one layer's model, writing the file in pretraining after every
/// piece and (when files are written every few epochs) when it is done.
fn pretrain_layer<M: Model + WithPrecision + Send>(
    run: &mut Run<'_>,
    pre: &Pretrained,
    start: (M, Option<Checkpoint>),
    l: usize,
    stage: &Stage,
    finish: impl Fn(&M) -> Result<PretrainedLayer>,
) -> Result<(PretrainedLayer, ParamSet, Vec<EpochRecord>, usize)> {
    let label = format!(
        "{} pretraining layer {l} ({}-{}, {})",
        stage.kind.name(),
        stage.sizes.0,
        stage.sizes.1,
        start.0.kind()
    );
    run.observer.stage(&label, Some(l));
    let file = run.file();
    let mut save = |t: &Trainer<M>| -> Result<()> {
        let params: Vec<&ParamSet> = pre.params.iter().collect();
        let history = join_history(&pre.history, &tag_layer(t.history(), l));
        let ck = persist::staged_checkpoint(&params, &t.checkpoint(), history)?;
        file.write(ck, stage.kind, &stage.lines).map(drop)
    };
    let input = pre.data.get();
    let (trainer, summary) = run.train(start, &label, input, &stage.settings, &mut save)?;
    if run.checkpoint_every.is_some() {
        save(&trainer)?;
    }
    let layer = finish(trainer.model())?;
    let records = tag_layer(trainer.history(), l);
    Ok((
        layer,
        trainer.model().params().clone(),
        records,
        summary.epochs_run,
    ))
}
