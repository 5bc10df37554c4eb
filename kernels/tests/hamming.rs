//! The Hamming kernels against a naive implementation: every kernel this
//! CPU has (a `SKIP:` line for the others), code widths of 1 to 4 words
//! (and one past the AVX2 kernel's 31-word byte sums) with odd bit
//! counts, index sizes of 0, 1 and not a multiple of the block or tile,
//! one thread against several, and no allocation per query once warm.

use latent_kernels::Par;
use latent_kernels::hamming::{
    HammingIndex, HammingIsa, Neighbor, Searcher, distances_block_on, distances_on,
};
use latent_testkit::alloc_count::{CountingAllocator, allocations_on_this_thread};
use latent_testkit::thread_pool;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// A small seeded generator (SplitMix64).
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `n` random codes of `bits` bits (the bits past `bits` zero), in
    /// `ceil(bits/64)` words each; with `sparse`, few bits set, so that
    /// many distances tie.
    fn codes(&mut self, n: usize, bits: usize, sparse: bool) -> Vec<u64> {
        let words = bits.div_ceil(64);
        let mut v = Vec::with_capacity(n * words);
        for _ in 0..n {
            for w in 0..words {
                let mut x = self.next();
                if sparse {
                    x &= self.next() & self.next();
                }
                let left = bits - 64 * w;
                if left < 64 {
                    x &= (1u64 << left) - 1;
                }
                v.push(x);
            }
        }
        v
    }
}

fn present() -> Vec<HammingIsa> {
    HammingIsa::ALL
        .into_iter()
        .filter(|isa| {
            let ok = isa.is_available();
            if !ok {
                eprintln!(
                    "SKIP: {isa} not supported by this CPU; its Hamming kernel is not tested here"
                );
            }
            ok
        })
        .collect()
}

fn naive_distances(codes: &[u64], words: usize, query: &[u64]) -> Vec<u32> {
    codes
        .chunks_exact(words)
        .map(|c| c.iter().zip(query).map(|(a, b)| (a ^ b).count_ones()).sum())
        .collect()
}

/// Every code within `radius` (or all, for k-nearest), sorted by distance
/// then index, the first `k`.
fn naive_search(d: &[u32], k: Option<usize>, radius: Option<u32>) -> Vec<Neighbor> {
    let mut all: Vec<Neighbor> = d
        .iter()
        .enumerate()
        .map(|(i, &distance)| Neighbor {
            distance,
            index: i as u32,
        })
        .filter(|n| radius.is_none_or(|r| n.distance <= r))
        .collect();
    all.sort_by_key(|n| (n.distance, n.index));
    if let Some(k) = k {
        all.truncate(k);
    }
    all
}

const BITS: [usize; 12] = [1, 7, 32, 33, 63, 64, 65, 127, 129, 191, 200, 256];
const SIZES: [usize; 8] = [0, 1, 7, 8, 9, 31, 1025, 2071];

#[test]
fn distances_equal_the_naive_ones_on_every_kernel() {
    let mut g = Gen(1);
    for isa in present() {
        for bits in BITS.into_iter().chain([35 * 64 - 3]) {
            let words = bits.div_ceil(64);
            for n in SIZES {
                let codes = g.codes(n, bits, false);
                let index = HammingIndex::new(&codes, words).unwrap();
                assert_eq!(index.len(), n);
                let queries = g.codes(3, bits, false);
                let mut out = vec![u32::MAX; n];
                for q in queries.chunks_exact(words) {
                    distances_on(isa, &index, q, &mut out, Par::Seq).unwrap();
                    assert_eq!(
                        out,
                        naive_distances(&codes, words, q),
                        "{isa} {bits} bits n={n}"
                    );
                }
                let mut block = vec![u32::MAX; 3 * n];
                distances_block_on(isa, &index, &queries, &mut block, Par::Seq).unwrap();
                let want: Vec<u32> = queries
                    .chunks_exact(words)
                    .flat_map(|q| naive_distances(&codes, words, q))
                    .collect();
                assert_eq!(block, want, "{isa} block {bits} bits n={n}");
            }
        }
    }
}

#[test]
fn the_index_keeps_every_word_of_every_code() {
    let mut g = Gen(2);
    let codes = g.codes(21, 130, false);
    let index = HammingIndex::new(&codes, 3).unwrap();
    for i in 0..21 {
        for w in 0..3 {
            assert_eq!(index.word(i, w), Some(codes[i * 3 + w]));
        }
    }
    assert_eq!(index.word(21, 0), None);
    assert_eq!(index.word(0, 3), None);
    assert_eq!(index.scan_bytes(), 24 * 3 * 8);
}

