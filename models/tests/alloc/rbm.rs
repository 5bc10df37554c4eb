//! After warm-up, an RBM training step (CD-k or PCD-k gradient plus the
//! optimiser's fused update) allocates nothing, on one thread, in f32 and
//! in bf16 (whose step repacks `W` and `Wᵀ` into its workspace).

use latent_engine::train::Model;
use latent_engine::{Matrix, Optimizer};
use latent_kernels::{Par, Precision};
use latent_models::rbm::{Rbm, RbmConfig, VisibleUnits};
use latent_testkit::alloc_count::allocations_on_this_thread;

#[test]
fn rbm_steps_allocate_nothing_after_warm_up() {
    let x = Matrix::from_fn(100, 64, |i, j| ((i * 7 + j * 3) % 5 == 0) as u8 as f32).unwrap();
    let partial = Matrix::from_fn(37, 64, |i, j| ((i + j) % 3 == 0) as u8 as f32).unwrap();
    let cases = [
        (VisibleUnits::Bernoulli, false, 1),
        (VisibleUnits::Bernoulli, true, 3),
        (VisibleUnits::Gaussian, false, 2),
    ];
    for ((visible, persistent, k), precision) in cases
        .into_iter()
        .flat_map(|case| Precision::ALL.map(|p| (case, p)))
    {
        let config = RbmConfig {
            visible,
            persistent,
            cd_k: k,
            ..RbmConfig::bernoulli(64, 200)
        };
        let mut rbm = Rbm::new(config, 1).unwrap();
        rbm.set_precision(precision);
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
            "{visible:?} persistent={persistent} k={k} {precision}: {during} allocations in 10 steps"
        );
    }
}

/// Records the allocation count at every batch (with room reserved, so
/// recording does not allocate).
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
fn trainer_steps_with_the_fused_weight_update_allocate_nothing() {
    use latent_engine::train::{Threads, TrainConfig, Trainer};
    // 200 visible units: a batch of 100 is two 16 KB shares of the gather.
    let x = Matrix::from_fn(730, 200, |i, j| ((i * 7 + j * 3) % 5 == 0) as u8 as f32).unwrap();
    let data = latent_engine::Dataset::new(x, None).unwrap();
    // Two threads: the step's parallel regions (minibatch gather, chain
    // blocks, sums, products) run on the pool; what the thread running the
    // loop does in them is counted too.
    let f32_and_bf16 = [(true, 1), (false, 1), (true, 2)]
        .into_iter()
        .flat_map(|run| Precision::ALL.map(|p| (run, p)));
    for ((fuse, threads), precision) in f32_and_bf16 {
        let config = RbmConfig {
            sparsity: Some(latent_models::rbm::Sparsity {
                target: 0.1,
                cost: 0.01,
                decay: 0.9,
            }),
            ..RbmConfig::bernoulli(200, 200)
        };
        let mut tc = TrainConfig::new(config.default_optimizer());
        tc.epochs = 2;
        tc.threads = Threads::Count(threads);
        tc.fuse_updates = fuse;
        let mut rbm = Rbm::new(config, 1).unwrap();
        rbm.set_precision(precision);
        let mut trainer = Trainer::new(rbm, tc).unwrap();
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
                assert_eq!(
                    a1 - a0,
                    0,
                    "fuse={fuse}, {threads} threads, {precision}: a step of epoch {e1} allocated"
                );
            }
        }
    }
}

