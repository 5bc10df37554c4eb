//! `--precision`: `train` stores it in the model file (`info` shows it, a
//! resumed run keeps it, f32 files are as before), the model commands
//! take it as an override, and a bad value is one error line.

use std::fs;

use crate::common::{fails, in_dir, json, scratch, write_idx};

/// Trains `kind` on `data` into `out` with the extra `flags`.
fn train(kind: &str, data: &str, out: &str, flags: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "train", kind, "--data", data, "--hidden", "12", "--epochs", "2", "--batch", "20", "--out",
        out,
    ];
    args.extend_from_slice(flags);
    json(&args)
}

#[test]
fn train_stores_the_precision_and_resume_keeps_it() {
    let d = scratch("precision");
    let p = in_dir(&d);
    write_idx(&d.join("x.idx"), 100, 8);
    let data = p("x.idx");
    for kind in ["rbm", "ae"] {
        let (f32_out, bf16_out) = (
            p(&format!("{kind}-f32.latent")),
            p(&format!("{kind}.latent")),
        );
        train(kind, &data, &f32_out, &[]);
        let info = json(&["info", &f32_out]);
        assert_eq!(info["precision"], "f32", "{kind}");
        let text = info["hyperparameters"].as_str().unwrap();
        assert!(
            !text.contains("precision"),
            "f32 files are as before: {text}"
        );

        train(kind, &data, &bf16_out, &["--precision", "bf16"]);
        let info = json(&["info", &bf16_out]);
        assert_eq!(info["precision"], "bf16", "{kind}");
        let text = info["hyperparameters"].as_str().unwrap();
        assert!(text.contains("precision=bf16"), "{text}");

        let resumed = p(&format!("{kind}-resumed.latent"));
        let r = json(&[
            "train", kind, "--data", &data, "--epochs", "3", "--resume", &bf16_out, "--out",
            &resumed,
        ]);
        assert_eq!(r["epochs_run"], 1, "{kind}");
        assert_eq!(json(&["info", &resumed])["precision"], "bf16", "{kind}");
    }
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_bad_precision_is_one_error_line() {
    let d = scratch("precision-bad");
    let p = in_dir(&d);
    write_idx(&d.join("x.idx"), 40, 8);
    let e = fails(&[
        "train",
        "rbm",
        "--data",
        &p("x.idx"),
        "--precision",
        "f16",
        "--out",
        &p("m.latent"),
    ]);
    assert!(e.contains("--precision") && e.contains("f16"), "{e}");
    assert!(!d.join("m.latent").exists());
    train("rbm", &p("x.idx"), &p("m.latent"), &[]);
    let e = fails(&[
        "encode",
        &p("m.latent"),
        "--data",
        &p("x.idx"),
        "--out",
        &p("c.npy"),
        "--precision",
        "fp8",
    ]);
    assert!(e.contains("--precision") && e.contains("fp8"), "{e}");
    fs::remove_dir_all(&d).unwrap();
}

/// Every kind's products follow the precision: a model trained in f32
/// encodes to other bits under `--precision bf16` (and to its own under
/// `--precision f32`), and one trained in bf16 encodes as its file says
/// unless told otherwise; training itself differs between the two.
#[test]
fn every_kind_encodes_in_the_precision_asked() {
    let d = scratch("precision-kinds");
    let p = in_dir(&d);
    write_idx(&d.join("x.idx"), 100, 8);
    let data = p("x.idx");
    let kinds: [(&str, &[&str]); 5] = [
        ("rbm", &["--hidden", "12"]),
        ("ae", &["--hidden", "12"]),
        ("vae", &["--hidden", "12", "--latent", "4"]),
        ("dbn", &["--layers", "64,16,6"]),
        (
            "deep-ae",
            &["--layers", "64,16,6", "--pretrain-epochs", "1"],
        ),
    ];
    let codes = |model: &str, name: &str, flags: &[&str]| {
        let out = p(&format!("{name}.npy"));
        let mut args = vec!["encode", model, "--data", &data, "--out", &out];
        args.extend_from_slice(flags);
        json(&args);
        fs::read(&out).unwrap()
    };
    for (kind, shape) in kinds {
        let mut trained = Vec::new();
        for precision in ["f32", "bf16"] {
            let model = p(&format!("{kind}-{precision}.latent"));
            let mut args = vec![
                "train", kind, "--data", &data, "--epochs", "2", "--batch", "20",
            ];
            args.extend_from_slice(shape);
            args.extend_from_slice(&["--precision", precision, "--out", &model, "-q"]);
            json(&args);
            trained.push(model);
        }
        let (f32_model, bf16_model) = (&trained[0], &trained[1]);
        let plain = codes(f32_model, &format!("{kind}-a"), &[]);
        assert_eq!(
            plain,
            codes(f32_model, &format!("{kind}-b"), &["--precision", "f32"])
        );
        let in_bf16 = codes(f32_model, &format!("{kind}-c"), &["--precision", "bf16"]);
        assert_ne!(plain, in_bf16, "{kind}: --precision bf16 changed nothing");
        let stored = codes(bf16_model, &format!("{kind}-d"), &[]);
        assert_eq!(
            stored,
            codes(bf16_model, &format!("{kind}-e"), &["--precision", "bf16"])
        );
        assert_ne!(
            stored,
            codes(bf16_model, &format!("{kind}-f"), &["--precision", "f32"])
        );
        let bf16_params_in_f32 = codes(bf16_model, &format!("{kind}-g"), &["--precision", "f32"]);
        assert_ne!(
            plain, bf16_params_in_f32,
            "{kind}: bf16 training gave the f32 parameters"
        );
    }
    fs::remove_dir_all(&d).unwrap();
}
