//! Cache blocking for the SGEMM loops, in one place.

/// Block sizes of the five loops around the microkernel.
///
/// The microkernels broadcast from A and vector-load from B (C is row-major
/// in the registers), which is the transpose of the BLIS column-major
/// picture; the roles of the blocks follow from that:
///
/// - `kc`: depth of one rank-`kc` update. The packed `MR x kc` panel of A
///   is reused by every B panel the kernel sweeps (24 KiB for 12x32 at
///   512); each update also loads and stores its C tile once, so a deep
///   `kc` amortises that. On Zen 4 (32 KiB L1, 1 MiB L2) 512 beat 256 by
///   2-4 % at every shape of `gemm-report` (1024³ 88 → 92 % of peak,
///   1000x784x4096 86.5 → 91 %, 100x784x500 90.5 → 92 %): the B panels
///   stream from L2 either way, and the C traffic halves.
/// - `nc`: columns of B per block. The packed `kc x nc` block of B is swept
///   once per A panel and should stay in L2 (`kc * nc * 4`: 1 MiB at
///   512 x 512; 256 and 1024 were no better).
/// - `mc`: rows of A per block. The packed `mc x kc` block of A is reused
///   for every B block and lives in L2/L3.
///
/// `mc` is rounded to a multiple of the kernel's `MR` and `nc` to a multiple
/// of `NR` before use. A [`Dispatch`](crate::dispatch::Dispatch) may override
/// the defaults (`LATENT_GEMM_BLOCKING=mc,kc,nc`), for tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocking {
    /// Rows of A packed per block.
    pub mc: usize,
    /// Depth of one rank-`kc` update.
    pub kc: usize,
    /// Columns of B packed per block.
    pub nc: usize,
}

impl Blocking {
    /// `over` when given (an override from the [`Dispatch`](crate::dispatch::Dispatch),
    /// e.g. `LATENT_GEMM_BLOCKING`), else `self`, rounded to the tile shape
    /// `mr x nr`.
    pub(crate) fn resolve(self, over: Option<Blocking>, mr: usize, nr: usize) -> Blocking {
        let raw = over.unwrap_or(self);
        Blocking {
            mc: raw.mc.max(1).div_ceil(mr) * mr,
            kc: raw.kc.max(1),
            nc: raw.nc.max(1).div_ceil(nr) * nr,
        }
    }
}
