//! After warm-up, an autoencoder training step (gradient plus the
//! optimiser's update) allocates nothing, on one thread, for every variant:
//! deep, tied, sparse, denoising, contractive (first and deeper layers),
//! with code noise,
//! the VAE and the softmax classifier, in f32 and in bf16 (whose weights
//! are repacked into the same storage every step). The inference `_with`
//! forms allocate nothing once their scratch is warm (in either precision),
//! even when one scratch serves models of different shapes, and give the
//! plain forms' bits; outputs of any
//! layout get the same values; outputs of the wrong shape are errors.

use latent_engine::train::Model;
use latent_engine::{Matrix, Optimizer, OptimizerConfig, ParamSet};
use latent_kernels::gemm::{MatMut, MatRef, Precision};
use latent_kernels::{Activation, Par};
use latent_models::ae::{
    AeConfig, AeScratch, Autoencoder, Classifier, Loss, Noise, Sparsity, Vae, VaeConfig, VaeOutput,
    VaeScratch,
};
use latent_testkit::alloc_count::allocations_on_this_thread;

fn data(rows: usize, cols: usize) -> Matrix {
    Matrix::from_fn(rows, cols, |i, j| ((i * 7 + j * 3) % 5) as f32 / 4.0).unwrap()
}

/// Runs `grad` then an Adam step 2 times to warm up (a full and a partial
/// batch), then 10 more, and asserts no allocation in those.
fn assert_no_alloc<M: Model>(
    what: &str,
    model: &mut M,
    mut grad: impl FnMut(&mut M, &Matrix, &mut ParamSet, u64),
) {
    let (x, partial) = (data(64, 30), data(23, 30));
    let mut grads = model.params().zeros_like().unwrap();
    let mut spare = model.params().clone();
    let mut opt = Optimizer::new(OptimizerConfig::adam(1e-3), model.params()).unwrap();
    let mut step = |m: &mut M, b: &Matrix, seed: u64| {
        grad(m, b, &mut grads, seed);
        let bad = opt.step_into(m.params(), &grads, &mut spare, 0).unwrap();
        assert!(bad.is_none());
        std::mem::swap(m.params_mut(), &mut spare);
    };
    step(model, &x, 0);
    step(model, &partial, 1);
    let before = allocations_on_this_thread();
    for s in 0..5 {
        step(model, &x, 10 + s);
        step(model, &partial, 20 + s);
    }
    let during = allocations_on_this_thread() - before;
    assert_eq!(during, 0, "{what}: {during} allocations in 10 steps");
}

#[test]
fn autoencoder_steps_allocate_nothing_after_warm_up() {
    let configs = [
        AeConfig::new(&[30, 20, 10, 4], Activation::Sigmoid).with_activations(&[
            Activation::Sigmoid,
            Activation::Relu,
            Activation::Identity,
        ]),
        AeConfig::new(&[30, 12], Activation::Sigmoid)
            .with_tied(true)
            .with_loss(Loss::CrossEntropy)
            .with_sparsity(Sparsity::Kl {
                rho: 0.1,
                beta: 0.5,
            })
            .with_noise(Noise::Mask { nu: 0.3 }),
        AeConfig::new(&[30, 12], Activation::Tanh)
            .with_sparsity(Sparsity::L1 { lambda: 0.1 })
            .with_noise(Noise::SaltPepper {
                nu: 0.2,
                lo: 0.0,
                hi: 1.0,
            }),
        AeConfig::new(&[30, 16, 8], Activation::Sigmoid)
            .with_contractive(0.1)
            .with_noise(Noise::Gaussian { std: 0.1 }),
        AeConfig::new(&[30, 16, 8], Activation::Sigmoid)
            .with_loss(Loss::CrossEntropy)
            .with_code_noise(4.0, 3),
    ];
    for (cfg, precision) in configs.iter().flat_map(|c| Precision::ALL.map(|p| (c, p))) {
        let mut ae = Autoencoder::new(cfg.clone(), 1).unwrap();
        ae.set_precision(precision);
        assert_no_alloc(&format!("{precision} {cfg:?}"), &mut ae, |m, x, g, seed| {
            m.loss_and_gradient(x.view(), g, seed, Par::Seq).unwrap();
        });
    }
}

