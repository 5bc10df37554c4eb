//! `latent train --distributed` without mpirun: the kinds and flags not
//! distributed yet, and (in a build without the `mpi` feature) the build
//! itself, each one `latent: error:` line, the output file left as it was.
//! The runs under mpirun are ci/mpi-test.sh's.

use super::common::{fails, in_dir, keep, kept, scratch, write_idx};

#[test]
fn what_is_not_distributed_yet_says_so() {
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
    for (kind, extra) in [
        ("dbn", &["--layers", "64,8"][..]),
        ("deep-ae", &["--layers", "64,8,4"][..]),
        ("dbm", &["--layers", "64,8,4"][..]),
    ] {
        let e = train(kind, extra);
        assert!(e.contains("--distributed") && e.contains(kind), "{e}");
        assert!(e.contains("not yet distributed"), "{e}");
    }
    let e = train("rbm", &["--hidden", "4", "--persistent"]);
    assert!(e.contains("--persistent") && e.contains("PCD"), "{e}");
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
