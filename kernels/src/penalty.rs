//! Regularisation penalties of the autoencoders (MODELS.md 4.2 and 4.4)
//! with their gradients: L1 on the code, KL sparsity on the batch-mean
//! activation, and the contractive penalty in closed form.
//!
//! Penalty values are returned unscaled; gradients are *added* to the
//! caller's buffers multiplied by `grad_scale` (for example `λ/B`), since a
//! penalty's gradient joins the loss gradient already there. Nothing here
//! allocates: the contractive penalty takes a workspace.

use crate::gemm::{Accum, MatMut, MatRef, gemm_on};
use crate::reduce::col_sums_scaled;
use crate::simd::{Checked, Kernel, LANES, Simd, dispatch, math};
use crate::split::{check_exact, check_len, rows1};
use crate::{Isa, KernelError, Par};

/// Elements summed in lanes before the block sum goes to the `f64` total.
const BLOCK: usize = 1024;

struct L1<'a> {
    h: &'a [f32],
    grad: Option<&'a mut [f32]>,
    g: f32,
}

impl Kernel for L1<'_> {
    type Out = f64;
    #[inline(always)]
    fn run<S: Simd>(mut self, s: S) -> f64 {
        let n = self.h.len();
        let zero = s.splat(0.0);
        let (pos, neg) = (s.splat(self.g), s.splat(-self.g));
        let mut total = 0.0f64;
        let mut b = 0;
        while b < n {
            let e = (b + BLOCK).min(n);
            let mut acc = zero;
            let mut j = b;
            while j < e {
                let k = (e - j).min(LANES);
                let h = s.load_part(&self.h[j..j + k], 0.0);
                acc = s.add(acc, s.abs(h));
                if let Some(g) = self.grad.as_deref_mut() {
                    // sign(h)·λ·scale, and 0 at h = 0.
                    let sg = s.select(s.lt(zero, h), pos, s.select(s.lt(h, zero), neg, zero));
                    let v = s.add(s.load_part(&g[j..j + k], 0.0), sg);
                    s.store_part(v, &mut g[j..j + k]);
                }
                j += k;
            }
            total += s.sum(acc) as f64;
            b = e;
        }
        total
    }
}

/// The L1 (Laplace-prior) penalty `Ω = λ Σ |h|` over all of `h`, returned;
/// with `grad`, adds `grad_scale · λ · sign(h)` to it (`sign(0) = 0`).
pub fn l1_penalty(
    lambda: f32,
    h: &[f32],
    grad: Option<&mut [f32]>,
    grad_scale: f32,
) -> Result<f32, KernelError> {
    l1_penalty_on(Isa::selected(), lambda, h, grad, grad_scale)
}

/// [`l1_penalty`] on a given instruction set.
pub fn l1_penalty_on(
    isa: Isa,
    lambda: f32,
    h: &[f32],
    grad: Option<&mut [f32]>,
    grad_scale: f32,
) -> Result<f32, KernelError> {
    let isa = Checked::new(isa)?;
    if let Some(g) = &grad {
        check_exact("l1_penalty: grad (one per element of h)", g.len(), h.len())?;
    }
    let sum = dispatch(
        isa,
        L1 {
            h,
            grad,
            g: lambda * grad_scale,
        },
    );
    Ok((lambda as f64 * sum) as f32)
}

/// Smallest distance of `ρ̂` from 0 and 1 in the KL-sparsity penalty.
pub const KL_SPARSITY_EPS: f32 = 1e-6;

struct KlSparsity<'a> {
    rho: f32,
    rho_hat: &'a [f32],
    rows: usize,
    grad: Option<&'a mut [f32]>,
    g: f32,
}

