//! The autoencoder family: behaviour (`dense`), MNIST runs (`mnist`),
//! gradient checks against f64 references (`gradients`) and bf16 products
//! (`bf16`). One test binary.

use latent_engine::OptimizerConfig;
use latent_engine::train::{Threads, TrainConfig};

mod bf16;
mod dense;
mod gradients;
mod mnist;

/// Adam at `lr`, `epochs` epochs of minibatches of `batch` on `threads`.
fn train_config(epochs: usize, batch: usize, lr: f32, threads: Threads) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: batch,
        threads,
        ..TrainConfig::new(OptimizerConfig::adam(lr))
    }
}
