//! bf16 products in the autoencoder family: inference (a 2-layer AE's codes
//! and reconstructions, the VAE's posterior means) against an f64
//! reference computed from the bf16-rounded inputs and weights, with an
//! error bound propagated layer by layer; gradients in bf16 against the f32
//! gradient; bf16 training bit-identical on 1, 2 and 3 threads, also for a
//! stack pretrained in bf16 and fine-tuned.

use latent_testkit as common;

use crate::train_config;
use common::{TestRng, act64, f32_bits};
use latent_engine::train::{Model, Silent, Threads, TrainConfig, Trainer};
use latent_engine::{Dataset, Matrix, ParamSet};
use latent_kernels::bf16::{bf16_to_f32, f32_to_bf16};
use latent_kernels::gemm::{MatMut, Precision};
use latent_kernels::{Activation, Par};
use latent_models::ae::dense::{AeConfig, Autoencoder, Loss, Noise, Sparsity};
use latent_models::ae::stacked::{Classifier, LayerKind, PretrainConfig, StackedPretrainer};
use latent_models::ae::vae::{Vae, VaeConfig, VaeOutput};
use latent_models::rbm::RbmConfig;

/// The unit roundoff of f32, `2⁻²⁴`.
const U: f64 = 1.0 / 16_777_216.0;

/// `x` rounded to bf16 (nearest even), as f64.
fn bf(x: f32) -> f64 {
    bf16_to_f32(f32_to_bf16(x)) as f64
}

/// Values of a `rows x n` level computed in f64, each with a bound on how
/// far the model's f32 value may be from it.
struct Bounded {
    val: Vec<f64>,
    err: Vec<f64>,
}

impl Bounded {
    fn exact(x: &[f32]) -> Bounded {
        Bounded {
            val: x.iter().map(|&v| v as f64).collect(),
            err: vec![0.0; x.len()],
        }
    }

    /// The bf16 value the reference multiplies by, and the width of the
    /// range of bf16 values the model's input (within `err`) can round to
    /// (rounding is monotonic, so it lies between the roundings of the
    /// interval's ends, each taken to the nearest f32, which no f32 in the
    /// interval passes).
    fn rounded(&self, k: usize) -> (f64, f64) {
        let (v, e) = (self.val[k], self.err[k]);
        let (lo, hi) = (bf((v - e) as f32), bf((v + e) as f32));
        (bf(v as f32), hi - lo)
    }
}

/// A dense layer's f64 reference `act(bf16(x) · bf16(W) + b)` (`Wᵀ` with
/// `transposed`; `w` is `lo x hi` row-major) and the bound on the model's
/// bf16 result: the spread of the inputs' roundings times `|W|`, the bf16
/// GEMM's accumulation error `k·u·Σ|x̃||w̃|` (kernels/src/gemm/bf16), the
/// bias addition's rounding `u·|a|`, all through the activation (every one
/// used here is 1-Lipschitz), plus 4 ulps of the activation's own f32
/// evaluation.
fn layer(
    x: &Bounded,
    rows: usize,
    (w, lo, hi, transposed): (&[f32], usize, usize, bool),
    bias: &[f32],
    act: Activation,
) -> Bounded {
    let (n_in, n_out) = if transposed { (hi, lo) } else { (lo, hi) };
    let mut out = Bounded {
        val: vec![0.0; rows * n_out],
        err: vec![0.0; rows * n_out],
    };
    for i in 0..rows {
        for j in 0..n_out {
            let (mut acc, mut spread, mut mag) = (0.0, 0.0, 0.0);
            for k in 0..n_in {
                let wv = bf(if transposed {
                    w[j * hi + k]
                } else {
                    w[k * hi + j]
                });
                let (xv, width) = x.rounded(i * n_in + k);
                acc += xv * wv;
                spread += width * wv.abs();
                mag += (xv.abs() + width) * wv.abs();
            }
            let a = acc + bias[j] as f64;
            let y = act64(act, a);
            out.val[i * n_out + j] = y;
            out.err[i * n_out + j] =
                spread + n_in as f64 * U * mag + U * a.abs() + 4.0 * U * y.abs().max(1e-30);
        }
    }
    out
}

