//! Exact values for tiny DBNs, in `f64`, by enumerating every configuration
//! of the hidden layers below the top, `h¹, …, h^{L-1}`:
//!
//! - `ln p(v) = ln Σ_h p(v | h¹) Π_{1<l<L} p(h^{l-1} | h^l) p*(h^{L-1}) - ln Z_L`;
//! - the bound's expectation `Σ_h Q(h | v) [ln p(v | h¹) + … + ln
//!   p*(h^{L-1}) - ln Q(h | v)]`, with `Q(h | v) = Π_{l<L} Q(h^l | h^{l-1})`.
//!
//! Each term is written out from the RBMs' conditionals, independently of
//! the Monte Carlo code.

use latent_kernels::Par;

use super::DbnParams;
use crate::error::{ModelError, Result};
use crate::eval::free_energy::free_energy_row_f64;
use crate::eval::{RbmParams, VisibleUnits, check_out, fill_rows, softplus_f64};

/// The most hidden units below the top layer that the exact routines
/// enumerate (`2^20` configurations per row).
pub const DBN_MAX_EXACT_UNITS: usize = 20;

/// The exact `ln p(v)` of every row of `data` (`B x n_0`) into `out` (`B`),
/// for a given `ln Z_L` of the top RBM (exact, from
/// [`exact_log_z`](crate::eval::exact_log_z) on [`DbnParams::top`]).
///
/// Errors if the parameters are invalid, `data` is not whole rows,
/// `out.len() != B`, or the hidden layers below the top have more than
/// [`DBN_MAX_EXACT_UNITS`] units together. The result is the same for any
/// `par`.
pub fn dbn_log_likelihood(
    params: &DbnParams<'_>,
    data: &[f32],
    log_z_top: f64,
    out: &mut [f64],
    par: Par,
) -> Result<()> {
    let n0 = check(params, "dbn_log_likelihood", data, out.len())?;
    fill_rows(out, par, |r| {
        row_sums(params, &data[r * n0..(r + 1) * n0]).0 - log_z_top
    });
    Ok(())
}

/// The exact expectation under `Q(h | v)` of the bound (without `- ln
/// Z_L`), every row of `data` into `out`: what
/// [`dbn_variational_bound`](super::dbn_variational_bound) estimates.
///
/// Errors as [`dbn_log_likelihood`] does.
pub fn dbn_exact_variational_bound(
    params: &DbnParams<'_>,
    data: &[f32],
    out: &mut [f64],
    par: Par,
) -> Result<()> {
    let n0 = check(params, "dbn_exact_variational_bound", data, out.len())?;
    fill_rows(out, par, |r| {
        row_sums(params, &data[r * n0..(r + 1) * n0]).1
    });
    Ok(())
}

/// Validates, checks the shapes and the enumerated units; returns `n_0`.
fn check(params: &DbnParams<'_>, what: &str, data: &[f32], out: usize) -> Result<usize> {
    params.validate()?;
    let rows = params.rows_of(what, data)?;
    check_out(what, rows, out)?;
    let sizes = params.sizes();
    let units: usize = sizes[1..sizes.len() - 1].iter().sum();
    if units > DBN_MAX_EXACT_UNITS {
        return Err(ModelError::Unsupported {
            what: "exact DBN log-likelihood",
            why: format!(
                "the sum runs over the 2^{units} configurations of the hidden layers below the \
                 top ({sizes:?}); at most {DBN_MAX_EXACT_UNITS} units are supported"
            ),
        });
    }
    Ok(sizes[0])
}

