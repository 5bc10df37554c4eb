//! The forward passes of a dense autoencoder, on the buffers of a
//! [`Levels`] (the training workspace's or a caller's scratch), and the
//! input corruption of a denoising one.

use latent_kernels::Par;
use latent_kernels::activation::Activation;
use latent_kernels::random::{Streams, gaussian_noise, mask_noise, salt_pepper};

use super::Autoencoder;
use super::config::Noise;
use super::workspace::Levels;
use crate::ae::operands::{Use, Weights};
use crate::ae::util::dense_forward;
use crate::error::Result;

impl Autoencoder {
    /// The right operands of the model's products outside a training step:
    /// its weights in its precision (bf16 products round and pack them).
    pub(super) fn weights(&self) -> Weights<'_> {
        Weights::new(&self.params, self.precision, None)
    }

    /// Runs encoder layers `0..layers` on the first `rows` rows of `h[0]`
    /// (already filled), each writing the level above it, with the weights
    /// of `w`.
    pub(super) fn forward_encoder_layers(
        &self,
        h: &mut [Vec<f32>],
        rows: usize,
        layers: usize,
        w: &Weights<'_>,
        par: Par,
    ) -> Result<()> {
        for i in 0..layers {
            let (lo, hi) = h.split_at_mut(i + 1);
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
        Ok(())
    }

    /// Runs the whole encoder and then the decoder on `fwd.h[0]` (already
    /// filled) for `rows` rows; `fwd.g[0]` ends as the output
    /// pre-activation (cross-entropy) or the reconstruction (squared error).
    pub(super) fn forward(
        &self,
        fwd: &mut Levels,
        rows: usize,
        w: &Weights<'_>,
        par: Par,
    ) -> Result<()> {
        self.forward_encoder_layers(&mut fwd.h, rows, self.config.depth(), w, par)?;
        self.forward_decoder(fwd, rows, w, par)
    }

    /// Runs the decoder from `fwd.h[L]` down to `fwd.g[0]`.
    fn forward_decoder(
        &self,
        fwd: &mut Levels,
        rows: usize,
        w: &Weights<'_>,
        par: Par,
    ) -> Result<()> {
        let s = &self.config.sizes;
        let l = self.config.depth();
        for i in (0..l).rev() {
            let act = if i == 0 {
                Activation::Identity
            } else {
                self.config.activations[i - 1]
            };
            let (glo, ghi) = fwd.g.split_at_mut(i + 1);
            let input = if i + 1 == l {
                &fwd.h[l][..rows * s[l]]
            } else {
                &ghi[0][..rows * s[i + 1]]
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
}

/// `out = C(x)` for the configured noise, from `streams`.
pub(super) fn apply_noise(
    noise: Noise,
    streams: Streams,
    x: &[f32],
    out: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<()> {
    match noise {
        Noise::None => out.copy_from_slice(x),
        Noise::Mask { nu } => mask_noise(streams, x, out, nu, rows, cols, par)?,
        Noise::Gaussian { std } => gaussian_noise(streams, x, out, std, rows, cols, par)?,
        Noise::SaltPepper { nu, lo, hi } => {
            salt_pepper(streams, x, out, nu, lo, hi, rows, cols, par)?
        }
    }
    Ok(())
}