#[test]
fn vae_and_classifier_steps_allocate_nothing_after_warm_up() {
    for precision in Precision::ALL {
        for output in [VaeOutput::Bernoulli, VaeOutput::Gaussian] {
            let cfg = VaeConfig::new(30, &[16, 8], 3, Activation::Relu).with_output(output);
            let mut vae = Vae::new(cfg, 1).unwrap();
            vae.set_precision(precision);
            let what = format!("{precision} VAE {output:?}");
            assert_no_alloc(&what, &mut vae, |m, x, g, seed| {
                m.loss_and_gradient(x.view(), g, seed, Par::Seq).unwrap();
            });
        }
        let mut clf = Classifier::new(&[30, 16], &[Activation::Sigmoid], 5, 1).unwrap();
        clf.set_precision(precision);
        let labels: Vec<u32> = (0..64).map(|i| i % 5).collect();
        assert_no_alloc(
            &format!("{precision} classifier"),
            &mut clf,
            |m, x, g, _| {
                m.loss_and_gradient(x.view(), &labels[..x.rows()], g, Par::Seq)
                    .unwrap();
            },
        );
    }
}

/// Autoencoders of different shapes: deep with per-layer activations, one
/// layer tied with cross-entropy, and a narrower input.
fn autoencoders() -> Vec<Autoencoder> {
    let configs = [
        AeConfig::new(&[30, 20, 10, 4], Activation::Sigmoid).with_activations(&[
            Activation::Sigmoid,
            Activation::Relu,
            Activation::Identity,
        ]),
        AeConfig::new(&[30, 12], Activation::Sigmoid)
            .with_tied(true)
            .with_loss(Loss::CrossEntropy),
        AeConfig::new(&[11, 7, 5], Activation::Tanh),
    ];
    let mut models: Vec<Autoencoder> = (0..configs.len())
        .map(|i| Autoencoder::new(configs[i].clone(), i as u64).unwrap())
        .collect();
    for ae in &mut models {
        let x = data(40, ae.n_visible());
        ae.init_output_bias_from_data(&x, Par::Seq).unwrap();
    }
    models
}

/// VAEs of different shapes: Bernoulli with two hidden layers, Gaussian
/// with none, and a narrower input.
fn vaes() -> Vec<Vae> {
    let configs = [
        VaeConfig::new(30, &[16, 8], 3, Activation::Relu),
        VaeConfig::new(30, &[], 5, Activation::Tanh).with_output(VaeOutput::Gaussian),
        VaeConfig::new(11, &[6], 2, Activation::Sigmoid),
    ];
    (0..configs.len())
        .map(|i| Vae::new(configs[i].clone(), i as u64).unwrap())
        .collect()
}

/// The same outputs from the plain forms (a fresh scratch each call).
fn ae_plain_outputs(ae: &Autoencoder, x: &Matrix) -> Vec<u32> {
    let (rows, v, h) = (x.rows(), ae.n_visible(), ae.code_size());
    let mut outs = AeOuts::new();
    let code = MatMut::row_major(&mut outs.code[..rows * h], rows, h).unwrap();
    ae.encode(x.view(), code, Par::Seq).unwrap();
    let recon = MatMut::row_major(&mut outs.recon[..rows * v], rows, v).unwrap();
    ae.reconstruct(x.view(), recon, Par::Seq).unwrap();
    let mean = ae
        .reconstruction_errors(x.view(), &mut outs.errs[..rows], Par::Seq)
        .unwrap();
    let batched = ae.mean_reconstruction_error(x, 10, Par::Seq).unwrap();
    outs.record(&[rows * h, rows * v, rows], &[mean, batched]);
    outs.bits
}

/// Output buffers for the largest batch (64 rows of at most 30 columns) and
/// the bits of what was written.
struct AeOuts {
    code: Vec<f32>,
    recon: Vec<f32>,
    errs: Vec<f32>,
    bits: Vec<u32>,
}

impl AeOuts {
    fn new() -> Self {
        AeOuts {
            code: vec![0.0; 64 * 30],
            recon: vec![0.0; 64 * 30],
            errs: vec![0.0; 64],
            bits: Vec::with_capacity(64 * 64),
        }
    }

    /// The bits of the first `lens` elements of code, recon and errs and of
    /// the scalars, into `bits` (no allocation once it is large enough).
    fn record(&mut self, lens: &[usize], scalars: &[f64]) {
        self.bits.clear();
        for (buf, &n) in [&self.code, &self.recon, &self.errs].into_iter().zip(lens) {
            self.bits.extend(buf[..n].iter().map(|v| v.to_bits()));
        }
        for v in scalars {
            let b = v.to_bits();
            self.bits.extend([b as u32, (b >> 32) as u32]);
        }
    }
}

