//! `--resume` and `--checkpoint-every` of the autoencoders: bit-identical
//! to an uninterrupted run, also after a run is killed.

use std::fs;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::ae::{same_params, write_npy};
use super::common::{bin, encode, in_dir, json, ok, scratch, write_idx};
use latent::engine::data::npy;

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