impl Kernel for KlSparsity<'_> {
    type Out = f64;
    #[inline(always)]
    fn run<S: Simd>(mut self, s: S) -> f64 {
        let cols = self.rho_hat.len();
        let one = s.splat(1.0);
        let rho = s.splat(self.rho);
        let rho1 = s.splat(1.0 - self.rho);
        let (lo, hi) = (s.splat(KL_SPARSITY_EPS), s.splat(1.0 - KL_SPARSITY_EPS));
        let mut total = 0.0f64;
        let mut j = 0;
        while j < cols {
            let k = (cols - j).min(LANES);
            // Padding lanes hold ρ̂ = ρ: KL 0.
            let q = s.load_part(&self.rho_hat[j..j + k], self.rho);
            let q = s.min(hi, s.max(lo, q));
            let q1 = s.sub(one, q);
            let kl = s.add(
                s.mul(rho, math::ln(s, s.div(rho, q))),
                s.mul(rho1, math::ln(s, s.div(rho1, q1))),
            );
            total += s.sum(kl) as f64;
            if let Some(g) = self.grad.as_deref_mut() {
                // ∂Ω/∂h_ij = (β/B)(-ρ/ρ̂_j + (1-ρ)/(1-ρ̂_j)), times the scale.
                let d = s.mul(s.sub(s.div(rho1, q1), s.div(rho, q)), s.splat(self.g));
                for i in 0..self.rows {
                    let r = i * cols + j..i * cols + j + k;
                    let v = s.add(s.load_part(&g[r.clone()], 0.0), d);
                    s.store_part(v, &mut g[r]);
                }
            }
            j += k;
        }
        total
    }
}

/// The KL sparsity penalty `Ω = β Σ_j KL(ρ ‖ ρ̂_j)` on the batch-mean
/// activations `ρ̂_j = (1/B) Σ_i h_ij` of a row-major `rows x cols` `h`
/// (sigmoid codes), with `KL(ρ‖q) = ρ ln(ρ/q) + (1-ρ) ln((1-ρ)/(1-q))`.
/// Writes `ρ̂` to `rho_hat` (one per column), returns `Ω`, and with `grad`
/// adds `grad_scale · ∂Ω/∂h_ij = grad_scale · (β/B)(-ρ/ρ̂_j + (1-ρ)/(1-ρ̂_j))`
/// to every row. `ρ̂` is clamped to `[ε, 1-ε]`, `ε` =
/// [`KL_SPARSITY_EPS`], so saturated units give a large finite penalty.
#[allow(clippy::too_many_arguments)]
pub fn kl_sparsity(
    rho: f32,
    beta: f32,
    h: &[f32],
    rows: usize,
    cols: usize,
    rho_hat: &mut [f32],
    grad: Option<&mut [f32]>,
    grad_scale: f32,
    par: Par,
) -> Result<f32, KernelError> {
    kl_sparsity_on(
        Isa::selected(),
        rho,
        beta,
        h,
        rows,
        cols,
        rho_hat,
        grad,
        grad_scale,
        par,
    )
}

/// [`kl_sparsity`] on a given instruction set.
#[allow(clippy::too_many_arguments)]
pub fn kl_sparsity_on(
    isa: Isa,
    rho: f32,
    beta: f32,
    h: &[f32],
    rows: usize,
    cols: usize,
    rho_hat: &mut [f32],
    grad: Option<&mut [f32]>,
    grad_scale: f32,
    par: Par,
) -> Result<f32, KernelError> {
    let isa = Checked::new(isa)?;
    if !(rho > 0.0 && rho < 1.0) {
        return Err(KernelError::InvalidValue {
            what: "kl_sparsity: rho",
            value: rho.to_string(),
            expected: "a target activation in (0, 1)",
        });
    }
    check_len("kl_sparsity: h (rows x cols)", h.len(), rows, cols)?;
    check_exact("kl_sparsity: rho_hat (one per column)", rho_hat.len(), cols)?;
    if let Some(g) = &grad {
        check_len("kl_sparsity: grad (rows x cols)", g.len(), rows, cols)?;
    }
    if rows == 0 {
        rho_hat.fill(0.0);
        return Ok(0.0);
    }
    col_sums_scaled(isa, h, rows, cols, rho_hat, 1.0 / rows as f32, false, par);
    let sum = dispatch(
        isa,
        KlSparsity {
            rho,
            rho_hat,
            rows,
            grad,
            g: beta / rows as f32 * grad_scale,
        },
    );
    Ok((beta as f64 * sum) as f32)
}

/// The encoder nonlinearity of a contractive autoencoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoder {
    /// `h = σ(a)`: `s = h(1-h)`, `Ω = Σ_j s_j² n_j`.
    Sigmoid,
    /// `h = max(a, 0)`: `s = [h > 0]`, `Ω = Σ_j s_j n_j`.
    Relu,
}

/// Workspace elements [`contractive_penalty`] needs for a `batch x hidden`
/// code: `batch·hidden + 3·hidden`.
pub fn contractive_workspace_len(batch: usize, hidden: usize) -> usize {
    batch * hidden + 3 * hidden
}

