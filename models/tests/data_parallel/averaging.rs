//! Parameter averaging every k steps (`Trainer::set_average_every`) with
//! ranks as threads: one rank is a run alone, bit for bit; two ranks give
//! the same bits on every repeat and thread count, every rank holds the
//! same parameters and optimiser state after an average, a resumed run
//! continues exactly, and one average after an epoch of local steps is
//! the row-weighted mean of the runs each rank's rows give alone.

use latent_engine::train::{Model, Silent, Threads, TrainConfig, Trainer};
use latent_engine::{
    Checkpoint, Dataset, LrSchedule, Matrix, Momentum, OptimizerConfig, OptimizerKind,
};
use latent_kernels::Activation;
use latent_models::ae::{AeConfig, Autoencoder};

use crate::{data, on_ranks, rbm, values};

/// Everything a rank holds after a fit that must agree across ranks: the
/// parameters, then the optimiser's state.
fn state_bits(ck: &Checkpoint) -> Vec<u32> {
    let params = ck.params.tensors().iter();
    let opt = ck.optimizer.tensors.iter();
    (params.chain(opt))
        .flat_map(|t| t.value.as_slice().iter().map(|v| v.to_bits()))
        .collect()
}

/// An RBM (CD-1, SGD with momentum, fused update) trained `epochs` epochs
/// on `ranks` ranks (alone for `None`) averaging every `every` steps,
/// from `resume` when given; each rank's checkpoint.
fn rbm_run(
    ranks: Option<usize>,
    every: Option<usize>,
    (threads, epochs): (usize, usize),
    resume: Option<&Checkpoint>,
) -> Vec<Checkpoint> {
    let ds = data();
    on_ranks(ranks, threads, |reducer| {
        let (model, config) = rbm();
        let config = TrainConfig {
            epochs,
            batch_size: 50,
            seed: 9,
            threads: Threads::CallerPool,
            ..config
        };
        let mut t = Trainer::new(model, config).unwrap();
        if let Some(ck) = resume {
            t.restore(ck).unwrap();
        }
        if let Some(r) = reducer {
            t.set_reducer(Box::new(r)).unwrap();
            t.set_average_every(every).unwrap();
        }
        t.fit(&ds, None, &mut Silent).unwrap();
        t.checkpoint()
    })
}

#[test]
fn one_rank_averaging_is_a_run_alone() {
    let alone = rbm_run(None, None, (1, 2), None);
    let one = rbm_run(Some(1), Some(4), (1, 2), None);
    assert_eq!(state_bits(&one[0]), state_bits(&alone[0]));
    assert_eq!(one[0].history[1].train_loss, alone[0].history[1].train_loss);
}

#[test]
fn two_ranks_average_to_the_same_bits_every_time() {
    // 15 batches an epoch (the last of 7 rows): averages after steps 4, 8,
    // 12 and 15 of each epoch.
    let first = rbm_run(Some(2), Some(4), (1, 2), None);
    let bits = |v: &[Checkpoint]| v.iter().map(state_bits).collect::<Vec<_>>();
    let b = bits(&first);
    assert_eq!(
        b[0], b[1],
        "the ranks' parameters or optimiser state differ"
    );
    let losses = |ck: &Checkpoint| ck.history.iter().map(|h| h.train_loss).collect::<Vec<_>>();
    assert_eq!(losses(&first[0]), losses(&first[1]));
    assert_eq!(bits(&rbm_run(Some(2), Some(4), (1, 2), None)), b);
    assert_eq!(bits(&rbm_run(Some(2), Some(4), (2, 2), None)), b);
    // Not the gradient sums' run, nor a run alone.
    assert_ne!(bits(&rbm_run(Some(2), None, (1, 2), None))[0], b[0]);
    assert_ne!(bits(&rbm_run(None, None, (1, 2), None))[0], b[0]);
    // Resumed from rank 0's checkpoint after one epoch: the same end.
    let half = rbm_run(Some(2), Some(4), (1, 1), None);
    let resumed = rbm_run(Some(2), Some(4), (1, 2), Some(&half[0]));
    assert_eq!(bits(&resumed), b);
    assert_eq!(losses(&resumed[0]), losses(&first[0]));
}

/// An autoencoder trained one epoch with plain SGD (no momentum, no
/// decay) on `x` in order (no shuffle), batches of `batch`; each rank's
/// parameters (alone for `None`).
fn ae_epoch(x: &Matrix, batch: usize, ranks: Option<usize>) -> Vec<Vec<f32>> {
    let ds = Dataset::new(x.clone(), None).unwrap();
    let steps = x.rows().div_ceil(batch);
    on_ranks(ranks, 1, |reducer| {
        let ae = Autoencoder::new(AeConfig::new(&[30, 12], Activation::Sigmoid), 2).unwrap();
        let optimizer = OptimizerConfig {
            kind: OptimizerKind::Sgd {
                momentum: Momentum::Constant(0.0),
            },
            lr: LrSchedule::constant(0.5),
            weight_decay: 0.0,
        };
        let config = TrainConfig {
            epochs: 1,
            batch_size: batch,
            shuffle: false,
            seed: 9,
            threads: Threads::CallerPool,
            ..TrainConfig::new(optimizer)
        };
        let mut t = Trainer::new(ae, config).unwrap();
        if let Some(r) = reducer {
            t.set_reducer(Box::new(r)).unwrap();
            t.set_average_every(Some(steps)).unwrap();
        }
        t.fit(&ds, None, &mut Silent).unwrap();
        values(t.model().params())
    })
}

