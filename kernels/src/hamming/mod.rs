//! Hamming distances between bit-packed binary codes (semantic hashing),
//! and k-nearest and Hamming-ball retrieval on top ([`Searcher`]).
//!
//! A code is `words` `u64` words (any number; bits past the code's width
//! must be zero in every code and query, so they add nothing). An index
//! ([`HammingIndex`]) stores its codes in blocks of [`BLOCK`] codes, word
//! by word: block `b` holds word 0 of its 8 codes, then word 1, …, so the
//! distance of a query to 8 codes is `Σ_w popcount(block_w ^ q_w)` with
//! vertical additions only, for every code width. The last block is
//! padded with zero codes, whose distances are never reported.
//!
//! Three kernels compute a block's 8 distances, chosen at run time like
//! the other kernels ([`HammingIsa`], capped by `LATENT_ISA` through
//! [`Isa::selected`]):
//!
//! - AVX-512 with VPOPCNTDQ: one `vpxorq` and one `vpopcntq` per word of 8
//!   codes, the 64-bit sums narrowed to `u32`;
//! - AVX2: the nibble-table popcount (`vpshufb` on the low and high
//!   nibbles), byte counts summed over up to 31 words before `vpsadbw`
//!   widens them;
//! - portable: `u64::count_ones`.
//!
//! All three give the same (exact, integer) distances. Work is split
//! between rayon tasks by ranges of index blocks (never below
//! [`MIN_CODES_PER_TASK`] codes a task), so results do not depend on the
//! thread count.

mod search;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use search::{Neighbor, Searcher};

use std::fmt;

use rayon::prelude::*;

use crate::dispatch::{Family, record};
use crate::{Isa, KernelError, Par};

/// Codes per block of an index (one AVX-512 vector of words).
pub const BLOCK: usize = 8;

/// Codes below which a task is not worth handing to another thread.
pub const MIN_CODES_PER_TASK: usize = 1 << 14;

/// Codes per tile: a task computes this many distances into a buffer
/// that stays in L1 before it reads them.
pub(crate) const TILE: usize = 1024;

/// The instruction set of the Hamming kernels, a level beside [`Isa`]:
/// the AVX-512 kernel needs VPOPCNTDQ on top of AVX-512F, and under an
/// AVX-512 cap a CPU without it uses the AVX2 kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HammingIsa {
    /// `u64::count_ones`, compiled for the baseline target.
    Portable,
    /// AVX2: nibble-table popcount with `vpshufb`, sums with `vpsadbw`.
    Avx2,
    /// AVX-512F with VPOPCNTDQ (`vpopcntq`; Ice Lake, Sapphire Rapids and
    /// later, Zen 4 and later).
    Avx512Vpopcntdq,
}

impl HammingIsa {
    /// Every Hamming instruction set, slowest first.
    pub const ALL: [HammingIsa; 3] = [
        HammingIsa::Portable,
        HammingIsa::Avx2,
        HammingIsa::Avx512Vpopcntdq,
    ];

    /// Whether this CPU can run the kernel for `self`.
    pub fn is_available(self) -> bool {
        match self {
            HammingIsa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            HammingIsa::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            HammingIsa::Avx512Vpopcntdq => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The best Hamming kernel allowed under the instruction set `cap`
    /// that this CPU has.
    pub fn best_under(cap: Isa) -> HammingIsa {
        let allowed = match cap {
            Isa::Portable => HammingIsa::Portable,
            Isa::Avx2 => HammingIsa::Avx2,
            Isa::Avx512 => HammingIsa::Avx512Vpopcntdq,
        };
        HammingIsa::ALL
            .into_iter()
            .rev()
            .find(|h| *h <= allowed && h.is_available())
            .unwrap_or(HammingIsa::Portable)
    }

    /// The kernel the plain entry points use: the best under
    /// [`Isa::selected`] (so `LATENT_ISA` caps it).
    pub fn selected() -> HammingIsa {
        HammingIsa::best_under(Isa::selected())
    }

    /// The [`Isa`] level whose instructions the kernel uses, for the record
    /// of what ran ([`crate::dispatch::take_ran`]).
    pub fn base(self) -> Isa {
        match self {
            HammingIsa::Portable => Isa::Portable,
            HammingIsa::Avx2 => Isa::Avx2,
            HammingIsa::Avx512Vpopcntdq => Isa::Avx512,
        }
    }

    /// The lower-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            HammingIsa::Portable => "portable",
            HammingIsa::Avx2 => "avx2",
            HammingIsa::Avx512Vpopcntdq => "avx512vpopcntdq",
        }
    }

    /// `self`, if this CPU has it.
    fn checked(self) -> Result<HammingIsa, KernelError> {
        if self.is_available() {
            Ok(self)
        } else {
            Err(KernelError::InvalidValue {
                what: "Hamming instruction set",
                value: self.name().to_string(),
                expected: "one this CPU supports",
            })
        }
    }
}

