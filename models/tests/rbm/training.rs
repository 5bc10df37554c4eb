//! RBM training against known answers: bars-and-stripes approaches its
//! optimum, PCD chains converge to the model, a Gaussian RBM recovers a
//! mixture's means and per-visible σ, typed errors, and a short real run
//! on MNIST.

#![allow(clippy::needless_range_loop)] // index loops mirror the formulas

use latent_testkit as common;

use super::reference::*;
use common::{TestRng, softplus64};
use latent_engine::Matrix;
use latent_engine::data::mnist;
use latent_kernels::Par;
use latent_models::rbm::{Rbm, RbmConfig, VisibleUnits};

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
        .ais_log_z(&tiled, &latent_models::eval::AisConfig::default(), Par::All)
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
fn bad_inputs_are_typed_errors() {
    use latent_models::ModelError;
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
    let Some(mut ds) = common::mnist::test_split_or_skip() else {
        return;
    };
    latent_engine::preprocess::scale_to_unit(&mut ds.x, 0.0, 255.0).unwrap();
    latent_engine::preprocess::binarise_threshold(&mut ds.x, 0.5).unwrap();
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
    let log_sigmoid = |z: f64| -softplus64(-z);
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
        Err(latent_models::ModelError::InvalidConfig { .. })
    ));
}
