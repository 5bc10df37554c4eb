//! `latent train`'s data path: an NPY file is preprocessed as it is read,
//! a chunk at a time, and must train exactly the model that the same data
//! read whole (IDX) and preprocessed afterwards trains; the closing figure
//! of an RBM run is the last epoch's reconstruction error.

use std::fs;
use std::path::Path;

use crate::common::*;

/// The images of the IDX file `idx` (u8, `n x side x side`) as an NPY `|u1`
/// file of shape `(n, side * side)`.
fn idx_to_npy(idx: &Path, npy: &Path) {
    let bytes = fs::read(idx).unwrap();
    let dim = |k: usize| u32::from_be_bytes(bytes[4 + 4 * k..8 + 4 * k].try_into().unwrap());
    let (n, side) = (dim(0), dim(1));
    let dict = format!(
        "{{'descr': '|u1', 'fortran_order': False, 'shape': ({n}, {}), }}\n",
        side * side
    );
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.extend_from_slice(&bytes[16..]);
    fs::write(npy, out).unwrap();
}

/// The model's exported tensors, as bytes.
fn tensors(model: &str, dir: &str) -> Vec<Vec<u8>> {
    ok(&["export", model, "--out", dir, "-q"]);
    ["W.npy", "b.npy", "c.npy"]
        .iter()
        .map(|f| fs::read(Path::new(dir).join(f)).unwrap())
        .collect()
}

/// The per-epoch figures of a `--json` train report (the seconds apart).
fn losses(report: &serde_json::Value) -> Vec<(serde_json::Value, serde_json::Value)> {
    report["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["train_loss"].clone(), r["valid_metric"].clone()))
        .collect()
}

#[test]
fn npy_preprocessed_while_read_trains_the_model_of_the_same_idx_data() {
    let d = scratch("npydata");
    let p = in_dir(&d);
    write_idx(&d.join("a-ubyte"), 120, 8);
    write_idx(&d.join("v-ubyte"), 30, 8);
    idx_to_npy(&d.join("a-ubyte"), &d.join("a.npy"));
    idx_to_npy(&d.join("v-ubyte"), &d.join("v.npy"));
    for (i, extra) in [&[][..], &["--binarize", "0.3"], &["--scale"]]
        .iter()
        .enumerate()
    {
        let mut runs = Vec::new();
        for (data, valid) in [("a-ubyte", "v-ubyte"), ("a.npy", "v.npy")] {
            let (model, data, valid) = (p(&format!("{i}-{data}.latent")), p(data), p(valid));
            let mut args = vec![
                "train",
                "rbm",
                "--data",
                &data,
                "--validate",
                &valid,
                "--hidden",
                "6",
                "--epochs",
                "2",
                "--batch",
                "20",
                "--seed",
                "4",
                "--out",
                &model,
            ];
            args.extend_from_slice(extra);
            let report = json(&args);
            let info = json(&["info", &model]);
            let exported = tensors(&model, &format!("{model}.export"));
            runs.push((losses(&report), info["preprocess"].clone(), exported));
        }
        assert_eq!(runs[0], runs[1], "{extra:?}");
    }
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn npy_validation_data_outside_the_scaled_range_is_refused() {
    let d = scratch("npyrange");
    let p = in_dir(&d);
    // Training data in [0, 200] (scaled by --scale), validation up to 255.
    let dim = "{'descr': '|u1', 'fortran_order': False, 'shape': (40, 4), }\n";
    let npy = |vals: Vec<u8>| {
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(dim.len() as u16).to_le_bytes());
        out.extend_from_slice(dim.as_bytes());
        out.extend_from_slice(&vals);
        out
    };
    fs::write(
        d.join("t.npy"),
        npy((0..160).map(|i| (i % 201) as u8).collect()),
    )
    .unwrap();
    fs::write(
        d.join("v.npy"),
        npy((0..160).map(|i| (i * 7 % 256) as u8).collect()),
    )
    .unwrap();
    let model = keep(d.join("m.latent"));
    let err = fails(&[
        "train",
        "rbm",
        "--data",
        &p("t.npy"),
        "--validate",
        &p("v.npy"),
        "--scale",
        "--hidden",
        "2",
        "--epochs",
        "1",
        "--batch",
        "10",
        "--out",
        &p("m.latent"),
    ]);
    assert!(
        err.contains("v.npy") && err.contains("scale 0 159"),
        "{err}"
    );
    kept(&model);
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn rbm_run_reports_the_last_epochs_reconstruction_error() {
    let d = scratch("lastrecon");
    let p = in_dir(&d);
    write_idx(&d.join("a-ubyte"), 60, 8);
    let args = [
        "train",
        "rbm",
        "--data",
        &p("a-ubyte"),
        "--hidden",
        "5",
        "--epochs",
        "3",
        "--batch",
        "20",
        "--out",
        &p("m.latent"),
    ];
    let report = json(&args);
    let last = &report["history"][2]["train_loss"];
    assert!(last.as_f64().unwrap() > 0.0);
    assert_eq!(&report["last_epoch_reconstruction_error"], last);
    assert!(report.get("reconstruction_error").is_none(), "{report}");
    // The closing line says what the figure is; it is the last progress line's loss.
    let text = ok(&args);
    let want = format!(
        "last epoch's reconstruction error {:.4} (during training); wrote",
        last.as_f64().unwrap()
    );
    assert!(
        text.starts_with("trained rbm 64-5: 3 epoch(s) in ") && text.contains(&want),
        "{text}"
    );
    let _ = fs::remove_dir_all(&d);
}