/// Asserts that `got` (the model in bf16) is within the bound of `want`,
/// that the bound is tight (below `2⁻¹⁴` of the level's largest value, far
/// below bf16's `2⁻⁹` rounding, for at least 75 % of the elements: an input
/// that may round either way widens its outputs' bounds), and that `f32`
/// (the same model in f32) is outside it for at least half the elements:
/// the products really rounded, and the bound tells bf16 from f32.
fn assert_within(what: &str, got: &[f32], want: &Bounded, f32_out: &[f32]) {
    let scale = want.val.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let (mut outside_f32, mut loose) = (0, 0);
    let mut worst = 0.0f64;
    for (i, ((&g, (&v, &e)), &f)) in got
        .iter()
        .zip(want.val.iter().zip(&want.err))
        .zip(f32_out)
        .enumerate()
    {
        let d = (g as f64 - v).abs();
        assert!(
            d <= e,
            "{what}[{i}]: bf16 {g} vs reference {v}: {d:e} > bound {e:e}"
        );
        if e >= scale / 16384.0 {
            loose += 1;
        }
        worst = worst.max(d / e.max(f64::MIN_POSITIVE));
        if (f as f64 - v).abs() > e {
            outside_f32 += 1;
        }
    }
    eprintln!(
        "{what}: worst error {worst:.3} of the bound; loose bounds {loose}, f32 outside: {outside_f32} of {}",
        got.len()
    );
    assert!(loose * 4 <= got.len(), "{what}: {loose} loose bounds");
    assert!(
        outside_f32 * 2 >= got.len(),
        "{what}: the f32 model meets the bf16 reference"
    );
}

fn random_data(rng: &mut TestRng, rows: usize, cols: usize) -> Matrix {
    let v: Vec<f32> = (0..rows * cols).map(|_| rng.uniform(0.0, 1.0)).collect();
    Matrix::from_fn(rows, cols, |i, j| v[i * cols + j]).unwrap()
}

/// Random weights in ±`w_scale` and biases in ±0.5.
fn randomise(ps: &mut ParamSet, rng: &mut TestRng, w_scale: f32) {
    for t in ps.tensors_mut() {
        let s = if t.name.starts_with('W') {
            w_scale
        } else {
            0.5
        };
        for v in t.value.as_mut_slice() {
            *v = rng.uniform(-s, s);
        }
    }
}

fn param<'a>(ps: &'a ParamSet, name: &str) -> &'a [f32] {
    ps.get(name).unwrap().as_slice()
}

/// Runs `f` on the model in bf16 and in f32, returning both outputs.
fn both<M>(
    model: &mut M,
    set: fn(&mut M, Precision),
    mut f: impl FnMut(&M) -> Vec<f32>,
) -> (Vec<f32>, Vec<f32>) {
    set(model, Precision::Bf16);
    let b = f(model);
    set(model, Precision::F32);
    (b, f(model))
}

/// The f64 reference of the decoder of a `v-h1-h2` autoencoder (sigmoid
/// hidden decoder layer, cross-entropy output) from the `code` reference:
/// the reconstructions (the output sigmoid 1-Lipschitz plus its 4 ulps).
fn decoder_reference(
    ps: &ParamSet,
    code: &Bounded,
    (rows, v, h1, h2): (usize, usize, usize, usize),
) -> Bounded {
    let dec1 = layer(
        code,
        rows,
        (param(ps, "Wd2"), h1, h2, true),
        param(ps, "b2"),
        Activation::Sigmoid,
    );
    let logits = layer(
        &dec1,
        rows,
        (param(ps, "Wd1"), v, h1, true),
        param(ps, "b1"),
        Activation::Identity,
    );
    // The output sigmoid (cross-entropy), 1-Lipschitz plus its 4 ulps.
    Bounded {
        val: logits
            .val
            .iter()
            .map(|&a| act64(Activation::Sigmoid, a))
            .collect(),
        err: logits
            .err
            .iter()
            .zip(&logits.val)
            .map(|(&e, &a)| e + 4.0 * U * act64(Activation::Sigmoid, a))
            .collect(),
    }
}

