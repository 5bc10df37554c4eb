//! A trained dense autoencoder applied to data: codes, reconstructions and
//! per-row reconstruction errors (no noise, no penalty), each on a
//! caller-kept [`AeScratch`] (the `_with` forms) or a fresh one.

use latent_engine::Matrix;
use latent_kernels::Par;
use latent_kernels::activation::{Activation, BiasActivation, activate};
use latent_kernels::gemm::{Accum, MatMut, MatRef, product};

use crate::ae::operands::Use;
use latent_kernels::reduce::{bce_logits, sq_err};

use super::Autoencoder;
use super::config::Loss;
use super::workspace::AeScratch;
use crate::ae::util::{bad, check_len, copy_rows, write_rows};
use crate::error::Result;

impl Autoencoder {
    /// The codes `h_L` of the rows of `x` into `out` (`rows x H_L`, any
    /// layout), with a fresh scratch (see [`encode_with`](Self::encode_with)).
    pub fn encode(&self, x: MatRef<'_>, out: MatMut<'_>, par: Par) -> Result<()> {
        self.encode_with(x, out, &mut AeScratch::new(), par)
    }

    /// [`encode`](Self::encode) with the caller's scratch: no allocation
    /// once it has held a batch this large (a one-layer model uses none).
    pub fn encode_with(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut AeScratch,
        par: Par,
    ) -> Result<()> {
        self.check_input("Autoencoder::encode", &x)?;
        check_len("Autoencoder::encode: rows of out", out.rows(), x.rows())?;
        check_len(
            "Autoencoder::encode: columns of out (code size)",
            out.cols(),
            self.code_size(),
        )?;
        let rows = x.rows();
        if rows == 0 {
            return Ok(());
        }
        let top = self.config.depth() - 1;
        let weights = self.weights();
        let epilogue = BiasActivation::new(
            self.params.value(self.enc_c[top]).as_slice(),
            self.config.activations[top],
        );
        let w = weights.of(self.enc_w[top], Use::AsStored);
        if top == 0 {
            product(1.0, x, w, Accum::Replace, out, &epilogue, par)?;
            return Ok(());
        }
        scratch
            .fwd
            .ensure_encoder(rows, &self.config.sizes[..top + 1]);
        let h = &mut scratch.fwd.h;
        copy_rows(&x, &mut h[0]);
        self.forward_encoder_layers(h, rows, top, &weights, par)?;
        let n = self.config.sizes[top];
        let below = MatRef::row_major(&h[top][..rows * n], rows, n)?;
        product(1.0, below, w, Accum::Replace, out, &epilogue, par)?;
        Ok(())
    }

    /// Reconstructions `x̂ = g(f(x))` (no noise) of the rows of `x` into
    /// `out` (`rows x V`, any layout), with the output activation applied
    /// (sigmoid probabilities for cross-entropy), with a fresh scratch.
    pub fn reconstruct(&self, x: MatRef<'_>, out: MatMut<'_>, par: Par) -> Result<()> {
        self.reconstruct_with(x, out, &mut AeScratch::new(), par)
    }

    /// [`reconstruct`](Self::reconstruct) with the caller's scratch: no
    /// allocation once it has held a batch this large.
    pub fn reconstruct_with(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut AeScratch,
        par: Par,
    ) -> Result<()> {
        self.check_input("Autoencoder::reconstruct", &x)?;
        let (rows, v) = (x.rows(), self.n_visible());
        check_len("Autoencoder::reconstruct: rows of out", out.rows(), rows)?;
        check_len(
            "Autoencoder::reconstruct: columns of out (V)",
            out.cols(),
            v,
        )?;
        if rows == 0 {
            return Ok(());
        }
        self.forward_rows(x, scratch, par)?;
        let recon = &mut scratch.fwd.g[0][..rows * v];
        if self.config.loss == Loss::CrossEntropy {
            activate(Activation::Sigmoid, recon, par);
        }
        write_rows(recon, out);
        Ok(())
    }

