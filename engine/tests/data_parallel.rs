//! Synchronous data-parallel training with ranks as threads
//! ([`LocalReducer`]): N ranks against one process with the same global
//! batch (the same parameters up to float rounding), bit-identical
//! repeats and thread counts, identical parameters on every rank, a rank
//! count of one that is training alone, and the errors.

use latent_testkit::engine as common;

use common::{LinReg, bits, data};
use latent_engine::{
    BatchProgress, Checkpoint, Control, Dataset, LocalReducer, Observer, OptimizerConfig, Silent,
    Threads, TrainConfig, Trainer,
};

/// What the comparison tolerates: |a - b| <= TOL * max(1, |b|) for every
/// parameter after three epochs (24 steps). A rank's gradient is its
/// share's mean times its part of the rows, summed over the ranks; alone,
/// the mean over the batch: the same sum in another order, a few f32
/// roundings per step, which the steps carry forward. Measured: at most
/// 3.2e-8 (2 and 3 ranks, SGD and Adam).
const TOL: f32 = 1e-6;

fn config(adam: bool, threads: usize) -> TrainConfig {
    let optimizer = if adam {
        OptimizerConfig::adam(3e-3)
    } else {
        OptimizerConfig::sgd_hinton(0.02, 1e-4)
    };
    TrainConfig {
        epochs: 3,
        batch_size: 128,
        seed: 11,
        threads: Threads::Count(threads),
        ..TrainConfig::new(optimizer)
    }
}

/// The parameters' bits and the epochs' losses of each of `ranks` ranks
/// (one process, no reducer, for `None`) trained on 1003 samples (the last
/// batch of each epoch has 107 rows).
fn train(
    ranks: Option<usize>,
    adam: bool,
    use_rng: bool,
    threads: usize,
) -> Vec<(Vec<u32>, Vec<f64>)> {
    let ds = data(1003, 5);
    let run = |reducer: Option<LocalReducer>| {
        let mut model = LinReg::new(3);
        model.use_rng = use_rng;
        let mut t = Trainer::new(model, config(adam, threads)).unwrap();
        if let Some(r) = reducer {
            t.set_reducer(Box::new(r)).unwrap();
        }
        t.fit(&ds, None, &mut Silent).unwrap();
        let losses = t.history().iter().map(|h| h.train_loss).collect();
        (bits(&t.model().params), losses)
    };
    match ranks {
        None => vec![run(None)],
        Some(n) => on_ranks(n, |r| run(Some(r))),
    }
}

