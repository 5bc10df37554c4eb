//! A VAE's training step: the negative ELBO on a minibatch and its gradient
//! (back through the decoder, the sample, the two heads and the encoder's
//! hidden layers), on the model's own [`Workspace`]. In bf16 every product
//! is a bf16 product, the weights packed once per step.

use latent_engine::ParamSet;
use latent_kernels::Par;
use latent_kernels::activation::activation_grad;
use latent_kernels::gemm::{Accum, MatMut, MatRef, Precision};
use latent_kernels::random::Streams;
use latent_kernels::reduce::{col_sums, kl_normal};

use super::Vae;
use super::config::VaeStep;
use super::workspace::Workspace;
use crate::ae::operands::{PackedWeights, Use, Weights};
use crate::ae::util::{Stored, copy_rows, dense_backward, encoder_backward, matmul, two_mut};
use crate::error::Result;

impl Vae {
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
        if x.rows() == 0 {
            grads.fill_zero();
            return Ok(VaeStep::default());
        }
        // The workspace is moved out (no allocation) so that the step can
        // read the parameters while it writes the buffers.
        let mut ws = std::mem::take(&mut self.ws);
        let mut packed = std::mem::take(&mut ws.packed);
        self.pack_weights(&mut packed);
        let weights = Weights::new(&self.params, self.precision, Some(&packed));
        let step = self.step(&mut ws, &weights, x, grads, seed, par);
        ws.packed = packed;
        self.ws = ws;
        step
    }

    /// In bf16, packs every weight matrix (into `packed`'s storage) in each
    /// orientation the step multiplies by: the hidden layers' and heads' `W`
    /// (forward) and `Wᵀ` (the delta below them, where there is a hidden
    /// layer below), the decoder's `Wdᵀ` (forward) and `Wd` (its delta).
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
        for w in [self.heads[0], self.heads[2]] {
            packed.pack(&self.params, w, Use::AsStored);
            if !self.enc_w.is_empty() {
                packed.pack(&self.params, w, Use::Transposed);
            }
        }
        for &w in &self.dec_w {
            packed.pack(&self.params, w, Use::Transposed);
            packed.pack(&self.params, w, Use::AsStored);
        }
    }

    /// [`loss_and_gradient`](Self::loss_and_gradient) on `ws`, for a
    /// non-empty batch whose shapes are checked.
    pub(super) fn step(
        &self,
        ws: &mut Workspace,
        w: &Weights<'_>,
        x: MatRef<'_>,
        grads: &mut ParamSet,
        seed: u64,
        par: Par,
    ) -> Result<VaeStep> {
        let rows = x.rows();
        ws.ensure(rows, &self.levels);
        copy_rows(&x, &mut ws.fwd.h[0]);
        self.encode_rows(&mut ws.fwd, rows, w, par)?;
        let k = self.config.hidden_layers();
        let z = self.levels[k + 1];
        let n = rows * z;
        self.reparam_and_decode(&mut ws.fwd, Streams::new(seed), (rows, w), par)?;
        let inv_b = 1.0 / rows as f32;
        let recon = self.recon_rows(&mut ws.fwd, rows, Some((&mut ws.dg[0], inv_b)))?;
        let (mu, lv) = (&ws.fwd.mu[..n], &ws.fwd.lv[..n]);
        let (dmu, dlv) = (Some(&mut ws.dmu[..n]), Some(&mut ws.dlv[..n]));
        let kl = kl_normal(mu, lv, rows, z, None, dmu, dlv, inv_b)? as f64;
        self.decoder_backward(ws, w, grads, rows, par)?;
        // Through the sample: ∂z/∂μ = 1, ∂z/∂ln σ² = ½ (z - μ).
        for j in 0..n {
            let dz = ws.dz[j];
            ws.dmu[j] += dz;
            ws.dlv[j] += dz * 0.5 * (ws.fwd.z[j] - ws.fwd.mu[j]);
        }
        self.heads_backward(ws, w, grads, rows, par)?;
        encoder_backward(
            &ws.fwd.h,
            &mut ws.dh,
            &self.levels[..=k],
            &self.config.activations,
            w,
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

    /// Back through the decoder, from the output to `z`: each layer's
    /// weight and bias gradients and the delta below it (ending in `dz`).
    fn decoder_backward(
        &self,
        ws: &mut Workspace,
        w: &Weights<'_>,
        grads: &mut ParamSet,
        rows: usize,
        par: Par,
    ) -> Result<()> {
        let k = self.config.hidden_layers();
        let lv = &self.levels;
        let n = rows * lv[k + 1];
        for i in 0..=k {
            let (n_lo, n_hi) = (lv[i], lv[i + 1]);
            let input: &[f32] = if i == k {
                &ws.fwd.z[..n]
            } else {
                &ws.fwd.g[i + 1][..rows * n_hi]
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
                (w, self.dec_w[i]),
                Stored::OutByIn,
                Accum::Replace,
                two_mut(grads, self.dec_w[i], self.dec_b[i]),
                Some(&mut *target),
                par,
            )?;
            if i < k {
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

    /// The heads' weight and bias gradients from the deltas at `μ` and
    /// `ln σ²`, and (with hidden layers) the delta at the top hidden level,
    /// the sum of both heads' `d · Wᵀ`, into `dh[k]`.
    fn heads_backward(
        &self,
        ws: &mut Workspace,
        w: &Weights<'_>,
        grads: &mut ParamSet,
        rows: usize,
        par: Par,
    ) -> Result<()> {
        let k = self.config.hidden_layers();
        let (hk, z) = (self.levels[k], self.levels[k + 1]);
        let n = rows * z;
        let top = &ws.fwd.h[k][..rows * hk];
        for (wi, bi, d) in [
            (self.heads[0], self.heads[1], &ws.dmu[..n]),
            (self.heads[2], self.heads[3], &ws.dlv[..n]),
        ] {
            matmul(
                MatRef::row_major(top, rows, hk)?.t(),
                w.data(MatRef::row_major(d, rows, z)?),
                Accum::Replace,
                MatMut::row_major(grads.value_mut(wi).as_mut_slice(), hk, z)?,
                par,
            )?;
            col_sums(d, rows, z, grads.value_mut(bi).as_mut_slice(), par)?;
        }
        if k == 0 {
            return Ok(());
        }
        let dtop = &mut ws.dh[k][..rows * hk];
        for (wi, d, accum) in [
            (self.heads[0], &ws.dmu[..n], Accum::Replace),
            (self.heads[2], &ws.dlv[..n], Accum::ADD),
        ] {
            matmul(
                MatRef::row_major(d, rows, z)?,
                w.of(wi, Use::Transposed),
                accum,
                MatMut::row_major(&mut *dtop, rows, hk)?,
                par,
            )?;
        }
        Ok(())
    }
}
