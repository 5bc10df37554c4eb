//! Gradient checks of the VAE (with `ε` held fixed) and of the stacked
//! autoencoders' softmax classifier against f64 references.

use super::*;

use latent_models::ae::vae::{Vae, VaeConfig, VaeOutput};

/// The f64 negative ELBO of a VAE with `ε` fixed: hidden layers, the two
/// heads, `z = μ + e^{lv/2} ε`, the mirrored decoder, `-ln p(x|z)` and the
/// KL to `N(0, I)`.
fn vae_objective64(
    cfg: &VaeConfig,
    ps: &ParamSet,
    params: &[Vec<f64>],
    x: &[f64],
    eps: &[f64],
    rows: usize,
) -> f64 {
    let get = |name: &str| &params[ps.index_of(name).unwrap()];
    let mut lv_sizes = cfg.sizes.clone();
    lv_sizes.push(cfg.latent);
    let k = cfg.sizes.len() - 1;
    let mut h = x.to_vec();
    for i in 0..k {
        let n = format!("{}", i + 1);
        h = layer64(
            &h,
            rows,
            get(&format!("W{n}")),
            lv_sizes[i],
            lv_sizes[i + 1],
            get(&format!("c{n}")),
            cfg.activations[i],
            false,
        )
        .1;
    }
    let (hk, z) = (lv_sizes[k], cfg.latent);
    let mu = layer64(
        &h,
        rows,
        get("Wmu"),
        hk,
        z,
        get("bmu"),
        Activation::Identity,
        false,
    )
    .1;
    let lv = layer64(
        &h,
        rows,
        get("Wlv"),
        hk,
        z,
        get("blv"),
        Activation::Identity,
        false,
    )
    .1;
    let zs: Vec<f64> = (0..rows * z)
        .map(|j| mu[j] + (0.5 * lv[j]).exp() * eps[j])
        .collect();
    let mut g = zs;
    let mut out = Vec::new();
    for i in (0..=k).rev() {
        let act = if i == 0 {
            Activation::Identity
        } else {
            cfg.activations[i - 1]
        };
        let (a, y) = layer64(
            &g,
            rows,
            get(&format!("Wd{}", i + 1)),
            lv_sizes[i],
            lv_sizes[i + 1],
            get(&format!("b{}", i + 1)),
            act,
            true,
        );
        if i == 0 {
            out = a;
        }
        g = y;
    }
    let v = cfg.sizes[0] as f64;
    let recon: f64 = match cfg.output {
        VaeOutput::Bernoulli => out
            .iter()
            .zip(x)
            .map(|(&a, &t)| softplus64(a) - t * a)
            .sum::<f64>(),
        VaeOutput::Gaussian => {
            out.iter()
                .zip(x)
                .map(|(a, t)| 0.5 * (a - t).powi(2))
                .sum::<f64>()
                + rows as f64 * 0.5 * v * (2.0 * std::f64::consts::PI).ln()
        }
    };
    let kl: f64 = (0..rows * z)
        .map(|j| -0.5 * (1.0 + lv[j] - mu[j] * mu[j] - lv[j].exp()))
        .sum();
    (recon + kl) / rows as f64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// VAE: every parameter, both decoders, 0-2 hidden layers, `ε` held
    /// fixed by the step's seed.
    #[test]
    fn vae_gradient_matches_finite_differences(
        sizes in latent_testkit::strategies::layer_sizes(0..=2, 1..6),
        latent in 1usize..4,
        acts in proptest::collection::vec(latent_testkit::strategies::activation_index(), 2),
        gaussian in any::<bool>(),
        rows in 1usize..5,
        seed in any::<u64>(),
    ) {
        let k = sizes.len() - 1;
        let acts: Vec<Activation> = acts[..k].iter().map(|&i| ACTS[i]).collect();
        let cfg = VaeConfig::new(sizes[0], &sizes[1..], latent, Activation::Tanh)
            .with_activations(&acts)
            .with_output(if gaussian { VaeOutput::Gaussian } else { VaeOutput::Bernoulli });
        let mut rng = TestRng::new(seed);
        let mut vae = Vae::new(cfg.clone(), seed).unwrap();
        randomise(vae.params_mut(), &mut rng, 0.6);
        let v = sizes[0];
        let x: Vec<f32> = (0..rows * v).map(|_| rng.uniform(0.0, 1.0)).collect();
        let step_seed = rng.next_u64();
        let mut eps = vec![0.0f32; rows * latent];
        vae.draw_eps(step_seed, rows, &mut eps).unwrap();
        let mut grads = vae.params().zeros_like().unwrap();
        let step = vae
            .loss_and_gradient(MatRef::row_major(&x, rows, v).unwrap(), &mut grads, step_seed, Par::Seq)
            .unwrap();
        let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let e64: Vec<f64> = eps.iter().map(|&v| v as f64).collect();
        let p64 = to64(vae.params());
        let ps = vae.params();
        let obj = vae_objective64(&cfg, ps, &p64, &x64, &e64, rows);
        prop_assert!(rel_err(step.loss, obj) < 1e-4, "loss {} vs f64 {}", step.loss, obj);
        prop_assert!((step.elbo() + step.loss).abs() < 1e-12);
        let f = |p: &[Vec<f64>]| vae_objective64(&cfg, ps, p, &x64, &e64, rows);
        let num = numeric_grads(&p64, &f);
        for (t, n) in ps.tensors().iter().zip(&num) {
            let a: Vec<f64> = grads.get(&t.name).unwrap().as_slice().iter().map(|&v| v as f64).collect();
            // Same f32-vs-f64 allowance as the dense checks.
            check_grad(&format!("{} ({cfg:?})", t.name), &a, n, 2e-3);
        }
    }
}

