//! The variational autoencoder (MODELS.md 4.5).
//!
//! The encoder's hidden layers `h_l = act_l(h_{l-1} W_l + 1 c_lᵀ)` end in two
//! linear heads, `μ = h_k W_μ + 1 b_μᵀ` and `ln σ² = h_k W_lv + 1 b_lvᵀ`; the
//! latent is reparameterised, `z = μ + σ ⊙ ε` with `ε ~ N(0, I)` drawn from
//! the step's [`Streams`] (one fused kernel); the decoder mirrors the hidden
//! layers (untied weights, `n_{l-1} x n_l` like every weight here, used as
//! `g Wᵀ`) and ends in Bernoulli logits or a unit-variance Gaussian mean.
//!
//! The loss is the negative ELBO per sample, `L_recon + KL(N(μ, σ²) ‖ N(0, I))`
//! with `L_recon = -ln p(x|z)`: the cross-entropy from logits (Bernoulli) or
//! `½ ‖x - x̂‖² + (V/2) ln 2π` (Gaussian, the constant included so the ELBO
//! is a true bound on `ln p(x)`). The gradient through the sample uses
//! `∂z/∂μ = 1` and `∂z/∂ln σ² = ½ σ ε = ½ (z - μ)`.
//!
//! [`Vae::log_likelihood_iw`] gives the importance-weighted estimate
//! `ln p(x) ≈ ln (1/K) Σ_k p(x, z_k) / q(z_k|x)` for evaluation, and
//! [`Vae::sample`] decodes `z ~ N(0, I)`.

use latent_engine::train::{Model, StepContext, StepOutput};
use latent_engine::{Batch, Matrix, Metrics, ParamSet, Role};
use latent_kernels::Par;
use latent_kernels::activation::{Activation, activate, activation_grad};
use latent_kernels::gemm::{Accum, BiasAdd, MatMut, MatRef, gemm, sgemm};
use latent_kernels::random::{Scale, Streams, gaussian, gaussian_reparam};
use latent_kernels::reduce::{bce_logits, col_sums, kl_normal, sq_err};

use super::util::{
    Stored, bad, check_len, copy_rows, dense_backward, dense_forward, encoder_backward,
    init_weights, into_engine, two_mut,
};
use crate::error::Result;

/// `ln 2π`.
const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// The decoder's output distribution `p(x|z)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VaeOutput {
    /// Independent Bernoulli pixels with logits `a`: `-ln p = Σ softplus(a) - x a`.
    #[default]
    Bernoulli,
    /// Unit-variance Gaussian with mean `x̂`: `-ln p = ½‖x - x̂‖² + (V/2) ln 2π`.
    Gaussian,
}

/// The architecture of a [`Vae`].
#[derive(Debug, Clone, PartialEq)]
pub struct VaeConfig {
    /// `[V, H_1, …, H_k]`: the input and the encoder's hidden layers
    /// (`k ≥ 0`); the decoder mirrors them.
    pub sizes: Vec<usize>,
    /// Activations of the hidden layers (`k`), reused by the mirrored
    /// decoder layers.
    pub activations: Vec<Activation>,
    /// The latent dimension `Z`.
    pub latent: usize,
    /// The decoder's output distribution.
    pub output: VaeOutput,
    /// Standard deviation of the initial weights; `None` for Glorot.
    pub init_std: Option<f32>,
}

impl VaeConfig {
    /// A VAE with hidden layers `hidden` (all with `activation`), latent size
    /// `latent` and Bernoulli output, for `n_visible` inputs.
    pub fn new(n_visible: usize, hidden: &[usize], latent: usize, activation: Activation) -> Self {
        let mut sizes = vec![n_visible];
        sizes.extend_from_slice(hidden);
        VaeConfig {
            sizes,
            activations: vec![activation; hidden.len()],
            latent,
            output: VaeOutput::Bernoulli,
            init_std: None,
        }
    }

    /// The same with another output distribution.
    pub fn with_output(mut self, output: VaeOutput) -> Self {
        self.output = output;
        self
    }

