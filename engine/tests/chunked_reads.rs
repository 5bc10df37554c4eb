//! Reading a data matrix a chunk at a time: the NPY reader converts its
//! file in pieces straight into the matrix ([`npy::read_matrix_with`],
//! [`npy::value_range`], [`Matrix::from_blocks`]) and preprocesses each
//! piece as it goes ([`UnitMap`]); every value must equal the one an
//! element-by-element decoding and the whole-matrix preprocessing give, at
//! every chunk boundary, with the same errors.

use std::path::{Path, PathBuf};

use latent_engine::data::npy;
use latent_engine::matrix::value_range;
use latent_engine::preprocess::{UnitMap, binarise_threshold, scale_to_unit};
use latent_engine::{EngineError, Location, Matrix};

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("latent-chunked-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// An NPY version 1.0 file of `descr` and `shape` holding `data`; returns
/// where its data starts.
fn write_npy(path: &Path, descr: &str, shape: (usize, usize), data: &[u8]) -> usize {
    let dict = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': ({}, {}), }}\n",
        shape.0, shape.1
    );
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    v.extend_from_slice(dict.as_bytes());
    let offset = v.len();
    v.extend_from_slice(data);
    std::fs::write(path, v).unwrap();
    offset
}

/// `n` values in `[0, 255]` that vary along the data (a xorshift stream).
fn values(n: usize) -> Vec<f64> {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 256) as f64 + if s & 256 != 0 { 0.0 } else { 0.3 }
        })
        .collect()
}

