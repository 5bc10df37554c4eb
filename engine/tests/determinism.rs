//! Same seed and data, bit-identical parameters with 1, 2 or 4 threads,
//! and inside a caller's rayon pool or the trainer's own.

use latent_testkit::engine as common;

use common::{LinReg, bits, data};
use latent_engine::{LrSchedule, OptimizerConfig, Silent, Threads, TrainConfig, Trainer};

fn config(threads: Threads, adam: bool) -> TrainConfig {
    let mut opt = if adam {
        OptimizerConfig::adam(3e-3)
    } else {
        OptimizerConfig::sgd_hinton(0.02, 1e-4)
    };
    opt.lr = LrSchedule {
        base: opt.lr.base,
        ..LrSchedule::exponential(1.0, 0.9).with_warmup(3)
    };
    TrainConfig {
        epochs: 3,
        batch_size: 128,
        seed: 11,
        threads,
        ..TrainConfig::new(opt)
    }
}

fn train(threads: Threads, adam: bool, seed: u64) -> (Vec<u32>, Vec<f64>) {
    let ds = data(1000, 5);
    let mut model = LinReg::new(3);
    model.use_rng = true;
    let mut t = Trainer::new(
        model,
        TrainConfig {
            seed,
            ..config(threads, adam)
        },
    )
    .unwrap();
    t.fit(&ds, None, &mut Silent).unwrap();
    let losses = t.history().iter().map(|h| h.train_loss).collect();
    (bits(&t.model().params), losses)
}

#[test]
fn parameters_are_bit_identical_for_any_thread_count() {
    for adam in [false, true] {
        let (reference, losses) = train(Threads::Count(1), adam, 11);
        assert!(
            losses[2] < 0.5 * losses[0],
            "the model must actually learn: {losses:?}"
        );
        for n in [1, 2, 4] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap();
            let (got, _) = pool.install(|| train(Threads::CallerPool, adam, 11));
            assert!(
                got == reference,
                "adam={adam}: caller pool of {n} threads differs"
            );
        }
        let (got, _) = train(Threads::Count(3), adam, 11);
        assert!(
            got == reference,
            "adam={adam}: own pool of 3 threads differs"
        );
        let (other, _) = train(Threads::Count(2), adam, 12);
        assert!(
            other != reference,
            "another seed must give other parameters"
        );
    }
}
