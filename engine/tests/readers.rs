//! Readers and writers: a table of bad inputs, each with the error it must
//! produce, and round trips of good ones (plus the real MNIST test split
//! when `../shared/data/mnist` exists).

use std::io::Write;
use std::path::{Path, PathBuf};

use latent_engine::data::csv::{self, CsvOptions, Header};
use latent_engine::data::{idx, mnist, npy};
use latent_engine::{EngineError, Location, Matrix};

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("latent-engine-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn idx_bytes(dtype: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, dtype, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn npy_bytes(major: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let mut v = b"\x93NUMPY".to_vec();
    v.extend_from_slice(&[major, 0]);
    let mut h = dict.as_bytes().to_vec();
    h.push(b'\n');
    if major == 1 {
        v.extend_from_slice(&(h.len() as u16).to_le_bytes());
    } else {
        v.extend_from_slice(&(h.len() as u32).to_le_bytes());
    }
    v.extend_from_slice(&h);
    v.extend_from_slice(data);
    v
}

fn f4(vals: &[f32]) -> Vec<u8> {
    vals.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[derive(Clone, Copy)]
enum Reader {
    IdxMatrix,
    IdxLabels,
    NpyMatrix,
    NpyLabels,
    Csv(CsvOptions),
}

fn run(reader: Reader, path: &Path) -> Result<usize, EngineError> {
    match reader {
        Reader::IdxMatrix => idx::read_matrix(path).map(|m| m.len()),
        Reader::IdxLabels => idx::read_labels(path).map(|l| l.len()),
        Reader::NpyMatrix => npy::read_matrix(path).map(|m| m.len()),
        Reader::NpyLabels => npy::read_labels(path).map(|l| l.len()),
        Reader::Csv(o) => csv::read(path, &o).map(|d| d.dataset.x.len()),
    }
}

struct Case {
    name: &'static str,
    reader: Reader,
    bytes: Vec<u8>,
    check: fn(&EngineError) -> bool,
    /// Text the message must contain (besides the file name).
    mention: &'static str,
}

fn cases() -> Vec<Case> {
    use EngineError as E;
    let csv_opts = CsvOptions::default();
    let csv_labels = CsvOptions {
        label_column: Some(0),
        ..CsvOptions::default()
    };
    let good_npy = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
    vec![
        // ---- IDX ----
        Case {
            name: "idx empty",
            reader: Reader::IdxMatrix,
            bytes: vec![],
            check: |e| matches!(e, E::Empty { .. }),
            mention: "empty",
        },
        Case {
            name: "idx shorter than magic",
            reader: Reader::IdxMatrix,
            bytes: vec![0, 0, 8],
            check: |e| matches!(e, E::Truncated { offset: 3, .. }),
            mention: "offset 3",
        },
        Case {
            name: "idx bad magic",
            reader: Reader::IdxMatrix,
            bytes: idx_bytes(8, &[1], &[1])
                .iter()
                .enumerate()
                .map(|(i, &b)| if i == 0 { 7 } else { b })
                .collect(),
            check: |e| matches!(e, E::BadMagic { .. }),
            mention: "magic",
        },
        Case {
            name: "idx unknown type",
            reader: Reader::IdxMatrix,
            bytes: idx_bytes(0x0A, &[1], &[1]),
            check: |e| matches!(e, E::UnsupportedDtype { .. }),
            mention: "0x0a",
        },
        Case {
            name: "idx zero dims",
            reader: Reader::IdxMatrix,
            bytes: idx_bytes(8, &[], &[]),
            check: |e| matches!(e, E::BadHeader { offset: 3, .. }),
            mention: "dimension",
        },
        Case {
            name: "idx truncated dims",
            reader: Reader::IdxMatrix,
            bytes: idx_bytes(8, &[2, 2, 2], &[])[..12].to_vec(),
            check: |e| matches!(e, E::Truncated { offset: 12, .. }),
            mention: "offset 12",
        },
        Case {
            name: "idx short data",
            reader: Reader::IdxMatrix,
            bytes: idx_bytes(8, &[2, 3], &[1, 2, 3, 4, 5]),
            check: |e| matches!(e, E::Truncated { offset: 17, .. }),
            mention: "18 bytes",
        },
        Case {
            name: "idx trailing data",
            reader: Reader::IdxMatrix,
            bytes: idx_bytes(8, &[2, 3], &[0; 7]),
            check: |e| {
                matches!(
                    e,
                    E::TrailingData {
                        offset: 18,
                        extra: 1,
                        ..
                    }
                )
            },
            mention: "offset 18",
        },
        Case {
            name: "idx zero-size dim",
            reader: Reader::IdxMatrix,
            bytes: idx_bytes(8, &[0, 3], &[]),
            check: |e| matches!(e, E::Empty { .. }),
            mention: "0",
        },
        Case {
            name: "idx f32 NaN",
            reader: Reader::IdxMatrix,
            bytes: idx_bytes(
                0x0D,
                &[2],
                &[1f32.to_be_bytes(), f32::NAN.to_be_bytes()].concat(),
            ),
            check: |e| {
                matches!(
                    e,
                    E::NonFinite {
                        location: Location::Offset(12),
                        ..
                    }
                )
            },
            mention: "offset 12",
        },
        Case {
            name: "idx f64 inf",
            reader: Reader::IdxMatrix,
            bytes: idx_bytes(0x0E, &[1], &f64::INFINITY.to_be_bytes()),
            check: |e| {
                matches!(
                    e,
                    E::NonFinite {
                        location: Location::Offset(8),
                        ..
                    }
                )
            },
            mention: "finite",
        },
        Case {
            name: "idx corrupt gzip",
            reader: Reader::IdxMatrix,
            bytes: {
                let mut g = gzip(&idx_bytes(8, &[4], &[1, 2, 3, 4]));
                let n = g.len();
                g[n / 2] ^= 0xff;
                g[n - 5] ^= 0xff;
                g
            },
            check: |e| matches!(e, E::Gzip { .. }),
            mention: "gzip",
        },
        Case {
            name: "idx truncated gzip",
            reader: Reader::IdxMatrix,
            bytes: {
                let g = gzip(&idx_bytes(8, &[100], &[9; 100]));
                g[..g.len() - 6].to_vec()
            },
            check: |e| matches!(e, E::Gzip { .. }),
            mention: "gzip",
        },
        Case {
            name: "idx gzip of short data",
            reader: Reader::IdxMatrix,
            bytes: gzip(&idx_bytes(8, &[10], &[1; 9])),
            check: |e| matches!(e, E::Truncated { offset: 17, .. }),
            mention: "10 bytes",
        },
        Case {
            name: "idx labels with 2 dims",
            reader: Reader::IdxLabels,
            bytes: idx_bytes(8, &[2, 2], &[0; 4]),
            check: |e| matches!(e, E::BadHeader { .. }),
            mention: "1 dimension",
        },
        Case {
            name: "idx float labels",
            reader: Reader::IdxLabels,
            bytes: idx_bytes(0x0D, &[1], &[0; 4]),
            check: |e| matches!(e, E::UnsupportedDtype { .. }),
            mention: "integer",
        },
        Case {
            name: "idx negative label",
            reader: Reader::IdxLabels,
            bytes: idx_bytes(0x09, &[2], &[1, 0xff]),
            check: |e| {
                matches!(
                    e,
                    E::Parse {
                        location: Location::Offset(9),
                        ..
                    }
                )
            },
            mention: "non-negative",
        },
        // ---- NPY ----
        Case {
            name: "npy empty",
            reader: Reader::NpyMatrix,
            bytes: vec![],
            check: |e| matches!(e, E::Empty { .. }),
            mention: "empty",
        },
        Case {
            name: "npy foreign file",
            reader: Reader::NpyMatrix,
            bytes: b"PK\x03\x04 a zip file".to_vec(),
            check: |e| matches!(e, E::BadMagic { .. }),
            mention: "NUMPY",
        },
        Case {
            name: "npy version 4",
            reader: Reader::NpyMatrix,
            bytes: npy_bytes(4, good_npy, &f4(&[0.0; 4])),
            check: |e| matches!(e, E::UnsupportedVersion { found: 4, .. }),
            mention: "version 4",
        },
        Case {
            name: "npy header truncated",
            reader: Reader::NpyMatrix,
            bytes: npy_bytes(1, good_npy, &[])[..30].to_vec(),
            check: |e| matches!(e, E::Truncated { offset: 30, .. }),
            mention: "header",
        },
        Case {
            name: "npy header not a dict",
            reader: Reader::NpyMatrix,
            bytes: npy_bytes(1, "descr=<f4", &f4(&[0.0; 4])),
            check: |e| matches!(e, E::BadHeader { offset: 10, .. }),
            mention: "'{'",
        },
        Case {
            name: "npy bad shape tuple",
            reader: Reader::NpyMatrix,
            bytes: npy_bytes(
                1,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2; 2), }",
                &f4(&[0.0; 4]),
            ),
            check: |e| matches!(e, E::BadHeader { .. }),
            mention: "shape tuple",
        },
        Case {
            name: "npy missing shape",
            reader: Reader::NpyMatrix,
            bytes: npy_bytes(
                1,
                "{'descr': '<f4', 'fortran_order': False}",
                &f4(&[0.0; 4]),
            ),
            check: |e| matches!(e, E::BadHeader { .. }),
            mention: "\"shape\"",
        },
        Case {
            name: "npy unknown key",
            reader: Reader::NpyMatrix,
            bytes: npy_bytes(
                1,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 'y'}",
                &f4(&[0.0; 4]),
            ),
            check: |e| matches!(e, E::BadHeader { .. }),
            mention: "\"x\"",
        },
        Case {
            name: "npy complex dtype",
            reader: Reader::NpyMatrix,
            bytes: npy_bytes(
                1,
                "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }",
                &[0; 16],
            ),
            check: |e| matches!(e, E::UnsupportedDtype { .. }),
            mention: "<c8",
        },
        Case {
            name: "npy int matrix",
            reader: Reader::NpyMatrix,
            bytes: npy_bytes(
                1,
                "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }",
                &[0; 8],
            ),
            check: |e| matches!(e, E::UnsupportedDtype { .. }),
            mention: "<i4",
        },
        Case {
            name: "npy fortran order",
            reader: Reader::NpyMatrix,
            bytes: npy_bytes(
                1,
                "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
                &f4(&[0.0; 4]),
            ),
            check: |e| matches!(e, E::BadHeader { .. }),
            mention: "C order",
        },
        Case {
            name: "npy scalar",
            reader: Reader::NpyMatrix,
            bytes: npy_bytes(
                1,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
                &f4(&[0.0]),
            ),
            check: |e| matches!(e, E::BadHeader { .. }),
            mention: "scalar",
        },
        Case {
            name: "npy short data",
            reader: Reader::NpyMatrix,
            bytes: npy_bytes(1, good_npy, &f4(&[0.0; 3])),
            check: |e| matches!(e, E::Truncated { .. }),
            mention: "16 bytes",
        },
        Case {
            name: "npy trailing data",
            reader: Reader::NpyMatrix,
            bytes: npy_bytes(2, good_npy, &f4(&[0.0; 5])),
            check: |e| matches!(e, E::TrailingData { extra: 4, .. }),
            mention: "4 unexpected",
        },
        Case {
            name: "npy NaN",
            reader: Reader::NpyMatrix,
            bytes: npy_bytes(
                1,
                "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
                &[1f64.to_le_bytes(), f64::NAN.to_le_bytes()].concat(),
            ),
            check: |e| matches!(e, E::NonFinite { .. }),
            mention: "NaN",
        },
        Case {
            name: "npy f64 overflowing f32",
            reader: Reader::NpyMatrix,
            bytes: npy_bytes(
                1,
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
                &1e300f64.to_le_bytes(),
            ),
            check: |e| matches!(e, E::NonFinite { .. }),
            mention: "finite",
        },
        Case {
            name: "npy float labels",
            reader: Reader::NpyLabels,
            bytes: npy_bytes(
                1,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
                &f4(&[1.0]),
            ),
            check: |e| matches!(e, E::UnsupportedDtype { .. }),
            mention: "integer",
        },
        Case {
            name: "npy negative label",
            reader: Reader::NpyLabels,
            bytes: npy_bytes(
                1,
                "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }",
                &(-3i64).to_le_bytes(),
            ),
            check: |e| matches!(e, E::Parse { .. }),
            mention: "-3",
        },
        // ---- CSV ----
        Case {
            name: "csv empty",
            reader: Reader::Csv(csv_opts),
            bytes: vec![],
            check: |e| matches!(e, E::Empty { .. }),
            mention: "empty",
        },
        Case {
            name: "csv header only",
            reader: Reader::Csv(csv_opts),
            bytes: b"a,b,c\n\n".to_vec(),
            check: |e| matches!(e, E::Empty { .. }),
            mention: "data row",
        },
        Case {
            name: "csv ragged row",
            reader: Reader::Csv(csv_opts),
            bytes: b"a,b\n1,2\n3\n".to_vec(),
            check: |e| {
                matches!(
                    e,
                    E::RaggedRow {
                        line: 3,
                        expected: 2,
                        found: 1,
                        ..
                    }
                )
            },
            mention: "line 3",
        },
        Case {
            name: "csv not a number",
            reader: Reader::Csv(csv_opts),
            bytes: b"1,2\n3,x4\n".to_vec(),
            check: |e| {
                matches!(
                    e,
                    E::Parse {
                        location: Location::Line { line: 2, field: 2 },
                        ..
                    }
                )
            },
            mention: "line 2, field 2",
        },
        Case {
            name: "csv forced header on numbers then text",
            reader: Reader::Csv(CsvOptions {
                header: Header::Absent,
                ..csv_opts
            }),
            bytes: b"a,b\n1,2\n".to_vec(),
            check: |e| {
                matches!(
                    e,
                    E::Parse {
                        location: Location::Line { line: 1, field: 1 },
                        ..
                    }
                )
            },
            mention: "a number",
        },
        Case {
            name: "csv NaN",
            reader: Reader::Csv(csv_opts),
            bytes: b"1,2\n3,NaN\n".to_vec(),
            check: |e| {
                matches!(
                    e,
                    E::NonFinite {
                        location: Location::Line { line: 2, field: 2 },
                        ..
                    }
                )
            },
            mention: "line 2",
        },
        Case {
            name: "csv inf",
            reader: Reader::Csv(csv_opts),
            bytes: b"1,inf\n".to_vec(),
            check: |e| matches!(e, E::NonFinite { .. }),
            mention: "inf",
        },
        Case {
            name: "csv overflowing f32",
            reader: Reader::Csv(csv_opts),
            bytes: b"1,1e39\n".to_vec(),
            check: |e| matches!(e, E::NonFinite { .. }),
            mention: "field 2",
        },
        Case {
            name: "csv invalid utf-8",
            reader: Reader::Csv(csv_opts),
            bytes: b"1,2\n\xff,3\n".to_vec(),
            check: |e| {
                matches!(
                    e,
                    E::Parse {
                        location: Location::Line { line: 2, .. },
                        ..
                    }
                )
            },
            mention: "UTF-8",
        },
        Case {
            name: "csv bad label",
            reader: Reader::Csv(csv_labels),
            bytes: b"y,x\n1,0.5\n-1,0.5\n".to_vec(),
            check: |e| {
                matches!(
                    e,
                    E::Parse {
                        location: Location::Line { line: 3, field: 1 },
                        ..
                    }
                )
            },
            mention: "label",
        },
        Case {
            name: "csv label column out of range",
            reader: Reader::Csv(CsvOptions {
                label_column: Some(5),
                ..csv_opts
            }),
            bytes: b"1,2\n".to_vec(),
            check: |e| matches!(e, E::RaggedRow { .. }),
            mention: "6 fields",
        },
    ]
}

