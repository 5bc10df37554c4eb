//! The dense autoencoder (MODELS.md 4.1-4.4): an encoder of any number of
//! layers `h_l = act_l(h_{l-1} W_l + 1 c_lᵀ)` and a mirrored decoder
//! `g_{l-1} = act'_l(g_l W'_lᵀ + 1 b_lᵀ)`, with `W'_l = W_l` (tied) or its own
//! weights (untied). Every `W` is stored lower x upper (`n_{l-1} x n_l`), so
//! the upward pass is `h W` and the downward pass `g Wᵀ`, as in MODELS.md.
//!
//! The decoder layer that rebuilds level `l-1 ≥ 1` uses the activation of
//! encoder layer `l-1` (the one that produced that level); the output layer
//! is linear for [`Loss::SquaredError`] (`L = ½ Σ (x̂ - x)²`) and a sigmoid
//! for [`Loss::CrossEntropy`], whose loss is computed from the logits. For
//! both the gradient at the output pre-activation is `x̂ - x`.
//!
//! Regularisers, each a real term of the objective `J` (a mean over the
//! minibatch of `B` rows unless said otherwise):
//!
//! - [`Sparsity::L1`]: `λ Σ_j |h_j|` on the code;
//! - [`Sparsity::Kl`]: `β Σ_j KL(ρ ‖ ρ̂_j)` on the batch-mean code `ρ̂`
//!   (sigmoid code layer; a batch-level term, not divided by `B`);
//! - [`Noise`]: the encoder sees `x̃ ~ C(x̃|x)` (fresh noise each step) and
//!   the loss compares with the clean `x`;
//! - [`CodeNoise`]: `N(0, s²)` added to the code layer's pre-activation,
//!   fixed per training row (the row's index in the data set picks it), so
//!   that a sigmoid code saturates (semantic hashing); every gradient is
//!   taken at the noisy code, so it is the exact gradient of the objective
//!   with that noise held fixed;
//! - contractive: `λ Σ_l ‖∂h_l/∂h_{l-1}‖_F²`, layer by layer for a deep
//!   encoder, in closed form (`latent_kernels::penalty`); for `l ≥ 2` the
//!   penalty's gradient also flows into the layers below.
//!
//! A step is: the input copied (and corrupted) once; one fused
//! GEMM+bias+activation per layer up and down; the loss and its gradient in
//! one pass; per layer down again one GEMM for the weight gradient (tied:
//! added to the encoder's), one column sum for the bias and one GEMM plus a
//! fused activation derivative for the delta below.
//!
//! Inference ([`Autoencoder::encode`], [`Autoencoder::reconstruct`],
//! [`Autoencoder::reconstruction_errors`]) takes `&self` and a caller-kept
//! [`AeScratch`] (the `_with` forms; the plain forms make a fresh one), so
//! that a trained model can be shared; training keeps its own workspace.

mod backward;
mod config;
mod forward;
mod infer;
mod model;
#[cfg(test)]
mod tests;
mod workspace;

pub use config::{AeConfig, AeStep, CodeNoise, Loss, Noise, Sparsity};
pub use workspace::AeScratch;

use latent_engine::{Matrix, ParamSet, Role};
use latent_kernels::Par;
use latent_kernels::gemm::{MatRef, Precision};
use latent_kernels::random::Streams;

use self::forward::apply_noise;
use self::workspace::Workspace;
use super::util::{bad, check_len, init_weights};
use crate::error::Result;

/// A dense autoencoder (plain, sparse, denoising or contractive, by its
/// [`AeConfig`]) with its training state.
///
/// Parameters, in order: `W1, c1, …, WL, cL` (encoder, `W_l` is
/// `n_{l-1} x n_l`), then for `l = L … 1` the decoder's `Wd_l` (untied only,
/// same shape as `W_l`) and `b_l` (`1 x n_{l-1}`).
#[derive(Debug)]
pub struct Autoencoder {
    config: AeConfig,
    params: ParamSet,
    enc_w: Vec<usize>,
    enc_c: Vec<usize>,
    dec_w: Vec<usize>,
    dec_b: Vec<usize>,
    ws: Workspace,
    /// The precision of the matrix products.
    precision: Precision,
}

