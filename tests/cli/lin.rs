//! Linear hidden units and the 2006 deep autoencoder: `latent train rbm
//! --hidden-units linear` with its exact likelihood, `latent train deep-ae
//! --recipe hinton2006` (a linear code layer's RBM, SGD pretraining at the
//! paper's rates, stored in the file), its exact resumption after a kill,
//! and the refusals.

use std::fs;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::ae::{same_params, write_npy};
use super::common::{bin, fails, in_dir, json, ok, scratch};
use latent::engine::Checkpoint;
use latent::engine::data::npy;

#[test]
fn a_linear_hidden_rbm_trains_and_has_an_exact_likelihood() {
    let d = scratch("lin-rbm");
    let p = in_dir(&d);
    write_npy(&d.join("x.npy"), 200);
    let data = p("x.npy");
    let (model, data) = (p("lin.latent"), data.as_str());
    let train = [
        "train",
        "rbm",
        "--data",
        data,
        "--hidden",
        "4",
        "--hidden-units",
        "linear",
        "--lr",
        "0.01",
        "--epochs",
        "3",
        "--out",
        &model,
        "-q",
    ];
    ok(&train);
    let ck = Checkpoint::load(std::path::Path::new(&model)).unwrap();
    assert!(
        ck.hyperparameters
            .lines()
            .next()
            .unwrap()
            .ends_with(" hidden=linear")
    );
    // 64 visibles: too many for the exact sum, and AIS is refused.
    let e = json(&["eval", &model, "--data", data]);
    assert!(e["log_z_exact"].is_null(), "{e}");
    let ais = fails(&["eval", &model, "--data", data, "--ais", "--ais-steps", "10"]);
    assert!(ais.contains("linear hiddens"), "{ais}");
    // The features are the means: real values, not probabilities.
    ok(&["encode", &model, "--data", data, "--out", &p("h.npy"), "-q"]);
    let h = npy::read_matrix(p("h.npy")).unwrap();
    assert_eq!(h.shape(), (200, 4));
    // A 9-visible model: the exact ln Z over the visibles.
    let x9 = latent::engine::Matrix::from_fn(60, 9, |i, j| ((i * 5 + j * 3) % 4 == 0) as u8 as f32)
        .unwrap();
    npy::write_matrix(d.join("x9.npy"), &x9).unwrap();
    let small = p("small.latent");
    ok(&[
        "train",
        "rbm",
        "--data",
        &p("x9.npy"),
        "--hidden",
        "30",
        "--hidden-units",
        "linear",
        "--lr",
        "0.01",
        "--epochs",
        "2",
        "--out",
        &small,
        "-q",
    ]);
    let e = json(&["eval", &small, "--data", &p("x9.npy")]);
    let (log_z, ll) = (
        e["log_z_exact"].as_f64().unwrap(),
        e["log_likelihood_exact"].as_f64().unwrap(),
    );
    assert!(
        log_z.is_finite() && ll < 0.0 && ll > -9.0 * 2f64.ln() - 5.0,
        "{e}"
    );
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn hidden_units_and_the_recipe_are_refused_where_they_do_not_apply() {
    let d = scratch("lin-refusals");
    let p = in_dir(&d);
    write_npy(&d.join("x.npy"), 40);
    let data = p("x.npy");
    let out = p("o.latent");
    let base = ["--data", data.as_str(), "--out", out.as_str()];
    let run = |extra: &[&str]| -> String {
        let mut a = vec!["train"];
        a.extend(extra);
        a.extend(base);
        fails(&a)
    };
    let e = run(&["gaussian-rbm", "--hidden", "4", "--hidden-units", "linear"]);
    assert!(
        e.contains("--hidden-units") && e.contains("it applies to rbm"),
        "{e}"
    );
    let e = run(&[
        "rbm",
        "--hidden",
        "4",
        "--hidden-units",
        "linear",
        "--sparsity",
        "0.1",
    ]);
    assert!(e.contains("sparsity"), "{e}");
    let e = run(&["ae", "--hidden", "4", "--recipe", "hinton2006"]);
    assert!(e.contains("--recipe") && e.contains("deep-ae"), "{e}");
    let e = run(&[
        "deep-ae",
        "--layers",
        "64,16,4",
        "--recipe",
        "hinton2006",
        "--pretrain",
        "ae",
    ]);
    assert!(e.contains("--pretrain ae"), "{e}");
    // A linear layer below the code: its codes would not be the next
    // RBM's [0, 1] data.
    let acts = ["--activation", "identity,sigmoid", "--pretrain", "rbm"];
    let e = run(&[&["deep-ae", "--layers", "64,16,4"][..], &acts[..]].concat());
    assert!(
        e.contains("--activation") && e.contains("code layer"),
        "{e}"
    );
    let e = run(&[
        "deep-ae",
        "--layers",
        "64,16,4",
        "--pretrain-optimizer",
        "adam",
        "--pretrain-momentum",
        "0.5",
    ]);
    assert!(e.contains("--pretrain-momentum"), "{e}");
    let _ = fs::remove_dir_all(&d);
}

/// The recipe's setup, as the file stores it; without pretraining flags the
/// lines are as before them.
#[test]
fn the_recipe_is_stored_in_the_file() {
    let d = scratch("lin-recipe");
    let p = in_dir(&d);
    write_npy(&d.join("x.npy"), 100);
    let data = p("x.npy");
    let args = |out: &str, extra: &[&'static str]| -> Vec<String> {
        let mut a: Vec<String> = ["train", "deep-ae", "--data", &data, "--layers", "64,16,4"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a.extend(["--out".into(), p(out), "-q".into()]);
        a
    };
    let run = |a: Vec<String>| ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    run(args(
        "r.latent",
        &[
            "--recipe",
            "hinton2006",
            "--pretrain-epochs",
            "2",
            "--epochs",
            "1",
        ],
    ));
    let text = Checkpoint::load(d.join("r.latent"))
        .unwrap()
        .hyperparameters;
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains("activations=sigmoid,identity")
            && lines[0].contains("loss=cross-entropy"),
        "{text}"
    );
    assert_eq!(
        lines[1],
        "pretrain: rbm epochs=2 phase=finetune optimizer=sgd lr=0.1 momentum=hinton weight_decay=0.0002 linear_lr=0.001"
    );
    assert!(lines[2].contains("init_std=0.1 "), "{text}");
    // The code layer is linear: real-valued codes, some outside [0, 1].
    ok(&[
        "encode",
        &p("r.latent"),
        "--data",
        &data,
        "--out",
        &p("c.npy"),
        "-q",
    ]);
    let c = npy::read_matrix(p("c.npy")).unwrap();
    assert!(c.as_slice().iter().any(|&v| !(0.0..=1.0).contains(&v)));
    // The recipe's defaults: 50 epochs per layer, 200 of fine-tuning.
    let defaults = json(&[
        "train",
        "deep-ae",
        "--data",
        &data,
        "--layers",
        "64,16,4",
        "--recipe",
        "hinton2006",
        "--batch",
        "100",
        "--pretrain-epochs",
        "1",
        "--out",
        &p("e.latent"),
        "-q",
    ]);
    assert_eq!(defaults["finetune_epochs_total"], 200, "{defaults}");
    // No pretraining flags: the pretrain line has no optimiser words.
    run(args(
        "plain.latent",
        &["--pretrain", "rbm", "--epochs", "1"],
    ));
    let plain = Checkpoint::load(d.join("plain.latent"))
        .unwrap()
        .hyperparameters;
    assert_eq!(
        plain.lines().nth(1).unwrap(),
        "pretrain: rbm epochs=1 phase=finetune"
    );
    let _ = fs::remove_dir_all(&d);
}

/// A recipe run killed while pretraining resumes (without the recipe flag:
/// the file holds its settings) to exactly the parameters of an
/// uninterrupted run, the linear code layer's RBM included.
#[test]
fn a_killed_recipe_run_resumes_exactly() {
    let d = scratch("lin-killed");
    let p = in_dir(&d);
    write_npy(&d.join("x.npy"), 300);
    let data = p("x.npy");
    let common = [
        "--data", &data, "--layers", "64,24,4", "--batch", "10", "--seed", "3",
    ];
    let out = d.join("run.latent");
    let mut child = bin()
        .args(["train", "deep-ae", "--recipe", "hinton2006"])
        .args(common)
        .args([
            "--pretrain-epochs",
            "100000",
            "--checkpoint-every",
            "1",
            "-q",
        ])
        .args(["--out", &p("run.latent")])
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
    let done = json(&["info", &p("killed.latent")])["epochs"]
        .as_u64()
        .unwrap();
    let pre = (done + 2).to_string();
    let targets = ["--pretrain-epochs", pre.as_str(), "--epochs", "2", "-q"];
    let mut resumed = vec!["train", "deep-ae", "--data", &data, "--resume"];
    let (killed, resumed_out) = (p("killed.latent"), p("resumed.latent"));
    resumed.extend([killed.as_str(), "--out", resumed_out.as_str()]);
    resumed.extend(targets);
    ok(&resumed);
    let _ = fs::remove_file(&out);
    let mut full = vec!["train", "deep-ae", "--recipe", "hinton2006"];
    full.extend(common);
    full.extend(targets);
    full.extend(["--out", out.to_str().unwrap()]);
    ok(&full);
    same_params(&out, &d.join("resumed.latent"));
    let _ = fs::remove_dir_all(&d);
}

/// `n` images of 64 pixels on a ring: a Gaussian bump (width 2 pixels) at
/// a position spread evenly (shifted by `offset`) round the ring, a curve
/// that PCA's planes do not follow.
fn ring_bumps(n: usize, offset: f64) -> latent::engine::Matrix {
    latent::engine::Matrix::from_fn(n, 64, |r, i| {
        let t = 64.0 * ((r as f64 * 0.618_034 + offset) % 1.0);
        let d = (i as f64 - t).abs();
        let d = d.min(64.0 - d);
        (-d * d / 8.0).exp() as f32
    })
    .unwrap()
}

/// Mean over the rows of `x` of `Σ_i (x_i − y_i)²`.
fn squared_error(x: &latent::engine::Matrix, y: &latent::engine::Matrix) -> f64 {
    let total: f64 = x
        .as_slice()
        .iter()
        .zip(y.as_slice())
        .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
        .sum();
    total / x.rows() as f64
}

/// The held-out squared error of PCA with `k` components fitted on
/// `train` (centred): the top eigenvectors of its covariance by power
/// iteration with deflation, in f64.
fn pca_error(train: &latent::engine::Matrix, test: &latent::engine::Matrix, k: usize) -> f64 {
    let (n, d) = (train.rows(), train.cols());
    let mean: Vec<f64> = (0..d)
        .map(|j| {
            (0..n)
                .map(|r| train.as_slice()[r * d + j] as f64)
                .sum::<f64>()
                / n as f64
        })
        .collect();
    let centred = |m: &latent::engine::Matrix, r: usize| -> Vec<f64> {
        (0..d)
            .map(|j| m.as_slice()[r * d + j] as f64 - mean[j])
            .collect()
    };
    let mut cov = vec![0.0f64; d * d];
    for r in 0..n {
        let x = centred(train, r);
        for a in 0..d {
            for b in 0..d {
                cov[a * d + b] += x[a] * x[b] / n as f64;
            }
        }
    }
    let mut basis: Vec<Vec<f64>> = Vec::new();
    for c in 0..k {
        let mut v: Vec<f64> = (0..d).map(|j| 1.0 + ((j * 7 + c * 3) % 5) as f64).collect();
        for _ in 0..2000 {
            let mut w: Vec<f64> = (0..d)
                .map(|a| (0..d).map(|b| cov[a * d + b] * v[b]).sum())
                .collect();
            for u in &basis {
                let dot: f64 = w.iter().zip(u).map(|(a, b)| a * b).sum();
                w.iter_mut().zip(u).for_each(|(a, b)| *a -= dot * b);
            }
            let norm = w.iter().map(|a| a * a).sum::<f64>().sqrt();
            v = w.into_iter().map(|a| a / norm).collect();
        }
        basis.push(v);
    }
    let mut total = 0.0;
    for r in 0..test.rows() {
        let x = centred(test, r);
        let mut resid = x.clone();
        for u in &basis {
            let dot: f64 = x.iter().zip(u).map(|(a, b)| a * b).sum();
            resid.iter_mut().zip(u).for_each(|(a, b)| *a -= dot * b);
        }
        total += resid.iter().map(|a| a * a).sum::<f64>();
    }
    total / test.rows() as f64
}

/// The 2006 pipeline end to end on held-out data: RBM pretraining with a
/// linear 2-unit code layer, fine-tuning, then reconstructions of unseen
/// images beat PCA with as many components by far (on a ring, which no
/// plane follows).
#[test]
fn the_recipe_beats_pca_with_as_many_components_on_held_out_data() {
    let d = scratch("lin-vs-pca");
    let p = in_dir(&d);
    let (train, test) = (ring_bumps(2000, 0.0), ring_bumps(500, 0.3));
    npy::write_matrix(d.join("train.npy"), &train).unwrap();
    npy::write_matrix(d.join("test.npy"), &test).unwrap();
    ok(&[
        "train",
        "deep-ae",
        "--data",
        &p("train.npy"),
        "--layers",
        "64,32,16,2",
        "--recipe",
        "hinton2006",
        "--pretrain-epochs",
        "10",
        "--epochs",
        "30",
        "--batch",
        "20",
        "--out",
        &p("ae.latent"),
        "-q",
    ]);
    ok(&[
        "reconstruct",
        &p("ae.latent"),
        "--data",
        &p("test.npy"),
        "--out",
        &p("r.npy"),
        "-q",
    ]);
    let recon = npy::read_matrix(p("r.npy")).unwrap();
    let (ae, pca) = (squared_error(&test, &recon), pca_error(&train, &test, 2));
    eprintln!("held-out squared error per image: deep autoencoder {ae:.4}, PCA-2 {pca:.4}");
    assert!(ae < 0.25 * pca, "deep autoencoder {ae} vs PCA-2 {pca}");
    let _ = fs::remove_dir_all(&d);
}
