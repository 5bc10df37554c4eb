//! Gradient checks of the autoencoder family: the analytic gradient of every
//! parameter (computed by the models in f32 through the kernels) against
//! central finite differences of an independent f64 reference objective
//! written here from MODELS.md section 4, over random small shapes and
//! random parameters. Noise is held fixed: the denoising AE's corrupted
//! input comes from `Autoencoder::corrupt` with the step's seed, and the
//! VAE's `ε` from `Vae::draw_eps`. The contractive penalty's value is also
//! compared with a Jacobian materialised the slow way.

use latent_testkit as common;

use common::{TestRng, act64, dact64, rel_err, softplus64};
use latent_engine::ParamSet;
use latent_engine::train::Model;
use latent_kernels::gemm::MatRef;
use latent_kernels::{Activation, Par};
use latent_models::ae::dense::{AeConfig, Autoencoder, Loss, Noise, Sparsity};
use proptest::prelude::*;

mod classifier_vae;

const ACTS: [Activation; 5] = [
    Activation::Identity,
    Activation::Sigmoid,
    Activation::Relu,
    Activation::Tanh,
    Activation::Softplus,
];

/// `Y = act(X W + 1 cᵀ)` (or `X Wᵀ` with `transpose`) in f64, also
/// returning the pre-activations. `w` is `lo x hi` row-major.
#[allow(clippy::too_many_arguments)]
fn layer64(
    x: &[f64],
    rows: usize,
    w: &[f64],
    lo: usize,
    hi: usize,
    bias: &[f64],
    act: Activation,
    transpose: bool,
) -> (Vec<f64>, Vec<f64>) {
    let (n_in, n_out) = if transpose { (hi, lo) } else { (lo, hi) };
    let mut a = vec![0.0; rows * n_out];
    for i in 0..rows {
        for j in 0..n_out {
            let mut s = bias[j];
            for k in 0..n_in {
                let wv = if transpose {
                    w[j * hi + k]
                } else {
                    w[k * hi + j]
                };
                s += x[i * n_in + k] * wv;
            }
            a[i * n_out + j] = s;
        }
    }
    let y = a.iter().map(|&v| act64(act, v)).collect();
    (a, y)
}

/// `Σ_i ‖∂h/∂x‖_F²` of `h = act(x W + c)` from a materialised Jacobian
/// `J_jk = act'(a_j) W_kj`, the slow way.
fn jacobian_penalty64(
    a: &[f64],
    rows: usize,
    w: &[f64],
    lo: usize,
    hi: usize,
    act: Activation,
) -> f64 {
    let mut total = 0.0;
    for i in 0..rows {
        let mut jac = vec![0.0; hi * lo];
        for j in 0..hi {
            let d = dact64(act, a[i * hi + j]);
            for k in 0..lo {
                jac[j * lo + k] = d * w[k * hi + j];
            }
        }
        total += jac.iter().map(|v| v * v).sum::<f64>();
    }
    total
}