impl Autoencoder {
    /// A new autoencoder with seeded random weights (see
    /// [`AeConfig::init_std`]) and zero biases.
    pub fn new(config: AeConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let mut rng = latent_engine::Rng::stream(seed, 0x4145_0000); // "AE"
        let s = config.sizes.clone();
        let l = config.depth();
        let mut params = ParamSet::new();
        let (mut enc_w, mut enc_c, mut dec_w, mut dec_b) = (vec![], vec![], vec![0; l], vec![0; l]);
        for i in 0..l {
            let w = init_weights(&mut rng, s[i], s[i + 1], config.init_std)?;
            enc_w.push(params.push(format!("W{}", i + 1), Role::Weight, w)?);
            enc_c.push(params.push(
                format!("c{}", i + 1),
                Role::Bias,
                Matrix::zeros(1, s[i + 1])?,
            )?);
        }
        for i in (0..l).rev() {
            dec_w[i] = if config.tied {
                enc_w[i]
            } else {
                let w = init_weights(&mut rng, s[i], s[i + 1], config.init_std)?;
                params.push(format!("Wd{}", i + 1), Role::Weight, w)?
            };
            dec_b[i] = params.push(format!("b{}", i + 1), Role::Bias, Matrix::zeros(1, s[i])?)?;
        }
        Ok(Autoencoder {
            config,
            params,
            enc_w,
            enc_c,
            dec_w,
            dec_b,
            ws: Workspace::default(),
            precision: Precision::F32,
        })
    }

    /// The precision of the model's matrix products ([`Precision::F32`]
    /// unless set), in training and inference alike.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Sets the precision of the model's matrix products (master
    /// parameters and everything else stay f32).
    pub fn set_precision(&mut self, precision: Precision) {
        self.precision = precision;
    }

    /// The configuration.
    pub fn config(&self) -> &AeConfig {
        &self.config
    }

    /// Sets (or removes) the code noise of training ([`CodeNoise`]), e.g.
    /// on a stack unrolled for fine-tuning; errors on a bad standard
    /// deviation.
    pub fn set_code_noise(&mut self, noise: Option<CodeNoise>) -> Result<()> {
        let mut config = self.config.clone();
        config.code_noise = noise;
        config.validate()?;
        self.config = config;
        // The training buffers are sized by the configuration.
        self.ws = Workspace::default();
        Ok(())
    }

    /// The input width `V`.
    pub fn n_visible(&self) -> usize {
        self.config.sizes[0]
    }

    /// The code width `H_L`.
    pub fn code_size(&self) -> usize {
        self.config.sizes[self.config.depth()]
    }

    /// Encoder layer `l`'s weights (`0`-based, `n_l x n_{l+1}`).
    pub fn encoder_weights(&self, l: usize) -> Option<&Matrix> {
        self.enc_w.get(l).map(|&i| self.params.value(i))
    }

    /// Encoder layer `l`'s bias (`n_{l+1}`).
    pub fn encoder_bias(&self, l: usize) -> Option<&[f32]> {
        self.enc_c.get(l).map(|&i| self.params.value(i).as_slice())
    }

    /// Decoder layer `l`'s weights (the encoder's when tied), `n_l x n_{l+1}`.
    pub fn decoder_weights(&self, l: usize) -> Option<&Matrix> {
        self.dec_w.get(l).map(|&i| self.params.value(i))
    }

    /// Decoder layer `l`'s bias (`n_l`).
    pub fn decoder_bias(&self, l: usize) -> Option<&[f32]> {
        self.dec_b.get(l).map(|&i| self.params.value(i).as_slice())
    }

