//! Exact `ln Z` and exact log-likelihoods of tiny DBMs by enumeration, in
//! `f64` with log-sum-exp.
//!
//! A DBM's graph is bipartite between its even layers (`v, h², h⁴, …`) and
//! its odd ones (`h¹, h³, …`): given the layers of one parity, the units of
//! the other are independent and are summed (or, for Gaussian visibles,
//! integrated) in closed form. With `a` the total input of a summed unit,
//!
//! ```text
//! ln Z = ln Σ_{enumerated u} e^{Σ b·u} Π_{summed Bernoulli} (1 + e^{a}) Π_{Gaussian i} √(2π) σ_i e^{b_i a_i/σ_i + a_i²/2}
//! ```
//!
//! where a Gaussian visible's `a_i = Σ_j W¹_ij h¹_j` (the coefficient of
//! `v_i/σ_i`). The unnormalised marginal of a visible row, `ln Σ_h e^{-E(v,
//! h)}`, is the same sum over the hidden layers `1..=L` with `b¹` shifted by
//! `W¹ᵀx⁰`, plus `-e_0(v)`.
//!
//! Configurations are enumerated in fixed blocks of `2^12` (high bits name
//! the block, the low bits run in Gray-code order so each step adds or
//! removes one unit's weights); blocks are reduced on their own and combined
//! in block order, so the results are bit-identical for any thread count.

use latent_kernels::Par;

use super::DbmParams;
use crate::error::{ModelError, Result};
use crate::eval::enumeration::Enumeration;
use crate::eval::{VisibleUnits, check_out, fill_rows_min};

/// The most units the enumerated layers may have together (`2^24`
/// configurations), for `ln Z` and for each data row's hidden sum.
pub const DBM_MAX_EXACT_UNITS: usize = 24;

/// Which layers' configurations the exact `ln Z` enumerates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbmExactSide {
    /// The even layers `v, h², h⁴, …` (Bernoulli visibles only); the odd
    /// layers are summed out.
    Even,
    /// The odd layers `h¹, h³, …`; the even layers are summed (and Gaussian
    /// visibles integrated) out.
    Odd,
}

fn too_many_units(what: &'static str, layers: &str, units: usize, sizes: &[usize]) -> ModelError {
    ModelError::Unsupported {
        what,
        why: format!(
            "the sum runs over the 2^{units} configurations of the {layers} layers of the DBM \
             {sizes:?}; at most {DBM_MAX_EXACT_UNITS} units are supported (use AIS for larger \
             models)"
        ),
    }
}

/// The units of the layers of `parity` among `sizes`.
fn units_of(sizes: &[usize], parity: usize) -> usize {
    sizes.iter().skip(parity).step_by(2).sum()
}

fn f64s(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&x| x as f64).collect()
}

/// Exact `ln Z`, enumerating the layers of `side`.
///
/// Errors if the parameters are invalid, if those layers have more than
/// [`DBM_MAX_EXACT_UNITS`] units together, or for [`DbmExactSide::Even`]
/// with Gaussian visibles (which are integrated, not enumerated). The result
/// is bit-identical for any `par`.
pub fn dbm_exact_log_z_over(params: &DbmParams<'_>, side: DbmExactSide, par: Par) -> Result<f64> {
    params.validate()?;
    let sizes = params.sizes();
    let parity = match side {
        DbmExactSide::Even => 0,
        DbmExactSide::Odd => 1,
    };
    let sigma = match params.visible {
        VisibleUnits::Bernoulli => None,
        VisibleUnits::Gaussian { sigma } => Some(sigma),
    };
    if sigma.is_some() && parity == 0 {
        return Err(ModelError::Unsupported {
            what: "exact DBM log Z over the even layers",
            why: "Gaussian visibles are continuous: enumerate the odd layers instead".into(),
        });
    }
    let units = units_of(&sizes, parity);
    if units > DBM_MAX_EXACT_UNITS {
        let layers = if parity == 0 { "even" } else { "odd" };
        return Err(too_many_units("exact DBM log Z", layers, units, &sizes));
    }
    let bias: Vec<Vec<f64>> = params.biases.iter().map(|b| f64s(b)).collect();
    Ok(Enumeration::of_chain(&bias, &params.weights, parity, sigma).log_sum(par))
}

