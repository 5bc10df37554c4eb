//! `latent train psd` and the commands on a PSD file: info, encode (the
//! fast encoder and `--exact`), reconstruct, score (energy, recon),
//! filters (the dictionary's atoms); a resumed run against an
//! uninterrupted one; the same bits on 1 and 2 threads.

use std::fs;

use super::common::{check_png, in_dir, json, ok, scratch, write_idx};
use latent::engine::data::npy;

/// `latent train psd` on `data` with `extra` flags, writing `out`.
fn train(data: &str, out: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "train", "psd", "--data", data, "--batch", "20", "--seed", "3", "--out", out, "--codes",
        "12", "--lambda", "0.3", "--alpha", "0.5", "--lr", "0.01",
    ];
    args.extend_from_slice(extra);
    json(&args)
}

#[test]
fn train_then_every_command_on_a_psd_file() {
    let d = scratch("psd-roundtrip");
    let p = in_dir(&d);
    write_idx(&d.join("images-ubyte"), 100, 6);
    let (data, model) = (p("images-ubyte"), p("m.latent"));
    let t = train(&data, &model, &["--epochs", "4", "--fista-iters", "50"]);
    assert_eq!(t["kind"], "psd");
    assert_eq!(t["codes"], 12);
    assert_eq!(t["encoder"], "tanh");
    assert_eq!(t["epochs_run"], 4);
    let energy = t["energy"].as_f64().unwrap();
    assert!(energy > 0.0);
    let pred = |e: usize| t["history"][e]["pred"].as_f64().unwrap();
    assert!(
        pred(3) < pred(0),
        "prediction error {} -> {}",
        pred(0),
        pred(3)
    );

    let text = ok(&["info", &model]);
    assert!(
        text.contains(
            "n_visible=36 codes=12 lambda=0.3 alpha=0.5 encoder=tanh fista_iters=50 fista_tol=0.0001"
        ),
        "{text}"
    );
    assert!(text.contains("D          12 x 36"), "{text}");

    let enc = |extra: &[&str], out: &str| {
        let mut a = vec!["encode", &model, "--data", &data, "--out", out, "-q"];
        a.extend_from_slice(extra);
        ok(&a);
        npy::read_matrix(out).unwrap()
    };
    let fast = enc(&[], &p("fast.npy"));
    let exact = enc(&["--exact"], &p("exact.npy"));
    assert_eq!(fast.shape(), (100, 12));
    assert_eq!(exact.shape(), (100, 12));
    assert!(fast.as_slice() != exact.as_slice());
    let zeros = exact.as_slice().iter().filter(|&&v| v == 0.0).count();
    assert!(zeros > 0, "the exact codes are sparse");

    ok(&[
        "reconstruct",
        &model,
        "--data",
        &data,
        "--out",
        &p("r.npy"),
        "-q",
    ]);
    assert_eq!(npy::read_matrix(p("r.npy")).unwrap().shape(), (100, 36));
    let s = json(&["score", &model, "--data", &data, "--out", &p("e.npy")]);
    assert_eq!(s["metric"], "energy");
    let mean = s["mean"].as_f64().unwrap();
    assert!((mean - energy).abs() <= 1e-4 * energy, "{mean} vs {energy}");
    let s = json(&[
        "score",
        &model,
        "--data",
        &data,
        "--out",
        &p("r2.npy"),
        "--metric",
        "recon",
    ]);
    assert_eq!(s["metric"], "recon");

    let f = json(&["filters", &model, "--out", &p("atoms.png")]);
    assert_eq!(f["filters"], 12);
    assert_eq!(f["tile"], serde_json::json!([6, 6]));
    check_png(&d.join("atoms.png"));
    fs::remove_dir_all(&d).ok();
}

#[test]
fn a_resumed_run_and_two_threads_give_the_same_bits() {
    let d = scratch("psd-resume");
    let p = in_dir(&d);
    write_idx(&d.join("images-ubyte"), 60, 6);
    let data = p("images-ubyte");
    let flags = ["--encoder", "shrink", "--fista-iters", "30"];
    train(
        &data,
        &p("whole.latent"),
        &[&flags[..], &["--epochs", "4"]].concat(),
    );
    train(
        &data,
        &p("half.latent"),
        &[&flags[..], &["--epochs", "2"]].concat(),
    );
    let half = p("half.latent");
    let r = json(&[
        "train", "psd", "--data", &data, "--resume", &half, "--epochs", "4", "--out", &half,
    ]);
    assert_eq!(r["epochs_total"], 4);
    let two_out = p("two.latent");
    let mut args = vec![
        "--threads",
        "2",
        "train",
        "psd",
        "--data",
        &data,
        "--out",
        &two_out,
    ];
    args.extend([
        "--batch", "20", "--seed", "3", "--codes", "12", "--lambda", "0.3", "--alpha", "0.5",
        "--lr", "0.01", "--epochs", "4",
    ]);
    args.extend(flags);
    let t2 = json(&args);
    assert_eq!(t2["encoder"], "shrink");
    let codes = |m: &str| {
        let out = p(&format!("{m}.npy"));
        ok(&[
            "--threads",
            "1",
            "encode",
            &p(m),
            "--data",
            &data,
            "--out",
            &out,
            "--exact",
            "-q",
        ]);
        fs::read(out).unwrap()
    };
    let whole = codes("whole.latent");
    assert!(whole == codes("half.latent"), "the resumed run differs");
    assert!(whole == codes("two.latent"), "2 threads differ from 1");
    fs::remove_dir_all(&d).ok();
}