/// Output buffers of the VAE's inference: means, decoded, reconstructed,
/// sampled (64 rows of at most 30 columns), per-row ELBOs.
struct VaeOuts {
    mu: Vec<f32>,
    decoded: Vec<f32>,
    recon: Vec<f32>,
    samples: Vec<f32>,
    elbos: Vec<f32>,
}

impl VaeOuts {
    fn new() -> Self {
        VaeOuts {
            mu: vec![0.0; 64 * 30],
            decoded: vec![0.0; 64 * 30],
            recon: vec![0.0; 64 * 30],
            samples: vec![0.0; 64 * 30],
            elbos: vec![0.0; 64],
        }
    }

    fn bits(&self, rows: usize, v: usize, z: usize, scalars: &[f64]) -> Vec<u32> {
        let mut bits: Vec<u32> = [
            &self.mu[..rows * z],
            &self.decoded[..rows * v],
            &self.recon[..rows * v],
            &self.samples[..rows * v],
            &self.elbos[..rows],
        ]
        .iter()
        .flat_map(|b| b.iter().map(|v| v.to_bits()))
        .collect();
        for v in scalars {
            let b = v.to_bits();
            bits.extend([b as u32, (b >> 32) as u32]);
        }
        bits
    }
}

/// Every `_with` form of `vae` on `x` into `o`; returns the scalars (ELBO,
/// per-row ELBO mean, importance-weighted bound).
fn vae_run(vae: &Vae, x: &Matrix, s: &mut VaeScratch, o: &mut VaeOuts) -> [f64; 3] {
    let (rows, v, z) = (x.rows(), x.cols(), vae.latent());
    let mu = MatMut::row_major(&mut o.mu[..rows * z], rows, z).unwrap();
    vae.encode_with(x.view(), mu, s, Par::Seq).unwrap();
    let codes = MatRef::row_major(&o.mu[..rows * z], rows, z).unwrap();
    let decoded = MatMut::row_major(&mut o.decoded[..rows * v], rows, v).unwrap();
    vae.decode_with(codes, decoded, s, Par::Seq).unwrap();
    let recon = MatMut::row_major(&mut o.recon[..rows * v], rows, v).unwrap();
    vae.reconstruct_with(x.view(), recon, s, Par::Seq).unwrap();
    let samples = MatMut::row_major(&mut o.samples[..rows * v], rows, v).unwrap();
    vae.sample_with(rows, 4, samples, s, Par::Seq).unwrap();
    let elbo = vae.elbo_with(x, 10, 5, s, Par::Seq).unwrap();
    let elbos = &mut o.elbos[..rows];
    let mean = vae.elbo_rows_with(x, 10, 5, elbos, s, Par::Seq).unwrap();
    let iw = vae
        .log_likelihood_iw_with(x, 3, 10, 6, s, Par::Seq)
        .unwrap();
    [elbo, mean, iw]
}

/// The same from the plain forms, as bits.
fn vae_plain_bits(vae: &Vae, x: &Matrix) -> Vec<u32> {
    let (rows, v, z) = (x.rows(), x.cols(), vae.latent());
    let mut o = VaeOuts::new();
    let mu = MatMut::row_major(&mut o.mu[..rows * z], rows, z).unwrap();
    vae.encode(x.view(), mu, Par::Seq).unwrap();
    let codes = MatRef::row_major(&o.mu[..rows * z], rows, z).unwrap();
    let decoded = MatMut::row_major(&mut o.decoded[..rows * v], rows, v).unwrap();
    vae.decode(codes, decoded, Par::Seq).unwrap();
    let recon = MatMut::row_major(&mut o.recon[..rows * v], rows, v).unwrap();
    vae.reconstruct(x.view(), recon, Par::Seq).unwrap();
    let samples = vae.sample(rows, 4, Par::Seq).unwrap();
    o.samples[..rows * v].copy_from_slice(samples.as_slice());
    let elbo = vae.elbo(x, 10, 5, Par::Seq).unwrap();
    let mean = vae
        .elbo_rows(x, 10, 5, &mut o.elbos[..rows], Par::Seq)
        .unwrap();
    let iw = vae.log_likelihood_iw(x, 3, 10, 6, Par::Seq).unwrap();
    o.bits(rows, v, z, &[elbo, mean, iw])
}