/// Exact `ln Z`, enumerating whichever parity of layers has fewer units
/// (the even layers on a tie; always the odd ones for Gaussian visibles).
///
/// Errors if the parameters are invalid or those layers have more than
/// [`DBM_MAX_EXACT_UNITS`] units. The result is bit-identical for any `par`.
pub fn dbm_exact_log_z(params: &DbmParams<'_>, par: Par) -> Result<f64> {
    params.validate()?;
    let sizes = params.sizes();
    let side = match params.visible {
        VisibleUnits::Bernoulli if units_of(&sizes, 0) <= units_of(&sizes, 1) => DbmExactSide::Even,
        _ => DbmExactSide::Odd,
    };
    dbm_exact_log_z_over(params, side, par)
}

/// `ln Σ_h e^{-E(v, h)}` (that is `-F(v)`, the log of the unnormalised
/// marginal) of every row of `data` (`B x n_0`) into `out` (`B`), exactly:
/// the hidden layers of the parity with fewer units are enumerated (the odd
/// ones on a tie), the others summed out.
///
/// Errors if the parameters are invalid, `data` is not whole rows, `out.len()
/// != B`, or the enumerated hidden layers have more than
/// [`DBM_MAX_EXACT_UNITS`] units. Rows are spread over `par`; the result
/// does not depend on it.
pub fn dbm_log_marginal_unnormalised(
    params: &DbmParams<'_>,
    data: &[f32],
    out: &mut [f64],
    par: Par,
) -> Result<()> {
    params.validate()?;
    let rows = params.rows_of("dbm_log_marginal_unnormalised", data)?;
    check_out("dbm_log_marginal_unnormalised", rows, out.len())?;
    let sizes = params.sizes();
    // Chain index k is layer k + 1: parity 0 enumerates the odd layers.
    let parity = usize::from(units_of(&sizes[1..], 1) < units_of(&sizes[1..], 0));
    let units = units_of(&sizes[1..], parity);
    if units > DBM_MAX_EXACT_UNITS {
        let layers = if parity == 0 { "odd" } else { "even hidden" };
        return Err(too_many_units(
            "exact DBM log-likelihood",
            layers,
            units,
            &sizes,
        ));
    }
    let (nv, n1) = (sizes[0], sizes[1]);
    let scale = |i: usize| match params.visible {
        VisibleUnits::Bernoulli => 1.0,
        VisibleUnits::Gaussian { sigma } => 1.0 / sigma[i] as f64,
    };
    let upper: Vec<Vec<f64>> = params.biases[2..].iter().map(|b| f64s(b)).collect();
    let w1 = params.w(1);
    fill_rows_min(out, par, 1, |r| {
        let v = &data[r * nv..(r + 1) * nv];
        let mut bias = Vec::with_capacity(upper.len() + 1);
        let mut b1 = f64s(params.biases[1]);
        for (i, &vi) in v.iter().enumerate() {
            let x = vi as f64 * scale(i);
            for (b, &w) in b1.iter_mut().zip(&w1[i * n1..(i + 1) * n1]) {
                *b += x * w as f64;
            }
        }
        bias.push(b1);
        bias.extend(upper.iter().cloned());
        let e = Enumeration::of_chain(&bias, &params.weights[1..], parity, None);
        params.visible_log_factor(v) + e.log_sum(Par::Seq)
    });
    Ok(())
}

/// `ln p(v) = -F(v) - ln Z` of every row of `data` into `out`, for a given
/// `ln Z` (exact, or an AIS estimate), with `-F(v)` from
/// [`dbm_log_marginal_unnormalised`] (and its errors).
pub fn dbm_log_likelihood(
    params: &DbmParams<'_>,
    data: &[f32],
    log_z: f64,
    out: &mut [f64],
    par: Par,
) -> Result<()> {
    dbm_log_marginal_unnormalised(params, data, out, par)?;
    for o in out.iter_mut() {
        *o -= log_z;
    }
    Ok(())
}

/// The exact average log-likelihood of the rows of `data`, with `ln Z` from
/// [`dbm_exact_log_z`].
///
/// Errors as [`dbm_exact_log_z`] and [`dbm_log_marginal_unnormalised`] do,
/// and if `data` has no rows.
pub fn dbm_exact_average_log_likelihood(
    params: &DbmParams<'_>,
    data: &[f32],
    par: Par,
) -> Result<f64> {
    params.validate()?;
    let rows = params.rows_of("dbm_exact_average_log_likelihood", data)?;
    if rows == 0 {
        return Err(ModelError::Shape {
            what: "dbm_exact_average_log_likelihood: data rows (at least one)".into(),
            expected: 1,
            found: 0,
        });
    }
    let mut ll = vec![0.0f64; rows];
    dbm_log_marginal_unnormalised(params, data, &mut ll, par)?;
    let log_z = dbm_exact_log_z(params, par)?;
    Ok(ll.iter().sum::<f64>() / rows as f64 - log_z)
}
