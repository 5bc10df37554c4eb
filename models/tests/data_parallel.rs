//! Data-parallel training of real models with ranks as threads
//! ([`LocalReducer`]; under MPI: ci/mpi-test.sh): an autoencoder (its
//! gradient has no randomness) trains on 2 and 3 ranks the model it trains
//! alone, up to float rounding; an RBM (CD-1, whose weight update a run
//! alone fuses into its gradient product) gives the same bits on every
//! rank and every repeat, and on one rank those of a run alone. The kinds
//! with persistent chains and the staged kinds are in `data_parallel/`.

use latent_engine::train::{LocalReducer, Model, Silent, Threads, TrainConfig, Trainer};
use latent_engine::{Dataset, Matrix, OptimizerConfig, ParamSet};
use latent_kernels::Activation;
use latent_models::ae::{AeConfig, Autoencoder};
use latent_models::rbm::{Rbm, RbmConfig};
use latent_testkit::TestRng;

mod data_parallel {
    pub mod averaging;
    pub mod pcd;
    pub mod stages;
}

/// Worst |a - b| / max(1, |b|) tolerated between N ranks and one process
/// after 3 epochs of 15 steps; measured 6.0e-8 here with 2 and 3 ranks
/// (and under MPI, ci/mpi-test.sh).
pub const TOL: f32 = 1e-6;

/// 707 binary-ish rows of 30 columns, so batches of 50 end with 7 rows.
fn data() -> Dataset {
    let mut rng = TestRng::new(4);
    let x = Matrix::from_fn(707, 30, |i, j| {
        let p = if (i + j) % 3 == 0 { 0.8 } else { 0.2 };
        if rng.uniform(0.0, 1.0) < p { 1.0 } else { 0.0 }
    })
    .unwrap();
    Dataset::new(x, None).unwrap()
}

fn values(p: &ParamSet) -> Vec<f32> {
    p.tensors()
        .iter()
        .flat_map(|t| t.value.as_slice().iter().copied())
        .collect()
}

/// The parameters of `make()` trained 3 epochs by each of `ranks` ranks,
/// or alone for `None`.
fn train<M: Model + Send>(
    ranks: Option<usize>,
    make: impl Fn() -> (M, TrainConfig) + Sync,
    threads: usize,
) -> Vec<Vec<f32>> {
    let ds = data();
    let run = |reducer: Option<LocalReducer>| {
        let (model, config) = make();
        let config = TrainConfig {
            epochs: 3,
            batch_size: 50,
            seed: 9,
            threads: Threads::Count(threads),
            ..config
        };
        let mut t = Trainer::new(model, config).unwrap();
        if let Some(r) = reducer {
            t.set_reducer(Box::new(r)).unwrap();
        }
        t.fit(&ds, None, &mut Silent).unwrap();
        values(t.model().params())
    };
    let Some(ranks) = ranks else {
        return vec![run(None)];
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (LocalReducer::group(ranks).unwrap().into_iter())
            .map(|r| s.spawn(|| run(Some(r))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// `f` on each of `ranks` ranks (threads of this process, each in a pool
/// of `threads` threads) with its reducer, in rank order; alone (`None`):
/// once, in such a pool, without one.
fn on_ranks<T: Send>(
    ranks: Option<usize>,
    threads: usize,
    f: impl Fn(Option<LocalReducer>) -> T + Sync,
) -> Vec<T> {
    let in_pool = |r: Option<LocalReducer>| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads);
        pool.build().unwrap().install(|| f(r))
    };
    let Some(ranks) = ranks else {
        return vec![in_pool(None)];
    };
    let in_pool = &in_pool;
    std::thread::scope(|s| {
        let handles: Vec<_> = (LocalReducer::group(ranks).unwrap().into_iter())
            .map(|r| s.spawn(move || in_pool(Some(r))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn autoencoder() -> (Autoencoder, TrainConfig) {
    let ae = Autoencoder::new(AeConfig::new(&[30, 12], Activation::Sigmoid), 2).unwrap();
    let config = TrainConfig::new(OptimizerConfig::adam(3e-3));
    (ae, config)
}

fn rbm() -> (Rbm, TrainConfig) {
    let config = RbmConfig::bernoulli(30, 12);
    let rbm = Rbm::new(config, 2).unwrap();
    (rbm, TrainConfig::new(config.default_optimizer()))
}

#[test]
fn an_autoencoder_on_n_ranks_is_the_one_trained_alone() {
    let alone = train(None, autoencoder, 1).remove(0);
    for ranks in [2, 3] {
        let all = train(Some(ranks), autoencoder, 1);
        assert!(all.iter().all(|r| *r == all[0]), "{ranks} ranks differ");
        let worst = (all[0].iter().zip(&alone))
            .map(|(&a, &b)| (a - b).abs() / b.abs().max(1.0))
            .fold(0.0f32, f32::max);
        assert!(worst <= TOL, "{ranks} ranks: worst {worst:e}");
        assert_ne!(all[0], alone, "{ranks} ranks: the sums' order differs");
    }
}

#[test]
fn an_rbm_gives_the_same_bits_on_every_rank_repeat_and_thread_count() {
    let bits = |v: Vec<Vec<f32>>| -> Vec<Vec<u32>> {
        v.iter()
            .map(|r| r.iter().map(|x| x.to_bits()).collect())
            .collect()
    };
    let first = bits(train(Some(2), rbm, 1));
    assert_eq!(first[0], first[1]);
    assert_eq!(bits(train(Some(2), rbm, 1)), first);
    assert_eq!(bits(train(Some(2), rbm, 2)), first);
    // One rank: the fused update off, the same bits as the fused run alone.
    assert_eq!(bits(train(Some(1), rbm, 1)), bits(train(None, rbm, 1)));
    // Rank 1 samples its own stream: two ranks are not one process.
    assert_ne!(first[0], bits(train(None, rbm, 1))[0]);
}
