//! Single-precision matrix multiplication: `C ← α·op(A)·op(B) + β·C`.
//!
//! The structure is BLIS's: five loops around a register-tiled microkernel
//! (one per instruction set, chosen at run time by a [`Dispatch`]), with A
//! packed into k-major panels and B packed into row panels
//! ([`Blocking`] documents the block sizes). When B is row-major and A is
//! short (the RBM minibatch case) B is read in place instead of packed, so
//! small products do not pay a packing pass that would cost as much as the
//! arithmetic.
//!
//! Operands are strided views ([`MatRef`], [`MatMut`]), so transposes are
//! free. [`Accum::Replace`] never reads C. Parallelism is an argument
//! ([`Par`]); threads split C into disjoint blocks and never the k
//! dimension, so every element of C is summed in the same order whatever the
//! thread count: results are bit-identical for 1 or N threads.
//!
//! An [`Epilogue`] runs on each finished tile of C while it is still in
//! cache, so a bias and an activation can be fused into the product.
//!
//! [`gemm_bf16`] is the same product with bf16 operands (rounded while
//! packing) and f32 accumulation, on AVX512-BF16 or a portable kernel;
//! [`PackedBf16`] holds a B packed once for several products.
//! [`product`] takes either, by its right [`Operand`] ([`Precision`]).

mod bf16;
mod blocking;
mod driver;
mod pack;
mod precision;
mod ukr;
mod view;

pub use bf16::{
    PackedBf16, bf16_kernel_info, gemm_bf16, gemm_bf16_on, gemm_bf16_packed, pack_bf16_b,
};
pub use blocking::Blocking;
pub use precision::{Operand, Precision, product};
pub use view::{MatMut, MatRef};

use crate::dispatch::Dispatch;
use crate::{Isa, KernelError, Par};

/// What happens to the previous contents of C.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Accum {
    /// `C ← α·op(A)·op(B)`. C is never read: NaN or garbage in it cannot
    /// leak into the result.
    Replace,
    /// `C ← α·op(A)·op(B) + β·C`. As in BLAS, `β = 0` is the same as
    /// [`Accum::Replace`] and does not read C.
    Add {
        /// The factor on the old C.
        beta: f32,
    },
}

impl Accum {
    /// `C ← α·op(A)·op(B) + C`.
    pub const ADD: Accum = Accum::Add { beta: 1.0 };

    fn beta(self) -> f32 {
        match self {
            Accum::Replace => 0.0,
            Accum::Add { beta } => beta,
        }
    }
}

/// Work fused into the write-out of C.
///
/// After the last rank-`kc` update the driver hands finished values
/// (`α·AB + β·C`) to [`apply_tile`](Epilogue::apply_tile) (by default one
/// [`apply_row`](Epilogue::apply_row) per row), while they are still in
/// cache: a strip of tiles at a time (the tiles of one A panel across a B
/// block, or of one B panel down an A block), or one tile when C is not
/// row-major ([`gemm_bf16`] passes one tile at a time). Every element of C
/// is passed exactly once, also when `k = 0`.
/// Calls for different strips may come from different threads, in any
/// order.
pub trait Epilogue: Sync {
    /// Checks that the epilogue fits an `rows x cols` C; called once by
    /// [`gemm`] before any work. The default accepts every shape.
    fn check(&self, rows: usize, cols: usize) -> Result<(), KernelError> {
        let _ = (rows, cols);
        Ok(())
    }

    /// Transforms `values = C[row, col0 .. col0 + values.len()]` in place.
    fn apply_row(&self, row: usize, col0: usize, values: &mut [f32]);

    /// A hint, given while the tile `C[row0 .., col0 ..]` of `rows x cols`
    /// is being computed, that this region will be passed to
    /// [`apply_tile`](Epilogue::apply_tile) shortly: an epilogue that reads
    /// operands of its own for each element (old parameters, a velocity)
    /// starts bringing them into cache here, so the write-out does not wait
    /// on memory. The default does nothing.
    fn prefetch(&self, row0: usize, col0: usize, rows: usize, cols: usize) {
        let _ = (row0, col0, rows, cols);
    }

    /// Transforms a finished block, `C[row0 .., col0 ..]` of
    /// `tile.rows() x tile.cols()` (a strip of microkernel tiles, or one),
    /// in place. The default passes each row to
    /// [`apply_row`](Epilogue::apply_row). An epilogue with per-call costs
    /// (an instruction-set dispatch, a reduction) overrides it to pay them
    /// once per tile.
    fn apply_tile(&self, row0: usize, col0: usize, tile: &mut TileRows<'_>) {
        for i in 0..tile.rows() {
            self.apply_row(row0 + i, col0, tile.row(i));
        }
    }
}

/// The rows of one finished tile of C, handed to
/// [`Epilogue::apply_tile`]: `rows` segments of `cols` contiguous floats,
/// `row_stride` apart, that no other thread touches while this exists.
#[derive(Debug)]
pub struct TileRows<'a> {
    ptr: *mut f32,
    row_stride: usize,
    rows: usize,
    cols: usize,
    _c: std::marker::PhantomData<&'a mut [f32]>,
}