impl fmt::Display for HammingIsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An index of `len` binary codes of `words` `u64` words each, stored in
/// blocks of [`BLOCK`] codes word by word (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HammingIndex {
    len: usize,
    words: usize,
    blocks: Vec<u64>,
}

impl HammingIndex {
    /// The index of the codes in `codes`: row-major, `words` words a code
    /// (code `i` is `codes[i·words .. (i+1)·words]`). Errors if `words` is
    /// 0, `codes` is not a whole number of codes, or there are more than
    /// `u32::MAX` codes.
    pub fn new(codes: &[u64], words: usize) -> Result<HammingIndex, KernelError> {
        if words == 0 {
            return Err(KernelError::InvalidValue {
                what: "HammingIndex: words per code",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        if !codes.len().is_multiple_of(words) {
            return Err(KernelError::LengthMismatch {
                what: "HammingIndex: codes (a whole number of codes of `words` words)",
                expected: codes.len().next_multiple_of(words),
                found: codes.len(),
            });
        }
        let len = codes.len() / words;
        if len > u32::MAX as usize {
            return Err(KernelError::InvalidValue {
                what: "HammingIndex: number of codes",
                value: len.to_string(),
                expected: "at most 2^32 - 1",
            });
        }
        let mut blocks = vec![0u64; len.div_ceil(BLOCK) * BLOCK * words];
        for (i, code) in codes.chunks_exact(words).enumerate() {
            let base = (i / BLOCK) * BLOCK * words + i % BLOCK;
            for (w, &word) in code.iter().enumerate() {
                blocks[base + w * BLOCK] = word;
            }
        }
        Ok(HammingIndex { len, words, blocks })
    }

    /// The number of codes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the index holds no code.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Words per code.
    pub fn words(&self) -> usize {
        self.words
    }

    /// Word `w` of code `i` (`None` past either end).
    pub fn word(&self, i: usize, w: usize) -> Option<u64> {
        (i < self.len && w < self.words)
            .then(|| self.blocks[(i / BLOCK) * BLOCK * self.words + w * BLOCK + i % BLOCK])
    }

    /// Bytes of codes a full scan reads (the blocks, padding included).
    pub fn scan_bytes(&self) -> usize {
        self.blocks.len() * std::mem::size_of::<u64>()
    }

    /// Checks that `query` is one code of this index's width.
    fn check_query(&self, what: &'static str, query: &[u64]) -> Result<(), KernelError> {
        if query.len() != self.words {
            return Err(KernelError::LengthMismatch {
                what,
                expected: self.words,
                found: query.len(),
            });
        }
        Ok(())
    }
}

/// The distances of `query` to the codes `first .. first + out.len()` of
/// `index` (`first` a multiple of [`BLOCK`]), into `out`, on the calling
/// thread. Shapes are the caller's to check.
pub(crate) fn range_distances(
    isa: HammingIsa,
    index: &HammingIndex,
    query: &[u64],
    first: usize,
    out: &mut [u32],
) {
    debug_assert!(first.is_multiple_of(BLOCK) && first + out.len() <= index.len);
    let words = index.words;
    let full = out.len() / BLOCK * BLOCK;
    let start = first * words;
    let blocks = &index.blocks[start..start + full * words];
    block_distances(isa, blocks, words, query, &mut out[..full]);
    if full < out.len() {
        let tail = start + full * words;
        let mut buf = [0u32; BLOCK];
        block_distances(
            isa,
            &index.blocks[tail..tail + BLOCK * words],
            words,
            query,
            &mut buf,
        );
        let rest = out.len() - full;
        out[full..].copy_from_slice(&buf[..rest]);
    }
}

/// The distances of `query` to every code of the whole blocks `blocks`
/// (`out.len() / 8` blocks of `words` words), into `out`.
fn block_distances(isa: HammingIsa, blocks: &[u64], words: usize, query: &[u64], out: &mut [u32]) {
    assert!(
        out.len().is_multiple_of(BLOCK)
            && blocks.len() == out.len() * words
            && query.len() == words
    );
    record(Family::Hamming, isa.base());
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` was checked to be available on this CPU (every
        // public entry point goes through `HammingIsa::checked` or
        // `best_under`), and the lengths the kernel relies on were
        // asserted just above.
        HammingIsa::Avx512Vpopcntdq => unsafe { x86::blocks_avx512(blocks, words, query, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, for AVX2.
        HammingIsa::Avx2 => unsafe { x86::blocks_avx2(blocks, words, query, out) },
        _ => blocks_portable(blocks, words, query, out),
    }
}

/// The portable kernel: `count_ones` of each word's exclusive or.
fn blocks_portable(blocks: &[u64], words: usize, query: &[u64], out: &mut [u32]) {
    for (block, dist) in blocks
        .chunks_exact(BLOCK * words)
        .zip(out.chunks_exact_mut(BLOCK))
    {
        let mut acc = [0u32; BLOCK];
        for (lanes, &q) in block.chunks_exact(BLOCK).zip(query) {
            for (a, &c) in acc.iter_mut().zip(lanes) {
                *a += (c ^ q).count_ones();
            }
        }
        dist.copy_from_slice(&acc);
    }
}

/// Codes per task for `len` codes under `par` (a multiple of [`BLOCK`]),
/// or `None` to stay on the calling thread.
pub(crate) fn codes_per_task(par: Par, len: usize) -> Option<usize> {
    let tasks = par.max_tasks().min(len / MIN_CODES_PER_TASK).max(1);
    (tasks > 1).then(|| len.div_ceil(tasks).next_multiple_of(BLOCK))
}

/// `out[i]` = the Hamming distance of `query` to code `i` of `index`.
pub fn distances(
    index: &HammingIndex,
    query: &[u64],
    out: &mut [u32],
    par: Par,
) -> Result<(), KernelError> {
    distances_on(HammingIsa::selected(), index, query, out, par)
}

/// [`distances`] with a given kernel.
pub fn distances_on(
    isa: HammingIsa,
    index: &HammingIndex,
    query: &[u64],
    out: &mut [u32],
    par: Par,
) -> Result<(), KernelError> {
    let isa = isa.checked()?;
    index.check_query("hamming distances: query words", query)?;
    check_out(
        "hamming distances: out (one per code)",
        out.len(),
        index.len,
    )?;
    match codes_per_task(par, index.len) {
        None => range_distances(isa, index, query, 0, out),
        Some(per) => out
            .par_chunks_mut(per)
            .enumerate()
            .for_each(|(t, o)| range_distances(isa, index, query, t * per, o)),
    }
    Ok(())
}

/// The distances of a block of queries (row-major, `words` words each)
/// to every code: `out[q·len + i]` for query `q` and code `i`. The index
/// is read tile by tile, each tile for every query while it is in cache.
pub fn distances_block(
    index: &HammingIndex,
    queries: &[u64],
    out: &mut [u32],
    par: Par,
) -> Result<(), KernelError> {
    distances_block_on(HammingIsa::selected(), index, queries, out, par)
}

/// [`distances_block`] with a given kernel.
pub fn distances_block_on(
    isa: HammingIsa,
    index: &HammingIndex,
    queries: &[u64],
    out: &mut [u32],
    par: Par,
) -> Result<(), KernelError> {
    let isa = isa.checked()?;
    let words = index.words;
    if !queries.len().is_multiple_of(words) {
        return Err(KernelError::LengthMismatch {
            what: "hamming distances_block: queries (whole codes of the index's width)",
            expected: queries.len().next_multiple_of(words),
            found: queries.len(),
        });
    }
    let nq = queries.len() / words;
    let n = index.len;
    let expected = nq.checked_mul(n).ok_or(KernelError::InvalidValue {
        what: "hamming distances_block: queries x codes",
        value: String::new(),
        expected: "a count that fits in usize",
    })?;
    check_out(
        "hamming distances_block: out (queries x codes)",
        out.len(),
        expected,
    )?;
    let out = OutPtr(out.as_mut_ptr());
    let task = |lo: usize, hi: usize| {
        let mut t = lo;
        while t < hi {
            let end = (t + TILE).min(hi);
            for (q, query) in queries.chunks_exact(words).enumerate() {
                // SAFETY: `out` holds `nq·n` values (checked above) and
                // is borrowed mutably for this whole call; `q < nq` and
                // `t < end <= n`, so the slice is in bounds, and tasks
                // cover disjoint code ranges `lo..hi`, so no two live
                // slices overlap.
                let o = unsafe { out.slice(q * n + t, end - t) };
                range_distances(isa, index, query, t, o);
            }
            t = end;
        }
    };
    match codes_per_task(par, n) {
        None => task(0, n),
        Some(per) => (0..n.div_ceil(per))
            .into_par_iter()
            .for_each(|k| task(k * per, ((k + 1) * per).min(n))),
    }
    Ok(())
}

/// The output of [`distances_block_on`], shared between tasks that
/// write disjoint parts of it.
#[derive(Clone, Copy)]
struct OutPtr(*mut u32);

// SAFETY: the pointer is only turned into slices of disjoint ranges, one
// task each, while the exclusive borrow it came from is held.
unsafe impl Send for OutPtr {}
// SAFETY: as above.
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// `len` values from `offset`.
    ///
    /// # Safety
    /// `offset + len` must be within the buffer, and no other live slice
    /// may overlap the range.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice(&self, offset: usize, len: usize) -> &mut [u32] {
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(offset), len) }
    }
}

fn check_out(what: &'static str, len: usize, expected: usize) -> Result<(), KernelError> {
    if len != expected {
        return Err(KernelError::LengthMismatch {
            what,
            expected,
            found: len,
        });
    }
    Ok(())
}