#[test]
fn bf16_ae_codes_and_reconstructions_match_the_rounded_f64_reference() {
    let mut rng = TestRng::new(11);
    let (v, h1, h2, rows) = (40, 24, 8, 13);
    let cfg = AeConfig::new(&[v, h1, h2], Activation::Sigmoid)
        .with_activations(&[Activation::Sigmoid, Activation::Tanh])
        .with_loss(Loss::CrossEntropy);
    let mut ae = Autoencoder::new(cfg, 3).unwrap();
    randomise(ae.params_mut(), &mut rng, 0.5);
    let x = random_data(&mut rng, rows, v);
    let ps = ae.params();
    let enc1 = layer(
        &Bounded::exact(x.as_slice()),
        rows,
        (param(ps, "W1"), v, h1, false),
        param(ps, "c1"),
        Activation::Sigmoid,
    );
    let code = layer(
        &enc1,
        rows,
        (param(ps, "W2"), h1, h2, false),
        param(ps, "c2"),
        Activation::Tanh,
    );
    let recon = decoder_reference(ps, &code, (rows, v, h1, h2));
    let (got, f32_codes) = both(&mut ae, Autoencoder::set_precision, |ae| {
        let mut out = Matrix::zeros(rows, h2).unwrap();
        ae.encode(x.view(), out.view_mut(), Par::Seq).unwrap();
        out.as_slice().to_vec()
    });
    assert_within("Autoencoder::encode", &got, &code, &f32_codes);
    let (got, f32_recon) = both(&mut ae, Autoencoder::set_precision, |ae| {
        let mut out = Matrix::zeros(rows, v).unwrap();
        ae.reconstruct(x.view(), out.view_mut(), Par::Seq).unwrap();
        out.as_slice().to_vec()
    });
    assert_within("Autoencoder::reconstruct", &got, &recon, &f32_recon);
}

#[test]
fn bf16_vae_posterior_means_match_the_rounded_f64_reference() {
    let mut rng = TestRng::new(12);
    let (v, h, z, rows) = (40, 24, 6, 11);
    let mut vae = Vae::new(VaeConfig::new(v, &[h], z, Activation::Tanh), 4).unwrap();
    randomise(vae.params_mut(), &mut rng, 0.5);
    let x = random_data(&mut rng, rows, v);
    let ps = vae.params();
    let hidden = layer(
        &Bounded::exact(x.as_slice()),
        rows,
        (param(ps, "W1"), v, h, false),
        param(ps, "c1"),
        Activation::Tanh,
    );
    let mu = layer(
        &hidden,
        rows,
        (param(ps, "Wmu"), h, z, false),
        param(ps, "bmu"),
        Activation::Identity,
    );
    let (got, f32_mu) = both(&mut vae, Vae::set_precision, |vae| {
        let mut out = vec![0.0f32; rows * z];
        let view = MatMut::row_major(&mut out, rows, z).unwrap();
        vae.encode(x.view(), view, Par::Seq).unwrap();
        out
    });
    assert_within("Vae::encode", &got, &mu, &f32_mu);
}

/// Each bf16 gradient tensor is within `GRADIENT_BOUND` of the f32 one
/// (relative, Frobenius norm). A bf16 operand carries a relative rounding
/// error of at most `2⁻⁹`, and a weight gradient is one product of two
/// operands that each went through at most 2L + 2 products of a 2-layer
/// (L = 2) model, forward and back: if every rounding added up, about
/// `(2·(2L + 2) + 2)·2⁻⁹ ≈ 2.7 %` of the gradient; 2⁻⁵ (3.1 %) holds that.
/// Measured: see the printed ratios (a few tenths of a percent).
const GRADIENT_BOUND: f64 = 1.0 / 32.0;

