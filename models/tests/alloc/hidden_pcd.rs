//! After warm-up, scikit-learn's training (`HiddenPcd`) allocates nothing:
//! steps of any batch size up to the largest seen, with and without
//! momentum, and whole epochs, on one thread.

use latent_engine::Matrix;
use latent_kernels::Par;
use latent_kernels::random::Streams;
use latent_models::rbm::{FitPlan, HiddenPcd, HiddenPcdConfig, Rbm, RbmConfig};
use latent_testkit::alloc_count::allocations_on_this_thread;

#[test]
fn hidden_pcd_allocates_nothing_after_warm_up() {
    let x = Matrix::from_fn(95, 64, |i, j| ((i * 7 + j * 3) % 5 == 0) as u8 as f32).unwrap();
    for (cd_k, momentum) in [(1, 0.0), (2, 0.5)] {
        let mut rbm = Rbm::new(RbmConfig::bernoulli(64, 100), 1).unwrap();
        let config = HiddenPcdConfig {
            learning_rate: 0.1,
            cd_k,
            momentum,
        };
        let mut pcd = HiddenPcd::new(config, Matrix::zeros(10, 100).unwrap()).unwrap();
        let plan = |first_epoch| FitPlan {
            batch_size: 10,
            first_epoch,
            epochs: 1,
            seed: 3,
        };
        // Warm-up: one epoch (batches of 10, the last of 5).
        pcd.fit(&mut rbm, x.view(), plan(0), Par::Seq).unwrap();
        let before = allocations_on_this_thread();
        pcd.fit(&mut rbm, x.view(), plan(1), Par::Seq).unwrap();
        let head = x.view();
        let some = latent_kernels::gemm::MatRef::new(head.as_slice(), 7, 64, 64, 1).unwrap();
        pcd.step(&mut rbm, some, Streams::new(9), Par::Seq).unwrap();
        let during = allocations_on_this_thread() - before;
        assert_eq!(
            during, 0,
            "cd_k={cd_k} momentum={momentum}: {during} allocations"
        );
    }
}
