//! A model file written by `latent train`, used from Rust: load it (any
//! kind), apply the preprocessing its training data had, and encode data
//! with it through the one inference interface.
//!
//! ```sh
//! latent train rbm --data ../shared/data/mnist/t10k-images-idx3-ubyte.gz --hidden 64 --epochs 2 --out mnist.latent
//! cargo run --release --example encode_model -- mnist.latent ../shared/data/mnist/t10k-images-idx3-ubyte.gz features.npy
//! ```
//!
//! Without arguments it encodes the binary 4x4 images of
//! `models/tests/fixtures` with the RBM there (written by `latent train`).

use std::path::PathBuf;

use latent::engine::Par;
use latent::engine::data::{csv, idx, npy};
use latent::models::model::Inference;
use latent::models::persist;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/tests/fixtures");
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let model = args.next().unwrap_or(fixtures.join("rbm.latent"));
    let data = args.next().unwrap_or(fixtures.join("binary16.csv"));
    let out = args.next();

    let file = persist::load(&model)?;
    println!(
        "{}: {} model, layers {:?}, preprocessing {}",
        model.display(),
        file.kind.name(),
        file.model.sizes(),
        file.preprocess.describe()
    );
    let name = data.to_string_lossy();
    let mut x = if name.ends_with(".csv") {
        csv::read(&data, &csv::CsvOptions::default())?.dataset.x
    } else if name.ends_with(".npy") {
        npy::read_matrix(&data)?
    } else {
        idx::read_matrix(&data)?
    };
    file.preprocess.apply(&mut x, &data)?;
    let features = file.model.features(&x, Par::All)?;
    println!(
        "encoded {} samples into {} features; first row: {:.3?}",
        features.rows(),
        features.cols(),
        &features.row(0)[..features.cols().min(8)]
    );
    if let Some(out) = out {
        npy::write_matrix(&out, &features)?;
        println!("wrote {}", out.display());
    }
    Ok(())
}