#[test]
fn nearest_and_within_equal_a_naive_search() {
    let mut g = Gen(3);
    for isa in present() {
        let mut s = Searcher::on(isa).unwrap();
        let mut out = Vec::new();
        for bits in [7usize, 33, 64, 129, 256] {
            let words = bits.div_ceil(64);
            for n in SIZES {
                // Sparse codes: many ties, broken by index.
                let codes = g.codes(n, bits, true);
                let index = HammingIndex::new(&codes, words).unwrap();
                let q = g.codes(1, bits, true);
                let d = naive_distances(&codes, words, &q);
                for k in [0, 1, 3, 10, 1500, n + 5] {
                    s.nearest(&index, &q, k, &mut out, Par::Seq).unwrap();
                    assert_eq!(
                        out,
                        naive_search(&d, Some(k), None),
                        "{isa} {bits} n={n} k={k}"
                    );
                }
                for r in [0, 1, 2, 5, bits as u32] {
                    s.within(&index, &q, r, &mut out, Par::Seq).unwrap();
                    assert_eq!(
                        out,
                        naive_search(&d, None, Some(r)),
                        "{isa} {bits} n={n} r={r}"
                    );
                }
            }
        }
    }
}

#[test]
fn one_thread_and_several_give_the_same_results() {
    let mut g = Gen(4);
    let pool = thread_pool(4);
    for bits in [32usize, 100] {
        let words = bits.div_ceil(64);
        // Enough codes for four tasks, not a multiple of a tile.
        let n = 70_003;
        let codes = g.codes(n, bits, true);
        let index = HammingIndex::new(&codes, words).unwrap();
        let queries = g.codes(2, bits, true);
        let isa = HammingIsa::selected();
        let run = |par: Par| {
            let mut d = vec![0; 2 * n];
            distances_block_on(isa, &index, &queries, &mut d, par).unwrap();
            let mut one = vec![0; n];
            distances_on(isa, &index, &queries[..words], &mut one, par).unwrap();
            let mut s = Searcher::on(isa).unwrap();
            let (mut near, mut ball) = (Vec::new(), Vec::new());
            s.nearest(&index, &queries[..words], 10, &mut near, par)
                .unwrap();
            s.within(&index, &queries[..words], 3, &mut ball, par)
                .unwrap();
            (d, one, near, ball)
        };
        let seq = run(Par::Seq);
        let par = pool.install(|| run(Par::Rayon(4)));
        assert_eq!(seq, par, "{bits} bits");
        let d = naive_distances(&codes, words, &queries[..words]);
        assert_eq!(seq.1, d);
        assert_eq!(seq.2, naive_search(&d, Some(10), None));
        assert_eq!(seq.3, naive_search(&d, None, Some(3)));
    }
}

#[test]
fn queries_allocate_nothing_once_warm() {
    let mut g = Gen(5);
    let codes = g.codes(5000, 64, false);
    let index = HammingIndex::new(&codes, 1).unwrap();
    let queries = g.codes(8, 64, false);
    for isa in present() {
        let mut s = Searcher::on(isa).unwrap();
        let mut out = Vec::new();
        let mut d = vec![0; 5000];
        let mut each = |out: &mut Vec<Neighbor>| {
            for q in queries.chunks_exact(1) {
                s.nearest(&index, q, 10, out, Par::Seq).unwrap();
                s.within(&index, q, 24, out, Par::Seq).unwrap();
                distances_on(isa, &index, q, &mut d, Par::Seq).unwrap();
            }
        };
        each(&mut out);
        let before = allocations_on_this_thread();
        each(&mut out);
        assert_eq!(allocations_on_this_thread(), before, "{isa}");
    }
}

#[test]
fn bad_shapes_are_errors() {
    let codes = [1u64, 2, 3, 4, 5];
    assert!(HammingIndex::new(&codes, 0).is_err());
    let e = HammingIndex::new(&codes, 2).unwrap_err().to_string();
    assert!(e.contains("found 5"), "{e}");
    let index = HammingIndex::new(&codes[..4], 2).unwrap();
    let mut out = vec![0; 2];
    assert!(distances_on(HammingIsa::Portable, &index, &[1], &mut out, Par::Seq).is_err());
    let mut short = vec![0; 1];
    assert!(distances_on(HammingIsa::Portable, &index, &[1, 2], &mut short, Par::Seq).is_err());
    assert!(
        distances_block_on(HammingIsa::Portable, &index, &[1, 2, 3], &mut out, Par::Seq).is_err()
    );
    let mut s = Searcher::on(HammingIsa::Portable).unwrap();
    assert!(
        s.nearest(&index, &[1], 1, &mut Vec::new(), Par::Seq)
            .is_err()
    );
    for isa in HammingIsa::ALL.into_iter().filter(|i| !i.is_available()) {
        assert!(Searcher::on(isa).is_err());
        assert!(distances_on(isa, &index, &[1, 2], &mut out, Par::Seq).is_err());
    }
}
