//! `latent plot`: the scatter plot of codes (2-D and principal
//! components, coloured by label), a VAE's manifold (its tiles equal the
//! decoder at the grid points, decoded here), the training curves from a
//! model file and from a metrics file, and the errors of each.

use std::fs;
use std::path::Path;

use latent_engine::Matrix;
use latent_engine::Par;

use super::common::{fails, in_dir, json, ok, scratch, write_idx};

/// The Tableau-10 colours `latent plot codes` gives classes 0 and 1.
const CLASS_COLOURS: [[u8; 3]; 2] = [[31, 119, 180], [255, 127, 14]];

/// An IDX label file of `labels`.
fn write_labels(path: &Path, labels: &[u8]) {
    let mut bytes = vec![0, 0, 0x08, 1];
    bytes.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    bytes.extend_from_slice(labels);
    fs::write(path, bytes).unwrap();
}

/// A decoded PNG: width, height, channels and the pixels.
struct Picture {
    width: usize,
    height: usize,
    channels: usize,
    pixels: Vec<u8>,
}

impl Picture {
    fn read(path: &str) -> Picture {
        let bytes = fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().expect("a PNG header");
        let mut buf = vec![0; reader.output_buffer_size().expect("a buffer size")];
        let info = reader.next_frame(&mut buf).expect("PNG image data");
        assert_eq!(info.bit_depth, png::BitDepth::Eight, "{path}");
        let channels = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Grayscale => 1,
            other => panic!("{path}: colour type {other:?}"),
        };
        buf.truncate(info.width as usize * info.height as usize * channels);
        Picture {
            width: info.width as usize,
            height: info.height as usize,
            channels,
            pixels: buf,
        }
    }

    fn pixel(&self, x: usize, y: usize) -> &[u8] {
        let at = (y * self.width + x) * self.channels;
        &self.pixels[at..at + self.channels]
    }

    /// Pixels that are not the white background.
    fn inked(&self) -> usize {
        self.pixels
            .chunks(self.channels)
            .filter(|p| p.iter().any(|&c| c != 255))
            .count()
    }

    /// Pixels left of column `x_end` whose ink (`255 − p`) points along
    /// the ink of `colour` (a point of that colour drawn over white, at
    /// any opacity).
    fn tinted(&self, colour: [u8; 3], x_end: usize) -> usize {
        let ink = |p: &[u8]| p.iter().map(|&c| 255.0 - c as f64).collect::<Vec<_>>();
        let want = ink(&colour);
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        (0..self.height)
            .flat_map(|y| (0..x_end).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let got = ink(self.pixel(x, y));
                let n = norm(&got);
                let dot: f64 = got.iter().zip(&want).map(|(a, b)| a * b).sum();
                n > 60.0 && dot / (n * norm(&want)) > 0.998
            })
            .count()
    }
}

/// Trains a model on `data` in `d`: `latent train KIND --data … ARGS --out NAME`.
fn train(d: &Path, kind: &str, args: &[&str], name: &str) -> String {
    let p = in_dir(d);
    let (data, out) = (p("a-ubyte"), p(name));
    let mut a = vec!["train", kind, "--data", &data, "--epochs", "3", "-q"];
    a.extend(args);
    a.extend(["--out", &out]);
    ok(&a);
    out
}

/// The data (20 4x4 images, bars along rows for even samples and columns
/// for odd ones) and its labels (the sample's parity).
fn data(d: &Path) -> (String, String) {
    write_idx(&d.join("a-ubyte"), 20, 4);
    let labels: Vec<u8> = (0..20).map(|i| (i % 2) as u8).collect();
    write_labels(&d.join("l-ubyte"), &labels);
    let p = in_dir(d);
    (p("a-ubyte"), p("l-ubyte"))
}

