//! Stochastic pseudo-log-likelihood of Bernoulli RBMs (`MODELS.md` 2.4), as
//! scikit-learn's `BernoulliRBM.score_samples` computes it: for each sample
//! flip one random visible `i` (`ṽ_i = 1 - v_i`) and report
//! `V · ln σ(F(ṽ) - F(v))`.
//!
//! `F(ṽ) - F(v)` is computed from the hidden pre-activations `a = c + vᵀW`
//! (one SGEMM for the batch) without cancellation: with `d = 1 - 2v_i`,
//! `F(ṽ) - F(v) = -d b_i - Σ_j (softplus(a_j + d W_ij) - softplus(a_j))`
//! (linear hiddens: `-d b_i - Σ_j (d W_ij a_j + ½W_ij²)`).

use latent_engine::Rng;
use latent_kernels::Par;

use super::free_energy::hidden_pre_activation;
use super::{HiddenUnits, RbmParams, VisibleUnits, check_out, fill_rows, softplus_f64};
use crate::error::{ModelError, Result};

/// The stream id of the flipped-bit choice (mixed with the seed).
const PLL_STREAM: u64 = 0x504c_4c00_0000_0000;

/// The visible index each of `n_samples` samples flips in
/// [`pseudo_log_likelihood`] with this `seed`: uniform in `0..n_visible`
/// (all 0 when `n_visible` is 0), from one seeded stream.
pub fn pll_flip_indices(n_samples: usize, n_visible: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng::stream(seed, PLL_STREAM);
    (0..n_samples)
        .map(|_| rng.below(n_visible as u64) as usize)
        .collect()
}

/// The stochastic pseudo-log-likelihood of every row of `data` (`B x V`,
/// Bernoulli RBM) into `out` (`B`), flipping the bits
/// [`pll_flip_indices`]`(B, V, seed)`.
///
/// Errors if the shapes disagree or the visibles are Gaussian.
pub fn pseudo_log_likelihood(
    params: &RbmParams<'_>,
    data: &[f32],
    seed: u64,
    out: &mut [f32],
    par: Par,
) -> Result<()> {
    params.validate()?;
    let rows = params.rows_of("pseudo_log_likelihood", data)?;
    let flips = pll_flip_indices(rows, params.n_visible(), seed);
    pseudo_log_likelihood_with_flips(params, data, &flips, out, par)
}

/// [`pseudo_log_likelihood`] with the flipped visible index of each row
/// given (`flips.len() == B`, each `< V`): `out[n] = V · ln σ(F(ṽ) - F(v))`.
///
/// Errors if the shapes disagree, an index is out of range, or the visibles
/// are Gaussian.
pub fn pseudo_log_likelihood_with_flips(
    params: &RbmParams<'_>,
    data: &[f32],
    flips: &[usize],
    out: &mut [f32],
    par: Par,
) -> Result<()> {
    params.validate()?;
    if let VisibleUnits::Gaussian { .. } = params.visible {
        return Err(ModelError::Unsupported {
            what: "pseudo-log-likelihood",
            why: "it flips binary visibles; this RBM has Gaussian visibles".into(),
        });
    }
    let rows = params.rows_of("pseudo_log_likelihood", data)?;
    check_out("pseudo_log_likelihood", rows, out.len())?;
    if flips.len() != rows {
        return Err(ModelError::Shape {
            what: "pseudo_log_likelihood: flipped indices (one per sample)".into(),
            expected: rows,
            found: flips.len(),
        });
    }
    let (v, h) = (params.n_visible(), params.n_hidden());
    if let Some(&i) = flips.iter().find(|&&i| i >= v) {
        return Err(ModelError::InvalidConfig {
            what: "pseudo_log_likelihood: flipped visible index",
            value: i.to_string(),
            expected: "an index below the number of visible units",
        });
    }
    if rows == 0 {
        return Ok(());
    }
    let pre = hidden_pre_activation(params, data, rows, par)?;
    fill_rows(out, par, |r| {
        let i = flips[r];
        let d = 1.0 - 2.0 * data[r * v + i] as f64;
        let w_i = &params.w[i * h..(i + 1) * h];
        let hidden: f64 = pre[r * h..(r + 1) * h]
            .iter()
            .zip(w_i)
            .map(|(&a, &w)| {
                let (a, w) = (a as f64, w as f64);
                match params.hidden {
                    HiddenUnits::Bernoulli => softplus_f64(a + d * w) - softplus_f64(a),
                    // ½(a + dw)² − ½a² with d² = 1.
                    HiddenUnits::Linear => d * w * a + 0.5 * w * w,
                }
            })
            .sum();
        let delta = -d * params.visible_bias[i] as f64 - hidden; // F(ṽ) - F(v)
        // ln σ(x) = -softplus(-x).
        (-(v as f64) * softplus_f64(-delta)) as f32
    });
    Ok(())
}
