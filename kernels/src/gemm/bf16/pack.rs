//! Packing of f32 operands into bf16 panels that pair consecutive k: each
//! `u32` holds the bf16 of an even k in its low half and of the next k in
//! its high half (zero past the end of an odd `kc`), the layout
//! `vdpbf16ps` reads (and AMX's B tiles).

use crate::bf16::pair;
use crate::gemm::MatRef;

/// Element `(i, j)` of a strided matrix.
#[inline(always)]
fn at(data: &[f32], rs: usize, cs: usize, i: usize, j: usize) -> f32 {
    data[i * rs + j * cs]
}

/// Packs rows `i0..i0+mc` and columns `p0..p0+kc` of `a` into
/// `ceil(mc/mr)` panels of `ceil(kc/2) x mr` words: word `q*mr + i` of a
/// panel pairs `A[r0+i, p0+2q]` and `A[r0+i, p0+2q+1]`. Rows past `mc` and
/// the k past `kc` are zero.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pack_a_pairs(
    mr: usize,
    a: &MatRef<'_>,
    i0: usize,
    mc: usize,
    p0: usize,
    kc: usize,
    dst: &mut [u32],
) {
    let (data, rs, cs) = (a.as_slice(), a.row_stride(), a.col_stride());
    let pairs = kc.div_ceil(2);
    for (panel, out) in dst
        .chunks_exact_mut(mr * pairs)
        .take(mc.div_ceil(mr))
        .enumerate()
    {
        let r0 = i0 + panel * mr;
        let rows = mr.min(i0 + mc - r0);
        for q in 0..pairs {
            let (p, word) = (p0 + 2 * q, &mut out[q * mr..q * mr + mr]);
            let has_hi = 2 * q + 1 < kc;
            for (i, w) in word.iter_mut().enumerate().take(rows) {
                let lo = at(data, rs, cs, r0 + i, p);
                let hi = if has_hi {
                    at(data, rs, cs, r0 + i, p + 1)
                } else {
                    0.0
                };
                *w = pair(lo, hi);
            }
            word[rows..].fill(0);
        }
    }
}

/// Packs rows `p0..p0+kc` and columns `j0..j0+nc` of `b` into
/// `ceil(nc/nr)` panels of `ceil(kc/2) x nr` words: word `q*nr + j` of a
/// panel pairs `B[p0+2q, c0+j]` and `B[p0+2q+1, c0+j]`. Columns past `nc`
/// and the k past `kc` are zero.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pack_b_pairs(
    nr: usize,
    b: &MatRef<'_>,
    p0: usize,
    kc: usize,
    j0: usize,
    nc: usize,
    dst: &mut [u32],
) {
    let (data, rs, cs) = (b.as_slice(), b.row_stride(), b.col_stride());
    let pairs = kc.div_ceil(2);
    for (panel, out) in dst
        .chunks_exact_mut(nr * pairs)
        .take(nc.div_ceil(nr))
        .enumerate()
    {
        let c0 = j0 + panel * nr;
        let cols = nr.min(j0 + nc - c0);
        if rs == 1 && cs != 1 {
            pack_b_panel_column_major(data, cs, p0, kc, c0, cols, nr, out);
            continue;
        }
        for q in 0..pairs {
            let (p, word) = (p0 + 2 * q, &mut out[q * nr..q * nr + nr]);
            if 2 * q + 1 < kc && cs == 1 {
                // Two contiguous rows: a loop the compiler vectorises.
                let lo = &data[p * rs + c0..p * rs + c0 + cols];
                let hi = &data[(p + 1) * rs + c0..(p + 1) * rs + c0 + cols];
                for ((w, &l), &h) in word.iter_mut().zip(lo).zip(hi) {
                    *w = pair(l, h);
                }
            } else {
                let has_hi = 2 * q + 1 < kc;
                for (j, w) in word.iter_mut().enumerate().take(cols) {
                    let lo = at(data, rs, cs, p, c0 + j);
                    let hi = if has_hi {
                        at(data, rs, cs, p + 1, c0 + j)
                    } else {
                        0.0
                    };
                    *w = pair(lo, hi);
                }
            }
            word[cols..].fill(0);
        }
    }
}

/// One panel of [`pack_b_pairs`] for a B whose columns are contiguous
/// (`B[p, j]` at `data[j*cs + p]`, e.g. the transpose of a row-major
/// matrix): each column's pairs are adjacent in memory, so the panel is
/// filled column by column, reading each column once in order (the
/// row-by-row order would stride through memory for every word).
#[allow(clippy::too_many_arguments)]
fn pack_b_panel_column_major(
    data: &[f32],
    cs: usize,
    p0: usize,
    kc: usize,
    c0: usize,
    cols: usize,
    nr: usize,
    out: &mut [u32],
) {
    let pairs = kc.div_ceil(2);
    for j in 0..cols {
        let column = &data[(c0 + j) * cs + p0..(c0 + j) * cs + p0 + kc];
        let mut whole = column.chunks_exact(2);
        for (q, two) in whole.by_ref().enumerate() {
            out[q * nr + j] = pair(two[0], two[1]);
        }
        if let [last] = whole.remainder() {
            out[(pairs - 1) * nr + j] = pair(*last, 0.0);
        }
    }
    for q in 0..pairs {
        out[q * nr + cols..q * nr + nr].fill(0);
    }
}