    /// Overwrites layer `l`'s parameters (`0`-based): encoder weights and
    /// bias, and the decoder's bias and (untied only) weights, e.g. from a
    /// pretrained layer. `wd` must be `None` for a tied model.
    pub fn set_layer(
        &mut self,
        l: usize,
        w: &[f32],
        c: &[f32],
        wd: Option<&[f32]>,
        b: &[f32],
    ) -> Result<()> {
        let depth = self.config.depth();
        if l >= depth {
            return bad(
                "set_layer: layer",
                l.to_string(),
                "an encoder layer index < depth",
            );
        }
        let (lo, hi) = (self.config.sizes[l], self.config.sizes[l + 1]);
        check_len("set_layer: w (lower x upper)", w.len(), lo * hi)?;
        check_len("set_layer: c (upper)", c.len(), hi)?;
        check_len("set_layer: b (lower)", b.len(), lo)?;
        match (self.config.tied, wd) {
            (true, Some(_)) => {
                return bad("set_layer: wd", "Some".into(), "None for tied weights");
            }
            (false, Some(wd)) => {
                check_len("set_layer: wd (lower x upper)", wd.len(), lo * hi)?;
                self.params
                    .value_mut(self.dec_w[l])
                    .as_mut_slice()
                    .copy_from_slice(wd);
            }
            (false, None) => {
                self.params
                    .value_mut(self.dec_w[l])
                    .as_mut_slice()
                    .copy_from_slice(w);
            }
            (true, None) => {}
        }
        self.params
            .value_mut(self.enc_w[l])
            .as_mut_slice()
            .copy_from_slice(w);
        self.params
            .value_mut(self.enc_c[l])
            .as_mut_slice()
            .copy_from_slice(c);
        self.params
            .value_mut(self.dec_b[l])
            .as_mut_slice()
            .copy_from_slice(b);
        Ok(())
    }

    /// Sets the output bias from the data's column means `p_k`: `ln(p/(1-p))`
    /// (clipped to `[1e-3, 1-1e-3]`) for cross-entropy, `p` for squared
    /// error, so that the initial reconstruction is the mean input. Without
    /// it an untied sigmoid autoencoder tends to spend its code units on
    /// the mean (saturating them) early in training.
    pub fn init_output_bias_from_data(&mut self, x: &Matrix, par: Par) -> Result<()> {
        check_len(
            "init_output_bias_from_data: columns of x",
            x.cols(),
            self.n_visible(),
        )?;
        if x.rows() == 0 {
            return bad(
                "init_output_bias_from_data: rows of x",
                "0".into(),
                "at least 1",
            );
        }
        let b = self.params.value_mut(self.dec_b[0]).as_mut_slice();
        latent_kernels::reduce::col_means(x.as_slice(), x.rows(), x.cols(), b, par)?;
        if self.config.loss == Loss::CrossEntropy {
            for v in b.iter_mut() {
                let p = v.clamp(1e-3, 1.0 - 1e-3);
                *v = (p / (1.0 - p)).ln();
            }
        }
        Ok(())
    }

    fn check_input(&self, what: &str, x: &MatRef<'_>) -> Result<()> {
        if x.cols() == self.n_visible() {
            return Ok(());
        }
        // Formatted only on error: a training step must not allocate.
        check_len(
            &format!("{what}: columns of the data (inputs)"),
            x.cols(),
            self.n_visible(),
        )
    }

    /// Applies this model's corruption to the rows of `x` (`B x V`
    /// row-major) into `out`, with the random streams of `seed`: exactly the
    /// `x̃` that [`loss_and_gradient`](Self::loss_and_gradient) with the same
    /// `seed` feeds the encoder. Copies `x` when there is no noise.
    pub fn corrupt(
        &self,
        x: &[f32],
        out: &mut [f32],
        rows: usize,
        seed: u64,
        par: Par,
    ) -> Result<()> {
        let v = self.n_visible();
        check_len("corrupt: x (rows x V)", x.len(), rows * v)?;
        check_len("corrupt: out (rows x V)", out.len(), rows * v)?;
        apply_noise(self.config.noise, Streams::new(seed), x, out, rows, v, par)
    }

    /// The code noise ([`CodeNoise`]) that a training step adds to the code
    /// layer's pre-activation for the data-set rows `data_rows`, into `out`
    /// (`rows x H_L` row-major): exactly what
    /// [`loss_and_gradient_rows`](Self::loss_and_gradient_rows) adds;
    /// zeros without code noise.
    pub fn code_noise(&self, data_rows: &[u32], out: &mut [f32]) -> Result<()> {
        let h = self.code_size();
        check_len(
            "code_noise: out (rows x code size)",
            out.len(),
            data_rows.len() * h,
        )?;
        out.fill(0.0);
        let Some(noise) = self.config.code_noise else {
            return Ok(());
        };
        let zeros = vec![0.0; h];
        let streams = forward::code_noise_streams(noise.seed);
        for (&row, o) in data_rows.iter().zip(out.chunks_exact_mut(h)) {
            let s = streams.rows_from(u64::from(row));
            latent_kernels::random::gaussian_noise(s, &zeros, o, noise.std, 1, h, Par::Seq)?;
        }
        Ok(())
    }
}
