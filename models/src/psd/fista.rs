//! Sparse coding by FISTA (Beck & Teboulle 2009) for a block of rows at
//! once, with the PSD prediction term (MODELS.md 4.8).
//!
//! For each row `x` (`1 x V`) of the block, with the dictionary `D`
//! (`K x V`, one atom a row) and a prediction `p` (`1 x K`, `α = 0`: none),
//!
//! `E(z) = ½‖x − zD‖² + λ‖z‖₁ + α‖z − p‖²`
//!
//! is convex; its smooth part `f(z) = ½‖x − zD‖² + α‖z − p‖²` has the
//! gradient `∇f(z) = z(DDᵀ + 2αI) − (xDᵀ + 2αp)`, Lipschitz with
//! `L = λ_max(DDᵀ) + 2α`. With `G = DDᵀ + 2αI` and `C = XDᵀ + 2αP` formed
//! once, each iteration is one product `Y G` (`B x K x K`) and the fused
//! step of [`latent_kernels::shrink::fista_step`]:
//!
//! `Z_k = shrink(Y_k − ∇f(Y_k)/L, λ/L)`, `t_{k+1} = (1 + √(1 + 4t_k²))/2`,
//! `Y_{k+1} = Z_k + ((t_k − 1)/t_{k+1})(Z_k − Z_{k−1})`, `t_1 = 1`.
//!
//! `L` is estimated by 50 power iterations on `DDᵀ` (in `f64`, from the
//! all-ones vector) times 1.05, plus `2α`. The iterations stop after
//! `max_iters` or when `‖Z_k − Z_{k−1}‖_F ≤ tol·‖Z_k‖_F` over the block.

use latent_engine::Matrix;
use latent_kernels::gemm::{MatMut, MatRef};
use latent_kernels::shrink::{FistaStep, fista_step};
use latent_kernels::{Accum, NoEpilogue, Par, Precision, product};

use crate::error::Result;

/// Power iterations of the Lipschitz estimate.
pub const POWER_ITERS: usize = 50;
/// The safety factor on the power-iteration estimate of `λ_max(DDᵀ)`.
pub const LIPSCHITZ_MARGIN: f64 = 1.05;

/// How FISTA runs: the objective's weights and when to stop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FistaSettings {
    /// `λ`, the L1 weight.
    pub lambda: f32,
    /// `α`, the prediction weight.
    pub alpha: f32,
    /// Iterations at most.
    pub max_iters: usize,
    /// The relative change that stops the iterations (0: never early).
    pub tol: f32,
}

/// What a solve did.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FistaOutcome {
    /// Iterations run.
    pub iters: usize,
    /// The Lipschitz constant used (`1/L` is the step).
    pub lipschitz: f32,
}

/// The solver's buffers, grown to the largest block and reused.
#[derive(Debug, Default)]
pub struct FistaWork {
    gram: Vec<f32>,
    c: Vec<f32>,
    y: Vec<f32>,
    grad: Vec<f32>,
    v: Vec<f64>,
    w: Vec<f64>,
}

fn grow(v: &mut Vec<f32>, n: usize) -> &mut [f32] {
    if v.len() < n {
        v.resize(n, 0.0);
    }
    &mut v[..n]
}

/// `G = DDᵀ + 2αI` into `work` and `L`, for a dictionary `d` (`K x V`).
pub fn prepare(
    d: &Matrix,
    alpha: f32,
    precision: Precision,
    work: &mut FistaWork,
    par: Par,
) -> Result<f32> {
    let k = d.rows();
    let gram = grow(&mut work.gram, k * k);
    product(
        1.0,
        d.view(),
        precision.operand(d.view().t()),
        Accum::Replace,
        MatMut::row_major(gram, k, k)?,
        &NoEpilogue,
        par,
    )?;
    let lmax = power_iteration(&work.gram[..k * k], k, &mut work.v, &mut work.w);
    for i in 0..k {
        work.gram[i * k + i] += 2.0 * alpha;
    }
    let l = (LIPSCHITZ_MARGIN * lmax + 2.0 * f64::from(alpha)).max(1e-12);
    Ok(l as f32)
}

/// The largest eigenvalue of the symmetric positive semi-definite `g`
/// (`k x k`), by [`POWER_ITERS`] power iterations from the all-ones
/// vector: the Rayleigh quotient of the last iterate.
fn power_iteration(g: &[f32], k: usize, v: &mut Vec<f64>, w: &mut Vec<f64>) -> f64 {
    v.clear();
    v.resize(k, 1.0 / (k as f64).sqrt());
    w.clear();
    w.resize(k, 0.0);
    let mut rayleigh = 0.0;
    for _ in 0..POWER_ITERS {
        for (i, wi) in w.iter_mut().enumerate() {
            let row = &g[i * k..(i + 1) * k];
            *wi = row
                .iter()
                .zip(v.iter())
                .map(|(&a, &b)| f64::from(a) * b)
                .sum();
        }
        rayleigh = w.iter().zip(v.iter()).map(|(a, b)| a * b).sum::<f64>();
        let norm = w.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm == 0.0 {
            return 0.0;
        }
        for (vi, wi) in v.iter_mut().zip(w.iter()) {
            *vi = wi / norm;
        }
    }
    rayleigh
}

