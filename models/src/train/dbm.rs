//! A deep Boltzmann machine: optionally pretrained greedily with the
//! modified RBMs of [`dbm_pretrain`](crate::dbm_pretrain) (each RBM a stage
//! of the run, through a [`Trainer`]), composed
//! ([`PretrainedDbm::compose`], [`Dbm::from_params`]), then trained jointly
//! (mean field and persistent chains).
//!
//! Files and resuming: pretraining writes no file. When it ends, the
//! composed DBM is written (with `checkpoint_every`) before its first joint
//! epoch, and every file from then on is an ordinary `dbm` file with one
//! more line, `pretrain: epochs=N lr=L cd_k=K` (what was done), and the
//! pretraining's history records (tagged with their layer) before the
//! joint ones. A resumed file continues the joint training exactly and
//! never pretrains again; a run stopped during pretraining has written
//! nothing, and run again it pretrains again, to the same bits (every RBM
//! is seeded from the run's seed).

use latent_engine::checkpoint::EpochRecord;
use latent_engine::train::{FitSummary, Trainer};
use latent_engine::{Checkpoint, Dataset, Matrix, Par};

use super::{Run, Settings, StageData, join_history};
use crate::dbm::{Dbm, DbmConfig};
use crate::dbm_pretrain::{LayerPlan, PretrainedDbm, stack_configs};
use crate::error::{ModelError, Result};
use crate::persist::{self, Kind, hyper_line, hyper_value, record_layer, tag_layer};
use crate::rbm::{Rbm, RbmConfig};

/// How a DBM's stack of RBMs is pretrained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DbmPretrain {
    /// Epochs per RBM.
    pub epochs: usize,
    /// The RBMs' learning rate (the run's optimiser, momentum, weight
    /// decay, batch, seed and precision).
    pub lr: f32,
    /// Gibbs steps of every RBM's contrastive divergence (CD-k).
    pub cd_k: usize,
}

impl DbmPretrain {
    /// The default learning rate, Salakhutdinov & Hinton's (2009).
    pub const DEFAULT_LR: f32 = 0.05;

    /// The joint training's SGD learning rate after pretraining when none
    /// is given (`latent train dbm`): the DBM's default 0.01 undoes much of
    /// the pretraining in the first epochs. 784-200-200 on MNIST, 10
    /// pretraining epochs per RBM (bound −135.6 nats), then 10 joint epochs
    /// with cd-k 1: −218 at 0.01, −209 at 0.005, −175 at 0.003, −248 at
    /// 0.002, −185 at 0.001 (−183 with the chains started at data), against
    /// −198 for 10 joint epochs from scratch at 0.01. Short joint runs are
    /// erratic; 0.001 beat training from scratch in both its runs.
    pub const JOINT_LR: f32 = 0.001;

    /// `epochs` per RBM with CD-1 at [`DEFAULT_LR`](Self::DEFAULT_LR).
    pub fn new(epochs: usize) -> Self {
        DbmPretrain {
            epochs,
            lr: Self::DEFAULT_LR,
            cd_k: 1,
        }
    }

    /// The plan of every RBM of the stack in a run of `settings`.
    pub fn layer_plan(&self, settings: &Settings) -> LayerPlan {
        LayerPlan {
            rbm: RbmConfig {
                cd_k: self.cd_k,
                ..RbmConfig::bernoulli(1, 1)
            },
            settings: Settings {
                epochs: self.epochs,
                lr: self.lr,
                ..*settings
            },
        }
    }

    /// The file's line: `pretrain: epochs=N lr=L cd_k=K`.
    pub fn line(&self) -> String {
        format!(
            "pretrain: epochs={} lr={} cd_k={}",
            self.epochs, self.lr, self.cd_k
        )
    }

    /// The `pretrain:` line of a DBM file's hyper-parameter text, if any.
    pub fn from_text(text: &str) -> Result<Option<Self>> {
        let Some(line) = hyper_line(text, "pretrain") else {
            return Ok(None);
        };
        let field = |key: &'static str| -> Result<&str> {
            hyper_value(line, key).ok_or_else(|| {
                ModelError::mismatch(
                    format!("the pretrain line of a dbm file, {key}"),
                    "a value",
                    "none",
                )
            })
        };
        let bad = |key: &'static str, v: &str| ModelError::InvalidConfig {
            what: key,
            value: v.to_string(),
            expected: "a number (the pretrain line of a dbm file)",
        };
        let (e, lr, k) = (field("epochs")?, field("lr")?, field("cd_k")?);
        Ok(Some(DbmPretrain {
            epochs: e.parse().map_err(|_| bad("pretrain epochs", e))?,
            lr: lr.parse().map_err(|_| bad("pretrain lr", lr))?,
            cd_k: k.parse().map_err(|_| bad("pretrain cd_k", k))?,
        }))
    }
}

