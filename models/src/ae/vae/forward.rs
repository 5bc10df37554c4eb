//! The forward passes of a VAE on the buffers of a [`Levels`] (the training
//! workspace's or a caller's scratch): the encoder to `μ` and `ln σ²`, the
//! reparameterised sample, the decoder, and `-ln p(x|z)` per row.

use latent_kernels::Par;
use latent_kernels::activation::{Activation, activate};
use latent_kernels::gemm::{Accum, BiasAdd, MatMut, MatRef, product};
use latent_kernels::random::{Streams, gaussian_reparam};
use latent_kernels::reduce::{bce_logits, sq_err};

use super::Vae;
use super::config::VaeOutput;
use super::workspace::Levels;
use crate::ae::operands::{Use, Weights};
use crate::ae::util::{dense_forward, write_rows};
use crate::error::Result;

/// `ln 2π`.
const LN_2PI: f64 = 1.837_877_066_409_345_5;

impl Vae {
    /// The right operands of the model's products outside a training step:
    /// its weights in its precision (bf16 products round and pack them).
    pub(super) fn weights(&self) -> Weights<'_> {
        Weights::new(&self.params, self.precision, None)
    }

    /// The encoder on `fwd.h[0]` (already filled): the hidden levels, then
    /// `μ` and `ln σ²` into `fwd.mu` and `fwd.lv`, with the weights of `w`.
    pub(super) fn encode_rows(
        &self,
        fwd: &mut Levels,
        rows: usize,
        w: &Weights<'_>,
        par: Par,
    ) -> Result<()> {
        let k = self.config.hidden_layers();
        for i in 0..k {
            let (lo, hi) = fwd.h.split_at_mut(i + 1);
            dense_forward(
                &lo[i],
                rows,
                w.of(self.enc_w[i], Use::AsStored),
                self.params.value(self.enc_c[i]).as_slice(),
                self.config.activations[i],
                &mut hi[0],
                par,
            )?;
        }
        let (hk, z) = (self.levels[k], self.levels[k + 1]);
        let top = MatRef::row_major(&fwd.h[k][..rows * hk], rows, hk)?;
        for (wi, b, out) in [
            (self.heads[0], self.heads[1], &mut fwd.mu),
            (self.heads[2], self.heads[3], &mut fwd.lv),
        ] {
            product(
                1.0,
                top,
                w.of(wi, Use::AsStored),
                Accum::Replace,
                MatMut::row_major(&mut out[..rows * z], rows, z)?,
                &BiasAdd::new(self.params.value(b).as_slice()),
                par,
            )?;
        }
        Ok(())
    }

    /// `z = μ + σ·ε` from `fwd.mu` and `fwd.lv` with `ε` drawn from
    /// `streams` (kept in `fwd.eps`), then the decoder from `z`.
    pub(super) fn reparam_and_decode(
        &self,
        fwd: &mut Levels,
        streams: Streams,
        (rows, w): (usize, &Weights<'_>),
        par: Par,
    ) -> Result<()> {
        let z = self.config.latent;
        let n = rows * z;
        gaussian_reparam(
            streams,
            &fwd.mu[..n],
            &fwd.lv[..n],
            &mut fwd.z[..n],
            &mut fwd.eps[..n],
            rows,
            z,
            par,
        )?;
        self.decode_rows(fwd, rows, w, par)
    }

    /// The decoder from `fwd.z`; `fwd.g[0]` ends as the logits or means
    /// (pre-activation).
    pub(super) fn decode_rows(
        &self,
        fwd: &mut Levels,
        rows: usize,
        w: &Weights<'_>,
        par: Par,
    ) -> Result<()> {
        let k = self.config.hidden_layers();
        let lv = &self.levels;
        for i in (0..=k).rev() {
            let act = if i == 0 {
                Activation::Identity
            } else {
                self.config.activations[i - 1]
            };
            let (glo, ghi) = fwd.g.split_at_mut(i + 1);
            let input: &[f32] = if i == k {
                &fwd.z[..rows * lv[k + 1]]
            } else {
                &ghi[0][..rows * lv[i + 1]]
            };
            dense_forward(
                input,
                rows,
                w.of(self.dec_w[i], Use::Transposed),
                self.params.value(self.dec_b[i]).as_slice(),
                act,
                &mut glo[i],
                par,
            )?;
        }
        Ok(())
    }

    /// Decodes `fwd.z` and writes the output means of its `rows` rows
    /// (Bernoulli probabilities or Gaussian means) to `out` (any layout).
    pub(super) fn means_into(
        &self,
        fwd: &mut Levels,
        rows: usize,
        out: MatMut<'_>,
        par: Par,
    ) -> Result<()> {
        let v = self.levels[0];
        self.decode_rows(fwd, rows, &self.weights(), par)?;
        let means = &mut fwd.g[0][..rows * v];
        if self.config.output == VaeOutput::Bernoulli {
            activate(Activation::Sigmoid, means, par);
        }
        write_rows(means, out);
        Ok(())
    }

    /// `-ln p(x|z)` per row into `fwd.row_a` (and, with `grad = (buffer,
    /// scale)`, its gradient at the output pre-activation times `scale`);
    /// returns the sum. `fwd.h[0]` holds `x`, `fwd.g[0]` the decoder's
    /// output.
    pub(super) fn recon_rows(
        &self,
        fwd: &mut Levels,
        rows: usize,
        grad: Option<(&mut [f32], f32)>,
    ) -> Result<f64> {
        let v = self.levels[0];
        let (x, a) = (&fwd.h[0][..rows * v], &fwd.g[0][..rows * v]);
        let (grad, scale) = match grad {
            Some((g, s)) => (Some(&mut g[..rows * v]), s),
            None => (None, 0.0),
        };
        let row = &mut fwd.row_a[..rows];
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
}
