//! `latent train ae | vae | deep-ae` and the other subcommands on their
//! model files: round trips on small IDX and NPY files written here. Every
//! run is a few hundred samples of 64 features: seconds in all.

use std::fs;
use std::path::Path;

use super::common::{check_png, csv_width, encode, in_dir, json, ok, scratch, write_idx};
use latent::engine::data::npy;
use latent::engine::{Checkpoint, Matrix};

/// The parameters of two model files are bit-identical.
pub(super) fn same_params(a: &Path, b: &Path) {
    let (a, b) = (Checkpoint::load(a).unwrap(), Checkpoint::load(b).unwrap());
    assert_eq!(a.params.len(), b.params.len());
    for (x, y) in a.params.tensors().iter().zip(b.params.tensors()) {
        assert_eq!(x.name, y.name);
        assert_eq!(x.value.as_slice(), y.value.as_slice(), "tensor {}", x.name);
    }
}

/// `n` rows of 64 features in [0, 1] (bars with grey noise), as NPY.
pub(super) fn write_npy(path: &Path, n: usize) {
    let x = Matrix::from_fn(n, 64, |i, j| {
        let (r, c, k) = (j / 8, j % 8, i % 8);
        let on = if i % 2 == 0 { r == k } else { c == k };
        if on {
            1.0
        } else {
            ((i * 13 + j * 7) % 10) as f32 / 40.0
        }
    })
    .unwrap();
    npy::write_matrix(path, &x).unwrap();
}

