//! Rows read from a file by index ([`FileRows`]): the readers' rows, bit
//! for bit, for every format and element type, in any order (duplicates
//! too), preprocessed as the whole matrix would be; the readers' errors
//! for every bad input of their table; typed errors for a bad index.

use std::path::Path;

use latent_engine::data::csv::{self, CsvOptions, Header};
use latent_engine::data::rows::{self, FileRows, RowFormat, RowSource};
use latent_engine::data::{idx, npy};
use latent_engine::preprocess::{RowMap, Standardizer, UnitMap, binarise_threshold, scale_to_unit};
use latent_engine::{EngineError, Matrix, Par, Rng};

use super::{Reader, cases, idx_bytes, npy_bytes, temp_dir};

/// The whole matrix the reader of `format` reads from `path`.
fn read_whole(path: &Path, format: RowFormat) -> Result<Matrix, EngineError> {
    match format {
        RowFormat::Npy => npy::read_matrix(path),
        RowFormat::Idx => idx::read_matrix(path),
        RowFormat::Csv(o) => csv::read(path, &o).map(|d| d.dataset.x),
    }
}

/// Opens `path` row by row and reads every value once (the checks a run
/// makes before training), as a count of values.
fn open_and_scan(path: &Path, format: RowFormat) -> Result<usize, EngineError> {
    let f = FileRows::open(path, format)?;
    let mut n = 0;
    f.for_each_raw(|piece| {
        n += piece.len();
        Ok(())
    })?;
    Ok(n)
}

/// Index sets: every row in reverse, random ones with repeats, runs of
/// consecutive rows, one row, none.
fn index_sets(rows: usize, seed: u64) -> Vec<Vec<u32>> {
    let mut rng = Rng::new(seed);
    let mut sets = vec![(0..rows as u32).rev().collect::<Vec<_>>(), vec![], vec![0]];
    for len in [1, 7, rows, 3 * rows] {
        sets.push((0..len).map(|_| rng.below(rows as u64) as u32).collect());
    }
    let start = rows as u32 / 3;
    sets.push((start..rows as u32).chain(0..start).collect());
    sets
}

/// Gathers every index set from `f` and checks it against `want`'s rows.
fn check_gathers(f: &FileRows, want: &Matrix, what: &str) {
    assert_eq!((f.rows(), f.cols()), want.shape(), "{what}: shape");
    for (s, idx) in index_sets(want.rows(), 5).iter().enumerate() {
        let mut out = vec![f32::NAN; idx.len() * want.cols()];
        f.gather(idx, &mut out, Par::Seq).unwrap();
        for (k, &i) in idx.iter().enumerate() {
            let got = &out[k * want.cols()..(k + 1) * want.cols()];
            let bits = |r: &[f32]| r.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(got),
                bits(want.row(i as usize)),
                "{what}: set {s}, row {i}"
            );
        }
    }
}

/// Encodes one value as an element of a file.
type Encode = fn(f64) -> Vec<u8>;

/// Values of every kind an element type can hold, `n` of them.
fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| (rng.normal() * 60.0).round() + rng.below(2) as f64 * 0.25)
        .collect()
}