/// The f64 reference objective of a dense autoencoder: reconstruction +
/// sparsity + contractive terms, `params` in the model's `ParamSet` order,
/// `x_in` the (already corrupted) encoder input and `x` the clean target.
/// Returns (objective, contractive term).
fn ae_objective64(
    cfg: &AeConfig,
    ps: &ParamSet,
    params: &[Vec<f64>],
    x_in: &[f64],
    x: &[f64],
    rows: usize,
) -> (f64, f64) {
    let s = &cfg.sizes;
    let l = cfg.depth();
    let get = |name: String| &params[ps.index_of(&name).unwrap()];
    let mut h = x_in.to_vec();
    let mut contractive = 0.0;
    for i in 0..l {
        let w = get(format!("W{}", i + 1));
        let (a, y) = layer64(
            &h,
            rows,
            w,
            s[i],
            s[i + 1],
            get(format!("c{}", i + 1)),
            cfg.activations[i],
            false,
        );
        if cfg.contractive.is_some() {
            contractive += jacobian_penalty64(&a, rows, w, s[i], s[i + 1], cfg.activations[i]);
        }
        h = y;
    }
    let code = h.clone();
    let mut g = h;
    let mut out_pre = Vec::new();
    for i in (0..l).rev() {
        let wd = if cfg.tied {
            get(format!("W{}", i + 1))
        } else {
            get(format!("Wd{}", i + 1))
        };
        let act = if i == 0 {
            Activation::Identity
        } else {
            cfg.activations[i - 1]
        };
        let (a, y) = layer64(
            &g,
            rows,
            wd,
            s[i],
            s[i + 1],
            get(format!("b{}", i + 1)),
            act,
            true,
        );
        if i == 0 {
            out_pre = a;
        }
        g = y;
    }
    let b = rows as f64;
    let recon_sum: f64 = match cfg.loss {
        Loss::SquaredError => out_pre
            .iter()
            .zip(x)
            .map(|(a, t)| 0.5 * (a - t).powi(2))
            .sum::<f64>(),
        Loss::CrossEntropy => out_pre
            .iter()
            .zip(x)
            .map(|(&a, &t)| softplus64(a) - t * a)
            .sum::<f64>(),
    };
    let recon = recon_sum / b;
    let hl = s[l];
    let sparsity = match cfg.sparsity {
        Sparsity::None => 0.0,
        Sparsity::L1 { lambda } => lambda as f64 * code.iter().map(|v| v.abs()).sum::<f64>() / b,
        Sparsity::Kl { rho, beta } => {
            let rho = rho as f64;
            (0..hl)
                .map(|j| {
                    let q = (0..rows).map(|i| code[i * hl + j]).sum::<f64>() / b;
                    rho * (rho / q).ln() + (1.0 - rho) * ((1.0 - rho) / (1.0 - q)).ln()
                })
                .sum::<f64>()
                * beta as f64
        }
    };
    let contractive = cfg
        .contractive
        .map_or(0.0, |lam| lam as f64 * contractive / b);
    (recon + sparsity + contractive, contractive)
}

/// Below this magnitude a gradient entry is compared absolutely: the
/// model computes in f32, so on a loss of order 1 its gradients carry
/// absolute rounding of order 1e-9 to 1e-8, and an entry of 2e-8 (a random
/// tiny network whose three sigmoid layers all saturate) cannot be checked
/// to 0.2 % relative. Found by a proptest case that failed at 0.7 %
/// relative on analytic −2.094e-8 vs numeric −2.109e-8.
const F32_GRADIENT_FLOOR: f64 = 1e-6;

/// Analytic `a` against numeric `n` gradients: the style guide's relative
/// error below `tol` wherever `|n|` is at least 1e-3 of the largest entry
/// and above [`F32_GRADIENT_FLOOR`]; smaller entries (where an f32 sum of
/// terms of either sign can cancel to a value dominated by rounding) within
/// `tol · max(max|n|, floor)` absolutely.
fn check_grad(what: &str, a: &[f64], n: &[f64], tol: f64) {
    let big = n.iter().chain(a).fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (&a, &n)) in a.iter().zip(n).enumerate() {
        if n.abs() >= (1e-3 * big).max(F32_GRADIENT_FLOOR) {
            let e = rel_err(a, n);
            assert!(e < tol, "{what}[{i}]: analytic {a} numeric {n} (rel {e:e})");
        } else {
            assert!(
                (a - n).abs() < tol * big.max(F32_GRADIENT_FLOOR),
                "{what}[{i}]: analytic {a} numeric {n}"
            );
        }
    }
}

/// Central differences of `f` at every element of every tensor.
fn numeric_grads(params: &[Vec<f64>], f: &dyn Fn(&[Vec<f64>]) -> f64) -> Vec<Vec<f64>> {
    let eps = 1e-6;
    let mut p = params.to_vec();
    let mut out = Vec::new();
    for t in 0..params.len() {
        let mut g = vec![0.0; params[t].len()];
        for k in 0..params[t].len() {
            let orig = p[t][k];
            p[t][k] = orig + eps;
            let up = f(&p);
            p[t][k] = orig - eps;
            let down = f(&p);
            p[t][k] = orig;
            g[k] = (up - down) / (2.0 * eps);
        }
        out.push(g);
    }
    out
}

