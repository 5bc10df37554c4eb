//! Preprocessing on real data (the MNIST test split, when present) and the
//! saved standardisation statistics.

use latent_testkit::engine as common;

use latent_engine::data::mnist;
use latent_engine::preprocess::{
    Standardizer, binarise_stochastic, binarise_threshold, scale_to_unit,
};
use latent_engine::{EngineError, Matrix};

#[test]
fn standardizer_statistics_survive_a_file_round_trip() {
    let dir = common::temp_path("stdz");
    let x = Matrix::from_fn(30, 5, |i, j| (i as f32).powf(1.0 + j as f32 * 0.1)).unwrap();
    let s = Standardizer::fit(&x).unwrap();
    let path = dir.join("stats.npy");
    s.save(&path).unwrap();
    let back = Standardizer::load(&path).unwrap();
    assert_eq!(back, s);
    let (mut a, mut b) = (x.clone(), x.clone());
    s.transform(&mut a).unwrap();
    back.transform(&mut b).unwrap();
    assert_eq!(a, b, "the same transform at inference");
    // A file of the wrong shape, or with a zero std, is refused.
    latent_engine::data::npy::write_matrix(&path, &Matrix::zeros(3, 5).unwrap()).unwrap();
    assert!(matches!(
        Standardizer::load(&path),
        Err(EngineError::Shape { .. })
    ));
    latent_engine::data::npy::write_matrix(&path, &Matrix::zeros(2, 5).unwrap()).unwrap();
    assert!(matches!(
        Standardizer::load(&path),
        Err(EngineError::InvalidArgument { .. })
    ));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn mnist_preprocessing_pipeline() {
    let dir = mnist::default_mnist_dir();
    if !mnist::is_available(&dir) {
        println!("SKIPPED: MNIST not found in {}", dir.display());
        return;
    }
    let ds = mnist::load_test_split(&dir).unwrap();
    let (train, _) = ds.split_at(mnist::TRAIN_TEST_SPLIT).unwrap();
    let mut x = train.x;
    scale_to_unit(&mut x, 0.0, 255.0).unwrap();
    let mean = x.as_slice().iter().map(|&v| v as f64).sum::<f64>() / x.len() as f64;
    assert!((0.12..0.14).contains(&mean), "MNIST mean intensity {mean}");
    let mut t = x.clone();
    binarise_threshold(&mut t, 0.5).unwrap();
    let mut s = x.clone();
    binarise_stochastic(&mut s, 7).unwrap();
    let ones =
        |m: &Matrix| m.as_slice().iter().filter(|&&v| v == 1.0).count() as f64 / m.len() as f64;
    assert!(
        (ones(&s) - mean).abs() < 0.005,
        "stochastic binarisation keeps the mean"
    );
    assert!(ones(&t) > 0.05 && ones(&t) < mean + 0.05);
    let st = Standardizer::fit(&x).unwrap();
    st.transform(&mut x).unwrap();
    // Border pixels are constant (0) in MNIST: their std is stored as 1.
    assert_eq!(st.std[0], 1.0);
    assert!(x.first_non_finite().is_none());
}

/// The out-of-range message gives the range asked for, not placeholders.
#[test]
fn an_out_of_range_value_names_the_range() {
    let mut x = Matrix::from_fn(2, 3, |i, j| (i * 3 + j) as f32 * 60.0).unwrap();
    let e = scale_to_unit(&mut x, 0.0, 255.0).unwrap_err().to_string();
    assert!(
        e.contains("300") && e.contains("[0, 255]") && !e.contains("[lo, hi]"),
        "{e}"
    );
    assert_eq!(x.as_slice()[5], 300.0, "nothing changed");
}
