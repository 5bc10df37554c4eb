//! Behaviour of the autoencoder family on small data: a linear AE finds the
//! PCA subspace; training is deterministic across thread counts and resumes
//! from a checkpoint bit for bit; bad input is an error; anomaly scores,
//! binary codes and Hamming retrieval; VAE samples and the importance-
//! weighted bound.

use latent_testkit as common;

use crate::train_config;
use common::TestRng;
use latent_engine::train::{Model, Silent, Threads, TrainConfig, Trainer};
use latent_engine::{Dataset, Matrix};
use latent_kernels::{Activation, Par};
use latent_models::ae::codes::BinaryCodes;
use latent_models::ae::dense::{AeConfig, Autoencoder, Loss, Noise, Sparsity};
use latent_models::ae::stacked::Classifier;
use latent_models::ae::vae::{Vae, VaeConfig};

/// Eigen-decomposition of a symmetric `n x n` matrix by cyclic Jacobi
/// rotations: (eigenvalues, eigenvectors as columns of a row-major matrix).
fn jacobi_eigen(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .filter(|(i, j)| i != j)
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        if off < 1e-22 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// Orthonormal basis (Gram-Schmidt) of the `k` columns of a row-major
/// `n x k` matrix, as columns.
fn orthonormalise(m: &[f64], n: usize, k: usize) -> Vec<Vec<f64>> {
    let mut basis: Vec<Vec<f64>> = Vec::new();
    for j in 0..k {
        let mut c: Vec<f64> = (0..n).map(|i| m[i * k + j]).collect();
        for _ in 0..2 {
            for b in &basis {
                let d: f64 = c.iter().zip(b).map(|(x, y)| x * y).sum();
                c.iter_mut().zip(b).for_each(|(x, y)| *x -= d * y);
            }
        }
        let norm = c.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!(norm > 1e-9, "rank-deficient basis");
        basis.push(c.into_iter().map(|x| x / norm).collect());
    }
    basis
}

/// The largest principal angle (radians) between two subspaces given by
/// orthonormal bases: `acos` of the smallest singular value of `AᵀB`.
fn largest_principal_angle(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    let k = a.len();
    let m: Vec<f64> = (0..k)
        .flat_map(|i| (0..k).map(move |j| (i, j)))
        .map(|(i, j)| a[i].iter().zip(&b[j]).map(|(x, y)| x * y).sum())
        .collect();
    // Singular values² are the eigenvalues of MᵀM.
    let mut mtm = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..k {
            mtm[i * k + j] = (0..k).map(|r| m[r * k + i] * m[r * k + j]).sum();
        }
    }
    let (ev, _) = jacobi_eigen(mtm, k);
    let smin = ev
        .iter()
        .cloned()
        .fold(f64::INFINITY, f64::min)
        .max(0.0)
        .sqrt();
    smin.min(1.0).acos()
}