/// Random parameters for every tensor (weights in ±`w_scale`, biases ±0.5).
fn randomise(ps: &mut ParamSet, rng: &mut TestRng, w_scale: f32) {
    for t in ps.tensors_mut() {
        let weight = t.name.starts_with('W');
        for v in t.value.as_mut_slice() {
            *v = if weight {
                rng.uniform(-w_scale, w_scale)
            } else {
                rng.uniform(-0.5, 0.5)
            };
        }
    }
}

fn to64(ps: &ParamSet) -> Vec<Vec<f64>> {
    ps.tensors()
        .iter()
        .map(|t| t.value.as_slice().iter().map(|&v| v as f64).collect())
        .collect()
}

/// Builds a model for `cfg` with random parameters, computes its analytic
/// gradient on random data with noise seed `seed`, and checks every tensor
/// against central differences of the f64 reference. Returns the model's
/// step for further checks.
fn check_ae(cfg: AeConfig, rows: usize, seed: u64) -> latent_models::ae::dense::AeStep {
    let mut rng = TestRng::new(seed);
    let mut ae = Autoencoder::new(cfg.clone(), seed).unwrap();
    randomise(ae.params_mut(), &mut rng, 0.8);
    let v = cfg.sizes[0];
    let x: Vec<f32> = (0..rows * v).map(|_| rng.uniform(0.0, 1.0)).collect();
    let mut x_in = vec![0.0f32; rows * v];
    let noise_seed = rng.next_u64();
    ae.corrupt(&x, &mut x_in, rows, noise_seed, Par::Seq)
        .unwrap();
    let mut grads = ae.params().zeros_like().unwrap();
    let step = ae
        .loss_and_gradient(
            MatRef::row_major(&x, rows, v).unwrap(),
            &mut grads,
            noise_seed,
            Par::Seq,
        )
        .unwrap();
    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let xin64: Vec<f64> = x_in.iter().map(|&v| v as f64).collect();
    let p64 = to64(ae.params());
    let ps = ae.params();
    let f = |p: &[Vec<f64>]| ae_objective64(&cfg, ps, p, &xin64, &x64, rows).0;
    let (obj, contr) = ae_objective64(&cfg, ps, &p64, &xin64, &x64, rows);
    assert!(
        rel_err(step.objective, obj) < 1e-4,
        "objective {} vs f64 {obj} ({cfg:?})",
        step.objective
    );
    assert!(
        (step.contractive - contr).abs() <= 1e-4 * contr.abs().max(1e-6),
        "contractive term {} vs materialised Jacobian {contr}",
        step.contractive
    );
    let num = numeric_grads(&p64, &f);
    for (t, n) in ps.tensors().iter().zip(&num) {
        let a: Vec<f64> = grads
            .get(&t.name)
            .unwrap()
            .as_slice()
            .iter()
            .map(|&v| v as f64)
            .collect();
        // f32 forward and backward against an f64 reference: 2e-3 relative
        // leaves room for f32 rounding in sums of a few dozen terms.
        check_grad(&format!("{} ({cfg:?})", t.name), &a, n, 2e-3);
    }
    step
}

