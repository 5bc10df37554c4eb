//! Honest likelihood evaluation of RBMs (`MODELS.md` section 2.4).
//!
//! Everything here takes plain parameters ([`RbmParams`]: `W` as a `V x H`
//! row-major slice and the two biases), so it works for any RBM however it
//! was trained:
//!
//! - [`free_energy`] (f32, into a caller's buffer) and [`free_energy_f64`];
//! - [`exact_log_z`] and [`exact_average_log_likelihood`] for models with at
//!   most [`MAX_EXACT_UNITS`] units on the side that is summed over;
//! - [`ais_log_z`]: annealed importance sampling (Salakhutdinov & Murray
//!   2008) with its ±3σ interval, for models too large to enumerate;
//! - [`pseudo_log_likelihood`]: the stochastic one-bit-flip estimate;
//! - for deep Boltzmann machines ([`DbmParams`]): [`dbm_ais_log_z`], exact
//!   [`dbm_exact_log_z`] and [`dbm_log_likelihood`] for tiny models, and the
//!   mean-field bound [`dbm_variational_bound`];
//! - for deep belief nets ([`DbnParams`]): the standard lower bound
//!   [`dbn_variational_bound`] (Monte Carlo over the recognition model),
//!   and exact [`dbn_exact_variational_bound`] and [`dbn_log_likelihood`]
//!   for tiny models.
//!
//! Data is batch-major and row-major (`B x V`, one sample a row).
//!
//! The evaluation is always f32 (and f64 where stated), whatever the
//! precision of the model's products ([`crate::rbm::Rbm::precision`]): it
//! evaluates the f32 master parameters, not their bf16 rounding.

mod ais;
mod dbm;
mod dbn;
mod enumeration;
mod exact;
mod free_energy;
mod pll;

pub use ais::{AisConfig, AisEstimate, ais_log_z, base_rate_visible_bias, piecewise_linear_betas};
pub use dbm::{
    DBM_MAX_EXACT_UNITS, DbmExactSide, DbmParams, dbm_ais_log_z, dbm_base_rate_visible_bias,
    dbm_exact_average_log_likelihood, dbm_exact_log_z, dbm_exact_log_z_over, dbm_log_likelihood,
    dbm_log_marginal_unnormalised, dbm_variational_bound, dbm_variational_bound_with_log_z,
};
pub use dbn::{
    DBN_MAX_EXACT_UNITS, DbnBoundConfig, DbnParams, dbn_exact_variational_bound,
    dbn_log_likelihood, dbn_top_base_rate_visible_bias, dbn_variational_bound,
};
pub use exact::{
    ExactSide, MAX_EXACT_UNITS, average_log_likelihood, exact_average_log_likelihood, exact_log_z,
    exact_log_z_over,
};
pub use free_energy::{free_energy, free_energy_f64};
pub use pll::{pll_flip_indices, pseudo_log_likelihood, pseudo_log_likelihood_with_flips};

use latent_kernels::Par;
use rayon::prelude::*;

use crate::error::{ModelError, Result};
use crate::rbm::HiddenUnits;

/// The kind of visible units, with what each kind needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VisibleUnits<'a> {
    /// Binary visibles (`MODELS.md` 2.1).
    Bernoulli,
    /// Real-valued visibles with per-visible standard deviations `σ_i`
    /// (`MODELS.md` 2.2); `sigma.len()` must be `V` and every `σ_i > 0`.
    Gaussian {
        /// `σ_i`, one per visible unit.
        sigma: &'a [f32],
    },
}

/// The parameters of an RBM, borrowed: `W` (`V x H`, row-major, so
/// `W[i*H + j]` links visible `i` and hidden `j`), the visible biases `b`
/// (`V`), the hidden biases `c` (`H`) and the visible units' kind.
///
/// `V` and `H` are taken from the bias lengths; [`RbmParams::validate`]
/// checks that the rest agrees (every function of this module calls it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RbmParams<'a> {
    /// `W`, `V x H` row-major.
    pub w: &'a [f32],
    /// Visible biases `b`, length `V`.
    pub visible_bias: &'a [f32],
    /// Hidden biases `c`, length `H`.
    pub hidden_bias: &'a [f32],
    /// The visible units' kind.
    pub visible: VisibleUnits<'a>,
    /// The hidden units' kind: Bernoulli, or linear (unit-variance
    /// Gaussian, Bernoulli visibles only), whose `F(v) = −bᵀv − Σ_j ½(c_j +
    /// (vᵀW)_j)² − (H/2) ln 2π`.
    pub hidden: HiddenUnits,
}

impl<'a> RbmParams<'a> {
    /// A Bernoulli-Bernoulli RBM.
    pub fn bernoulli(w: &'a [f32], visible_bias: &'a [f32], hidden_bias: &'a [f32]) -> Self {
        RbmParams {
            w,
            visible_bias,
            hidden_bias,
            visible: VisibleUnits::Bernoulli,
            hidden: HiddenUnits::Bernoulli,
        }
    }

