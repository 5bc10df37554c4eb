//! Bit-exactness: training on 1 and 2 threads, a resumed run against an
//! uninterrupted one (through a model file, chains and random streams
//! included), and the model file's round trip.

use latent_engine::train::Model;
use latent_engine::{Dataset, Matrix};
use latent_kernels::{Par, Precision};
use latent_models::dbm::{Dbm, DbmConfig};
use latent_models::model::{AnyModel, Inference};
use latent_models::persist::{self, Kind, Preprocess};
use latent_models::train::{Run, Settings, SettingsOverrides, Silent, train_model};
use latent_testkit::{TestRng, f32_bits};

use super::training::train;

fn data(rows: usize, cols: usize) -> Matrix {
    let mut rng = TestRng::new(12);
    Matrix::from_fn(rows, cols, |_, _| {
        (rng.uniform(0.0, 1.0) < 0.3) as u8 as f32
    })
    .unwrap()
}

/// Every parameter's and chain's bits.
fn state_bits(dbm: &Dbm) -> Vec<u32> {
    let mut bits: Vec<u32> = dbm
        .params()
        .tensors()
        .iter()
        .flat_map(|t| f32_bits(t.value.as_slice()))
        .collect();
    for l in 0..dbm.sizes().len() {
        bits.extend(f32_bits(dbm.chain_states(l).unwrap()));
    }
    bits
}

#[test]
fn training_gives_the_same_bits_on_one_and_two_threads() {
    // Wide enough that the products and samplers split their rows.
    let x = data(300, 96);
    let cases = [
        (
            None,
            Precision::F32,
            DbmConfig::bernoulli(&[96, 80, 64, 32]),
        ),
        (
            Some(40),
            Precision::Bf16,
            DbmConfig::bernoulli(&[96, 80, 64, 32]),
        ),
        (Some(30), Precision::F32, DbmConfig::gaussian(&[96, 80, 64])),
    ];
    for (chains, precision, base) in cases {
        let run = |threads| {
            let config = DbmConfig {
                chains,
                cd_k: 2,
                ..base.clone()
            };
            let mut dbm = Dbm::new(config, 3).unwrap();
            dbm.set_precision(precision);
            state_bits(train(dbm, &x, 2, 100, 0.05, threads).model())
        };
        assert!(
            run(1) == run(2),
            "{chains:?} {precision}: 2 threads differ from 1"
        );
    }
}

fn settings(epochs: usize) -> Settings {
    let flags = SettingsOverrides {
        epochs: Some(epochs),
        batch: Some(25),
        lr: Some(0.05),
        seed: Some(4),
        ..Default::default()
    };
    Settings::resolve(Kind::Dbm, &flags, None).unwrap()
}

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("dbm-{name}-{}.latent", std::process::id()))
}

/// Trains a new DBM (or the one resumed from `resume`) to `epochs` epochs,
/// writing `out`.
fn run_to(out: &std::path::Path, epochs: usize, resume: Option<&std::path::Path>) -> Dbm {
    let x = Dataset::new(data(90, 12), None).unwrap();
    let settings = settings(epochs);
    let (none, mut silent) = (Preprocess::None, Silent);
    let mut run = Run::new(out, &settings, &none, &mut silent);
    let start = match resume {
        Some(path) => {
            let file = persist::load(path).unwrap();
            let state = persist::resume_state(&file.checkpoint, "dbm");
            let AnyModel::Dbm(dbm) = file.model else {
                panic!("not a dbm")
            };
            (*dbm, Some(state))
        }
        None => {
            let config = DbmConfig {
                cd_k: 2,
                ..DbmConfig::bernoulli(&[12, 8, 6])
            };
            (Dbm::new(config, settings.seed).unwrap(), None)
        }
    };
    let (trainer, _) = train_model(&mut run, start, ("dbm", Kind::Dbm), (&x, None)).unwrap();
    trainer.into_model()
}