/// Every matrix type, in both byte orders: the file's bytes and the
/// values the reader must give (decoded one element at a time).
fn encodings(v: &[f64]) -> Vec<(&'static str, Vec<u8>, Vec<f32>)> {
    let f32s: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    vec![
        (
            "|u1",
            v.iter().map(|&x| x as u8).collect(),
            v.iter().map(|&x| (x as u8) as f32).collect(),
        ),
        (
            "<f4",
            f32s.iter().flat_map(|x| x.to_le_bytes()).collect(),
            f32s.clone(),
        ),
        (
            ">f4",
            f32s.iter().flat_map(|x| x.to_be_bytes()).collect(),
            f32s.clone(),
        ),
        (
            "<f8",
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            f32s.clone(),
        ),
        (
            ">f8",
            v.iter().flat_map(|x| x.to_be_bytes()).collect(),
            f32s,
        ),
    ]
}

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn chunked_reading_gives_every_value_of_every_type_across_chunk_boundaries() {
    let dir = temp_dir("types");
    // 3 chunks of u1 (64 KiB each) and more, 24 of f8; not a multiple of
    // 16 values, so the matrix's last storage line is partly padding.
    let shape = (977, 211);
    let v = values(shape.0 * shape.1);
    for (descr, bytes, want) in encodings(&v) {
        let p = dir.join(format!("{}.npy", &descr[1..]));
        write_npy(&p, descr, shape, &bytes);
        let m = npy::read_matrix(&p).unwrap();
        assert_eq!(m.shape(), shape, "{descr}");
        assert_eq!(bits(m.as_slice()), bits(&want), "{descr}");
        let (lo, hi) = npy::value_range(&p).unwrap();
        let naive = want
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        assert_eq!((lo, hi), naive, "{descr}");
        // Each value is handed to the map exactly once, in order.
        let mut seen = Vec::new();
        let mapped = npy::read_matrix_with(&p, |c| {
            seen.extend_from_slice(c);
            c.iter_mut().for_each(|x| *x = -*x);
        })
        .unwrap();
        assert_eq!(bits(&seen), bits(&want), "{descr}");
        let negated: Vec<f32> = want.iter().map(|x| -x).collect();
        assert_eq!(bits(mapped.as_slice()), bits(&negated), "{descr}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_non_finite_value_in_a_later_chunk_is_named_by_its_offset() {
    let dir = temp_dir("nonfinite");
    let n = 3 * 16384 + 5;
    let (bad, at) = (f32::NAN, 2 * 16384 + 3);
    let mut v = vec![0.5f32; n];
    v[at] = bad;
    let p = dir.join("nan.npy");
    let offset = write_npy(
        &p,
        "<f4",
        (n, 1),
        &v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>(),
    );
    // An f8 value too large for f32 becomes infinite: refused too.
    let mut w = vec![1.0f64; n];
    w[at] = 1e300;
    let q = dir.join("big.npy");
    write_npy(
        &q,
        "<f8",
        (n, 1),
        &w.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>(),
    );
    for (path, size, value) in [(&p, 4, None), (&q, 8, Some(1e300))] {
        let errors = [
            npy::read_matrix(path).unwrap_err(),
            npy::value_range(path).unwrap_err(),
        ];
        for e in errors {
            match e {
                EngineError::NonFinite {
                    location: Location::Offset(o),
                    value: found,
                    ..
                } => {
                    assert_eq!(o as usize, offset + at * size, "{}", path.display());
                    if let Some(v) = value {
                        assert_eq!(found, v);
                    } else {
                        assert!(found.is_nan());
                    }
                }
                e => panic!("{}: {e}", path.display()),
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn from_blocks_fills_every_element_once_in_order_and_stops_at_an_error() {
    for (rows, cols, block) in [(7, 5, 5), (7, 5, 16), (3, 16, 32), (1, 1, 0), (40, 3, 1000)] {
        let mut next = 0.0f32;
        let m = Matrix::from_blocks(rows, cols, block, |b| {
            assert!(b.len() <= block.div_ceil(16).max(1) * 16);
            for v in b {
                *v = next;
                next += 1.0;
            }
            Ok(())
        })
        .unwrap();
        let want = Matrix::from_fn(rows, cols, |i, j| (i * cols + j) as f32).unwrap();
        assert_eq!(m, want, "{rows}x{cols} in blocks of {block}");
    }
    let mut calls = 0;
    let e = Matrix::from_blocks(10, 10, 16, |_| {
        calls += 1;
        if calls == 2 {
            Err(EngineError::InvalidArgument {
                what: "test",
                value: "block 2".into(),
                expected: "an error",
            })
        } else {
            Ok(())
        }
    });
    assert!(matches!(e, Err(EngineError::InvalidArgument { .. })));
    assert_eq!(calls, 2);
    assert_eq!(
        Matrix::from_blocks(0, 4, 16, |_| panic!("no block"))
            .unwrap()
            .shape(),
        (0, 4)
    );
}

#[test]
fn value_range_equals_a_plain_fold_and_passes_over_nan() {
    let v: Vec<f32> = values(100).iter().map(|&x| (x - 120.0) as f32).collect();
    for n in 0..v.len() {
        let naive = v[..n]
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        assert_eq!(value_range(&v[..n]), naive, "{n} values");
    }
    let mut w = v.clone();
    w[3] = f32::NAN;
    w[97] = f32::NAN;
    let (lo, hi) = value_range(&w);
    assert!(lo.is_finite() && hi.is_finite());
    assert_eq!(
        Matrix::from_slice(10, 10, &v).unwrap().value_range(),
        value_range(&v)
    );
}

#[test]
fn unit_map_gives_the_bits_of_scaling_and_binarising_the_matrix() {
    let v: Vec<f32> = values(4096).iter().map(|&x| x.min(255.0) as f32).collect();
    for (lo, hi, t) in [
        (0.0, 255.0, None),
        (0.0, 255.0, Some(0.5)),
        (-3.0, 300.0, None),
        (-0.5, 255.5, Some(0.25)),
    ] {
        let mut want = Matrix::from_slice(64, 64, &v).unwrap();
        scale_to_unit(&mut want, lo, hi).unwrap();
        if let Some(t) = t {
            binarise_threshold(&mut want, t).unwrap();
        }
        let map = UnitMap::new(lo, hi, t).unwrap();
        let mut got = v.clone();
        map.apply(&mut got);
        assert_eq!(bits(&got), bits(want.as_slice()), "[{lo}, {hi}] {t:?}");
        let one: Vec<f32> = v.iter().map(|&x| map.value(x)).collect();
        assert_eq!(bits(&one), bits(want.as_slice()));
        // Non-decreasing: the range of the mapped values is the map of the range.
        let (a, b) = value_range(&v);
        assert_eq!(value_range(&got), (map.value(a), map.value(b)));
        assert!(
            map.accepts((lo, hi)) && !map.accepts((lo - 1.0, hi)) && !map.accepts((lo, hi * 2.0))
        );
    }
    assert!(UnitMap::new(1.0, 1.0, None).is_err());
    assert!(UnitMap::new(0.0, f32::INFINITY, None).is_err());
    assert!(UnitMap::new(0.0, 1.0, Some(f32::NAN)).is_err());
}
