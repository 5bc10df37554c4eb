//! Reductions and losses: column sums and means (bias gradients), squared
//! error, binary cross-entropy from logits, and the KL divergence of
//! `N(μ, σ²)` to `N(0, I)`, each loss fused with its gradient.
//!
//! All matrices are row-major `rows x cols` slices. Column sums are
//! blocked (rows are summed in blocks of 64 into a register-sized
//! accumulator, then the block sums are added), so their error grows like
//! `(64 + rows/64)·ε` rather than `rows·ε`, and columns are split between
//! threads, so results are bit-identical for every thread count. Losses
//! accumulate each row in 16 lanes, add the lanes pairwise, and sum rows in
//! `f64`; they run on the calling thread so the total is deterministic.
//!
//! Loss gradients are written (not accumulated) as `grad_scale · ∂L/∂·`,
//! so a caller passes `1/B` to get the gradient of the minibatch mean.

use crate::simd::{Checked, Kernel, LANES, Simd, dispatch, math};
use crate::split::{MIN_ELEMS_PER_TASK, check_exact, check_len};
use crate::{Isa, KernelError, Par};
use rayon::prelude::*;

/// Columns per slab of the column sums (one stack buffer of this many).
const SLAB: usize = 256;
/// Rows summed into the slab buffer before it is added to the output.
const ROW_BLOCK: usize = 64;

struct ColSums<'a> {
    x: &'a [f32],
    cols: usize,
    c0: usize,
    out: &'a mut [f32],
    scale: f32,
    square: bool,
}

impl Kernel for ColSums<'_> {
    type Out = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let rows = self.x.len().checked_div(self.cols).unwrap_or(0);
        let width = self.out.len();
        self.out.fill(0.0);
        // Row blocks outer, column slabs inner: a block of 64 rows is read
        // slab by slab while it sits in L2, and memory is streamed row
        // block after row block. Each column is still summed block by
        // block in row order, whatever the split between threads.
        let mut r = 0;
        while r < rows {
            let rb = (rows - r).min(ROW_BLOCK);
            let mut c = 0;
            while c < width {
                let w = (width - c).min(SLAB);
                let mut blk = [0.0f32; SLAB];
                for i in r..r + rb {
                    let base = i * self.cols + self.c0 + c;
                    let row = &self.x[base..base + w];
                    if self.square {
                        add_sq_into(s, &mut blk[..w], row);
                    } else {
                        add_into(s, &mut blk[..w], row, 1.0);
                    }
                }
                add_into(s, &mut self.out[c..c + w], &blk[..w], 1.0);
                c += w;
            }
            r += rb;
        }
        if self.scale != 1.0 {
            let sc = s.splat(self.scale);
            let mut j = 0;
            while j < width {
                let k = (width - j).min(LANES);
                let v = s.mul(s.load_part(&self.out[j..j + k], 0.0), sc);
                s.store_part(v, &mut self.out[j..j + k]);
                j += k;
            }
        }
    }
}

/// `acc += alpha · x`, lane-wise.
#[inline(always)]
fn add_into<S: Simd>(s: S, acc: &mut [f32], x: &[f32], alpha: f32) {
    let n = acc.len();
    let full = n - n % LANES;
    let a = s.splat(alpha);
    for (ac, xc) in acc[..full]
        .as_chunks_mut::<LANES>()
        .0
        .iter_mut()
        .zip(x[..full].as_chunks::<LANES>().0)
    {
        let v = s.fma(s.load(xc), a, s.load(ac));
        s.store(v, ac);
    }
    if full < n {
        let v = s.fma(
            s.load_part(&x[full..n], 0.0),
            a,
            s.load_part(&acc[full..], 0.0),
        );
        s.store_part(v, &mut acc[full..]);
    }
}

/// `acc += x²`, lane-wise.
#[inline(always)]
fn add_sq_into<S: Simd>(s: S, acc: &mut [f32], x: &[f32]) {
    let n = acc.len();
    let mut j = 0;
    while j < n {
        let k = (n - j).min(LANES);
        let v = s.load_part(&x[j..j + k], 0.0);
        let v = s.fma(v, v, s.load_part(&acc[j..j + k], 0.0));
        s.store_part(v, &mut acc[j..j + k]);
        j += k;
    }
}

