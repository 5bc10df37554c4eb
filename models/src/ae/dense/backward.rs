//! A dense autoencoder's training step: the objective on a minibatch and its
//! gradient (the loss at the output, back through the decoder, the code's
//! sparsity, back through the encoder with the contractive penalty layer by
//! layer), on the model's own [`Workspace`]. In bf16 every product is a
//! bf16 product, the weights packed once per step; the first contractive
//! layer's `Xᵀ G` then joins its delta (as a deeper layer's does), so that it
//! is part of the bf16 weight-gradient product.

use latent_engine::ParamSet;
use latent_kernels::Par;
use latent_kernels::activation::{Activation, activation_grad};
use latent_kernels::gemm::{Accum, MatRef, Precision};
use latent_kernels::penalty::{
    ContractiveShape, Encoder, contractive_penalty, kl_sparsity, l1_penalty,
};
use latent_kernels::random::Streams;
use latent_kernels::reduce::{bce_logits, sq_err};

use super::Autoencoder;
use super::config::{AeStep, Loss, Sparsity};
use super::forward::apply_noise;
use super::workspace::Workspace;
use crate::ae::operands::{PackedWeights, Use, Weights};
use crate::ae::util::{Stored, check_len, copy_rows, dense_backward, two_mut};
use crate::error::Result;

impl Autoencoder {
    /// The objective on the minibatch `x` (`B x V`) and its gradient into
    /// `grads` (same layout as the parameters, overwritten), with the noise
    /// of `seed` (see [`corrupt`](Self::corrupt)). Allocates only when the
    /// batch is larger than any seen before.
    pub fn loss_and_gradient(
        &mut self,
        x: MatRef<'_>,
        grads: &mut ParamSet,
        seed: u64,
        par: Par,
    ) -> Result<AeStep> {
        self.train_step(x, None, grads, seed, par)
    }

    /// [`loss_and_gradient`](Self::loss_and_gradient) for rows `x` that
    /// are the rows `data_rows` of a data set: with code noise
    /// ([`CodeNoise`](super::CodeNoise)) each row gets its data-set row's
    /// noise (the plain form gives row `r` of `x` the noise of row `r`).
    pub fn loss_and_gradient_rows(
        &mut self,
        x: MatRef<'_>,
        data_rows: &[u32],
        grads: &mut ParamSet,
        seed: u64,
        par: Par,
    ) -> Result<AeStep> {
        if data_rows.len() != x.rows() {
            check_len(
                "Autoencoder::loss_and_gradient_rows: data rows (one per row of x)",
                data_rows.len(),
                x.rows(),
            )?;
        }
        self.train_step(x, Some(data_rows), grads, seed, par)
    }

    fn train_step(
        &mut self,
        x: MatRef<'_>,
        data_rows: Option<&[u32]>,
        grads: &mut ParamSet,
        seed: u64,
        par: Par,
    ) -> Result<AeStep> {
        self.check_input("Autoencoder::loss_and_gradient", &x)?;
        self.params
            .check_same_layout(grads, "Autoencoder::loss_and_gradient: gradient layout")?;
        if x.rows() == 0 {
            grads.fill_zero();
            return Ok(AeStep::default());
        }
        // The workspace is moved out (no allocation) so that the step can
        // read the parameters while it writes the buffers.
        let mut ws = std::mem::take(&mut self.ws);
        let mut packed = std::mem::take(&mut ws.packed);
        self.pack_weights(&mut packed);
        let weights = Weights::new(&self.params, self.precision, Some(&packed));
        let step = self.step(&mut ws, &weights, (x, data_rows), grads, seed, par);
        ws.packed = packed;
        self.ws = ws;
        step
    }

    /// In bf16, packs every weight matrix (into `packed`'s storage) in each
    /// orientation the step multiplies by: `W` (encoder forward) and `Wᵀ`
    /// (the delta below it, above the first layer), the decoder's `W'ᵀ`
    /// (forward) and `W'` (its delta). Tied weights are packed once per
    /// orientation.
    fn pack_weights(&self, packed: &mut PackedWeights) {
        if self.precision != Precision::Bf16 {
            return;
        }
        packed.start_step(self.params.len());
        for (i, &w) in self.enc_w.iter().enumerate() {
            packed.pack(&self.params, w, Use::AsStored);
            if i > 0 {
                packed.pack(&self.params, w, Use::Transposed);
            }
        }
        for &w in &self.dec_w {
            packed.pack(&self.params, w, Use::Transposed);
            packed.pack(&self.params, w, Use::AsStored);
        }
    }

