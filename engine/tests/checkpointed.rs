//! `Trainer::fit_checkpointed` and `Trainer::set_epochs` against a
//! reference: the piecewise loop that the CLI ran before the engine had
//! them (pieces of `every` epochs, the trainer rebuilt with each piece's end
//! as its target and restored from its own checkpoint, a save after every
//! piece but the last). The same parameters, the saves at the same epochs,
//! and each saved checkpoint byte for byte the same.

use latent_testkit::engine as common;

use common::{LinReg, bits, data};
use latent_engine::train::{FitSummary, StopReason};
use latent_engine::{
    BatchProgress, Control, Dataset, EarlyStopping, EngineError, EpochProgress, LrSchedule,
    Momentum, Observer, OptimizerConfig, OptimizerKind, Silent, Threads, TrainConfig, Trainer,
};

/// SGD with a momentum switch and a decaying rate, so that the epoch
/// counter, the optimiser state and the model's random stream all reach
/// the parameters.
fn config(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 64,
        seed: 17,
        threads: Threads::Count(2),
        ..TrainConfig::new(OptimizerConfig {
            kind: OptimizerKind::Sgd {
                momentum: Momentum::Switch {
                    initial: 0.5,
                    final_value: 0.9,
                    switch_epoch: 3,
                },
            },
            lr: LrSchedule::exponential(0.01, 0.9).with_warmup(3),
            weight_decay: 1e-3,
        })
    }
}

fn model(script: Option<Vec<f64>>) -> LinReg {
    let mut m = LinReg::new(1);
    m.use_rng = true;
    m.valid_script = script;
    m
}

/// A saved checkpoint: the epochs done, the `trainer` text as saved, and
/// the bytes with the history's wall-clock seconds zeroed (the one thing
/// two runs cannot share) and the `trainer` text set to the configuration
/// with the whole run's target (the reference's names its piece's end).
#[derive(Debug, PartialEq)]
struct Saved {
    epoch: usize,
    trainer_text: String,
    bytes: Vec<u8>,
}

fn snapshot(t: &Trainer<LinReg>, target: usize) -> Saved {
    let mut ck = t.checkpoint();
    let trainer_text = ck.trainer.clone();
    for h in &mut ck.history {
        h.seconds = 0.0;
    }
    ck.trainer = TrainConfig {
        epochs: target,
        ..*t.config()
    }
    .describe();
    Saved {
        epoch: t.epochs_done(),
        trainer_text,
        bytes: ck.to_bytes(),
    }
}

/// The CLI's `with_epochs`: the same trainer with another epoch target,
/// rebuilt around its model and restored from its own checkpoint.
fn with_epochs(trainer: Trainer<LinReg>, epochs: usize) -> Trainer<LinReg> {
    let ck = trainer.checkpoint();
    let mut cfg = *trainer.config();
    cfg.epochs = epochs;
    let mut t = Trainer::new(trainer.into_model(), cfg).unwrap();
    t.restore(&ck).unwrap();
    t
}

/// The CLI's `Session::fit` loop (with `early_stopping` and a validation
/// set passed through).
fn piecewise(
    mut trainer: Trainer<LinReg>,
    epochs: usize,
    every: Option<usize>,
    (train, valid): (&Dataset, Option<&Dataset>),
    observer: &mut (dyn Observer + Send),
) -> (Trainer<LinReg>, FitSummary, Vec<Saved>) {
    let mut saves = Vec::new();
    let mut run = 0;
    loop {
        let done = trainer.epochs_done();
        let target = every.map_or(epochs, |n| (done + n).min(epochs)).max(done);
        if trainer.config().epochs != target {
            trainer = with_epochs(trainer, target);
        }
        let summary = trainer.fit(train, valid, observer).unwrap();
        run += summary.epochs_run;
        if trainer.epochs_done() >= epochs
            || summary.epochs_run == 0
            || summary.stop != StopReason::Completed
        {
            let summary = FitSummary {
                epochs_run: run,
                ..summary
            };
            return (trainer, summary, saves);
        }
        saves.push(snapshot(&trainer, epochs));
    }
}