/// The codes of the rows of `x` (`B x V`) into `z` (`B x K`, which holds
/// the starting point on entry): FISTA on `E` with the dictionary `d`
/// (`K x V`) whose [`prepare`] left `G` in `work` and returned
/// `lipschitz`; `prediction` is `P` (`B x K`) when `α > 0`.
#[allow(clippy::too_many_arguments)]
pub fn solve(
    x: MatRef<'_>,
    d: &Matrix,
    prediction: Option<&[f32]>,
    s: &FistaSettings,
    lipschitz: f32,
    precision: Precision,
    z: &mut [f32],
    work: &mut FistaWork,
    par: Par,
) -> Result<FistaOutcome> {
    let (b, k) = (x.rows(), d.rows());
    let c = grow(&mut work.c, b * k);
    // C = X Dᵀ + 2αP.
    product(
        1.0,
        x,
        precision.operand(d.view().t()),
        Accum::Replace,
        MatMut::row_major(&mut *c, b, k)?,
        &NoEpilogue,
        par,
    )?;
    if let Some(p) = prediction {
        for (ci, &pi) in c.iter_mut().zip(&p[..b * k]) {
            *ci += 2.0 * s.alpha * pi;
        }
    }
    let y = grow(&mut work.y, b * k);
    y.copy_from_slice(&z[..b * k]);
    let grad = grow(&mut work.grad, b * k);
    let gram = MatRef::row_major(&work.gram[..k * k], k, k)?;
    let step = 1.0 / lipschitz;
    let mut t = 1.0f64;
    let mut outcome = FistaOutcome {
        iters: 0,
        lipschitz,
    };
    for _ in 0..s.max_iters {
        // ∇f(Y) = Y G − C.
        grad.copy_from_slice(&work.c[..b * k]);
        product(
            1.0,
            MatRef::row_major(y, b, k)?,
            precision.operand(gram),
            Accum::Add { beta: -1.0 },
            MatMut::row_major(&mut *grad, b, k)?,
            &NoEpilogue,
            par,
        )?;
        let t_next = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
        let p = FistaStep {
            step,
            threshold: step * s.lambda,
            beta: ((t - 1.0) / t_next) as f32,
        };
        let change = fista_step(p, grad, y, &mut z[..b * k])?;
        t = t_next;
        outcome.iters += 1;
        if change.change_sq <= f64::from(s.tol).powi(2) * change.norm_sq {
            break;
        }
    }
    Ok(outcome)
}

/// The parts of `E` per row: `½‖x − zD‖²`, `‖z‖₁` and `‖z − p‖²` (0
/// without `p`), into `parts` (`B x 3`); `resid` (`B x V`) receives
/// `zD − x`.
#[allow(clippy::too_many_arguments)]
pub fn objective_parts(
    x: MatRef<'_>,
    d: &Matrix,
    z: &[f32],
    prediction: Option<&[f32]>,
    precision: Precision,
    resid: &mut [f32],
    parts: &mut [f64],
    par: Par,
) -> Result<()> {
    let (b, v, k) = (x.rows(), x.cols(), d.rows());
    for i in 0..b {
        for j in 0..v {
            resid[i * v + j] = -x.get(i, j).unwrap_or(0.0);
        }
    }
    product(
        1.0,
        MatRef::row_major(&z[..b * k], b, k)?,
        precision.operand(d.view()),
        Accum::ADD,
        MatMut::row_major(&mut resid[..b * v], b, v)?,
        &NoEpilogue,
        par,
    )?;
    for i in 0..b {
        let r = &resid[i * v..(i + 1) * v];
        let zi = &z[i * k..(i + 1) * k];
        let recon = 0.5 * r.iter().map(|&e| f64::from(e).powi(2)).sum::<f64>();
        let l1 = zi.iter().map(|&e| f64::from(e.abs())).sum::<f64>();
        let pred = prediction.map_or(0.0, |p| {
            let pi = &p[i * k..(i + 1) * k];
            zi.iter()
                .zip(pi)
                .map(|(&a, &b)| f64::from(a - b).powi(2))
                .sum::<f64>()
        });
        parts[3 * i..3 * i + 3].copy_from_slice(&[recon, l1, pred]);
    }
    Ok(())
}