/// `(ln Σ_h e^{g(h)}, Σ_h Q(h) (g(h) - ln Q(h)))` of one row `v`, with
/// `g(h) = ln p(v | h¹) + Σ_{1<l<L} ln p(h^{l-1} | h^l) + ln p*(h^{L-1})`.
fn row_sums(params: &DbnParams<'_>, v: &[f32]) -> (f64, f64) {
    let layers = &params.layers;
    let top = layers.len();
    if top == 1 {
        let f = -free_energy_row_f64(&layers[0], v);
        return (f, f);
    }
    let bottom = &layers[0];
    let x0: Vec<f64> = match bottom.visible {
        VisibleUnits::Bernoulli => v.iter().map(|&x| x as f64).collect(),
        VisibleUnits::Gaussian { sigma } => v
            .iter()
            .zip(sigma)
            .map(|(&x, &s)| x as f64 / s as f64)
            .collect(),
    };
    let sizes = params.sizes();
    let units: usize = sizes[1..top].iter().sum();
    let (mut max, mut sum, mut expected) = (f64::NEG_INFINITY, 0.0f64, 0.0f64);
    for k in 0..1usize << units {
        // h[l-1] = h^l for l = 1..L-1, from the bits of k.
        let mut at = 0;
        let h: Vec<Vec<f64>> = sizes[1..top]
            .iter()
            .map(|&n| {
                at += n;
                (at - n..at).map(|b| ((k >> b) & 1) as f64).collect()
            })
            .collect();
        let mut g = visible_log_prob(bottom, v, &h[0]);
        let mut log_q = 0.0;
        for l in 1..top {
            let below = if l == 1 { &x0 } else { &h[l - 2] };
            log_q += log_bernoulli(&h[l - 1], &up_logits(&layers[l - 1], below));
            if l > 1 {
                let down = down_logits(&layers[l - 1], &h[l - 1]);
                g += log_bernoulli(&h[l - 2], &down);
            }
        }
        let t = &layers[top - 1];
        let lin: f64 = (0..t.n_visible())
            .map(|i| t.visible_bias[i] as f64 * h[top - 2][i])
            .sum();
        g += lin
            + up_logits(t, &h[top - 2])
                .iter()
                .map(|&a| softplus_f64(a))
                .sum::<f64>();
        expected += log_q.exp() * (g - log_q);
        if g > max {
            sum = sum * (max - g).exp() + 1.0;
            max = g;
        } else {
            sum += (g - max).exp();
        }
    }
    (max + sum.ln(), expected)
}

/// `c + Wᵀx`: the hidden logits of an RBM given its visible input `x`.
fn up_logits(p: &RbmParams<'_>, x: &[f64]) -> Vec<f64> {
    let h = p.n_hidden();
    (0..h)
        .map(|j| {
            let dot: f64 = (0..x.len()).map(|i| x[i] * p.w[i * h + j] as f64).sum();
            p.hidden_bias[j] as f64 + dot
        })
        .collect()
}

/// `W h`, without the visible biases.
fn down_products(p: &RbmParams<'_>, h: &[f64]) -> Vec<f64> {
    let nh = p.n_hidden();
    (0..p.n_visible())
        .map(|i| (0..nh).map(|j| p.w[i * nh + j] as f64 * h[j]).sum())
        .collect()
}

/// `b + W h`: the visible logits of a Bernoulli RBM given `h`.
fn down_logits(p: &RbmParams<'_>, h: &[f64]) -> Vec<f64> {
    let d = down_products(p, h);
    d.iter()
        .zip(p.visible_bias)
        .map(|(&d, &b)| b as f64 + d)
        .collect()
}

/// `ln Π_i Bernoulli(t_i; σ(a_i)) = Σ_i [t_i a_i - softplus(a_i)]`.
fn log_bernoulli(t: &[f64], a: &[f64]) -> f64 {
    t.iter()
        .zip(a)
        .map(|(&t, &a)| t * a - softplus_f64(a))
        .sum()
}

/// `ln p(v | h¹)` of the bottom RBM: Bernoulli, or `Π_i N(v_i; b_i + σ_i
/// (W h)_i, σ_i²)`.
fn visible_log_prob(bottom: &RbmParams<'_>, v: &[f32], h: &[f64]) -> f64 {
    let v64: Vec<f64> = v.iter().map(|&x| x as f64).collect();
    match bottom.visible {
        VisibleUnits::Bernoulli => log_bernoulli(&v64, &down_logits(bottom, h)),
        VisibleUnits::Gaussian { sigma } => {
            let d = down_products(bottom, h);
            let half_ln_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
            (0..v64.len())
                .map(|i| {
                    let s = sigma[i] as f64;
                    let z = (v64[i] - bottom.visible_bias[i] as f64 - s * d[i]) / s;
                    -0.5 * z * z - s.ln() - half_ln_2pi
                })
                .sum()
        }
    }
}