/// `fit_checkpointed` on `trainer` (whose target is `epochs`), collecting
/// the saves.
fn checkpointed(
    mut trainer: Trainer<LinReg>,
    every: Option<usize>,
    (train, valid): (&Dataset, Option<&Dataset>),
    observer: &mut (dyn Observer + Send),
) -> (Trainer<LinReg>, FitSummary, Vec<Saved>) {
    let epochs = trainer.config().epochs;
    let mut saves = Vec::new();
    let summary = trainer
        .fit_checkpointed(train, valid, observer, every, |t| {
            saves.push(snapshot(t, epochs));
            Ok::<(), EngineError>(())
        })
        .unwrap();
    (trainer, summary, saves)
}

/// Stops at the end of epoch `epoch` or after batch `batch` (0-based), and
/// notes the run's target that progress reports give.
#[derive(Default)]
struct StopAt {
    epoch: Option<u64>,
    batch: Option<(usize, usize)>,
    targets: Vec<usize>,
}

impl Observer for StopAt {
    fn on_batch(&mut self, p: &BatchProgress<'_>) -> Control {
        self.targets.push(p.epochs);
        if self.batch == Some((p.epoch, p.batch)) {
            Control::Stop
        } else {
            Control::Continue
        }
    }

    fn on_epoch(&mut self, p: &EpochProgress<'_>) -> Control {
        self.targets.push(p.epochs);
        if self.epoch == Some(p.record.epoch) {
            Control::Stop
        } else {
            Control::Continue
        }
    }
}

/// One comparison: a fresh model with `script` as its validation metrics,
/// trained to `epochs` epochs both ways with `every`; returns the epochs at
/// which `fit_checkpointed` saved and its summary.
fn compare(
    case: &str,
    (epochs, every): (usize, Option<usize>),
    script: Option<Vec<f64>>,
    early: Option<EarlyStopping>,
    stop: (Option<u64>, Option<(usize, usize)>),
) -> (Vec<usize>, FitSummary) {
    let train = data(150, 1);
    let valid = data(20, 2);
    let io = (&train, script.as_ref().map(|_| &valid));
    let cfg = TrainConfig {
        early_stopping: early,
        ..config(epochs)
    };
    let observer = || StopAt {
        epoch: stop.0,
        batch: stop.1,
        ..StopAt::default()
    };
    let reference = Trainer::new(model(script.clone()), cfg).unwrap();
    let (reference, ref_summary, ref_saves) =
        piecewise(reference, epochs, every, io, &mut observer());
    let ours = Trainer::new(model(script), cfg).unwrap();
    let mut obs = observer();
    let (ours, summary, saves) = checkpointed(ours, every, io, &mut obs);
    assert!(
        obs.targets.iter().all(|&t| t == epochs),
        "{case}: progress counts towards the whole run"
    );
    assert_eq!(summary, ref_summary, "{case}: summaries");
    let at = |s: &[Saved]| s.iter().map(|s| s.epoch).collect::<Vec<_>>();
    assert_eq!(at(&saves), at(&ref_saves), "{case}: epochs saved at");
    for (s, r) in saves.iter().zip(&ref_saves) {
        assert_eq!(s.trainer_text, cfg.describe(), "{case}: stored text");
        let piece = TrainConfig {
            epochs: r.epoch,
            ..cfg
        };
        assert_eq!(r.trainer_text, piece.describe(), "{case}: reference text");
        assert!(
            s.bytes == r.bytes,
            "{case}: checkpoint at epoch {}",
            s.epoch
        );
    }
    assert!(
        bits(&ours.model().params) == bits(&reference.model().params),
        "{case}: parameters"
    );
    assert!(
        snapshot(&ours, epochs).bytes == snapshot(&reference, epochs).bytes,
        "{case}: final state"
    );
    (at(&saves), summary)
}

