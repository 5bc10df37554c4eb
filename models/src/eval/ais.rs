//! Annealed importance sampling estimate of `ln Z` (Salakhutdinov & Murray,
//! "On the quantitative analysis of deep belief networks", ICML 2008;
//! `MODELS.md` 2.4).
//!
//! The base model `A` is the target RBM `B` with `W = 0`, no hidden units
//! and visible biases `b_A` from the data ([`base_rate_visible_bias`]). The
//! intermediate distributions over `v` are, for `β` from 0 to 1,
//!
//! ```text
//! ln p*_β(v) = (1-β) q_A(v) + β q_B(v) + Σ_j softplus(β (c_j + Σ_i W_ij x_i))
//! ```
//!
//! with `x = v` and `q(v) = bᵀv` for Bernoulli visibles, and `x_i = v_i/σ_i`,
//! `q(v) = -Σ_i (v_i - b_i)²/(2σ_i²)` for Gaussian ones. (At `β = 0` the
//! hidden units are uniform, so `ln Z_0 = H ln 2 + ln Z_A`.) Each run draws
//! `v₁ ~ p_0`, and for `k = 1..K` adds `ln p*_k(v_k) - ln p*_{k-1}(v_k)` to its
//! log-weight, then moves `v_k → v_{k+1}` by one Gibbs sweep (`h` then `v`)
//! that leaves `p_k` invariant. Then `ln Ẑ = ln Z_0 + ln mean_m w_m`, in log
//! space, and the ±3σ interval is `ln Z_0 + ln(r̂ ± 3 ŝ/√M)` with `r̂` and
//! `ŝ` the mean and standard deviation of the weights, as in the paper.
//!
//! Runs are processed in fixed blocks of [`AisConfig::runs_per_block`]; each
//! block runs all `K` steps on its own (two SGEMMs a step for all its runs:
//! `X W` and `H Wᵀ`), and each run draws from its own random stream derived
//! from `(seed, run index)`. Blocks are spread over rayon tasks, so the
//! estimate is bit-identical for any thread count.

use latent_engine::Rng;
use latent_kernels::{Accum, BiasAdd, MatMut, MatRef, NoEpilogue, Par, gemm};

use super::{
    HiddenUnits, RbmParams, VisibleUnits, fill_rows_min, sigmoid_f32, softplus_f64,
    sum_softplus_f64,
};
use crate::error::{ModelError, Result};

/// The stream id of AIS runs (mixed with the seed and the run index).
const AIS_STREAM: u64 = 0x4149_5300_0000_0000;

/// Pixel means are clipped to `[BASE_RATE_CLIP, 1 - BASE_RATE_CLIP]` before
/// the logit, so a pixel that is always 0 (or 1) in the data gets a finite
/// base-rate bias.
pub const BASE_RATE_CLIP: f32 = 1e-3;

/// `β` rising linearly through segments: starting at 0, each `(end, steps)`
/// adds `steps` evenly spaced values whose last one is `end`. The result has
/// `1 + Σ steps` values.
///
/// `piecewise_linear_betas(&[(0.5, 500), (0.9, 4000), (1.0, 10000)])` is the
/// default schedule of [`AisConfig`].
pub fn piecewise_linear_betas(segments: &[(f64, usize)]) -> Vec<f64> {
    let mut betas = vec![0.0];
    let mut start = 0.0;
    for &(end, steps) in segments {
        for s in 1..=steps {
            betas.push(if s == steps {
                end
            } else {
                start + (end - start) * s as f64 / steps as f64
            });
        }
        start = end;
    }
    betas
}

