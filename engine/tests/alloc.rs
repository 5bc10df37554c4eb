//! After the first step, a training step allocates nothing. A counting
//! global allocator (this test binary only) counts every allocation made
//! by the current thread (so tests running in parallel do not disturb
//! each other); training runs on one thread and the observer reads the
//! count after each batch.

use latent_testkit::engine as common;

use latent_testkit::alloc_count::{CountingAllocator, allocations_on_this_thread};

use common::{LinReg, data};
use latent_engine::{
    BatchProgress, Control, EarlyStopping, Observer, OptimizerConfig, Threads, TrainConfig, Trainer,
};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocs() -> usize {
    allocations_on_this_thread()
}

/// Records the allocation count at every batch.
struct Counter {
    /// (epoch, batch, allocations so far)
    marks: Vec<(usize, usize, usize)>,
}

impl Observer for Counter {
    fn on_batch(&mut self, p: &BatchProgress<'_>) -> Control {
        let n = allocs();
        // `marks` has room reserved up front: pushing does not allocate.
        self.marks.push((p.epoch, p.batch, n));
        Control::Continue
    }
}

#[test]
fn a_training_step_allocates_nothing_after_the_first() {
    // 1000 samples in batches of 128: 7 full batches and a partial one.
    let train = data(1000, 4);
    let valid = data(200, 6);
    for opt in [
        OptimizerConfig::sgd_hinton(0.01, 1e-4),
        OptimizerConfig::adam(1e-3),
    ] {
        let config = TrainConfig {
            epochs: 3,
            batch_size: 128,
            threads: Threads::Count(1),
            early_stopping: Some(EarlyStopping {
                patience: 5,
                min_delta: 0.0,
                restore_best: true,
            }),
            ..TrainConfig::new(opt)
        };
        let mut trainer = Trainer::new(LinReg::new(1), config).unwrap();
        let mut obs = Counter {
            marks: Vec::with_capacity(1000),
        };
        trainer.fit(&train, Some(&valid), &mut obs).unwrap();
        assert_eq!(obs.marks.len(), 24);
        // Steps between consecutive batches of one epoch, after the first
        // step of the run.
        let mut checked = 0;
        for w in obs.marks.windows(2) {
            let ((e0, _, a0), (e1, b1, a1)) = (w[0], w[1]);
            if e0 == e1 {
                assert_eq!(
                    a1 - a0,
                    0,
                    "{:?}: epoch {e1}, batch {b1} allocated",
                    opt.kind
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 21);
    }
}

#[test]
fn the_counter_sees_allocations() {
    let before = allocs();
    let v = std::hint::black_box(vec![1u8; 100]);
    assert!(allocs() > before);
    drop(v);
}

#[test]
fn a_step_from_rows_read_from_a_file_allocates_nothing_after_the_first() {
    // The rows read from an NPY file as each batch needs them: the
    // gather's buffers grow in the first step, then are reused.
    use latent_engine::data::npy;
    use latent_engine::data::rows::{FileRows, RowFormat, TrainRows};
    let train = data(1000, 4);
    let dir = common::temp_path("alloc-rows");
    let path = dir.join("train.npy");
    npy::write_matrix(&path, &train.x).unwrap();
    let file = FileRows::open(&path, RowFormat::Npy).unwrap();
    let config = TrainConfig {
        epochs: 3,
        batch_size: 128,
        threads: Threads::Count(1),
        ..TrainConfig::new(OptimizerConfig::sgd_hinton(0.01, 1e-4))
    };
    let mut trainer = Trainer::new(LinReg::new(1), config).unwrap();
    let mut obs = Counter {
        marks: Vec::with_capacity(1000),
    };
    let rows = TrainRows {
        x: &file,
        labels: None,
    };
    trainer.fit(rows, None, &mut obs).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(obs.marks.len(), 24);
    let mut checked = 0;
    for w in obs.marks.windows(2) {
        let ((e0, _, a0), (e1, b1, a1)) = (w[0], w[1]);
        if e0 == e1 {
            assert_eq!(a1 - a0, 0, "epoch {e1}, batch {b1} allocated");
            checked += 1;
        }
    }
    assert_eq!(checked, 21);
}
