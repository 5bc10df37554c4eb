//! RBMs against exact references: CD-k gradients against the exact
//! log-likelihood gradient of a tiny model, training on bars-and-stripes
//! against its known optimum, a Gaussian RBM on a known mixture, free
//! energy against its formula, determinism across threads, and a short real
//! run on MNIST.

#![allow(clippy::needless_range_loop)] // index loops mirror the formulas

use latent_testkit as common;

use common::TestRng;
use latent::engine::data::mnist;
use latent::engine::train::{Model, Silent, Threads, TrainConfig, Trainer};
use latent::engine::{Dataset, Matrix, ParamSet};
use latent::kernels::Par;
use latent::models::rbm::{Rbm, RbmConfig, VisibleUnits};

fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// `F(v)` of a Bernoulli RBM in f64.
fn free_energy_f64(rbm: &Rbm, v: &[f64]) -> f64 {
    let (nv, nh) = (rbm.config().n_visible, rbm.config().n_hidden);
    let w = rbm.weights().as_slice();
    let (b, c) = (rbm.visible_bias(), rbm.hidden_bias());
    let mut f = -(0..nv).map(|i| b[i] as f64 * v[i]).sum::<f64>();
    for j in 0..nh {
        let a = c[j] as f64 + (0..nv).map(|i| v[i] * w[i * nh + j] as f64).sum::<f64>();
        f -= softplus(a);
    }
    f
}

fn bits(x: usize, n: usize) -> Vec<f64> {
    (0..n).map(|i| ((x >> i) & 1) as f64).collect()
}

/// Exact `ln Z` of a small Bernoulli RBM, summing over the visibles.
fn exact_log_z(rbm: &Rbm) -> f64 {
    let nv = rbm.config().n_visible;
    let neg_f: Vec<f64> = (0..1usize << nv)
        .map(|x| -free_energy_f64(rbm, &bits(x, nv)))
        .collect();
    let max = neg_f.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    max + neg_f.iter().map(|f| (f - max).exp()).sum::<f64>().ln()
}

/// Exact mean log-likelihood of the rows of `data`.
fn exact_mean_ll(rbm: &Rbm, data: &Matrix) -> f64 {
    let log_z = exact_log_z(rbm);
    let n = data.rows();
    (0..n)
        .map(|r| {
            let v: Vec<f64> = data.row(r).iter().map(|&x| x as f64).collect();
            -free_energy_f64(rbm, &v) - log_z
        })
        .sum::<f64>()
        / n as f64
}

/// Exact gradient of the mean negative log-likelihood w.r.t. W, b, c
/// (the direction CD-k estimates), by enumerating the visibles.
fn exact_nll_gradient(rbm: &Rbm, data: &Matrix) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (nv, nh) = (rbm.config().n_visible, rbm.config().n_hidden);
    let w = rbm.weights().as_slice();
    let c = rbm.hidden_bias();
    let hidden_probs = |v: &[f64]| -> Vec<f64> {
        (0..nh)
            .map(|j| {
                let a = c[j] as f64 + (0..nv).map(|i| v[i] * w[i * nh + j] as f64).sum::<f64>();
                1.0 / (1.0 + (-a).exp())
            })
            .collect()
    };
    let mut gw = vec![0.0; nv * nh];
    let mut gb = vec![0.0; nv];
    let mut gc = vec![0.0; nh];
    // Data term (negative: we return the gradient of the NLL).
    for r in 0..data.rows() {
        let v: Vec<f64> = data.row(r).iter().map(|&x| x as f64).collect();
        let p = hidden_probs(&v);
        let s = 1.0 / data.rows() as f64;
        for i in 0..nv {
            gb[i] -= s * v[i];
            for j in 0..nh {
                gw[i * nh + j] -= s * v[i] * p[j];
            }
        }
        for j in 0..nh {
            gc[j] -= s * p[j];
        }
    }
    // Model term.
    let log_z = exact_log_z(rbm);
    for x in 0..1usize << nv {
        let v = bits(x, nv);
        let pv = (-free_energy_f64(rbm, &v) - log_z).exp();
        let p = hidden_probs(&v);
        for i in 0..nv {
            gb[i] += pv * v[i];
            for j in 0..nh {
                gw[i * nh + j] += pv * v[i] * p[j];
            }
        }
        for j in 0..nh {
            gc[j] += pv * p[j];
        }
    }
    (gw, gb, gc)
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Bars and stripes on a `side x side` grid: every pattern once.
fn bars_and_stripes(side: usize) -> Matrix {
    let mut rows: Vec<Vec<f32>> = Vec::new();
    for mask in 0..1usize << side {
        let mut bars = vec![0.0f32; side * side];
        let mut stripes = vec![0.0f32; side * side];
        for r in 0..side {
            for c in 0..side {
                bars[r * side + c] = ((mask >> c) & 1) as f32;
                stripes[r * side + c] = ((mask >> r) & 1) as f32;
            }
        }
        if !rows.contains(&bars) {
            rows.push(bars);
        }
        if !rows.contains(&stripes) {
            rows.push(stripes);
        }
    }
    let flat: Vec<f32> = rows.concat();
    Matrix::from_slice(rows.len(), side * side, &flat).unwrap()
}