/// The inference calls with the caller's scratch ([`RbmScratch`]), sampling
/// from fresh chains included, allocate
/// nothing once the scratch has held the largest batch, and give the same
/// bits as the calls that make their own scratch.
#[test]
fn inference_with_a_kept_scratch_allocates_nothing_and_matches() {
    use latent_kernels::gemm::MatMut;
    use latent_kernels::random::Streams;
    use latent_models::rbm::RbmScratch;
    let (v_n, h_n) = (64, 48);
    let big = Matrix::from_fn(100, v_n, |i, j| ((i * 7 + j * 3) % 5 == 0) as u8 as f32).unwrap();
    let small = Matrix::from_fn(37, v_n, |i, j| ((i + j) % 3 == 0) as u8 as f32).unwrap();
    let cases = [
        (VisibleUnits::Bernoulli, false),
        (VisibleUnits::Gaussian, false),
        (VisibleUnits::Gaussian, true),
    ];
    for ((visible, learn_sigma), precision) in cases
        .into_iter()
        .flat_map(|case| Precision::ALL.map(|p| (case, p)))
    {
        let config = RbmConfig {
            visible,
            learn_sigma,
            ..RbmConfig::bernoulli(v_n, h_n)
        };
        let mut rbm = Rbm::new(config, 5).unwrap();
        rbm.set_precision(precision);
        if learn_sigma {
            // σ away from 1, so that a missed scaling shows.
            let log_sigma = rbm.params_mut().value_mut(latent_models::rbm::LOG_SIGMA);
            for (j, z) in log_sigma.as_mut_slice().iter_mut().enumerate() {
                *z = 0.05 * (j % 7) as f32 - 0.1;
            }
        }
        let mut scratch = RbmScratch::new();
        let mut features = Matrix::zeros(100, h_n).unwrap();
        let mut means = Matrix::zeros(100, v_n).unwrap();
        let mut recon = Matrix::zeros(100, v_n).unwrap();
        let mut energy = vec![0.0f32; 100];
        let mut samples = Matrix::zeros(100, v_n).unwrap();
        let mut chains = big.clone();
        let mut run = |x: &Matrix, scratch: &mut RbmScratch, seed: u64| {
            let rows = x.rows();
            let f = &mut features.as_mut_slice()[..rows * h_n];
            rbm.transform_with(
                x.view(),
                MatMut::row_major(f, rows, h_n).unwrap(),
                scratch,
                Par::Seq,
            )
            .unwrap();
            let f = latent_kernels::gemm::MatRef::row_major(
                &features.as_slice()[..rows * h_n],
                rows,
                h_n,
            )
            .unwrap();
            let m = MatMut::row_major(&mut means.as_mut_slice()[..rows * v_n], rows, v_n).unwrap();
            rbm.visible_means_with(f, m, scratch, Par::Seq).unwrap();
            let r = MatMut::row_major(&mut recon.as_mut_slice()[..rows * v_n], rows, v_n).unwrap();
            rbm.reconstruct_with(x.view(), r, scratch, Par::Seq)
                .unwrap();
            rbm.free_energy_with(x.view(), &mut energy[..rows], scratch, Par::Seq)
                .unwrap();
            rbm.gibbs_with(&mut chains, 2, Streams::new(seed), scratch, Par::Seq)
                .unwrap();
            let out =
                MatMut::row_major(&mut samples.as_mut_slice()[..rows * v_n], rows, v_n).unwrap();
            rbm.sample_with(out, 2, seed, scratch, Par::Seq).unwrap();
        };
        run(&big, &mut scratch, 1);
        run(&small, &mut scratch, 2);
        let before = allocations_on_this_thread();
        for s in 0..3 {
            run(&big, &mut scratch, 3 + s);
            run(&small, &mut scratch, 6 + s);
        }
        let during = allocations_on_this_thread() - before;
        assert_eq!(
            during, 0,
            "{visible:?} learn_sigma={learn_sigma} {precision}: {during} allocations"
        );

        // The same bits as the calls that allocate their own scratch.
        let bits = |m: &[f32]| m.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let mut fresh = RbmScratch::new();
        let rows = small.rows();
        let mut want = Matrix::zeros(rows, v_n).unwrap();
        rbm.reconstruct(small.view(), want.view_mut(), Par::Seq)
            .unwrap();
        let mut got = Matrix::zeros(rows, v_n).unwrap();
        rbm.reconstruct_with(small.view(), got.view_mut(), &mut scratch, Par::Seq)
            .unwrap();
        assert_eq!(bits(want.as_slice()), bits(got.as_slice()), "reconstruct");
        let mut want_f = vec![0.0f32; rows];
        let mut got_f = vec![0.0f32; rows];
        rbm.free_energy(small.view(), &mut want_f, Par::Seq)
            .unwrap();
        rbm.free_energy_with(small.view(), &mut got_f, &mut fresh, Par::Seq)
            .unwrap();
        assert_eq!(bits(&want_f), bits(&got_f), "free_energy");
        let (mut a, mut b) = (small.clone(), small.clone());
        rbm.gibbs(&mut a, 3, Streams::new(9), Par::Seq).unwrap();
        rbm.gibbs_with(&mut b, 3, Streams::new(9), &mut scratch, Par::Seq)
            .unwrap();
        assert_eq!(bits(a.as_slice()), bits(b.as_slice()), "gibbs");
        // sample_with into a column-major view: the same numbers.
        let want = rbm.sample(rows, 3, 9, Par::Seq).unwrap();
        let mut col_major = vec![0.0f32; rows * v_n];
        let out = MatMut::row_major(&mut col_major, v_n, rows).unwrap().t();
        rbm.sample_with(out, 3, 9, &mut scratch, Par::Seq).unwrap();
        for i in 0..rows {
            for j in 0..v_n {
                assert_eq!(
                    want.get(i, j).map(f32::to_bits),
                    Some(col_major[j * rows + i].to_bits()),
                    "sample ({i}, {j})"
                );
            }
        }
        // A wrong width is an error, not a panic.
        let mut narrow = vec![0.0f32; 5 * (v_n - 1)];
        let out = MatMut::row_major(&mut narrow, 5, v_n - 1).unwrap();
        assert!(rbm.sample_with(out, 1, 1, &mut scratch, Par::Seq).is_err());
    }
}