/// Where a resumed DBM file left off.
#[derive(Debug)]
pub struct DbmResume {
    /// The model and its trainer's state.
    pub current: (Dbm, Checkpoint),
    /// The pretraining the file records, if it was pretrained.
    pub pretrain: Option<DbmPretrain>,
    /// The pretraining's history records (tagged with their layer).
    pub pretraining: Vec<EpochRecord>,
}

impl DbmResume {
    /// Where the DBM file `ck` (its model `dbm`, as loaded) left off.
    pub fn from_checkpoint(ck: &Checkpoint, dbm: Dbm) -> Result<DbmResume> {
        let pretraining = ck
            .history
            .iter()
            .filter(|r| record_layer(r).is_some())
            .cloned()
            .collect();
        Ok(DbmResume {
            current: (dbm, persist::resume_state(ck, "dbm")),
            pretrain: DbmPretrain::from_text(&ck.hyperparameters)?,
            pretraining,
        })
    }
}

/// A DBM to train.
#[derive(Debug)]
pub struct DbmPlan {
    /// The model (a resumed file's is used instead).
    pub config: DbmConfig,
    /// Pretrain the stack first (ignored when resuming).
    pub pretrain: Option<DbmPretrain>,
    /// Where a resumed file left off.
    pub resume: Option<DbmResume>,
}

/// What [`train_dbm`] did.
#[derive(Debug)]
pub struct DbmOutcome {
    /// The joint training's trainer (its model is the DBM).
    pub trainer: Trainer<Dbm>,
    /// What the joint fit did.
    pub summary: FitSummary,
    /// The model file as written.
    pub checkpoint: Checkpoint,
    /// Epochs run by this call, pretraining and joint training.
    pub epochs_run: usize,
}

/// Trains the DBM of `plan` on `data` (training, validation) in `run`: a
/// resumed file's joint training continued; else a new DBM (its visible
/// biases from the data), or the stack pretrained and composed, trained
/// jointly up to the run's epochs.
pub fn train_dbm(
    run: &mut Run<'_>,
    plan: DbmPlan,
    data: (&Dataset, Option<&Dataset>),
) -> Result<DbmOutcome> {
    let mut pretrain_epochs = 0;
    let (start, pretrain, pretraining) = match plan.resume {
        Some(r) => ((r.current.0, Some(r.current.1)), r.pretrain, r.pretraining),
        None => match plan.pretrain {
            Some(p) => {
                let (dbm, records, n) = pretrain_stack(run, &plan.config, &p, data)?;
                pretrain_epochs = n;
                ((dbm, None), Some(p), records)
            }
            None => {
                let mut dbm = Dbm::new(plan.config, run.settings.seed)?;
                dbm.init_visible_bias_from_data(&data.0.x)?;
                ((dbm, None), None, Vec::new())
            }
        },
    };
    let (trainer, summary, checkpoint) = joint(run, start, pretrain, &pretraining, data)?;
    Ok(DbmOutcome {
        epochs_run: pretrain_epochs + summary.epochs_run,
        trainer,
        summary,
        checkpoint,
    })
}