/// A small RBM with weights large enough that the model distribution is far
/// from uniform, so the gradient test means something.
fn structured_rbm(nv: usize, nh: usize, seed: u64) -> Rbm {
    let mut rng = TestRng::new(seed);
    let w: Vec<f32> = (0..nv * nh).map(|_| rng.uniform(-1.5, 1.5)).collect();
    let b: Vec<f32> = (0..nv).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let c: Vec<f32> = (0..nh).map(|_| rng.uniform(-1.0, 1.0)).collect();
    Rbm::from_params(RbmConfig::bernoulli(nv, nh), &w, &b, &c).unwrap()
}

/// A 6x4 RBM with structured weights, its four training patterns repeated
/// 2,000 times (so one CD estimate averages over thousands of chains), and
/// the exact gradient of the patterns' mean NLL, flattened as (W, b, c).
struct TinyProblem {
    base: Rbm,
    big: Matrix,
    exact: Vec<f64>,
}

fn tiny_problem() -> TinyProblem {
    let nv = 6;
    let rows: Vec<f32> = [
        [1, 1, 1, 0, 0, 0],
        [0, 0, 0, 1, 1, 1],
        [1, 0, 1, 0, 1, 0],
        [1, 1, 0, 0, 1, 1],
    ]
    .iter()
    .flatten()
    .map(|&x| x as f32)
    .collect();
    let data = Matrix::from_slice(4, nv, &rows).unwrap();
    let base = structured_rbm(nv, 4, 11);
    let (gw, gb, gc) = exact_nll_gradient(&base, &data);
    let copies = 2000;
    let big: Vec<f32> = (0..copies).flat_map(|_| rows.iter().cloned()).collect();
    TinyProblem {
        base,
        big: Matrix::from_slice(4 * copies, nv, &big).unwrap(),
        exact: [gw, gb, gc].concat(),
    }
}

/// A copy of `base`'s parameters under another configuration.
fn with_config(base: &Rbm, config: RbmConfig) -> Rbm {
    Rbm::from_params(
        config,
        base.weights().as_slice(),
        base.visible_bias(),
        base.hidden_bias(),
    )
    .unwrap()
}

/// Every gradient tensor, flattened in parameter order.
fn flat(grads: &ParamSet) -> Vec<f64> {
    grads
        .tensors()
        .iter()
        .flat_map(|t| t.value.as_slice().iter().map(|&x| x as f64))
        .collect()
}

fn zero_grads(rbm: &Rbm) -> ParamSet {
    latent::engine::train::Model::params(rbm)
        .zeros_like()
        .unwrap()
}