/// The pass over `H`: `Ω`, `t_j = Σ_i s_ij²` and `G = n ⊙ S² ⊙ (1-2H)`.
struct ContractiveRows<'a> {
    enc: Encoder,
    h: &'a [f32],
    n: &'a [f32],
    t: &'a mut [f32],
    g: &'a mut [f32],
}

impl Kernel for ContractiveRows<'_> {
    type Out = f64;
    #[inline(always)]
    fn run<S: Simd>(self, s: S) -> f64 {
        let cols = self.n.len();
        self.t.fill(0.0);
        if cols == 0 {
            return 0.0;
        }
        let one = s.splat(1.0);
        let zero = s.splat(0.0);
        let two = s.splat(2.0);
        let mut total = 0.0f64;
        for (i, hrow) in self.h.chunks_exact(cols).enumerate() {
            let mut acc = zero;
            let mut j = 0;
            while j < cols {
                let k = (cols - j).min(LANES);
                let h = s.load_part(&hrow[j..j + k], 0.0);
                let n = s.load_part(&self.n[j..j + k], 0.0);
                let s2 = match self.enc {
                    Encoder::Sigmoid => {
                        let sv = s.mul(h, s.sub(one, h));
                        s.mul(sv, sv)
                    }
                    Encoder::Relu => s.select(s.lt(zero, h), one, zero),
                };
                acc = s.fma(s2, n, acc);
                let t = s.add(s.load_part(&self.t[j..j + k], 0.0), s2);
                s.store_part(t, &mut self.t[j..j + k]);
                if self.enc == Encoder::Sigmoid {
                    let g = s.mul(s.mul(n, s2), s.sub(one, s.mul(two, h)));
                    let r = i * cols + j..i * cols + j + k;
                    s.store_part(g, &mut self.g[r]);
                }
                j += k;
            }
            total += s.sum(acc) as f64;
        }
        total
    }
}

/// `grad_w[k, j] += alpha · w[k, j] · t[j]` on rows of `W`.
struct ScaleCols<'a> {
    w: &'a [f32],
    t: &'a [f32],
    gw: &'a mut [f32],
    alpha: f32,
}

impl Kernel for ScaleCols<'_> {
    type Out = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let cols = self.t.len();
        if cols == 0 {
            return;
        }
        let a = s.splat(self.alpha);
        for (grow, wrow) in self
            .gw
            .chunks_exact_mut(cols)
            .zip(self.w.chunks_exact(cols))
        {
            let mut j = 0;
            while j < cols {
                let k = (cols - j).min(LANES);
                let wt = s.mul(
                    s.load_part(&wrow[j..j + k], 0.0),
                    s.load_part(&self.t[j..j + k], 0.0),
                );
                let v = s.fma(wt, a, s.load_part(&grow[j..j + k], 0.0));
                s.store_part(v, &mut grow[j..j + k]);
                j += k;
            }
        }
    }
}

/// `y += alpha · x`.
struct Axpy<'a> {
    x: &'a [f32],
    y: &'a mut [f32],
    alpha: f32,
}

impl Kernel for Axpy<'_> {
    type Out = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let n = self.y.len();
        let a = s.splat(self.alpha);
        let mut j = 0;
        while j < n {
            let k = (n - j).min(LANES);
            let v = s.fma(
                s.load_part(&self.x[j..j + k], 0.0),
                a,
                s.load_part(&self.y[j..j + k], 0.0),
            );
            s.store_part(v, &mut self.y[j..j + k]);
            j += k;
        }
    }
}

/// Shapes of a contractive penalty: `x` is `batch x visible`, `w` is
/// `visible x hidden`, the code `h` is `batch x hidden` (all row-major).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContractiveShape {
    /// Rows of the minibatch `B`.
    pub batch: usize,
    /// Inputs `V`.
    pub visible: usize,
    /// Code units `H`.
    pub hidden: usize,
}

