//! After warm-up, an RBM training step (CD-k or PCD-k gradient plus the
//! optimiser's fused update) allocates nothing, on one thread.

use latent::engine::train::Model;
use latent::engine::{Matrix, Optimizer};
use latent::kernels::Par;
use latent::kernels::alloc_count::{CountingAllocator, allocations_on_this_thread};
use latent::models::rbm::{Rbm, RbmConfig, VisibleUnits};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn rbm_steps_allocate_nothing_after_warm_up() {
    let x = Matrix::from_fn(100, 64, |i, j| ((i * 7 + j * 3) % 5 == 0) as u8 as f32).unwrap();
    let partial = Matrix::from_fn(37, 64, |i, j| ((i + j) % 3 == 0) as u8 as f32).unwrap();
    for (visible, persistent, k) in [
        (VisibleUnits::Bernoulli, false, 1),
        (VisibleUnits::Bernoulli, true, 3),
        (VisibleUnits::Gaussian, false, 2),
    ] {
        let config = RbmConfig {
            visible,
            persistent,
            cd_k: k,
            ..RbmConfig::bernoulli(64, 200)
        };
        let mut rbm = Rbm::new(config, 1).unwrap();
        let mut grads = rbm.params().zeros_like().unwrap();
        let mut spare = rbm.params().clone();
        let mut opt = Optimizer::new(config.default_optimizer(), rbm.params()).unwrap();
        let mut step = |rbm: &mut Rbm, batch: &Matrix, seed: u64| {
            rbm.cd_gradient(batch.view(), &mut grads, seed, Par::Seq)
                .unwrap();
            let bad = opt.step_into(rbm.params(), &grads, &mut spare, 0).unwrap();
            assert!(bad.is_none());
            std::mem::swap(rbm.params_mut(), &mut spare);
        };
        // Warm-up: the largest batch sizes the buffers, the partial batch
        // reuses them.
        step(&mut rbm, &x, 0);
        step(&mut rbm, &partial, 1);
        let before = allocations_on_this_thread();
        for s in 0..5 {
            step(&mut rbm, &x, 10 + s);
            step(&mut rbm, &partial, 20 + s);
        }
        let during = allocations_on_this_thread() - before;
        assert_eq!(
            during, 0,
            "{visible:?} persistent={persistent} k={k}: {during} allocations in 10 steps"
        );
    }
}

/// Records the allocation count at every batch (with room reserved, so
/// recording does not allocate).
struct Counter {
    marks: Vec<(usize, usize)>,
}

impl latent::engine::Observer for Counter {
    fn on_batch(&mut self, p: &latent::engine::BatchProgress<'_>) -> latent::engine::Control {
        self.marks.push((p.epoch, allocations_on_this_thread()));
        latent::engine::Control::Continue
    }
}

#[test]
fn trainer_steps_with_the_fused_weight_update_allocate_nothing() {
    use latent::engine::train::{Threads, TrainConfig, Trainer};
    let x = Matrix::from_fn(730, 64, |i, j| ((i * 7 + j * 3) % 5 == 0) as u8 as f32).unwrap();
    let data = latent::engine::Dataset::new(x, None).unwrap();
    for fuse in [true, false] {
        let config = RbmConfig {
            sparsity: Some(latent::models::rbm::Sparsity {
                target: 0.1,
                cost: 0.01,
                decay: 0.9,
            }),
            ..RbmConfig::bernoulli(64, 200)
        };
        let mut tc = TrainConfig::new(config.default_optimizer());
        tc.epochs = 2;
        tc.threads = Threads::Count(1);
        tc.fuse_updates = fuse;
        let mut trainer = Trainer::new(Rbm::new(config, 1).unwrap(), tc).unwrap();
        let mut counter = Counter {
            marks: Vec::with_capacity(100),
        };
        trainer.fit(&data, None, &mut counter).unwrap();
        // 8 batches per epoch (the last one partial); steps after the first
        // within each epoch must not allocate.
        assert_eq!(counter.marks.len(), 16);
        for w in counter.marks.windows(2) {
            let ((e0, a0), (e1, a1)) = (w[0], w[1]);
            if e0 == e1 {
                assert_eq!(a1 - a0, 0, "fuse={fuse}: a step of epoch {e1} allocated");
            }
        }
    }
}