    /// Whether encoder layer `i`'s contractive gradient goes through its
    /// delta (layers above the first; every layer in bf16, so that the
    /// weight-gradient product carries it) rather than the first layer's
    /// closed form after the product.
    fn contractive_in_delta(&self, i: usize) -> bool {
        i > 0 || self.precision == Precision::Bf16
    }

    /// [`loss_and_gradient`](Self::loss_and_gradient) on `ws`, for a
    /// non-empty batch whose shapes are checked (and its data-set rows, for
    /// code noise), with the weights of `w`.
    pub(super) fn step(
        &self,
        ws: &mut Workspace,
        w: &Weights<'_>,
        (x, data_rows): (MatRef<'_>, Option<&[u32]>),
        grads: &mut ParamSet,
        seed: u64,
        par: Par,
    ) -> Result<AeStep> {
        let rows = x.rows();
        ws.ensure(rows, &self.config);
        let v = self.config.sizes[0];
        let inv_b = 1.0 / rows as f32;
        copy_rows(&x, &mut ws.clean);
        apply_noise(
            self.config.noise,
            Streams::new(seed),
            &ws.clean[..rows * v],
            &mut ws.fwd.h[0][..rows * v],
            rows,
            v,
            par,
        )?;
        self.forward_train(&mut ws.fwd, &mut ws.code_pre, (rows, data_rows), w, par)?;
        let mut step = AeStep {
            reconstruction: self.output_loss(ws, rows, inv_b)? / rows as f64,
            ..AeStep::default()
        };
        self.decoder_backward(ws, w, grads, rows, par)?;
        step.sparsity = self.code_sparsity(ws, rows, inv_b, par)?;
        for i in (0..self.config.depth()).rev() {
            step.contractive += self.encoder_layer_backward(ws, w, grads, i, (rows, inv_b), par)?;
        }
        step.objective = step.reconstruction + step.sparsity + step.contractive;
        Ok(step)
    }

    /// The summed reconstruction loss of the batch, and its gradient at the
    /// output pre-activation, scaled by `1/B`, into `dg[0]`.
    fn output_loss(&self, ws: &mut Workspace, rows: usize, inv_b: f32) -> Result<f64> {
        let v = self.config.sizes[0];
        let (out, clean) = (&ws.fwd.g[0][..rows * v], &ws.clean[..rows * v]);
        let grad = Some(&mut ws.dg[0][..rows * v]);
        Ok(match self.config.loss {
            Loss::SquaredError => 0.5 * sq_err(out, clean, rows, v, None, grad, inv_b)? as f64,
            Loss::CrossEntropy => bce_logits(out, clean, rows, v, None, grad, inv_b)? as f64,
        })
    }

    /// Back through the decoder, from the output up to the code: each
    /// layer's weight and bias gradients, and the delta below it (the code's
    /// delta ends in `dh[L]`).
    fn decoder_backward(
        &self,
        ws: &mut Workspace,
        w: &Weights<'_>,
        grads: &mut ParamSet,
        rows: usize,
        par: Par,
    ) -> Result<()> {
        let s = &self.config.sizes;
        let l = self.config.depth();
        for i in 0..l {
            let (n_lo, n_hi) = (s[i], s[i + 1]);
            let input: &[f32] = if i + 1 == l {
                &ws.fwd.h[l][..rows * n_hi]
            } else {
                &ws.fwd.g[i + 1][..rows * n_hi]
            };
            // ∂J/∂W'_i = dgᵀ · input (n_lo x n_hi), and the delta at the
            // input of decoder layer i: dg · W'_i.
            let (dglo, dghi) = ws.dg.split_at_mut(i + 1);
            let target: &mut [f32] = if i + 1 == l {
                &mut ws.dh[l][..rows * n_hi]
            } else {
                &mut dghi[0][..rows * n_hi]
            };
            dense_backward(
                input,
                &dglo[i][..rows * n_lo],
                (rows, n_hi, n_lo),
                (w, self.dec_w[i]),
                Stored::OutByIn,
                Accum::Replace,
                two_mut(grads, self.dec_w[i], self.dec_b[i]),
                Some(&mut *target),
                par,
            )?;
            if i + 1 < l {
                activation_grad(
                    self.config.activations[i],
                    &ws.fwd.g[i + 1][..rows * n_hi],
                    target,
                    par,
                )?;
            }
        }
        Ok(())
    }

    /// The sparsity penalty on the code `h_L` (a mean over the batch for L1,
    /// a batch-level term for KL); its gradient joins the code's delta.
    fn code_sparsity(&self, ws: &mut Workspace, rows: usize, inv_b: f32, par: Par) -> Result<f64> {
        let l = self.config.depth();
        let hl = self.config.sizes[l];
        let (code, delta) = (&ws.fwd.h[l][..rows * hl], &mut ws.dh[l][..rows * hl]);
        Ok(match self.config.sparsity {
            Sparsity::None => 0.0,
            Sparsity::L1 { lambda } => {
                l1_penalty(lambda, code, Some(delta), inv_b)? as f64 / rows as f64
            }
            Sparsity::Kl { rho, beta } => kl_sparsity(
                rho,
                beta,
                code,
                rows,
                hl,
                &mut ws.rho_hat,
                Some(delta),
                1.0,
                par,
            )? as f64,
        })
    }

    /// Back through encoder layer `i` from the delta at its output in
    /// `dh[i + 1]`: the activation's derivative, the contractive penalty's
    /// gradient (deeper layers: into the delta, so that it reaches the
    /// layers below), the weight and bias gradients (tied: added to the
    /// decoder's) and the delta at its input (`dh[i]`, not for the first
    /// layer). Returns the layer's contractive penalty `λ Ω_i / B` (0
    /// without one).
    fn encoder_layer_backward(
        &self,
        ws: &mut Workspace,
        weights: &Weights<'_>,
        grads: &mut ParamSet,
        i: usize,
        (rows, inv_b): (usize, f32),
        par: Par,
    ) -> Result<f64> {
        let s = &self.config.sizes;
        let (n_lo, n_hi) = (s[i], s[i + 1]);
        let act = self.config.activations[i];
        let (dlo, dhi) = ws.dh.split_at_mut(i + 1);
        let d = &mut dhi[0][..rows * n_hi];
        let hout = &ws.fwd.h[i + 1][..rows * n_hi];
        let hin = &ws.fwd.h[i][..rows * n_lo];
        activation_grad(act, hout, d, par)?;
        let lambda = self.config.contractive;
        let mut penalty = 0.0;
        // Deeper contractive layers: add ∂Ω/∂a = 2λ/B·G to the delta so that
        // it reaches W, c and the layers below; the direct term on W is
        // added after the weight-gradient GEMM.
        if let (Some(lam), true) = (lambda, self.contractive_in_delta(i)) {
            let w = self.params.value(self.enc_w[i]).as_slice();
            let (n, t) = (&mut ws.nvec[..n_hi], &mut ws.tvec[..n_hi]);
            let omega =
                deep_contractive(act, w, hout, (rows, n_lo, n_hi), d, 2.0 * lam * inv_b, n, t);
            penalty += lam as f64 * omega / rows as f64;
        }
        let accum = if self.config.tied {
            Accum::ADD
        } else {
            Accum::Replace
        };
        let delta_in = if i > 0 {
            Some(&mut dlo[i][..rows * n_lo])
        } else {
            None
        };
        dense_backward(
            hin,
            d,
            (rows, n_lo, n_hi),
            (weights, self.enc_w[i]),
            Stored::InByOut,
            accum,
            two_mut(grads, self.enc_w[i], self.enc_c[i]),
            delta_in,
            par,
        )?;
        if let Some(lam) = lambda {
            penalty += self.contractive_weight_terms(ws, grads, i, rows, (lam, inv_b), par)?;
        }
        Ok(penalty)
    }

    /// The contractive terms of encoder layer `i`'s weight (and, for the
    /// first layer, bias) gradient, after its weight-gradient GEMM, for the
    /// weight `λ` and `1/B`: the first layer's closed-form penalty and gradient
    /// (returns `λ Ω_0 / B`), or a deeper layer's direct term `2 W_kj t_j`
    /// (returns 0; its penalty was counted with its delta).
    fn contractive_weight_terms(
        &self,
        ws: &mut Workspace,
        grads: &mut ParamSet,
        i: usize,
        rows: usize,
        (lam, inv_b): (f32, f32),
        par: Par,
    ) -> Result<f64> {
        let (n_lo, n_hi) = (self.config.sizes[i], self.config.sizes[i + 1]);
        let w = self.params.value(self.enc_w[i]).as_slice();
        let (gw, gc) = two_mut(grads, self.enc_w[i], self.enc_c[i]);
        if self.contractive_in_delta(i) {
            add_contractive_direct(gw, w, &ws.tvec[..n_hi], 2.0 * lam * inv_b);
            return Ok(0.0);
        }
        let enc = if self.config.activations[0] == Activation::Sigmoid {
            Encoder::Sigmoid
        } else {
            Encoder::Relu
        };
        let shape = ContractiveShape {
            batch: rows,
            visible: n_lo,
            hidden: n_hi,
        };
        let (hin, hout) = (&ws.fwd.h[0][..rows * n_lo], &ws.fwd.h[1][..rows * n_hi]);
        let omega = contractive_penalty(
            enc,
            shape,
            hin,
            w,
            hout,
            Some(gw),
            Some(gc),
            lam * inv_b,
            &mut ws.cwork,
            par,
        )?;
        Ok(lam as f64 * omega as f64 / rows as f64)
    }
}

/// The direct term of a deeper contractive layer's weight gradient,
/// `∂Ω/∂W_kj ⊃ 2 W_kj t_j`: adds `a · W_kj t_j` (`a = 2λ/B`) to `gw`.
fn add_contractive_direct(gw: &mut [f32], w: &[f32], t: &[f32], a: f32) {
    let n_hi = t.len();
    for (grow_, wrow) in gw.chunks_exact_mut(n_hi).zip(w.chunks_exact(n_hi)) {
        for ((g, &wk), &tj) in grow_.iter_mut().zip(wrow).zip(t) {
            *g += a * wk * tj;
        }
    }
}

/// The contractive penalty of an encoder layer above the first:
/// `Ω = Σ_i Σ_j s_ij² n_j` (sigmoid, `s = h(1-h)`) or `Σ_ij s_ij n_j` (ReLU,
/// `s = [h > 0]`), `n_j = Σ_k W_kj²`. Adds `scale·G` to the pre-activation
/// delta `d` (`G_ij = n_j s_ij² (1-2h_ij)`, zero for ReLU), writes
/// `t_j = Σ_i s_ij²` (for the direct term `2 W_kj t_j`) and returns `Ω`.
#[allow(clippy::too_many_arguments)]
fn deep_contractive(
    act: Activation,
    w: &[f32],
    h: &[f32],
    (rows, n_lo, n_hi): (usize, usize, usize),
    d: &mut [f32],
    scale: f32,
    n: &mut [f32],
    t: &mut [f32],
) -> f64 {
    n.fill(0.0);
    for wrow in w.chunks_exact(n_hi).take(n_lo) {
        for (nj, &wk) in n.iter_mut().zip(wrow) {
            *nj += wk * wk;
        }
    }
    t.fill(0.0);
    let mut omega = 0.0f64;
    let sigmoid = act == Activation::Sigmoid;
    for (hrow, drow) in h
        .chunks_exact(n_hi)
        .zip(d.chunks_exact_mut(n_hi))
        .take(rows)
    {
        let mut row = 0.0f64;
        for j in 0..n_hi {
            let hj = hrow[j];
            let (s2, g) = if sigmoid {
                let s = hj * (1.0 - hj);
                (s * s, n[j] * s * s * (1.0 - 2.0 * hj))
            } else {
                (if hj > 0.0 { 1.0 } else { 0.0 }, 0.0)
            };
            t[j] += s2;
            row += (s2 * n[j]) as f64;
            drow[j] += scale * g;
        }
        omega += row;
    }
    omega
}