#[test]
fn inference_with_a_warm_scratch_allocates_nothing() {
    // One scratch serves three autoencoders (and one three VAEs) of
    // different shapes, at 64 and 23 rows; the second of each in bf16.
    let mut aes = autoencoders();
    let mut vaes = vaes();
    aes[1].set_precision(Precision::Bf16);
    vaes[1].set_precision(Precision::Bf16);
    let inputs = |v: usize| [data(64, v), data(23, v)];
    let ae_inputs: Vec<_> = aes.iter().map(|m| inputs(m.n_visible())).collect();
    let vae_inputs: Vec<_> = vaes.iter().map(|m| inputs(m.config().sizes[0])).collect();
    let (mut ae_scratch, mut vae_scratch) = (AeScratch::new(), VaeScratch::new());
    let (mut ae_outs, mut vae_outs) = (AeOuts::new(), VaeOuts::new());
    let mut run = |ae_outs: &mut AeOuts, vae_outs: &mut VaeOuts| {
        for (ae, xs) in aes.iter().zip(&ae_inputs) {
            for x in xs {
                ae_fill(ae, x, &mut ae_scratch, ae_outs);
            }
        }
        for (vae, xs) in vaes.iter().zip(&vae_inputs) {
            for x in xs {
                vae_run(vae, x, &mut vae_scratch, vae_outs);
            }
        }
    };
    run(&mut ae_outs, &mut vae_outs);
    let before = allocations_on_this_thread();
    for _ in 0..3 {
        run(&mut ae_outs, &mut vae_outs);
    }
    let during = allocations_on_this_thread() - before;
    assert_eq!(during, 0, "{during} allocations in warm inference calls");
}

/// Every inference `_with` form of `ae` on `x` into `outs`, the bits of
/// what they wrote into `outs.bits`.
fn ae_fill(ae: &Autoencoder, x: &Matrix, s: &mut AeScratch, outs: &mut AeOuts) {
    let (rows, v, h) = (x.rows(), ae.n_visible(), ae.code_size());
    let code = MatMut::row_major(&mut outs.code[..rows * h], rows, h).unwrap();
    ae.encode_with(x.view(), code, s, Par::Seq).unwrap();
    let recon = MatMut::row_major(&mut outs.recon[..rows * v], rows, v).unwrap();
    ae.reconstruct_with(x.view(), recon, s, Par::Seq).unwrap();
    let errs = &mut outs.errs[..rows];
    let mean = ae
        .reconstruction_errors_with(x.view(), errs, s, Par::Seq)
        .unwrap();
    let batched = ae
        .mean_reconstruction_error_with(x, 10, s, Par::Seq)
        .unwrap();
    outs.record(&[rows * h, rows * v, rows], &[mean, batched]);
}

#[test]
fn a_scratch_shared_by_models_of_different_shapes_gives_the_plain_forms_bits() {
    let aes = autoencoders();
    let mut scratch = AeScratch::new();
    let mut outs = AeOuts::new();
    // The narrowest model first, then wider and deeper ones, and back; 64
    // rows, then fewer, then more again: the scratch must grow every level
    // a model needs, and what another model or batch left must not matter.
    for rows in [64, 23, 64, 5] {
        for ae in aes.iter().rev().chain(&aes) {
            let x = data(rows, ae.n_visible());
            ae_fill(ae, &x, &mut scratch, &mut outs);
            assert_eq!(
                outs.bits,
                ae_plain_outputs(ae, &x),
                "{:?}, {rows} rows",
                ae.config()
            );
        }
    }
    let vaes = vaes();
    let mut scratch = VaeScratch::new();
    let mut outs = VaeOuts::new();
    for rows in [64, 23, 64, 5] {
        for vae in vaes.iter().rev().chain(&vaes) {
            let x = data(rows, vae.config().sizes[0]);
            let scalars = vae_run(vae, &x, &mut scratch, &mut outs);
            let got = outs.bits(rows, x.cols(), vae.latent(), &scalars);
            assert_eq!(
                got,
                vae_plain_bits(vae, &x),
                "{:?}, {rows} rows",
                vae.config()
            );
        }
    }
}