    /// The same with per-layer activations (one per hidden layer).
    pub fn with_activations(mut self, activations: &[Activation]) -> Self {
        self.activations = activations.to_vec();
        self
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        if self.sizes.is_empty() || self.sizes.contains(&0) {
            return bad(
                "VaeConfig::sizes",
                format!("{:?}", self.sizes),
                "[V, hidden...] all >= 1",
            );
        }
        if self.latent == 0 {
            return bad("VaeConfig::latent", "0".into(), "at least 1");
        }
        check_len(
            "VaeConfig: activations (one per hidden layer)",
            self.activations.len(),
            self.sizes.len() - 1,
        )?;
        if let Some(s) = self.init_std
            && !(s.is_finite() && s >= 0.0)
        {
            return bad("init_std", s.to_string(), "finite, >= 0");
        }
        Ok(())
    }

    /// The number of hidden layers `k`.
    pub fn hidden_layers(&self) -> usize {
        self.sizes.len() - 1
    }

    /// The sizes of the levels `[V, H_1, …, H_k, Z]`.
    fn levels(&self) -> Vec<usize> {
        let mut s = self.sizes.clone();
        s.push(self.latent);
        s
    }
}

/// What one step measured (means over the minibatch).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct VaeStep {
    /// The negative ELBO (the loss).
    pub loss: f64,
    /// `-ln p(x|z)` at the sampled `z`.
    pub reconstruction: f64,
    /// `KL(q(z|x) ‖ p(z))`.
    pub kl: f64,
}

impl VaeStep {
    /// The ELBO, `-loss`.
    pub fn elbo(&self) -> f64 {
        -self.loss
    }
}

#[derive(Debug, Default)]
struct Workspace {
    rows: usize,
    /// Levels `0..=k` of the encoder (`h[0]` the input).
    h: Vec<Vec<f32>>,
    /// Deltas at the encoder levels.
    dh: Vec<Vec<f32>>,
    mu: Vec<f32>,
    lv: Vec<f32>,
    z: Vec<f32>,
    eps: Vec<f32>,
    dmu: Vec<f32>,
    dlv: Vec<f32>,
    dz: Vec<f32>,
    /// Decoder outputs per level `0..=k` (`g[0]` the output pre-activation).
    g: Vec<Vec<f32>>,
    dg: Vec<Vec<f32>>,
    row_a: Vec<f32>,
    row_b: Vec<f32>,
}

impl Workspace {
    fn ensure(&mut self, rows: usize, levels: &[usize]) {
        if rows <= self.rows && !self.h.is_empty() {
            return;
        }
        self.rows = rows;
        let k = levels.len() - 2;
        let z = levels[k + 1];
        self.h = levels[..=k].iter().map(|&n| vec![0.0; rows * n]).collect();
        self.dh = levels[..=k].iter().map(|&n| vec![0.0; rows * n]).collect();
        self.g = levels[..=k].iter().map(|&n| vec![0.0; rows * n]).collect();
        self.dg = levels[..=k].iter().map(|&n| vec![0.0; rows * n]).collect();
        for b in [
            &mut self.mu,
            &mut self.lv,
            &mut self.z,
            &mut self.eps,
            &mut self.dmu,
            &mut self.dlv,
            &mut self.dz,
        ] {
            *b = vec![0.0; rows * z];
        }
        self.row_a = vec![0.0; rows];
        self.row_b = vec![0.0; rows];
    }
}

/// A variational autoencoder with its training state.
///
/// Parameters, in order: `W1, c1, …, Wk, ck`, `Wmu, bmu, Wlv, blv`, then the
/// decoder `Wd_{k+1}, b_{k+1}, …, Wd1, b1` (`Wd_l` is `n_{l-1} x n_l` with
/// level `k+1` the latent).
#[derive(Debug)]
pub struct Vae {
    config: VaeConfig,
    levels: Vec<usize>,
    params: ParamSet,
    enc_w: Vec<usize>,
    enc_c: Vec<usize>,
    heads: [usize; 4],
    dec_w: Vec<usize>,
    dec_b: Vec<usize>,
    ws: Workspace,
}