#[test]
fn cd_k_gradient_points_along_the_exact_gradient_for_large_k() {
    let tiny = tiny_problem();
    let mut cos = Vec::new();
    for k in [1, 50] {
        let config = RbmConfig {
            cd_k: k,
            sample_visible: true,
            ..*tiny.base.config()
        };
        let mut rbm = with_config(&tiny.base, config);
        let mut grads = zero_grads(&rbm);
        rbm.cd_gradient(tiny.big.view(), &mut grads, 7, Par::Seq)
            .unwrap();
        cos.push(cosine(&flat(&grads), &tiny.exact));
    }
    // CD-50 from the data is close to maximum likelihood; CD-1 is biased.
    eprintln!(
        "cosine to the exact gradient: CD-1 {:.4}, CD-50 {:.4}",
        cos[0], cos[1]
    );
    assert!(
        cos[1] > 0.995,
        "CD-50 vs exact gradient: cosine {:.4} (CD-1: {:.4})",
        cos[1],
        cos[0]
    );
    assert!(
        cos[1] > cos[0],
        "CD-50 should be closer to the exact gradient than CD-1: {cos:?}"
    );
}

#[test]
fn free_energy_matches_the_formula() {
    let rbm = structured_rbm(7, 5, 3);
    let mut rng = TestRng::new(4);
    let x: Vec<f32> = (0..20 * 7)
        .map(|_| {
            if rng.uniform(0.0, 1.0) < 0.5 {
                0.0
            } else {
                1.0
            }
        })
        .collect();
    let x = Matrix::from_slice(20, 7, &x).unwrap();
    let mut f = vec![0.0f32; 20];
    rbm.free_energy(x.view(), &mut f, Par::Seq).unwrap();
    for r in 0..20 {
        let v: Vec<f64> = x.row(r).iter().map(|&a| a as f64).collect();
        let want = free_energy_f64(&rbm, &v);
        assert!(
            (f[r] as f64 - want).abs() < 1e-4 * (1.0 + want.abs()),
            "row {r}: {} vs {want}",
            f[r]
        );
    }
}

/// Each chain block copies its own rows of the minibatch: a minibatch seen
/// through a transposed (strided) view gives the gradient of the same rows
/// stored densely, bit for bit, on one block and on several.
#[test]
fn cd_gradient_of_a_strided_minibatch_equals_the_dense_one() {
    let (nv, nh, rows) = (20, 12, 100);
    let mut rng = TestRng::new(13);
    let x: Vec<f32> = (0..rows * nv)
        .map(|_| (rng.uniform(0.0, 1.0) < 0.3) as u8 as f32)
        .collect();
    let x = Matrix::from_slice(rows, nv, &x).unwrap();
    let xt = Matrix::from_fn(nv, rows, |i, j| x.row(j)[i]).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    for par in [Par::Seq, Par::Rayon(4)] {
        let mut dense = structured_rbm(nv, nh, 3);
        let mut strided = structured_rbm(nv, nh, 3);
        let (mut g_dense, mut g_strided) = (zero_grads(&dense), zero_grads(&strided));
        let e_dense = pool
            .install(|| dense.cd_gradient(x.view(), &mut g_dense, 7, par))
            .unwrap();
        let e_strided = pool
            .install(|| strided.cd_gradient(xt.view().t(), &mut g_strided, 7, par))
            .unwrap();
        assert_eq!(
            e_dense.to_bits(),
            e_strided.to_bits(),
            "{par:?}: reconstruction error"
        );
        let bits = |g: &ParamSet| flat(g).iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&g_dense), bits(&g_strided), "{par:?}: gradients");
    }
}

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

fn train(
    rbm: Rbm,
    data: &Matrix,
    epochs: usize,
    batch: usize,
    lr: f32,
    seed: u64,
    threads: usize,
) -> Rbm {
    let mut optimizer = rbm.config().default_optimizer();
    optimizer.lr = latent::engine::LrSchedule::constant(lr);
    let mut config = TrainConfig::new(optimizer);
    config.epochs = epochs;
    config.batch_size = batch;
    config.seed = seed;
    config.threads = Threads::Count(threads);
    let mut trainer = Trainer::new(rbm, config).unwrap();
    let ds = Dataset::new(data.clone(), None).unwrap();
    trainer.fit(&ds, None, &mut Silent).unwrap();
    trainer.into_model()
}

