//! Greedy layer-wise training of a DBN, every layer through a
//! [`Trainer`]; a resumed file continues its top layer up to the epochs
//! asked for and trains the layers still missing (the layers below stay as
//! they are). The file written holds the finished layers and the layer in
//! training (see [`persist::staged`](crate::persist::staged)).

use std::path::Path;

use latent_engine::checkpoint::EpochRecord;
use latent_engine::train::{Model, Trainer};
use latent_engine::{Checkpoint, Dataset, Matrix, Par, ParamSet};

use super::{Run, StageData, join_history};
use crate::error::{ModelError, Result};
use crate::persist::{self, Kind, dbn_layers, dbn_target, record_layer, stage_state, tag_layer};
use crate::rbm::{Rbm, RbmConfig};

/// Where a resumed DBN file left off.
#[derive(Debug)]
pub struct DbnResume {
    /// The layer sizes the file was asked to train, visible first.
    pub sizes: Vec<usize>,
    /// The finished layers, bottom first.
    pub done: Vec<Rbm>,
    /// The layer in training and its trainer's state.
    pub current: (Rbm, Checkpoint),
    /// The finished layers' history records (tagged with their layer).
    pub history: Vec<EpochRecord>,
}

impl DbnResume {
    /// Reads where the DBN file `ck` (at `path`, for errors) left off.
    pub fn from_checkpoint(ck: &Checkpoint, path: &Path) -> Result<DbnResume> {
        let mut layers = dbn_layers(ck, path)?;
        let sizes = dbn_target(ck).unwrap_or_else(|| {
            let mut s = vec![layers[0].config().n_visible];
            s.extend(layers.iter().map(|r| r.config().n_hidden));
            s
        });
        let top = layers.len() - 1;
        let top_rbm = layers.pop().ok_or_else(|| {
            ModelError::mismatch(format!("{}: dbn layers", path.display()), "one", 0)
        })?;
        let state = stage_state(ck, top, top_rbm.kind())?;
        let history = ck
            .history
            .iter()
            .filter(|r| record_layer(r) != Some(top))
            .cloned()
            .collect();
        Ok(DbnResume {
            sizes,
            done: layers,
            current: (top_rbm, state),
            history,
        })
    }
}

/// A DBN to train.
#[derive(Debug)]
pub struct DbnPlan {
    /// Layer sizes, visible first.
    pub sizes: Vec<usize>,
    /// The configuration of each new layer (its sizes are replaced).
    pub layer: RbmConfig,
    /// Where a resumed file left off.
    pub resume: Option<DbnResume>,
}

/// What [`train_dbn`] did.
#[derive(Debug)]
pub struct DbnOutcome {
    /// The model file as written.
    pub checkpoint: Checkpoint,
    /// Epochs run by this call, over every layer.
    pub epochs_run: usize,
}

/// The hyper-parameter lines of a DBN file.
fn dbn_lines(sizes: &[usize], layer_text: &[String]) -> String {
    let sizes: Vec<String> = sizes.iter().map(|s| s.to_string()).collect();
    let mut text = format!("layers={} bottom=bernoulli", sizes.join(","));
    for (l, t) in layer_text.iter().enumerate() {
        text.push_str(&format!("\nlayer{l}: {t}"));
    }
    text
}

/// The hidden probabilities of `rbm` for the rows of `d`: the next layer's
/// data.
fn propagate(rbm: &Rbm, d: &Dataset) -> Result<Dataset> {
    let mut next = Matrix::zeros(d.len(), rbm.config().n_hidden)?;
    rbm.transform(d.x.view(), next.view_mut(), Par::All)?;
    Ok(Dataset::new(next, None)?)
}

/// The finished layers, their text and history so far, and the data the
/// next layer sees.
struct Stack<'d> {
    done: Vec<Rbm>,
    text: Vec<String>,
    history: Vec<EpochRecord>,
    data: StageData<'d>,
}

impl Stack<'_> {
    fn push(&mut self, rbm: Rbm, last: bool) -> Result<()> {
        if !last {
            self.data.up(|d| propagate(&rbm, d))?;
        }
        self.done.push(rbm);
        Ok(())
    }

    /// The staged file with the layer in training `t` (layer `l`).
    fn checkpoint(&self, t: &Trainer<Rbm>, history: Vec<EpochRecord>) -> Result<Checkpoint> {
        let params: Vec<&ParamSet> = self.done.iter().map(|r| r.params()).collect();
        persist::staged_checkpoint(&params, &t.checkpoint(), history)
    }
}

