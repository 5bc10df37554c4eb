//! Packing of A and B panels into contiguous, aligned buffers, and the
//! per-thread buffers that hold them.

use super::view::MatRef;
use std::cell::RefCell;

/// A growable `f32` buffer whose working slice starts on a 64-byte boundary.
/// It only grows, so after warm-up packing allocates nothing.
#[derive(Default)]
pub(crate) struct AlignedBuf {
    storage: Vec<f32>,
}

impl AlignedBuf {
    const ALIGN_FLOATS: usize = 16;

    /// A 64-byte-aligned slice of `len` floats (contents unspecified).
    pub(crate) fn slice(&mut self, len: usize) -> &mut [f32] {
        let needed = len + Self::ALIGN_FLOATS;
        if self.storage.len() < needed {
            self.storage.resize(needed, 0.0);
        }
        let misalign = (self.storage.as_ptr() as usize / 4) % Self::ALIGN_FLOATS;
        let offset = (Self::ALIGN_FLOATS - misalign) % Self::ALIGN_FLOATS;
        &mut self.storage[offset..offset + len]
    }
}

/// The packing buffers one thread uses.
#[derive(Default)]
pub(crate) struct PackBufs {
    /// The packed `mc x kc` block of A.
    pub(crate) a: AlignedBuf,
    /// The packed `kc x nc` block of B.
    pub(crate) b: AlignedBuf,
    /// The zero-padded edge panel of B when B is read in place.
    pub(crate) b_edge: AlignedBuf,
}

thread_local! {
    static PACK_BUFS: RefCell<PackBufs> = RefCell::new(PackBufs::default());
}

/// Runs `f` with this thread's packing buffers (or fresh ones if they are
/// already in use further up the stack, e.g. a GEMM called from an epilogue).
pub(crate) fn with_pack_bufs<R>(f: impl FnOnce(&mut PackBufs) -> R) -> R {
    PACK_BUFS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut bufs) => f(&mut bufs),
        Err(_) => f(&mut PackBufs::default()),
    })
}

/// Packs rows `rows.start..rows.start+mc` and columns `p0..p0+kc` of `a` into
/// `ceil(mc/MR)` k-major panels of `MR x kc`, zero-padding the last panel.
#[inline(always)]
#[allow(non_snake_case)]
pub(crate) fn pack_a(
    MR: usize,
    a: &MatRef<'_>,
    i0: usize,
    mc: usize,
    p0: usize,
    kc: usize,
    dst: &mut [f32],
) {
    let data = a.as_slice();
    let (rs, cs) = (a.row_stride(), a.col_stride());
    for (panel, out) in dst
        .chunks_exact_mut(MR * kc)
        .take(mc.div_ceil(MR))
        .enumerate()
    {
        let r0 = i0 + panel * MR;
        let rows = MR.min(i0 + mc - r0);
        if cs == 1 {
            // Rows are contiguous: read each row once, scatter with stride MR.
            for i in 0..rows {
                let src = &data[(r0 + i) * rs + p0..(r0 + i) * rs + p0 + kc];
                for (p, &v) in src.iter().enumerate() {
                    out[p * MR + i] = v;
                }
            }
        } else {
            for p in 0..kc {
                let col = (p0 + p) * cs;
                for i in 0..rows {
                    out[p * MR + i] = data[(r0 + i) * rs + col];
                }
            }
        }
        if rows < MR {
            for p in 0..kc {
                out[p * MR + rows..p * MR + MR].fill(0.0);
            }
        }
    }
}

/// Packs rows `p0..p0+kc` and columns `j0..j0+nc` of `b` into `ceil(nc/NR)`
/// panels of `kc x NR` (row `p` of a panel is `NR` contiguous floats),
/// zero-padding the last panel.
#[inline(always)]
#[allow(non_snake_case)]
pub(crate) fn pack_b(
    NR: usize,
    b: &MatRef<'_>,
    p0: usize,
    kc: usize,
    j0: usize,
    nc: usize,
    dst: &mut [f32],
) {
    let data = b.as_slice();
    let (rs, cs) = (b.row_stride(), b.col_stride());
    for (panel, out) in dst
        .chunks_exact_mut(NR * kc)
        .take(nc.div_ceil(NR))
        .enumerate()
    {
        let c0 = j0 + panel * NR;
        let cols = NR.min(j0 + nc - c0);
        if cs == 1 {
            for p in 0..kc {
                let row = (p0 + p) * rs + c0;
                out[p * NR..p * NR + cols].copy_from_slice(&data[row..row + cols]);
                out[p * NR + cols..p * NR + NR].fill(0.0);
            }
        } else if rs == 1 {
            // Columns are contiguous: read each column once.
            for j in 0..cols {
                let src = &data[(c0 + j) * cs + p0..(c0 + j) * cs + p0 + kc];
                for (p, &v) in src.iter().enumerate() {
                    out[p * NR + j] = v;
                }
            }
            for p in 0..kc {
                out[p * NR + cols..p * NR + NR].fill(0.0);
            }
        } else {
            for p in 0..kc {
                for j in 0..cols {
                    out[p * NR + j] = data[(p0 + p) * rs + (c0 + j) * cs];
                }
                out[p * NR + cols..p * NR + NR].fill(0.0);
            }
        }
    }
}