/// Trains the DBM jointly, writing the file (its pretraining line and
/// records kept) after every piece, at the end, and, for a freshly
/// pretrained model with `checkpoint_every`, before the first epoch.
fn joint(
    run: &mut Run<'_>,
    (mut dbm, state): (Dbm, Option<Checkpoint>),
    pretrain: Option<DbmPretrain>,
    pretraining: &[EpochRecord],
    data: (&Dataset, Option<&Dataset>),
) -> Result<(Trainer<Dbm>, FitSummary, Checkpoint)> {
    let settings = *run.settings;
    let sizes: Vec<String> = dbm.sizes().iter().map(|s| s.to_string()).collect();
    let label = format!("dbm {}", sizes.join("-"));
    if pretrain.is_some() {
        run.observer.stage(&format!("{label} joint training"), None);
    }
    let mut lines = dbm.config().to_text();
    if let Some(p) = &pretrain {
        lines = format!("{lines}\n{}", p.line());
    }
    let file = run.file();
    let write = |t: &Trainer<Dbm>| -> Result<Checkpoint> {
        let mut ck = t.checkpoint();
        if !pretraining.is_empty() {
            ck.history = join_history(pretraining, t.history());
            ck.epoch = ck.history.len() as u64;
        }
        file.write(ck, Kind::Dbm, &lines)
    };
    dbm.set_precision(settings.precision);
    let mut trainer = Trainer::new(dbm, settings.train_config())?;
    match &state {
        Some(state) => trainer.restore(state)?,
        None if pretrain.is_some() && run.checkpoint_every.is_some() => drop(write(&trainer)?),
        None => {}
    }
    run.intro(&label, data.0.len(), trainer.epochs_done(), &settings);
    let mut save = |t: &Trainer<Dbm>| write(t).map(drop);
    let (trainer, summary) = run.fit(trainer, settings.epochs, data, &mut save)?;
    let ck = write(&trainer)?;
    run.keep(&ck);
    Ok((trainer, summary, ck))
}

/// Pretrains the stack of `config`'s sizes with `p`, each RBM a stage of
/// the run: the composed DBM, the RBMs' records (tagged with their layer)
/// and the epochs run.
fn pretrain_stack(
    run: &mut Run<'_>,
    config: &DbmConfig,
    p: &DbmPretrain,
    data: (&Dataset, Option<&Dataset>),
) -> Result<(Dbm, Vec<EpochRecord>, usize)> {
    let plan = p.layer_plan(run.settings);
    let configs = stack_configs(&config.sizes, config.visible, &[plan])?;
    let mut stage = StageData::new(data);
    let (mut rbms, mut records, mut epochs) = (Vec::new(), Vec::new(), 0);
    for (l, c) in configs.iter().enumerate() {
        let label = format!(
            "dbm pretraining RBM {} of {} ({}-{}, {})",
            l + 1,
            configs.len(),
            c.n_visible,
            c.n_hidden,
            c.doubled.name()
        );
        run.observer.stage(&label, Some(l));
        let mut rbm = Rbm::new(*c, plan.settings.seed.wrapping_add(l as u64))?;
        rbm.set_precision(plan.settings.precision);
        rbm.init_visible_bias_from_data(&stage.get().0.x, Par::All)?;
        let input = stage.get();
        let (trainer, summary) =
            run.train((rbm, None), &label, input, &plan.settings, &mut |_| Ok(()))?;
        epochs += summary.epochs_run;
        records.extend(tag_layer(trainer.history(), l));
        let rbm = trainer.into_model();
        if l + 1 < configs.len() {
            stage.up(|d| propagate(&rbm, d))?;
        }
        rbms.push(rbm);
    }
    let composed = PretrainedDbm::compose(rbms)?;
    let dbm = Dbm::from_params(config.clone(), &composed.weights, &composed.biases)?;
    Ok((dbm, records, epochs))
}

/// The hidden probabilities of `rbm` for the rows of `d` (its doubled
/// input included): the next RBM's data.
fn propagate(rbm: &Rbm, d: &Dataset) -> Result<Dataset> {
    let mut next = Matrix::zeros(d.len(), rbm.config().n_hidden)?;
    rbm.transform(d.x.view(), next.view_mut(), Par::All)?;
    Ok(Dataset::new(next, None)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pretrain_line_reads_back_and_bad_values_name_the_key() {
        let p = DbmPretrain {
            epochs: 7,
            lr: 0.025,
            cd_k: 3,
        };
        let text = format!("sizes=4,3,2\n{}\ntrain: epochs=1", p.line());
        assert_eq!(DbmPretrain::from_text(&text).unwrap(), Some(p));
        assert_eq!(DbmPretrain::from_text("sizes=4,3,2").unwrap(), None);
        for (line, key) in [
            ("pretrain: epochs=x lr=0.05 cd_k=1", "epochs"),
            ("pretrain: epochs=3 lr=fast cd_k=1", "lr"),
            ("pretrain: epochs=3 lr=0.05", "cd_k"),
        ] {
            let e = DbmPretrain::from_text(line).unwrap_err().to_string();
            assert!(e.contains(key), "{line}: {e}");
        }
    }
}