/// Trains the DBN of `plan` on `data` (training, validation) in `run`.
pub fn train_dbn(
    run: &mut Run<'_>,
    mut plan: DbnPlan,
    data: (&Dataset, Option<&Dataset>),
) -> Result<DbnOutcome> {
    let sizes = plan.sizes.clone();
    let mut cont = None;
    let mut stack = Stack {
        done: Vec::new(),
        text: Vec::new(),
        history: Vec::new(),
        data: StageData::new(data),
    };
    let mut resumed_done = Vec::new();
    if let Some(r) = plan.resume.take() {
        resumed_done = r.done;
        stack.history = r.history;
        cont = Some(r.current);
    }
    let last_layer = sizes.len() - 2;
    for rbm in resumed_done {
        stack.text.push(rbm.hyperparameters());
        let last = stack.done.len() == last_layer;
        stack.push(rbm, last)?;
    }
    let mut last: Option<Checkpoint> = None;
    let mut epochs_run = 0;
    for l in stack.done.len()..sizes.len() - 1 {
        let (rbm, state) = match cont.take() {
            Some((rbm, state)) => (rbm, Some(state)),
            None => (
                new_layer(&plan, l, run.settings.seed, stack.data.get().0)?,
                None,
            ),
        };
        let (trainer, run_epochs) = train_layer(run, &mut stack, (rbm, state), l, &sizes)?;
        epochs_run += run_epochs;
        stack.history.extend(tag_layer(trainer.history(), l));
        stack.text.push(trainer.model().hyperparameters());
        last = Some(trainer.checkpoint());
        stack.push(trainer.into_model(), l == last_layer)?;
    }
    let top = last.ok_or_else(|| ModelError::mismatch("dbn layers trained", "at least one", 0))?;
    stack.done.pop();
    let params: Vec<&ParamSet> = stack.done.iter().map(|r| r.params()).collect();
    let ck = persist::staged_checkpoint(&params, &top, stack.history)?;
    let checkpoint = run
        .file()
        .write(ck, Kind::Dbn, &dbn_lines(&sizes, &stack.text))?;
    run.keep(&checkpoint);
    Ok(DbnOutcome {
        checkpoint,
        epochs_run,
    })
}

/// A new layer `l`: the plan's configuration at this layer's sizes, seeded
/// with `seed + l`, its visible biases from the data it will see.
fn new_layer(plan: &DbnPlan, l: usize, seed: u64, input: &Dataset) -> Result<Rbm> {
    let config = RbmConfig {
        n_visible: plan.sizes[l],
        n_hidden: plan.sizes[l + 1],
        ..plan.layer
    };
    let mut rbm = Rbm::new(config, seed.wrapping_add(l as u64))?;
    rbm.init_visible_bias_from_data(&input.x, Par::All)?;
    Ok(rbm)
}

/// Trains layer `l` of the stack, writing the staged file after every
/// piece (and when the layer is done, if it is not the last and files are
/// written every few epochs). Returns the trainer and the epochs run.
fn train_layer(
    run: &mut Run<'_>,
    stack: &mut Stack,
    start: (Rbm, Option<Checkpoint>),
    l: usize,
    sizes: &[usize],
) -> Result<(Trainer<Rbm>, usize)> {
    let label = format!("dbn layer {l} ({}-{})", sizes[l], sizes[l + 1]);
    run.observer.stage(&label, Some(l));
    let mut text = stack.text.clone();
    text.push(start.0.hyperparameters());
    let lines = dbn_lines(sizes, &text);
    let settings = *run.settings;
    let file = run.file();
    let stack_ref: &Stack = stack;
    let mut save = |t: &Trainer<Rbm>| -> Result<()> {
        let history = join_history(&stack_ref.history, &tag_layer(t.history(), l));
        let ck = stack_ref.checkpoint(t, history)?;
        file.write(ck, Kind::Dbn, &lines).map(drop)
    };
    let input = stack_ref.data.get();
    let (trainer, summary) = run.train(start, &label, input, &settings, &mut save)?;
    if run.checkpoint_every.is_some() && l + 2 < sizes.len() {
        save(&trainer)?;
    }
    Ok((trainer, summary.epochs_run))
}