    /// The reconstruction loss of each row of `x` (no noise, no penalty)
    /// into `out` (`rows`), the anomaly score of MODELS.md 5, with a fresh
    /// scratch. Returns the mean.
    pub fn reconstruction_errors(&self, x: MatRef<'_>, out: &mut [f32], par: Par) -> Result<f64> {
        self.reconstruction_errors_with(x, out, &mut AeScratch::new(), par)
    }

    /// [`reconstruction_errors`](Self::reconstruction_errors) with the
    /// caller's scratch: no allocation once it has held a batch this large.
    pub fn reconstruction_errors_with(
        &self,
        x: MatRef<'_>,
        out: &mut [f32],
        scratch: &mut AeScratch,
        par: Par,
    ) -> Result<f64> {
        self.check_input("Autoencoder::reconstruction_errors", &x)?;
        let (rows, v) = (x.rows(), self.n_visible());
        check_len(
            "Autoencoder::reconstruction_errors: out (one per row)",
            out.len(),
            rows,
        )?;
        if rows == 0 {
            return Ok(0.0);
        }
        self.forward_rows(x, scratch, par)?;
        // h[0] is the clean input: inference adds no noise.
        let (recon, x) = (&scratch.fwd.g[0][..rows * v], &scratch.fwd.h[0][..rows * v]);
        let total = match self.config.loss {
            Loss::SquaredError => {
                let t = sq_err(recon, x, rows, v, Some(&mut *out), None, 0.0)?;
                out.iter_mut().for_each(|e| *e *= 0.5);
                0.5 * t as f64
            }
            Loss::CrossEntropy => bce_logits(recon, x, rows, v, Some(out), None, 0.0)? as f64,
        };
        Ok(total / rows as f64)
    }

    /// The mean reconstruction loss over the rows of `x`, in batches of at
    /// most `batch` rows (no noise, no penalty), with a fresh scratch.
    pub fn mean_reconstruction_error(&self, x: &Matrix, batch: usize, par: Par) -> Result<f64> {
        self.mean_reconstruction_error_with(x, batch, &mut AeScratch::new(), par)
    }

    /// [`mean_reconstruction_error`](Self::mean_reconstruction_error) with
    /// the caller's scratch: no allocation once it has held `batch` rows.
    pub fn mean_reconstruction_error_with(
        &self,
        x: &Matrix,
        batch: usize,
        scratch: &mut AeScratch,
        par: Par,
    ) -> Result<f64> {
        if batch == 0 {
            return bad("mean_reconstruction_error: batch", "0".into(), "at least 1");
        }
        let mut errs = scratch.take_errs(batch.min(x.rows()));
        let total = self.sum_batch_errors(x, batch, &mut errs, scratch, par);
        scratch.put_errs(errs);
        Ok(if x.rows() == 0 {
            0.0
        } else {
            total? / x.rows() as f64
        })
    }

    /// The summed reconstruction loss of the rows of `x`, batch by batch,
    /// the per-row losses of each batch in `errs`.
    fn sum_batch_errors(
        &self,
        x: &Matrix,
        batch: usize,
        errs: &mut [f32],
        scratch: &mut AeScratch,
        par: Par,
    ) -> Result<f64> {
        let mut total = 0.0;
        let mut start = 0;
        while start < x.rows() {
            let n = batch.min(x.rows() - start);
            let view = x.rows_view(start, n)?;
            let m = self.reconstruction_errors_with(view, &mut errs[..n], scratch, par)?;
            total += m * n as f64;
            start += n;
        }
        Ok(total)
    }

    /// Copies the rows of `x` into the scratch's input level and runs the
    /// encoder and the decoder (`fwd.g[0]` ends as the output
    /// pre-activation).
    fn forward_rows(&self, x: MatRef<'_>, scratch: &mut AeScratch, par: Par) -> Result<()> {
        scratch.fwd.ensure(x.rows(), &self.config.sizes);
        copy_rows(&x, &mut scratch.fwd.h[0]);
        self.forward(&mut scratch.fwd, x.rows(), &self.weights(), par)
    }
}
