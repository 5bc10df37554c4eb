//! The DBN bound's expectation by Monte Carlo: `S` draws of `h¹, …,
//! h^{L-1}` from `Q(· | v)` per row, each scored with
//! `ln p*(h^{L-1}) + Σ_{l<L} ln p(h^{l-1} | h^l) - Σ_{l<L} ln Q(h^l | h^{l-1})`.
//!
//! Rows are processed in fixed blocks (all `S` samples of a few rows
//! together); a block's products are SGEMMs over its samples: `x⁰ W¹ + c¹`
//! once per row, and per layer `h^l W^lᵀ + b^l` (the generative term) and
//! `h^l W^{l+1} + c^{l+1}` (the next recognition step, or the top RBM's free
//! energy). The log-probabilities are summed in `f64`. Row `r` draws from
//! its own stream `(seed, r)`, layer by layer, sample by sample, so the
//! result is bit-identical for any thread count.

use latent_engine::Rng;
use latent_kernels::{Accum, BiasAdd, MatMut, MatRef, NoEpilogue, Par, gemm};

use super::DbnParams;
use crate::error::{ModelError, Result};
use crate::eval::free_energy::free_energy_row_f64;
use crate::eval::{
    RbmParams, VisibleUnits, check_out, fill_rows, fill_rows_min, sigmoid_f32, sum_softplus_f64,
};

/// The stream id of the bound's samples (mixed with the seed and the row).
const DBN_BOUND_STREAM: u64 = 0x4442_4e42_0000_0000;

/// Settings of [`dbn_variational_bound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbnBoundConfig {
    /// `S`, the samples from `Q` per row (at least 2, for the standard
    /// error).
    pub samples: usize,
    /// The seed; row `r` draws from the stream `(seed, r)`.
    pub seed: u64,
    /// Samples processed together by one block (one SGEMM covers them):
    /// `max(1, samples_per_block / S)` rows a block. The blocks are the
    /// unit of parallel work; the estimate is reproducible for a given seed
    /// and block size whatever the thread count.
    pub samples_per_block: usize,
}

impl Default for DbnBoundConfig {
    /// 10 samples per row, seed 0, blocks of 120 samples (a multiple of
    /// every microkernel's row count).
    fn default() -> Self {
        DbnBoundConfig {
            samples: 10,
            seed: 0,
            samples_per_block: 120,
        }
    }
}