#[test]
fn saves_come_every_n_epochs_but_not_at_the_end() {
    let none = (None, None);
    let (at, s) = compare("7 by 2", (7, Some(2)), None, None, none);
    assert_eq!(
        (at, s.epochs_run, s.stop),
        (vec![2, 4, 6], 7, StopReason::Completed)
    );
    let (at, _) = compare("6 by 3", (6, Some(3)), None, None, none);
    assert_eq!(
        at,
        vec![3],
        "no save at the end, which falls on a piece's end"
    );
    let (at, _) = compare("4 by 1", (4, Some(1)), None, None, none);
    assert_eq!(at, vec![1, 2, 3]);
    for every in [None, Some(4), Some(10)] {
        let (at, s) = compare("one piece", (4, every), None, None, none);
        assert_eq!((at, s.epochs_run), (vec![], 4), "every {every:?}");
    }
    let (at, s) = compare("nothing to do", (0, Some(2)), None, None, none);
    assert_eq!(
        (at, s.epochs_run, s.stop),
        (vec![], 0, StopReason::Completed)
    );
}

#[test]
fn early_stopping_and_the_observer_end_the_run_without_a_save() {
    let es = EarlyStopping {
        patience: 2,
        min_delta: 0.01,
        restore_best: false,
    };
    // Best at epoch 2; stops after epoch 4 (5 epochs done).
    let script = Some(vec![5.0, 4.0, 3.0, 3.5, 3.6, 1.0, 1.0, 1.0, 1.0]);
    let stopped = StopReason::EarlyStopped { best_epoch: 2 };
    let none = (None, None);
    for (every, saved) in [(2, vec![2, 4]), (5, vec![]), (1, vec![1, 2, 3, 4])] {
        let case = format!("early stop, every {every}");
        let (at, s) = compare(&case, (9, Some(every)), script.clone(), Some(es), none);
        assert_eq!((at, s.epochs_run, s.stop), (saved, 5, stopped), "{case}");
        assert_eq!(s.best_valid, Some(3.0));
    }
    // The observer stops at the end of epoch 3 (4 done: a piece's end).
    let (at, s) = compare("observer at 4", (9, Some(2)), None, None, (Some(3), None));
    assert_eq!(
        (at, s.epochs_run, s.stop),
        (vec![2], 4, StopReason::Observer)
    );
    // ... and in the middle of epoch 4.
    let (at, s) = compare(
        "observer in 5",
        (9, Some(2)),
        None,
        None,
        (None, Some((4, 1))),
    );
    assert_eq!(
        (at, s.epochs_run, s.stop),
        (vec![2, 4], 4, StopReason::Observer)
    );
}

#[test]
fn a_resumed_run_saves_every_n_epochs_from_where_it_resumed() {
    let train = data(150, 1);
    let io = (&train, None);
    // Three epochs with a target of 3, then on to 8 with a save every 2:
    // at 5 and 7. Ours changes the target in place; the reference is the
    // CLI's resume (a new trainer with the full target, restored).
    let mut first = Trainer::new(model(None), config(3)).unwrap();
    first.fit(&train, None, &mut Silent).unwrap();
    let ck = first.checkpoint();
    first.set_epochs(8);
    let (ours, summary, saves) = checkpointed(first, Some(2), io, &mut Silent);
    let mut reference = Trainer::new(model(None), config(8)).unwrap();
    reference.restore(&ck).unwrap();
    let (reference, ref_summary, ref_saves) = piecewise(reference, 8, Some(2), io, &mut Silent);
    assert_eq!(summary, ref_summary);
    assert_eq!(summary.epochs_run, 5);
    assert_eq!(saves.iter().map(|s| s.epoch).collect::<Vec<_>>(), [5, 7]);
    assert_eq!(saves.len(), ref_saves.len());
    for (s, r) in saves.iter().zip(&ref_saves) {
        assert!(
            s.epoch == r.epoch && s.bytes == r.bytes,
            "epoch {}",
            s.epoch
        );
    }
    assert!(bits(&ours.model().params) == bits(&reference.model().params));
}