#[test]
fn a_resumed_run_continues_exactly_and_the_file_round_trips() {
    let (whole, half) = (temp("whole"), temp("half"));
    let straight = run_to(&whole, 4, None);
    run_to(&half, 2, None);
    let resumed = run_to(&half, 4, Some(&half));
    assert!(
        state_bits(&straight) == state_bits(&resumed),
        "the resumed run differs"
    );

    // The file holds the model, its chains and its precision.
    let file = persist::load(&whole).unwrap();
    assert_eq!(file.kind, Kind::Dbm);
    assert!(file.status.is_none());
    let AnyModel::Dbm(loaded) = &file.model else {
        panic!("not a dbm")
    };
    assert_eq!(loaded.config(), straight.config());
    assert!(state_bits(loaded) == state_bits(&straight));
    let x = data(20, 12);
    assert_eq!(
        f32_bits(file.model.features(&x, Par::All).unwrap().as_slice()),
        f32_bits(straight.features(&x, Par::All).unwrap().as_slice())
    );
    assert_eq!(file.model.sizes(), vec![12, 8, 6]);
    assert_eq!(
        file.model.encode_all_layers(&x, Par::All).unwrap().shape(),
        (20, 14)
    );
    assert_eq!(
        file.model.encode_layer(&x, 1, Par::All).unwrap().shape(),
        (20, 8)
    );
    assert!(file.model.encode_level(Some(3)).is_err());
    let opts = latent_models::model::EvalOptions {
        ais: None,
        iw_samples: 1,
        seed: 0,
        bound_samples: 10,
    };
    let e = file.model.evaluate(&x, &opts, Par::All).unwrap();
    assert!(
        e.dbm.is_some_and(|d| d.exact.is_some()),
        "a 12-8-6 DBM is small"
    );
    assert!(
        file.checkpoint
            .hyperparameters
            .starts_with("visible=bernoulli sizes=12,8,6 ")
    );
    // Samples from the persistent chains: σ(h¹W¹ᵀ + b⁰) of the chains' h¹.
    let count = loaded.chain_count();
    let s = file.model.chain_samples(count, Par::All).unwrap();
    let (h1, w1, b0) = (
        loaded.chain_states(1).unwrap(),
        loaded.weight(1).as_slice(),
        loaded.bias(0),
    );
    for r in 0..count {
        for i in 0..12 {
            let a: f64 = b0[i] as f64
                + (0..8)
                    .map(|j| h1[r * 8 + j] as f64 * w1[i * 8 + j] as f64)
                    .sum::<f64>();
            let want = 1.0 / (1.0 + (-a).exp());
            assert!(
                (s.as_slice()[r * 12 + i] as f64 - want).abs() < 1e-6,
                "chain {r} unit {i}"
            );
        }
    }
    assert!(file.model.chain_samples(count + 1, Par::All).is_err());
    for p in [whole, half] {
        std::fs::remove_file(p).ok();
    }
}

#[test]
fn from_params_checks_shapes_and_chains_must_fit() {
    let config = DbmConfig::bernoulli(&[3, 2, 2]);
    let w = [Matrix::zeros(3, 2).unwrap(), Matrix::zeros(2, 2).unwrap()];
    let b = [vec![0.0; 3], vec![0.0; 2], vec![0.0; 2]];
    assert!(Dbm::from_params(config.clone(), &w, &b).is_ok());
    let bad_w = [Matrix::zeros(3, 2).unwrap(), Matrix::zeros(2, 3).unwrap()];
    assert!(
        Dbm::from_params(config.clone(), &bad_w, &b)
            .unwrap_err()
            .to_string()
            .contains("W2")
    );
    assert!(Dbm::from_params(config.clone(), &w, &b[..2]).is_err());
    assert!(Dbm::new(DbmConfig::bernoulli(&[3, 2]), 0).is_err());
    let mut dbm = Dbm::new(config, 0).unwrap();
    let wrong = latent_engine::Tensor {
        name: "chains.l0".into(),
        role: latent_engine::Role::Other,
        value: Matrix::zeros(4, 5).unwrap(),
    };
    assert!(dbm.load_persistent_state(&[wrong]).is_err());
}
