//! `latent train --distributed` without mpirun: the flags whose state the
//! ranks cannot split, and (in a build without the `mpi` feature) the build
//! itself, each one `latent: error:` line, the output file left as it was.
//! The runs under mpirun are ci/mpi-test.sh's.

use super::common::{fails, in_dir, keep, kept, scratch, write_idx};

#[test]
fn what_cannot_be_distributed_says_so() {
    let d = scratch("distributed");
    let p = in_dir(&d);
    write_idx(&d.join("a-ubyte"), 60, 8);
    let data = p("a-ubyte");
    let out = keep(d.join("out.latent"));
    let out = out.to_str().unwrap();
    let train = |kind: &str, extra: &[&str]| {
        let mut a = vec![
            "train",
            kind,
            "--data",
            &data,
            "--out",
            out,
            "--distributed",
        ];
        a.extend(extra);
        let e = fails(&a);
        kept(d.join("out.latent").as_path());
        e
    };
    // Every kind trains distributed, but not state the ranks cannot split.
    for (kind, extra, flag) in [
        (
            "rbm",
            &["--hidden", "4", "--sparsity", "0.1"][..],
            "--sparsity",
        ),
        (
            "dbn",
            &["--layers", "64,8", "--sparsity", "0.1"][..],
            "--sparsity",
        ),
        (
            "dbm",
            &["--layers", "64,8,4", "--chains", "10"][..],
            "--chains",
        ),
        (
            "ae",
            &["--hidden", "4", "--sparsity", "kl:0.05"][..],
            "kl:0.05",
        ),
    ] {
        let e = train(kind, extra);
        assert!(e.contains("--distributed") && e.contains(flag), "{e}");
    }
    #[cfg(not(feature = "mpi"))]
    {
        let e = train("rbm", &["--hidden", "4"]);
        assert!(
            e.contains("--distributed") && e.contains("--features mpi"),
            "{e}"
        );
    }
}

#[test]
fn a_collective_timeout_needs_distributed() {
    let d = scratch("collective-timeout");
    let p = in_dir(&d);
    write_idx(&d.join("a-ubyte"), 60, 8);
    let (data, out) = (p("a-ubyte"), p("out.latent"));
    let e = fails(&[
        "train",
        "rbm",
        "--data",
        &data,
        "--hidden",
        "4",
        "--out",
        &out,
        "--collective-timeout",
        "5",
    ]);
    assert!(
        e.contains("--collective-timeout") && e.contains("--distributed"),
        "{e}"
    );
    assert!(!d.join("out.latent").exists());
}

#[test]
fn averaging_needs_distributed_and_at_least_one_step() {
    let d = scratch("average-every");
    let p = in_dir(&d);
    write_idx(&d.join("a-ubyte"), 60, 8);
    let (data, out) = (p("a-ubyte"), p("out.latent"));
    let args = |k: &'static str| {
        let common = ["train", "rbm", "--data", &data, "--hidden", "4"];
        let mut a: Vec<&str> = common.to_vec();
        a.extend(["--out", &out, "--average-every", k]);
        a
    };
    let e = fails(&args("5"));
    assert!(
        e.contains("--average-every") && e.contains("--distributed"),
        "{e}"
    );
    let e = fails(&args("0"));
    assert!(e.contains("--average-every") && e.contains('0'), "{e}");
    assert!(!d.join("out.latent").exists());
}
