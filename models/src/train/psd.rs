//! A run of a PSD model ([`train_psd`]): [`train_model`](super::train_model)'s
//! run, with the dictionary's atoms put back on the unit sphere (and
//! shrinkage thresholds at 0 or above) in every file it writes.

use latent_engine::Checkpoint;
use latent_engine::train::{FitSummary, Model, Trainer};

use super::{ModelOut, Run};
use crate::error::Result;
use crate::persist::Kind;
use crate::psd::{Psd, project_tensors};
use latent_engine::Dataset;

/// Trains `start` (a new model, or one with the state to resume) on `data`
/// (training, validation) up to the run's epochs, writing a `psd` model
/// file every `checkpoint_every` epochs and at the end. The model's
/// parameters are projected ([`Psd::project`]) at the start of every step;
/// the files hold them projected too, which a resumed run's first step
/// leaves as they are, so it continues bit for bit. The returned trainer's
/// model is projected too.
pub fn train_psd(
    run: &mut Run<'_>,
    start: (Psd, Option<Checkpoint>),
    label: &str,
    data: (&Dataset, Option<&Dataset>),
) -> Result<(Trainer<Psd>, FitSummary)> {
    let settings = *run.settings;
    let file = run.file();
    let mut save = |t: &Trainer<Psd>| -> Result<()> { write(file, t).map(drop) };
    let (mut trainer, summary) = run.train(start, label, data, &settings, &mut save)?;
    let ck = write(file, &trainer)?;
    run.keep(&ck);
    // The model as the file holds it (a projected model's next step leaves
    // it as it is, so training on from here is unchanged).
    trainer.model_mut().project();
    Ok((trainer, summary))
}

/// The trainer's checkpoint with the parameters projected, as a `psd`
/// model file (written when the run has a path).
fn write(file: ModelOut<'_>, t: &Trainer<Psd>) -> Result<Checkpoint> {
    let mut ck = t.checkpoint();
    project_tensors(&mut ck.params, t.model().config().encoder);
    file.write(ck, Kind::Psd, &t.model().hyperparameters())
}
