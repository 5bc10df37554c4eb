//! The training loop's behaviour: progress reports, stopping by the
//! observer, early stopping with the best parameters restored, the
//! divergence guard, and configuration errors.

use latent_testkit::engine as common;

use common::{LinReg, bits, data};
use latent_engine::train::StopReason;
use latent_engine::{
    BatchProgress, Control, EarlyStopping, EngineError, EpochProgress, Observer, OptimizerConfig,
    Silent, Threads, TrainConfig, Trainer,
};

fn config(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 64,
        seed: 3,
        threads: Threads::Count(2),
        ..TrainConfig::new(OptimizerConfig::adam(1e-3))
    }
}

#[derive(Default)]
struct Log {
    batches: Vec<(usize, usize, usize, f64, f64)>,
    epochs: Vec<(u64, f64, Option<f64>, bool)>,
    stop_at: Option<(usize, usize)>,
}

impl Observer for Log {
    fn on_batch(&mut self, p: &BatchProgress<'_>) -> Control {
        assert!(p.samples_per_sec > 0.0 && p.eta.is_some() && p.lr > 0.0);
        assert_eq!(
            p.metrics.get("rows"),
            Some(if p.batch == 3 { 8.0 } else { 64.0 })
        );
        self.batches
            .push((p.epoch, p.batch, p.batches, p.loss, p.samples_per_sec));
        if self.stop_at == Some((p.epoch, p.batch)) {
            Control::Stop
        } else {
            Control::Continue
        }
    }

    fn on_epoch(&mut self, p: &EpochProgress<'_>) -> Control {
        assert_eq!(p.record.samples, 200);
        assert_eq!(
            p.record.metrics,
            vec![("rows".to_string(), (3.0 * 64.0 * 64.0 + 64.0) / 200.0)]
        );
        self.epochs.push((
            p.record.epoch,
            p.record.train_loss,
            p.record.valid_metric,
            p.improved,
        ));
        Control::Continue
    }
}

#[test]
fn progress_is_reported_and_the_observer_can_stop() {
    let ds = data(200, 1);
    let valid = data(50, 2);
    let mut t = Trainer::new(LinReg::new(1), config(3)).unwrap();
    let mut log = Log::default();
    let s = t.fit(&ds, Some(&valid), &mut log).unwrap();
    assert_eq!(s.stop, StopReason::Completed);
    assert_eq!(s.epochs_run, 3);
    assert_eq!(
        log.batches.len(),
        12,
        "4 batches (3 full, one of 8) x 3 epochs"
    );
    assert!(log.batches.iter().all(|b| b.2 == 4));
    assert_eq!(log.epochs.len(), 3);
    assert!(
        log.epochs[0].2.is_some() && log.epochs[0].3,
        "first validation is an improvement"
    );
    assert!(
        log.epochs[2].1 < log.epochs[0].1,
        "loss decreases: {:?}",
        log.epochs
    );

    // Stop in the middle of epoch 1: the epoch is not counted as done.
    let mut t = Trainer::new(LinReg::new(1), config(3)).unwrap();
    let mut log = Log {
        stop_at: Some((1, 2)),
        ..Log::default()
    };
    let s = t.fit(&ds, None, &mut log).unwrap();
    assert_eq!(s.stop, StopReason::Observer);
    assert_eq!(
        (s.epochs_run, t.epochs_done(), log.batches.len()),
        (1, 1, 7)
    );
}

