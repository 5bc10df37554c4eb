//! MNIST: the shared copy of the official test split.
//!
//! Only the 10,000-image test split is available on these machines (see
//! `shared/data/mnist/README.md`); where a workload needs a train/test
//! split, use the first 8,000 images to train and the last 2,000 to test
//! ([`TRAIN_TEST_SPLIT`]).

use std::path::{Path, PathBuf};

use crate::data::{Dataset, idx};
use crate::error::{EngineError, Result};

/// The image file of the test split.
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte.gz";
/// The label file of the test split.
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte.gz";
/// Pixels per image (28 x 28).
pub const PIXELS: usize = 784;
/// The project's convention: the first 8,000 test images train, the last
/// 2,000 test.
pub const TRAIN_TEST_SPLIT: usize = 8_000;

/// Where the data is expected: `$LATENT_MNIST_DIR` when set, otherwise
/// `../shared/data/mnist` relative to the workspace root.
pub fn default_mnist_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("LATENT_MNIST_DIR") {
        return PathBuf::from(d);
    }
    let engine = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = engine.parent().unwrap_or(engine);
    root.join("..").join("shared").join("data").join("mnist")
}

fn find(dir: &Path, gz: &str) -> Option<PathBuf> {
    let p = dir.join(gz);
    if p.is_file() {
        return Some(p);
    }
    let plain = dir.join(gz.trim_end_matches(".gz"));
    plain.is_file().then_some(plain)
}

/// Whether the test split's files are in `dir` (gzip or not).
pub fn is_available(dir: &Path) -> bool {
    find(dir, TEST_IMAGES).is_some() && find(dir, TEST_LABELS).is_some()
}

/// Loads the 10,000-image test split from `dir`: `10000 x 784` pixels as
/// `f32` in `0..=255` (unscaled) and the labels 0-9.
pub fn load_test_split(dir: impl AsRef<Path>) -> Result<Dataset> {
    let dir = dir.as_ref();
    let missing = |name: &str| {
        EngineError::io(
            &dir.join(name),
            "open",
            std::io::Error::new(std::io::ErrorKind::NotFound, "MNIST file not found"),
        )
    };
    let images = find(dir, TEST_IMAGES).ok_or_else(|| missing(TEST_IMAGES))?;
    let labels = find(dir, TEST_LABELS).ok_or_else(|| missing(TEST_LABELS))?;
    let ds = idx::read_dataset(&images, Some(&labels))?;
    if ds.features() != PIXELS {
        return Err(EngineError::SizeMismatch {
            what: format!("{}: pixels per image", images.display()),
            expected: PIXELS as u64,
            found: ds.features() as u64,
        });
    }
    if let Some((i, &l)) = ds
        .labels
        .iter()
        .flatten()
        .enumerate()
        .find(|(_, l)| **l > 9)
    {
        return Err(EngineError::InvalidArgument {
            what: "MNIST label",
            value: format!("{l} (sample {i})"),
            expected: "a digit 0-9",
        });
    }
    Ok(ds)
}
