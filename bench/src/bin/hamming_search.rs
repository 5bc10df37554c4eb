//! `hamming-search`: how fast latent's popcount search scans a million
//! binary codes, next to this machine's memory read bandwidth, the
//! portable kernel and a naive loop.
//!
//! ```text
//! cargo run --release -p latent-bench --bin hamming-search -- [--quick] [--threads N]
//! ```
//!
//! 1. The yardstick: a streaming sum of `u64` over a buffer far larger
//!    than the caches (512 MiB; `--quick`: 64 MiB), on one thread and on
//!    all, in GB/s of bytes read.
//! 2. For codes of 32, 64 and 128 bits (one, one and two words; a 32-bit
//!    code's upper half is zero) in an index of 1,000,000 random codes
//!    (`--quick`: 100,000): the distances of one query to every code
//!    (`distances_on`) on each Hamming kernel this CPU has, on one thread,
//!    and a naive loop over the row-major codes (`count_ones` per word,
//!    compiled for the baseline target); then k-nearest (k = 10) and
//!    Hamming-ball (radius 2) queries with the default kernel, on one
//!    thread and on all. Each as microseconds per query and GB/s of codes
//!    scanned (the index's bytes, padding included, per query).
//!
//! Timings under load mean little: run it on an idle machine. The last
//! line is `RESULT key=value ...`.

use latent_bench::{QuickOpts, result_line, time_sampled};
use latent_kernels::Par;
use latent_kernels::hamming::{HammingIndex, HammingIsa, Neighbor, Searcher, distances_on};
use rayon::prelude::*;

/// SplitMix64 words.
fn words(n: usize, seed: u64) -> Vec<u64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        })
        .collect()
}

/// `n` random codes of `bits` bits in `ceil(bits/64)` words each.
fn codes(n: usize, bits: usize, seed: u64) -> Vec<u64> {
    let w = bits.div_ceil(64);
    let mut v = words(n * w, seed);
    for (i, x) in v.iter_mut().enumerate() {
        let left = bits - 64 * (i % w);
        if left < 64 {
            *x &= (1u64 << left) - 1;
        }
    }
    v
}

/// GB/s of a streaming `u64` sum over `buf` with up to `tasks` tasks.
fn read_gbs(quick: bool, buf: &[u64], tasks: usize) -> f64 {
    let chunk = buf.len().div_ceil(tasks.max(1));
    let mut sink = 0u64;
    let secs = time_sampled(quick, || {
        let s: u64 = if tasks <= 1 {
            buf.iter().fold(0u64, |a, &b| a.wrapping_add(b))
        } else {
            buf.par_chunks(chunk)
                .map(|c| c.iter().fold(0u64, |a, &b| a.wrapping_add(b)))
                .reduce(|| 0, u64::wrapping_add)
        };
        sink = sink.wrapping_add(s);
    });
    std::hint::black_box(sink);
    (buf.len() * 8) as f64 / secs / 1e9
}

/// Distances of `query` to every row-major code, the plain way.
fn naive(codes: &[u64], w: usize, query: &[u64], out: &mut [u32]) {
    for (o, c) in out.iter_mut().zip(codes.chunks_exact(w)) {
        *o = c.iter().zip(query).map(|(a, b)| (a ^ b).count_ones()).sum();
    }
}

/// One code width's figures: `(key, microseconds per query, GB/s)`.
fn run_width(o: &QuickOpts, n: usize, bits: usize, out: &mut Vec<(String, f64, f64)>) {
    let w = bits.div_ceil(64);
    let flat = codes(n, bits, bits as u64);
    let index = HammingIndex::new(&flat, w).expect("index");
    let nq = if o.quick { 8 } else { 64 };
    let queries = codes(nq, bits, 99);
    let bytes = index.scan_bytes() as f64;
    let mut dist = vec![0u32; n];
    let record = |key: String, secs: f64, out: &mut Vec<(String, f64, f64)>| {
        let per = secs / nq as f64;
        println!(
            "  {bits:>3} bits {key:<28} {:>9.1} us/query {:>7.2} GB/s",
            per * 1e6,
            bytes / per / 1e9
        );
        out.push((format!("{key}_b{bits}"), per * 1e6, bytes / per / 1e9));
    };
    for isa in HammingIsa::ALL.into_iter().filter(|i| i.is_available()) {
        let secs = time_sampled(o.quick, || {
            for q in queries.chunks_exact(w) {
                distances_on(isa, &index, q, &mut dist, Par::Seq).expect("distances");
            }
        });
        record(format!("scan_{}_t1", isa.name()), secs, out);
    }
    let secs = time_sampled(o.quick, || {
        for q in queries.chunks_exact(w) {
            naive(&flat, w, q, &mut dist);
        }
    });
    std::hint::black_box(&dist);
    record("scan_naive_t1".into(), secs, out);
    let mut searcher = Searcher::new();
    let mut hits: Vec<Neighbor> = Vec::new();
    for (par, t) in [(Par::Seq, 1), (Par::All, o.threads)] {
        let secs = time_sampled(o.quick, || {
            for q in queries.chunks_exact(w) {
                searcher
                    .nearest(&index, q, 10, &mut hits, par)
                    .expect("knn");
            }
        });
        record(format!("knn10_t{t}"), secs, out);
        let secs = time_sampled(o.quick, || {
            for q in queries.chunks_exact(w) {
                searcher
                    .within(&index, q, 2, &mut hits, par)
                    .expect("radius");
            }
        });
        record(format!("radius2_t{t}"), secs, out);
    }
}

fn main() {
    let o = QuickOpts::from_args("hamming-search");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(o.threads)
        .build()
        .expect("thread pool");
    pool.install(|| {
        let n = if o.quick { 100_000 } else { 1_000_000 };
        let mut pairs: Vec<(String, String)> = Vec::new();
        let big = words(if o.quick { 8 << 20 } else { 64 << 20 }, 7);
        let (m1, mt) = (read_gbs(o.quick, &big, 1), read_gbs(o.quick, &big, o.threads));
        drop(big);
        println!(
            "memory read bandwidth (streaming u64 sum): {m1:.2} GB/s on 1 thread, {mt:.2} GB/s on {} threads",
            o.threads
        );
        println!(
            "default Hamming kernel: {}; {n} codes",
            HammingIsa::selected()
        );
        pairs.push(("mem_gbs_t1".into(), format!("{m1:.2}")));
        pairs.push((format!("mem_gbs_t{}", o.threads), format!("{mt:.2}")));
        let mut figures = Vec::new();
        for bits in [32, 64, 128] {
            run_width(&o, n, bits, &mut figures);
        }
        for (key, us, gbs) in figures {
            pairs.push((format!("us_{key}"), format!("{us:.2}")));
            pairs.push((format!("gbs_{key}"), format!("{gbs:.2}")));
        }
        pairs.push(("codes".into(), n.to_string()));
        pairs.push(("kernel".into(), HammingIsa::selected().name().into()));
        println!("{}", result_line(&pairs));
    });
}
