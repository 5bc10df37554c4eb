//! After warm-up, an autoencoder training step (gradient plus the
//! optimiser's update) allocates nothing, on one thread, for every variant:
//! deep, tied, sparse, denoising, contractive (first and deeper layers),
//! the VAE and the softmax classifier.

use latent::engine::train::Model;
use latent::engine::{Matrix, Optimizer, OptimizerConfig, ParamSet};
use latent::kernels::{Activation, Par};
use latent::models::ae::{
    AeConfig, Autoencoder, Classifier, Loss, Noise, Sparsity, Vae, VaeConfig, VaeOutput,
};
use latent_testkit::alloc_count::{CountingAllocator, allocations_on_this_thread};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

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
    ];
    for cfg in configs {
        let mut ae = Autoencoder::new(cfg.clone(), 1).unwrap();
        assert_no_alloc(&format!("{cfg:?}"), &mut ae, |m, x, g, seed| {
            m.loss_and_gradient(x.view(), g, seed, Par::Seq).unwrap();
        });
    }
}

#[test]
fn vae_and_classifier_steps_allocate_nothing_after_warm_up() {
    for output in [VaeOutput::Bernoulli, VaeOutput::Gaussian] {
        let cfg = VaeConfig::new(30, &[16, 8], 3, Activation::Relu).with_output(output);
        let mut vae = Vae::new(cfg, 1).unwrap();
        assert_no_alloc(&format!("VAE {output:?}"), &mut vae, |m, x, g, seed| {
            m.loss_and_gradient(x.view(), g, seed, Par::Seq).unwrap();
        });
    }
    let mut clf = Classifier::new(&[30, 16], &[Activation::Sigmoid], 5, 1).unwrap();
    let labels: Vec<u32> = (0..64).map(|i| i % 5).collect();
    assert_no_alloc("classifier", &mut clf, |m, x, g, _| {
        m.loss_and_gradient(x.view(), &labels[..x.rows()], g, Par::Seq)
            .unwrap();
    });
}