    /// A Bernoulli-visible RBM with linear (unit-variance Gaussian) hidden
    /// units ([`HiddenUnits::Linear`]).
    pub fn linear_hidden(w: &'a [f32], visible_bias: &'a [f32], hidden_bias: &'a [f32]) -> Self {
        RbmParams {
            hidden: HiddenUnits::Linear,
            ..Self::bernoulli(w, visible_bias, hidden_bias)
        }
    }

    /// A Gaussian-Bernoulli RBM with per-visible standard deviations `sigma`.
    pub fn gaussian(
        w: &'a [f32],
        visible_bias: &'a [f32],
        hidden_bias: &'a [f32],
        sigma: &'a [f32],
    ) -> Self {
        RbmParams {
            w,
            visible_bias,
            hidden_bias,
            visible: VisibleUnits::Gaussian { sigma },
            hidden: HiddenUnits::Bernoulli,
        }
    }

    /// `V`, the number of visible units.
    pub fn n_visible(&self) -> usize {
        self.visible_bias.len()
    }

    /// `H`, the number of hidden units.
    pub fn n_hidden(&self) -> usize {
        self.hidden_bias.len()
    }

    /// Checks the shapes (`V ≥ 1`, `H ≥ 1`, `|W| = V·H`, `|σ| = V`), that
    /// every `σ_i` is finite and positive, and that linear hiddens have
    /// Bernoulli visibles.
    pub fn validate(&self) -> Result<()> {
        let (v, h) = (self.n_visible(), self.n_hidden());
        if v == 0 || h == 0 {
            return Err(ModelError::InvalidConfig {
                what: "RBM size (visible x hidden units)",
                value: format!("{v} x {h}"),
                expected: "at least one visible and one hidden unit",
            });
        }
        let vh = v.checked_mul(h).ok_or_else(|| ModelError::InvalidConfig {
            what: "RBM size (visible x hidden units)",
            value: format!("{v} x {h}"),
            expected: "V·H representable in usize",
        })?;
        if self.w.len() != vh {
            return Err(ModelError::Shape {
                what: format!("RBM weights W ({v} visible x {h} hidden, row-major)"),
                expected: vh,
                found: self.w.len(),
            });
        }
        if let VisibleUnits::Gaussian { sigma } = self.visible {
            if self.hidden == HiddenUnits::Linear {
                return Err(ModelError::Unsupported {
                    what: "an RBM with Gaussian visibles and linear hiddens",
                    why: "its joint is a Gaussian that need not be normalisable; linear hiddens need Bernoulli visibles".into(),
                });
            }
            if sigma.len() != v {
                return Err(ModelError::Shape {
                    what: "Gaussian RBM sigma (one per visible unit)".to_string(),
                    expected: v,
                    found: sigma.len(),
                });
            }
            if let Some(s) = sigma.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
                return Err(ModelError::InvalidConfig {
                    what: "Gaussian RBM sigma",
                    value: s.to_string(),
                    expected: "finite and > 0",
                });
            }
        }
        Ok(())
    }

    /// Checks that `data` holds whole rows of `V` values and returns the
    /// number of rows.
    fn rows_of(&self, what: &str, data: &[f32]) -> Result<usize> {
        let v = self.n_visible();
        if !data.len().is_multiple_of(v) {
            return Err(ModelError::Shape {
                what: format!(
                    "{what}: data (rows of {v} visible values), length rounded to whole rows"
                ),
                expected: data.len() / v * v,
                found: data.len(),
            });
        }
        Ok(data.len() / v)
    }
}

/// Checks that a caller's output buffer has one slot per sample.
fn check_out(what: &str, expected: usize, found: usize) -> Result<()> {
    if expected != found {
        return Err(ModelError::Shape {
            what: format!("{what}: output buffer (one value per sample)"),
            expected,
            found,
        });
    }
    Ok(())
}

/// `out[r] = f(r)` for every row `r`: on the calling thread for
/// [`Par::Seq`] or short batches, else split into at most
/// `par.max_tasks()` contiguous pieces on the current rayon pool. Each slot
/// depends only on its row, so the result is the same for any thread count.
fn fill_rows<T: Send>(out: &mut [T], par: Par, f: impl Fn(usize) -> T + Sync) {
    fill_rows_min(out, par, 32, f);
}

/// [`fill_rows`] with at least `min_rows_per_task` rows in a task.
fn fill_rows_min<T: Send>(
    out: &mut [T],
    par: Par,
    min_rows_per_task: usize,
    f: impl Fn(usize) -> T + Sync,
) {
    let tasks = par.max_tasks();
    if tasks <= 1 || out.len() <= min_rows_per_task {
        for (r, o) in out.iter_mut().enumerate() {
            *o = f(r);
        }
        return;
    }
    let min_len = out.len().div_ceil(tasks).max(min_rows_per_task);
    out.par_iter_mut()
        .enumerate()
        .with_min_len(min_len)
        .for_each(|(r, o)| *o = f(r));
}