#[test]
fn ae_train_info_encode_reconstruct_eval_round_trip() {
    let d = scratch("ae-roundtrip");
    let p = in_dir(&d);
    write_idx(&d.join("train-ubyte"), 240, 8);
    write_npy(&d.join("valid.npy"), 60);
    let (data, model) = (p("train-ubyte"), p("ae.latent"));
    let t = json(&[
        "train",
        "ae",
        "--data",
        &data,
        "--layers",
        "64,16",
        "--noise",
        "mask:0.2",
        "--epochs",
        "4",
        "--batch",
        "20",
        "--lr",
        "0.01",
        "--validate",
        &p("valid.npy"),
        "--metrics",
        &p("metrics.jsonl"),
        "--out",
        &model,
        "--seed",
        "2",
    ]);
    assert_eq!(t["kind"], "ae");
    assert_eq!(t["variant"], "denoising-autoencoder");
    assert_eq!(t["loss"], "cross-entropy");
    assert_eq!(t["sizes"], serde_json::json!([64, 16]));
    let h = t["history"].as_array().unwrap();
    assert_eq!(h.len(), 4);
    assert!(h[3]["train_loss"].as_f64().unwrap() < h[0]["train_loss"].as_f64().unwrap());
    assert!(h[3]["valid_metric"].as_f64().unwrap() > 0.0);
    assert_eq!(
        fs::read_to_string(p("metrics.jsonl"))
            .unwrap()
            .lines()
            .count(),
        4
    );

    let info = json(&["info", &model]);
    assert_eq!(info["kind"], "ae");
    assert_eq!(info["variant"], "denoising-autoencoder");
    assert_eq!(info["preprocess"], "scale 0 255");
    assert_eq!(info["epochs"], 4);
    assert!(info["status"].is_null());
    let names: Vec<&str> = info["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["W1", "c1", "Wd1", "b1"]);
    assert!(
        info["hyperparameters"]
            .as_str()
            .unwrap()
            .contains("noise=mask:0.2")
    );

    encode(&model, &data, &p("codes.npy"));
    let codes = npy::read_matrix(p("codes.npy")).unwrap();
    assert_eq!(codes.shape(), (240, 16));
    assert!(codes.as_slice().iter().all(|&v| (0.0..=1.0).contains(&v)));

    let r = json(&[
        "reconstruct",
        &model,
        "--data",
        &data,
        "--png",
        &p("r.png"),
        "--out",
        &p("r.npy"),
        "--count",
        "8",
    ]);
    check_png(&d.join("r.png"));
    assert_eq!(npy::read_matrix(p("r.npy")).unwrap().shape(), (240, 64));
    let sq = r["reconstruction_error"].as_f64().unwrap();

    let e = json(&["eval", &model, "--data", &data]);
    assert_eq!(e["loss"], "cross-entropy");
    let ce = e["reconstruction_error"].as_f64().unwrap();
    assert!(ce.is_finite() && ce > 0.0);
    assert!((e["squared_error"].as_f64().unwrap() - sq).abs() < 1e-6 * sq.max(1.0));

    let s = json(&["score", &model, "--data", &data, "--out", &p("scores.csv")]);
    assert_eq!(s["metric"], "recon");
    assert!((s["mean"].as_f64().unwrap() - ce).abs() < 1e-4 * ce);
    assert_eq!(
        fs::read_to_string(p("scores.csv")).unwrap().lines().count(),
        240
    );
    ok(&["filters", &model, "--out", &p("f.png"), "-q"]);
    check_png(&d.join("f.png"));
    ok(&[
        "export",
        &model,
        "--out",
        &p("export"),
        "--format",
        "safetensors",
        "-q",
    ]);
    assert!(d.join("export/model.safetensors").exists());

    // Tied, sparse and contractive: two sigmoid layers, a real-valued NPY
    // file with squared error.
    let m2 = p("c.latent");
    let t = json(&[
        "train",
        "ae",
        "--data",
        &p("valid.npy"),
        "--layers",
        "64,24,8",
        "--tied",
        "--sparsity",
        "kl:0.1:0.5",
        "--contractive",
        "0.01",
        "--loss",
        "mse",
        "--epochs",
        "2",
        "--batch",
        "10",
        "--out",
        &m2,
    ]);
    assert_eq!(t["variant"], "contractive-autoencoder");
    let info = json(&["info", &m2]);
    assert_eq!(info["sizes"], serde_json::json!([64, 24, 8]));
    assert_eq!(info["preprocess"], "none");
    assert!(info["hyperparameters"].as_str().unwrap().starts_with(
        "sizes=64,24,8 activations=sigmoid,sigmoid tied=true loss=squared-error sparsity=kl:0.1:0.5"
    ));
    encode(&m2, &p("valid.npy"), &p("c.csv"));
    assert_eq!(csv_width(&p("c.csv")), 8);
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn vae_train_sample_eval() {
    let d = scratch("vae");
    let p = in_dir(&d);
    write_npy(&d.join("x.npy"), 300);
    let (data, model) = (p("x.npy"), p("vae.latent"));
    let t = json(&[
        "train", "vae", "--data", &data, "--hidden", "32", "--latent", "4", "--epochs", "6",
        "--batch", "20", "--lr", "0.005", "--out", &model,
    ]);
    assert_eq!(t["sizes"], serde_json::json!([64, 32, 4]));
    assert_eq!(t["output"], "bernoulli");
    let h = t["history"].as_array().unwrap();
    assert!(h[5]["train_loss"].as_f64().unwrap() < h[0]["train_loss"].as_f64().unwrap());
    assert!(h[0]["elbo"].as_f64().is_some() && h[0]["kl"].as_f64().is_some());

    let s = json(&[
        "sample",
        &model,
        "-n",
        "12",
        "--png",
        &p("s.png"),
        "--out",
        &p("s.npy"),
        "--seed",
        "4",
    ]);
    assert_eq!(s["shape"], serde_json::json!([12, 64]));
    check_png(&d.join("s.png"));
    let samples = npy::read_matrix(p("s.npy")).unwrap();
    assert!(samples.as_slice().iter().all(|&v| (0.0..=1.0).contains(&v)));

    let e = json(&["eval", &model, "--data", &data, "--iw-samples", "20"]);
    let (elbo, ll) = (
        e["elbo"].as_f64().unwrap(),
        e["log_likelihood_iw"].as_f64().unwrap(),
    );
    assert!(elbo < 0.0 && ll < 0.0, "{e}");
    // The importance-weighted bound is at least the ELBO (up to noise).
    assert!(ll > elbo - 0.5, "{e}");
    assert!((t["elbo"].as_f64().unwrap() - elbo).abs() < 1.0, "{t} {e}");

    let sc = json(&["score", &model, "--data", &data, "--out", &p("sc.npy")]);
    assert_eq!(sc["metric"], "neg-elbo");
    assert!(
        (sc["mean"].as_f64().unwrap() + elbo).abs() < 1.0,
        "{sc} {e}"
    );
    encode(&model, &data, &p("z.npy"));
    assert_eq!(npy::read_matrix(p("z.npy")).unwrap().shape(), (300, 4));
    ok(&["filters", &model, "--out", &p("f.png"), "-q"]);
    check_png(&d.join("f.png"));
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn deep_ae_pretrains_unrolls_and_fine_tunes() {
    let d = scratch("deep-ae");
    let p = in_dir(&d);
    write_idx(&d.join("x-ubyte"), 200, 8);
    let data = p("x-ubyte");
    for (pretrain, extra) in [
        ("ae", vec!["--noise", "gaussian:0.1"]),
        ("rbm", vec!["--cd-k", "2"]),
    ] {
        let model = p(&format!("{pretrain}.latent"));
        let mut args = vec![
            "train",
            "deep-ae",
            "--data",
            &data,
            "--layers",
            "64,16,6",
            "--pretrain",
            pretrain,
            "--pretrain-epochs",
            "2",
            "--epochs",
            "3",
            "--batch",
            "20",
            "--out",
            &model,
        ];
        args.extend(extra);
        let t = json(&args);
        assert_eq!(t["epochs_run"], 2 * 2 + 3, "{t}");
        let info = json(&["info", &model]);
        assert_eq!(info["kind"], "deep-ae");
        assert_eq!(info["sizes"], serde_json::json!([64, 16, 6]));
        let hyper = info["hyperparameters"].as_str().unwrap();
        assert!(
            hyper.contains(&format!("pretrain: {pretrain} epochs=2 phase=finetune")),
            "{hyper}"
        );
        let history = info["history"].as_array().unwrap();
        assert_eq!(history.len(), 7);
        assert_eq!(history[2]["metrics"]["layer"], 1.0);
        assert!(history[6]["metrics"].get("layer").is_none());
        encode(&model, &data, &p("codes.npy"));
        assert_eq!(npy::read_matrix(p("codes.npy")).unwrap().shape(), (200, 6));
        let e = json(&["eval", &model, "--data", &data]);
        assert!(e["reconstruction_error"].as_f64().unwrap().is_finite());
        ok(&[
            "reconstruct",
            &model,
            "--data",
            &data,
            "--png",
            &p("r.png"),
            "-q",
        ]);
        check_png(&d.join("r.png"));
    }
    let _ = fs::remove_dir_all(&d);
}
