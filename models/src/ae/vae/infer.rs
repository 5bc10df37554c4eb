//! A trained VAE applied to data: posterior means, decoded codes,
//! reconstructions and samples from the prior, each on a caller-kept
//! [`VaeScratch`] (the `_with` forms) or a fresh one.

use latent_engine::Matrix;
use latent_kernels::Par;
use latent_kernels::gemm::{MatMut, MatRef};
use latent_kernels::random::{Scale, Streams, gaussian};

use super::Vae;
use super::workspace::VaeScratch;
use crate::ae::util::{check_len, copy_rows, grown, write_rows};
use crate::error::Result;

impl Vae {
    /// The posterior means `μ(x)` of the rows of `x` into `out` (`rows x Z`,
    /// any layout), with a fresh scratch.
    pub fn encode(&self, x: MatRef<'_>, out: MatMut<'_>, par: Par) -> Result<()> {
        self.encode_with(x, out, &mut VaeScratch::new(), par)
    }

    /// [`encode`](Self::encode) with the caller's scratch: no allocation
    /// once it has held a batch this large.
    pub fn encode_with(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut VaeScratch,
        par: Par,
    ) -> Result<()> {
        self.check_input("Vae::encode", &x)?;
        let (rows, z) = (x.rows(), self.config.latent);
        check_len("Vae::encode: rows of out", out.rows(), rows)?;
        check_len("Vae::encode: columns of out (Z)", out.cols(), z)?;
        if rows == 0 {
            return Ok(());
        }
        let fwd = &mut scratch.fwd;
        fwd.ensure(rows, &self.levels);
        copy_rows(&x, &mut fwd.h[0]);
        self.encode_rows(fwd, rows, &self.weights(), par)?;
        write_rows(&fwd.mu[..rows * z], out);
        Ok(())
    }

    /// Decodes the latent codes `z` (`rows x Z`) into `out` (`rows x V`, any
    /// layout): the output means, Bernoulli probabilities or Gaussian means;
    /// with a fresh scratch.
    pub fn decode(&self, z: MatRef<'_>, out: MatMut<'_>, par: Par) -> Result<()> {
        self.decode_with(z, out, &mut VaeScratch::new(), par)
    }

    /// [`decode`](Self::decode) with the caller's scratch: no allocation
    /// once it has held a batch this large.
    pub fn decode_with(
        &self,
        z: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut VaeScratch,
        par: Par,
    ) -> Result<()> {
        let (rows, v) = (z.rows(), self.levels[0]);
        check_len(
            "Vae::decode: columns of z (latent)",
            z.cols(),
            self.config.latent,
        )?;
        check_len("Vae::decode: rows of out", out.rows(), rows)?;
        check_len("Vae::decode: columns of out (V)", out.cols(), v)?;
        if rows == 0 {
            return Ok(());
        }
        let fwd = &mut scratch.fwd;
        fwd.ensure(rows, &self.levels);
        copy_rows(&z, &mut fwd.z);
        self.means_into(fwd, rows, out, par)
    }

    /// The deterministic reconstructions of the rows of `x` into `out`
    /// (`rows x V`, any layout): the decoder's output means at the posterior
    /// mean, `E[x | z = μ(x)]`; with a fresh scratch.
    pub fn reconstruct(&self, x: MatRef<'_>, out: MatMut<'_>, par: Par) -> Result<()> {
        self.reconstruct_with(x, out, &mut VaeScratch::new(), par)
    }

    /// [`reconstruct`](Self::reconstruct) with the caller's scratch: no
    /// allocation once it has held a batch this large.
    pub fn reconstruct_with(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut VaeScratch,
        par: Par,
    ) -> Result<()> {
        self.check_input("Vae::reconstruct", &x)?;
        let (rows, z, v) = (x.rows(), self.config.latent, self.levels[0]);
        check_len("Vae::reconstruct: rows of out", out.rows(), rows)?;
        check_len("Vae::reconstruct: columns of out (V)", out.cols(), v)?;
        if rows == 0 {
            return Ok(());
        }
        let fwd = &mut scratch.fwd;
        fwd.ensure(rows, &self.levels);
        copy_rows(&x, &mut fwd.h[0]);
        self.encode_rows(fwd, rows, &self.weights(), par)?;
        fwd.z[..rows * z].copy_from_slice(&fwd.mu[..rows * z]);
        self.means_into(fwd, rows, out, par)
    }

    /// Decodes `n` draws `z ~ N(0, I)` (streams of `seed`) into a new
    /// `n x V` matrix of output means (Bernoulli probabilities or Gaussian
    /// means), with a fresh scratch.
    pub fn sample(&self, n: usize, seed: u64, par: Par) -> Result<Matrix> {
        let mut out = Matrix::zeros(n, self.levels[0])?;
        self.sample_with(n, seed, out.view_mut(), &mut VaeScratch::new(), par)?;
        Ok(out)
    }

    /// [`sample`](Self::sample) into `out` (`n x V`, any layout) with the
    /// caller's scratch: no allocation once it has held `n` rows.
    pub fn sample_with(
        &self,
        n: usize,
        seed: u64,
        out: MatMut<'_>,
        scratch: &mut VaeScratch,
        par: Par,
    ) -> Result<()> {
        let (v, z) = (self.levels[0], self.config.latent);
        check_len("Vae::sample: rows of out (n)", out.rows(), n)?;
        check_len("Vae::sample: columns of out (V)", out.cols(), v)?;
        if n == 0 {
            return Ok(());
        }
        let fwd = &mut scratch.fwd;
        fwd.ensure(n, &self.levels);
        let zeros = grown(&mut scratch.zeros, n * z);
        let (streams, prior) = (Streams::new(seed), Scale::Scalar(1.0));
        gaussian(streams, zeros, prior, &mut fwd.z[..n * z], n, z, par)?;
        self.means_into(fwd, n, out, par)
    }
}
