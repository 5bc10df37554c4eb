//! Matrix multiplication with bf16 operands and f32 accumulation:
//! `C ← α·op(A)·op(B) + β·C`, C in f32.
//!
//! A and B are given as f32 views ([`MatRef`], any strides, so transposes
//! are free) and rounded to bf16 (nearest even, [`crate::bf16`]) while
//! they are packed, into panels that pair consecutive k (the layout
//! `vdpbf16ps` reads); an odd depth is padded with a zero. B can instead
//! be packed once ([`pack_bf16_b`], a [`PackedBf16`]) and reused across
//! products, as a training step reuses its weights. Everything else is the
//! f32 [`gemm`](crate::gemm::gemm)'s: [`Accum`] (`Replace` never reads C),
//! the [`Epilogue`] (here passed one finished tile at a time), [`Par`],
//! the cache blocking and the split of C between threads (never of k), so
//! results are bit-identical on 1 or N threads.
//!
//! The microkernel is the dispatch context's [`Bf16Isa`]: AVX512-BF16, or
//! a portable kernel that computes the same bits (the arithmetic is
//! documented in `ukr.rs`: per element of C and per pair of k, the high
//! product then the low one, each a fused multiply-add in f32, bf16
//! subnormals read as zero, subnormal sums flushed to zero). All kernels
//! share one blocking, so they agree bit for bit.
//!
//! Error: compared with the exact product of the rounded inputs, each
//! element is off by at most about `k·u·Σ_p |a_ip|·|b_pj|` (`u = 2⁻²⁴`,
//! f32 accumulation), plus the rounding of `α` and `β` terms.

mod driver;
mod pack;
mod ukr;

use super::{Accum, Epilogue, MatMut, MatRef, check_shapes};
use crate::dispatch::Dispatch;
use crate::isa::Bf16Isa;
use crate::{KernelError, Par};
use driver::{BSource, gemm_bf16_impl, kc_block};
use ukr::Bf16Kernel;

/// B (`k x n`) rounded to bf16 and packed once into the panels of one
/// bf16 kernel, for several products with the same B
/// ([`gemm_bf16_packed`]). Built by [`pack_bf16_b`] (or
/// [`Dispatch::pack_bf16_b`]); a product checks that it fits (`k`, `n`,
/// and the kernel's panel width). To multiply by both `W` and `Wᵀ`, pack
/// each.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PackedBf16 {
    k: usize,
    n: usize,
    nr: usize,
    kernel: &'static str,
    /// Per depth block of [`kc_block`]`(k)`, `ceil(n/nr)` panels of
    /// `pairs x nr` words.
    data: Vec<u32>,
}

impl PackedBf16 {
    /// Rows of B (the product's depth).
    pub fn rows(&self) -> usize {
        self.k
    }

    /// Columns of B.
    pub fn cols(&self) -> usize {
        self.n
    }

    /// The microkernel the panels were packed for.
    pub fn kernel(&self) -> &'static str {
        self.kernel
    }

    /// An empty packing (`0 x 0`), to be filled by
    /// [`Dispatch::repack_bf16_b`].
    pub fn new() -> PackedBf16 {
        PackedBf16::default()
    }

    /// Packs `b` into `self` for the kernel `K`, reusing its storage (no
    /// allocation when it already held a B as large).
    fn pack_into<K: Bf16Kernel>(&mut self, b: &MatRef<'_>) {
        let (k, n, nr) = (b.rows(), b.cols(), K::NR);
        let panels = n.div_ceil(nr);
        let data = &mut self.data;
        data.clear();
        data.resize(panels * nr * k.div_ceil(2), 0);
        if k > 0 && n > 0 {
            let kc_blk = kc_block(k);
            for pc in (0..k).step_by(kc_blk) {
                let kc = kc_blk.min(k - pc);
                let start = pc / 2 * panels * nr;
                let len = panels * nr * kc.div_ceil(2);
                pack::pack_b_pairs(nr, b, pc, kc, 0, n, &mut data[start..start + len]);
            }
        }
        (self.k, self.n, self.nr, self.kernel) = (k, n, nr, K::NAME);
    }

    /// The packed panels of columns `jc..jc+nc` (`jc` a multiple of the
    /// panel width) in the depth block starting at `pc`.
    fn panels(&self, pc: usize, jc: usize, nc: usize) -> &[u32] {
        let panels = self.n.div_ceil(self.nr);
        let pairs = kc_block(self.k).min(self.k - pc).div_ceil(2);
        let start = pc / 2 * panels * self.nr + jc * pairs;
        &self.data[start..start + nc.div_ceil(self.nr) * self.nr * pairs]
    }
}

/// `C ← α·op(A)·op(B) (+ β·C)` with bf16 operands and f32 accumulation,
/// then `epilogue` on every element, under [`Dispatch::global`]. `a` is
/// `m x k`, `b` `k x n`, `c` `m x n`; errors if the shapes disagree.
pub fn gemm_bf16<E: Epilogue>(
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    accum: Accum,
    c: MatMut<'_>,
    epilogue: &E,
    par: Par,
) -> Result<(), KernelError> {
    Dispatch::global().gemm_bf16(alpha, a, b, accum, c, epilogue, par)
}

