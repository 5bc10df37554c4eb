//! After warm-up, a DBM training step (mean-field, PCD sweeps, gradients,
//! the optimiser's step) and the inference calls with a kept
//! [`DbmScratch`] allocate nothing, in f32 and in bf16 (whose calls repack
//! every weight matrix into their buffers).

use latent_engine::train::{Model, Threads, TrainConfig, Trainer};
use latent_engine::{Matrix, Optimizer};
use latent_kernels::gemm::MatMut;
use latent_kernels::{Par, Precision};
use latent_models::dbm::{Dbm, DbmConfig, DbmScratch, Layers};
use latent_models::train::Settings;
use latent_testkit::alloc_count::allocations_on_this_thread;

fn binary(rows: usize, cols: usize, k: usize) -> Matrix {
    Matrix::from_fn(rows, cols, |i, j| {
        (i * 7 + j * 3 + k).is_multiple_of(5) as u8 as f32
    })
    .unwrap()
}

#[test]
fn dbm_steps_allocate_nothing_after_warm_up() {
    let (x, partial) = (binary(100, 64, 0), binary(37, 64, 1));
    let cases = [(None, 1, false), (Some(30), 3, true)];
    for ((chains, k, gaussian), precision) in cases
        .into_iter()
        .flat_map(|case| Precision::ALL.map(|p| (case, p)))
    {
        let base = match gaussian {
            true => DbmConfig::gaussian(&[64, 48, 32, 16]),
            false => DbmConfig::bernoulli(&[64, 48, 32]),
        };
        let config = DbmConfig {
            chains,
            cd_k: k,
            ..base
        };
        let mut dbm = Dbm::new(config, 1).unwrap();
        dbm.set_precision(precision);
        let mut grads = dbm.params().zeros_like().unwrap();
        let mut spare = dbm.params().clone();
        let settings = Settings::defaults(latent_models::persist::Kind::Dbm);
        let mut opt = Optimizer::new(settings.optimizer_config(), dbm.params()).unwrap();
        let mut step = |dbm: &mut Dbm, batch: &Matrix, seed: u64| {
            dbm.pcd_gradient(batch.view(), &mut grads, seed, Par::Seq)
                .unwrap();
            let bad = opt.step_into(dbm.params(), &grads, &mut spare, 0).unwrap();
            assert!(bad.is_none());
            std::mem::swap(dbm.params_mut(), &mut spare);
        };
        step(&mut dbm, &x, 0);
        step(&mut dbm, &partial, 1);
        let before = allocations_on_this_thread();
        for s in 0..4 {
            step(&mut dbm, &x, 10 + s);
            step(&mut dbm, &partial, 20 + s);
        }
        let during = allocations_on_this_thread() - before;
        assert_eq!(
            during, 0,
            "{chains:?} k={k} gaussian={gaussian} {precision}: {during} allocations"
        );
    }
}

/// Records the allocation count at every batch (room reserved beforehand).
struct Counter {
    marks: Vec<(usize, usize)>,
}

impl latent_engine::Observer for Counter {
    fn on_batch(&mut self, p: &latent_engine::BatchProgress<'_>) -> latent_engine::Control {
        self.marks.push((p.epoch, allocations_on_this_thread()));
        latent_engine::Control::Continue
    }
}

#[test]
fn dbm_trainer_steps_on_two_threads_allocate_nothing() {
    let data = latent_engine::Dataset::new(binary(730, 100, 2), None).unwrap();
    let settings = Settings::defaults(latent_models::persist::Kind::Dbm);
    let mut tc = TrainConfig::new(settings.optimizer_config());
    tc.epochs = 2;
    tc.threads = Threads::Count(2);
    let dbm = Dbm::new(DbmConfig::bernoulli(&[100, 80, 60]), 1).unwrap();
    let mut trainer = Trainer::new(dbm, tc).unwrap();
    let mut counter = Counter {
        marks: Vec::with_capacity(100),
    };
    trainer.fit(&data, None, &mut counter).unwrap();
    assert_eq!(counter.marks.len(), 16);
    for w in counter.marks.windows(2) {
        let ((e0, a0), (e1, a1)) = (w[0], w[1]);
        if e0 == e1 {
            assert_eq!(a1 - a0, 0, "a step of epoch {e1} allocated");
        }
    }
}

#[test]
fn dbm_inference_with_a_kept_scratch_allocates_nothing() {
    let (big, small) = (binary(100, 64, 3), binary(37, 64, 4));
    for precision in Precision::ALL {
        let mut dbm = Dbm::new(DbmConfig::bernoulli(&[64, 48, 32, 16]), 5).unwrap();
        dbm.set_precision(precision);
        let mut scratch = DbmScratch::new();
        let width = dbm.encode_width(Layers::All);
        let mut codes = vec![0.0f32; 100 * width];
        let mut recon = vec![0.0f32; 100 * 64];
        let mut run = |x: &Matrix, scratch: &mut DbmScratch, seed: u64| {
            let rows = x.rows();
            dbm.mean_field(x.view(), scratch, Par::Seq).unwrap();
            let out = MatMut::row_major(&mut codes[..rows * width], rows, width).unwrap();
            dbm.encode_with(x.view(), Layers::All, out, scratch, Par::Seq)
                .unwrap();
            let out = MatMut::row_major(&mut recon[..rows * 64], rows, 64).unwrap();
            dbm.reconstruct_with(x.view(), out, scratch, Par::Seq)
                .unwrap();
            let out = MatMut::row_major(&mut recon[..rows * 64], rows, 64).unwrap();
            dbm.sample_with(out, 2, seed, scratch, Par::Seq).unwrap();
        };
        run(&big, &mut scratch, 1);
        run(&small, &mut scratch, 2);
        let before = allocations_on_this_thread();
        for s in 0..3 {
            run(&big, &mut scratch, 3 + s);
            run(&small, &mut scratch, 6 + s);
        }
        let during = allocations_on_this_thread() - before;
        assert_eq!(during, 0, "{precision}: {during} allocations");
    }
}
