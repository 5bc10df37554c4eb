//! Helpers shared by the end-to-end tests of the `latent` binary: running
//! it, scratch folders and the paths in them, small data files, checks on
//! its outputs.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `latent` binary of this build.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_latent"))
}

/// A fresh scratch folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("latent-cli-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// The path of `name` in the folder `d`, as an argument string.
pub fn in_dir(d: &Path) -> impl Fn(&str) -> String + '_ {
    move |name| d.join(name).to_str().unwrap().to_string()
}

/// Runs `latent args…`.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run latent")
}

/// Runs a command that must succeed; returns its standard output.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "latent {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command with `--json`; returns its one JSON object.
pub fn json(args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_str(ok(&a).trim()).expect("one JSON object on stdout")
}

/// Runs a command that must fail; returns its one error line.
pub fn fails(args: &[&str]) -> String {
    let out = run(args);
    assert!(!out.status.success(), "latent {args:?} succeeded");
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one error line expected, got {err:?}");
    assert!(lines[0].starts_with("latent: error: "), "{err}");
    lines[0].to_string()
}

/// Runs `latent encode model --data data --out out -q`, which must succeed.
pub fn encode(model: &str, data: &str, out: &str) {
    ok(&["encode", model, "--data", data, "--out", out, "-q"]);
}

/// The number of comma-separated values in the first line of the file
/// `path` (the width of an encoded CSV file).
pub fn csv_width(path: &str) -> usize {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let first = text
        .lines()
        .next()
        .unwrap_or_else(|| panic!("{path}: empty"));
    first.split(',').count()
}

/// Writes `KEEP` to `path`: an output file that a failing command must
/// leave as it is ([`kept`]).
pub fn keep(path: PathBuf) -> PathBuf {
    fs::write(&path, b"KEEP").unwrap();
    path
}

/// Checks that the file `path` of [`keep`] still holds `KEEP`.
pub fn kept(path: &Path) {
    assert_eq!(fs::read(path).unwrap(), b"KEEP", "{}", path.display());
}

/// An IDX file of `n` `side x side` u8 images: a bar (row or column) at
/// 255 over a dim background, so the data needs scaling from [0, 255].
pub fn write_idx(path: &Path, n: usize, side: usize) {
    let mut bytes = vec![0, 0, 0x08, 3];
    for d in [n, side, side] {
        bytes.extend_from_slice(&(d as u32).to_be_bytes());
    }
    for i in 0..n {
        let k = i % side;
        for r in 0..side {
            for c in 0..side {
                let on = if i % 2 == 0 { r == k } else { c == k };
                bytes.push(if on {
                    255
                } else {
                    (r * 7 + c * 3 + i) as u8 % 40
                });
            }
        }
    }
    fs::write(path, bytes).unwrap();
}

/// Checks that `path` is a PNG with a decodable image larger than 8x8.
pub fn check_png(path: &Path) {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("a buffer size")];
    let info = reader.next_frame(&mut buf).expect("PNG image data");
    assert!(info.width > 8 && info.height > 8);
}