#[test]
fn an_epoch_then_one_average_is_the_row_weighted_mean_of_the_shares_alone() {
    // Batches of 5 rows on 2 ranks: rank 0 trains rows 0..2 of each, rank
    // 1 rows 2..5; alone, each trains the same rows in the same batches.
    let all = data().x;
    let pick = |rows: &[usize]| {
        Matrix::from_fn(rows.len(), 30, |i, j| all.get(rows[i], j).unwrap()).unwrap()
    };
    let x = pick(&(0..200).collect::<Vec<_>>());
    let share = |lo: usize, hi: usize| {
        let rows: Vec<usize> = (0..40).flat_map(|b| b * 5 + lo..b * 5 + hi).collect();
        pick(&rows)
    };
    let p0 = ae_epoch(&share(0, 2), 2, None).remove(0);
    let p1 = ae_epoch(&share(2, 5), 3, None).remove(0);
    let ranks = ae_epoch(&x, 5, Some(2));
    assert_eq!(ranks[0], ranks[1]);
    let mut worst = 0.0f64;
    let mut apart = 0.0f64;
    for ((&a, &w0), &w1) in ranks[0].iter().zip(&p0).zip(&p1) {
        let want = (2.0 * f64::from(w0) + 3.0 * f64::from(w1)) / 5.0;
        worst = worst.max((f64::from(a) - want).abs() / want.abs().max(1.0));
        apart = apart.max((f64::from(w0) - f64::from(w1)).abs() / want.abs().max(1.0));
    }
    // Measured 6.0e-8 (|a - want| / max(1, |want|)); weights swapped give
    // about a fifth of `apart`, a sum instead of a mean about `want`.
    assert!(worst <= 1e-6, "worst relative difference {worst:e}");
    // The shares' runs differ enough that weights swapped would show.
    assert!(apart > 1e-2, "the shares' runs barely differ: {apart:e}");
}

/// An autoencoder (no randomness in its gradient) trained 2 epochs with
/// `optimizer` on 2 ranks, summing gradients (`every == None`) or
/// averaging every `every` steps; each rank's checkpoint.
fn ae_ranks(optimizer: OptimizerConfig, every: Option<usize>) -> Vec<Checkpoint> {
    let ds = data();
    on_ranks(Some(2), 1, |reducer| {
        let ae = Autoencoder::new(AeConfig::new(&[30, 12], Activation::Sigmoid), 2).unwrap();
        let config = TrainConfig {
            epochs: 2,
            batch_size: 50,
            seed: 9,
            threads: Threads::CallerPool,
            ..TrainConfig::new(optimizer)
        };
        let mut t = Trainer::new(ae, config).unwrap();
        t.set_reducer(Box::new(reducer.unwrap())).unwrap();
        t.set_average_every(every).unwrap();
        t.fit(&ds, None, &mut Silent).unwrap();
        t.checkpoint()
    })
}

#[test]
fn averaging_every_step_is_the_gradient_sums_for_sgd_not_for_adam() {
    // SGD with momentum and weight decay is linear in the gradient, the
    // velocity and the weights: the row-weighted average after each step
    // is the step of the summed gradient, up to float rounding (measured
    // 3.0e-7 here; the tolerance of the gradient sums vs a run alone).
    let sgd = OptimizerConfig::sgd_hinton(0.1, 1e-3);
    let (avg, sums) = (ae_ranks(sgd, Some(1)), ae_ranks(sgd, None));
    let worst = |a: &Checkpoint, b: &Checkpoint| {
        let (a, b) = (values(&a.params), values(&b.params));
        (a.iter().zip(&b))
            .map(|(&a, &b)| (a - b).abs() / b.abs().max(1.0))
            .fold(0.0f32, f32::max)
    };
    assert!(
        worst(&avg[0], &sums[0]) <= crate::TOL,
        "{:e}",
        worst(&avg[0], &sums[0])
    );
    // Adam's moments average too (every rank the same bits), but its step
    // is not linear: averaging is not the gradient sums' run.
    let adam = OptimizerConfig::adam(3e-3);
    let (avg, sums) = (ae_ranks(adam, Some(1)), ae_ranks(adam, None));
    assert_eq!(state_bits(&avg[0]), state_bits(&avg[1]));
    assert!(
        worst(&avg[0], &sums[0]) > 1e-4,
        "{:e}",
        worst(&avg[0], &sums[0])
    );
}
