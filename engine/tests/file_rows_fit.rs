//! Training from rows read from a file as each batch needs them
//! ([`FileRows`]) against training from the matrix in memory: the same
//! bits, alone and on ranks ([`LocalReducer`], each rank reading only its
//! share), with the model's own randomness, SGD and Adam, one thread or
//! two.

use latent_testkit::engine as common;

use common::{LinReg, bits, data, temp_path};
use latent_engine::data::npy;
use latent_engine::data::rows::{FileRows, RowFormat, TrainRows};
use latent_engine::{LocalReducer, OptimizerConfig, Silent, Threads, TrainConfig, Trainer};

fn config(adam: bool, threads: usize) -> TrainConfig {
    let optimizer = if adam {
        OptimizerConfig::adam(3e-3)
    } else {
        OptimizerConfig::sgd_hinton(0.02, 1e-4)
    };
    TrainConfig {
        epochs: 3,
        batch_size: 128,
        seed: 11,
        threads: Threads::Count(threads),
        ..TrainConfig::new(optimizer)
    }
}

/// The parameters' bits and the epochs' losses of each rank (one, alone,
/// for `None`) trained on `rows`.
fn train(
    rows: TrainRows<'_>,
    ranks: Option<usize>,
    adam: bool,
    threads: usize,
) -> Vec<(Vec<u32>, Vec<f64>)> {
    let run = |reducer: Option<LocalReducer>| {
        let mut model = LinReg::new(3);
        model.use_rng = true;
        let mut t = Trainer::new(model, config(adam, threads)).unwrap();
        if let Some(r) = reducer {
            t.set_reducer(Box::new(r)).unwrap();
        }
        t.fit(rows, None, &mut Silent).unwrap();
        let losses = t.history().iter().map(|h| h.train_loss).collect();
        (bits(&t.model().params), losses)
    };
    match ranks {
        None => vec![run(None)],
        Some(n) => std::thread::scope(|s| {
            let handles: Vec<_> = (LocalReducer::group(n).unwrap().into_iter())
                .map(|r| s.spawn(move || run(Some(r))))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        }),
    }
}

#[test]
fn a_fit_from_a_file_is_the_fit_from_memory() {
    // 1003 samples: the last batch of each epoch has 107 rows.
    let ds = data(1003, 5);
    let dir = temp_path("file-rows-fit");
    let path = dir.join("train.npy");
    npy::write_matrix(&path, &ds.x).unwrap();
    let file = FileRows::open(&path, RowFormat::Npy).unwrap();
    let from_file = TrainRows {
        x: &file,
        labels: None,
    };
    for (ranks, adam, threads) in [(None, false, 1), (Some(2), false, 1), (Some(3), true, 2)] {
        let want = train((&ds).into(), ranks, adam, threads);
        let got = train(from_file, ranks, adam, threads);
        assert_eq!(
            got, want,
            "{ranks:?} ranks, adam {adam}, {threads} thread(s)"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
