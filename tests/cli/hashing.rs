//! Semantic hashing end to end: `latent hash` writes the codes in
//! `np.unpackbits` order, the same bytes on one thread and four, and
//! `latent search` gives what a naive search gives, with precision and
//! recall on a hand-made example; `--code-noise` trains.

use std::fs;
use std::path::Path;

use latent_engine::data::npy;

use crate::common::{in_dir, json, ok, scratch, write_idx};

/// A version-1 NPY file of `uint8` `rows x cols`.
fn write_u8(path: &Path, data: &[u8], rows: usize, cols: usize) {
    let mut h = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': ({rows}, {cols}), }}")
        .into_bytes();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend_from_slice(&(h.len() as u16).to_le_bytes());
    v.extend_from_slice(&h);
    v.extend_from_slice(data);
    fs::write(path, v).unwrap();
}

/// A version-1 NPY file of `int64` labels.
fn write_labels(path: &Path, labels: &[i64]) {
    let mut h = format!(
        "{{'descr': '<i8', 'fortran_order': False, 'shape': ({},), }}",
        labels.len()
    )
    .into_bytes();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut v = b"\x93NUMPY\x01\x00".to_vec();
    v.extend_from_slice(&(h.len() as u16).to_le_bytes());
    v.extend_from_slice(&h);
    for l in labels {
        v.extend_from_slice(&l.to_le_bytes());
    }
    fs::write(path, v).unwrap();
}

/// The header's text and the data bytes of a version-1 NPY file.
fn npy_parts(path: &str) -> (String, Vec<u8>) {
    let bytes = fs::read(path).unwrap();
    assert!(bytes.starts_with(b"\x93NUMPY\x01\x00"));
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = String::from_utf8(bytes[10..10 + len].to_vec()).unwrap();
    assert!((10 + len).is_multiple_of(64), "data aligned");
    (header, bytes[10 + len..].to_vec())
}

#[test]
fn hash_writes_packbits_bytes_the_same_on_any_thread_count() {
    let d = scratch("hash-layout");
    let p = in_dir(&d);
    write_idx(&d.join("x-ubyte"), 40, 4);
    let x = p("x-ubyte");
    // A 12-bit sigmoid code: two bytes, the second half padding.
    ok(&[
        "train",
        "ae",
        "--data",
        &x,
        "--layers",
        "16,12",
        "--epochs",
        "2",
        "--code-noise",
        "4",
        "--out",
        &p("m.latent"),
        "-q",
    ]);
    let m = p("m.latent");
    ok(&[
        "hash",
        &m,
        "--data",
        &x,
        "--out",
        &p("c1.npy"),
        "-q",
        "--threads",
        "1",
    ]);
    ok(&[
        "hash",
        &m,
        "--data",
        &x,
        "--out",
        &p("c4.npy"),
        "-q",
        "--threads",
        "4",
    ]);
    assert_eq!(
        fs::read(p("c1.npy")).unwrap(),
        fs::read(p("c4.npy")).unwrap()
    );
    ok(&["encode", &m, "--data", &x, "--out", &p("f.npy"), "-q"]);
    let f = npy::read_matrix(p("f.npy")).unwrap();
    let (header, data) = npy_parts(&p("c1.npy"));
    assert!(
        header.contains("'descr': '|u1'") && header.contains("'shape': (40, 2)"),
        "{header}"
    );
    assert_eq!(data.len(), 40 * 2);
    let mut ones = 0;
    for i in 0..40 {
        for j in 0..16 {
            // np.unpackbits: bit j is bit 7 - j % 8 of byte j / 8.
            let bit = (data[i * 2 + j / 8] >> (7 - j % 8)) & 1;
            let want = j < 12 && f.get(i, j).unwrap() > 0.5;
            assert_eq!(bit == 1, want, "sample {i} bit {j}");
            ones += bit as usize;
        }
    }
    assert!(ones > 0 && ones < 40 * 12, "{ones} bits set");
    let j = json(&[
        "hash",
        &m,
        "--data",
        &x,
        "--out",
        &p("c1.npy"),
        "--threshold",
        "0.9",
    ]);
    assert_eq!(
        (j["bits"].as_u64(), j["bytes_per_code"].as_u64()),
        (Some(12), Some(2))
    );
}

/// Pseudo-random bytes.
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Sparse bytes, so that many distances tie.
            ((s >> 33) as u8) & ((s >> 45) as u8)
        })
        .collect()
}

/// `(query, rank, index, distance)` lines of a naive search: every
/// distance, sorted by distance then index.
fn naive(index: &[u8], queries: &[u8], w: usize, k: Option<usize>, r: Option<u32>) -> String {
    let mut text = String::from("query,rank,index,distance\n");
    for (q, query) in queries.chunks(w).enumerate() {
        let mut all: Vec<(u32, usize)> = index
            .chunks(w)
            .enumerate()
            .map(|(i, c)| {
                (
                    c.iter().zip(query).map(|(a, b)| (a ^ b).count_ones()).sum(),
                    i,
                )
            })
            .filter(|&(d, _)| r.is_none_or(|r| d <= r))
            .collect();
        all.sort();
        all.truncate(k.unwrap_or(usize::MAX));
        for (rank, (d, i)) in all.iter().enumerate() {
            text.push_str(&format!("{q},{},{i},{d}\n", rank + 1));
        }
    }
    text
}