use latent_kernels::gemm::MatMut;
use latent_models::ae::stacked::{Classifier, ClassifierScratch};

/// The f64 logits of a classifier (`rows x classes`).
fn clf_logits64(
    sizes: &[usize],
    acts: &[Activation],
    classes: usize,
    ps: &ParamSet,
    params: &[Vec<f64>],
    x: &[f64],
    rows: usize,
) -> Vec<f64> {
    let get = |name: &str| &params[ps.index_of(name).unwrap()];
    let mut h = x.to_vec();
    for i in 0..sizes.len() - 1 {
        let n = i + 1;
        h = layer64(
            &h,
            rows,
            get(&format!("W{n}")),
            sizes[i],
            sizes[i + 1],
            get(&format!("c{n}")),
            acts[i],
            false,
        )
        .1;
    }
    let top = *sizes.last().unwrap();
    layer64(
        &h,
        rows,
        get("V"),
        top,
        classes,
        get("d"),
        Activation::Identity,
        false,
    )
    .1
}

/// The f64 mean cross-entropy of a classifier's softmax.
fn clf_objective64(
    sizes: &[usize],
    acts: &[Activation],
    classes: usize,
    ps: &ParamSet,
    params: &[Vec<f64>],
    x: &[f64],
    labels: &[u32],
) -> f64 {
    let rows = labels.len();
    let logits = clf_logits64(sizes, acts, classes, ps, params, x, rows);
    let mut loss = 0.0;
    for (i, &y) in labels.iter().enumerate() {
        let row = &logits[i * classes..(i + 1) * classes];
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        loss += lse - row[y as usize];
    }
    loss / rows as f64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// The stacked-AE classifier's softmax layer and fine-tuned encoder.
    #[test]
    fn classifier_gradient_matches_finite_differences(
        sizes in latent_testkit::strategies::layer_sizes(0..=2, 1..6),
        acts in proptest::collection::vec(latent_testkit::strategies::activation_index(), 2),
        classes in 2usize..5,
        rows in 1usize..6,
        seed in any::<u64>(),
    ) {
        let l = sizes.len() - 1;
        let acts: Vec<Activation> = acts[..l].iter().map(|&i| ACTS[i]).collect();
        let mut rng = TestRng::new(seed);
        let mut clf = Classifier::new(&sizes, &acts, classes, seed).unwrap();
        randomise(clf.params_mut(), &mut rng, 0.8);
        let v = sizes[0];
        let x: Vec<f32> = (0..rows * v).map(|_| rng.uniform(0.0, 1.0)).collect();
        let labels: Vec<u32> = (0..rows).map(|_| (rng.next_u64() % classes as u64) as u32).collect();
        let mut grads = clf.params().zeros_like().unwrap();
        let (loss, _) = clf
            .loss_and_gradient(MatRef::row_major(&x, rows, v).unwrap(), &labels, &mut grads, Par::Seq)
            .unwrap();
        let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let p64 = to64(clf.params());
        let ps = clf.params();
        let f = |p: &[Vec<f64>]| clf_objective64(&sizes, &acts, classes, ps, p, &x64, &labels);
        prop_assert!(rel_err(loss, f(&p64)) < 1e-4);
        let num = numeric_grads(&p64, &f);
        for (t, n) in ps.tensors().iter().zip(&num) {
            let a: Vec<f64> = grads.get(&t.name).unwrap().as_slice().iter().map(|&v| v as f64).collect();
            // Same f32-vs-f64 allowance as the dense checks.
            check_grad(&t.name, &a, n, 2e-3);
        }
        // The class probabilities `latent predict` writes: the softmax of
        // the same logits.
        let logits = clf_logits64(&sizes, &acts, classes, ps, &p64, &x64, rows);
        let mut probs = vec![0.0f32; rows * classes];
        clf.probabilities_with(
            MatRef::row_major(&x, rows, v).unwrap(),
            MatMut::row_major(&mut probs, rows, classes).unwrap(),
            &mut ClassifierScratch::default(),
            Par::Seq,
        )
        .unwrap();
        for (row, p) in logits.chunks_exact(classes).zip(probs.chunks_exact(classes)) {
            let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = row.iter().map(|v| (v - m).exp()).sum();
            for (l, &q) in row.iter().zip(p) {
                prop_assert!(((l - m).exp() / z - q as f64).abs() < 1e-5, "{p:?} vs {row:?}");
            }
        }
    }
}