/// Compares the gradients `grad(model)` computes in bf16 and f32.
fn check_gradients<M: Model>(
    what: &str,
    model: &mut M,
    set: fn(&mut M, Precision),
    mut grad: impl FnMut(&mut M, &mut ParamSet) -> f64,
) {
    let mut g32 = model.params().zeros_like().unwrap();
    let mut g16 = model.params().zeros_like().unwrap();
    set(model, Precision::F32);
    let loss32 = grad(model, &mut g32);
    set(model, Precision::Bf16);
    let loss16 = grad(model, &mut g16);
    let rel = (loss16 - loss32).abs() / loss32.abs();
    assert!(
        rel < GRADIENT_BOUND,
        "{what}: loss {loss16} vs f32 {loss32}"
    );
    let mut worst = 0.0f64;
    for (a, b) in g16.tensors().iter().zip(g32.tensors()) {
        let (x, y) = (a.value.as_slice(), b.value.as_slice());
        let diff: f64 = x
            .iter()
            .zip(y)
            .map(|(&p, &q)| (p as f64 - q as f64).powi(2))
            .sum();
        let norm: f64 = y.iter().map(|&q| (q as f64).powi(2)).sum();
        let r = (diff / norm).sqrt();
        assert!(
            r < GRADIENT_BOUND,
            "{what} {}: bf16 vs f32 gradient {r:.4}",
            a.name
        );
        worst = worst.max(r);
    }
    eprintln!("{what}: loss rel {rel:.2e}, worst gradient tensor rel {worst:.4}");
    assert!(
        g16.tensors()
            .iter()
            .zip(g32.tensors())
            .any(|(a, b)| f32_bits(a.value.as_slice()) != f32_bits(b.value.as_slice())),
        "{what}: bf16 gave the f32 gradient"
    );
}

#[test]
fn bf16_gradients_are_close_to_the_f32_gradients() {
    let mut rng = TestRng::new(21);
    let x = random_data(&mut rng, 17, 30);
    let base = AeConfig::new(&[30, 20, 8], Activation::Sigmoid)
        .with_activations(&[Activation::Sigmoid, Activation::Relu])
        .with_loss(Loss::CrossEntropy);
    let configs = [
        ("deep untied", base.clone()),
        ("deep tied", base.clone().with_tied(true)),
        (
            "sparse kl",
            AeConfig::new(&[30, 12], Activation::Sigmoid).with_sparsity(Sparsity::Kl {
                rho: 0.1,
                beta: 0.5,
            }),
        ),
        (
            "denoising",
            base.clone().with_noise(Noise::Mask { nu: 0.3 }),
        ),
        (
            "contractive sigmoid",
            AeConfig::new(&[30, 20, 8], Activation::Sigmoid).with_contractive(0.3),
        ),
        (
            "contractive relu tied",
            AeConfig::new(&[30, 16], Activation::Relu)
                .with_contractive(0.3)
                .with_tied(true),
        ),
    ];
    for (name, cfg) in configs {
        let mut ae = Autoencoder::new(cfg, 5).unwrap();
        randomise(ae.params_mut(), &mut rng, 0.4);
        check_gradients(name, &mut ae, Autoencoder::set_precision, |m, g| {
            m.loss_and_gradient(x.view(), g, 9, Par::Seq)
                .unwrap()
                .objective
        });
    }
    for output in [VaeOutput::Bernoulli, VaeOutput::Gaussian] {
        let cfg = VaeConfig::new(30, &[20, 12], 4, Activation::Tanh).with_output(output);
        let mut vae = Vae::new(cfg, 6).unwrap();
        randomise(vae.params_mut(), &mut rng, 0.4);
        check_gradients(
            &format!("VAE {output:?}"),
            &mut vae,
            Vae::set_precision,
            |m, g| m.loss_and_gradient(x.view(), g, 9, Par::Seq).unwrap().loss,
        );
    }
    let acts = [Activation::Sigmoid, Activation::Tanh];
    let mut clf = Classifier::new(&[30, 20, 12], &acts, 4, 7).unwrap();
    randomise(clf.params_mut(), &mut rng, 0.4);
    let labels: Vec<u32> = (0..17).map(|i| i % 4).collect();
    check_gradients("classifier", &mut clf, Classifier::set_precision, |m, g| {
        m.loss_and_gradient(x.view(), &labels, g, Par::Seq)
            .unwrap()
            .0
    });
}

/// The parameters of `model` after 2 epochs of Adam on `data` with
/// `threads` threads, as bits.
fn trained_bits<M: Model + Send>(model: M, data: &Dataset, threads: usize) -> (M, Vec<u32>) {
    let mut t = Trainer::new(model, train_config(2, 16, 1e-2, Threads::Count(threads))).unwrap();
    t.fit(data, None, &mut Silent).unwrap();
    let m = t.into_model();
    let bits = m
        .params()
        .tensors()
        .iter()
        .flat_map(|t| f32_bits(t.value.as_slice()))
        .collect();
    (m, bits)
}

