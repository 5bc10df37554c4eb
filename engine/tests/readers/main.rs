//! Readers and writers: a table of bad inputs, each with the error it must
//! produce, and round trips of good ones (plus the real MNIST test split
//! when `../shared/data/mnist` exists).

use std::io::Write;
use std::path::{Path, PathBuf};

use latent_engine::data::csv::{self, CsvOptions};
use latent_engine::data::{idx, mnist, npy};
use latent_engine::{EngineError, Matrix};

mod bad_inputs;
mod rows;

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

/// The table of bad inputs: IDX, then NPY, then CSV.
fn cases() -> Vec<Case> {
    let mut cases = bad_inputs::idx_cases();
    cases.extend(bad_inputs::npy_cases());
    cases.extend(bad_inputs::csv_cases());
    cases
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
fn idx_reads_a_multi_member_gzip_as_the_concatenation() {
    let dir = temp_dir("idx-members");
    let data: Vec<u8> = (0..=255u8).cycle().take(3 * 50).collect();
    let whole = idx_bytes(8, &[3, 50], &data);
    let (a, b) = whole.split_at(37);
    let mut two = gzip(a);
    two.extend_from_slice(&gzip(b));
    let p = dir.join("two.gz");
    std::fs::write(&p, &two).unwrap();
    let m = idx::read_matrix(&p).unwrap();
    assert_eq!(m.shape(), (3, 50));
    let want: Vec<f32> = data.iter().map(|&v| v as f32).collect();
    assert_eq!(m.as_slice(), &want[..]);
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
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 1), }",
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
            "{\"descr\": \">f4\", \"fortran_order\": True, \"shape\": (2, 1)}",
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