/// `out[j] = scale · Σ_i x[i, j]` (or of `x[i, j]²` with `square`), split
/// by columns between threads. Shapes are the caller's to check.
#[allow(clippy::too_many_arguments)]
pub(crate) fn col_sums_scaled(
    isa: Checked,
    x: &[f32],
    rows: usize,
    cols: usize,
    out: &mut [f32],
    scale: f32,
    square: bool,
    par: Par,
) {
    // Column slabs of a multiple of 16 per task.
    let tasks = par
        .max_tasks()
        .min(rows.saturating_mul(cols) / MIN_ELEMS_PER_TASK)
        .min(cols.div_ceil(LANES))
        .max(1);
    if tasks <= 1 {
        dispatch(
            isa,
            ColSums {
                x,
                cols,
                c0: 0,
                out,
                scale,
                square,
            },
        );
        return;
    }
    let per = cols.div_ceil(tasks).next_multiple_of(LANES);
    out.par_chunks_mut(per).enumerate().for_each(|(t, out)| {
        dispatch(
            isa,
            ColSums {
                x,
                cols,
                c0: t * per,
                out,
                scale,
                square,
            },
        )
    });
}

/// `out[j] = Σ_i x[i, j]` for a row-major `rows x cols` `x` (the bias
/// gradient `1ᵀ D`).
pub fn col_sums(
    x: &[f32],
    rows: usize,
    cols: usize,
    out: &mut [f32],
    par: Par,
) -> Result<(), KernelError> {
    col_sums_on(Isa::selected(), x, rows, cols, out, par)
}

/// [`col_sums`] on a given instruction set.
pub fn col_sums_on(
    isa: Isa,
    x: &[f32],
    rows: usize,
    cols: usize,
    out: &mut [f32],
    par: Par,
) -> Result<(), KernelError> {
    let isa = Checked::new(isa)?;
    check_len("col_sums: x (rows x cols)", x.len(), rows, cols)?;
    check_exact("col_sums: out (one per column)", out.len(), cols)?;
    col_sums_scaled(isa, x, rows, cols, out, 1.0, false, par);
    Ok(())
}

/// `out[j] = (1/rows) Σ_i x[i, j]` (zeros when `rows = 0`).
pub fn col_means(
    x: &[f32],
    rows: usize,
    cols: usize,
    out: &mut [f32],
    par: Par,
) -> Result<(), KernelError> {
    col_means_on(Isa::selected(), x, rows, cols, out, par)
}

/// [`col_means`] on a given instruction set.
pub fn col_means_on(
    isa: Isa,
    x: &[f32],
    rows: usize,
    cols: usize,
    out: &mut [f32],
    par: Par,
) -> Result<(), KernelError> {
    let isa = Checked::new(isa)?;
    check_len("col_means: x (rows x cols)", x.len(), rows, cols)?;
    check_exact("col_means: out (one per column)", out.len(), cols)?;
    let scale = if rows == 0 { 0.0 } else { 1.0 / rows as f32 };
    col_sums_scaled(isa, x, rows, cols, out, scale, false, par);
    Ok(())
}

/// Which loss a [`LossRows`] kernel computes.
#[derive(Clone, Copy)]
enum Loss<'a> {
    /// `(x̂ - x)²`, gradient `x̂ - x`.
    SqErr { xhat: &'a [f32], x: &'a [f32] },
    /// `softplus(a) - x·a`, gradient `σ(a) - x`.
    Bce { a: &'a [f32], x: &'a [f32] },
    /// `½(μ² + σ² - 1 - ln σ²)`, gradients `μ` and `½(σ² - 1)`.
    Kl { mu: &'a [f32], lv: &'a [f32] },
}

struct LossRows<'a> {
    loss: Loss<'a>,
    cols: usize,
    rows: usize,
    row_out: Option<&'a mut [f32]>,
    g1: Option<&'a mut [f32]>,
    g2: Option<&'a mut [f32]>,
    scale: f32,
}

