//! The forward passes of a dense autoencoder, on the buffers of a
//! [`Levels`] (the training workspace's or a caller's scratch), and the
//! input corruption of a denoising one.

use latent_kernels::Par;
use latent_kernels::activation::{Activation, activate};
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

    /// The forward pass of a training step: [`forward`](Self::forward),
    /// but with code noise ([`CodeNoise`](super::CodeNoise)) the code
    /// layer's pre-activation goes to `code_pre` and row `r` of the code is
    /// `act(code_pre_r + s·ε)`, `ε` the noise of data-set row
    /// `data_rows[r]` (`r` itself without `data_rows`).
    pub(super) fn forward_train(
        &self,
        fwd: &mut Levels,
        code_pre: &mut [f32],
        (rows, data_rows): (usize, Option<&[u32]>),
        w: &Weights<'_>,
        par: Par,
    ) -> Result<()> {
        let Some(noise) = self.config.code_noise else {
            return self.forward(fwd, rows, w, par);
        };
        let l = self.config.depth();
        let h = self.config.sizes[l];
        self.forward_encoder_layers(&mut fwd.h, rows, l - 1, w, par)?;
        let pre = &mut code_pre[..rows * h];
        dense_forward(
            &fwd.h[l - 1],
            rows,
            w.of(self.enc_w[l - 1], Use::AsStored),
            self.params.value(self.enc_c[l - 1]).as_slice(),
            Activation::Identity,
            pre,
            par,
        )?;
        let code = &mut fwd.h[l][..rows * h];
        let streams = code_noise_streams(noise.seed);
        for (r, (p, c)) in pre
            .chunks_exact(h)
            .zip(code.chunks_exact_mut(h))
            .enumerate()
        {
            let row = data_rows.map_or(r as u64, |d| u64::from(d[r]));
            gaussian_noise(streams.rows_from(row), p, c, noise.std, 1, h, Par::Seq)?;
        }
        activate(self.config.activations[l - 1], code, par);
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

/// The streams of the code noise of `seed`: row `i` of them is the noise
/// of data-set row `i`, whatever batch it is in.
pub(super) fn code_noise_streams(seed: u64) -> Streams {
    Streams::new(seed).at_step(0x434F_4445) // "CODE"
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
