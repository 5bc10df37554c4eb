//! Bad autoencoder inputs: one `latent: error:` line naming the problem,
//! an existing output file left as it was.

use std::fs;

use super::common::{fails, in_dir, keep, kept, ok, scratch, write_idx};
use latent::engine::Matrix;
use latent::engine::data::npy;

#[test]
fn bad_autoencoder_inputs_fail_with_one_line_and_keep_outputs() {
    let d = scratch("ae-bad");
    let p = in_dir(&d);
    write_idx(&d.join("a-ubyte"), 60, 8);
    let data = p("a-ubyte");
    let model = p("m.latent");
    ok(&[
        "train", "ae", "--data", &data, "--hidden", "4", "--epochs", "1", "--out", &model, "-q",
    ]);
    let vae = p("v.latent");
    ok(&[
        "train", "vae", "--data", &data, "--hidden", "8", "--latent", "2", "--epochs", "1",
        "--out", &vae, "-q",
    ]);
    let out = keep(d.join("out.latent"));
    let train = |extra: &[&str]| {
        let mut a = vec![
            "train",
            "ae",
            "--data",
            &data,
            "--out",
            out.to_str().unwrap(),
        ];
        a.extend(extra);
        let e = fails(&a);
        kept(&out);
        e
    };

    // Noise, sparsity and activation syntax.
    for bad in [
        "blur:0.3",
        "mask",
        "mask:1.5",
        "gaussian:-1",
        "salt-pepper:0.1:0",
    ] {
        let e = train(&["--hidden", "4", "--noise", bad]);
        assert!(
            e.contains("--noise") && e.contains(bad) && e.contains("mask:NU"),
            "{e}"
        );
    }
    for bad in ["l1", "l2:0.1", "kl:1.5"] {
        let e = train(&["--hidden", "4", "--sparsity", bad]);
        assert!(e.contains("--sparsity") && e.contains("kl:RHO"), "{e}");
    }
    let e = train(&["--hidden", "4", "--activation", "gelu"]);
    assert!(e.contains("--activation") && e.contains("gelu"), "{e}");
    let e = train(&["--layers", "64,8,4", "--activation", "relu,relu,relu"]);
    assert!(
        e.contains("--activation") && e.contains("one per encoder layer"),
        "{e}"
    );
    // KL sparsity needs a sigmoid code layer.
    let e = train(&[
        "--hidden",
        "4",
        "--activation",
        "relu",
        "--sparsity",
        "kl:0.1",
    ]);
    assert!(e.contains("sigmoid"), "{e}");
    // Layers that do not match the data's width.
    let e = train(&["--layers", "100,12"]);
    assert!(
        e.contains("--layers 100,12") && e.contains("expected 64, found 100"),
        "{e}"
    );
    let e = train(&[]);
    assert!(e.contains("--layers") && e.contains("missing"), "{e}");
    // Flags of other kinds.
    let e = train(&["--hidden", "4", "--latent", "3"]);
    assert!(e.contains("--latent") && e.contains("vae"), "{e}");
    let e = fails(&[
        "train",
        "vae",
        "--data",
        &data,
        "--hidden",
        "4",
        "--tied",
        "--out",
        &p("out.latent"),
    ]);
    assert!(e.contains("--tied") && e.contains("ae, deep-ae"), "{e}");
    kept(&out);
    let e = fails(&[
        "train",
        "deep-ae",
        "--data",
        &data,
        "--layers",
        "64,8,4",
        "--pretrain",
        "rbm",
        "--noise",
        "mask:0.1",
        "--out",
        &p("out.latent"),
    ]);
    assert!(e.contains("--noise with --pretrain rbm"), "{e}");
    kept(&out);
    // Cross-entropy needs targets in [0, 1].
    let wide = Matrix::from_fn(20, 64, |i, j| (i + j) as f32 - 30.0).unwrap();
    npy::write_matrix(d.join("wide.npy"), &wide).unwrap();
    let e = fails(&[
        "train",
        "ae",
        "--data",
        &p("wide.npy"),
        "--hidden",
        "4",
        "--loss",
        "bce",
        "--out",
        &p("out.latent"),
    ]);
    assert!(e.contains("wide.npy") && e.contains("[0, 1]"), "{e}");
    kept(&out);
    // Resuming with a different objective, or as another kind.
    let e = train(&["--resume", &model, "--noise", "mask:0.5"]);
    assert!(
        e.contains("configuration") && e.contains("noise=mask:0.5"),
        "{e}"
    );
    let e = fails(&[
        "train",
        "vae",
        "--data",
        &data,
        "--resume",
        &model,
        "--out",
        &p("out.latent"),
    ]);
    assert!(e.contains("model kind") && e.contains("found ae"), "{e}");
    kept(&out);

    // Commands that do not fit the model.
    let png = keep(d.join("s.png"));
    let e = fails(&["sample", &model, "--png", &p("s.png")]);
    assert!(e.contains("sample") && e.contains("ae models"), "{e}");
    kept(&png);
    let e = fails(&["eval", &vae, "--data", &data, "--ais"]);
    assert!(e.contains("--ais with the vae model"), "{e}");
    let npy_out = keep(d.join("o.npy"));
    let e = fails(&[
        "encode",
        &model,
        "--data",
        &data,
        "--layer",
        "2",
        "--out",
        &p("o.npy"),
    ]);
    assert!(e.contains("--layer"), "{e}");
    let e = fails(&[
        "score",
        &model,
        "--data",
        &data,
        "--metric",
        "free-energy",
        "--out",
        &p("o.npy"),
    ]);
    assert!(e.contains("free-energy") && e.contains("ae"), "{e}");
    kept(&npy_out);

    // A corrupted autoencoder file.
    let mut bytes = fs::read(&model).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    fs::write(d.join("bad.latent"), &bytes).unwrap();
    let e = fails(&[
        "encode",
        &p("bad.latent"),
        "--data",
        &data,
        "--out",
        &p("o.npy"),
    ]);
    assert!(e.contains("bad.latent") && e.contains("checksum"), "{e}");
    kept(&npy_out);
    let e = train(&["--resume", &p("bad.latent")]);
    assert!(e.contains("bad.latent") && e.contains("checksum"), "{e}");
    let _ = fs::remove_dir_all(&d);
}