#[test]
fn linear_autoencoder_converges_to_the_pca_subspace() {
    // 2,000 centred samples in 8 dimensions with a clear spectrum: three
    // strong directions (variances 9, 4, 2.25), the rest 0.01.
    let (n, d, k) = (2000usize, 8usize, 3usize);
    let mut rng = TestRng::new(42);
    // A random orthonormal mixing so the subspace is not axis-aligned.
    let mix_raw: Vec<f64> = (0..d * d).map(|_| rng.uniform(-1.0, 1.0) as f64).collect();
    let mix = orthonormalise(&mix_raw, d, d);
    let scales = [3.0, 2.0, 1.5, 0.1, 0.1, 0.1, 0.1, 0.1];
    let mut x = vec![0.0f64; n * d];
    for i in 0..n {
        for (c, s) in scales.iter().enumerate() {
            // Approximately normal: the sum of four uniforms, unit variance.
            let g = (0..4).map(|_| rng.uniform(-1.0, 1.0) as f64).sum::<f64>() * (0.75f64).sqrt();
            for r in 0..d {
                x[i * d + r] += s * g * mix[c][r];
            }
        }
    }
    for r in 0..d {
        let mean = (0..n).map(|i| x[i * d + r]).sum::<f64>() / n as f64;
        (0..n).for_each(|i| x[i * d + r] -= mean);
    }
    // The top-k principal subspace from the covariance's eigenvectors.
    let mut cov = vec![0.0; d * d];
    for i in 0..n {
        for a in 0..d {
            for b in 0..d {
                cov[a * d + b] += x[i * d + a] * x[i * d + b] / n as f64;
            }
        }
    }
    let (ev, vecs) = jacobi_eigen(cov, d);
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&i, &j| ev[j].total_cmp(&ev[i]));
    let top: Vec<f64> = (0..d)
        .flat_map(|r| order[..k].iter().map(move |&c| (r, c)))
        .map(|(r, c)| vecs[r * d + c])
        .collect();
    let pca = orthonormalise(&top, d, k);

    let data = Matrix::from_fn(n, d, |i, j| x[i * d + j] as f32).unwrap();
    let ds = Dataset::new(data, None).unwrap();
    // The optimal code spans the principal subspace through the decoder
    // (the encoder is only pinned down slowly along the 0.01-variance
    // directions, so it is not checked); tied weights pin both.
    for tied in [false, true] {
        let cfg = AeConfig::new(&[d, k], Activation::Identity).with_tied(tied);
        let ae = Autoencoder::new(cfg, 7).unwrap();
        let angle_of = |ae: &Autoencoder| {
            let w = ae.decoder_weights(0).unwrap();
            let w64: Vec<f64> = w.as_slice().iter().map(|&v| v as f64).collect();
            largest_principal_angle(&orthonormalise(&w64, d, k), &pca)
        };
        let before = angle_of(&ae);
        let mut trainer = Trainer::new(ae, train_config(40, 50, 0.01, Threads::Count(1))).unwrap();
        trainer.fit(&ds, None, &mut Silent).unwrap();
        let angle = angle_of(trainer.model());
        eprintln!(
            "linear AE (tied {tied}): largest principal angle to PCA {:.3}° (at init {:.1}°)",
            angle.to_degrees(),
            before.to_degrees()
        );
        assert!(
            before.to_degrees() > 20.0,
            "the initial subspace was already PCA's"
        );
        assert!(
            angle.to_degrees() < 2.0,
            "tied {tied}: angle {}°",
            angle.to_degrees()
        );
    }
}

fn toy_data(n: usize, v: usize, seed: u64) -> Matrix {
    let mut rng = TestRng::new(seed);
    Matrix::from_fn(n, v, |_, _| rng.uniform(0.0, 1.0)).unwrap()
}

fn fit_params<M: Model + Send>(model: M, ds: &Dataset, threads: Threads) -> Vec<Vec<f32>> {
    let mut trainer = Trainer::new(model, train_config(2, 32, 1e-3, threads)).unwrap();
    trainer.fit(ds, None, &mut Silent).unwrap();
    trainer
        .model()
        .params()
        .tensors()
        .iter()
        .map(|t| t.value.as_slice().to_vec())
        .collect()
}

