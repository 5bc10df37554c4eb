//! The real data of the long tests: the MNIST test split, found through
//! `latent_engine::data::mnist::default_mnist_dir` (`LATENT_MNIST_DIR`, or
//! `../shared/data/mnist` next to the repository), or a `SKIP:` line.

use latent_engine::Dataset;
use latent_engine::data::mnist;

/// The 10,000-image MNIST test split, pixels unscaled (`0..=255`); `None`
/// after printing a `SKIP:` line when the files are absent.
pub fn test_split_or_skip() -> Option<Dataset> {
    let dir = mnist::default_mnist_dir();
    if !mnist::is_available(&dir) {
        eprintln!(
            "SKIP: MNIST not found in {} (set LATENT_MNIST_DIR); this test needs the real data",
            dir.display()
        );
        return None;
    }
    Some(mnist::load_test_split(&dir).unwrap())
}
