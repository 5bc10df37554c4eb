//! The library in a few lines: train a Bernoulli RBM on MNIST with the
//! engine's `Trainer`, then use it (features, reconstruction error, free
//! energy, pseudo-log-likelihood on held-out images, samples).
//!
//! ```sh
//! cargo run --release --example rbm_mnist
//! ```
//!
//! Reads the MNIST test split from `../shared/data/mnist` (or
//! `$LATENT_MNIST_DIR`): the first 8,000 images train, the last 2,000 test.

use latent::engine::data::mnist;
use latent::engine::preprocess::scale_to_unit;
use latent::engine::train::{Silent, TrainConfig, Trainer};
use latent::engine::{Matrix, Par};
use latent::models::eval::{RbmParams, pseudo_log_likelihood};
use latent::models::rbm::{Rbm, RbmConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Data: pixels scaled to [0, 1], split 8,000 / 2,000.
    let mut data = mnist::load_test_split(mnist::default_mnist_dir())?;
    scale_to_unit(&mut data.x, 0.0, 255.0)?;
    let (train, test) = data.split_at(mnist::TRAIN_TEST_SPLIT)?;

    // A 784-128 RBM with CD-1 and Hinton's defaults (lr 0.1, momentum
    // 0.5 then 0.9, weight decay 1e-4); visible biases from the pixel means.
    let config = RbmConfig::bernoulli(mnist::PIXELS, 128);
    let mut rbm = Rbm::new(config, 42)?;
    rbm.init_visible_bias_from_data(&train.x, Par::All)?;
    let mut tc = TrainConfig::new(config.default_optimizer());
    tc.epochs = 5;
    tc.batch_size = 100;
    tc.seed = 42;
    let mut trainer = Trainer::new(rbm, tc)?;
    let summary = trainer.fit(&train, Some(&test), &mut Silent)?;
    for h in trainer.history() {
        println!(
            "epoch {}: reconstruction error {:.2} (train), {:.2} (test), {:.2} s",
            h.epoch + 1,
            h.train_loss,
            h.valid_metric.unwrap_or(f64::NAN),
            h.seconds
        );
    }
    println!("stopped: {:?}", summary.stop);
    let rbm = trainer.into_model();

    // Features: p(h|v) for the test images, one fused GEMM + sigmoid.
    let mut features = Matrix::zeros(test.len(), 128)?;
    rbm.transform(test.x.view(), features.view_mut(), Par::All)?;
    let active =
        features.as_slice().iter().filter(|&&p| p > 0.5).count() as f64 / features.len() as f64;
    println!(
        "test features: {} x {}, {:.1}% above 0.5",
        features.rows(),
        features.cols(),
        100.0 * active
    );

    // Free energy (anomaly score) and pseudo-log-likelihood of test images.
    let mut f = vec![0.0f32; test.len()];
    rbm.free_energy(test.x.view(), &mut f, Par::All)?;
    let params = RbmParams::bernoulli(
        rbm.weights().as_slice(),
        rbm.visible_bias(),
        rbm.hidden_bias(),
    );
    let mut pll = vec![0.0f32; test.len()];
    pseudo_log_likelihood(&params, test.x.as_slice(), 0, &mut pll, Par::All)?;
    let mean = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
    println!(
        "test: mean free energy {:.2}, pseudo-log-likelihood {:.2}",
        mean(&f),
        mean(&pll)
    );

    // Samples: 16 Gibbs chains of 1000 steps from random states.
    let samples = rbm.sample(16, 1000, 7, Par::All)?;
    println!(
        "drew {} samples of {} pixels",
        samples.rows(),
        samples.cols()
    );
    Ok(())
}