impl DbnBoundConfig {
    /// Checks the sample count and the block size.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.samples < 2 {
            return Err(ModelError::InvalidConfig {
                what: "DBN bound samples per row",
                value: self.samples.to_string(),
                expected: "at least 2 (the standard error needs a spread)",
            });
        }
        if self.samples_per_block == 0 {
            return Err(ModelError::InvalidConfig {
                what: "DBN bound samples_per_block",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        Ok(())
    }

    fn rows_per_block(&self) -> usize {
        (self.samples_per_block / self.samples).max(1)
    }
}

/// The Monte Carlo estimate of `E_Q[ln p*(h^{L-1}) + Σ_{l<L} ln p(h^{l-1} |
/// h^l) - Σ_{l<L} ln Q(h^l | h^{l-1})]`, the lower bound on `ln p(v) + ln
/// Z_L` (`Z_L` the top RBM's partition function), of every row of `data`
/// (`B x n_0`): the mean of the `S` samples into `mean` and its standard
/// error (sample standard deviation over `√S`) into `std_error`.
///
/// With one RBM (`L = 1`) nothing is sampled: `mean` is `-F(v)` and
/// `std_error` 0. Subtract `ln Z_L` (exact, or an AIS estimate) for the
/// bound on `ln p(v)`. (With an AIS `ln Ẑ`, which is low as often as high
/// but biased low in expectation, the bound is an estimate, not a
/// guarantee.)
///
/// Errors if the parameters are invalid, `data` is not whole rows, either
/// output does not have `B` values, or the configuration is invalid. The
/// result is the same for any `par`.
pub fn dbn_variational_bound(
    params: &DbnParams<'_>,
    data: &[f32],
    config: &DbnBoundConfig,
    mean: &mut [f64],
    std_error: &mut [f64],
    par: Par,
) -> Result<()> {
    params.validate()?;
    config.validate()?;
    let rows = params.rows_of("dbn_variational_bound", data)?;
    check_out("dbn_variational_bound (mean)", rows, mean.len())?;
    check_out("dbn_variational_bound (std_error)", rows, std_error.len())?;
    let n0 = params.n_visible();
    if params.layers.len() == 1 {
        let rbm = &params.layers[0];
        fill_rows(mean, par, |r| {
            -free_energy_row_f64(rbm, &data[r * n0..(r + 1) * n0])
        });
        std_error.fill(0.0);
        return Ok(());
    }
    // W^lᵀ (n_l x n_{l-1}, row-major) of the directed layers, so the
    // downward products read a row-major B.
    let below_top = &params.layers[..params.layers.len() - 1];
    let transposed: Vec<Vec<f32>> = below_top.iter().map(transpose).collect();
    let per_block = config.rows_per_block();
    let mut blocks: Vec<Result<Vec<(f64, f64)>>> = (0..rows.div_ceil(per_block))
        .map(|_| Ok(Vec::new()))
        .collect();
    fill_rows_min(&mut blocks, par, 1, |blk| {
        let first = blk * per_block;
        let block = Block {
            params,
            transposed: &transposed,
            config,
            first,
            rows: per_block.min(rows - first),
        };
        block.run(&data[first * n0..(first + block.rows) * n0])
    });
    let mut r = 0;
    for block in blocks {
        for (mu, se) in block? {
            (mean[r], std_error[r]) = (mu, se);
            r += 1;
        }
    }
    Ok(())
}

/// `W` of an RBM transposed: `H x V`, row-major.
fn transpose(p: &RbmParams<'_>) -> Vec<f32> {
    let (v, h) = (p.n_visible(), p.n_hidden());
    let mut t = vec![0.0f32; v * h];
    for i in 0..v {
        for j in 0..h {
            t[j * v + i] = p.w[i * h + j];
        }
    }
    t
}

/// `out = a b (+ 1 biasᵀ)` for row-major `a` (`m x k`) and `b` (`k x n`),
/// on the calling thread; `out` is resized to `m x n`.
fn product(
    a: &[f32],
    (m, k, n): (usize, usize, usize),
    b: &[f32],
    bias: Option<&[f32]>,
    out: &mut Vec<f32>,
) -> Result<()> {
    out.resize(m * n, 0.0);
    let (a, b) = (MatRef::row_major(a, m, k)?, MatRef::row_major(b, k, n)?);
    let c = MatMut::row_major(out, m, n)?;
    match bias {
        Some(bias) => gemm(1.0, a, b, Accum::Replace, c, &BiasAdd::new(bias), Par::Seq)?,
        None => gemm(1.0, a, b, Accum::Replace, c, &NoEpilogue, Par::Seq)?,
    }
    Ok(())
}

/// `Σ_i [t_i a_i - softplus(a_i)]`: `ln` of the Bernoulli probability of
/// the binary `t` under the logits `a`, in `f64` (`wide` a scratch of
/// `a.len()` values).
fn bernoulli_log_prob(t: &[f32], a: &[f32], wide: &mut [f64]) -> f64 {
    let mut dot = 0.0f64;
    for ((w, &ai), &ti) in wide.iter_mut().zip(a).zip(t) {
        *w = ai as f64;
        dot += ti as f64 * *w;
    }
    dot - sum_softplus_f64(wide)
}

/// One block of rows: `first .. first + rows`, with all their samples.
struct Block<'p, 'a> {
    params: &'p DbnParams<'a>,
    transposed: &'p [Vec<f32>],
    config: &'p DbnBoundConfig,
    first: usize,
    rows: usize,
}

/// The sampled layers and products of a block, reused layer to layer.
struct Buffers {
    /// `h^{l-1}` of every sample (`samples x n_{l-1}`).
    below: Vec<f32>,
    /// `h^l` of every sample.
    here: Vec<f32>,
    /// Upward products (`x W + 1 cᵀ`).
    up: Vec<f32>,
    /// Downward products (`h Wᵀ (+ 1 bᵀ)`).
    down: Vec<f32>,
    /// An `f64` copy of one row of a product.
    wide: Vec<f64>,
}

impl Block<'_, '_> {
    /// `(mean, standard error)` of every row of the block (`v`, its rows);
    /// at least two RBMs.
    fn run(&self, v: &[f32]) -> Result<Vec<(f64, f64)>> {
        let (p, s) = (self.params, self.config.samples);
        let sizes = p.sizes();
        let top = sizes.len() - 1;
        let n = self.rows * s;
        let mut rngs: Vec<Rng> = (self.first..self.first + self.rows)
            .map(|r| Rng::substream(self.config.seed, DBN_BOUND_STREAM, r as u64))
            .collect();
        // Each sample's log-weight.
        let mut total = vec![0.0f64; n];
        let mut b = Buffers {
            below: Vec::new(),
            here: Vec::new(),
            up: Vec::new(),
            down: Vec::new(),
            wide: vec![0.0f64; sizes.iter().copied().max().unwrap_or(0)],
        };
        // Q(h¹ | v): x⁰ W¹ + c¹ once per row, then S draws of each row.
        let bottom = &p.layers[0];
        let x0 = visible_inputs(bottom, v);
        let dims = (self.rows, sizes[0], sizes[1]);
        product(&x0, dims, bottom.w, Some(bottom.hidden_bias), &mut b.up)?;
        recognise(&b.up, s, s, &mut rngs, &mut b.here, &mut total, &mut b.wide);
        self.add_visible_term(v, &mut b, &mut total)?;
        for l in 2..=top {
            // b.here holds h^{l-1}.
            let layer = &p.layers[l - 1];
            let (k, m) = (sizes[l - 1], sizes[l]);
            product(
                &b.here,
                (n, k, m),
                layer.w,
                Some(layer.hidden_bias),
                &mut b.up,
            )?;
            if l == top {
                add_top_term(layer, &b.here, &b.up, &mut total, &mut b.wide);
                break;
            }
            // h^l ~ Q(h^l | h^{l-1}), then ln p(h^{l-1} | h^l).
            std::mem::swap(&mut b.below, &mut b.here);
            recognise(&b.up, 1, s, &mut rngs, &mut b.here, &mut total, &mut b.wide);
            let wt = &self.transposed[l - 1];
            product(
                &b.here,
                (n, m, k),
                wt,
                Some(layer.visible_bias),
                &mut b.down,
            )?;
            let targets = b.below.chunks_exact(k);
            for ((t, hb), a) in total.iter_mut().zip(targets).zip(b.down.chunks_exact(k)) {
                *t += bernoulli_log_prob(hb, a, &mut b.wide[..k]);
            }
        }
        Ok(total.chunks_exact(s).map(mean_and_error).collect())
    }

    /// Adds `ln p(v | h¹)` of every sample to `total` (`b.here` holds h¹).
    fn add_visible_term(&self, v: &[f32], b: &mut Buffers, total: &mut [f64]) -> Result<()> {
        let (bottom, s) = (&self.params.layers[0], self.config.samples);
        let (nv, nh) = (bottom.n_visible(), bottom.n_hidden());
        let n = total.len();
        let wt = &self.transposed[0];
        match bottom.visible {
            VisibleUnits::Bernoulli => {
                let bias = Some(bottom.visible_bias);
                product(&b.here, (n, nh, nv), wt, bias, &mut b.down)?;
                for (q, (t, a)) in total.iter_mut().zip(b.down.chunks_exact(nv)).enumerate() {
                    let row = &v[q / s * nv..(q / s + 1) * nv];
                    *t += bernoulli_log_prob(row, a, &mut b.wide[..nv]);
                }
            }
            VisibleUnits::Gaussian { sigma } => {
                // ln N(v; b + σ (W h), σ²), with σ-dependent constant.
                product(&b.here, (n, nh, nv), wt, None, &mut b.down)?;
                let half_ln_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
                let constant: f64 = sigma.iter().map(|&s| half_ln_2pi + (s as f64).ln()).sum();
                for (q, (t, d)) in total.iter_mut().zip(b.down.chunks_exact(nv)).enumerate() {
                    let row = &v[q / s * nv..(q / s + 1) * nv];
                    let mut sq = 0.0f64;
                    for (((&x, &d), &bi), &si) in
                        row.iter().zip(d).zip(bottom.visible_bias).zip(sigma)
                    {
                        let si = si as f64;
                        let z = (x as f64 - (bi as f64 + si * d as f64)) / si;
                        sq += z * z;
                    }
                    *t += -0.5 * sq - constant;
                }
            }
        }
        Ok(())
    }
}

/// `x⁰` of a batch: the rows themselves, or `v_i/σ_i`.
fn visible_inputs<'d>(bottom: &RbmParams<'_>, v: &'d [f32]) -> std::borrow::Cow<'d, [f32]> {
    match bottom.visible {
        VisibleUnits::Bernoulli => std::borrow::Cow::Borrowed(v),
        VisibleUnits::Gaussian { sigma } => std::borrow::Cow::Owned(
            v.chunks_exact(sigma.len())
                .flat_map(|row| row.iter().zip(sigma).map(|(x, s)| x / s))
                .collect(),
        ),
    }
}

/// Draws `h ~ Q` for every sample `q` into `h` (resized to `samples x
/// width`) and subtracts `ln Q(h)` from `total[q]`: the logits of sample `q`
/// are row `q / repeat` of `logits` (`repeat = S` for per-row logits, 1 for
/// per-sample ones), and it draws from the stream of its row, `q / S`.
fn recognise(
    logits: &[f32],
    repeat: usize,
    s: usize,
    rngs: &mut [Rng],
    h: &mut Vec<f32>,
    total: &mut [f64],
    wide: &mut [f64],
) {
    let width = logits.len() * repeat / total.len();
    h.resize(total.len() * width, 0.0);
    for (q, (t, hq)) in total.iter_mut().zip(h.chunks_exact_mut(width)).enumerate() {
        let u = &logits[q / repeat * width..(q / repeat + 1) * width];
        let rng = &mut rngs[q / s];
        for (hj, &uj) in hq.iter_mut().zip(u) {
            *hj = (rng.uniform_f32() < sigmoid_f32(uj)) as u8 as f32;
        }
        *t -= bernoulli_log_prob(hq, u, &mut wide[..width]);
    }
}

/// Adds `ln p*(h^{L-1}) = b^Lᵀh^{L-1} + Σ_j softplus(c^L_j + (h^{L-1}ᵀW^L)_j)`
/// of every sample to `total`; `up` holds the top RBM's hidden inputs.
fn add_top_term(top: &RbmParams<'_>, h: &[f32], up: &[f32], total: &mut [f64], wide: &mut [f64]) {
    let (k, m) = (top.n_visible(), top.n_hidden());
    for ((t, hq), u) in total
        .iter_mut()
        .zip(h.chunks_exact(k))
        .zip(up.chunks_exact(m))
    {
        let linear: f64 = hq
            .iter()
            .zip(top.visible_bias)
            .map(|(&h, &b)| h as f64 * b as f64)
            .sum();
        for (w, &u) in wide.iter_mut().zip(u) {
            *w = u as f64;
        }
        *t += linear + sum_softplus_f64(&wide[..m]);
    }
}

/// The mean of one row's samples and its standard error `sd / √S`.
fn mean_and_error(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|&v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}
