//! `latent train dbm` and the commands on a DBM file: info, encode (top,
//! one layer, all layers), reconstruct, score, sample, filters, export; a
//! resumed run against an uninterrupted one (pretrained or not); eval's
//! bound, exact values and AIS.

use std::fs;

use super::common::{check_png, fails, in_dir, json, ok, scratch, write_idx};
use latent::engine::data::npy;
use serde_json::Value;

/// `latent train dbm` on `data` with `extra` flags, writing `out`.
fn train(data: &str, out: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "train", "dbm", "--data", data, "--batch", "20", "--seed", "3", "--out", out,
    ];
    args.extend_from_slice(extra);
    json(&args)
}

#[test]
fn train_then_every_command_on_a_dbm_file() {
    let d = scratch("dbm-roundtrip");
    let p = in_dir(&d);
    write_idx(&d.join("images-ubyte"), 120, 6);
    let (data, model) = (p("images-ubyte"), p("m.latent"));
    let flags = [
        "--layers", "36,12,8", "--epochs", "3", "--cd-k", "2", "--chains", "30",
    ];
    let t = train(
        &data,
        &model,
        &[&flags[..], &["--mf-iters", "5", "--mf-tol", "0.001"]].concat(),
    );
    assert_eq!(t["kind"], "dbm");
    assert_eq!(t["sizes"], serde_json::json!([36, 12, 8]));
    assert_eq!(t["epochs_run"], 3);
    assert!(t["last_epoch_reconstruction_error"].as_f64().unwrap() > 0.0);
    assert!(t["history"][0]["mf_iters"].as_f64().unwrap() >= 1.0);

    let info = json(&["info", &model]);
    assert_eq!(info["kind"], "dbm");
    assert_eq!(info["epochs"], 3);
    let text = ok(&["info", &model]);
    assert!(
        text.contains("sizes=36,12,8 mf_iters=5 mf_tol=0.001 chains=30 cd_k=2"),
        "{text}"
    );

    let enc = |extra: &[&str], out: &str| {
        let mut a = vec!["encode", &model, "--data", &data, "--out", out, "-q"];
        a.extend_from_slice(extra);
        ok(&a);
        npy::read_matrix(out).unwrap()
    };
    let top = enc(&[], &p("top.npy"));
    assert_eq!(top.shape(), (120, 8));
    assert!(top.as_slice().iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert_eq!(enc(&["--layer", "1"], &p("l1.npy")).shape(), (120, 12));
    let all = enc(&["--all-layers"], &p("all.npy"));
    assert_eq!(all.shape(), (120, 20));
    assert_eq!(
        &all.as_slice()[12..20],
        &top.as_slice()[..8],
        "the top layer comes last"
    );
    let e = fails(&[
        "encode",
        &model,
        "--data",
        &data,
        "--out",
        &p("x.npy"),
        "--layer",
        "3",
    ]);
    assert!(e.contains("--layer") && e.contains("DBM"), "{e}");

    ok(&[
        "reconstruct",
        &model,
        "--data",
        &data,
        "--out",
        &p("r.npy"),
        "-q",
    ]);
    assert_eq!(npy::read_matrix(p("r.npy")).unwrap().shape(), (120, 36));
    let s = json(&["score", &model, "--data", &data, "--out", &p("s.csv")]);
    assert_eq!(s["metric"], "recon");
    let e = fails(&[
        "score",
        &model,
        "--data",
        &data,
        "--out",
        &p("s.csv"),
        "--metric",
        "free-energy",
    ]);
    assert!(e.contains("--metric") && e.contains("dbm"), "{e}");
    ok(&[
        "sample",
        &model,
        "-n",
        "9",
        "--steps",
        "20",
        "--png",
        &p("samples.png"),
        "--out",
        &p("samples.npy"),
        "-q",
    ]);
    check_png(&d.join("samples.png"));
    assert_eq!(npy::read_matrix(p("samples.npy")).unwrap().shape(), (9, 36));
    let c = json(&[
        "sample",
        &model,
        "-n",
        "100",
        "--from-chains",
        "--out",
        &p("chains.npy"),
    ]);
    assert_eq!(
        c["shape"],
        serde_json::json!([30, 36]),
        "as many as the 30 chains"
    );
    ok(&["filters", &model, "--out", &p("filters.png"), "-q"]);
    check_png(&d.join("filters.png"));
    ok(&["export", &model, "--out", &p("export"), "-q"]);
    for name in ["W1", "W2", "b0", "b1", "b2"] {
        assert!(
            d.join("export").join(format!("{name}.npy")).exists(),
            "{name}"
        );
    }
    assert_eq!(
        npy::read_matrix(p("export/W2.npy")).unwrap().shape(),
        (12, 8)
    );

    // Small enough for the exact values (ln Z over the 12 units of h¹,
    // every row over the 8 of h²), without being asked.
    let e = json(&["eval", &model, "--data", &data]);
    assert_eq!(e["samples"], 120);
    assert!(e["reconstruction_error"].as_f64().unwrap() > 0.0);
    assert_eq!(e["mf_iters"], 5, "the model's mean-field settings");
    let (ll, bound) = (
        e["log_likelihood_exact"].as_f64().unwrap(),
        e["bound_exact"].as_f64().unwrap(),
    );
    assert!(
        bound <= ll && ll < 0.0,
        "bound {bound}, log-likelihood {ll}"
    );
    assert!(e["log_z_exact"].as_f64().is_some() && e.get("log_z_ais").is_none());
}

#[test]
fn a_resumed_dbm_run_gives_the_same_model_as_an_uninterrupted_one() {
    let d = scratch("dbm-resume");
    let p = in_dir(&d);
    write_idx(&d.join("images-ubyte"), 90, 5);
    let data = p("images-ubyte");
    let layers = ["--layers", "25,10,6", "--cd-k", "2"];
    train(
        &data,
        &p("whole.latent"),
        &[&layers[..], &["--epochs", "4"]].concat(),
    );
    // Two epochs, written every epoch, then resumed to four.
    let half = train(
        &data,
        &p("half.latent"),
        &[&layers[..], &["--epochs", "2", "--checkpoint-every", "1"]].concat(),
    );
    assert_eq!(half["epochs_run"], 2);
    let r = json(&[
        "train",
        "dbm",
        "--data",
        &data,
        "--epochs",
        "4",
        "--resume",
        &p("half.latent"),
        "--out",
        &p("resumed.latent"),
    ]);
    assert_eq!(r["epochs_run"], 2);
    assert_eq!(r["epochs_total"], 4);
    for (name, file) in [("whole", "whole.latent"), ("resumed", "resumed.latent")] {
        ok(&["export", &p(file), "--out", &p(name), "-q"]);
    }
    for t in ["W1", "W2", "b0", "b1", "b2"] {
        let (a, b) = (
            fs::read(p(&format!("whole/{t}.npy"))).unwrap(),
            fs::read(p(&format!("resumed/{t}.npy"))).unwrap(),
        );
        assert!(a == b, "{t} differs after the resume");
    }
    // Flags that disagree with the resumed model are refused.
    let e = fails(&[
        "train",
        "dbm",
        "--data",
        &data,
        "--resume",
        &p("half.latent"),
        "--out",
        &p("x.latent"),
        "--layers",
        "25,9,6",
    ]);
    assert!(e.contains("--layers"), "{e}");
    let e = fails(&[
        "train",
        "dbm",
        "--data",
        &data,
        "--resume",
        &p("half.latent"),
        "--out",
        &p("x.latent"),
        "--mf-iters",
        "3",
    ]);
    assert!(e.contains("configuration"), "{e}");
}

#[test]
fn a_bf16_dbm_keeps_its_precision_and_encodes_near_f32() {
    let d = scratch("dbm-bf16");
    let p = in_dir(&d);
    write_idx(&d.join("images-ubyte"), 60, 5);
    let data = p("images-ubyte");
    let flags = [
        "--layers",
        "25,10,6",
        "--epochs",
        "2",
        "--precision",
        "bf16",
    ];
    train(&data, &p("b.latent"), &flags);
    assert_eq!(json(&["info", &p("b.latent")])["precision"], "bf16");
    ok(&[
        "encode",
        &p("b.latent"),
        "--data",
        &data,
        "--out",
        &p("b.npy"),
        "-q",
    ]);
    let out = p("f.npy");
    let f32_flags = ["--data", &data, "--out", &out, "--precision", "f32", "-q"];
    ok(&[&["encode", &p("b.latent")][..], &f32_flags].concat());
    let (b, f) = (
        npy::read_matrix(p("b.npy")).unwrap(),
        npy::read_matrix(out).unwrap(),
    );
    let worst = b
        .as_slice()
        .iter()
        .zip(f.as_slice())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(worst > 0.0 && worst < 0.05, "bf16 vs f32 features: {worst}");
}

/// `eval --json` of `model` on `data` with `extra` flags.
fn eval(model: &str, data: &str, extra: &[&str]) -> Value {
    let mut args = vec!["eval", model, "--data", data];
    args.extend_from_slice(extra);
    json(&args)
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing: {v}"))
}

/// A pretrained tiny DBM (16-10-6, small enough to enumerate): its bound
/// is at most its exact log-likelihood, with the exact ln Z and with AIS's;
/// AIS's ±3σ interval holds the exact ln Z; more mean-field sweeps do not
/// lower the bound.
#[test]
fn eval_of_a_pretrained_dbm_bounds_its_exact_likelihood_and_ais_finds_its_log_z() {
    let d = scratch("dbm-eval");
    let p = in_dir(&d);
    write_idx(&d.join("images-ubyte"), 100, 4);
    let (data, model) = (p("images-ubyte"), p("m.latent"));
    let t = train(
        &data,
        &model,
        &[
            "--layers",
            "16,10,6",
            "--epochs",
            "5",
            "--pretrain-epochs",
            "5",
        ],
    );
    assert_eq!(t["pretrain_epochs_run"], 10, "two RBMs of five epochs");
    assert_eq!(t["epochs_run"], 5);
    assert_eq!(t["pretrain"]["epochs"], 5);
    assert!((num(&t["pretrain"], "lr") - 0.05).abs() < 1e-9);
    let info = ok(&["info", &model]);
    assert!(
        info.contains("train: epochs=5 optimizer=sgd lr=0.001 "),
        "{info}"
    );
    let e = eval(
        &model,
        &data,
        &[
            "--ais",
            "--ais-runs",
            "100",
            "--ais-steps",
            "2000",
            "--seed",
            "4",
        ],
    );
    for key in [
        "samples",
        "reconstruction_error",
        "mf_iters",
        "mf_tol",
        "mf_sweeps",
        "log_z_exact",
        "log_likelihood_exact",
        "bound_exact",
        "log_z_ais",
        "log_z_ais_minus_3sd",
        "log_z_ais_plus_3sd",
        "bound_ais",
        "bound_ais_low",
        "bound_ais_high",
        "ais_runs",
        "ais_temperatures",
    ] {
        assert!(!e[key].is_null(), "{key} missing: {e}");
    }
    let (z, ll) = (num(&e, "log_z_exact"), num(&e, "log_likelihood_exact"));
    let (lo, hi) = (
        num(&e, "log_z_ais_minus_3sd"),
        num(&e, "log_z_ais_plus_3sd"),
    );
    assert!(
        lo <= z && z <= hi,
        "exact ln Z {z} outside AIS's [{lo}, {hi}]"
    );
    assert!(num(&e, "bound_exact") <= ll, "{e}");
    assert!(num(&e, "bound_ais_low") <= ll, "{e}");
    assert!(
        (num(&e, "bound_ais") - num(&e, "bound_exact") - (z - num(&e, "log_z_ais"))).abs() < 1e-9,
        "the two bounds differ by the two ln Z: {e}"
    );
    assert_eq!(e["ais_runs"], 100);
    // More sweeps, no tolerance: the bound does not fall (coordinate
    // ascent), and stays below the log-likelihood.
    let more = eval(&model, &data, &["--mf-iters", "60", "--mf-tol", "0"]);
    assert_eq!(more["mf_sweeps"], 60);
    assert!(more.get("log_z_ais").is_none());
    let (b0, b1) = (num(&e, "bound_exact"), num(&more, "bound_exact"));
    assert!(b1 >= b0 - 1e-6 && b1 <= ll, "{b0} then {b1}, ll {ll}");
    // Human output names the bound.
    let text = ok(&[
        "eval",
        &model,
        "--data",
        &data,
        "--ais",
        "--ais-runs",
        "10",
        "--ais-steps",
        "100",
    ]);
    assert!(
        text.contains("log Z (AIS):") && text.contains("bound (AIS log Z):"),
        "{text}"
    );
}

/// A pretrained run written every epoch, resumed: the joint training goes on
/// exactly (no second pretraining); pretraining flags that disagree with
/// the file are refused.
#[test]
fn a_resumed_pretrained_dbm_continues_its_joint_training() {
    let d = scratch("dbm-pre-resume");
    let p = in_dir(&d);
    write_idx(&d.join("images-ubyte"), 60, 4);
    let data = p("images-ubyte");
    let flags = [
        "--layers",
        "16,8,6",
        "--pretrain-epochs",
        "3",
        "--pretrain-lr",
        "0.04",
    ];
    train(
        &data,
        &p("whole.latent"),
        &[&flags[..], &["--epochs", "4"]].concat(),
    );
    let half = &[&flags[..], &["--epochs", "2", "--checkpoint-every", "1"]].concat();
    train(&data, &p("half.latent"), half);
    let resume = |extra: &[&str]| {
        let mut a = vec!["train", "dbm", "--data", &data, "--epochs", "4", "--resume"];
        let (half, out) = (p("half.latent"), p("resumed.latent"));
        a.extend_from_slice(&[&half, "--out", &out]);
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let args = resume(&["--pretrain-epochs", "3", "--pretrain-lr", "0.04"]);
    let r = json(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r["epochs_run"], 2);
    assert_eq!(r["pretrain_epochs_run"], 0);
    assert_eq!(r["pretrain"]["epochs"], 3);
    for (name, file) in [("whole", "whole.latent"), ("resumed", "resumed.latent")] {
        ok(&["export", &p(file), "--out", &p(name), "-q"]);
    }
    for t in ["W1", "W2", "b0", "b1", "b2"] {
        let (a, b) = (
            fs::read(p(&format!("whole/{t}.npy"))).unwrap(),
            fs::read(p(&format!("resumed/{t}.npy"))).unwrap(),
        );
        assert!(a == b, "{t} differs after the resume");
    }
    let info = ok(&["info", &p("resumed.latent")]);
    assert!(info.contains("pretrain: epochs=3 lr=0.04 cd_k=1"), "{info}");
    for extra in [
        &["--pretrain-epochs", "4"][..],
        &["--pretrain-epochs", "3", "--pretrain-lr", "0.05"],
    ] {
        let args = resume(extra);
        let e = fails(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            e.contains("--pretrain-epochs") && e.contains("epochs=3 lr=0.04"),
            "{e}"
        );
    }
}