impl<'a> TileRows<'a> {
    /// # Safety
    /// For every `i < rows`, the `cols` floats at `ptr + i*row_stride` are
    /// valid for reads and writes for `'a`, and nothing else reads or writes
    /// them meanwhile.
    pub(crate) unsafe fn from_raw(
        ptr: *mut f32,
        row_stride: usize,
        rows: usize,
        cols: usize,
    ) -> Self {
        TileRows {
            ptr,
            row_stride,
            rows,
            cols,
            _c: std::marker::PhantomData,
        }
    }

    /// Rows of the tile.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns of the tile.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row `i` of the tile.
    ///
    /// # Panics
    /// If `i >= self.rows()` (a bug in the epilogue).
    pub fn row(&mut self, i: usize) -> &mut [f32] {
        assert!(i < self.rows, "tile row {i} of {}", self.rows);
        // SAFETY: row i < rows is valid and unaliased for 'a (the
        // constructor's contract), and `&mut self` makes this the only
        // slice of the tile alive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(i * self.row_stride), self.cols) }
    }
}

/// The empty epilogue: C is left as the product wrote it.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEpilogue;

impl Epilogue for NoEpilogue {
    #[inline(always)]
    fn apply_row(&self, _row: usize, _col0: usize, _values: &mut [f32]) {}
}

/// Adds a bias to every row: `C[i, j] += bias[j]` (the `1 cᵀ` term of a
/// layer's pre-activation `X W + 1 cᵀ`).
#[derive(Debug, Clone, Copy)]
pub struct BiasAdd<'a> {
    bias: &'a [f32],
}

impl<'a> BiasAdd<'a> {
    /// A bias-add epilogue; [`gemm`] checks that `bias.len()` equals the
    /// columns of C.
    pub fn new(bias: &'a [f32]) -> Self {
        BiasAdd { bias }
    }

    /// The number of columns this bias fits.
    pub fn len(&self) -> usize {
        self.bias.len()
    }

    /// Whether the bias is empty.
    pub fn is_empty(&self) -> bool {
        self.bias.is_empty()
    }
}

impl Epilogue for BiasAdd<'_> {
    fn check(&self, _rows: usize, cols: usize) -> Result<(), KernelError> {
        if self.bias.len() != cols {
            return Err(KernelError::LengthMismatch {
                what: "gemm: bias of a BiasAdd epilogue (one per column of C)",
                expected: cols,
                found: self.bias.len(),
            });
        }
        Ok(())
    }

    #[inline]
    fn apply_row(&self, _row: usize, col0: usize, values: &mut [f32]) {
        let bias = &self.bias[col0..col0 + values.len()];
        for (v, b) in values.iter_mut().zip(bias) {
            *v += b;
        }
    }
}

/// `C ← α·op(A)·op(B) (+ β·C)`, then `epilogue` on every element, under
/// the process-wide [`Dispatch::global`] (the CPU's best instruction set,
/// see [`Isa::selected`]).
///
/// `a` is `m x k`, `b` is `k x n`, `c` is `m x n`; pass `x.t()` for a
/// transposed operand. Errors if the shapes disagree.
pub fn gemm<E: Epilogue>(
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    accum: Accum,
    c: MatMut<'_>,
    epilogue: &E,
    par: Par,
) -> Result<(), KernelError> {
    Dispatch::global().gemm(alpha, a, b, accum, c, epilogue, par)
}

/// [`gemm`] without an epilogue.
pub fn sgemm(
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    accum: Accum,
    c: MatMut<'_>,
    par: Par,
) -> Result<(), KernelError> {
    gemm(alpha, a, b, accum, c, &NoEpilogue, par)
}

/// [`gemm`] on a given instruction set (the global context's tuning, with
/// `isa`); errors if this CPU lacks it. Tests and benchmarks use it to
/// reach every path.
#[allow(clippy::too_many_arguments)]
pub fn gemm_on<E: Epilogue>(
    isa: Isa,
    alpha: f32,
    a: MatRef<'_>,
    b: MatRef<'_>,
    accum: Accum,
    c: MatMut<'_>,
    epilogue: &E,
    par: Par,
) -> Result<(), KernelError> {
    Dispatch::global()
        .with_isa(isa)?
        .gemm(alpha, a, b, accum, c, epilogue, par)
}

impl Dispatch {
    /// [`gemm`] under this context: its instruction set picks the
    /// microkernel and the packing, its tuning the blocking, the B packing
    /// and the loop order.
    #[allow(clippy::too_many_arguments)]
    pub fn gemm<E: Epilogue>(
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
        let beta = accum.beta();
        match self.isa() {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => driver::gemm_impl::<ukr::Avx512Ukr12x32, E>(
                self, alpha, a, b, beta, c, epilogue, par,
            ),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                driver::gemm_impl::<ukr::Avx2Ukr6x16, E>(self, alpha, a, b, beta, c, epilogue, par)
            }
            _ => driver::gemm_impl::<ukr::PortableUkr4x8, E>(
                self, alpha, a, b, beta, c, epilogue, par,
            ),
        }
        Ok(())
    }
}