/// `softplus(x) = ln(1 + eˣ)` in the stable form, `f32`.
#[inline]
fn softplus_f32(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// `softplus(x) = ln(1 + eˣ)` in the stable form, `f64`.
#[inline]
fn softplus_f64(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// `eˣ` for `x ≤ 0`, in `f64`, written without branches or calls so that
/// a loop over it vectorises: Cody-Waite reduction `x = n ln2 + r` with
/// `|r| ≤ ln2/2`, a degree-13 Taylor polynomial (truncation below 1e-17
/// relative) and `2ⁿ` from the exponent bits. Inputs below -708 are
/// clamped (`e^-708 ≈ 3e-308`, nothing next to the 1 the callers add to
/// it); NaN stays NaN.
#[inline(always)]
fn exp_nonpos(x: f64) -> f64 {
    const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5·2^52: adding it rounds to an integer
    // fdlibm's split of ln 2: the high part has 32 trailing zero bits, so
    // n·LN2_HI is exact.
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    let x = if x < -708.0 { -708.0 } else { x };
    let t = x * std::f64::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // 1/k! for k = 13 down to 2.
    const C: [f64; 12] = [
        1.0 / 6_227_020_800.0,
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
    ];
    let mut p = C[0];
    for c in &C[1..] {
        p = p * r + c;
    }
    p = (p * r + 1.0) * r + 1.0;
    // n = t's low mantissa bits (two's complement, relative to MAGIC).
    let n_int = (t.to_bits() as i64).wrapping_sub(MAGIC.to_bits() as i64);
    let scale = f64::from_bits((n_int.wrapping_add(1023) << 52) as u64);
    p * scale
}

/// `Σᵢ softplus(xᵢ)` in `f64`, as `Σ max(xᵢ, 0) + ln Π (1 + e^{-|xᵢ|})`:
/// one vectorisable [`exp_nonpos`] per element and one `ln` per 256
/// elements (each factor lies in `[1, 2]`, so no product can overflow).
/// The summation order is fixed; NaN propagates.
fn sum_softplus_f64(x: &[f64]) -> f64 {
    const LANES: usize = 4;
    let mut total = 0.0;
    for chunk in x.chunks(256) {
        let mut lin = [0.0f64; LANES];
        let mut prod = [1.0f64; LANES];
        let mut quads = chunk.chunks_exact(LANES);
        for q in &mut quads {
            for l in 0..LANES {
                // 0.5 (x + |x|) = max(x, 0), and NaN stays NaN.
                lin[l] += 0.5 * (q[l] + q[l].abs());
                prod[l] *= 1.0 + exp_nonpos(-q[l].abs());
            }
        }
        for (l, &xi) in quads.remainder().iter().enumerate() {
            lin[l] += 0.5 * (xi + xi.abs());
            prod[l] *= 1.0 + exp_nonpos(-xi.abs());
        }
        total += (lin[0] + lin[1]) + (lin[2] + lin[3]);
        total += ((prod[0] * prod[1]) * (prod[2] * prod[3])).ln();
    }
    total
}

/// `σ(x)` in the stable form, `f32`.
#[inline]
fn sigmoid_f32(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `ln Σ exp(xᵢ)` of a sequence, in the stable form (`-∞` when empty).
fn log_sum_exp(xs: impl Iterator<Item = f64> + Clone) -> f64 {
    let m = xs.clone().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY || !m.is_finite() {
        return m;
    }
    m + xs.map(|x| (x - m).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_nonpos_is_within_a_few_ulps() {
        let mut worst = 0.0f64;
        for k in 0..=200_000 {
            let x = -708.0 * k as f64 / 200_000.0;
            let (got, want) = (exp_nonpos(x), x.exp());
            worst = worst.max((got - want).abs() / want);
        }
        assert!(worst < 1e-15, "worst relative error {worst}");
        assert_eq!(exp_nonpos(0.0), 1.0);
        assert_eq!(exp_nonpos(-1e6), exp_nonpos(-708.0));
        assert!(exp_nonpos(f64::NAN).is_nan());
    }

    #[test]
    fn sum_softplus_matches_the_naive_sum() {
        for n in [0usize, 1, 3, 4, 5, 255, 256, 257, 1000, 2049] {
            let x: Vec<f64> = (0..n)
                .map(|i| ((i * 7919) % 1001) as f64 / 1000.0 * 80.0 - 40.0 + (i % 3) as f64 * 0.1)
                .collect();
            let want: f64 = x.iter().map(|&x| softplus_f64(x)).sum();
            let got = sum_softplus_f64(&x);
            assert!(
                (got - want).abs() <= 1e-13 * want.abs().max(1.0),
                "n={n}: {got} vs {want}"
            );
        }
        assert!(sum_softplus_f64(&[1.0, f64::NAN, 2.0]).is_nan());
        assert_eq!(sum_softplus_f64(&[1e300, -1e300]), 1e300);
    }
}