/// `f` run by each of `n` ranks, each on its own thread.
fn on_ranks<T: Send>(n: usize, f: impl Fn(LocalReducer) -> T + Sync) -> Vec<T> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (LocalReducer::group(n).unwrap().into_iter())
            .map(|r| s.spawn(|| f(r)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn assert_close(got: &[u32], want: &[u32], what: &str) {
    let mut worst = 0.0f32;
    for (&g, &w) in got.iter().zip(want) {
        let (g, w) = (f32::from_bits(g), f32::from_bits(w));
        worst = worst.max((g - w).abs() / w.abs().max(1.0));
    }
    assert!(worst <= TOL, "{what}: worst difference {worst:e} > {TOL:e}");
    assert_ne!(got, want, "{what}: a different sum order changes some bits");
}

#[test]
fn n_ranks_train_the_model_of_one_process() {
    for adam in [false, true] {
        let alone = train(None, adam, false, 1).remove(0);
        for ranks in [2, 3] {
            let all = train(Some(ranks), adam, false, 1);
            let what = format!("{ranks} ranks, adam {adam}");
            for (r, rank) in all.iter().enumerate() {
                assert_eq!(rank.0, all[0].0, "{what}: rank {r} differs from rank 0");
                assert_eq!(rank.1, all[0].1, "{what}: rank {r}'s losses");
            }
            assert_close(&all[0].0, &alone.0, &what);
            for (e, (&l, &want)) in all[0].1.iter().zip(&alone.1).enumerate() {
                assert!(
                    (l - want).abs() <= 1e-6 * want,
                    "{what}: epoch {e} loss {l} vs {want}"
                );
            }
        }
    }
}

#[test]
fn repeats_and_thread_counts_give_the_same_bits() {
    // The model's own randomness on: each rank its own stream.
    let first = train(Some(2), false, true, 1);
    assert_eq!(train(Some(2), false, true, 1), first);
    assert_eq!(train(Some(2), false, true, 2), first);
    assert_eq!(first[0].0, first[1].0);
}

#[test]
fn one_rank_is_training_alone() {
    for adam in [false, true] {
        assert_eq!(train(Some(1), adam, true, 1), train(None, adam, true, 1));
    }
}

/// Asks to stop after batch 2 of epoch 1 (on the rank that has it).
struct StopAt;

impl Observer for StopAt {
    fn on_batch(&mut self, p: &BatchProgress<'_>) -> Control {
        if (p.epoch, p.batch) == (1, 2) {
            Control::Stop
        } else {
            Control::Continue
        }
    }
}

#[test]
fn a_stop_on_one_rank_stops_every_rank() {
    let ds = data(300, 5);
    let epochs: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = (LocalReducer::group(2).unwrap().into_iter())
            .map(|r| {
                let ds = &ds;
                s.spawn(move || {
                    let rank = latent_engine::GradientReducer::rank(&r);
                    let mut t = Trainer::new(LinReg::new(3), config(false, 1)).unwrap();
                    t.set_reducer(Box::new(r)).unwrap();
                    let summary = if rank == 0 {
                        t.fit(ds, None, &mut StopAt).unwrap()
                    } else {
                        t.fit(ds, None, &mut Silent).unwrap()
                    };
                    summary.epochs_run
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(epochs, [1, 1]);
}

#[test]
fn errors_name_what_is_wrong() {
    // A first batch with fewer rows than ranks.
    let tiny: Dataset = data(2, 5);
    let mut group = LocalReducer::group(3).unwrap();
    let mut t = Trainer::new(LinReg::new(3), config(false, 1)).unwrap();
    t.set_reducer(Box::new(group.remove(0))).unwrap();
    let err = t.fit(&tiny, None, &mut Silent).unwrap_err().to_string();
    assert!(err.contains("2 rows, 3 ranks"), "{err}");
    // A trainer that has trained alone, given 3 ranks.
    let mut t = Trainer::new(
        LinReg::new(3),
        TrainConfig {
            epochs: 1,
            ..config(false, 1)
        },
    )
    .unwrap();
    t.fit(&data(200, 5), None, &mut Silent).unwrap();
    let err = t
        .set_reducer(Box::new(group.remove(0)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("run on 1 rank(s)"), "{err}");
    assert_eq!(t.rank(), (0, 1));
}

#[test]
fn a_run_resumed_on_as_many_ranks_continues_exactly() {
    // 3 epochs straight against 2, rank 0's checkpoint, and 1 more on
    // trainers restored from it; the model's randomness on, so every
    // rank's stream must come back.
    let ds = data(1003, 5);
    let straight = train(Some(2), false, true, 1);
    let trainer = |epochs: usize| {
        let mut model = LinReg::new(3);
        model.use_rng = true;
        Trainer::new(
            model,
            TrainConfig {
                epochs,
                ..config(false, 1)
            },
        )
        .unwrap()
    };
    let checkpoints: Vec<Checkpoint> = on_ranks(2, |r| {
        let mut t = trainer(2);
        t.set_reducer(Box::new(r)).unwrap();
        t.fit(&ds, None, &mut Silent).unwrap();
        t.checkpoint()
    });
    let ck = &checkpoints[0];
    assert_eq!(ck.rngs.len(), 2, "rank 1's stream is saved too");
    let resumed = on_ranks(2, |r| {
        let mut t = trainer(3);
        t.restore(ck).unwrap();
        t.set_reducer(Box::new(r)).unwrap();
        t.fit(&ds, None, &mut Silent).unwrap();
        let losses = t.history().iter().map(|h| h.train_loss).collect::<Vec<_>>();
        (bits(&t.model().params), losses)
    });
    assert_eq!(resumed, straight);
    // Another rank count is refused; restoring after set_reducer too.
    let mut group = LocalReducer::group(3).unwrap();
    let mut t = trainer(3);
    t.restore(ck).unwrap();
    let err = t
        .set_reducer(Box::new(group.remove(0)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("3 rank(s)") && err.contains("2 rank(s)"),
        "{err}"
    );
    let mut t = trainer(3);
    t.set_reducer(Box::new(group.remove(0))).unwrap();
    assert!(t.restore(ck).unwrap_err().to_string().contains("before"));
}