#[test]
fn every_bad_input_gets_its_typed_error() {
    let dir = temp_dir("bad");
    let mut failures = Vec::new();
    for (i, case) in cases().into_iter().enumerate() {
        let path = dir.join(format!("case{i}.bin"));
        std::fs::write(&path, &case.bytes).unwrap();
        match run(case.reader, &path) {
            Ok(n) => failures.push(format!("{}: accepted ({n} values)", case.name)),
            Err(e) => {
                let msg = e.to_string();
                if !(case.check)(&e) {
                    failures.push(format!("{}: wrong variant: {e:?}", case.name));
                } else if !msg.contains(&format!("case{i}.bin")) || !msg.contains(case.mention) {
                    failures.push(format!(
                        "{}: message must name the file and {:?}: {msg}",
                        case.name, case.mention
                    ));
                }
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn missing_file_is_an_io_error_with_the_path() {
    let p = temp_dir("missing").join("nope.idx");
    for r in [
        Reader::IdxMatrix,
        Reader::NpyMatrix,
        Reader::Csv(CsvOptions::default()),
    ] {
        let e = run(r, &p).unwrap_err();
        assert!(matches!(e, EngineError::Io { .. }), "{e:?}");
        assert!(e.to_string().contains("nope.idx"));
        assert!(std::error::Error::source(&e).is_some());
    }
}

#[test]
fn idx_reads_plain_and_gzip_and_checks_label_count() {
    let dir = temp_dir("idx");
    let img = idx_bytes(
        8,
        &[2, 2, 3],
        &[0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255],
    );
    std::fs::write(dir.join("img"), &img).unwrap();
    std::fs::write(dir.join("img.gz"), gzip(&img)).unwrap();
    std::fs::write(dir.join("lab"), idx_bytes(8, &[2], &[7, 2])).unwrap();
    std::fs::write(dir.join("lab3"), idx_bytes(8, &[3], &[7, 2, 1])).unwrap();
    let a = idx::read_matrix(dir.join("img")).unwrap();
    let b = idx::read_matrix(dir.join("img.gz")).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.shape(), (2, 6));
    assert_eq!(a.row(1), &[250.0, 251.0, 252.0, 253.0, 254.0, 255.0]);
    let ds = idx::read_dataset(dir.join("img.gz"), Some(&dir.join("lab"))).unwrap();
    assert_eq!(ds.labels, Some(vec![7, 2]));
    let e = idx::read_dataset(dir.join("img"), Some(&dir.join("lab3"))).unwrap_err();
    assert!(
        matches!(
            e,
            EngineError::SizeMismatch {
                expected: 2,
                found: 3,
                ..
            }
        ),
        "{e:?}"
    );
    // Other element types, big-endian.
    std::fs::write(
        dir.join("i16"),
        idx_bytes(0x0B, &[3], &[0xff, 0xfe, 0x01, 0x00, 0x00, 0x05]),
    )
    .unwrap();
    assert_eq!(
        idx::read_matrix(dir.join("i16")).unwrap().as_slice(),
        &[-2.0, 256.0, 5.0]
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn npy_reads_every_supported_dtype_and_round_trips() {
    let dir = temp_dir("npy");
    /// (NPY major version, header dict, data bytes, expected values, expected shape)
    type GoodNpy<'a> = (u8, &'a str, Vec<u8>, Vec<f32>, (usize, usize));
    let cases: Vec<GoodNpy> = vec![
        (
            1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
            f4(&[1.5, -2.0, 3.0, 0.25]),
            vec![1.5, -2.0, 3.0, 0.25],
            (2, 2),
        ),
        (
            2,
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
            [0.5f64, 2.0, -1.0]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
            vec![0.5, 2.0, -1.0],
            (3, 1),
        ),
        (
            3,
            "{'shape': (1, 2, 2), 'fortran_order': False, 'descr': '|u1'}",
            vec![0, 1, 254, 255],
            vec![0.0, 1.0, 254.0, 255.0],
            (1, 4),
        ),
        (
            1,
            "{\"descr\": \">f4\", \"fortran_order\": True, \"shape\": (2,)}",
            [2.0f32, 4.0].iter().flat_map(|v| v.to_be_bytes()).collect(),
            vec![2.0, 4.0],
            (2, 1),
        ),
    ];
    for (i, (major, dict, data, want, shape)) in cases.into_iter().enumerate() {
        let p = dir.join(format!("{i}.npy"));
        std::fs::write(&p, npy_bytes(major, dict, &data)).unwrap();
        let m = npy::read_matrix(&p).unwrap_or_else(|e| panic!("{dict}: {e}"));
        assert_eq!(m.shape(), shape, "{dict}");
        assert_eq!(m.as_slice(), &want[..], "{dict}");
    }
    // Labels of several integer types.
    let p = dir.join("labels.npy");
    std::fs::write(
        &p,
        npy_bytes(
            1,
            "{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }",
            &[3, 0, 0, 1, 9, 0],
        ),
    )
    .unwrap();
    assert_eq!(npy::read_labels(&p).unwrap(), vec![3, 256, 9]);
    // The writer's output reads back bit for bit (and is 64-byte aligned).
    let m = Matrix::from_fn(7, 5, |i, j| (i as f32 - 3.0) / (j as f32 + 1.5) * 1e-3).unwrap();
    let out = dir.join("w.npy");
    npy::write_matrix(&out, &m).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!((bytes.len() - 7 * 5 * 4) % 64, 0);
    assert_eq!(npy::read_matrix(&out).unwrap(), m);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn csv_reads_headers_labels_and_round_trips() {
    let dir = temp_dir("csv");
    let p = dir.join("a.csv");
    std::fs::write(&p, "label, x1 ,x2\r\n3,0.5,-1e-3\r\n\r\n1, 2 ,3\r\n").unwrap();
    let d = csv::read(
        &p,
        &CsvOptions {
            label_column: Some(0),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(d.columns, Some(vec!["x1".to_string(), "x2".to_string()]));
    assert_eq!(d.dataset.labels, Some(vec![3, 1]));
    assert_eq!(d.dataset.x.as_slice(), &[0.5, -1e-3, 2.0, 3.0]);
    // No header, other delimiter.
    std::fs::write(&p, "1;2\n3;4").unwrap();
    let d = csv::read(
        &p,
        &CsvOptions {
            delimiter: b';',
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(d.columns, None);
    assert_eq!(d.dataset.x.shape(), (2, 2));
    // Round trip, exact bits.
    let m = Matrix::from_fn(4, 3, |i, j| ((i * 7 + j) as f32).sqrt() * 1.1e-7 - 0.3).unwrap();
    csv::write(&p, &m, Some(&["a", "b", "c"])).unwrap();
    let back = csv::read(&p, &CsvOptions::default()).unwrap();
    assert_eq!(back.dataset.x, m);
    assert_eq!(back.columns.unwrap(), ["a", "b", "c"]);
    assert!(csv::write(&p, &m, Some(&["a"])).is_err());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn mnist_test_split_loads_when_present() {
    let dir = mnist::default_mnist_dir();
    if !mnist::is_available(&dir) {
        println!(
            "SKIPPED: MNIST not found in {} (set LATENT_MNIST_DIR or add ../shared/data/mnist)",
            dir.display()
        );
        return;
    }
    let ds = mnist::load_test_split(&dir).unwrap();
    assert_eq!(ds.x.shape(), (10_000, 784));
    let labels = ds.labels.as_ref().unwrap();
    assert_eq!(&labels[..5], &[7, 2, 1, 0, 4], "the first test digits");
    let mut counts = [0usize; 10];
    labels.iter().for_each(|&l| counts[l as usize] += 1);
    assert_eq!(
        counts,
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    let max = ds.x.as_slice().iter().cloned().fold(0.0f32, f32::max);
    assert_eq!(max, 255.0);
    let (train, test) = ds.split_at(mnist::TRAIN_TEST_SPLIT).unwrap();
    assert_eq!((train.len(), test.len()), (8_000, 2_000));
}