#[test]
fn npy_rows_are_the_readers_rows_for_every_dtype() {
    let dir = temp_dir("rows-npy");
    let (n, a, b) = (37, 3, 5);
    let v = values(n * a * b, 1);
    let encodings: [(&str, Encode); 5] = [
        ("<f4", |x| (x as f32).to_le_bytes().to_vec()),
        (">f4", |x| (x as f32).to_be_bytes().to_vec()),
        ("<f8", |x| x.to_le_bytes().to_vec()),
        (">f8", |x| x.to_be_bytes().to_vec()),
        ("|u1", |x| vec![x.abs().min(255.0) as u8]),
    ];
    for (descr, enc) in encodings {
        let data: Vec<u8> = v.iter().flat_map(|&x| enc(x)).collect();
        for (major, shape) in [
            (1, format!("({n}, {})", a * b)),
            (2, format!("({n}, {a}, {b})")),
        ] {
            let dict =
                format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
            let path = dir.join(format!("m{major}.npy"));
            std::fs::write(&path, npy_bytes(major, &dict, &data)).unwrap();
            let want = npy::read_matrix(&path).unwrap();
            check_gathers(
                &FileRows::open(&path, RowFormat::Npy).unwrap(),
                &want,
                descr,
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn idx_rows_are_the_readers_rows_for_every_type() {
    let dir = temp_dir("rows-idx");
    let (n, a, b) = (29u32, 4u32, 3u32);
    let v = values((n * a * b) as usize, 2);
    let types: [(u8, Encode); 6] = [
        (0x08, |x| vec![x.abs().min(255.0) as u8]),
        (0x09, |x| vec![x.clamp(-128.0, 127.0) as i8 as u8]),
        (0x0B, |x| (x as i16).to_be_bytes().to_vec()),
        (0x0C, |x| (x as i32 * 1000).to_be_bytes().to_vec()),
        (0x0D, |x| (x as f32).to_be_bytes().to_vec()),
        (0x0E, |x| x.to_be_bytes().to_vec()),
    ];
    for (code, enc) in types {
        let data: Vec<u8> = v.iter().flat_map(|&x| enc(x)).collect();
        for dims in [vec![n, a * b], vec![n, a, b]] {
            let path = dir.join("m.idx");
            std::fs::write(&path, idx_bytes(code, &dims, &data)).unwrap();
            let want = idx::read_matrix(&path).unwrap();
            let what = format!("IDX type {code:#04x}, {} dims", dims.len());
            check_gathers(
                &FileRows::open(&path, RowFormat::Idx).unwrap(),
                &want,
                &what,
            );
        }
    }
    // A 1-D file is one column.
    let path = dir.join("v.idx");
    std::fs::write(&path, idx_bytes(0x08, &[9], &[1, 2, 3, 4, 5, 6, 7, 8, 9])).unwrap();
    let want = idx::read_matrix(&path).unwrap();
    check_gathers(
        &FileRows::open(&path, RowFormat::Idx).unwrap(),
        &want,
        "1-D",
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn csv_rows_are_the_readers_rows() {
    let dir = temp_dir("rows-csv");
    let v = values(23 * 4, 3);
    let rows = || v.chunks(4).enumerate();
    // A header, CRLF ends, blank lines, spaces, a label column, no final
    // newline; then no header, `;`, scientific notation.
    let mut text = String::from("a,b,label,c,d\r\n\r\n");
    for (i, r) in rows() {
        text += &format!(" {}, {},{}, {},{}\r\n", r[0], r[1] / 7.0, i % 3, r[2], r[3]);
        if i % 5 == 0 {
            text += "  \n";
        }
    }
    text.truncate(text.trim_end().len());
    let labelled = CsvOptions {
        label_column: Some(2),
        ..CsvOptions::default()
    };
    let mut plain = String::new();
    for (_, r) in rows() {
        plain += &format!("{:e};{};{};{}\n", r[0] / 3.0, r[1], r[2], r[3]);
    }
    let semi = CsvOptions {
        delimiter: b';',
        header: Header::Absent,
        label_column: None,
    };
    for (text, opts) in [(text, labelled), (plain, semi)] {
        let path = dir.join("d.csv");
        std::fs::write(&path, text).unwrap();
        let want = csv::read(&path, &opts).unwrap().dataset.x;
        check_gathers(
            &FileRows::open(&path, RowFormat::Csv(opts)).unwrap(),
            &want,
            "csv",
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_bad_index_or_output_is_a_typed_error() {
    let dir = temp_dir("rows-bad-index");
    let path = dir.join("m.npy");
    let m = Matrix::from_fn(10, 3, |i, j| (i * 3 + j) as f32).unwrap();
    npy::write_matrix(&path, &m).unwrap();
    let f = FileRows::open(&path, RowFormat::Npy).unwrap();
    for src in [&f as &dyn RowSource, &m] {
        let mut out = vec![0.0; 6];
        let e = src.gather(&[1, 10], &mut out, Par::Seq).unwrap_err();
        assert!(matches!(e, EngineError::InvalidArgument { .. }), "{e:?}");
        assert!(e.to_string().contains("10 of 10 rows"), "{e}");
        let e = src.gather(&[1], &mut out, Par::Seq).unwrap_err();
        assert!(matches!(e, EngineError::Shape { .. }), "{e:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn file_rows_fail_as_the_readers_do_on_every_bad_input() {
    // Every bad matrix file of the readers' table but the gzip-compressed
    // ones (read whole, never row by row): the same error, word for word,
    // from opening the file and reading every value once.
    let dir = temp_dir("rows-bad");
    let mut checked = 0;
    for (i, case) in cases().into_iter().enumerate() {
        let format = match case.reader {
            Reader::IdxMatrix => RowFormat::Idx,
            Reader::NpyMatrix => RowFormat::Npy,
            Reader::Csv(o) => RowFormat::Csv(o),
            Reader::IdxLabels | Reader::NpyLabels => continue,
        };
        if case.bytes.starts_with(&[0x1f, 0x8b]) {
            continue;
        }
        let path = dir.join(format!("case{i}.bin"));
        std::fs::write(&path, &case.bytes).unwrap();
        let want = read_whole(&path, format).map(|m| m.len());
        let got = open_and_scan(&path, format);
        match (got, want) {
            (Err(g), Err(w)) => assert_eq!(g.to_string(), w.to_string(), "{}", case.name),
            (g, w) => panic!("{}: {g:?} vs the reader's {w:?}", case.name),
        }
        checked += 1;
    }
    assert!(checked >= 30, "{checked} cases");
    // A gzip-compressed IDX file is refused, naming it.
    let path = dir.join("m.idx.gz");
    std::fs::write(&path, super::gzip(&idx_bytes(8, &[2, 2], &[1, 2, 3, 4]))).unwrap();
    assert!(rows::is_gzip(&path).unwrap());
    let e = FileRows::open(&path, RowFormat::Idx).unwrap_err();
    assert!(e.to_string().contains("m.idx.gz"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_value_gone_bad_after_the_open_is_an_error_when_gathered() {
    // The file changes under an open FileRows: the gather checks the
    // values as the reader would, naming the byte offset.
    let dir = temp_dir("rows-changed");
    let path = dir.join("m.npy");
    let m = Matrix::from_fn(4, 2, |i, j| (i * 2 + j) as f32).unwrap();
    npy::write_matrix(&path, &m).unwrap();
    let f = FileRows::open(&path, RowFormat::Npy).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() - 4;
    bytes[at..].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let mut out = [0.0; 2];
    f.gather(&[2], &mut out, Par::Seq).unwrap();
    let e = f.gather(&[3], &mut out, Par::Seq).unwrap_err();
    assert!(matches!(e, EngineError::NonFinite { .. }), "{e:?}");
    assert!(e.to_string().contains(&format!("offset {at}")), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn preprocessed_rows_are_the_preprocessed_matrix_rows() {
    let dir = temp_dir("rows-map");
    let path = dir.join("m.npy");
    let m = Matrix::from_fn(300, 7, |i, j| ((i * 31 + j * 17) % 256) as f32).unwrap();
    npy::write_matrix(&path, &m).unwrap();
    let s = Standardizer::fit(&m).unwrap();
    let scaled = |m: &Matrix| {
        let mut x = m.clone();
        scale_to_unit(&mut x, 0.0, 255.0).unwrap();
        x
    };
    let cases: Vec<(RowMap, Matrix)> = vec![
        (RowMap::Identity, m.clone()),
        (
            RowMap::Unit(UnitMap::new(0.0, 255.0, None).unwrap()),
            scaled(&m),
        ),
        (
            RowMap::Unit(UnitMap::new(0.0, 255.0, Some(0.4)).unwrap()),
            {
                let mut x = scaled(&m);
                binarise_threshold(&mut x, 0.4).unwrap();
                x
            },
        ),
        (RowMap::Standardize(s.clone()), {
            let mut x = m.clone();
            s.transform(&mut x).unwrap();
            x
        }),
    ];
    for (k, (map, want)) in cases.into_iter().enumerate() {
        let f = FileRows::open(&path, RowFormat::Npy)
            .unwrap()
            .with_map(map)
            .unwrap();
        check_gathers(&f, &want, &format!("map {k}"));
    }
    let other = Standardizer::fit(&Matrix::zeros(2, 3).unwrap()).unwrap();
    let f = FileRows::open(&path, RowFormat::Npy).unwrap();
    assert!(f.with_map(RowMap::Standardize(other)).is_err());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn streamed_statistics_are_the_whole_matrix_statistics() {
    // Column means (64-row blocks, as the kernel sums them) and a
    // standardiser's statistics from pieces: the same bits as from the
    // whole matrix, with the kernel's threads or not; rows wider than a
    // scan's piece too.
    let dir = temp_dir("rows-stats");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let mut rng = Rng::new(9);
    for (rows, cols) in [(1, 5), (64, 3), (1000, 37), (4100, 300), (3, 262_145)] {
        let m = Matrix::from_fn(rows, cols, |_, _| rng.normal() as f32 * 3.0 + 1.0).unwrap();
        let path = dir.join("m.npy");
        npy::write_matrix(&path, &m).unwrap();
        let f = FileRows::open(&path, RowFormat::Npy).unwrap();
        for par in [Par::Seq, Par::All] {
            let mut want = vec![0.0; cols];
            pool.install(|| {
                latent_kernels::reduce::col_means(m.as_slice(), rows, cols, &mut want, par)
            })
            .unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            for src in [&f as &dyn RowSource, &m] {
                let got = rows::column_means(src).unwrap();
                assert_eq!(bits(&got), bits(&want), "{rows}x{cols} {par:?}");
            }
        }
        let want = Standardizer::fit(&m).unwrap();
        let streamed = Standardizer::fit_streamed(cols, |each| {
            f.for_each_raw(|piece| {
                // Pieces of odd sizes: 1 row, then the rest.
                let (a, b) = piece.split_at(cols.min(piece.len()));
                each(a);
                each(b);
                Ok(())
            })
        })
        .unwrap();
        assert_eq!(streamed, want, "{rows}x{cols}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
