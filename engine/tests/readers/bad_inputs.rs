//! The bad inputs of the readers, each with the error it must produce and
//! text its message must mention: IDX, NPY and CSV files.

use super::{Case, Reader, f4, gzip, idx_bytes, npy_bytes};
use latent_engine::data::csv::{CsvOptions, Header};
use latent_engine::{EngineError, Location};

/// Bad IDX files.
pub(super) fn idx_cases() -> Vec<Case> {
    use EngineError as E;
    vec![
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
            check: |e| matches!(e, E::NoElements { .. }),
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
            name: "idx gzip with garbage after the last member",
            reader: Reader::IdxMatrix,
            bytes: {
                let mut g = gzip(&idx_bytes(8, &[4], &[1, 2, 3, 4]));
                g.extend_from_slice(b"junk");
                g
            },
            check: |e| matches!(e, E::TrailingData { extra: 4, .. }),
            mention: "4 unexpected byte(s)",
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
    ]
}

/// Bad NPY files.
pub(super) fn npy_cases() -> Vec<Case> {
    use EngineError as E;
    let good_npy = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
    vec![
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
            name: "npy 1-D data",
            reader: Reader::NpyMatrix,
            bytes: npy_bytes(
                1,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
                &f4(&[0.0, 1.0, 0.5]),
            ),
            check: |e| matches!(e, E::BadHeader { .. }),
            mention: "2-D array (rows x features",
        },
        Case {
            name: "npy zero features",
            reader: Reader::NpyMatrix,
            bytes: npy_bytes(
                1,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (10, 0), }",
                &[],
            ),
            check: |e| matches!(e, E::NoElements { .. }),
            mention: "shape [10, 0]",
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
                "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 1), }",
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
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }",
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
    ]
}

/// Bad CSV files.
pub(super) fn csv_cases() -> Vec<Case> {
    use EngineError as E;
    let csv_opts = CsvOptions::default();
    let csv_labels = CsvOptions {
        label_column: Some(0),
        ..CsvOptions::default()
    };
    vec![
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
            name: "csv first row partly numeric, one field not a number",
            reader: Reader::Csv(csv_opts),
            bytes: b"1,x,3\n4,5,6\n".to_vec(),
            check: |e| {
                matches!(
                    e,
                    E::Parse {
                        location: Location::Line { line: 1, field: 2 },
                        ..
                    }
                )
            },
            mention: "line 1, field 2",
        },
        Case {
            name: "csv first row partly numeric, one field empty",
            reader: Reader::Csv(csv_opts),
            bytes: b"1,,3\n4,5,6\n".to_vec(),
            check: |e| {
                matches!(
                    e,
                    E::Parse {
                        location: Location::Line { line: 1, field: 2 },
                        ..
                    }
                )
            },
            mention: "line 1, field 2",
        },
        Case {
            name: "csv header with an empty name is data",
            reader: Reader::Csv(csv_opts),
            bytes: b"a,,c\n4,5,6\n".to_vec(),
            check: |e| {
                matches!(
                    e,
                    E::Parse {
                        location: Location::Line { line: 1, field: 1 },
                        ..
                    }
                )
            },
            mention: "line 1, field 1",
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