#[test]
fn codes_are_drawn_coloured_by_label() {
    let d = scratch("plot-codes");
    let (x, y) = data(&d);
    let p = in_dir(&d);
    let ae = train(&d, "ae", &["--hidden", "2"], "ae.latent");
    let out = p("codes.png");
    let r = json(&[
        "plot", "codes", &ae, "--data", &x, "--labels", &y, "--out", &out,
    ]);
    assert_eq!(r["projection"], "direct", "{r}");
    assert_eq!(
        (r["points"].as_u64(), r["classes"].as_u64()),
        (Some(20), Some(2))
    );
    let pic = Picture::read(&out);
    assert_eq!((pic.width, pic.height, pic.channels), (1000, 800, 3));
    assert!(pic.inked() > 5000, "{} inked pixels", pic.inked());
    // Points of both classes in the plotting area (left of the legend).
    let counts = CLASS_COLOURS.map(|c| pic.tinted(c, 850));
    assert!(counts.iter().all(|&n| n >= 20), "class pixels {counts:?}");
    // Without labels: one colour, and the legend is gone.
    let plain = p("plain.png");
    ok(&["plot", "codes", &ae, "--data", &x, "--out", &plain, "-q"]);
    let pic = Picture::read(&plain);
    let counts = CLASS_COLOURS.map(|c| pic.tinted(c, 1000));
    assert!(counts[0] >= 20 && counts[1] == 0, "class pixels {counts:?}");
}