#[test]
fn training_on_bars_and_stripes_approaches_the_optimum() {
    // 3x3 bars and stripes: 14 equiprobable patterns, optimum mean
    // log-likelihood -ln 14 = -2.64; a uniform model scores -9 ln 2 = -6.24.
    let data = bars_and_stripes(3);
    assert_eq!(data.rows(), 14);
    let tiled: Vec<f32> = (0..50)
        .flat_map(|_| data.as_slice().iter().cloned())
        .collect();
    let tiled = Matrix::from_slice(14 * 50, 9, &tiled).unwrap();
    let config = RbmConfig {
        cd_k: 5,
        ..RbmConfig::bernoulli(9, 16)
    };
    let mut rbm = Rbm::new(config, 1).unwrap();
    rbm.init_visible_bias_from_data(&tiled, Par::Seq).unwrap();
    let before = exact_mean_ll(&rbm, &data);
    let rbm = train(rbm, &tiled, 150, 20, 0.05, 9, 1);
    let after = exact_mean_ll(&rbm, &data);
    let optimum = -(14f64).ln();
    assert!(
        after > before + 2.5,
        "log-likelihood {before:.3} -> {after:.3}"
    );
    assert!(
        after > optimum - 0.5,
        "log-likelihood {after:.3}, optimum {optimum:.3}"
    );
    // The library's exact evaluation agrees with this file's f64 reference,
    // and AIS (default schedule, 100 runs) with both, on trained weights.
    let lib = rbm.exact_log_likelihood(&data, Par::Seq).unwrap();
    assert!(
        (lib - after).abs() < 1e-6,
        "exact log-likelihood: library {lib} vs reference {after}"
    );
    let exact_log_z = exact_log_z(&rbm);
    let ais = rbm
        .ais_log_z(
            &tiled,
            &latent::models::eval::AisConfig::default(),
            Par::All,
        )
        .unwrap();
    eprintln!(
        "bars-and-stripes 3x3: mean log-likelihood {before:.3} -> {after:.3} (optimum {optimum:.3}); ln Z exact {exact_log_z:.4}, AIS {:.4} [{:.4}, {:.4}]",
        ais.log_z, ais.log_z_minus_3sd, ais.log_z_plus_3sd
    );
    assert!(
        (ais.log_z - exact_log_z).abs() < 0.1,
        "AIS {} vs exact {exact_log_z}",
        ais.log_z
    );
    assert!(
        ais.log_z_minus_3sd <= exact_log_z && exact_log_z <= ais.log_z_plus_3sd,
        "exact ln Z outside AIS's ±3σ: {} [{}, {}]",
        ais.log_z,
        ais.log_z_minus_3sd,
        ais.log_z_plus_3sd
    );
}

#[test]
fn pcd_chains_converge_to_the_model_and_give_the_exact_gradient() {
    // With the weights held fixed, persistent chains burn in to the model
    // distribution, so the PCD-1 estimate approaches the exact gradient
    // (unlike CD-1, whose chains restart at the data every time).
    let tiny = tiny_problem();
    let config = RbmConfig {
        persistent: true,
        ..*tiny.base.config()
    };
    let mut rbm = with_config(&tiny.base, config);
    let mut grads = zero_grads(&rbm);
    let mut cos = 0.0;
    for step in 0..40 {
        rbm.cd_gradient(tiny.big.view(), &mut grads, 100 + step, Par::Seq)
            .unwrap();
        cos = cosine(&flat(&grads), &tiny.exact);
    }
    eprintln!("PCD-1 cosine to the exact gradient after 40 steps: {cos:.4}");
    assert!(
        cos > 0.995,
        "PCD-1 after 40 chain steps vs exact gradient: cosine {cos:.4}"
    );
    assert_eq!(rbm.chains().unwrap().rows(), tiny.big.rows());
}

