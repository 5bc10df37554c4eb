//! The demo, an RBM train → info → encode → eval round trip on an IDX file
//! written here, and bad inputs (each must exit non-zero with one
//! `latent: error:` line naming the problem, and leave an existing output
//! file as it was).

use std::fs;

use super::common::{
    check_png, csv_width, encode, fails, in_dir, json, keep, kept, ok, run, scratch, write_idx,
};
use latent::engine::data::npy;

#[test]
fn demo_quick_writes_valid_pngs() {
    let d = scratch("demo");
    let out = d.join("pictures");
    let report = json(&[
        "demo",
        "--quick",
        "--out",
        out.to_str().unwrap(),
        "--threads",
        "2",
    ]);
    let bas = &report["bars_and_stripes"];
    let (before, after, optimum) = (
        bas["log_likelihood_before"].as_f64().unwrap(),
        bas["log_likelihood_after"].as_f64().unwrap(),
        bas["log_likelihood_optimum"].as_f64().unwrap(),
    );
    assert!(after > before && after <= optimum + 1e-9, "{bas}");
    let (z, lo, hi) = (
        bas["log_z_exact"].as_f64().unwrap(),
        bas["log_z_ais_minus_3sd"].as_f64(),
        bas["log_z_ais_plus_3sd"].as_f64().unwrap(),
    );
    assert!(lo.is_none_or(|lo| lo - 0.5 <= z) && z <= hi + 0.5, "{bas}");
    for name in [
        "filters.png",
        "reconstructions.png",
        "samples.png",
        "data.png",
        "dbn_samples.png",
        "bas_samples.png",
        "ae_reconstructions.png",
    ] {
        check_png(&out.join(name));
    }
    let ae = &report["denoising_ae"];
    let (before, after) = (
        ae["reconstruction_error_before"].as_f64().unwrap(),
        ae["reconstruction_error_after"].as_f64().unwrap(),
    );
    assert!(after < 0.5 * before, "{ae}");
    assert!(
        ae["denoising_error_after"].as_f64().unwrap() < ae["corruption_error"].as_f64().unwrap(),
        "{ae}"
    );
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn train_info_encode_eval_round_trip() {
    let d = scratch("roundtrip");
    let p = in_dir(&d);
    write_idx(&d.join("train-images-idx3-ubyte"), 200, 8);
    let (data, model) = (p("train-images-idx3-ubyte"), p("m.latent"));
    let t = json(&[
        "train",
        "rbm",
        "--data",
        &data,
        "--hidden",
        "12",
        "--epochs",
        "3",
        "--batch",
        "20",
        "--out",
        &model,
        "--metrics",
        &p("metrics.jsonl"),
        "--seed",
        "3",
    ]);
    assert_eq!(t["sizes"], serde_json::json!([64, 12]));
    let metrics = fs::read_to_string(p("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 3);

    let info = json(&["info", &model]);
    assert_eq!(info["kind"], "rbm");
    assert_eq!(info["epochs"], 3);
    assert_eq!(info["preprocess"], "scale 0 255");
    assert_eq!(info["tensors"][0]["shape"], serde_json::json!([64, 12]));

    encode(&model, &data, &p("codes.npy"));
    let codes = npy::read_matrix(p("codes.npy")).unwrap();
    assert_eq!(codes.shape(), (200, 12));
    assert!(codes.as_slice().iter().all(|&v| (0.0..=1.0).contains(&v)));

    let e = json(&["eval", &model, "--data", &data]);
    let ll = e["log_likelihood_exact"]
        .as_f64()
        .expect("exact LL for 12 hidden units");
    assert!(ll < 0.0 && ll.is_finite());
    assert!(e["reconstruction_error"].as_f64().unwrap() >= 0.0);
    assert!(e["pseudo_log_likelihood"].as_f64().unwrap() < 0.0);

    // Resume continues the history up to --epochs.
    let r = json(&[
        "train",
        "rbm",
        "--data",
        &data,
        "--epochs",
        "5",
        "--batch",
        "20",
        "--resume",
        &model,
        "--out",
        &p("m2.latent"),
    ]);
    assert_eq!(r["epochs_run"], 2);
    assert_eq!(json(&["info", &p("m2.latent")])["epochs"], 5);

    // Scores, samples, pictures, export.
    ok(&[
        "score",
        &model,
        "--data",
        &data,
        "--out",
        &p("scores.csv"),
        "-q",
    ]);
    assert_eq!(
        fs::read_to_string(p("scores.csv")).unwrap().lines().count(),
        200
    );
    ok(&[
        "sample",
        &model,
        "-n",
        "9",
        "--steps",
        "20",
        "--png",
        &p("s.png"),
        "--out",
        &p("s.npy"),
        "-q",
    ]);
    check_png(&d.join("s.png"));
    assert_eq!(npy::read_matrix(p("s.npy")).unwrap().shape(), (9, 64));
    ok(&[
        "reconstruct",
        &model,
        "--data",
        &data,
        "--png",
        &p("r.png"),
        "--count",
        "8",
        "-q",
    ]);
    check_png(&d.join("r.png"));
    ok(&["filters", &model, "--out", &p("f.png"), "-q"]);
    check_png(&d.join("f.png"));
    ok(&["export", &model, "--out", &p("export"), "-q"]);
    assert_eq!(
        npy::read_matrix(p("export/W.npy")).unwrap().shape(),
        (64, 12)
    );

    // A DBN stores every layer; its up-pass has the top layer's width.
    let dbn = p("dbn.latent");
    ok(&[
        "train", "dbn", "--data", &data, "--layers", "64,16,6", "--epochs", "2", "--batch", "20",
        "--out", &dbn, "-q",
    ]);
    let info = json(&["info", &dbn]);
    assert_eq!(info["sizes"], serde_json::json!([64, 16, 6]));
    assert_eq!(info["tensors"][3]["name"], "layer1.W");
    encode(&dbn, &data, &p("dbn.csv"));
    assert_eq!(csv_width(&p("dbn.csv")), 6);
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn dbn_eval_with_ais_prints_its_log_likelihood_bound() {
    let d = scratch("dbnbound");
    let p = in_dir(&d);
    write_idx(&d.join("d-ubyte"), 200, 8);
    let data = p("d-ubyte");
    let train = |layers: &str, out: &str| {
        ok(&[
            "train", "dbn", "--data", &data, "--layers", layers, "--epochs", "2", "--batch", "20",
            "--seed", "3", "--out", out, "-q",
        ])
    };
    let dbn = p("dbn.latent");
    train("64,16,6", &dbn);
    let eval = |model: &str, extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["eval", model, "--data", &data, "--ais", "--ais-runs", "10"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(["--ais-steps", "300"].iter().map(|s| s.to_string()));
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let args = eval(&dbn, &[]);
    let text = ok(&args.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    assert!(text.contains("log Z (top RBM, AIS):"), "{text}");
    assert!(
        text.contains("log-likelihood bound:") && text.contains("10 samples per image"),
        "{text}"
    );

    let args = eval(&dbn, &["--bound-samples", "4"]);
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let e = json(&args);
    let f = |k: &str| e[k].as_f64().unwrap_or_else(|| panic!("{k} in {e}"));
    let bound = f("log_likelihood_bound");
    assert!(bound < 0.0 && bound.is_finite(), "{e}");
    assert!(f("log_likelihood_bound_std_error") > 0.0, "{e}");
    assert!(f("log_likelihood_bound_low") <= bound && bound <= f("log_likelihood_bound_high"));
    let log_z = f("log_z_top_ais");
    assert!(f("log_z_top_ais_minus_3sd") <= log_z && log_z <= f("log_z_top_ais_plus_3sd"));
    assert_eq!(e["bound_samples"], 4);
    // The same bits on any number of threads.
    let threads = |n: &str| json(&[&["--threads", n][..], &args[..]].concat());
    assert_eq!(threads("1"), e);
    assert_eq!(threads("3"), e);

    // One RBM: the bound is the RBM's AIS log-likelihood. (`train dbn
    // --layers 64,12` trains the RBM `train rbm --hidden 12` does, the same
    // seed giving the same weights: the reconstruction errors check that.)
    let (one, rbm) = (p("one.latent"), p("rbm.latent"));
    train("64,12", &one);
    ok(&[
        "train", "rbm", "--data", &data, "--hidden", "12", "--epochs", "2", "--batch", "20",
        "--seed", "3", "--out", &rbm, "-q",
    ]);
    let as_json = |m: &str| {
        let a = eval(m, &[]);
        json(&a.iter().map(|s| s.as_str()).collect::<Vec<_>>())
    };
    let (e1, er) = (as_json(&one), as_json(&rbm));
    assert_eq!(e1["reconstruction_error"], er["reconstruction_error"]);
    assert_eq!(e1["log_likelihood_bound"], er["log_likelihood_ais"]);
    assert_eq!(e1["log_z_top_ais"], er["log_z_ais"]);
    assert_eq!(e1["log_likelihood_bound_std_error"], 0.0);
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn bad_inputs_fail_with_one_line_and_keep_outputs() {
    let d = scratch("bad");
    let p = in_dir(&d);
    write_idx(&d.join("a-ubyte"), 60, 8);
    write_idx(&d.join("small-ubyte"), 10, 5);
    let (data, small) = (p("a-ubyte"), p("small-ubyte"));
    let model = p("m.latent");
    ok(&[
        "train", "rbm", "--data", &data, "--hidden", "4", "--epochs", "1", "--out", &model, "-q",
    ]);
    // Outputs that already exist must survive every failure (`keep`,
    // `kept`).

    // Missing file.
    let out = keep(d.join("out.npy"));
    let e = fails(&[
        "encode",
        &model,
        "--data",
        &p("nope.idx"),
        "--out",
        &p("out.npy"),
    ]);
    assert!(e.contains("nope.idx"), "{e}");
    kept(&out);

    // Wrong format: text in a .npy file, random bytes with no known magic.
    fs::write(d.join("text.npy"), b"hello").unwrap();
    let e = fails(&[
        "encode",
        &model,
        "--data",
        &p("text.npy"),
        "--out",
        &p("out.npy"),
    ]);
    assert!(e.contains("text.npy"), "{e}");
    fs::write(d.join("blob.bin"), [0xffu8, 0x00, 0x13, 0x37, 0x80]).unwrap();
    let e = fails(&[
        "encode",
        &model,
        "--data",
        &p("blob.bin"),
        "--out",
        &p("out.npy"),
    ]);
    assert!(
        e.contains("blob.bin") && e.contains("unrecognised format"),
        "{e}"
    );
    kept(&out);

    // Shape mismatch between model (64 visibles) and data (25 features).
    let e = fails(&["encode", &model, "--data", &small, "--out", &p("out.npy")]);
    assert!(e.contains("expected 64, found 25"), "{e}");
    kept(&out);
    let m2 = keep(d.join("m2.latent"));
    let e = fails(&[
        "train",
        "rbm",
        "--data",
        &small,
        "--resume",
        &model,
        "--out",
        &p("m2.latent"),
    ]);
    assert!(e.contains("expected 64, found 25"), "{e}");
    kept(&m2);

    // Bad flag values.
    for (args, needle) in [
        (vec!["--lr", "-1"], "--lr"),
        (vec!["--lr", "abc"], "--lr"),
        (vec!["--hidden", "0"], "--hidden"),
        (vec!["--epochs", "0"], "--epochs"),
        (vec!["--momentum", "1.5"], "--momentum"),
        (vec!["--binarize", "2"], "--binarize"),
    ] {
        let mut a = vec![
            "train",
            "rbm",
            "--data",
            &data,
            "--out",
            &m2.to_str().unwrap(),
        ];
        if !args.contains(&"--hidden") {
            a.extend(["--hidden", "4"]);
        }
        a.extend(args.iter().copied());
        let e = fails(&a);
        assert!(e.contains(needle), "{a:?}: {e}");
        kept(&m2);
    }
    let e = fails(&[
        "train",
        "dbn",
        "--data",
        &data,
        "--layers",
        "64,x",
        "--out",
        &p("m2.latent"),
    ]);
    assert!(e.contains("--layers"), "{e}");
    let e = fails(&["train", "rbm", "--data", &data, "--out", &p("m2.latent")]);
    assert!(e.contains("--hidden"), "{e}");
    let png = keep(d.join("f.png"));
    let e = fails(&["filters", &model, "--out", &p("f.png"), "--tile", "3x3"]);
    assert!(e.contains("--tile"), "{e}");
    kept(&png);
    let e = fails(&["encode", &model, "--data", &data, "--out", &p("codes.txt")]);
    assert!(e.contains("--out") && e.contains(".npy or .csv"), "{e}");
    kept(&m2);

    // Corrupted model files: one flipped byte, a truncated file, not a model.
    let bytes = fs::read(&model).unwrap();
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    fs::write(d.join("flipped.latent"), &flipped).unwrap();
    let e = fails(&[
        "encode",
        &p("flipped.latent"),
        "--data",
        &data,
        "--out",
        &p("out.npy"),
    ]);
    assert!(
        e.contains("flipped.latent") && e.contains("checksum"),
        "{e}"
    );
    fs::write(d.join("short.latent"), &bytes[..bytes.len() / 3]).unwrap();
    let e = fails(&["info", &p("short.latent")]);
    assert!(e.contains("short.latent") && e.contains("truncated"), "{e}");
    let e = fails(&["eval", &data, "--data", &data]);
    assert!(e.contains("LATENTCK"), "{e}");
    kept(&out);
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn every_subcommand_has_help() {
    for sub in [
        "demo",
        "train",
        "info",
        "encode",
        "reconstruct",
        "score",
        "sample",
        "eval",
        "filters",
        "export",
    ] {
        let text = ok(&[sub, "--help"]);
        assert!(text.contains("Usage: latent"), "{sub}: {text}");
    }
    let out = run(&[]);
    assert!(!out.status.success());
}