#[test]
fn training_is_bit_identical_across_thread_counts() {
    // Wide enough that the kernels split their work between threads.
    let ds = Dataset::new(toy_data(300, 256, 3), None).unwrap();
    let configs = [
        AeConfig::new(&[256, 160, 8], Activation::Sigmoid)
            .with_loss(Loss::CrossEntropy)
            .with_noise(Noise::Mask { nu: 0.3 })
            .with_contractive(0.1),
        AeConfig::new(&[256, 96], Activation::Sigmoid)
            .with_tied(true)
            .with_noise(Noise::SaltPepper {
                nu: 0.2,
                lo: 0.0,
                hi: 1.0,
            })
            .with_sparsity(Sparsity::Kl {
                rho: 0.05,
                beta: 0.5,
            }),
        AeConfig::new(&[256, 128], Activation::Relu).with_noise(Noise::Gaussian { std: 0.3 }),
    ];
    for cfg in configs {
        let one = fit_params(
            Autoencoder::new(cfg.clone(), 5).unwrap(),
            &ds,
            Threads::Count(1),
        );
        let two = fit_params(
            Autoencoder::new(cfg.clone(), 5).unwrap(),
            &ds,
            Threads::Count(2),
        );
        let init = Autoencoder::new(cfg.clone(), 5).unwrap();
        assert_ne!(
            one[0],
            init.params().value(0).as_slice(),
            "training changed nothing"
        );
        assert_eq!(one, two, "{cfg:?}: 1 vs 2 threads");
    }
    let vae = || Vae::new(VaeConfig::new(256, &[128], 4, Activation::Tanh), 9).unwrap();
    assert_eq!(
        fit_params(vae(), &ds, Threads::Count(1)),
        fit_params(vae(), &ds, Threads::Count(2)),
        "VAE: 1 vs 2 threads"
    );
    let labels: Vec<u32> = (0..300).map(|i| (i * 7 % 4) as u32).collect();
    let lds = Dataset::new(toy_data(300, 256, 4), Some(labels)).unwrap();
    let clf = || {
        Classifier::new(
            &[256, 128, 12],
            &[Activation::Sigmoid, Activation::Relu],
            4,
            3,
        )
        .unwrap()
    };
    assert_eq!(
        fit_params(clf(), &lds, Threads::Count(1)),
        fit_params(clf(), &lds, Threads::Count(2)),
        "classifier: 1 vs 2 threads"
    );
}

#[test]
fn every_gradient_element_is_written_each_step() {
    // The dense autoencoder tells the trainer it overwrites its gradients
    // (so they are not zeroed before each step): start from NaN and check
    // that every variant leaves none, and that the result equals the one
    // from zeroed gradients.
    let x = toy_data(40, 24, 11);
    let configs = [
        AeConfig::new(&[24, 16, 6], Activation::Sigmoid),
        AeConfig::new(&[24, 16, 6], Activation::Sigmoid).with_tied(true),
        AeConfig::new(&[24, 10], Activation::Sigmoid)
            .with_tied(true)
            .with_contractive(0.1),
        AeConfig::new(&[24, 16, 6], Activation::Sigmoid).with_contractive(0.05),
        AeConfig::new(&[24, 12], Activation::Relu)
            .with_sparsity(Sparsity::L1 { lambda: 0.01 })
            .with_noise(Noise::Mask { nu: 0.2 }),
        AeConfig::new(&[24, 12, 5], Activation::Sigmoid)
            .with_loss(Loss::SquaredError)
            .with_sparsity(Sparsity::Kl {
                rho: 0.1,
                beta: 0.5,
            }),
    ];
    for cfg in configs {
        // Two identical models: a step may update running state (the KL
        // penalty's average activation).
        let mut ae = Autoencoder::new(cfg.clone(), 3).unwrap();
        let mut twin = Autoencoder::new(cfg.clone(), 3).unwrap();
        assert!(ae.overwrites_gradients());
        let mut from_nan = ae.params().zeros_like().unwrap();
        for t in from_nan.tensors_mut() {
            t.value.as_mut_slice().fill(f32::NAN);
        }
        let mut from_zero = ae.params().zeros_like().unwrap();
        ae.loss_and_gradient(x.view(), &mut from_nan, 5, Par::Seq)
            .unwrap();
        twin.loss_and_gradient(x.view(), &mut from_zero, 5, Par::Seq)
            .unwrap();
        for (a, b) in from_nan.tensors().iter().zip(from_zero.tensors()) {
            let name = &a.name;
            let (a, b) = (a.value.as_slice(), b.value.as_slice());
            assert!(
                a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits()),
                "{cfg:?}: gradient of {name} depends on its old contents"
            );
        }
    }
}

