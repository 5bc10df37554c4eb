//! A run with greedy pretraining ([`train_dbm`]): its DBM is the one
//! [`pretrain_dbm`] composes, the file records the pretraining, and a
//! resumed run continues the joint training exactly without pretraining
//! again.

use latent_engine::train::{Control, EpochProgress, Model, Observer};
use latent_engine::{Checkpoint, Dataset};
use latent_kernels::Par;
use latent_models::dbm::{Dbm, DbmConfig};
use latent_models::dbm_pretrain::pretrain_dbm;
use latent_models::model::AnyModel;
use latent_models::persist::{self, Kind, Preprocess, hyper_line, record_layer};
use latent_models::rbm::VisibleUnits;
use latent_models::train::{
    DbmPlan, DbmPretrain, DbmResume, Run, RunObserver, Settings, SettingsOverrides, Silent,
    train_dbm,
};
use latent_testkit::f32_bits;

use super::reference::bars_and_stripes;

fn settings(epochs: usize) -> Settings {
    let flags = SettingsOverrides {
        epochs: Some(epochs),
        batch: Some(16),
        lr: Some(0.02),
        seed: Some(7),
        ..Default::default()
    };
    Settings::resolve(Kind::Dbm, &flags, None).unwrap()
}

fn data() -> Dataset {
    Dataset::new(bars_and_stripes(4), None).unwrap()
}

fn pretrain() -> DbmPretrain {
    DbmPretrain {
        epochs: 3,
        lr: 0.05,
        cd_k: 2,
    }
}

fn plan(resume: Option<DbmResume>) -> DbmPlan {
    DbmPlan {
        config: DbmConfig::bernoulli(&[16, 12, 10, 8]),
        pretrain: Some(pretrain()),
        resume,
    }
}

fn param_bits(dbm: &Dbm) -> Vec<u32> {
    let tensors = dbm.params().tensors().iter();
    tensors.flat_map(|t| f32_bits(t.value.as_slice())).collect()
}

/// Stops the run after the first joint epoch, as a killed run that wrote
/// its file every epoch.
#[derive(Default)]
struct StopAfterOneJointEpoch {
    joint: bool,
}

impl Observer for StopAfterOneJointEpoch {
    fn on_epoch(&mut self, _: &EpochProgress<'_>) -> Control {
        if self.joint {
            Control::Stop
        } else {
            Control::Continue
        }
    }
}

impl RunObserver for StopAfterOneJointEpoch {
    fn stage(&mut self, label: &str, layer: Option<usize>) {
        self.joint = layer.is_none() && label.contains("joint");
    }
}

/// With no joint epochs, the run's DBM is [`pretrain_dbm`]'s composition
/// bit for bit, and its file records the pretraining (line, and each RBM's
/// records tagged with its layer).
#[test]
fn the_pretrained_dbm_is_the_composed_stack() {
    let s = settings(0);
    let (none, mut silent) = (Preprocess::None, Silent);
    let mut run = Run::in_memory(&s, &none, &mut silent);
    let outcome = train_dbm(&mut run, plan(None), (&data(), None)).unwrap();
    assert_eq!(outcome.epochs_run, 3 * 3, "three RBMs of three epochs");
    let want = pretrain_dbm(
        &[16, 12, 10, 8],
        VisibleUnits::Bernoulli,
        &[pretrain().layer_plan(&s)],
        &data(),
        Par::All,
        &mut latent_engine::train::Silent,
    )
    .unwrap();
    let composed = Dbm::from_params(
        DbmConfig::bernoulli(&[16, 12, 10, 8]),
        &want.weights,
        &want.biases,
    )
    .unwrap();
    assert!(param_bits(outcome.trainer.model()) == param_bits(&composed));
    let ck = &outcome.checkpoint;
    assert_eq!(
        hyper_line(&ck.hyperparameters, "pretrain"),
        Some("epochs=3 lr=0.05 cd_k=2")
    );
    let layers: Vec<_> = ck.history.iter().map(record_layer).collect();
    let mut expect = vec![Some(0); 3];
    expect.extend([Some(1); 3]);
    expect.extend([Some(2); 3]);
    assert_eq!(layers, expect);
    // Pretraining moved the parameters away from a new DBM's.
    let plain = Dbm::new(DbmConfig::bernoulli(&[16, 12, 10, 8]), s.seed).unwrap();
    assert!(param_bits(&plain) != param_bits(&composed));
}

/// A run stopped after one joint epoch (its file written every epoch) and
/// resumed to 3 epochs equals a run of 3 epochs: the resumed run does not
/// pretrain, continues the chains, and keeps the pretraining's line and
/// records.
#[test]
fn a_resumed_pretrained_run_continues_the_joint_training_exactly() {
    let out = std::env::temp_dir().join(format!("dbm-res-{}.latent", std::process::id()));
    let none = Preprocess::None;
    let s = settings(3);
    let mut silent = Silent;
    let mut run = Run::in_memory(&s, &none, &mut silent);
    let straight = train_dbm(&mut run, plan(None), (&data(), None)).unwrap();
    let mut stop = StopAfterOneJointEpoch::default();
    let mut run = Run::new(&out, &s, &none, &mut stop);
    run.checkpoint_every = Some(1);
    train_dbm(&mut run, plan(None), (&data(), None)).unwrap();
    let file = persist::load(&out).unwrap();
    let status = file.status.as_deref().unwrap_or("");
    assert!(status.contains("epoch 1 of 3"), "{status}");
    let AnyModel::Dbm(dbm) = file.model else {
        panic!("not a dbm")
    };
    let resume = DbmResume::from_checkpoint(&file.checkpoint, *dbm).unwrap();
    assert_eq!(resume.pretrain, Some(pretrain()));
    assert_eq!(resume.pretraining.len(), 9);
    let mut run = Run::new(&out, &s, &none, &mut silent);
    let resumed = train_dbm(&mut run, plan(Some(resume)), (&data(), None)).unwrap();
    assert_eq!(resumed.epochs_run, 2, "two joint epochs, no pretraining");
    assert!(
        param_bits(resumed.trainer.model()) == param_bits(straight.trainer.model()),
        "the resumed run differs"
    );
    assert_eq!(resumed.checkpoint.history.len(), 9 + 3);
    let ck = Checkpoint::load(&out).unwrap();
    assert_eq!(ck.hyperparameters, straight.checkpoint.hyperparameters);
    assert!(persist::load(&out).unwrap().status.is_none());
    std::fs::remove_file(&out).ok();
}