#[test]
fn gaussian_rbm_recovers_mixture_means() {
    // Two well-separated clusters in 4 dimensions with unit variance.
    let means = [[2.5f32, -2.5, 2.5, -2.5], [-2.5, 2.5, -2.5, 2.5]];
    let mut rng = TestRng::new(21);
    let n = 2000;
    let mut x = Vec::with_capacity(n * 4);
    for r in 0..n {
        for &m in &means[r % 2] {
            // Sum of uniforms: approximately normal with unit variance.
            let z: f32 = (0..12).map(|_| rng.uniform(0.0, 1.0)).sum::<f32>() - 6.0;
            x.push(m + z);
        }
    }
    let x = Matrix::from_slice(n, 4, &x).unwrap();
    let mut rbm = Rbm::new(RbmConfig::gaussian(4, 8), 2).unwrap();
    rbm.init_visible_bias_from_data(&x, Par::Seq).unwrap();
    let rbm = train(rbm, &x, 60, 50, 0.01, 5, 1);
    // Mean-field reconstructions of each cluster's points land near its mean.
    let mut recon = Matrix::zeros(n, 4).unwrap();
    rbm.reconstruct(x.view(), recon.view_mut(), Par::Seq)
        .unwrap();
    for (k, m) in means.iter().enumerate() {
        let mut centre = [0.0f64; 4];
        for r in (k..n).step_by(2) {
            for d in 0..4 {
                centre[d] += recon.row(r)[d] as f64 / (n / 2) as f64;
            }
        }
        for d in 0..4 {
            assert!(
                (centre[d] - m[d] as f64).abs() < 0.5,
                "cluster {k}: reconstruction centre {centre:?} vs mean {m:?}"
            );
        }
    }
    // Samples from the model fall into both clusters, about evenly.
    let samples = rbm.sample(400, 200, 77, Par::Seq).unwrap();
    let mut counts = [0usize; 2];
    for r in 0..400 {
        let s = samples.row(r);
        let d: Vec<f32> = means
            .iter()
            .map(|m| m.iter().zip(s).map(|(a, b)| (a - b) * (a - b)).sum::<f32>())
            .collect();
        counts[if d[0] < d[1] { 0 } else { 1 }] += 1;
    }
    assert!(
        counts[0] > 100 && counts[1] > 100,
        "samples per cluster: {counts:?}"
    );
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
    let sparse = latent::models::rbm::Sparsity {
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
        optimizer.lr = latent::engine::LrSchedule::constant(1e38);
        let mut tc = TrainConfig::new(optimizer);
        tc.epochs = 1;
        tc.threads = Threads::Count(1);
        tc.fuse_updates = fuse;
        let mut trainer = Trainer::new(Rbm::new(config, 4).unwrap(), tc).unwrap();
        let ds = Dataset::new(x.clone(), None).unwrap();
        let err = trainer.fit(&ds, None, &mut Silent).unwrap_err();
        match &err {
            latent::engine::EngineError::Diverged {
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

#[test]
fn bad_inputs_are_typed_errors() {
    use latent::models::ModelError;
    assert!(matches!(
        Rbm::new(RbmConfig::bernoulli(0, 3), 0),
        Err(ModelError::InvalidConfig { .. })
    ));
    assert!(matches!(
        Rbm::new(
            RbmConfig {
                cd_k: 0,
                ..RbmConfig::bernoulli(3, 3)
            },
            0
        ),
        Err(ModelError::InvalidConfig { .. })
    ));
    let rbm = Rbm::new(RbmConfig::bernoulli(5, 3), 0).unwrap();
    let x = Matrix::zeros(2, 4).unwrap();
    let mut out = Matrix::zeros(2, 3).unwrap();
    assert!(matches!(
        rbm.transform(x.view(), out.view_mut(), Par::Seq),
        Err(ModelError::Shape {
            expected: 5,
            found: 4,
            ..
        })
    ));
    assert!(Rbm::from_params(RbmConfig::bernoulli(2, 2), &[0.0; 3], &[0.0; 2], &[0.0; 2]).is_err());
}

#[test]
fn mnist_cd1_lowers_reconstruction_error_and_raises_pseudo_likelihood() {
    let dir = mnist::default_mnist_dir();
    if !mnist::is_available(&dir) {
        eprintln!(
            "SKIP: MNIST not found in {} (set LATENT_MNIST_DIR); this test needs the real data",
            dir.display()
        );
        return;
    }
    let mut ds = mnist::load_test_split(&dir).unwrap();
    latent::engine::preprocess::scale_to_unit(&mut ds.x, 0.0, 255.0).unwrap();
    latent::engine::preprocess::binarise_threshold(&mut ds.x, 0.5).unwrap();
    // First 8,000 images to train, last 2,000 to test.
    let (train_set, test_set) = ds.split_at(mnist::TRAIN_TEST_SPLIT).unwrap();
    let mut rbm = Rbm::new(RbmConfig::bernoulli(784, 500), 42).unwrap();
    rbm.init_visible_bias_from_data(&train_set.x, Par::All)
        .unwrap();
    let pll = |rbm: &Rbm| pseudo_log_likelihood(rbm, &test_set.x, 5);
    let err_before = rbm.reconstruction_error(&test_set.x, 1, Par::All).unwrap();
    let pll_before = pll(&rbm);
    let rbm = train(rbm, &train_set.x, 3, 100, 0.1, 7, 2);
    let err_after = rbm.reconstruction_error(&test_set.x, 1, Par::All).unwrap();
    let pll_after = pll(&rbm);
    eprintln!(
        "MNIST 784-500 CD-1, 3 epochs on 8,000 images: test reconstruction error {err_before:.2} -> {err_after:.2}, pseudo-log-likelihood {pll_before:.2} -> {pll_after:.2}"
    );
    assert!(
        err_after < 0.5 * err_before,
        "reconstruction error {err_before:.2} -> {err_after:.2}"
    );
    assert!(
        pll_after > pll_before + 20.0,
        "pseudo-log-likelihood {pll_before:.2} -> {pll_after:.2}"
    );
}

/// Stochastic pseudo-log-likelihood (MODELS.md 2.4): for each sample flip
/// one random bit `i`; `PL ≈ V · ln σ(F(ṽ) − F(v))`, averaged.
fn pseudo_log_likelihood(rbm: &Rbm, x: &Matrix, seed: u64) -> f64 {
    let (n, nv) = (x.rows(), x.cols());
    let mut rng = TestRng::new(seed);
    let mut flipped = x.clone();
    for r in 0..n {
        let i = (rng.next_u64() % nv as u64) as usize;
        let row = flipped.row_mut(r);
        row[i] = 1.0 - row[i];
    }
    let mut f = vec![0.0f32; n];
    let mut f_flip = vec![0.0f32; n];
    rbm.free_energy(x.view(), &mut f, Par::All).unwrap();
    rbm.free_energy(flipped.view(), &mut f_flip, Par::All)
        .unwrap();
    let log_sigmoid = |z: f64| -softplus(-z);
    (0..n)
        .map(|r| nv as f64 * log_sigmoid(f_flip[r] as f64 - f[r] as f64))
        .sum::<f64>()
        / n as f64
}

#[test]
fn visible_kind_names() {
    assert_eq!(VisibleUnits::Bernoulli.name(), "bernoulli");
    assert_eq!(VisibleUnits::Gaussian.name(), "gaussian");
}

#[test]
fn gaussian_rbm_learns_per_visible_sigma() {
    // One anisotropic Gaussian cluster: std 0.3, 1 and 2.5 per feature. With
    // σ fixed at 1 the model cannot match the narrow and the wide feature;
    // learned σ should approach the data's standard deviations, and the
    // exact log-likelihood (summing over 4 hidden units) should be far
    // better than with σ fixed.
    let stds = [0.3f32, 1.0, 2.5];
    let mut rng = TestRng::new(31);
    let n = 3000;
    let x = Matrix::from_fn(n, 3, |_, j| {
        let z: f32 = (0..12).map(|_| rng.uniform(0.0, 1.0)).sum::<f32>() - 6.0;
        1.0 + stds[j] * z
    })
    .unwrap();
    let fit = |learn_sigma: bool| {
        let config = RbmConfig {
            learn_sigma,
            ..RbmConfig::gaussian(3, 4)
        };
        let mut rbm = Rbm::new(config, 6).unwrap();
        rbm.init_visible_bias_from_data(&x, Par::Seq).unwrap();
        train(rbm, &x, 40, 50, 0.01, 8, 1)
    };
    let fixed = fit(false);
    let learned = fit(true);
    let sigma = learned.sigma();
    eprintln!("learned σ {sigma:?} for data std {stds:?}");
    for (s, t) in sigma.iter().zip(stds) {
        assert!(
            (s / t - 1.0).abs() < 0.25,
            "learned σ {sigma:?} vs data std {stds:?}"
        );
    }
    let ll_fixed = fixed.exact_log_likelihood(&x, Par::Seq).unwrap();
    let ll_learned = learned.exact_log_likelihood(&x, Par::Seq).unwrap();
    eprintln!("exact mean log-likelihood: σ fixed {ll_fixed:.3}, σ learned {ll_learned:.3}");
    assert!(
        ll_learned > ll_fixed + 0.5,
        "σ fixed {ll_fixed:.3} vs learned {ll_learned:.3}"
    );
    assert!(matches!(
        Rbm::new(
            RbmConfig {
                learn_sigma: true,
                ..RbmConfig::bernoulli(3, 2)
            },
            0
        ),
        Err(latent::models::ModelError::InvalidConfig { .. })
    ));
}

/// Exact gradient of the mean NLL of a Gaussian RBM with learned σ, w.r.t.
/// (W, b, c, ln σ), by enumerating the hidden units: the data term uses
/// p(h|v); the model term the joint (v, h), whose v-moments given h are
/// Gaussian in closed form (s = v/σ ~ N(b/σ + Wh, 1)).
fn exact_gaussian_sigma_gradient(rbm: &Rbm, data: &Matrix) -> Vec<f64> {
    let (nv, nh) = (rbm.config().n_visible, rbm.config().n_hidden);
    let w = rbm.weights().as_slice();
    let (b, c) = (rbm.visible_bias(), rbm.hidden_bias());
    let sigma: Vec<f64> = rbm.sigma().iter().map(|&s| s as f64).collect();
    let beta: Vec<f64> = (0..nv).map(|i| b[i] as f64 / sigma[i]).collect();
    let wf = |i: usize, j: usize| w[i * nh + j] as f64;
    let (mut gw, mut gb, mut gc, mut gz) = (
        vec![0.0; nv * nh],
        vec![0.0; nv],
        vec![0.0; nh],
        vec![0.0; nv],
    );
    let n = data.rows() as f64;
    for r in 0..data.rows() {
        let s: Vec<f64> = (0..nv).map(|i| data.row(r)[i] as f64 / sigma[i]).collect();
        let p: Vec<f64> = (0..nh)
            .map(|j| {
                1.0 / (1.0 + (-(c[j] as f64 + (0..nv).map(|i| s[i] * wf(i, j)).sum::<f64>())).exp())
            })
            .collect();
        for i in 0..nv {
            let wp: f64 = (0..nh).map(|j| wf(i, j) * p[j]).sum();
            gb[i] += -(s[i] - beta[i]) / sigma[i] / n;
            gz[i] += (-(s[i] - beta[i]).powi(2) + s[i] * wp) / n;
            for j in 0..nh {
                gw[i * nh + j] += -s[i] * p[j] / n;
            }
        }
        for j in 0..nh {
            gc[j] += -p[j] / n;
        }
    }
    // Model term: p(h) ∝ exp(cᵀh + Σ_i ((β_i + (Wh)_i)² − β_i²)/2).
    let hs: Vec<Vec<f64>> = (0..1usize << nh).map(|x| bits(x, nh)).collect();
    let log_w: Vec<f64> = hs
        .iter()
        .map(|h| {
            let wh: Vec<f64> = (0..nv)
                .map(|i| (0..nh).map(|j| wf(i, j) * h[j]).sum())
                .collect();
            (0..nh).map(|j| c[j] as f64 * h[j]).sum::<f64>()
                + (0..nv)
                    .map(|i| ((beta[i] + wh[i]).powi(2) - beta[i].powi(2)) / 2.0)
                    .sum::<f64>()
        })
        .collect();
    let max = log_w.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = log_w.iter().map(|l| (l - max).exp()).sum();
    for (h, lw) in hs.iter().zip(&log_w) {
        let ph = (lw - max).exp() / total;
        let wh: Vec<f64> = (0..nv)
            .map(|i| (0..nh).map(|j| wf(i, j) * h[j]).sum())
            .collect();
        for i in 0..nv {
            gb[i] -= ph * (-wh[i] / sigma[i]);
            gz[i] -= ph * (-1.0 + beta[i] * wh[i]);
            for j in 0..nh {
                gw[i * nh + j] -= ph * (-(beta[i] + wh[i]) * h[j]);
            }
        }
        for j in 0..nh {
            gc[j] -= ph * -h[j];
        }
    }
    [gw, gb, gc, gz].concat()
}

#[test]
fn learned_sigma_pcd_gradient_matches_the_exact_gradient() {
    let (nv, nh) = (3, 4);
    let mut rng = TestRng::new(41);
    let w: Vec<f32> = (0..nv * nh).map(|_| rng.uniform(-0.8, 0.8)).collect();
    let b: Vec<f32> = (0..nv).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let c: Vec<f32> = (0..nh).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let config = RbmConfig {
        learn_sigma: true,
        persistent: true,
        ..RbmConfig::gaussian(nv, nh)
    };
    let mut rbm = Rbm::from_params(config, &w, &b, &c).unwrap();
    // σ = (0.5, 1.0, 1.6).
    let z = [0.5f32.ln(), 0.0, 1.6f32.ln()];
    latent::engine::train::Model::params_mut(&mut rbm)
        .value_mut(latent::models::rbm::LOG_SIGMA)
        .as_mut_slice()
        .copy_from_slice(&z);
    let data = Matrix::from_fn(4, nv, |i, j| {
        [0.3f32, -1.2, 2.0, 0.7][(i + j) % 4] * (1.0 + j as f32 * 0.5)
    })
    .unwrap();
    let exact = exact_gaussian_sigma_gradient(&rbm, &data);
    let copies = 4000;
    let big: Vec<f32> = (0..copies)
        .flat_map(|_| data.as_slice().iter().cloned())
        .collect();
    let big = Matrix::from_slice(4 * copies, nv, &big).unwrap();
    let mut grads = zero_grads(&rbm);
    let mut cos = 0.0;
    for step in 0..60 {
        rbm.cd_gradient(big.view(), &mut grads, 500 + step, Par::Seq)
            .unwrap();
        cos = cosine(&flat(&grads), &exact);
    }
    eprintln!("learned-σ PCD-1 gradient vs exact: cosine {cos:.5}");
    assert!(
        cos > 0.99,
        "learned-σ PCD-1 after 60 chain steps vs exact gradient: cosine {cos:.5}"
    );
    // Each block on its own (W, b, c, ln σ), so no block hides behind a
    // larger one.
    let est = flat(&grads);
    let mut start = 0;
    for (name, len) in [("W", nv * nh), ("b", nv), ("c", nh), ("ln σ", nv)] {
        let (e, x) = (&est[start..start + len], &exact[start..start + len]);
        let rel = e
            .iter()
            .zip(x)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt()
            / x.iter().map(|b| b * b).sum::<f64>().sqrt();
        eprintln!("  {name}: relative error {rel:.4}");
        assert!(
            rel < 0.1,
            "{name}: relative error {rel:.4} (estimate {e:?}, exact {x:?})"
        );
        start += len;
    }
}