impl LossRows<'_> {
    /// Loss and gradients of `n <= 16` elements at offset `off`.
    #[inline(always)]
    fn elems<S: Simd>(&mut self, s: S, off: usize, n: usize) -> S::F {
        let sc = s.splat(self.scale);
        let r = off..off + n;
        match self.loss {
            Loss::SqErr { xhat, x } => {
                let d = s.sub(
                    s.load_part(&xhat[r.clone()], 0.0),
                    s.load_part(&x[r.clone()], 0.0),
                );
                if let Some(g) = self.g1.as_deref_mut() {
                    s.store_part(s.mul(d, sc), &mut g[r]);
                }
                s.mul(d, d)
            }
            Loss::Bce { a, x } => {
                let av = s.load_part(&a[r.clone()], 0.0);
                let xv = s.load_part(&x[r.clone()], 0.0);
                let zero = s.splat(0.0);
                let one = s.splat(1.0);
                let t = math::exp(s, s.sub(zero, s.abs(av)));
                let l = s.add(
                    s.sub(s.max(av, zero), s.mul(xv, av)),
                    math::log1p_nonneg(s, t),
                );
                if let Some(g) = self.g1.as_deref_mut() {
                    let p = s.div(s.select(s.lt(av, zero), t, one), s.add(one, t));
                    s.store_part(s.mul(s.sub(p, xv), sc), &mut g[r]);
                }
                l
            }
            Loss::Kl { mu, lv } => {
                let m = s.load_part(&mu[r.clone()], 0.0);
                let v = s.load_part(&lv[r.clone()], 0.0);
                let em1 = math::expm1(s, v);
                let half = s.splat(0.5);
                if let Some(g) = self.g1.as_deref_mut() {
                    s.store_part(s.mul(m, sc), &mut g[r.clone()]);
                }
                if let Some(g) = self.g2.as_deref_mut() {
                    s.store_part(s.mul(s.mul(em1, half), sc), &mut g[r]);
                }
                s.mul(half, s.fma(m, m, s.sub(em1, v)))
            }
        }
    }
}

impl Kernel for LossRows<'_> {
    type Out = f64;
    #[inline(always)]
    fn run<S: Simd>(mut self, s: S) -> f64 {
        let cols = self.cols;
        let mut total = 0.0f64;
        for i in 0..self.rows {
            let mut acc = s.splat(0.0);
            let mut j = 0;
            while j < cols {
                let n = (cols - j).min(LANES);
                let l = self.elems(s, i * cols + j, n);
                if n == LANES {
                    acc = s.add(acc, l);
                } else {
                    // Lanes past the row's end hold the loss of padding.
                    let mut buf = [0.0f32; LANES];
                    s.store_part(l, &mut buf[..n]);
                    acc = s.add(acc, s.load(&buf));
                }
                j += n;
            }
            let row = s.sum(acc);
            if let Some(r) = self.row_out.as_deref_mut() {
                r[i] = row;
            }
            total += row as f64;
        }
        total
    }
}

fn check_opt_len(
    what: &'static str,
    g: &Option<&mut [f32]>,
    rows: usize,
    cols: usize,
) -> Result<(), KernelError> {
    match g {
        Some(g) => check_len(what, g.len(), rows, cols),
        None => Ok(()),
    }
}

/// Squared error `Σ_k (x̂_k - x_k)²` of each row (into `row_loss`, if
/// given, one per row) and in total (returned). With `grad`, also writes
/// `grad = grad_scale · (x̂ - x)`, the gradient of `½ Σ (x̂ - x)²` (the
/// linear-output reconstruction loss of MODELS.md 4.1) at the output.
#[allow(clippy::too_many_arguments)]
pub fn sq_err(
    xhat: &[f32],
    x: &[f32],
    rows: usize,
    cols: usize,
    row_loss: Option<&mut [f32]>,
    grad: Option<&mut [f32]>,
    grad_scale: f32,
) -> Result<f32, KernelError> {
    sq_err_on(
        Isa::selected(),
        xhat,
        x,
        rows,
        cols,
        row_loss,
        grad,
        grad_scale,
    )
}

/// [`sq_err`] on a given instruction set.
#[allow(clippy::too_many_arguments)]
pub fn sq_err_on(
    isa: Isa,
    xhat: &[f32],
    x: &[f32],
    rows: usize,
    cols: usize,
    row_loss: Option<&mut [f32]>,
    grad: Option<&mut [f32]>,
    grad_scale: f32,
) -> Result<f32, KernelError> {
    let isa = Checked::new(isa)?;
    check_len("sq_err: xhat (rows x cols)", xhat.len(), rows, cols)?;
    check_len("sq_err: x (rows x cols)", x.len(), rows, cols)?;
    if let Some(r) = &row_loss {
        check_exact("sq_err: row_loss (one per row)", r.len(), rows)?;
    }
    check_opt_len("sq_err: grad (rows x cols)", &grad, rows, cols)?;
    let k = LossRows {
        loss: Loss::SqErr { xhat, x },
        cols,
        rows,
        row_out: row_loss,
        g1: grad,
        g2: None,
        scale: grad_scale,
    };
    Ok(dispatch(isa, k) as f32)
}

