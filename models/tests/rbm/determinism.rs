//! The same bits on any thread count and layout: free energy, training
//! (Bernoulli, Gaussian with learned σ, persistent chains, chain blocks with
//! inner threads) and the weight update fused into the gradient product,
//! whose divergence is caught with the last good weights kept.

#![allow(clippy::needless_range_loop)] // index loops mirror the formulas

use latent_testkit as common;

use super::reference::*;
use common::TestRng;
use latent_engine::train::{Model, Silent, Threads, TrainConfig, Trainer};
use latent_engine::{Dataset, Matrix};
use latent_kernels::Par;
use latent_models::rbm::{Rbm, RbmConfig, VisibleUnits};

/// The free energy is computed row by row, so threads (which split the
/// rows) and the operand's layout change nothing, and every row still
/// matches the f64 formula; for Gaussian visibles too.
#[test]
fn free_energy_is_the_same_on_any_threads_and_layout() {
    let (nv, nh, rows) = (9, 6, 333);
    let mut rng = TestRng::new(11);
    let x: Vec<f32> = (0..rows * nv)
        .map(|_| {
            if rng.uniform(0.0, 1.0) < 0.4 {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let x = Matrix::from_slice(rows, nv, &x).unwrap();
    // The same matrix stored column-major, seen through a transposed view.
    let xt = Matrix::from_fn(nv, rows, |i, j| x.row(j)[i]).unwrap();
    let bernoulli = structured_rbm(nv, nh, 5);
    let w = bernoulli.weights().as_slice().to_vec();
    let gaussian = Rbm::from_params(
        RbmConfig::gaussian(nv, nh),
        &w,
        bernoulli.visible_bias(),
        bernoulli.hidden_bias(),
    )
    .unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    for rbm in [&bernoulli, &gaussian] {
        let mut seq = vec![0.0f32; rows];
        rbm.free_energy(x.view(), &mut seq, Par::Seq).unwrap();
        let mut threaded = vec![0.0f32; rows];
        pool.install(|| rbm.free_energy(x.view(), &mut threaded, Par::Rayon(3)))
            .unwrap();
        let mut strided = vec![0.0f32; rows];
        pool.install(|| rbm.free_energy(xt.view().t(), &mut strided, Par::All))
            .unwrap();
        for r in 0..rows {
            assert_eq!(
                seq[r].to_bits(),
                threaded[r].to_bits(),
                "row {r}, 3 threads"
            );
            assert_eq!(
                seq[r].to_bits(),
                strided[r].to_bits(),
                "row {r}, transposed view"
            );
        }
        if rbm.config().visible == VisibleUnits::Bernoulli {
            for r in (0..rows).step_by(37) {
                let v: Vec<f64> = x.row(r).iter().map(|&a| a as f64).collect();
                let want = free_energy_f64(rbm, &v);
                assert!((seq[r] as f64 - want).abs() < 1e-4 * (1.0 + want.abs()));
            }
        } else {
            // F(v) = Σ (v − b)²/2 − Σ softplus(c + vW) with σ = 1: the
            // Bernoulli free energy plus the difference of the visible terms.
            let b = rbm.visible_bias();
            let mut bern = vec![0.0f32; rows];
            bernoulli
                .free_energy(x.view(), &mut bern, Par::Seq)
                .unwrap();
            for r in (0..rows).step_by(37) {
                let v = x.row(r);
                let quad: f64 = (0..nv)
                    .map(|i| 0.5 * (v[i] as f64 - b[i] as f64).powi(2))
                    .sum();
                let lin: f64 = (0..nv).map(|i| b[i] as f64 * v[i] as f64).sum();
                let want = bern[r] as f64 + lin + quad;
                assert!(
                    (seq[r] as f64 - want).abs() < 1e-4 * (1.0 + want.abs()),
                    "row {r}: {} vs {want}",
                    seq[r]
                );
            }
        }
    }
}

#[test]
fn training_is_bit_identical_across_thread_counts() {
    let mut rng = TestRng::new(8);
    let x: Vec<f32> = (0..600 * 64)
        .map(|_| {
            if rng.uniform(0.0, 1.0) < 0.3 {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let x = Matrix::from_slice(600, 64, &x).unwrap();
    let run = |threads: usize, persistent: bool| {
        let config = RbmConfig {
            persistent,
            cd_k: 2,
            ..RbmConfig::bernoulli(64, 300)
        };
        let rbm = Rbm::new(config, 3).unwrap();
        let rbm = train(rbm, &x, 2, 100, 0.1, 4, threads);
        rbm.weights().as_slice().to_vec()
    };
    for persistent in [false, true] {
        let one = run(1, persistent);
        for threads in [2, 4, 8] {
            let many = run(threads, persistent);
            assert!(
                one.iter()
                    .zip(&many)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "persistent={persistent}: {threads} threads differ from 1"
            );
        }
    }
}

#[test]
fn learned_sigma_and_persistent_gaussian_training_is_the_same_on_any_threads() {
    // 200 visible units: the learned-σ gradient's column sums split over
    // up to three threads (64 columns at least each); PCD chains are
    // continued and written back by each chain block.
    let mut rng = TestRng::new(21);
    let x: Vec<f32> = (0..300 * 200).map(|_| rng.uniform(-1.5, 1.5)).collect();
    let x = Matrix::from_slice(300, 200, &x).unwrap();
    let run = |threads: usize, persistent: bool| {
        let config = RbmConfig {
            learn_sigma: true,
            persistent,
            cd_k: 2,
            ..RbmConfig::gaussian(200, 40)
        };
        let rbm = train(Rbm::new(config, 4).unwrap(), &x, 2, 100, 0.01, 7, threads);
        let mut bits: Vec<u32> = rbm
            .params()
            .tensors()
            .iter()
            .flat_map(|t| t.value.as_slice().iter().map(|v| v.to_bits()))
            .collect();
        if let Some(chains) = rbm.chains() {
            bits.extend(chains.as_slice().iter().map(|v| v.to_bits()));
        }
        bits
    };
    for persistent in [false, true] {
        let one = run(1, persistent);
        for threads in [2, 3, 5] {
            assert!(
                one == run(threads, persistent),
                "persistent={persistent}: {threads} threads differ from 1"
            );
        }
    }
}

#[test]
fn chain_blocks_with_inner_threads_give_the_same_bits() {
    // With more threads than chain blocks (8 threads, batch 100: 4 blocks of
    // 25 rows), the spare threads work inside each block's products; the
    // products are large enough here (25 x 256 x 512) to be split.
    let mut rng = TestRng::new(12);
    let x: Vec<f32> = (0..300 * 256)
        .map(|_| (rng.uniform(0.0, 1.0) < 0.3) as u8 as f32)
        .collect();
    let x = Matrix::from_slice(300, 256, &x).unwrap();
    let run = |threads: usize| {
        let rbm = Rbm::new(RbmConfig::bernoulli(256, 512), 3).unwrap();
        let rbm = train(rbm, &x, 1, 100, 0.05, 6, threads);
        rbm.weights()
            .as_slice()
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>()
    };
    let one = run(1);
    for threads in [8, 12] {
        assert!(one == run(threads), "{threads} threads differ from 1");
    }
}

#[test]
fn fusing_the_weight_update_into_the_gradient_product_changes_no_bit() {
    // The trainer lets the RBM apply the SGD step of W inside its weight
    // gradient product (TrainConfig::fuse_updates); it must give the
    // parameters and momentum of the separate pass exactly, with weight
    // decay, the momentum switch, sparsity (a rank-one term), PCD and
    // learned σ, on one thread and several.
    let mut rng = TestRng::new(9);
    let binary: Vec<f32> = (0..300 * 48)
        .map(|_| (rng.uniform(0.0, 1.0) < 0.3) as u8 as f32)
        .collect();
    let binary = Matrix::from_slice(300, 48, &binary).unwrap();
    let real: Vec<f32> = (0..300 * 48).map(|_| rng.uniform(-2.0, 2.0)).collect();
    let real = Matrix::from_slice(300, 48, &real).unwrap();
    let sparse = latent_models::rbm::Sparsity {
        target: 0.1,
        cost: 0.05,
        decay: 0.9,
    };
    let configs = [
        (
            RbmConfig {
                sparsity: Some(sparse),
                ..RbmConfig::bernoulli(48, 70)
            },
            &binary,
        ),
        (
            RbmConfig {
                persistent: true,
                cd_k: 2,
                ..RbmConfig::bernoulli(48, 70)
            },
            &binary,
        ),
        (
            RbmConfig {
                learn_sigma: true,
                ..RbmConfig::gaussian(48, 70)
            },
            &real,
        ),
    ];
    for (config, data) in configs {
        for threads in [1, 3] {
            let run = |fuse: bool| {
                let mut optimizer = config.default_optimizer();
                optimizer.weight_decay = 1e-3;
                let mut tc = TrainConfig::new(optimizer);
                // Seven epochs cross the momentum switch after epoch 5.
                tc.epochs = 7;
                tc.batch_size = 64;
                tc.seed = 5;
                tc.threads = Threads::Count(threads);
                tc.fuse_updates = fuse;
                let mut trainer = Trainer::new(Rbm::new(config, 2).unwrap(), tc).unwrap();
                let ds = Dataset::new(data.clone(), None).unwrap();
                trainer.fit(&ds, None, &mut Silent).unwrap();
                let state: Vec<u32> = trainer
                    .optimizer()
                    .state()
                    .iter()
                    .flat_map(|t| t.value.as_slice().iter().map(|v| v.to_bits()))
                    .collect();
                let params: Vec<u32> = flat(trainer.model().params())
                    .iter()
                    .map(|&v| (v as f32).to_bits())
                    .collect();
                (params, state)
            };
            let (fused, separate) = (run(true), run(false));
            assert!(
                fused.0 == separate.0,
                "{config:?}, {threads} threads: fused parameters differ"
            );
            assert!(
                fused.1 == separate.1,
                "{config:?}, {threads} threads: fused optimiser state differs"
            );
        }
    }
}

#[test]
fn a_diverging_fused_update_is_caught_and_the_last_good_weights_kept() {
    // A learning rate that overflows W within a few steps: the fused update
    // reports the non-finite weights, the trainer stops with Diverged naming
    // W, and the model keeps finite weights (those before the bad step).
    // The separate update must stop at the same step.
    let mut rng = TestRng::new(10);
    let x: Vec<f32> = (0..200 * 32)
        .map(|_| (rng.uniform(0.0, 1.0) < 0.4) as u8 as f32)
        .collect();
    let x = Matrix::from_slice(200, 32, &x).unwrap();
    let mut stops = Vec::new();
    for fuse in [true, false] {
        let config = RbmConfig::bernoulli(32, 40);
        let mut optimizer = config.default_optimizer();
        optimizer.lr = latent_engine::LrSchedule::constant(1e38);
        let mut tc = TrainConfig::new(optimizer);
        tc.epochs = 1;
        tc.threads = Threads::Count(1);
        tc.fuse_updates = fuse;
        let mut trainer = Trainer::new(Rbm::new(config, 4).unwrap(), tc).unwrap();
        let ds = Dataset::new(x.clone(), None).unwrap();
        let err = trainer.fit(&ds, None, &mut Silent).unwrap_err();
        match &err {
            latent_engine::EngineError::Diverged {
                epoch,
                batch,
                tensor,
                ..
            } => {
                assert_eq!(tensor, "W", "fuse={fuse}: {err}");
                stops.push((*epoch, *batch));
            }
            other => panic!("fuse={fuse}: expected Diverged in W, got {other}"),
        }
        let w = trainer.model().weights().as_slice();
        assert!(
            w.iter().all(|v| v.is_finite()),
            "fuse={fuse}: non-finite weights were kept after {err}"
        );
        stops.push((usize::MAX, w.iter().map(|v| v.to_bits() as usize).sum()));
    }
    assert_eq!(
        stops[0], stops[2],
        "fused and separate stop at different steps"
    );
    assert_eq!(
        stops[1], stops[3],
        "fused and separate keep different weights"
    );
}
