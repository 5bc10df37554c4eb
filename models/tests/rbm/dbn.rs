//! Deep belief nets: greedy stacking, the up-pass, generation, shape checks,
//! and a short run on MNIST.

use latent_testkit as common;

use common::TestRng;
use latent_engine::data::mnist;
use latent_engine::train::{Silent, Threads, TrainConfig};
use latent_engine::{Dataset, LrSchedule, Matrix};
use latent_kernels::Par;
use latent_models::ModelError;
use latent_models::dbn::{Dbn, Propagate};
use latent_models::rbm::{Rbm, RbmConfig, VisibleUnits};

fn config(epochs: usize, lr: f32, rbm: &RbmConfig) -> TrainConfig {
    let mut opt = rbm.default_optimizer();
    opt.lr = LrSchedule::constant(lr);
    let mut c = TrainConfig::new(opt);
    c.epochs = epochs;
    c.batch_size = 50;
    c.seed = 3;
    c.threads = Threads::Count(2);
    c
}

/// Noisy copies of four 16-pixel prototypes.
fn prototypes(n: usize, seed: u64) -> Matrix {
    let protos: [u16; 4] = [0x00FF, 0xFF00, 0x0F0F, 0xF0F0];
    let mut rng = TestRng::new(seed);
    Matrix::from_fn(n, 16, |i, j| {
        let bit = (protos[i % 4] >> j) & 1 == 1;
        let flip = rng.uniform(0.0, 1.0) < 0.05;
        if bit != flip { 1.0 } else { 0.0 }
    })
    .unwrap()
}

#[test]
fn greedy_pretraining_feeds_each_layer_the_probabilities_below() {
    let x = prototypes(800, 1);
    let data = Dataset::new(x.clone(), None).unwrap();
    let mut dbn = Dbn::new(&[16, 12, 8], VisibleUnits::Bernoulli, 5).unwrap();
    let summaries = dbn
        .pretrain(
            &data,
            |_, rbm| config(30, 0.1, rbm),
            Propagate::Probabilities,
            &mut Silent,
        )
        .unwrap();
    assert_eq!(summaries.len(), 2);
    let h1 = dbn.transform_to(&x, 1, Par::Seq).unwrap();
    // Each trained layer reconstructs its own input far better than a
    // fresh RBM of the same shape (visible biases set from that input).
    for (l, input) in [&x, &h1].into_iter().enumerate() {
        let mut fresh = Rbm::new(*dbn.layers()[l].config(), 77).unwrap();
        fresh.init_visible_bias_from_data(input, Par::Seq).unwrap();
        let before = fresh.reconstruction_error(input, 1, Par::Seq).unwrap();
        let after = dbn.layers()[l]
            .reconstruction_error(input, 1, Par::Seq)
            .unwrap();
        assert!(
            after < 0.6 * before,
            "layer {l}: reconstruction error {before} (fresh) vs {after} (trained)"
        );
    }
    // The up-pass is layer 2's transform of layer 1's probabilities.
    let top = dbn.transform(&x, Par::Seq).unwrap();
    let mut want = Matrix::zeros(800, 8).unwrap();
    dbn.layers()[1]
        .transform(h1.view(), want.view_mut(), Par::Seq)
        .unwrap();
    assert_eq!(top.as_slice(), want.as_slice());
    assert_eq!(dbn.sizes(), vec![16, 12, 8]);
}

#[test]
fn generation_reproduces_the_prototypes() {
    let x = prototypes(800, 2);
    let data = Dataset::new(x, None).unwrap();
    let mut dbn = Dbn::new(&[16, 24, 16], VisibleUnits::Bernoulli, 9).unwrap();
    dbn.pretrain(
        &data,
        |_, rbm| config(40, 0.1, rbm),
        Propagate::Samples { seed: 4 },
        &mut Silent,
    )
    .unwrap();
    let samples = dbn.generate(200, 100, 11, Par::Seq).unwrap();
    assert_eq!((samples.rows(), samples.cols()), (200, 16));
    // Most generated images are close (in Hamming distance of the rounded
    // means) to one of the prototypes.
    let protos: [u16; 4] = [0x00FF, 0xFF00, 0x0F0F, 0xF0F0];
    let close = (0..200)
        .filter(|&r| {
            let s = samples.row(r);
            protos.iter().any(|p| {
                (0..16)
                    .filter(|&j| (((p >> j) & 1) as f32 - s[j].round()).abs() > 0.5)
                    .count()
                    <= 2
            })
        })
        .count();
    assert!(
        close >= 140,
        "only {close} of 200 generated images are near a prototype"
    );
}

#[test]
fn mismatched_layers_are_typed_errors() {
    let a = Rbm::new(RbmConfig::bernoulli(10, 6), 0).unwrap();
    let b = Rbm::new(RbmConfig::bernoulli(5, 3), 0).unwrap();
    assert!(matches!(
        Dbn::from_rbms(vec![a, b]),
        Err(ModelError::Shape {
            expected: 6,
            found: 5,
            ..
        })
    ));
    let a = Rbm::new(RbmConfig::bernoulli(10, 6), 0).unwrap();
    let g = Rbm::new(RbmConfig::gaussian(6, 3), 0).unwrap();
    assert!(matches!(
        Dbn::from_rbms(vec![a, g]),
        Err(ModelError::InvalidConfig { .. })
    ));
    assert!(Dbn::new(&[10], VisibleUnits::Bernoulli, 0).is_err());
    let dbn = Dbn::new(&[10, 4], VisibleUnits::Gaussian, 0).unwrap();
    let wrong = Dataset::new(Matrix::zeros(3, 9).unwrap(), None).unwrap();
    let mut dbn = dbn;
    assert!(matches!(
        dbn.pretrain(
            &wrong,
            |_, r| config(1, 0.01, r),
            Propagate::Probabilities,
            &mut Silent
        ),
        Err(ModelError::Shape {
            expected: 10,
            found: 9,
            ..
        })
    ));
    assert!(
        dbn.transform_to(&Matrix::zeros(2, 10).unwrap(), 2, Par::Seq)
            .is_err()
    );
}

#[test]
fn mnist_two_layer_dbn_features() {
    let Some(mut ds) = common::mnist::test_split_or_skip() else {
        return;
    };
    latent_engine::preprocess::scale_to_unit(&mut ds.x, 0.0, 255.0).unwrap();
    latent_engine::preprocess::binarise_threshold(&mut ds.x, 0.5).unwrap();
    let (train, test) = ds.split_at(mnist::TRAIN_TEST_SPLIT).unwrap();
    let mut dbn = Dbn::new(&[784, 256, 64], VisibleUnits::Bernoulli, 1).unwrap();
    dbn.pretrain(
        &train,
        |_, rbm| config(2, 0.1, rbm),
        Propagate::Probabilities,
        &mut Silent,
    )
    .unwrap();
    let f = dbn.transform(&test.x, Par::All).unwrap();
    assert_eq!((f.rows(), f.cols()), (2000, 64));
    let err = dbn.layers()[0]
        .reconstruction_error(&test.x, 1, Par::All)
        .unwrap();
    eprintln!(
        "MNIST DBN 784-256-64, 2 epochs per layer: bottom-layer test reconstruction error {err:.2}"
    );
    assert!(err < 40.0, "bottom-layer reconstruction error {err:.2}");
    let samples = dbn.generate(16, 50, 3, Par::All).unwrap();
    assert!(samples.as_slice().iter().all(|v| (0.0..=1.0).contains(v)));
}