/// `f` writing into a row-major and a column-major `rows x cols` view gives
/// the same matrix.
fn same_in_both_layouts(what: &str, rows: usize, cols: usize, mut f: impl FnMut(MatMut<'_>)) {
    let mut row_major = vec![0.0f32; rows * cols];
    let mut col_major = vec![f32::NAN; rows * cols];
    f(MatMut::row_major(&mut row_major, rows, cols).unwrap());
    f(MatMut::col_major(&mut col_major, rows, cols).unwrap());
    for i in 0..rows {
        for j in 0..cols {
            let (a, b) = (row_major[i * cols + j], col_major[j * rows + i]);
            assert_eq!(a.to_bits(), b.to_bits(), "{what}: ({i}, {j})");
        }
    }
}

#[test]
fn outputs_of_any_layout_get_the_same_values() {
    let x = data(23, 30);
    for ae in autoencoders().iter().filter(|m| m.n_visible() == 30) {
        let (v, h) = (ae.n_visible(), ae.code_size());
        same_in_both_layouts("Autoencoder::encode", 23, h, |out| {
            ae.encode(x.view(), out, Par::Seq).unwrap()
        });
        same_in_both_layouts("Autoencoder::reconstruct", 23, v, |out| {
            ae.reconstruct(x.view(), out, Par::Seq).unwrap()
        });
    }
    for vae in vaes().iter().filter(|m| m.config().sizes[0] == 30) {
        let z = vae.latent();
        same_in_both_layouts("Vae::encode", 23, z, |out| {
            vae.encode(x.view(), out, Par::Seq).unwrap()
        });
        let codes = data(23, z);
        same_in_both_layouts("Vae::decode", 23, 30, |out| {
            vae.decode(codes.view(), out, Par::Seq).unwrap()
        });
        same_in_both_layouts("Vae::reconstruct", 23, 30, |out| {
            vae.reconstruct(x.view(), out, Par::Seq).unwrap()
        });
        let mut s = VaeScratch::new();
        same_in_both_layouts("Vae::sample_with", 23, 30, |out| {
            vae.sample_with(23, 9, out, &mut s, Par::Seq).unwrap()
        });
    }
}

/// Asserts that `result` is an error whose message names `what`.
fn assert_shape_error<T: std::fmt::Debug>(what: &str, result: latent_models::Result<T>) {
    let e = result.expect_err(what).to_string();
    assert!(e.contains(what), "{what}: {e}");
}

#[test]
fn outputs_of_the_wrong_shape_are_errors() {
    let x = data(8, 30);
    let ae = &autoencoders()[0];
    let (v, h) = (ae.n_visible(), ae.code_size());
    for (rows, cols) in [(7, h), (9, h), (8, h + 1)] {
        let mut out = Matrix::zeros(rows, cols).unwrap();
        assert_shape_error(
            "Autoencoder::encode",
            ae.encode(x.view(), out.view_mut(), Par::Seq),
        );
    }
    for (rows, cols) in [(7, v), (8, v - 1)] {
        let mut out = Matrix::zeros(rows, cols).unwrap();
        let r = ae.reconstruct(x.view(), out.view_mut(), Par::Seq);
        assert_shape_error("Autoencoder::reconstruct", r);
    }
    let mut errs = vec![0.0; 7];
    let r = ae.reconstruction_errors(x.view(), &mut errs, Par::Seq);
    assert_shape_error("Autoencoder::reconstruction_errors", r);

    let vae = &vaes()[0];
    let z = vae.latent();
    let mut out = Matrix::zeros(8, z + 1).unwrap();
    assert_shape_error(
        "Vae::encode",
        vae.encode(x.view(), out.view_mut(), Par::Seq),
    );
    let codes = data(8, z);
    for (rows, cols) in [(7, 30), (8, 31)] {
        let mut out = Matrix::zeros(rows, cols).unwrap();
        let r = vae.decode(codes.view(), out.view_mut(), Par::Seq);
        assert_shape_error("Vae::decode", r);
        let r = vae.reconstruct(x.view(), out.view_mut(), Par::Seq);
        assert_shape_error("Vae::reconstruct", r);
        let r = vae.sample_with(8, 1, out.view_mut(), &mut VaeScratch::new(), Par::Seq);
        assert_shape_error("Vae::sample", r);
    }
    let mut elbos = vec![0.0; 9];
    assert_shape_error(
        "Vae::elbo_rows",
        vae.elbo_rows(&x, 4, 1, &mut elbos, Par::Seq),
    );
}