/// Trains in bf16 on 1, 2 and 3 threads (same bits) and once in f32
/// (different bits: the precision reached the products).
fn assert_deterministic<M: Model + Send>(
    what: &str,
    make: impl Fn() -> M,
    set: fn(&mut M, Precision),
    data: &Dataset,
) {
    let bf16 = |threads| {
        let mut m = make();
        set(&mut m, Precision::Bf16);
        trained_bits(m, data, threads).1
    };
    let one = bf16(1);
    for threads in [2, 3] {
        assert!(
            one == bf16(threads),
            "{what}: bf16 training differs on {threads} threads"
        );
    }
    assert!(
        one != trained_bits(make(), data, 1).1,
        "{what}: bf16 trained as f32"
    );
}

#[test]
fn bf16_training_gives_the_same_bits_on_1_2_and_3_threads() {
    let mut rng = TestRng::new(31);
    let data = Dataset::new(random_data(&mut rng, 70, 30), None).unwrap();
    let configs = [
        AeConfig::new(&[30, 20, 8], Activation::Sigmoid).with_loss(Loss::CrossEntropy),
        AeConfig::new(&[30, 12], Activation::Sigmoid)
            .with_tied(true)
            .with_sparsity(Sparsity::Kl {
                rho: 0.1,
                beta: 0.5,
            })
            .with_noise(Noise::Mask { nu: 0.3 }),
        AeConfig::new(&[30, 16, 8], Activation::Sigmoid).with_contractive(0.1),
    ];
    for cfg in configs {
        let make = || Autoencoder::new(cfg.clone(), 1).unwrap();
        assert_deterministic(&format!("{cfg:?}"), make, Autoencoder::set_precision, &data);
    }
    let cfg = VaeConfig::new(30, &[16, 8], 3, Activation::Relu);
    let make = || Vae::new(cfg.clone(), 1).unwrap();
    assert_deterministic("VAE", make, Vae::set_precision, &data);
}

/// A stack of a denoising AE layer and an RBM layer pretrained in `p` on
/// `threads` threads, unrolled and fine-tuned in `p`: the bits of the
/// layers' weights and of the fine-tuned model.
fn stacked_bits(data: &Dataset, p: Precision, threads: usize) -> Vec<u32> {
    let t = train_config(2, 16, 1e-2, Threads::Count(threads));
    let rbm = RbmConfig::bernoulli(16, 6);
    let rbm_train = TrainConfig {
        epochs: 2,
        batch_size: 16,
        threads: Threads::Count(threads),
        ..TrainConfig::new(rbm.default_optimizer())
    };
    let dae = AeConfig::new(&[30, 16], Activation::Sigmoid)
        .with_loss(Loss::CrossEntropy)
        .with_noise(Noise::Mask { nu: 0.2 });
    let pre = PretrainConfig::new(
        vec![30, 16, 6],
        vec![
            (LayerKind::Autoencoder(dae), t),
            (LayerKind::Rbm(rbm), rbm_train),
        ],
        1,
    )
    .with_precision(p);
    let stack = StackedPretrainer::pretrain(&pre, data).unwrap();
    let mut deep = stack.unroll(Loss::CrossEntropy, 2).unwrap();
    deep.set_precision(p);
    let (_, mut bits) = trained_bits(deep, data, threads);
    for l in &stack.layers {
        bits.extend(f32_bits(l.w.as_slice()));
    }
    bits
}

#[test]
fn a_stack_pretrained_and_fine_tuned_in_bf16_is_deterministic() {
    let mut rng = TestRng::new(32);
    let data = Dataset::new(random_data(&mut rng, 70, 30), None).unwrap();
    let one = stacked_bits(&data, Precision::Bf16, 1);
    for threads in [2, 3] {
        assert!(
            one == stacked_bits(&data, Precision::Bf16, threads),
            "{threads} threads"
        );
    }
    assert!(
        one != stacked_bits(&data, Precision::F32, 1),
        "bf16 stack trained as f32"
    );
}
