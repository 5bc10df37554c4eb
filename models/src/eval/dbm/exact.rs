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
use crate::eval::{VisibleUnits, check_out, fill_rows_min, log_sum_exp, sum_softplus_f64};

/// The most units the enumerated layers may have together (`2^24`
/// configurations), for `ln Z` and for each data row's hidden sum.
pub const DBM_MAX_EXACT_UNITS: usize = 24;

/// Low bits enumerated inside one block.
const BLOCK_BITS: usize = 12;

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

/// `ln Σ_u exp(unit_biasᵀu + g(a))` over `u ∈ {0,1}^n`, with `a =
/// other_init + Σ_k u_k unit_w[k]` and `g(a) = Σ_{l<G} (coef_l a_l +
/// a_l²/2) + Σ_{l≥G} softplus(a_l)`, `G = coef.len()`, plus `constant`.
struct Enumeration {
    n: usize,
    m: usize,
    unit_bias: Vec<f64>,
    /// `n x m`: the weights of each enumerated unit to the summed ones.
    unit_w: Vec<f64>,
    other_init: Vec<f64>,
    /// `b_i/σ_i` of the Gaussian visibles, which come first among the
    /// summed units.
    coef: Vec<f64>,
    constant: f64,
}

impl Enumeration {
    /// The enumeration of a chain of Bernoulli layers (`bias[k]` its sizes,
    /// `weights[k]` linking layers `k` and `k+1` row-major) whose layers of
    /// `parity` are enumerated. `gaussian_sigma`: layer 0 is Gaussian (it
    /// must then be summed, i.e. `parity == 1`) with these `σ`.
    fn of_chain(
        bias: &[Vec<f64>],
        weights: &[&[f32]],
        parity: usize,
        gaussian_sigma: Option<&[f32]>,
    ) -> Enumeration {
        let sizes: Vec<usize> = bias.iter().map(Vec::len).collect();
        let is_enum = |l: usize| l % 2 == parity;
        let (mut off, mut n, mut m) = (vec![0; sizes.len()], 0, 0);
        for (l, &s) in sizes.iter().enumerate() {
            let next = if is_enum(l) { &mut n } else { &mut m };
            off[l] = *next;
            *next += s;
        }
        let (mut unit_bias, mut other_init, mut coef) = (Vec::new(), Vec::new(), Vec::new());
        let mut constant = 0.0;
        for (l, b) in bias.iter().enumerate() {
            match (is_enum(l), gaussian_sigma) {
                (true, _) => unit_bias.extend_from_slice(b),
                (false, Some(sigma)) if l == 0 => {
                    coef.extend(b.iter().zip(sigma).map(|(&b, &s)| b / s as f64));
                    other_init.extend(std::iter::repeat_n(0.0, b.len()));
                    let half_ln_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
                    constant += sigma
                        .iter()
                        .map(|&s| half_ln_2pi + (s as f64).ln())
                        .sum::<f64>();
                }
                (false, _) => other_init.extend_from_slice(b),
            }
        }
        let mut unit_w = vec![0.0f64; n * m];
        for l in (0..sizes.len()).filter(|&l| is_enum(l)) {
            for j in 0..sizes[l] {
                let row = &mut unit_w[(off[l] + j) * m..(off[l] + j + 1) * m];
                if l > 0 {
                    for i in 0..sizes[l - 1] {
                        row[off[l - 1] + i] = weights[l - 1][i * sizes[l] + j] as f64;
                    }
                }
                if l + 1 < sizes.len() {
                    let w = &weights[l][j * sizes[l + 1]..(j + 1) * sizes[l + 1]];
                    for (k, &x) in w.iter().enumerate() {
                        row[off[l + 1] + k] = x as f64;
                    }
                }
            }
        }
        Enumeration {
            n,
            m,
            unit_bias,
            unit_w,
            other_init,
            coef,
            constant,
        }
    }

    #[inline]
    fn other_sum(&self, a: &[f64]) -> f64 {
        let g = self.coef.len();
        let gauss: f64 = a[..g]
            .iter()
            .zip(&self.coef)
            .map(|(&a, &k)| k * a + 0.5 * a * a)
            .sum();
        gauss + sum_softplus_f64(&a[g..])
    }

    /// `ln Σ exp(value)` over the configurations of block `block`.
    fn block_log_sum(&self, block: usize, low_bits: usize) -> f64 {
        let m = self.m;
        let mut a = self.other_init.clone();
        let mut lin = 0.0f64;
        for k in low_bits..self.n {
            if (block >> (k - low_bits)) & 1 == 1 {
                lin += self.unit_bias[k];
                for (al, &w) in a.iter_mut().zip(&self.unit_w[k * m..(k + 1) * m]) {
                    *al += w;
                }
            }
        }
        let mut on = vec![false; low_bits];
        let (mut max, mut sum) = (f64::NEG_INFINITY, 0.0f64);
        for t in 0..1usize << low_bits {
            if t > 0 {
                let k = t.trailing_zeros() as usize;
                on[k] = !on[k];
                let sign = if on[k] { 1.0 } else { -1.0 };
                lin += sign * self.unit_bias[k];
                for (al, &w) in a.iter_mut().zip(&self.unit_w[k * m..(k + 1) * m]) {
                    *al += sign * w;
                }
            }
            let x = lin + self.other_sum(&a);
            if x > max {
                sum = sum * (max - x).exp() + 1.0;
                max = x;
            } else {
                sum += (x - max).exp();
            }
        }
        max + sum.ln()
    }

    /// The whole sum, its fixed blocks spread over `par`.
    fn log_sum(&self, par: Par) -> f64 {
        let low_bits = self.n.min(BLOCK_BITS);
        let mut per_block = vec![0.0f64; 1usize << (self.n - low_bits)];
        fill_rows_min(&mut per_block, par, 1, |b| self.block_log_sum(b, low_bits));
        self.constant + log_sum_exp(per_block.iter().copied())
    }
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