/// [`gemm_bf16`] on a given bf16 kernel; errors if this CPU (or
/// `LATENT_ISA`'s cap) does not allow it. For tests and benchmarks.
#[allow(clippy::too_many_arguments)]
pub fn gemm_bf16_on<E: Epilogue>(
    isa: Bf16Isa,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    accum: Accum,
    c: MatMut<'_>,
    epilogue: &E,
    par: Par,
) -> Result<(), KernelError> {
    Dispatch::global()
        .with_bf16_isa(isa)?
        .gemm_bf16(alpha, a, b, accum, c, epilogue, par)
}

/// B rounded to bf16 and packed for [`Dispatch::global`]'s bf16 kernel.
pub fn pack_bf16_b(b: MatRef<'_>) -> PackedBf16 {
    Dispatch::global().pack_bf16_b(b)
}

/// [`gemm_bf16`] with B packed beforehand, under [`Dispatch::global`].
pub fn gemm_bf16_packed<E: Epilogue>(
    alpha: f32,
    a: MatRef<'_>,
    b: &PackedBf16,
    accum: Accum,
    c: MatMut<'_>,
    epilogue: &E,
    par: Par,
) -> Result<(), KernelError> {
    Dispatch::global().gemm_bf16_packed(alpha, a, b, accum, c, epilogue, par)
}

/// Calls `$body` with the bf16 kernel type of `$isa` bound to `$K`.
macro_rules! with_kernel {
    ($isa:expr, $K:ident => $body:expr) => {
        match $isa {
            #[cfg(target_arch = "x86_64")]
            Bf16Isa::Avx512Bf16 => {
                type $K = ukr::Avx512Bf16Ukr12x32;
                $body
            }
            _ => {
                type $K = ukr::PortableBf16Ukr4x16;
                $body
            }
        }
    };
}

impl Dispatch {
    /// [`gemm_bf16`] under this context (its [`Bf16Isa`] picks the
    /// kernel).
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_bf16<E: Epilogue>(
        &self,
        alpha: f32,
        a: MatRef<'_>,
        b: MatRef<'_>,
        accum: Accum,
        c: MatMut<'_>,
        epilogue: &E,
        par: Par,
    ) -> Result<(), KernelError> {
        check_shapes(&a, &b, &c)?;
        epilogue.check(c.rows(), c.cols())?;
        let (k, n, beta) = (b.rows(), b.cols(), accum.beta());
        let src = BSource::View(&b);
        with_kernel!(self.bf16_isa(), K => gemm_bf16_impl::<K, E>(
            alpha, &a, src, k, n, beta, c, epilogue, par
        ));
        Ok(())
    }

    /// B rounded to bf16 and packed for this context's bf16 kernel.
    pub fn pack_bf16_b(&self, b: MatRef<'_>) -> PackedBf16 {
        let mut packed = PackedBf16::new();
        self.repack_bf16_b(b, &mut packed);
        packed
    }

    /// [`pack_bf16_b`](Dispatch::pack_bf16_b) into `packed`, reusing its
    /// storage: a training step repacks its updated weights without
    /// allocating.
    pub fn repack_bf16_b(&self, b: MatRef<'_>, packed: &mut PackedBf16) {
        with_kernel!(self.bf16_isa(), K => packed.pack_into::<K>(&b))
    }

    /// [`gemm_bf16_packed`] under this context; errors if `b` does not fit
    /// A and C, or was packed for another kernel.
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_bf16_packed<E: Epilogue>(
        &self,
        alpha: f32,
        a: MatRef<'_>,
        b: &PackedBf16,
        accum: Accum,
        c: MatMut<'_>,
        epilogue: &E,
        par: Par,
    ) -> Result<(), KernelError> {
        check_packed(&a, b, &c)?;
        epilogue.check(c.rows(), c.cols())?;
        let (k, n, beta) = (b.k, b.n, accum.beta());
        with_kernel!(self.bf16_isa(), K => {
            if b.kernel != K::NAME {
                return Err(KernelError::InvalidValue {
                    what: "gemm_bf16_packed: B packed for another microkernel",
                    value: b.kernel.to_string(),
                    expected: K::NAME,
                });
            }
            gemm_bf16_impl::<K, E>(alpha, &a, BSource::Packed(b), k, n, beta, c, epilogue, par)
        });
        Ok(())
    }
}

/// [`check_shapes`] for a packed B.
fn check_packed(a: &MatRef<'_>, b: &PackedBf16, c: &MatMut<'_>) -> Result<(), KernelError> {
    let checks = [
        (
            "gemm_bf16_packed: rows of packed B must equal columns of op(A)",
            a.cols(),
            b.k,
        ),
        (
            "gemm_bf16_packed: rows of C must equal rows of op(A)",
            a.rows(),
            c.rows(),
        ),
        (
            "gemm_bf16_packed: columns of C must equal columns of packed B",
            b.n,
            c.cols(),
        ),
    ];
    for (what, expected, found) in checks {
        if expected != found {
            return Err(KernelError::ShapeMismatch {
                what,
                expected,
                found,
            });
        }
    }
    Ok(())
}

/// The bf16 microkernel for `isa`: its name and tile.
pub fn bf16_kernel_info(isa: Bf16Isa) -> (&'static str, usize, usize) {
    with_kernel!(isa, K => (K::NAME, K::MR, K::NR))
}
