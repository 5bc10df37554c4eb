//! `latent train classifier`, `latent predict` and `latent eval --labels`
//! end to end: predict's classes and probabilities agree with eval's
//! accuracy and confusion matrix, a resumed run and a run on another
//! thread count give the same bits, and `info` shows the classifier.

use std::fs;
use std::path::Path;

use crate::common::{in_dir, json, ok, scratch, write_idx};

/// 60 images of 4x4 bars (a row bar on even samples, a column bar on odd
/// ones) and their labels (`i % 2`) as a CSV column.
fn bars(d: &Path) {
    write_idx(&d.join("x-ubyte"), 60, 4);
    let labels: String = (0..60).map(|i| format!("{}\n", i % 2)).collect();
    fs::write(d.join("y.csv"), labels).unwrap();
}

/// Trains a 16-8 classifier on the bars with `extra` flags.
fn train(d: &Path, out: &str, extra: &[&str]) -> serde_json::Value {
    let p = in_dir(d);
    let (x, y, out) = (p("x-ubyte"), p("y.csv"), p(out));
    let mut args = vec![
        "train",
        "classifier",
        "--data",
        &x,
        "--labels",
        &y,
        "--layers",
        "16,8",
        "--lr",
        "0.02",
        "--pretrain-epochs",
        "2",
        "--batch",
        "10",
        "--out",
        &out,
    ];
    args.extend(extra);
    json(&args)
}

/// Every parameter and persistent tensor of a model file, by bits.
fn bits(path: &str) -> Vec<(String, Vec<u32>)> {
    let m = latent_models::persist::load(path.as_ref()).unwrap();
    let ck = &m.checkpoint;
    (ck.params.tensors().iter().chain(&ck.persistent))
        .map(|t| {
            let b = t.value.as_slice().iter().map(|v| v.to_bits()).collect();
            (t.name.clone(), b)
        })
        .collect()
}

#[test]
fn predict_and_eval_agree() {
    let d = scratch("clf-agree");
    bars(&d);
    let p = in_dir(&d);
    let t = train(
        &d,
        "m.latent",
        &["--epochs", "12", "--validation-fraction", "0.25"],
    );
    assert_eq!(t["kind"], "classifier");
    assert_eq!(t["classes"], 2);
    assert_eq!(t["validation_samples"], 15);
    let (m, x, y) = (p("m.latent"), p("x-ubyte"), p("y.csv"));
    ok(&[
        "predict",
        &m,
        "--data",
        &x,
        "--out",
        &p("p.csv"),
        "--proba",
        "-q",
    ]);
    let text = fs::read_to_string(p("p.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("class,p0,p1"));
    let mut correct = 0;
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 60);
    for (i, row) in rows.iter().enumerate() {
        let v: Vec<f64> = row.split(',').map(|s| s.parse().unwrap()).collect();
        assert!((v[1] + v[2] - 1.0).abs() < 1e-6, "{row}");
        let argmax = if v[2] > v[1] { 1.0 } else { 0.0 };
        assert_eq!(v[0], argmax, "{row}");
        correct += usize::from(v[0] as usize == i % 2);
    }
    let e = json(&["eval", &m, "--data", &x, "--labels", &y]);
    assert_eq!(e["correct"], correct);
    assert_eq!(e["accuracy"].as_f64().unwrap(), correct as f64 / 60.0);
    assert!(correct >= 54, "{correct} of 60 bars classified");
    let confusion: Vec<Vec<u64>> = serde_json::from_value(e["confusion"].clone()).unwrap();
    assert_eq!(confusion[0][0] + confusion[1][1], correct as u64);
    assert_eq!(
        confusion[0].iter().sum::<u64>(),
        30,
        "rows are the true class"
    );
    assert_eq!(e["per_class_samples"], serde_json::json!([30, 30]));
    // predict's NPY output reads back as labels: the model agrees with itself.
    ok(&["predict", &m, "--data", &x, "--out", &p("p.npy"), "-q"]);
    let own = json(&["eval", &m, "--data", &x, "--labels", &p("p.npy")]);
    assert_eq!(own["accuracy"].as_f64(), Some(1.0));
    let human = ok(&["eval", &m, "--data", &x, "--labels", &y]);
    assert!(
        human.contains(&format!(
            "accuracy:                 {:.4} ({correct} of 60)",
            correct as f64 / 60.0
        )),
        "{human}"
    );
    assert!(
        human.contains("confusion matrix (rows: true class"),
        "{human}"
    );
    let info = json(&["info", &m]);
    assert_eq!(info["kind"], "classifier");
    assert_eq!(info["classes"], 2);
    assert!(ok(&["info", &m]).contains("classes:    2"));
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_resumed_run_and_another_thread_count_give_the_same_bits() {
    let d = scratch("clf-resume");
    bars(&d);
    let p = in_dir(&d);
    let v = ["--validation-fraction", "0.2"];
    train(
        &d,
        "a.latent",
        &[&["--epochs", "6", "--threads", "1"][..], &v].concat(),
    );
    train(
        &d,
        "b.latent",
        &[&["--epochs", "3", "--threads", "2"][..], &v].concat(),
    );
    let (b, x, y) = (p("b.latent"), p("x-ubyte"), p("y.csv"));
    let r = json(&[
        "train",
        "classifier",
        "--data",
        &x,
        "--labels",
        &y,
        "--resume",
        &b,
        "--epochs",
        "6",
        "--out",
        &b,
        "--threads",
        "2",
    ]);
    assert_eq!(r["epochs_run"], 3);
    assert_eq!(bits(&p("a.latent")), bits(&b));
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn softmax_on_the_input_and_autoencoder_pretraining_train() {
    let d = scratch("clf-kinds");
    bars(&d);
    let p = in_dir(&d);
    let (x, y, o) = (p("x-ubyte"), p("y.csv"), p("s.latent"));
    let s = json(&[
        "train",
        "classifier",
        "--data",
        &x,
        "--labels",
        &y,
        "--layers",
        "16",
        "--epochs",
        "2",
        "--classes",
        "3",
        "--out",
        &o,
    ]);
    assert_eq!(s["pretrain"], "none");
    assert_eq!(s["classes"], 3);
    let a = train(&d, "ae.latent", &["--epochs", "2", "--pretrain", "ae"]);
    assert_eq!(a["pretrain"], "ae");
    assert!(ok(&["info", &p("ae.latent")]).contains("pretrain: ae epochs=2"));
    fs::remove_dir_all(&d).unwrap();
}