#[test]
fn set_epochs_goes_on_as_a_rebuilt_trainer_would() {
    let train = data(150, 1);
    let run = |rebuild: bool| {
        let mut t = Trainer::new(model(None), config(2)).unwrap();
        t.fit(&train, None, &mut Silent).unwrap();
        if rebuild {
            t = with_epochs(t, 5);
        } else {
            t.set_epochs(5);
        }
        assert_eq!(t.config().epochs, 5);
        let s = t.fit(&train, None, &mut Silent).unwrap();
        assert_eq!((s.epochs_run, t.epochs_done()), (3, 5));
        // Untouched by the snapshot: both targets are 5.
        let snap = snapshot(&t, 5);
        assert_eq!(snap.trainer_text, config(5).describe());
        snap.bytes
    };
    assert!(run(false) == run(true));
    // A target below the epochs done trains nothing.
    let mut t = Trainer::new(model(None), config(2)).unwrap();
    t.fit(&train, None, &mut Silent).unwrap();
    let before = bits(&t.model().params);
    t.set_epochs(1);
    let s = t.fit(&train, None, &mut Silent).unwrap();
    assert_eq!((s.epochs_run, t.epochs_done()), (0, 2));
    assert!(bits(&t.model().params) == before);
}

#[test]
fn restoring_the_best_tracks_it_across_checkpoints() {
    // The best epoch (2) lies in an earlier piece than the stop (after
    // epoch 4): the parameters put back are those after epoch 2, as in one
    // uninterrupted fit.
    let train = data(150, 1);
    let valid = data(20, 2);
    let script = Some(vec![5.0, 4.0, 3.0, 3.5, 3.6, 1.0]);
    let cfg = TrainConfig {
        early_stopping: Some(EarlyStopping {
            patience: 2,
            min_delta: 0.01,
            restore_best: true,
        }),
        ..config(6)
    };
    let mut whole = Trainer::new(model(script.clone()), cfg).unwrap();
    let s = whole.fit(&train, Some(&valid), &mut Silent).unwrap();
    assert_eq!(s.stop, StopReason::EarlyStopped { best_epoch: 2 });
    let ours = Trainer::new(model(script), cfg).unwrap();
    let (ours, summary, saves) = checkpointed(ours, Some(2), (&train, Some(&valid)), &mut Silent);
    assert_eq!(summary, s);
    assert_eq!(saves.iter().map(|s| s.epoch).collect::<Vec<_>>(), [2, 4]);
    assert!(bits(&ours.model().params) == bits(&whole.model().params));
    // Those are the parameters after epoch 2 (validation changes nothing
    // in training).
    let mut upto3 = Trainer::new(model(None), config(3)).unwrap();
    upto3.fit(&train, None, &mut Silent).unwrap();
    assert!(bits(&ours.model().params) == bits(&upto3.model().params));
}

/// An error of the caller's own, which engine errors convert into.
#[derive(Debug)]
enum CallerError {
    Engine(EngineError),
    Disk(usize),
}

impl From<EngineError> for CallerError {
    fn from(e: EngineError) -> Self {
        CallerError::Engine(e)
    }
}

#[test]
fn a_failing_save_ends_the_run_and_zero_is_refused() {
    let train = data(150, 1);
    let mut t = Trainer::new(model(None), config(9)).unwrap();
    let mut calls = 0;
    let e = t
        .fit_checkpointed(&train, None, &mut Silent, Some(2), |t| {
            calls += 1;
            if t.epochs_done() == 4 {
                Err(CallerError::Disk(4))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
    assert!(matches!(e, CallerError::Disk(4)), "{e:?}");
    assert_eq!((calls, t.epochs_done()), (2, 4));

    let mut t = Trainer::new(model(None), config(3)).unwrap();
    let e = t
        .fit_checkpointed(
            &train,
            None,
            &mut Silent,
            Some(0),
            |_| -> Result<(), CallerError> { panic!("no save") },
        )
        .unwrap_err();
    let refused = matches!(&e, CallerError::Engine(EngineError::InvalidArgument { value, .. })
        if value == "0");
    assert!(refused, "{e:?}");
    assert_eq!(t.epochs_done(), 0);
    // Engine errors of the run come back converted (no full batch).
    let small = data(10, 1);
    let mut t = Trainer::new(
        model(None),
        TrainConfig {
            drop_last: true,
            ..config(3)
        },
    )
    .unwrap();
    let e = t
        .fit_checkpointed(&small, None, &mut Silent, Some(1), |_| {
            Ok::<(), CallerError>(())
        })
        .unwrap_err();
    assert!(matches!(
        e,
        CallerError::Engine(EngineError::InvalidArgument { .. })
    ));
}