impl Vae {
    /// A new VAE with seeded random weights and zero biases.
    pub fn new(config: VaeConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let levels = config.levels();
        let k = config.hidden_layers();
        let mut rng = latent_engine::Rng::stream(seed, 0x5641_4500); // "VAE"
        let mut params = ParamSet::new();
        let (mut enc_w, mut enc_c) = (vec![], vec![]);
        for i in 0..k {
            let w = init_weights(&mut rng, levels[i], levels[i + 1], config.init_std)?;
            enc_w.push(params.push(format!("W{}", i + 1), Role::Weight, w)?);
            enc_c.push(params.push(
                format!("c{}", i + 1),
                Role::Bias,
                Matrix::zeros(1, levels[i + 1])?,
            )?);
        }
        let (hk, z) = (levels[k], levels[k + 1]);
        let wmu = init_weights(&mut rng, hk, z, config.init_std)?;
        let wlv = init_weights(&mut rng, hk, z, config.init_std)?;
        let heads = [
            params.push("Wmu", Role::Weight, wmu)?,
            params.push("bmu", Role::Bias, Matrix::zeros(1, z)?)?,
            params.push("Wlv", Role::Weight, wlv)?,
            params.push("blv", Role::Bias, Matrix::zeros(1, z)?)?,
        ];
        let (mut dec_w, mut dec_b) = (vec![0; k + 1], vec![0; k + 1]);
        for i in (0..=k).rev() {
            let w = init_weights(&mut rng, levels[i], levels[i + 1], config.init_std)?;
            dec_w[i] = params.push(format!("Wd{}", i + 1), Role::Weight, w)?;
            dec_b[i] = params.push(
                format!("b{}", i + 1),
                Role::Bias,
                Matrix::zeros(1, levels[i])?,
            )?;
        }
        Ok(Vae {
            config,
            levels,
            params,
            enc_w,
            enc_c,
            heads,
            dec_w,
            dec_b,
            ws: Workspace::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &VaeConfig {
        &self.config
    }

    /// The latent dimension `Z`.
    pub fn latent(&self) -> usize {
        self.config.latent
    }

    /// The `ε ~ N(0, I)` (`rows x Z`, row-major) that a step with `seed`
    /// uses, for tests that hold the noise fixed.
    pub fn draw_eps(&self, seed: u64, rows: usize, out: &mut [f32]) -> Result<()> {
        let z = self.config.latent;
        check_len("Vae::draw_eps: out (rows x Z)", out.len(), rows * z)?;
        let zeros = vec![0.0f32; rows * z];
        let mut tmp = vec![0.0f32; rows * z];
        gaussian_reparam(
            Streams::new(seed),
            &zeros,
            &zeros,
            &mut tmp,
            out,
            rows,
            z,
            Par::Seq,
        )?;
        Ok(())
    }

    fn check_input(&self, what: &str, x: &MatRef<'_>) -> Result<()> {
        if x.cols() == self.levels[0] {
            return Ok(());
        }
        // Formatted only on error: a training step must not allocate.
        check_len(
            &format!("{what}: columns of the data"),
            x.cols(),
            self.levels[0],
        )
    }

    /// Encoder: `ws.h[0]` filled; writes `μ` and `ln σ²`.
    fn encode_rows(&mut self, rows: usize, par: Par) -> Result<()> {
        let k = self.config.hidden_layers();
        let lv = &self.levels;
        for i in 0..k {
            let (lo, hi) = self.ws.h.split_at_mut(i + 1);
            dense_forward(
                &lo[i],
                rows,
                self.params.value(self.enc_w[i]).view(),
                self.params.value(self.enc_c[i]).as_slice(),
                self.config.activations[i],
                &mut hi[0],
                par,
            )?;
        }
        let (hk, z) = (lv[k], lv[k + 1]);
        let top = MatRef::row_major(&self.ws.h[k][..rows * hk], rows, hk)?;
        for (w, b, out) in [
            (self.heads[0], self.heads[1], &mut self.ws.mu),
            (self.heads[2], self.heads[3], &mut self.ws.lv),
        ] {
            gemm(
                1.0,
                top,
                self.params.value(w).view(),
                Accum::Replace,
                MatMut::row_major(&mut out[..rows * z], rows, z)?,
                &BiasAdd::new(self.params.value(b).as_slice()),
                par,
            )?;
        }
        Ok(())
    }

    /// `z = μ + σ·ε` from the encoder's `ws.mu` and `ws.lv` with `ε` drawn
    /// from `streams` (kept in `ws.eps`), then the decoder from `z`.
    fn reparam_and_decode(&mut self, streams: Streams, rows: usize, par: Par) -> Result<()> {
        let z = self.config.latent;
        let n = rows * z;
        let ws = &mut self.ws;
        gaussian_reparam(
            streams,
            &ws.mu[..n],
            &ws.lv[..n],
            &mut ws.z[..n],
            &mut ws.eps[..n],
            rows,
            z,
            par,
        )?;
        self.decode_rows(rows, par)
    }

    /// Decoder from `ws.z`; `g[0]` ends as logits / means (pre-activation).
    fn decode_rows(&mut self, rows: usize, par: Par) -> Result<()> {
        let k = self.config.hidden_layers();
        let lv = &self.levels;
        for i in (0..=k).rev() {
            let act = if i == 0 {
                Activation::Identity
            } else {
                self.config.activations[i - 1]
            };
            let (glo, ghi) = self.ws.g.split_at_mut(i + 1);
            let input: &[f32] = if i == k {
                &self.ws.z[..rows * lv[k + 1]]
            } else {
                &ghi[0][..rows * lv[i + 1]]
            };
            dense_forward(
                input,
                rows,
                self.params.value(self.dec_w[i]).view().t(),
                self.params.value(self.dec_b[i]).as_slice(),
                act,
                &mut glo[i],
                par,
            )?;
        }
        Ok(())
    }

    /// `-ln p(x|z)` per row into `ws.row_a` (and its gradient at the output
    /// pre-activation into `dg[0]` with `grad_scale`, if wanted); returns the
    /// sum. `ws.h[0]` holds `x`.
    fn recon_rows(&mut self, rows: usize, grad_scale: Option<f32>) -> Result<f64> {
        let v = self.levels[0];
        let ws = &mut self.ws;
        let (x, a) = (&ws.h[0][..rows * v], &ws.g[0][..rows * v]);
        let grad = grad_scale.map(|_| &mut ws.dg[0][..rows * v]);
        let scale = grad_scale.unwrap_or(0.0);
        let row = &mut ws.row_a[..rows];
        Ok(match self.config.output {
            VaeOutput::Bernoulli => bce_logits(a, x, rows, v, Some(row), grad, scale)? as f64,
            VaeOutput::Gaussian => {
                let total = sq_err(a, x, rows, v, Some(&mut *row), grad, scale)? as f64;
                let c = 0.5 * v as f64 * LN_2PI;
                row.iter_mut().for_each(|r| *r = 0.5 * *r + c as f32);
                0.5 * total + c * rows as f64
            }
        })
    }

    /// The negative ELBO on the minibatch `x` and its gradient into `grads`
    /// (overwritten), with `ε` from the streams of `seed` (see
    /// [`draw_eps`](Self::draw_eps)). Allocates only when the batch is larger
    /// than any seen before.
    pub fn loss_and_gradient(
        &mut self,
        x: MatRef<'_>,
        grads: &mut ParamSet,
        seed: u64,
        par: Par,
    ) -> Result<VaeStep> {
        self.check_input("Vae::loss_and_gradient", &x)?;
        self.params
            .check_same_layout(grads, "Vae::loss_and_gradient: gradient layout")?;
        let rows = x.rows();
        if rows == 0 {
            grads.fill_zero();
            return Ok(VaeStep::default());
        }
        self.ws.ensure(rows, &self.levels);
        copy_rows(&x, &mut self.ws.h[0]);
        self.encode_rows(rows, par)?;
        let k = self.config.hidden_layers();
        let z = self.levels[k + 1];
        let n = rows * z;
        self.reparam_and_decode(Streams::new(seed), rows, par)?;
        let inv_b = 1.0 / rows as f32;
        let recon = self.recon_rows(rows, Some(inv_b))?;
        let lv = &self.levels;
        let ws = &mut self.ws;
        let kl = kl_normal(
            &ws.mu[..n],
            &ws.lv[..n],
            rows,
            z,
            None,
            Some(&mut ws.dmu[..n]),
            Some(&mut ws.dlv[..n]),
            inv_b,
        )? as f64;

        // Decoder, from the output to z.
        for i in 0..=k {
            let (n_lo, n_hi) = (lv[i], lv[i + 1]);
            let input: &[f32] = if i == k {
                &ws.z[..n]
            } else {
                &ws.g[i + 1][..rows * n_hi]
            };
            let (dglo, dghi) = ws.dg.split_at_mut(i + 1);
            let target: &mut [f32] = if i == k {
                &mut ws.dz[..n]
            } else {
                &mut dghi[0][..rows * n_hi]
            };
            dense_backward(
                input,
                &dglo[i][..rows * n_lo],
                (rows, n_hi, n_lo),
                self.params.value(self.dec_w[i]),
                Stored::OutByIn,
                Accum::Replace,
                two_mut(grads, self.dec_w[i], self.dec_b[i]),
                Some(&mut *target),
                par,
            )?;
            if i < k {
                activation_grad(
                    self.config.activations[i],
                    &ws.g[i + 1][..rows * n_hi],
                    target,
                    par,
                )?;
            }
        }
        // Through the sample: ∂z/∂μ = 1, ∂z/∂ln σ² = ½ (z - μ).
        for j in 0..n {
            let dz = ws.dz[j];
            ws.dmu[j] += dz;
            ws.dlv[j] += dz * 0.5 * (ws.z[j] - ws.mu[j]);
        }
        // Heads.
        let hk = lv[k];
        let top = &ws.h[k][..rows * hk];
        for (wi, bi, d) in [
            (self.heads[0], self.heads[1], &ws.dmu[..n]),
            (self.heads[2], self.heads[3], &ws.dlv[..n]),
        ] {
            sgemm(
                1.0,
                MatRef::row_major(top, rows, hk)?.t(),
                MatRef::row_major(d, rows, z)?,
                Accum::Replace,
                MatMut::row_major(grads.value_mut(wi).as_mut_slice(), hk, z)?,
                par,
            )?;
            col_sums(d, rows, z, grads.value_mut(bi).as_mut_slice(), par)?;
        }
        if k > 0 {
            let dtop = &mut ws.dh[k][..rows * hk];
            for (wi, d, accum) in [
                (self.heads[0], &ws.dmu[..n], Accum::Replace),
                (self.heads[2], &ws.dlv[..n], Accum::ADD),
            ] {
                sgemm(
                    1.0,
                    MatRef::row_major(d, rows, z)?,
                    self.params.value(wi).view().t(),
                    accum,
                    MatMut::row_major(&mut *dtop, rows, hk)?,
                    par,
                )?;
            }
        }
        // Encoder hidden layers.
        encoder_backward(
            &ws.h,
            &mut ws.dh,
            &lv[..=k],
            &self.config.activations,
            &self.params,
            (&self.enc_w, &self.enc_c),
            grads,
            rows,
            par,
        )?;
        let b = rows as f64;
        Ok(VaeStep {
            loss: (recon + kl) / b,
            reconstruction: recon / b,
            kl: kl / b,
        })
    }

    /// The posterior means `μ(x)` of the rows of `x` into `out` (`rows x Z`).
    pub fn encode(&mut self, x: MatRef<'_>, out: &mut [f32], par: Par) -> Result<()> {
        self.check_input("Vae::encode", &x)?;
        let (rows, z) = (x.rows(), self.config.latent);
        check_len("Vae::encode: out (rows x Z)", out.len(), rows * z)?;
        if rows == 0 {
            return Ok(());
        }
        self.ws.ensure(rows, &self.levels);
        copy_rows(&x, &mut self.ws.h[0]);
        self.encode_rows(rows, par)?;
        out.copy_from_slice(&self.ws.mu[..rows * z]);
        Ok(())
    }

    /// Decodes the latent codes `z` (`rows x Z`) into `out` (`rows x V`):
    /// the output means, Bernoulli probabilities or Gaussian means.
    pub fn decode(&mut self, z: MatRef<'_>, out: &mut [f32], par: Par) -> Result<()> {
        let (rows, zd, v) = (z.rows(), self.config.latent, self.levels[0]);
        check_len("Vae::decode: columns of z (latent)", z.cols(), zd)?;
        check_len("Vae::decode: out (rows x V)", out.len(), rows * v)?;
        if rows == 0 {
            return Ok(());
        }
        self.ws.ensure(rows, &self.levels);
        copy_rows(&z, &mut self.ws.z);
        self.decode_means(rows, out, par)
    }

    /// The deterministic reconstructions of the rows of `x` into `out`
    /// (`rows x V`): the decoder's output means at the posterior mean,
    /// `E[x | z = μ(x)]`.
    pub fn reconstruct(&mut self, x: MatRef<'_>, out: &mut [f32], par: Par) -> Result<()> {
        self.check_input("Vae::reconstruct", &x)?;
        let (rows, z, v) = (x.rows(), self.config.latent, self.levels[0]);
        check_len("Vae::reconstruct: out (rows x V)", out.len(), rows * v)?;
        if rows == 0 {
            return Ok(());
        }
        self.ws.ensure(rows, &self.levels);
        copy_rows(&x, &mut self.ws.h[0]);
        self.encode_rows(rows, par)?;
        let ws = &mut self.ws;
        ws.z[..rows * z].copy_from_slice(&ws.mu[..rows * z]);
        self.decode_means(rows, out, par)
    }

    /// Decodes `ws.z` and writes the output means of `rows` rows to `out`.
    fn decode_means(&mut self, rows: usize, out: &mut [f32], par: Par) -> Result<()> {
        let v = self.levels[0];
        self.decode_rows(rows, par)?;
        out.copy_from_slice(&self.ws.g[0][..rows * v]);
        if self.config.output == VaeOutput::Bernoulli {
            activate(Activation::Sigmoid, out, par);
        }
        Ok(())
    }

    /// Decodes `n` draws `z ~ N(0, I)` (streams of `seed`) into an `n x V`
    /// matrix of output means (Bernoulli probabilities or Gaussian means).
    pub fn sample(&mut self, n: usize, seed: u64, par: Par) -> Result<Matrix> {
        let (v, z) = (self.levels[0], self.config.latent);
        let mut out = Matrix::zeros(n, v)?;
        if n == 0 {
            return Ok(out);
        }
        self.ws.ensure(n, &self.levels);
        let zeros = vec![0.0f32; n * z];
        gaussian(
            Streams::new(seed),
            &zeros,
            Scale::Scalar(1.0),
            &mut self.ws.z[..n * z],
            n,
            z,
            par,
        )?;
        self.decode_means(n, out.as_mut_slice(), par)?;
        Ok(out)
    }

    /// The mean ELBO over the rows of `x` (one `z` sample per row, streams
    /// of `seed`), in batches of at most `batch` rows.
    pub fn elbo(&mut self, x: &Matrix, batch: usize, seed: u64, par: Par) -> Result<f64> {
        self.elbo_impl(x, batch, seed, None, par)
    }

    /// The ELBO of each row of `x` into `out` (`rows`), with the same `z`
    /// samples as [`elbo`](Self::elbo) for the same `seed` and `batch`;
    /// returns the mean. `-out` is a per-sample anomaly score.
    pub fn elbo_rows(
        &mut self,
        x: &Matrix,
        batch: usize,
        seed: u64,
        out: &mut [f32],
        par: Par,
    ) -> Result<f64> {
        check_len("Vae::elbo_rows: out (one per row)", out.len(), x.rows())?;
        self.elbo_impl(x, batch, seed, Some(out), par)
    }

    fn elbo_impl(
        &mut self,
        x: &Matrix,
        batch: usize,
        seed: u64,
        mut rows_out: Option<&mut [f32]>,
        par: Par,
    ) -> Result<f64> {
        let mut total = 0.0;
        self.for_batches(
            x,
            batch,
            |vae, start, rows| {
                let z = vae.config.latent;
                let n = rows * z;
                vae.reparam_and_decode(Streams::new(seed).at_step(start as u64), rows, par)?;
                let recon = vae.recon_rows(rows, None)?;
                let ws = &mut vae.ws;
                let kl = kl_normal(
                    &ws.mu[..n],
                    &ws.lv[..n],
                    rows,
                    z,
                    Some(&mut ws.row_b[..rows]),
                    None,
                    None,
                    0.0,
                )? as f64;
                if let Some(out) = rows_out.as_deref_mut() {
                    for (r, o) in out[start..start + rows].iter_mut().enumerate() {
                        *o = -(ws.row_a[r] + ws.row_b[r]);
                    }
                }
                total -= recon + kl;
                Ok(())
            },
            par,
        )?;
        Ok(total / x.rows().max(1) as f64)
    }

    /// The importance-weighted estimate of the mean `ln p(x)` over the rows
    /// of `x` with `k` samples per row (Burda et al.):
    /// `ln (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x)`, `z_k ~ q(z|x)`. A lower
    /// bound that tightens as `k` grows (`k = 1` is the ELBO in
    /// expectation). Allocates `k x batch` log-weights.
    pub fn log_likelihood_iw(
        &mut self,
        x: &Matrix,
        k: usize,
        batch: usize,
        seed: u64,
        par: Par,
    ) -> Result<f64> {
        if k == 0 {
            return bad("log_likelihood_iw: k", "0".into(), "at least 1 sample");
        }
        let mut total = 0.0;
        let mut logw = vec![0.0f64; k * batch.max(1)];
        self.for_batches(
            x,
            batch,
            |vae, start, rows| {
                let z = vae.config.latent;
                for s in 0..k {
                    let streams = Streams::new(seed).at_step((start as u64) << 20 | s as u64);
                    vae.reparam_and_decode(streams, rows, par)?;
                    vae.recon_rows(rows, None)?;
                    let ws = &vae.ws;
                    for r in 0..rows {
                        let mut lw = -(ws.row_a[r] as f64);
                        for j in r * z..(r + 1) * z {
                            let (zz, e, l) = (ws.z[j] as f64, ws.eps[j] as f64, ws.lv[j] as f64);
                            // ln p(z) - ln q(z|x); the ½ ln 2π terms cancel.
                            lw += -0.5 * zz * zz + 0.5 * e * e + 0.5 * l;
                        }
                        logw[s * batch + r] = lw;
                    }
                }
                for r in 0..rows {
                    let m = (0..k)
                        .map(|s| logw[s * batch + r])
                        .fold(f64::NEG_INFINITY, f64::max);
                    let sum: f64 = (0..k).map(|s| (logw[s * batch + r] - m).exp()).sum();
                    total += m + (sum / k as f64).ln();
                }
                Ok(())
            },
            par,
        )?;
        Ok(total / x.rows().max(1) as f64)
    }

    /// Runs the encoder on each batch of `x` and calls `f(self, start, rows)`.
    fn for_batches(
        &mut self,
        x: &Matrix,
        batch: usize,
        mut f: impl FnMut(&mut Self, usize, usize) -> Result<()>,
        par: Par,
    ) -> Result<()> {
        if batch == 0 {
            return bad("Vae: batch", "0".into(), "at least 1");
        }
        check_len("Vae: columns of the data", x.cols(), self.levels[0])?;
        let mut start = 0;
        while start < x.rows() {
            let rows = batch.min(x.rows() - start);
            self.ws.ensure(rows, &self.levels);
            copy_rows(&x.rows_view(start, rows)?, &mut self.ws.h[0]);
            self.encode_rows(rows, par)?;
            f(self, start, rows)?;
            start += rows;
        }
        Ok(())
    }
}

impl Model for Vae {
    fn kind(&self) -> &str {
        "vae"
    }

    fn hyperparameters(&self) -> String {
        let acts: Vec<&str> = self.config.activations.iter().map(|a| a.name()).collect();
        format!(
            "sizes={:?} activations={:?} latent={} output={:?} init_std={:?}",
            self.config.sizes, acts, self.config.latent, self.config.output, self.config.init_std
        )
    }

    fn params(&self) -> &ParamSet {
        &self.params
    }

    fn params_mut(&mut self) -> &mut ParamSet {
        &mut self.params
    }

    fn gradient(
        &mut self,
        batch: &Batch<'_>,
        grads: &mut ParamSet,
        ctx: &mut StepContext<'_>,
    ) -> latent_engine::Result<StepOutput> {
        let seed = ctx.rng.next_u64();
        let step = self
            .loss_and_gradient(batch.x, grads, seed, ctx.par)
            .map_err(into_engine)?;
        let mut metrics = Metrics::new();
        metrics.push("elbo", step.elbo())?;
        metrics.push("reconstruction", step.reconstruction)?;
        metrics.push("kl", step.kl)?;
        Ok(StepOutput {
            loss: step.loss,
            metrics,
        })
    }

    /// The negative ELBO (lower is better).
    fn validation_metric(
        &mut self,
        x: &Matrix,
        _labels: Option<&[u32]>,
        par: Par,
    ) -> latent_engine::Result<Option<f64>> {
        self.elbo(x, 500, 0x5EED, par)
            .map(|e| Some(-e))
            .map_err(into_engine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(rows: usize, cols: usize) -> Matrix {
        Matrix::from_fn(rows, cols, |r, c| ((r * 7 + c * 3) % 5) as f32 / 4.0).unwrap()
    }

    #[test]
    fn per_row_elbo_matches_the_mean_and_reconstruct_decodes_the_mean() {
        let cfg = VaeConfig::new(12, &[6], 3, Activation::Tanh);
        let mut vae = Vae::new(cfg, 5).unwrap();
        let x = data(23, 12);
        let mean = vae.elbo(&x, 10, 9, Par::Seq).unwrap();
        let mut rows = vec![0.0f32; 23];
        let mean2 = vae.elbo_rows(&x, 10, 9, &mut rows, Par::Seq).unwrap();
        assert_eq!(mean, mean2);
        let avg = rows.iter().map(|&v| v as f64).sum::<f64>() / 23.0;
        assert!(
            (avg - mean).abs() < 1e-4 * mean.abs().max(1.0),
            "{avg} {mean}"
        );

        let mut mu = vec![0.0f32; 23 * 3];
        vae.encode(x.view(), &mut mu, Par::Seq).unwrap();
        let mut a = vec![0.0f32; 23 * 12];
        let mut b = vec![0.0f32; 23 * 12];
        vae.decode(MatRef::row_major(&mu, 23, 3).unwrap(), &mut a, Par::Seq)
            .unwrap();
        vae.reconstruct(x.view(), &mut b, Par::Seq).unwrap();
        assert_eq!(a, b);
        assert!(a.iter().all(|&p| (0.0..=1.0).contains(&p)));
        assert!(vae.decode(x.view(), &mut a, Par::Seq).is_err());
    }
}
