//! The mean-field variational lower bound on a DBM's log-likelihood
//! (`MODELS.md` section 3; Salakhutdinov & Hinton 2009).
//!
//! For a visible row `v` and a factorised Bernoulli posterior `q(h) = Π_l
//! Π_j μ^l_j^{h_j} (1-μ^l_j)^{1-h_j}` over the hidden layers,
//!
//! ```text
//! ln p(v) ≥ -E_q(v, μ) + H(q) - ln Z,
//! -E_q(v, μ) = -e_0(v) + Σ_{l=1..L} (x^{l-1}ᵀ W^l + b^lᵀ) μ^l,   x^0 = v (or v/σ), x^l = μ^l,
//! H(q) = -Σ_l Σ_j [μ^l_j ln μ^l_j + (1-μ^l_j) ln(1-μ^l_j)].
//! ```
//!
//! The bound holds for any `μ` in `[0, 1]` and is tightest at the
//! mean-field fixed point the caller iterates to. The products `x^{l-1}W^l +
//! b^l` are one SGEMM per layer over the batch (f32); the sums are in `f64`.

use latent_kernels::{Accum, BiasAdd, MatMut, MatRef, Par, gemm};

use super::DbmParams;
use crate::error::{ModelError, Result};
use crate::eval::{check_out, fill_rows};

/// `-E_q(v, μ) + H(q)` of every row of `data` (`B x n_0`) into `out` (`B`):
/// the variational lower bound on `ln p(v) + ln Z`.
///
/// `posteriors[l-1]` is `μ^l` for `l = 1..=L`, `B x n_l` row-major, every
/// value in `[0, 1]` (mean-field posteriors computed by the caller for
/// these rows).
///
/// Errors if the parameters are invalid, `data` is not whole rows,
/// `posteriors` is not `L` matrices of the right shapes or holds a value
/// outside `[0, 1]`, or `out.len() != B`. The result is the same for any
/// `par`.
pub fn dbm_variational_bound(
    params: &DbmParams<'_>,
    data: &[f32],
    posteriors: &[&[f32]],
    out: &mut [f64],
    par: Par,
) -> Result<()> {
    params.validate()?;
    let rows = params.rows_of("dbm_variational_bound", data)?;
    check_out("dbm_variational_bound", rows, out.len())?;
    check_posteriors(params, rows, posteriors)?;
    if rows == 0 {
        return Ok(());
    }
    let sizes = params.sizes();
    let x0 = params.visible_inputs(data);
    // products[l-1] = x^{l-1} W^l + 1 b^lᵀ.
    let mut products = Vec::with_capacity(sizes.len() - 1);
    for l in 1..sizes.len() {
        let below: &[f32] = if l == 1 { &x0 } else { posteriors[l - 2] };
        let mut p = vec![0.0f32; rows * sizes[l]];
        gemm(
            1.0,
            MatRef::row_major(below, rows, sizes[l - 1])?,
            MatRef::row_major(params.w(l), sizes[l - 1], sizes[l])?,
            Accum::Replace,
            MatMut::row_major(&mut p, rows, sizes[l])?,
            &BiasAdd::new(params.biases[l]),
            par,
        )?;
        products.push(p);
    }
    let nv = sizes[0];
    fill_rows(out, par, |r| {
        let mut total = params.visible_log_factor(&data[r * nv..(r + 1) * nv]);
        for l in 1..sizes.len() {
            let n = sizes[l];
            let mu = &posteriors[l - 1][r * n..(r + 1) * n];
            let p = &products[l - 1][r * n..(r + 1) * n];
            for (&m, &a) in mu.iter().zip(p) {
                let m = m as f64;
                total += a as f64 * m + bernoulli_entropy(m);
            }
        }
        total
    });
    Ok(())
}

/// [`dbm_variational_bound`] with `ln Z` (exact, or an AIS estimate)
/// subtracted: the lower bound on `ln p(v)` of every row.
///
/// Errors as [`dbm_variational_bound`] does.
pub fn dbm_variational_bound_with_log_z(
    params: &DbmParams<'_>,
    data: &[f32],
    posteriors: &[&[f32]],
    log_z: f64,
    out: &mut [f64],
    par: Par,
) -> Result<()> {
    dbm_variational_bound(params, data, posteriors, out, par)?;
    for o in out.iter_mut() {
        *o -= log_z;
    }
    Ok(())
}

/// `-[μ ln μ + (1-μ) ln(1-μ)]`, with `0 ln 0 = 0`.
#[inline]
fn bernoulli_entropy(m: f64) -> f64 {
    let xlnx = |x: f64| if x > 0.0 { x * x.ln() } else { 0.0 };
    -(xlnx(m) + xlnx(1.0 - m))
}

/// Checks that `posteriors` holds `μ^1..μ^L` of `rows x n_l` values each,
/// all in `[0, 1]`.
fn check_posteriors(params: &DbmParams<'_>, rows: usize, posteriors: &[&[f32]]) -> Result<()> {
    let sizes = params.sizes();
    if posteriors.len() != sizes.len() - 1 {
        return Err(ModelError::Shape {
            what: format!("DBM mean-field posteriors μ^1..μ^L for layer sizes {sizes:?}"),
            expected: sizes.len() - 1,
            found: posteriors.len(),
        });
    }
    for (l, mu) in (1..).zip(posteriors) {
        if mu.len() != rows * sizes[l] {
            return Err(ModelError::Shape {
                what: format!(
                    "DBM mean-field posterior μ^{l} ({rows} rows x {} units, row-major)",
                    sizes[l]
                ),
                expected: rows * sizes[l],
                found: mu.len(),
            });
        }
        if let Some(m) = mu.iter().find(|m| !(0.0..=1.0).contains(*m)) {
            return Err(ModelError::InvalidConfig {
                what: "DBM mean-field posterior value",
                value: m.to_string(),
                expected: "probabilities in [0, 1]",
            });
        }
    }
    Ok(())
}
