//! Checkpoints: resume gives bit-identical parameters; truncated, corrupted
//! and foreign files get clear errors; writes are atomic.

use latent_testkit::engine as common;

use common::{LinReg, bits, data, temp_path};
use latent_engine::checkpoint::{self, Checkpoint};
use latent_engine::{
    EngineError, LrSchedule, Momentum, OptimizerConfig, OptimizerKind, Silent, Threads,
    TrainConfig, Trainer,
};

fn config(epochs: usize, adam: bool) -> TrainConfig {
    let kind = if adam {
        OptimizerKind::ADAM
    } else {
        OptimizerKind::Sgd {
            momentum: Momentum::Switch {
                initial: 0.5,
                final_value: 0.9,
                switch_epoch: 2,
            },
        }
    };
    let lr = if adam { 3e-3 } else { 0.01 };
    TrainConfig {
        epochs,
        batch_size: 96,
        seed: 21,
        threads: Threads::Count(2),
        ..TrainConfig::new(OptimizerConfig {
            kind,
            lr: LrSchedule::exponential(lr, 0.8).with_warmup(5),
            weight_decay: 1e-3,
        })
    }
}

fn model(init: u64) -> LinReg {
    let mut m = LinReg::new(init);
    m.use_rng = true;
    m
}

#[test]
fn resume_is_bit_identical_to_an_uninterrupted_run() {
    let ds = data(500, 8);
    let dir = temp_path("resume");
    for adam in [false, true] {
        let mut full = Trainer::new(model(1), config(4, adam)).unwrap();
        full.fit(&ds, None, &mut Silent).unwrap();

        let path = dir.join(format!("run-{adam}.ck"));
        let mut first = Trainer::new(model(1), config(2, adam)).unwrap();
        first.fit(&ds, None, &mut Silent).unwrap();
        first.save_checkpoint(&path).unwrap();
        let partial = bits(&first.model().params);
        drop(first);

        // A fresh model with other initial weights: everything must come
        // from the checkpoint.
        let mut resumed = Trainer::new(model(99), config(4, adam)).unwrap();
        resumed.load_checkpoint(&path).unwrap();
        assert_eq!(resumed.epochs_done(), 2);
        let summary = resumed.fit(&ds, None, &mut Silent).unwrap();
        assert_eq!(summary.epochs_run, 2);
        assert!(
            bits(&full.model().params) != partial,
            "training went on after the save"
        );
        assert!(
            bits(&resumed.model().params) == bits(&full.model().params),
            "adam={adam}: resumed parameters differ from the uninterrupted run"
        );
        assert_eq!(resumed.optimizer().steps(), full.optimizer().steps());
        let losses =
            |t: &Trainer<LinReg>| t.history().iter().map(|h| h.train_loss).collect::<Vec<_>>();
        assert_eq!(losses(&resumed), losses(&full));
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn checkpoint_round_trips_every_section() {
    let ds = data(200, 2);
    let mut t = Trainer::new(model(1), config(1, true)).unwrap();
    t.fit(&ds, None, &mut Silent).unwrap();
    let mut ck = t.checkpoint();
    ck.persistent.push(latent_engine::Tensor {
        name: "chains".into(),
        role: latent_engine::Role::Other,
        value: latent_engine::Matrix::from_fn(3, 4, |i, j| (i * 4 + j) as f32 - 0.5).unwrap(),
    });
    ck.history[0].metrics.push(("extra".into(), -1.25));
    let bytes = ck.to_bytes();
    let back = Checkpoint::from_bytes("mem".as_ref(), &bytes).unwrap();
    assert_eq!(back, ck);
    assert_eq!(back.model_kind, "test-linreg");
    assert!(back.trainer.contains("batch=96"), "{}", back.trainer);
    assert_eq!(back.optimizer.tensors.len(), 4, "Adam: m and v for W and b");
}

#[test]
fn damaged_files_get_clear_errors() {
    let ds = data(100, 2);
    let mut t = Trainer::new(model(1), config(1, false)).unwrap();
    t.fit(&ds, None, &mut Silent).unwrap();
    let good = t.checkpoint().to_bytes();
    let n = good.len();
    let flip = |i: usize| {
        let mut b = good.clone();
        b[i] ^= 0x01;
        b
    };
    let mut newer = good.clone();
    newer[8] = 2;
    type Check = fn(&EngineError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Check, &str)> = vec![
        (
            "empty",
            vec![],
            |e| matches!(e, EngineError::Empty { .. }),
            "empty",
        ),
        (
            "foreign",
            b"\x89PNG\r\n\x1a\n and more bytes of a picture".to_vec(),
            |e| matches!(e, EngineError::BadMagic { .. }),
            "LATENTCK",
        ),
        (
            "short header",
            good[..20].to_vec(),
            |e| matches!(e, EngineError::Truncated { offset: 20, .. }),
            "offset 20",
        ),
        (
            "newer version",
            newer,
            |e| {
                matches!(
                    e,
                    EngineError::UnsupportedVersion {
                        found: 2,
                        supported: 1,
                        ..
                    }
                )
            },
            "version 2",
        ),
        (
            "truncated",
            good[..n - 100].to_vec(),
            |e| matches!(e, EngineError::Truncated { .. }),
            "truncated",
        ),
        (
            "truncated checksum",
            good[..n - 3].to_vec(),
            |e| matches!(e, EngineError::Truncated { .. }),
            "truncated",
        ),
        (
            "trailing bytes",
            [&good[..], b"xx"].concat(),
            |e| matches!(e, EngineError::TrailingData { extra: 2, .. }),
            "2 unexpected",
        ),
        (
            "flipped bit in a tensor",
            flip(n / 2),
            |e| matches!(e, EngineError::Checksum { .. }),
            "corrupted",
        ),
        (
            "flipped bit in the header text",
            flip(30),
            |e| matches!(e, EngineError::Checksum { .. }),
            "checksum",
        ),
        (
            "flipped bit in the checksum",
            flip(n - 1),
            |e| matches!(e, EngineError::Checksum { .. }),
            "checksum",
        ),
    ];
    let dir = temp_path("damaged");
    for (name, bytes, check, mention) in cases {
        let p = dir.join(format!("{}.ck", name.replace(' ', "-")));
        std::fs::write(&p, &bytes).unwrap();
        let e = Checkpoint::load(&p).unwrap_err();
        assert!(check(&e), "{name}: wrong error {e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains(&*p.to_string_lossy()) && msg.contains(mention),
            "{name}: {msg}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn restore_refuses_a_checkpoint_of_another_model_or_optimiser() {
    let ds = data(100, 2);
    let mut t = Trainer::new(model(1), config(1, false)).unwrap();
    t.fit(&ds, None, &mut Silent).unwrap();
    let ck = t.checkpoint();
    let before = bits(&t.model().params);

    let mut other_kind = ck.clone();
    other_kind.model_kind = "bernoulli-rbm".into();
    let mut adam = Trainer::new(model(5), config(1, true)).unwrap();
    let adam_before = bits(&adam.model().params);
    assert!(matches!(
        adam.restore(&ck),
        Err(EngineError::Mismatch { .. })
    ));
    assert_eq!(
        bits(&adam.model().params),
        adam_before,
        "nothing changed on error"
    );
    assert!(matches!(
        t.restore(&other_kind),
        Err(EngineError::Mismatch { .. })
    ));

    let mut wrong_shape = ck.clone();
    let w = wrong_shape.params.tensors_mut()[0]
        .value
        .slice_rows(0, 3)
        .unwrap();
    wrong_shape.params.tensors_mut()[0].value = w;
    let e = t.restore(&wrong_shape).unwrap_err();
    assert!(
        matches!(e, EngineError::Mismatch { .. }) && e.to_string().contains("W:Weight:3x128"),
        "{e}"
    );
    assert_eq!(bits(&t.model().params), before);
}

#[test]
fn saving_is_atomic_and_leaves_no_temporary_files() {
    let dir = temp_path("atomic");
    let ds = data(100, 2);
    let mut t = Trainer::new(model(1), config(2, false)).unwrap();
    let path = dir.join("model.ck");
    t.fit(&ds, None, &mut Silent).unwrap();
    t.save_checkpoint(&path).unwrap();
    let old = std::fs::read(&path).unwrap();
    // A failed save (the target is a non-empty directory) reports the path
    // and leaves no temporary file (it is refused before one is made).
    let blocked = dir.join("blocked.ck");
    std::fs::create_dir_all(blocked.join("inside")).unwrap();
    let e = t.save_checkpoint(&blocked).unwrap_err();
    assert!(
        matches!(e, EngineError::BadOutput { .. }) && e.to_string().contains("blocked.ck"),
        "{e}"
    );
    // Overwriting replaces the file whole.
    let mut t2 = Trainer::new(model(1), config(3, false)).unwrap();
    t2.load_checkpoint(&path).unwrap();
    t2.fit(&ds, None, &mut Silent).unwrap();
    t2.save_checkpoint(&path).unwrap();
    let new = Checkpoint::load(&path).unwrap();
    assert_eq!(new.epoch, 3);
    assert_ne!(std::fs::read(&path).unwrap(), old);
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.contains(".tmp")),
        "temporary files left: {names:?}"
    );
    assert_eq!(
        checkpoint::fnv1a64(b"a"),
        0xaf63dc4c8601ec8c,
        "FNV-1a 64 reference value"
    );
    std::fs::remove_dir_all(&dir).ok();
}
