//! The autoencoder family: behaviour (`dense`), MNIST runs (`mnist`) and
//! gradient checks against f64 references (`gradients`). One test binary.

use latent_engine::OptimizerConfig;
use latent_engine::train::{Threads, TrainConfig};

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