#[test]
fn bad_configurations_and_inputs_are_errors() {
    assert!(Autoencoder::new(AeConfig::new(&[10], Activation::Sigmoid), 0).is_err());
    assert!(Autoencoder::new(AeConfig::new(&[10, 0], Activation::Sigmoid), 0).is_err());
    // KL sparsity needs a sigmoid code; the contractive penalty a sigmoid or
    // ReLU encoder: neither is silently ignored.
    let kl = AeConfig::new(&[10, 4], Activation::Tanh).with_sparsity(Sparsity::Kl {
        rho: 0.1,
        beta: 1.0,
    });
    assert!(Autoencoder::new(kl, 0).is_err());
    let cae = AeConfig::new(&[10, 4], Activation::Tanh).with_contractive(0.1);
    assert!(Autoencoder::new(cae, 0).is_err());
    let nu = AeConfig::new(&[10, 4], Activation::Sigmoid).with_noise(Noise::Mask { nu: 1.5 });
    assert!(Autoencoder::new(nu, 0).is_err());
    let mut ae = Autoencoder::new(AeConfig::new(&[10, 4], Activation::Sigmoid), 0).unwrap();
    let x = toy_data(5, 9, 1);
    let mut grads = ae.params().zeros_like().unwrap();
    assert!(
        ae.loss_and_gradient(x.view(), &mut grads, 0, Par::Seq)
            .is_err()
    );
    let mut out = vec![0.0; 5];
    assert!(
        ae.reconstruction_errors(x.view(), &mut out, Par::Seq)
            .is_err()
    );
    assert!(Vae::new(VaeConfig::new(10, &[], 0, Activation::Tanh), 0).is_err());
    assert!(Classifier::new(&[10], &[], 1, 0).is_err());
    let mut clf = Classifier::new(&[10], &[], 3, 0).unwrap();
    let x = toy_data(2, 10, 1);
    let mut g = clf.params().zeros_like().unwrap();
    assert!(
        clf.loss_and_gradient(x.view(), &[0, 3], &mut g, Par::Seq)
            .is_err()
    );
}

#[test]
fn reconstruction_error_ranks_anomalies_first() {
    // Normal data lie near a 2-D plane in 12-D; anomalies do not.
    let (n, d) = (1000usize, 12usize);
    let mut rng = TestRng::new(11);
    let dirs: Vec<f32> = rng.vec(2 * d);
    let plane = |rng: &mut TestRng| -> Vec<f32> {
        let (a, b) = (rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0));
        (0..d)
            .map(|j| a * dirs[j] + b * dirs[d + j] + 0.01 * rng.uniform(-1.0, 1.0))
            .collect()
    };
    let train: Vec<f32> = (0..n).flat_map(|_| plane(&mut rng)).collect();
    let ds = Dataset::new(Matrix::from_slice(n, d, &train).unwrap(), None).unwrap();
    let mut trainer = Trainer::new(
        Autoencoder::new(AeConfig::new(&[d, 2], Activation::Identity), 1).unwrap(),
        train_config(30, 50, 0.01, Threads::Count(1)),
    )
    .unwrap();
    trainer.fit(&ds, None, &mut Silent).unwrap();
    let ae = trainer.into_model();
    // 40 test rows: even rows normal, every 10th row an anomaly.
    let test: Vec<f32> = (0..40)
        .flat_map(|i| {
            if i % 10 == 3 {
                rng.vec(d)
            } else {
                plane(&mut rng)
            }
        })
        .collect();
    let test = Matrix::from_slice(40, d, &test).unwrap();
    let mut scores = vec![0.0f32; 40];
    ae.reconstruction_errors(test.view(), &mut scores, Par::Seq)
        .unwrap();
    let mut order: Vec<usize> = (0..40).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut top: Vec<usize> = order[..4].to_vec();
    top.sort();
    assert_eq!(top, vec![3, 13, 23, 33], "scores {scores:?}");
}