fn sizes_strategy() -> impl Strategy<Value = Vec<usize>> {
    latent_testkit::strategies::layer_sizes(1..=3, 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Plain autoencoders: any depth, per-layer activations, both losses,
    /// tied and untied.
    #[test]
    fn dense_ae_gradient_matches_finite_differences(
        sizes in sizes_strategy(),
        acts in proptest::collection::vec(latent_testkit::strategies::activation_index(), 3),
        tied in any::<bool>(),
        ce in any::<bool>(),
        rows in 1usize..5,
        seed in any::<u64>(),
    ) {
        let l = sizes.len() - 1;
        let acts: Vec<Activation> = acts[..l].iter().map(|&i| ACTS[i]).collect();
        let cfg = AeConfig::new(&sizes, Activation::Identity)
            .with_activations(&acts)
            .with_tied(tied)
            .with_loss(if ce { Loss::CrossEntropy } else { Loss::SquaredError });
        check_ae(cfg, rows, seed);
    }

    /// Sparse autoencoders: L1 on any code, KL toward ρ on a sigmoid code.
    #[test]
    fn sparse_ae_gradient_matches_finite_differences(
        sizes in sizes_strategy(),
        kl in any::<bool>(),
        tied in any::<bool>(),
        rows in 1usize..5,
        seed in any::<u64>(),
    ) {
        let l = sizes.len() - 1;
        let mut acts = vec![Activation::Tanh; l];
        let sparsity = if kl {
            acts[l - 1] = Activation::Sigmoid;
            Sparsity::Kl { rho: 0.1, beta: 0.7 }
        } else {
            Sparsity::L1 { lambda: 0.3 }
        };
        let cfg = AeConfig::new(&sizes, Activation::Tanh)
            .with_activations(&acts)
            .with_tied(tied)
            .with_sparsity(sparsity);
        let step = check_ae(cfg, rows, seed);
        prop_assert!(step.sparsity > 0.0);
    }

    /// Denoising autoencoders: every noise kind, the noise held fixed by
    /// the step's seed; the loss compares with the clean input.
    #[test]
    fn denoising_ae_gradient_matches_finite_differences(
        sizes in sizes_strategy(),
        kind in 0usize..3,
        rows in 1usize..5,
        seed in any::<u64>(),
    ) {
        let noise = match kind {
            0 => Noise::Mask { nu: 0.3 },
            1 => Noise::Gaussian { std: 0.2 },
            _ => Noise::SaltPepper { nu: 0.3, lo: 0.0, hi: 1.0 },
        };
        let cfg = AeConfig::new(&sizes, Activation::Sigmoid)
            .with_loss(Loss::CrossEntropy)
            .with_noise(noise);
        check_ae(cfg, rows, seed);
    }

    /// Contractive autoencoders, sigmoid or ReLU, penalised layer by layer
    /// in deep encoders; the penalty's value matches a materialised
    /// Jacobian (checked inside `check_ae`).
    #[test]
    fn contractive_ae_gradient_matches_finite_differences(
        sizes in sizes_strategy(),
        relu in any::<bool>(),
        tied in any::<bool>(),
        rows in 1usize..5,
        seed in any::<u64>(),
    ) {
        let act = if relu { Activation::Relu } else { Activation::Sigmoid };
        let cfg = AeConfig::new(&sizes, act)
            .with_tied(tied)
            .with_contractive(0.5);
        let step = check_ae(cfg, rows, seed);
        prop_assert!(step.contractive >= 0.0);
    }
}

/// A denoising AE's noise really differs from the clean input and changes
/// with the seed (so `corrupt` is not a silent copy).
#[test]
fn denoising_noise_is_fresh_per_seed() {
    let cfg = AeConfig::new(&[50, 4], Activation::Sigmoid).with_noise(Noise::Mask { nu: 0.5 });
    let ae = Autoencoder::new(cfg, 1).unwrap();
    let x = vec![1.0f32; 4 * 50];
    let (mut a, mut b) = (vec![0.0; 200], vec![0.0; 200]);
    ae.corrupt(&x, &mut a, 4, 7, Par::Seq).unwrap();
    ae.corrupt(&x, &mut b, 4, 8, Par::Seq).unwrap();
    let zeros = a.iter().filter(|&&v| v == 0.0).count();
    assert!(
        (60..140).contains(&zeros),
        "masked {zeros} of 200 at nu = 0.5"
    );
    assert_ne!(a, b, "different seeds gave the same noise");
}

/// The contractive penalty alone, on a wider single layer than the
/// property test reaches (the kernel's vectorised path), against the
/// materialised Jacobian.
#[test]
fn contractive_penalty_matches_materialised_jacobian_wide() {
    for (act, seed) in [(Activation::Sigmoid, 3u64), (Activation::Relu, 4)] {
        let cfg = AeConfig::new(&[37, 21], act).with_contractive(0.25);
        let step = check_ae(cfg, 6, seed);
        assert!(step.contractive > 0.0);
    }
}

/// Every activation × loss × tied/untied combination at least once (the
/// property tests sample them), on a 2-layer encoder with an overcomplete
/// first layer.
#[test]
fn every_activation_loss_and_tying_is_checked() {
    let mut seed = 100;
    for act in ACTS {
        for loss in [Loss::SquaredError, Loss::CrossEntropy] {
            for tied in [false, true] {
                seed += 1;
                let cfg = AeConfig::new(&[4, 6, 3], act)
                    .with_loss(loss)
                    .with_tied(tied);
                check_ae(cfg, 3, seed);
            }
        }
    }
}