/// The contractive penalty `Ω = Σ_i ‖J_f(x_i)‖_F²` of an encoder
/// `h = f(Wᵀx + c)` in closed form (MODELS.md 4.4), summed over the batch
/// and returned, without materialising a Jacobian: with
/// `n_j = Σ_k W_kj²`, sigmoid `s = h(1-h)`: `Ω = Σ_ij s_ij² n_j`; ReLU
/// `s = [h > 0]`: `Ω = Σ_ij s_ij n_j`.
///
/// With `grad_w` (`visible x hidden`) adds `grad_scale · ∂Ω/∂W`,
/// `∂Ω/∂W_kj = 2 W_kj Σ_i s_ij² + 2 Σ_i x_ik n_j s_ij² (1-2h_ij)` (the second
/// term, sigmoid only, as one GEMM `Xᵀ G`); with `grad_c` (`hidden`) adds
/// `grad_scale · 2 Σ_i n_j s_ij² (1-2h_ij)` (zero for ReLU, almost
/// everywhere). Cost `O(B·V·H)`. `h` is the stored encoder output;
/// `work` has at least [`contractive_workspace_len`] elements.
#[allow(clippy::too_many_arguments)]
pub fn contractive_penalty(
    enc: Encoder,
    shape: ContractiveShape,
    x: &[f32],
    w: &[f32],
    h: &[f32],
    grad_w: Option<&mut [f32]>,
    grad_c: Option<&mut [f32]>,
    grad_scale: f32,
    work: &mut [f32],
    par: Par,
) -> Result<f32, KernelError> {
    contractive_penalty_on(
        Isa::selected(),
        enc,
        shape,
        x,
        w,
        h,
        grad_w,
        grad_c,
        grad_scale,
        work,
        par,
    )
}

/// [`contractive_penalty`] on a given instruction set (its products too).
#[allow(clippy::too_many_arguments)]
pub fn contractive_penalty_on(
    isa: Isa,
    enc: Encoder,
    shape: ContractiveShape,
    x: &[f32],
    w: &[f32],
    h: &[f32],
    grad_w: Option<&mut [f32]>,
    grad_c: Option<&mut [f32]>,
    grad_scale: f32,
    work: &mut [f32],
    par: Par,
) -> Result<f32, KernelError> {
    let checked = Checked::new(isa)?;
    let ContractiveShape {
        batch: b,
        visible: v,
        hidden: hd,
    } = shape;
    check_len("contractive_penalty: x (batch x visible)", x.len(), b, v)?;
    check_len("contractive_penalty: w (visible x hidden)", w.len(), v, hd)?;
    check_len("contractive_penalty: h (batch x hidden)", h.len(), b, hd)?;
    if let Some(g) = &grad_w {
        check_len(
            "contractive_penalty: grad_w (visible x hidden)",
            g.len(),
            v,
            hd,
        )?;
    }
    if let Some(g) = &grad_c {
        check_exact(
            "contractive_penalty: grad_c (one per hidden unit)",
            g.len(),
            hd,
        )?;
    }
    let need = contractive_workspace_len(b, hd);
    if work.len() < need {
        return Err(KernelError::LengthMismatch {
            what: "contractive_penalty: work (at least batch*hidden + 3*hidden)",
            expected: need,
            found: work.len(),
        });
    }
    let (n, rest) = work.split_at_mut(hd);
    let (t, rest) = rest.split_at_mut(hd);
    let (gsum, rest) = rest.split_at_mut(hd);
    let g = &mut rest[..b * hd];
    col_sums_scaled(checked, w, v, hd, n, 1.0, true, par);
    let omega = dispatch(
        checked,
        ContractiveRows {
            enc,
            h,
            n,
            t: &mut *t,
            g: &mut *g,
        },
    );
    if let Some(gc) = grad_c
        && enc == Encoder::Sigmoid
    {
        // grad_c += 2·scale·1ᵀG, summed blocked (then one addition).
        col_sums_scaled(checked, g, b, hd, gsum, 1.0, false, par);
        dispatch(
            checked,
            Axpy {
                x: gsum,
                y: gc,
                alpha: 2.0 * grad_scale,
            },
        );
    }
    if let Some(gw) = grad_w {
        let t: &[f32] = t;
        rows1(par, v, hd, gw, |k0, gw| {
            let off = k0 * hd;
            dispatch(
                checked,
                ScaleCols {
                    w: &w[off..off + gw.len()],
                    t,
                    gw,
                    alpha: 2.0 * grad_scale,
                },
            )
        });
        if enc == Encoder::Sigmoid && b > 0 {
            gemm_on(
                isa,
                2.0 * grad_scale,
                MatRef::row_major(x, b, v)?.t(),
                MatRef::row_major(g, b, hd)?,
                Accum::ADD,
                MatMut::row_major(gw, v, hd)?,
                &crate::gemm::NoEpilogue,
                par,
            )?;
        }
    }
    Ok(omega as f32)
}