#[test]
fn binary_codes_and_hamming_retrieval() {
    let acts = [
        0.9, 0.1, 0.8, 0.2, // 1010
        0.9, 0.1, 0.8, 0.7, // 1011
        0.1, 0.9, 0.2, 0.8, // 0101
        0.9, 0.2, 0.9, 0.1, // 1010
    ];
    let codes = BinaryCodes::from_activations(&acts, 4, 4, 0.5).unwrap();
    assert_eq!(codes.len(), 4);
    assert_eq!(codes.code(0), Some(&[0b0101u64][..]));
    let q = codes.code(0).unwrap().to_vec();
    assert_eq!(codes.distance(&q, 2).unwrap(), 4);
    assert_eq!(codes.nearest(&q, 3).unwrap(), vec![(0, 0), (3, 0), (1, 1)]);
    // Wider than one word.
    let wide: Vec<f32> = (0..2 * 100)
        .map(|i| if i % 3 == 0 { 1.0 } else { 0.0 })
        .collect();
    let w = BinaryCodes::from_activations(&wide, 2, 100, 0.5).unwrap();
    let q = w.code(1).unwrap().to_vec();
    assert_eq!(q.len(), 2);
    // Row 0 sets bits j ≡ 0 (mod 3) (34 of them), row 1 bits j ≡ 2 (33):
    // disjoint, so the distance is 67.
    assert_eq!(w.distance(&q, 0).unwrap(), 67);
    // A tanh code layer cannot give binary codes.
    let ae = Autoencoder::new(AeConfig::new(&[6, 3], Activation::Tanh), 0).unwrap();
    assert!(
        ae.binary_codes(&toy_data(2, 6, 0), 0.5, 10, Par::Seq)
            .is_err()
    );
}

#[test]
fn vae_samples_and_importance_weighted_bound() {
    let ds = Dataset::new(toy_data(400, 20, 8).clone(), None).unwrap();
    let mut trainer = Trainer::new(
        Vae::new(VaeConfig::new(20, &[16], 3, Activation::Tanh), 1).unwrap(),
        train_config(5, 40, 3e-3, Threads::Count(1)),
    )
    .unwrap();
    trainer.fit(&ds, None, &mut Silent).unwrap();
    let vae = trainer.into_model();
    let s = vae.sample(7, 3, Par::Seq).unwrap();
    assert_eq!(s.shape(), (7, 20));
    assert!(s.as_slice().iter().all(|&p| (0.0..=1.0).contains(&p)));
    let elbo = vae.elbo(&ds.x, 100, 1, Par::Seq).unwrap();
    let iw = vae.log_likelihood_iw(&ds.x, 50, 100, 2, Par::Seq).unwrap();
    eprintln!("toy VAE: ELBO {elbo:.4}, IW(50) log p(x) {iw:.4}");
    // The 50-sample bound is at least the ELBO up to Monte Carlo error
    // (400 rows, one sample each for the ELBO).
    assert!(iw > elbo - 0.05, "IW {iw} < ELBO {elbo}");
    assert!(iw.is_finite() && iw < 0.0);
}

#[test]
fn checkpoint_resume_matches_an_uninterrupted_run() {
    let ds = Dataset::new(toy_data(200, 30, 21), None).unwrap();
    let cfg = AeConfig::new(&[30, 12, 6], Activation::Sigmoid)
        .with_loss(Loss::CrossEntropy)
        .with_noise(Noise::Mask { nu: 0.2 })
        .with_contractive(0.05);
    let full = fit_params(
        Autoencoder::new(cfg.clone(), 2).unwrap(),
        &ds,
        Threads::Count(1),
    );
    // One epoch, checkpoint, a fresh trainer restores it and runs the second.
    let mut t1 = Trainer::new(
        Autoencoder::new(cfg.clone(), 2).unwrap(),
        TrainConfig {
            epochs: 1,
            ..train_config(2, 32, 1e-3, Threads::Count(1))
        },
    )
    .unwrap();
    t1.fit(&ds, None, &mut Silent).unwrap();
    let ck = t1.checkpoint();
    let mut t2 = Trainer::new(
        Autoencoder::new(cfg, 99).unwrap(),
        train_config(2, 32, 1e-3, Threads::Count(1)),
    )
    .unwrap();
    t2.restore(&ck).unwrap();
    t2.fit(&ds, None, &mut Silent).unwrap();
    let resumed: Vec<Vec<f32>> = t2
        .model()
        .params()
        .tensors()
        .iter()
        .map(|t| t.value.as_slice().to_vec())
        .collect();
    assert_eq!(resumed, full);
    // A VAE checkpoint does not load into an autoencoder.
    let vae = Vae::new(VaeConfig::new(30, &[8], 2, Activation::Tanh), 0).unwrap();
    let tv = Trainer::new(vae, train_config(1, 32, 1e-3, Threads::Count(1))).unwrap();
    assert!(t2.restore(&tv.checkpoint()).is_err());
}
