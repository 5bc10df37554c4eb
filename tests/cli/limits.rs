//! Sizes that cannot fit end with one `latent: error:` line naming the
//! flag and the bytes, never an abort; endless inputs are not read.

use super::common::{fails, in_dir, keep, kept, ok, scratch, write_idx};

#[test]
fn sizes_that_cannot_fit_are_errors_naming_the_flag() {
    let d = scratch("limits");
    let p = in_dir(&d);
    write_idx(&d.join("a-ubyte"), 20, 4);
    let (data, rbm, vae) = (p("a-ubyte"), p("r.latent"), p("v.latent"));
    ok(&[
        "train", "rbm", "--data", &data, "--hidden", "4", "--epochs", "1", "--out", &rbm, "-q",
    ]);
    ok(&[
        "train", "vae", "--data", &data, "--hidden", "4", "--latent", "2", "--epochs", "1",
        "--out", &vae, "-q",
    ]);
    let out = keep(d.join("s.npy"));
    let o = out.to_str().unwrap();
    let e = fails(&["sample", &rbm, "-n", "1000000000", "--out", o]);
    assert!(
        e.contains("-n 1000000000: needs") && e.contains("bytes of memory"),
        "{e}"
    );
    let e = fails(&[
        "eval",
        &rbm,
        "--data",
        &data,
        "--ais",
        "--ais-runs",
        "4000000000",
    ]);
    assert!(e.contains("--ais-runs 4000000000: needs"), "{e}");
    let e = fails(&["eval", &vae, "--data", &data, "--iw-samples", "4000000000"]);
    assert!(e.contains("--iw-samples 4000000000: needs"), "{e}");
    let dbn = p("d.latent");
    ok(&[
        "train", "dbn", "--data", &data, "--layers", "16,4,3", "--epochs", "1", "--out", &dbn, "-q",
    ]);
    let e = fails(&[
        "eval",
        &dbn,
        "--data",
        &data,
        "--ais",
        "--bound-samples",
        "4000000000",
    ]);
    assert!(e.contains("--bound-samples 4000000000: needs"), "{e}");
    // 16 x 4e9 weights: more than any machine, an error, not an abort.
    let m = keep(d.join("m.latent"));
    let e = fails(&[
        "train",
        "rbm",
        "--data",
        &data,
        "--hidden",
        "4000000000",
        "--epochs",
        "1",
        "--out",
        m.to_str().unwrap(),
    ]);
    assert!(
        e.contains("--hidden 4000000000: training rbm 16-4000000000"),
        "{e}"
    );
    kept(&out);
    kept(&m);
    for bad in ["/dev/zero", "/dev/urandom"] {
        let e = fails(&["encode", &rbm, "--data", bad, "--out", o]);
        assert!(e.contains(bad) && e.contains("not a regular file"), "{e}");
    }
    kept(&out);
}

#[test]
fn training_that_cannot_fit_is_refused_before_it_starts() {
    let d = scratch("train-memory");
    let p = in_dir(&d);
    write_idx(&d.join("m-ubyte"), 20, 28);
    let data = p("m-ubyte");
    let out = keep(d.join("m.latent"));
    let o = out.to_str().unwrap();
    // Sizes no machine holds, for each kind, refused before any progress
    // line (`fails` allows one line only), naming the flag and the sizes.
    for (kind, sizes, named) in [
        (
            "rbm",
            "--hidden 3000000000",
            "--hidden 3000000000: training rbm 784-3000000000",
        ),
        (
            "gaussian-rbm",
            "--hidden 3000000000",
            "--hidden 3000000000: training gaussian-rbm",
        ),
        (
            "dbn",
            "--layers 784,500,3000000000",
            "--layers 784,500,3000000000: training dbn",
        ),
        (
            "ae",
            "--layers 784,3000000000,16",
            "--layers 784,3000000000,16: training ae",
        ),
        (
            "vae",
            "--hidden 64 --latent 3000000000",
            "--hidden 64 --latent 3000000000: training vae",
        ),
        (
            "deep-ae",
            "--layers 784,256,3000000000",
            "--layers 784,256,3000000000: training deep-ae",
        ),
    ] {
        let mut a = vec!["train", kind, "--data", &data, "--out", o];
        a.extend(sizes.split(' '));
        let e = fails(&a);
        assert!(
            e.contains(named) && e.contains("bytes of memory, more than"),
            "{e}"
        );
        kept(&out);
    }
    // The README's sizes fit (784-500, 784-500-250, 784-256-64).
    let m = p("ok.latent");
    for sizes in [
        "--hidden 500",
        "--layers 784,500,250",
        "--layers 784,256,64",
    ] {
        let kind = if sizes.starts_with("--hidden") {
            "rbm"
        } else {
            "dbn"
        };
        let mut a = vec![
            "train", kind, "--data", &data, "--epochs", "1", "--out", &m, "-q",
        ];
        a.extend(sizes.split(' '));
        ok(&a);
    }
    ok(&[
        "train",
        "ae",
        "--data",
        &data,
        "--layers",
        "784,256,64",
        "--epochs",
        "1",
        "--out",
        &m,
        "-q",
    ]);
}