#[test]
fn search_equals_a_naive_search() {
    let d = scratch("search-naive");
    let p = in_dir(&d);
    let (n, nq, w) = (301, 17, 3);
    let (index, queries) = (bytes(n * w, 1), bytes(nq * w, 2));
    write_u8(&d.join("i.npy"), &index, n, w);
    write_u8(&d.join("q.npy"), &queries, nq, w);
    let (i, q, out) = (p("i.npy"), p("q.npy"), p("r.csv"));
    ok(&[
        "search",
        "--index",
        &i,
        "--queries",
        &q,
        "--k",
        "9",
        "--out",
        &out,
        "-q",
    ]);
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        naive(&index, &queries, w, Some(9), None)
    );
    ok(&[
        "search",
        "--index",
        &i,
        "--queries",
        &q,
        "--radius",
        "4",
        "--out",
        &out,
        "-q",
    ]);
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        naive(&index, &queries, w, None, Some(4))
    );
    let j = json(&["search", "--index", &i, "--queries", &q, "--k", "2"]);
    let first = &j["results"][0];
    let want = naive(&index, &queries, w, Some(2), None);
    let line: Vec<&str> = want.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(first[0][0].to_string(), line[2]);
    assert_eq!(first[0][1].to_string(), line[3]);
}

#[test]
fn precision_and_recall_on_a_hand_made_example() {
    let d = scratch("search-precision");
    let p = in_dir(&d);
    // Index: 0000_0000, 1000_0000, 1100_0000, 1111_0000, labels 0 0 1 1.
    write_u8(&d.join("i.npy"), &[0x00, 0x80, 0xC0, 0xF0], 4, 1);
    write_labels(&d.join("il.npy"), &[0, 0, 1, 1]);
    write_u8(&d.join("q.npy"), &[0x00, 0xF0], 2, 1);
    write_labels(&d.join("ql.npy"), &[0, 1]);
    let (i, q, il, ql) = (p("i.npy"), p("q.npy"), p("il.npy"), p("ql.npy"));
    let labels = ["--index-labels", &il, "--query-labels", &ql];
    let run = |extra: &[&str]| {
        let mut a = vec!["search", "--index", &i, "--queries", &q];
        a.extend(labels);
        a.extend(extra);
        json(&a)
    };
    let close = |v: &serde_json::Value, want: f64| (v.as_f64().unwrap() - want).abs() < 1e-12;
    // k=3: query 0 gets 0, 1, 2 (labels 0 0 1); query 1 gets 3, 2, 1.
    let j = run(&["--k", "3"]);
    assert!(close(&j["precision_at_k"], 2.0 / 3.0), "{j}");
    // Radius 1: {0, 1} (both relevant, all of class 0) and {3} (one of
    // the two of class 1).
    let j = run(&["--radius", "1"]);
    assert!(
        close(&j["precision"], 1.0) && close(&j["recall"], 0.75),
        "{j}"
    );
    // Radius 2: {0, 1, 2} and {3, 2}.
    let j = run(&["--radius", "2"]);
    assert!(
        close(&j["precision"], 5.0 / 6.0) && close(&j["recall"], 1.0),
        "{j}"
    );
    // The index against itself, each code left out of its own results:
    // 0→1 (right), 1→0 (right), 2→1 (wrong), 3→2 (right).
    let mut a = vec![
        "search",
        "--index",
        &i,
        "--queries",
        &i,
        "--k",
        "1",
        "--exclude-self",
    ];
    a.extend(["--index-labels", &il, "--query-labels", &il]);
    let j = json(&a);
    assert!(close(&j["precision_at_k"], 0.75), "{j}");
    assert_eq!(j["results"][2][0][0], 1);
}

#[test]
fn search_by_model_equals_search_by_hashed_codes() {
    let d = scratch("search-model");
    let p = in_dir(&d);
    write_idx(&d.join("x-ubyte"), 30, 4);
    let x = p("x-ubyte");
    ok(&[
        "train",
        "rbm",
        "--data",
        &x,
        "--hidden",
        "10",
        "--epochs",
        "2",
        "--out",
        &p("r.latent"),
        "-q",
    ]);
    let r = p("r.latent");
    ok(&["hash", &r, "--data", &x, "--out", &p("c.npy"), "-q"]);
    let c = p("c.npy");
    let by_codes = json(&[
        "search",
        "--index",
        &c,
        "--queries",
        &c,
        "--radius",
        "3",
        "--exclude-self",
    ]);
    let by_model = json(&[
        "search",
        "--index",
        &c,
        "--model",
        &r,
        "--data",
        &x,
        "--radius",
        "3",
        "--exclude-self",
    ]);
    assert_eq!(by_codes["results"], by_model["results"]);
    assert_eq!(by_codes["bits"], 16);
}
