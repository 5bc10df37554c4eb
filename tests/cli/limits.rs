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
    assert!(e.contains("bytes"), "{e}");
    kept(&out);
    kept(&m);
    for bad in ["/dev/zero", "/dev/urandom"] {
        let e = fails(&["encode", &rbm, "--data", bad, "--out", o]);
        assert!(e.contains(bad) && e.contains("not a regular file"), "{e}");
    }
    kept(&out);
}