/// Binary cross-entropy from logits: for the pre-activation `a` of a
/// sigmoid output and targets `x ∈ [0, 1]`,
/// `L = -Σ x ln σ(a) + (1-x) ln(1-σ(a)) = Σ softplus(a) - x·a`, computed
/// as `max(a,0) - x a + log1p(e^{-|a|})` (no overflow, no `ln 0`). Per-row
/// losses into `row_loss`, total returned; with `grad`, writes
/// `grad = grad_scale · (σ(a) - x)`.
#[allow(clippy::too_many_arguments)]
pub fn bce_logits(
    a: &[f32],
    x: &[f32],
    rows: usize,
    cols: usize,
    row_loss: Option<&mut [f32]>,
    grad: Option<&mut [f32]>,
    grad_scale: f32,
) -> Result<f32, KernelError> {
    bce_logits_on(
        Isa::selected(),
        a,
        x,
        rows,
        cols,
        row_loss,
        grad,
        grad_scale,
    )
}

/// [`bce_logits`] on a given instruction set.
#[allow(clippy::too_many_arguments)]
pub fn bce_logits_on(
    isa: Isa,
    a: &[f32],
    x: &[f32],
    rows: usize,
    cols: usize,
    row_loss: Option<&mut [f32]>,
    grad: Option<&mut [f32]>,
    grad_scale: f32,
) -> Result<f32, KernelError> {
    let isa = Checked::new(isa)?;
    check_len("bce_logits: a (rows x cols)", a.len(), rows, cols)?;
    check_len("bce_logits: x (rows x cols)", x.len(), rows, cols)?;
    if let Some(r) = &row_loss {
        check_exact("bce_logits: row_loss (one per row)", r.len(), rows)?;
    }
    check_opt_len("bce_logits: grad (rows x cols)", &grad, rows, cols)?;
    let k = LossRows {
        loss: Loss::Bce { a, x },
        cols,
        rows,
        row_out: row_loss,
        g1: grad,
        g2: None,
        scale: grad_scale,
    };
    Ok(dispatch(isa, k) as f32)
}

/// `KL(N(μ, σ²) ‖ N(0, I)) = -½ Σ (1 + ln σ² - μ² - σ²)` of each row
/// (into `row_kl`) and in total (returned), from `μ` and `logvar = ln σ²`;
/// with the gradients `grad_mu = grad_scale · μ` and
/// `grad_logvar = grad_scale · ½(σ² - 1)` (computed with `expm1`, accurate
/// for small `ln σ²`).
#[allow(clippy::too_many_arguments)]
pub fn kl_normal(
    mu: &[f32],
    logvar: &[f32],
    rows: usize,
    cols: usize,
    row_kl: Option<&mut [f32]>,
    grad_mu: Option<&mut [f32]>,
    grad_logvar: Option<&mut [f32]>,
    grad_scale: f32,
) -> Result<f32, KernelError> {
    kl_normal_on(
        Isa::selected(),
        mu,
        logvar,
        rows,
        cols,
        row_kl,
        grad_mu,
        grad_logvar,
        grad_scale,
    )
}

/// [`kl_normal`] on a given instruction set.
#[allow(clippy::too_many_arguments)]
pub fn kl_normal_on(
    isa: Isa,
    mu: &[f32],
    logvar: &[f32],
    rows: usize,
    cols: usize,
    row_kl: Option<&mut [f32]>,
    grad_mu: Option<&mut [f32]>,
    grad_logvar: Option<&mut [f32]>,
    grad_scale: f32,
) -> Result<f32, KernelError> {
    let isa = Checked::new(isa)?;
    check_len("kl_normal: mu (rows x cols)", mu.len(), rows, cols)?;
    check_len("kl_normal: logvar (rows x cols)", logvar.len(), rows, cols)?;
    if let Some(r) = &row_kl {
        check_exact("kl_normal: row_kl (one per row)", r.len(), rows)?;
    }
    check_opt_len("kl_normal: grad_mu (rows x cols)", &grad_mu, rows, cols)?;
    check_opt_len(
        "kl_normal: grad_logvar (rows x cols)",
        &grad_logvar,
        rows,
        cols,
    )?;
    let k = LossRows {
        loss: Loss::Kl { mu, lv: logvar },
        cols,
        rows,
        row_out: row_kl,
        g1: grad_mu,
        g2: grad_logvar,
        scale: grad_scale,
    };
    Ok(dispatch(isa, k) as f32)
}