#[test]
fn early_stopping_restores_the_best_parameters() {
    let ds = data(200, 1);
    let valid = data(50, 2);
    let es = EarlyStopping {
        patience: 2,
        min_delta: 0.01,
        restore_best: true,
    };
    let mut model = LinReg::new(1);
    // Best at epoch 2; epoch 3's 2.995 is not better by min_delta.
    model.valid_script = Some(vec![5.0, 4.0, 3.0, 2.995, 3.5, 1.0, 1.0]);
    let mut t = Trainer::new(
        model,
        TrainConfig {
            early_stopping: Some(es),
            ..config(10)
        },
    )
    .unwrap();
    let s = t.fit(&ds, Some(&valid), &mut Silent).unwrap();
    assert_eq!(s.stop, StopReason::EarlyStopped { best_epoch: 2 });
    assert_eq!(s.epochs_run, 5);
    assert_eq!(
        s.best_valid,
        Some(2.995),
        "best raw value, whatever min_delta"
    );
    // The parameters are those after epoch 2, i.e. of a 3-epoch run.
    let mut three = Trainer::new(LinReg::new(1), config(3)).unwrap();
    three.fit(&ds, None, &mut Silent).unwrap();
    assert!(bits(&t.model().params) == bits(&three.model().params));
}

#[test]
fn a_nan_gradient_stops_training_and_keeps_the_last_good_parameters() {
    let ds = data(200, 1);
    let mut model = LinReg::new(1);
    model.poison_at = Some((1, 2));
    let mut t = Trainer::new(model, config(3)).unwrap();
    let e = t.fit(&ds, None, &mut Silent).unwrap_err();
    match &e {
        EngineError::Diverged {
            epoch: 1,
            batch: 2,
            tensor,
            index: 5,
            value,
        } if tensor == "gradient of W" && value.is_nan() => {}
        other => panic!("wrong error: {other:?}"),
    }
    // Shown counted from 1, as the progress lines count epochs.
    assert!(e.to_string().contains("in epoch 2, batch 3"), "{e}");
    // The parameters are those after epoch 1, batch 1.
    let mut reference = Trainer::new(LinReg::new(1), config(3)).unwrap();
    let mut stop = Log {
        stop_at: Some((1, 1)),
        ..Log::default()
    };
    reference.fit(&ds, None, &mut stop).unwrap();
    assert!(bits(&t.model().params) == bits(&reference.model().params));
    assert_eq!(t.epochs_done(), 1);
}

#[test]
fn overflowing_parameters_are_rolled_back() {
    // A finite gradient whose update overflows: the step is taken, the
    // guard finds W[7] infinite and puts back the parameters of before.
    let ds = data(200, 1);
    let mut cfg = config(2);
    cfg.optimizer = OptimizerConfig::sgd_hinton(2.0, 0.0);
    let mut model = LinReg::new(1);
    model.huge_grad_at = Some((0, 0));
    let initial = bits(&model.params);
    let mut t = Trainer::new(model, cfg).unwrap();
    let e = t.fit(&ds, None, &mut Silent).unwrap_err();
    match &e {
        EngineError::Diverged {
            epoch: 0,
            batch: 0,
            tensor,
            index: 7,
            value,
        } if tensor == "W" && value.is_infinite() => {}
        other => panic!("wrong error: {other:?}"),
    }
    assert!(e.to_string().contains("W[7]"), "{e}");
    assert!(
        bits(&t.model().params) == initial,
        "the last good parameters are kept"
    );
    assert!(t.model().params.first_non_finite().is_none());
}

#[test]
fn bad_configurations_are_refused() {
    let ds = data(10, 1);
    let bad = |c: TrainConfig| Trainer::new(LinReg::new(1), c).unwrap_err();
    assert!(matches!(
        bad(TrainConfig {
            batch_size: 0,
            ..config(1)
        }),
        EngineError::InvalidArgument { .. }
    ));
    assert!(matches!(
        bad(TrainConfig {
            threads: Threads::Count(0),
            ..config(1)
        }),
        EngineError::InvalidArgument { .. }
    ));
    assert!(matches!(
        bad(TrainConfig {
            optimizer: OptimizerConfig::adam(f32::NAN),
            ..config(1)
        }),
        EngineError::InvalidArgument { .. }
    ));
    let mut t = Trainer::new(
        LinReg::new(1),
        TrainConfig {
            drop_last: true,
            batch_size: 64,
            ..config(1)
        },
    )
    .unwrap();
    assert!(matches!(
        t.fit(&ds, None, &mut Silent),
        Err(EngineError::InvalidArgument { .. })
    ));
}
