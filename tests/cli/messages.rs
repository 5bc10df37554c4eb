//! Error messages that say what is wrong in plain words: no doubled
//! words, epochs counted from 1, the shape a reader needs.

use std::fs;

use super::common::{fails, in_dir, keep, kept, scratch, write_idx};

#[test]
fn messages_name_the_flag_the_epoch_and_the_shape() {
    let d = scratch("messages");
    let p = in_dir(&d);
    write_idx(&d.join("a-ubyte"), 20, 4);
    let data = p("a-ubyte");
    let out = keep(d.join("m.latent"));
    let o = out.to_str().unwrap();
    let train = |extra: &[&str]| {
        let mut a = vec!["train", "rbm", "--data", &data, "--hidden", "4", "--out", o];
        a.extend(extra);
        let e = fails(&a);
        kept(&out);
        e
    };
    let e = train(&["--sparsity", "2"]);
    assert!(
        !e.contains("expected expected") && e.contains("expected a number in [0, 1)"),
        "{e}"
    );
    let e = train(&["--cd-k", "4294967295"]);
    assert!(e.contains("--cd-k") && e.contains("1..=1000"), "{e}");
    // Diverges in the epoch after the first (which reports "epoch 1/3"):
    // epoch 2, counted from 1 as in the progress lines; nothing written,
    // and not said to be "kept".
    let e = train(&["--lr", "1e38", "--epochs", "3", "-q"]);
    assert!(
        e.contains("diverged in epoch 2, batch 1") && e.contains("training stopped"),
        "{e}"
    );
    assert!(!e.contains("last finite"), "{e}");
    // A 1-D NPY is not read as one-feature samples.
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let mut h = b"{'descr': '<f4', 'fortran_order': False, 'shape': (16,), }".to_vec();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(b' ');
    }
    h.push(b'\n');
    npy.extend_from_slice(&(h.len() as u16).to_le_bytes());
    npy.extend_from_slice(&h);
    npy.extend(std::iter::repeat_n(0u8, 64));
    fs::write(d.join("one.npy"), npy).unwrap();
    let e = fails(&[
        "train",
        "rbm",
        "--data",
        &p("one.npy"),
        "--hidden",
        "4",
        "--out",
        o,
    ]);
    assert!(
        e.contains("a 2-D array (rows x features") && e.contains("shape (16,)"),
        "{e}"
    );
    kept(&out);
    // An RBM's range error suggests what an RBM can do (no autoencoder flag).
    fs::write(d.join("wide.csv"), "0,500\n1,2\n").unwrap();
    let e = fails(&[
        "train",
        "rbm",
        "--data",
        &p("wide.csv"),
        "--hidden",
        "4",
        "--out",
        o,
    ]);
    assert!(e.contains("[0, 500]") && e.contains("gaussian-rbm"), "{e}");
    assert!(!e.contains("--loss"), "{e}");
    kept(&out);
}