#[test]
fn wider_codes_are_drawn_along_their_principal_components() {
    let d = scratch("plot-pca");
    let (x, y) = data(&d);
    let p = in_dir(&d);
    let rbm = train(&d, "rbm", &["--hidden", "5"], "rbm.latent");
    let out = p("pca.png");
    let r = json(&[
        "plot",
        "codes",
        &rbm,
        "--data",
        &x,
        "--labels",
        &y,
        "--out",
        &out,
        "--size",
        "640x480",
        "--max-points",
        "15",
    ]);
    assert_eq!(
        (r["projection"].as_str(), r["dims"].as_u64()),
        (Some("pca"), Some(5))
    );
    assert_eq!(r["points"], 15);
    let e: Vec<f64> = r["explained"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(
        e[0] >= e[1] && e[1] >= 0.0 && e[0] + e[1] <= 1.0 + 1e-9,
        "{e:?}"
    );
    let pic = Picture::read(&out);
    assert_eq!((pic.width, pic.height), (640, 480));
    let counts = CLASS_COLOURS.map(|c| pic.tinted(c, 490));
    assert!(counts.iter().all(|&n| n >= 20), "class pixels {counts:?}");
    // 2-D codes drawn along their principal components on request.
    let ae = train(&d, "ae", &["--hidden", "2"], "ae.latent");
    let r = json(&["plot", "codes", &ae, "--data", &x, "--out", &out, "--pca"]);
    assert_eq!(r["projection"], "pca");
}

/// The grid decoded here: `z_i = g[c]`, `z_j = g[n − 1 − r]` for tile
/// `(r, c)`, the other coordinates 0.
fn decoded_grid(model: &str, g: &[f64], latent: usize, (i, j): (usize, usize)) -> Matrix {
    let m = latent_models::persist::load(Path::new(model)).unwrap();
    let vae = m.model.as_vae().expect("a VAE");
    let n = g.len();
    let mut z = Matrix::zeros(n * n, latent).unwrap();
    for r in 0..n {
        for c in 0..n {
            z.row_mut(r * n + c)[i] = g[c] as f32;
            z.row_mut(r * n + c)[j] = g[n - 1 - r] as f32;
        }
    }
    let mut out = Matrix::zeros(n * n, 16).unwrap();
    vae.decode(z.view(), out.view_mut(), Par::All).unwrap();
    out
}

/// Checks that the grey tiles of `pic` (4x4 tiles, `n` per row, a 1-pixel
/// gap, zoom 8) are the decoded `tiles` in grey levels, to a level.
fn check_tiles(pic: &Picture, tiles: &Matrix, n: usize) {
    let zoom = 8;
    let step = 4 * zoom + 1;
    assert_eq!(
        (pic.width, pic.height, pic.channels),
        (n * step + 1, n * step + 1, 1)
    );
    for t in 0..n * n {
        let (x0, y0) = (1 + (t % n) * step, 1 + (t / n) * step);
        for k in 0..16 {
            let want = (tiles.row(t)[k].clamp(0.0, 1.0) * 255.0).round() as i32;
            for (dx, dy) in [(0, 0), (zoom - 1, zoom - 1)] {
                let (x, y) = (x0 + (k % 4) * zoom + dx, y0 + (k / 4) * zoom + dy);
                let got = pic.pixel(x, y)[0] as i32;
                assert!(
                    (got - want).abs() <= 1,
                    "tile {t}, pixel {k}: {got} vs {want}"
                );
            }
        }
    }
}

#[test]
fn the_manifold_is_the_decoder_on_the_grid_of_prior_quantiles() {
    let d = scratch("plot-manifold");
    data(&d);
    let p = in_dir(&d);
    let vae = train(&d, "vae", &["--hidden", "6", "--latent", "2"], "vae.latent");
    // Quantiles 0.25, 0.5, 0.75 of N(0, 1).
    let q = 0.674_489_750_196_081_7;
    let out = p("manifold.png");
    let r = json(&[
        "plot", "manifold", &vae, "--out", &out, "--grid", "3", "--span", "0.5",
    ]);
    assert_eq!(r["dims"], serde_json::json!([1, 2]));
    let pic = Picture::read(&out);
    check_tiles(&pic, &decoded_grid(&vae, &[-q, 0.0, q], 2, (0, 1)), 3);
    assert!(pic.pixels.iter().any(|&v| v != pic.pixels[0]));
    // A 3-D latent space: z3 across, z1 up, z2 fixed at 0; quantiles
    // 0.1, 0.3, 0.5, 0.7, 0.9.
    let vae3 = train(
        &d,
        "vae",
        &["--hidden", "6", "--latent", "3"],
        "vae3.latent",
    );
    let (a, b) = (1.281_551_565_544_600_4, 0.524_400_512_708_040_7);
    let g = [-a, -b, 0.0, b, a];
    ok(&[
        "plot", "manifold", &vae3, "--out", &out, "--grid", "5", "--span", "0.8", "--dims", "3,1",
        "-q",
    ]);
    check_tiles(&Picture::read(&out), &decoded_grid(&vae3, &g, 3, (2, 0)), 5);
    let e = fails(&["plot", "manifold", &vae3, "--out", &out]);
    assert!(
        e.contains("missing --dims") && e.contains("3 dimensions"),
        "{e}"
    );
}

#[test]
fn history_is_drawn_from_a_model_file_and_from_a_metrics_file() {
    let d = scratch("plot-history");
    data(&d);
    let p = in_dir(&d);
    let metrics = p("deep.jsonl");
    let deep = train(
        &d,
        "deep-ae",
        &[
            "--layers",
            "16,8,2",
            "--pretrain-epochs",
            "2",
            "--metrics",
            &metrics,
        ],
        "deep.latent",
    );
    let out = p("history.png");
    let stages = serde_json::json!(["layer 1", "layer 2", "whole model"]);
    for source in [vec![deep.as_str()], vec!["--metrics", metrics.as_str()]] {
        let mut args = vec!["plot", "history"];
        args.extend(&source);
        args.extend(["--out", &out]);
        let r = json(&args);
        assert_eq!(
            (&r["stages"], r["epochs"].as_u64()),
            (&stages, Some(7)),
            "{r}"
        );
        let pic = Picture::read(&out);
        assert_eq!((pic.width, pic.height), (900, 50 + 3 * 300));
        assert!(pic.tinted(CLASS_COLOURS[0], 900) > 100, "no loss curve");
    }
    // A one-stage run with validation: two curves.
    let (x, vm) = (p("a-ubyte"), p("vae.jsonl"));
    train(
        &d,
        "vae",
        &[
            "--hidden",
            "4",
            "--latent",
            "2",
            "--validate",
            &x,
            "--metrics",
            &vm,
        ],
        "vae.latent",
    );
    let r = json(&[
        "plot",
        "history",
        "--metrics",
        &vm,
        "--out",
        &out,
        "--width",
        "600",
    ]);
    assert_eq!(r["stages"], serde_json::json!(["training"]));
    let pic = Picture::read(&out);
    assert_eq!((pic.width, pic.height), (600, 350));
    let counts = CLASS_COLOURS.map(|c| pic.tinted(c, 600));
    assert!(counts.iter().all(|&n| n > 100), "curve pixels {counts:?}");
    // A validation metric on another scale (an error rate beside a loss
    // of ~100): drawn on the right axis, both curves visible.
    let lines: Vec<String> = (0..8)
        .map(|e| {
            let (loss, err) = (100.0 - 5.0 * e as f64, 0.2 - 0.01 * e as f64);
            format!("{{\"epoch\":{e},\"train_loss\":{loss},\"valid_metric\":{err}}}\n")
        })
        .collect();
    fs::write(d.join("scales.jsonl"), lines.concat()).unwrap();
    ok(&[
        "plot",
        "history",
        "--metrics",
        &p("scales.jsonl"),
        "--out",
        &out,
        "-q",
    ]);
    let pic = Picture::read(&out);
    let counts = CLASS_COLOURS.map(|c| pic.tinted(c, 900));
    assert!(counts.iter().all(|&n| n > 100), "curve pixels {counts:?}");
}

#[test]
fn plot_errors_are_one_line_naming_the_problem() {
    let d = scratch("plot-errors");
    let (x, _) = data(&d);
    let p = in_dir(&d);
    write_labels(&d.join("short-ubyte"), &[0; 19]);
    let ae = train(&d, "ae", &["--hidden", "2"], "ae.latent");
    let ae1 = train(&d, "ae", &["--hidden", "1"], "ae1.latent");
    let vae = train(
        &d,
        "vae",
        &["--hidden", "4", "--latent", "1"],
        "vae1.latent",
    );
    let vae3 = train(
        &d,
        "vae",
        &["--hidden", "4", "--latent", "3"],
        "vae3.latent",
    );
    fs::write(d.join("empty.jsonl"), "").unwrap();
    fs::write(
        d.join("bad.jsonl"),
        "{\"epoch\": 0, \"train_loss\": 1}\n{\"epoch\": 1}\n",
    )
    .unwrap();
    let (short, out) = (p("short-ubyte"), p("o.png"));
    let (empty, bad) = (p("empty.jsonl"), p("bad.jsonl"));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "plot", "codes", &ae, "--data", &x, "--labels", &short, "--out", &out,
            ],
            "short-ubyte: labels vs samples of",
        ),
        (
            vec![
                "plot",
                "codes",
                &ae,
                "--data",
                &x,
                "--labels",
                "/no/such/labels",
                "--out",
                &out,
            ],
            "/no/such/labels",
        ),
        (
            vec!["plot", "codes", &ae1, "--data", &x, "--out", &out],
            "1 dimension",
        ),
        (
            vec![
                "plot", "codes", &ae, "--data", &x, "--out", &out, "--size", "90x5000",
            ],
            "--size",
        ),
        (
            vec!["plot", "manifold", &ae, "--out", &out],
            "manifold works with vae",
        ),
        (vec!["plot", "manifold", &vae, "--out", &out], "1 dimension"),
        (
            vec!["plot", "manifold", &vae3, "--out", &out, "--dims", "1,4"],
            "--dims",
        ),
        (
            vec!["plot", "manifold", &vae3, "--out", &out, "--dims", "2"],
            "--dims",
        ),
        (
            vec!["plot", "manifold", &vae3, "--out", &out, "--span", "0"],
            "--span",
        ),
        (
            vec!["plot", "history", "--out", &out],
            "missing MODEL or --metrics",
        ),
        (
            vec!["plot", "history", "--metrics", &empty, "--out", &out],
            "no training epochs",
        ),
        (
            vec!["plot", "history", "--metrics", &bad, "--out", &out],
            "bad.jsonl: line 2: expected a JSON object with epoch and train_loss",
        ),
    ];
    for (args, mention) in cases {
        let e = fails(&args);
        assert!(e.contains(mention), "latent {args:?}: {e}");
    }
    assert!(!d.join("o.png").exists());
}