/// Settings of an AIS run.
#[derive(Debug, Clone, PartialEq)]
pub struct AisConfig {
    /// The inverse temperatures `β_0 = 0 ≤ β_1 ≤ … ≤ β_K = 1` (at least two).
    pub betas: Vec<f64>,
    /// `M`, the number of independent runs (at least 2, for the error bars).
    pub n_runs: usize,
    /// The seed; run `m` uses the stream `(seed, m)`.
    pub seed: u64,
    /// Runs advanced together by one block (one SGEMM covers them all); the
    /// blocks are the unit of parallel work. The estimate is reproducible
    /// for a given seed and block size whatever the thread count.
    pub runs_per_block: usize,
}

impl Default for AisConfig {
    /// Salakhutdinov & Murray's kind of schedule: 500 steps over `[0, 0.5]`,
    /// 4000 over `[0.5, 0.9]`, 10000 over `[0.9, 1]`; 100 runs, seed 0,
    /// blocks of 12 runs (a multiple of every microkernel's row count).
    fn default() -> Self {
        AisConfig {
            betas: piecewise_linear_betas(&[(0.5, 500), (0.9, 4000), (1.0, 10000)]),
            n_runs: 100,
            seed: 0,
            runs_per_block: 12,
        }
    }
}

impl AisConfig {
    /// Checks the schedule, the run count and the block size.
    pub(crate) fn validate(&self) -> Result<()> {
        let b = &self.betas;
        let bad = |expected| ModelError::InvalidConfig {
            what: "AIS betas",
            value: if b.len() <= 6 {
                format!("{b:?}")
            } else {
                format!(
                    "[{}, {}, …, {}] ({} values)",
                    b[0],
                    b[1],
                    b[b.len() - 1],
                    b.len()
                )
            },
            expected,
        };
        if b.len() < 2 {
            return Err(bad("at least two values, from 0 to 1"));
        }
        if b[0] != 0.0 || b[b.len() - 1] != 1.0 {
            return Err(bad("first value 0 and last value 1"));
        }
        if b.iter().any(|x| !x.is_finite()) || b.windows(2).any(|w| w[0] > w[1]) {
            return Err(bad("non-decreasing finite values"));
        }
        if self.n_runs < 2 {
            return Err(ModelError::InvalidConfig {
                what: "AIS n_runs",
                value: self.n_runs.to_string(),
                expected: "at least 2 (the error bars need a spread)",
            });
        }
        if self.runs_per_block == 0 {
            return Err(ModelError::InvalidConfig {
                what: "AIS runs_per_block",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        Ok(())
    }
}

/// The result of [`ais_log_z`].
#[derive(Debug, Clone, PartialEq)]
pub struct AisEstimate {
    /// `ln Ẑ = ln Z_0 + ln mean_m w_m`.
    pub log_z: f64,
    /// `ln Z_0 + ln(r̂ - 3ŝ/√M)`: the lower end of the ±3σ interval, `-∞`
    /// when `r̂ ≤ 3ŝ/√M`.
    pub log_z_minus_3sd: f64,
    /// `ln Z_0 + ln(r̂ + 3ŝ/√M)`: the upper end of the ±3σ interval.
    pub log_z_plus_3sd: f64,
    /// `ln Z_0` of the base model (with the `H ln 2` of its free hiddens).
    pub log_z_base: f64,
    /// `ln w_m` of every run, in run order.
    pub log_weights: Vec<f64>,
    /// `(Σ w)² / Σ w²`: how many of the runs effectively count (`M` when
    /// all weights are equal, near 1 when one dominates).
    pub effective_sample_size: f64,
}

/// The base-rate visible biases `b_A` of AIS from the data (`B x V`):
/// for Bernoulli visibles the logits `ln(p_i/(1-p_i))` of the pixel means,
/// clipped to `[BASE_RATE_CLIP, 1 - BASE_RATE_CLIP]`; for Gaussian visibles
/// the means themselves.
///
/// Errors if the parameters are invalid or `data` is not at least one whole
/// row of `V` values.
pub fn base_rate_visible_bias(params: &RbmParams<'_>, data: &[f32]) -> Result<Vec<f32>> {
    params.validate()?;
    let rows = params.rows_of("base_rate_visible_bias", data)?;
    if rows == 0 {
        return Err(ModelError::Shape {
            what: "base_rate_visible_bias: data rows (at least one)".into(),
            expected: 1,
            found: 0,
        });
    }
    let v = params.n_visible();
    let mut sums = vec![0.0f64; v];
    for row in data.chunks_exact(v) {
        for (s, &x) in sums.iter_mut().zip(row) {
            *s += x as f64;
        }
    }
    let means = sums.iter().map(|s| s / rows as f64);
    Ok(match params.visible {
        VisibleUnits::Bernoulli => {
            let lo = BASE_RATE_CLIP as f64;
            means
                .map(|p| {
                    let p = p.clamp(lo, 1.0 - lo);
                    (p / (1.0 - p)).ln() as f32
                })
                .collect()
        }
        VisibleUnits::Gaussian { .. } => means.map(|m| m as f32).collect(),
    })
}

/// Estimates `ln Z` of the RBM `params` by annealed importance sampling from
/// the base-rate model with visible biases `base_visible_bias` (see
/// [`base_rate_visible_bias`]).
///
/// Errors if the parameters are invalid, the hiddens are linear,
/// `base_visible_bias.len() != V` or holds a non-finite value, or the
/// configuration is invalid (see [`AisConfig`]). The estimate is the same
/// for any `par`.
pub fn ais_log_z(
    params: &RbmParams<'_>,
    base_visible_bias: &[f32],
    config: &AisConfig,
    par: Par,
) -> Result<AisEstimate> {
    params.validate()?;
    if params.hidden == HiddenUnits::Linear {
        return Err(ModelError::Unsupported {
            what: "AIS for an RBM with linear hiddens",
            why: "its base model (β = 0) would give the Gaussian hiddens infinite variance; use the exact ln Z (at most 25 visible units)".into(),
        });
    }
    config.validate()?;
    let (v, h) = (params.n_visible(), params.n_hidden());
    let log_z_a = base_log_z(
        params.visible,
        base_visible_bias,
        v,
        "AIS base-rate visible bias",
    )?;
    let log_z_base = log_z_a + h as f64 * std::f64::consts::LN_2;

    let log_weights = run_blocks(config, par, |first, runs| {
        run_block(params, base_visible_bias, config, first, runs)
    })?;
    Ok(summarise(log_z_base, log_weights))
}

/// `ln Z_A` of the base-rate model `A` (visible biases `bias`, no hidden
/// units), after checking that `bias` has `n_visible` finite values; `what`
/// names one bias in the errors.
pub(crate) fn base_log_z(
    visible: VisibleUnits<'_>,
    bias: &[f32],
    n_visible: usize,
    what: &'static str,
) -> Result<f64> {
    if bias.len() != n_visible {
        return Err(ModelError::Shape {
            what: format!("{what}es (one per visible unit)"),
            expected: n_visible,
            found: bias.len(),
        });
    }
    if let Some(b) = bias.iter().find(|b| !b.is_finite()) {
        return Err(ModelError::InvalidConfig {
            what,
            value: b.to_string(),
            expected: "finite values",
        });
    }
    Ok(match visible {
        VisibleUnits::Bernoulli => bias.iter().map(|&b| softplus_f64(b as f64)).sum(),
        VisibleUnits::Gaussian { sigma } => sigma
            .iter()
            .map(|&s| 0.5 * (2.0 * std::f64::consts::PI).ln() + (s as f64).ln())
            .sum(),
    })
}

/// The log-weights of `config.n_runs` runs, `block(first, runs)` giving
/// those of runs `first .. first + runs`, in blocks of
/// `config.runs_per_block` spread over `par` (the same for any `par`).
pub(crate) fn run_blocks(
    config: &AisConfig,
    par: Par,
    block: impl Fn(usize, usize) -> Result<Vec<f64>> + Sync,
) -> Result<Vec<f64>> {
    let n_blocks = config.n_runs.div_ceil(config.runs_per_block);
    let mut blocks: Vec<Result<Vec<f64>>> = (0..n_blocks).map(|_| Ok(Vec::new())).collect();
    fill_rows_min(&mut blocks, par, 1, |blk| {
        let first = blk * config.runs_per_block;
        block(first, config.runs_per_block.min(config.n_runs - first))
    });
    let mut log_weights = Vec::with_capacity(config.n_runs);
    for b in blocks {
        log_weights.extend(b?);
    }
    Ok(log_weights)
}

/// `ln Ẑ` and its ±3σ interval from the log-weights.
pub(crate) fn summarise(log_z_base: f64, log_weights: Vec<f64>) -> AisEstimate {
    let m = log_weights.len() as f64;
    let lmax = log_weights
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let (mean, sd, ess) = if lmax.is_finite() {
        let w: Vec<f64> = log_weights.iter().map(|&l| (l - lmax).exp()).collect();
        let mean = w.iter().sum::<f64>() / m;
        let var = w.iter().map(|&x| (x - mean) * (x - mean)).sum::<f64>() / (m - 1.0);
        let ess = w.iter().sum::<f64>().powi(2) / w.iter().map(|x| x * x).sum::<f64>();
        (mean, var.sqrt(), ess)
    } else {
        (f64::NAN, f64::NAN, f64::NAN)
    };
    let se3 = 3.0 * sd / m.sqrt();
    let shift = log_z_base + lmax;
    AisEstimate {
        log_z: shift + mean.ln(),
        log_z_minus_3sd: if mean > se3 {
            shift + (mean - se3).ln()
        } else {
            f64::NEG_INFINITY
        },
        log_z_plus_3sd: shift + (mean + se3).ln(),
        log_z_base,
        log_weights,
        effective_sample_size: ess,
    }
}

/// Runs `runs` AIS chains (runs `first .. first + runs`) through the whole
/// schedule and returns their log-weights.
fn run_block(
    params: &RbmParams<'_>,
    base: &[f32],
    config: &AisConfig,
    first: usize,
    runs: usize,
) -> Result<Vec<f64>> {
    let (nv, nh) = (params.n_visible(), params.n_hidden());
    let b = params.visible_bias;
    let sigma = match params.visible {
        VisibleUnits::Bernoulli => None,
        VisibleUnits::Gaussian { sigma } => Some(sigma),
    };
    // Wᵀ (H x V, row-major), so the downward product reads a row-major B
    // (a transposed B costs a packing pass on every call).
    let mut w_t = vec![0.0f32; nv * nh];
    for i in 0..nv {
        for j in 0..nh {
            w_t[j * nv + i] = params.w[i * nh + j];
        }
    }
    let mut rngs: Vec<Rng> = (first..first + runs)
        .map(|m| Rng::substream(config.seed, AIS_STREAM, m as u64))
        .collect();

    // v: the chains' visible states; x: what the weights see (v, or v/σ).
    let mut v = vec![0.0f32; runs * nv];
    let mut x = vec![0.0f32; runs * nv];
    let mut a = vec![0.0f32; runs * nh];
    let mut hs = vec![0.0f32; runs * nh];
    let mut down = vec![0.0f32; runs * nv];
    let mut log_w = vec![0.0f64; runs];
    // β_k a and β_{k-1} a of one chain, in f64.
    let mut at_beta = vec![0.0f64; nh];
    let mut at_prev = vec![0.0f64; nh];

    // v₁ ~ p_0: the base model's independent visibles.
    for (vr, rng) in v.chunks_exact_mut(nv).zip(&mut rngs) {
        for (i, vi) in vr.iter_mut().enumerate() {
            *vi = match sigma {
                None => (rng.uniform_f32() < sigmoid_f32(base[i])) as u8 as f32,
                Some(s) => base[i] + s[i] * rng.normal() as f32,
            };
        }
    }
    // q_B(v) - q_A(v) for one chain, in f64.
    let q_diff = |vr: &[f32]| -> f64 {
        match sigma {
            None => vr
                .iter()
                .zip(b.iter().zip(base))
                .map(|(&vi, (&bi, &ai))| vi as f64 * (bi as f64 - ai as f64))
                .sum(),
            Some(s) => vr
                .iter()
                .zip(b.iter().zip(base))
                .zip(s)
                .map(|((&vi, (&bi, &ai)), &si)| {
                    let (vi, si) = (vi as f64, si as f64);
                    let db = (vi - bi as f64) / si;
                    let da = (vi - ai as f64) / si;
                    -0.5 * (db * db - da * da)
                })
                .sum(),
        }
    };

    let betas = &config.betas;
    let k_last = betas.len() - 1;
    for k in 1..=k_last {
        let (beta, beta_prev) = (betas[k], betas[k - 1]);
        // a = x W + 1 cᵀ for all chains of the block.
        match sigma {
            None => x.copy_from_slice(&v),
            Some(s) => {
                for (xr, vr) in x.chunks_exact_mut(nv).zip(v.chunks_exact(nv)) {
                    for ((xi, vi), si) in xr.iter_mut().zip(vr).zip(s) {
                        *xi = vi / si;
                    }
                }
            }
        }
        gemm(
            1.0,
            MatRef::row_major(&x, runs, nv)?,
            MatRef::row_major(params.w, nv, nh)?,
            Accum::Replace,
            MatMut::row_major(&mut a, runs, nh)?,
            &BiasAdd::new(params.hidden_bias),
            Par::Seq,
        )?;
        // ln w += ln p*_k(v_k) - ln p*_{k-1}(v_k).
        let dbeta = beta - beta_prev;
        for ((lw, vr), ar) in log_w
            .iter_mut()
            .zip(v.chunks_exact(nv))
            .zip(a.chunks_exact(nh))
        {
            for ((xb, xp), &aj) in at_beta.iter_mut().zip(&mut at_prev).zip(ar) {
                *xb = beta * aj as f64;
                *xp = beta_prev * aj as f64;
            }
            let hidden = sum_softplus_f64(&at_beta) - sum_softplus_f64(&at_prev);
            *lw += dbeta * q_diff(vr) + hidden;
        }
        if k == k_last {
            break;
        }
        // One Gibbs sweep that leaves p_k invariant: h ~ p_k(h|v), v ~ p_k(v|h).
        let beta_f = beta as f32;
        for ((hr, ar), rng) in hs
            .chunks_exact_mut(nh)
            .zip(a.chunks_exact(nh))
            .zip(&mut rngs)
        {
            for (hj, &aj) in hr.iter_mut().zip(ar) {
                *hj = (rng.uniform_f32() < sigmoid_f32(beta_f * aj)) as u8 as f32;
            }
        }
        gemm(
            1.0,
            MatRef::row_major(&hs, runs, nh)?,
            MatRef::row_major(&w_t, nh, nv)?,
            Accum::Replace,
            MatMut::row_major(&mut down, runs, nv)?,
            &NoEpilogue,
            Par::Seq,
        )?;
        let one_minus = 1.0 - beta_f;
        for ((vr, dr), rng) in v
            .chunks_exact_mut(nv)
            .zip(down.chunks_exact(nv))
            .zip(&mut rngs)
        {
            for (i, (vi, &d)) in vr.iter_mut().zip(dr).enumerate() {
                *vi = match sigma {
                    None => {
                        let p = sigmoid_f32(one_minus * base[i] + beta_f * (b[i] + d));
                        (rng.uniform_f32() < p) as u8 as f32
                    }
                    Some(s) => {
                        let mean = one_minus * base[i] + beta_f * (b[i] + s[i] * d);
                        mean + s[i] * rng.normal() as f32
                    }
                };
            }
        }
    }
    Ok(log_w)
}
