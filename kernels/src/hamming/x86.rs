//! The x86-64 Hamming kernels: AVX-512 VPOPCNTDQ and AVX2 (nibble-table
//! popcount). Each computes the distances of one query to whole blocks of
//! 8 codes laid out word by word (see the module above).

use core::arch::x86_64::*;

use super::BLOCK;

/// Words whose byte counts (at most 8 per byte and word) can be summed in
/// a byte before it could overflow (31 · 8 = 248).
const BYTE_SUM_WORDS: usize = 31;

/// AVX-512: `vpopcntq` of each word's exclusive or, summed per code.
///
/// # Safety
/// The CPU must have AVX-512F and VPOPCNTDQ; `out.len()` must be a
/// multiple of 8, `blocks.len() == out.len() · words` and
/// `query.len() == words`.
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
pub(super) unsafe fn blocks_avx512(blocks: &[u64], words: usize, query: &[u64], out: &mut [u32]) {
    let nb = out.len() / BLOCK;
    let src = blocks.as_ptr();
    let dst = out.as_mut_ptr();
    for b in 0..nb {
        let mut acc = _mm512_setzero_si512();
        for (w, &q) in query.iter().enumerate() {
            // SAFETY: block `b < nb` word `w < words` is the 8 values from
            // `(b·words + w)·8`, inside `blocks` by the length contract.
            let v = unsafe { _mm512_loadu_si512(src.add((b * words + w) * BLOCK).cast()) };
            let x = _mm512_xor_si512(v, _mm512_set1_epi64(q as i64));
            acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(x));
        }
        // Each sum is at most 64·words, which fits in 32 bits for any
        // index that fits in memory.
        let d = _mm512_cvtepi64_epi32(acc);
        // SAFETY: the 8 values from `b·8` are inside `out`.
        unsafe { _mm256_storeu_si256(dst.add(b * BLOCK).cast(), d) };
    }
}

/// The byte-wise popcount of `x` by the nibble table.
#[inline]
#[target_feature(enable = "avx2")]
fn popcount_bytes(x: __m256i, table: __m256i, low: __m256i) -> __m256i {
    let lo = _mm256_and_si256(x, low);
    let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(x), low);
    _mm256_add_epi8(
        _mm256_shuffle_epi8(table, lo),
        _mm256_shuffle_epi8(table, hi),
    )
}

/// AVX2: nibble-table popcounts of each word's exclusive or, summed per
/// byte over up to 31 words, then per code with `vpsadbw`.
///
/// # Safety
/// The CPU must have AVX2; the lengths as for [`blocks_avx512`].
#[target_feature(enable = "avx2")]
pub(super) unsafe fn blocks_avx2(blocks: &[u64], words: usize, query: &[u64], out: &mut [u32]) {
    let table = _mm256_setr_epi8(
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3,
        3, 4,
    );
    let low = _mm256_set1_epi8(0x0f);
    let zero = _mm256_setzero_si256();
    // Lanes 0, 2, 4, 6 then 1, 3, 5, 7 of the interleaved sums.
    let order = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    let nb = out.len() / BLOCK;
    let src = blocks.as_ptr();
    let dst = out.as_mut_ptr();
    for b in 0..nb {
        // Codes 0..4 and 4..8 of the block, one u64 sum each.
        let (mut acc0, mut acc1) = (zero, zero);
        for (c, qs) in query.chunks(BYTE_SUM_WORDS).enumerate() {
            let (mut bytes0, mut bytes1) = (zero, zero);
            for (k, &q) in qs.iter().enumerate() {
                let w = c * BYTE_SUM_WORDS + k;
                let q = _mm256_set1_epi64x(q as i64);
                let at = src.wrapping_add((b * words + w) * BLOCK);
                // SAFETY: block `b < nb` word `w < words` is the 8 values
                // from `(b·words + w)·8`, inside `blocks` by the length
                // contract; the two loads read 4 values each.
                let (v0, v1) = unsafe {
                    (
                        _mm256_loadu_si256(at.cast()),
                        _mm256_loadu_si256(at.add(4).cast()),
                    )
                };
                let p0 = popcount_bytes(_mm256_xor_si256(v0, q), table, low);
                let p1 = popcount_bytes(_mm256_xor_si256(v1, q), table, low);
                bytes0 = _mm256_add_epi8(bytes0, p0);
                bytes1 = _mm256_add_epi8(bytes1, p1);
            }
            acc0 = _mm256_add_epi64(acc0, _mm256_sad_epu8(bytes0, zero));
            acc1 = _mm256_add_epi64(acc1, _mm256_sad_epu8(bytes1, zero));
        }
        // [a0, b0, a1, b1, …] as 32-bit lanes, then a0..a3, b0..b3.
        let mixed = _mm256_or_si256(acc0, _mm256_slli_epi64::<32>(acc1));
        let d = _mm256_permutevar8x32_epi32(mixed, order);
        // SAFETY: the 8 values from `b·8` are inside `out`.
        unsafe { _mm256_storeu_si256(dst.add(b * BLOCK).cast(), d) };
    }
}
