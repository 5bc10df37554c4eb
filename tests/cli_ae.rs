//! End-to-end tests of `latent train ae | vae | deep-ae` and of the other
//! subcommands on their model files: round trips on small IDX and NPY files
//! written here, `--resume` and `--checkpoint-every` (bit-identical to an
//! uninterrupted run, also after a run is killed), and bad inputs (one
//! `latent: error:` line naming the problem, an existing output file left
//! as it was). Every run is a few hundred samples of 64 features: seconds
//! in all.

mod cli_common;

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use cli_common::{
    bin, check_png, csv_width, encode, fails, in_dir, json, keep, kept, ok, scratch, write_idx,
};
use latent::engine::data::npy;
use latent::engine::{Checkpoint, Matrix};

/// The parameters of two model files are bit-identical.
fn same_params(a: &Path, b: &Path) {
    let (a, b) = (Checkpoint::load(a).unwrap(), Checkpoint::load(b).unwrap());
    assert_eq!(a.params.len(), b.params.len());
    for (x, y) in a.params.tensors().iter().zip(b.params.tensors()) {
        assert_eq!(x.name, y.name);
        assert_eq!(x.value.as_slice(), y.value.as_slice(), "tensor {}", x.name);
    }
}

/// `n` rows of 64 features in [0, 1] (bars with grey noise), as NPY.
fn write_npy(path: &Path, n: usize) {
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

#[test]
fn resume_and_checkpoint_every_continue_exactly() {
    let d = scratch("resume");
    let p = in_dir(&d);
    write_idx(&d.join("x-ubyte"), 200, 8);
    let data = p("x-ubyte");
    let base = |epochs: &'static str, out: String| -> Vec<String> {
        [
            "train", "ae", "--data", &data, "--hidden", "12", "--noise", "mask:0.2", "--epochs",
            epochs, "--batch", "20", "--seed", "5", "--out", &out, "-q",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |args: Vec<String>| ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    run(base("6", p("full.latent")));
    // Every 2 epochs: the same model in the end.
    let mut every = base("6", p("every.latent"));
    every.extend(["--checkpoint-every".into(), "2".into()]);
    run(every);
    same_params(&d.join("full.latent"), &d.join("every.latent"));
    // 2 epochs, then resumed up to 6 (flags from the file: no --seed, no
    // --noise, no --batch).
    run(base("2", p("half.latent")));
    let r = json(&[
        "train",
        "ae",
        "--data",
        &data,
        "--epochs",
        "6",
        "--resume",
        &p("half.latent"),
        "--out",
        &p("resumed.latent"),
    ]);
    assert_eq!(r["epochs_run"], 4);
    assert_eq!(r["epochs_total"], 6);
    same_params(&d.join("full.latent"), &d.join("resumed.latent"));
    assert_eq!(json(&["info", &p("resumed.latent")])["epochs"], 6);
    // A VAE and a DBN resume too.
    ok(&[
        "train",
        "vae",
        "--data",
        &data,
        "--hidden",
        "16",
        "--latent",
        "3",
        "--epochs",
        "3",
        "--batch",
        "20",
        "--out",
        &p("v.latent"),
        "-q",
    ]);
    let v = json(&[
        "train",
        "vae",
        "--data",
        &data,
        "--epochs",
        "4",
        "--resume",
        &p("v.latent"),
        "--out",
        &p("v.latent"),
    ]);
    assert_eq!(v["epochs_run"], 1);
    ok(&[
        "train",
        "dbn",
        "--data",
        &data,
        "--layers",
        "64,16,6",
        "--epochs",
        "2",
        "--batch",
        "20",
        "--out",
        &p("dbn.latent"),
        "-q",
    ]);
    let r = json(&[
        "train",
        "dbn",
        "--data",
        &data,
        "--epochs",
        "3",
        "--resume",
        &p("dbn.latent"),
        "--out",
        &p("dbn3.latent"),
    ]);
    // The top layer goes on to 3 epochs; the bottom one stays as it was.
    assert_eq!(r["epochs_run"], 1);
    assert_eq!(json(&["info", &p("dbn3.latent")])["epochs"], 5);
    let _ = fs::remove_dir_all(&d);
}

/// A deep autoencoder killed during pretraining: the last file written by
/// `--checkpoint-every 1` is a usable model marked unfinished, and resuming
/// it ends exactly where an uninterrupted run ends.
#[test]
fn killed_run_resumes_from_its_last_checkpoint() {
    let d = scratch("killed");
    let p = in_dir(&d);
    write_npy(&d.join("x.npy"), 400);
    let data = p("x.npy");
    let common = [
        "--data", &data, "--layers", "64,32,8", "--batch", "10", "--seed", "9",
    ];
    let out = d.join("run.latent");
    let mut child = bin()
        .args(["train", "deep-ae"])
        .args(common)
        .args([
            "--pretrain-epochs",
            "100000",
            "--epochs",
            "100000",
            "--checkpoint-every",
            "1",
            "-q",
            "--out",
            &p("run.latent"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !out.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no checkpoint written"
        );
        assert!(child.try_wait().unwrap().is_none(), "training ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    fs::copy(&out, d.join("killed.latent")).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();

    let info = json(&["info", &p("killed.latent")]);
    let status = info["status"].as_str().unwrap();
    assert!(
        status.starts_with("unfinished: pretraining layer 1 of 2"),
        "{status}"
    );
    let done = info["epochs"].as_u64().unwrap();
    assert!(done >= 1);
    // Usable as it is: the pretrained layer so far, unrolled.
    encode(&p("killed.latent"), &data, &p("k.npy"));
    assert_eq!(npy::read_matrix(p("k.npy")).unwrap().shape(), (400, 32));

    // Resume with shorter targets; compare with an uninterrupted run to the
    // same targets (the epoch count does not change any epoch's work).
    let pre = (done + 2).to_string();
    ok(&[
        "train",
        "deep-ae",
        "--data",
        &data,
        "--pretrain-epochs",
        &pre,
        "--epochs",
        "2",
        "--resume",
        &p("killed.latent"),
        "--out",
        &p("resumed.latent"),
        "-q",
    ]);
    let mut full = vec!["train", "deep-ae"];
    full.extend(common);
    full.extend([
        "--pretrain-epochs",
        &pre,
        "--epochs",
        "2",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    let _ = fs::remove_file(&out);
    ok(&full);
    same_params(&out, &d.join("resumed.latent"));
    let info = json(&["info", &p("resumed.latent")]);
    assert!(info["status"].is_null(), "{info}");
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn bad_autoencoder_inputs_fail_with_one_line_and_keep_outputs() {
    let d = scratch("ae-bad");
    let p = in_dir(&d);
    write_idx(&d.join("a-ubyte"), 60, 8);
    let data = p("a-ubyte");
    let model = p("m.latent");
    ok(&[
        "train", "ae", "--data", &data, "--hidden", "4", "--epochs", "1", "--out", &model, "-q",
    ]);
    let vae = p("v.latent");
    ok(&[
        "train", "vae", "--data", &data, "--hidden", "8", "--latent", "2", "--epochs", "1",
        "--out", &vae, "-q",
    ]);
    let out = keep(d.join("out.latent"));
    let train = |extra: &[&str]| {
        let mut a = vec![
            "train",
            "ae",
            "--data",
            &data,
            "--out",
            out.to_str().unwrap(),
        ];
        a.extend(extra);
        let e = fails(&a);
        kept(&out);
        e
    };

    // Noise, sparsity and activation syntax.
    for bad in [
        "blur:0.3",
        "mask",
        "mask:1.5",
        "gaussian:-1",
        "salt-pepper:0.1:0",
    ] {
        let e = train(&["--hidden", "4", "--noise", bad]);
        assert!(
            e.contains("--noise") && e.contains(bad) && e.contains("mask:NU"),
            "{e}"
        );
    }
    for bad in ["l1", "l2:0.1", "kl:1.5"] {
        let e = train(&["--hidden", "4", "--sparsity", bad]);
        assert!(e.contains("--sparsity") && e.contains("kl:RHO"), "{e}");
    }
    let e = train(&["--hidden", "4", "--activation", "gelu"]);
    assert!(e.contains("--activation") && e.contains("gelu"), "{e}");
    let e = train(&["--layers", "64,8,4", "--activation", "relu,relu,relu"]);
    assert!(
        e.contains("--activation") && e.contains("one per encoder layer"),
        "{e}"
    );
    // KL sparsity needs a sigmoid code layer.
    let e = train(&[
        "--hidden",
        "4",
        "--activation",
        "relu",
        "--sparsity",
        "kl:0.1",
    ]);
    assert!(e.contains("sigmoid"), "{e}");
    // Layers that do not match the data's width.
    let e = train(&["--layers", "100,12"]);
    assert!(
        e.contains("--layers 100,12") && e.contains("expected 64, found 100"),
        "{e}"
    );
    let e = train(&[]);
    assert!(e.contains("--layers") && e.contains("missing"), "{e}");
    // Flags of other kinds.
    let e = train(&["--hidden", "4", "--latent", "3"]);
    assert!(e.contains("--latent") && e.contains("vae"), "{e}");
    let e = fails(&[
        "train",
        "vae",
        "--data",
        &data,
        "--hidden",
        "4",
        "--tied",
        "--out",
        &p("out.latent"),
    ]);
    assert!(e.contains("--tied") && e.contains("ae, deep-ae"), "{e}");
    kept(&out);
    let e = fails(&[
        "train",
        "deep-ae",
        "--data",
        &data,
        "--layers",
        "64,8,4",
        "--pretrain",
        "rbm",
        "--noise",
        "mask:0.1",
        "--out",
        &p("out.latent"),
    ]);
    assert!(e.contains("--noise with --pretrain rbm"), "{e}");
    kept(&out);
    // Cross-entropy needs targets in [0, 1].
    let wide = Matrix::from_fn(20, 64, |i, j| (i + j) as f32 - 30.0).unwrap();
    npy::write_matrix(d.join("wide.npy"), &wide).unwrap();
    let e = fails(&[
        "train",
        "ae",
        "--data",
        &p("wide.npy"),
        "--hidden",
        "4",
        "--loss",
        "bce",
        "--out",
        &p("out.latent"),
    ]);
    assert!(e.contains("wide.npy") && e.contains("[0, 1]"), "{e}");
    kept(&out);
    // Resuming with a different objective, or as another kind.
    let e = train(&["--resume", &model, "--noise", "mask:0.5"]);
    assert!(
        e.contains("configuration") && e.contains("noise=mask:0.5"),
        "{e}"
    );
    let e = fails(&[
        "train",
        "vae",
        "--data",
        &data,
        "--resume",
        &model,
        "--out",
        &p("out.latent"),
    ]);
    assert!(e.contains("model kind") && e.contains("found ae"), "{e}");
    kept(&out);

    // Commands that do not fit the model.
    let png = keep(d.join("s.png"));
    let e = fails(&["sample", &model, "--png", &p("s.png")]);
    assert!(e.contains("sample") && e.contains("ae models"), "{e}");
    kept(&png);
    let e = fails(&["eval", &vae, "--data", &data, "--ais"]);
    assert!(e.contains("--ais with a vae model"), "{e}");
    let npy_out = keep(d.join("o.npy"));
    let e = fails(&[
        "encode",
        &model,
        "--data",
        &data,
        "--layer",
        "2",
        "--out",
        &p("o.npy"),
    ]);
    assert!(e.contains("--layer"), "{e}");
    let e = fails(&[
        "score",
        &model,
        "--data",
        &data,
        "--metric",
        "free-energy",
        "--out",
        &p("o.npy"),
    ]);
    assert!(e.contains("free-energy") && e.contains("ae"), "{e}");
    kept(&npy_out);

    // A corrupted autoencoder file.
    let mut bytes = fs::read(&model).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    fs::write(d.join("bad.latent"), &bytes).unwrap();
    let e = fails(&[
        "encode",
        &p("bad.latent"),
        "--data",
        &data,
        "--out",
        &p("o.npy"),
    ]);
    assert!(e.contains("bad.latent") && e.contains("checksum"), "{e}");
    kept(&npy_out);
    let e = train(&["--resume", &p("bad.latent")]);
    assert!(e.contains("bad.latent") && e.contains("checksum"), "{e}");
    let _ = fs::remove_dir_all(&d);
}