/// The microkernel [`gemm_on`] uses for `isa`, with its tile and blocking,
/// for reports.
pub fn kernel_info(isa: Isa) -> KernelInfo {
    use ukr::Microkernel;
    fn info<K: Microkernel>() -> KernelInfo {
        KernelInfo {
            name: K::NAME,
            mr: K::MR,
            nr: K::NR,
            blocking: K::BLOCKING.resolve(Dispatch::global().blocking(), K::MR, K::NR),
        }
    }
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => info::<ukr::Avx512Ukr12x32>(),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => info::<ukr::Avx2Ukr6x16>(),
        _ => info::<ukr::PortableUkr4x8>(),
    }
}

/// Describes a microkernel: its name, tile shape and blocking in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelInfo {
    /// The kernel's name (`sgemm_ukr_<isa>_<MR>x<NR>`).
    pub name: &'static str,
    /// Rows of the register tile.
    pub mr: usize,
    /// Columns of the register tile.
    pub nr: usize,
    /// The blocking used with it (after any `LATENT_GEMM_BLOCKING` override).
    pub blocking: Blocking,
}

pub(crate) fn check_shapes(
    a: &MatRef<'_>,
    b: &MatRef<'_>,
    c: &MatMut<'_>,
) -> Result<(), KernelError> {
    if a.cols() != b.rows() {
        return Err(KernelError::ShapeMismatch {
            what: "gemm: rows of op(B) must equal columns of op(A)",
            expected: a.cols(),
            found: b.rows(),
        });
    }
    if c.rows() != a.rows() {
        return Err(KernelError::ShapeMismatch {
            what: "gemm: rows of C must equal rows of op(A)",
            expected: a.rows(),
            found: c.rows(),
        });
    }
    if c.cols() != b.cols() {
        return Err(KernelError::ShapeMismatch {
            what: "gemm: columns of C must equal columns of op(B)",
            expected: b.cols(),
            found: c.cols(),
        });
    }
    Ok(())
}

/// Runs the microkernel for `isa` `reps` times and returns its GFLOP/s:
/// the kernel's own ceiling without packing. It cycles over `b_panels`
/// B panels, `a_panels` A panels and a `c_tiles = (rows, cols)` grid of C
/// tiles, so the operands can be put in L1 (all 1) or further out. For
/// tuning and reports; `None` if the CPU lacks `isa`.
#[doc(hidden)]
pub fn microkernel_gflops(
    isa: Isa,
    kc: usize,
    reps: usize,
    b_panels: usize,
    a_panels: usize,
    c_tiles: (usize, usize),
) -> Option<f64> {
    use ukr::Microkernel;
    fn run<K: Microkernel>(
        kc: usize,
        reps: usize,
        panels: (usize, usize),
        c_tiles: (usize, usize),
    ) -> f64 {
        let (b_panels, a_panels) = (panels.0.max(1), panels.1.max(1));
        let (ct_rows, ct_cols) = (c_tiles.0.max(1), c_tiles.1.max(1));
        let c_rs = ct_cols * K::NR + 4;
        let a = vec![1.0f32; K::MR * kc * a_panels];
        let b = vec![1.0f32; K::NR * kc * b_panels];
        let mut c = vec![0.0f32; ct_rows * K::MR * c_rs];
        let start = std::time::Instant::now();
        for rep in 0..reps {
            let b = &b[(rep % b_panels) * K::NR * kc..];
            let a = &a[(rep / b_panels % a_panels) * K::MR * kc..];
            let (ti, tj) = (rep / ct_cols % ct_rows, rep % ct_cols);
            let c = &mut c[ti * K::MR * c_rs + tj * K::NR..];
            // SAFETY: `a` holds at least MR*kc floats, `b` kc rows of NR
            // floats (row stride NR), `c` an MR x NR tile with row stride
            // c_rs (the buffer has ct_rows*MR rows of c_rs floats and the
            // tile starts at column tj*NR <= c_rs - NR); the caller checked
            // the ISA.
            unsafe {
                K::run(
                    kc,
                    1.0,
                    a.as_ptr(),
                    b.as_ptr(),
                    K::NR,
                    1.0,
                    c.as_mut_ptr(),
                    c_rs,
                )
            };
            std::hint::black_box(&mut *c);
        }
        let secs = start.elapsed().as_secs_f64();
        2.0 * (K::MR * K::NR * kc * reps) as f64 / secs / 1e9
    }
    if !isa.is_available() {
        return None;
    }
    let panels = (b_panels, a_panels);
    Some(match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => run::<ukr::Avx512Ukr12x32>(kc, reps, panels, c_tiles),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => run::<ukr::Avx2Ukr6x16>(kc, reps, panels, c_tiles),
        _ => run::<ukr::PortableUkr4x8>(kc, reps, panels, c_tiles),
    })
}
