//! A VAE's bounds on the log-likelihood of data: the ELBO (mean and per
//! row) and the importance-weighted estimate, batch by batch, each on a
//! caller-kept [`VaeScratch`] (the `_with` forms) or a fresh one.

use latent_engine::Matrix;
use latent_kernels::Par;
use latent_kernels::random::Streams;
use latent_kernels::reduce::kl_normal;

use super::Vae;
use super::workspace::{Levels, VaeScratch};
use crate::ae::util::{bad, check_len, copy_rows, grown};
use crate::error::Result;

impl Vae {
    /// The mean ELBO over the rows of `x` (one `z` sample per row, streams
    /// of `seed`), in batches of at most `batch` rows, with a fresh scratch.
    pub fn elbo(&self, x: &Matrix, batch: usize, seed: u64, par: Par) -> Result<f64> {
        self.elbo_with(x, batch, seed, &mut VaeScratch::new(), par)
    }

    /// [`elbo`](Self::elbo) with the caller's scratch: no allocation once it
    /// has held `batch` rows.
    pub fn elbo_with(
        &self,
        x: &Matrix,
        batch: usize,
        seed: u64,
        scratch: &mut VaeScratch,
        par: Par,
    ) -> Result<f64> {
        self.elbo_impl(x, batch, seed, None, &mut scratch.fwd, par)
    }

    /// The ELBO of each row of `x` into `out` (`rows`), with the same `z`
    /// samples as [`elbo`](Self::elbo) for the same `seed` and `batch`;
    /// returns the mean. `-out` is a per-sample anomaly score. Uses a fresh
    /// scratch.
    pub fn elbo_rows(
        &self,
        x: &Matrix,
        batch: usize,
        seed: u64,
        out: &mut [f32],
        par: Par,
    ) -> Result<f64> {
        self.elbo_rows_with(x, batch, seed, out, &mut VaeScratch::new(), par)
    }

    /// [`elbo_rows`](Self::elbo_rows) with the caller's scratch: no
    /// allocation once it has held `batch` rows.
    pub fn elbo_rows_with(
        &self,
        x: &Matrix,
        batch: usize,
        seed: u64,
        out: &mut [f32],
        scratch: &mut VaeScratch,
        par: Par,
    ) -> Result<f64> {
        check_len("Vae::elbo_rows: out (one per row)", out.len(), x.rows())?;
        self.elbo_impl(x, batch, seed, Some(out), &mut scratch.fwd, par)
    }

    /// The mean ELBO, and each row's into `rows_out` if given.
    fn elbo_impl(
        &self,
        x: &Matrix,
        batch: usize,
        seed: u64,
        mut rows_out: Option<&mut [f32]>,
        fwd: &mut Levels,
        par: Par,
    ) -> Result<f64> {
        let mut total = 0.0;
        let w = self.weights();
        self.for_batches(x, batch, fwd, par, |fwd, start, rows| {
            let z = self.config.latent;
            let n = rows * z;
            let streams = Streams::new(seed).at_step(start as u64);
            self.reparam_and_decode(fwd, streams, (rows, &w), par)?;
            let recon = self.recon_rows(fwd, rows, None)?;
            let row_kl = Some(&mut fwd.row_b[..rows]);
            let kl = kl_normal(&fwd.mu[..n], &fwd.lv[..n], rows, z, row_kl, None, None, 0.0)?;
            if let Some(out) = rows_out.as_deref_mut() {
                for (r, o) in out[start..start + rows].iter_mut().enumerate() {
                    *o = -(fwd.row_a[r] + fwd.row_b[r]);
                }
            }
            total -= recon + kl as f64;
            Ok(())
        })?;
        Ok(total / x.rows().max(1) as f64)
    }

    /// The importance-weighted estimate of the mean `ln p(x)` over the rows
    /// of `x` with `k` samples per row (Burda et al.):
    /// `ln (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x)`, `z_k ~ q(z|x)`. A lower
    /// bound that tightens as `k` grows (`k = 1` is the ELBO in
    /// expectation). Uses a fresh scratch.
    pub fn log_likelihood_iw(
        &self,
        x: &Matrix,
        k: usize,
        batch: usize,
        seed: u64,
        par: Par,
    ) -> Result<f64> {
        self.log_likelihood_iw_with(x, k, batch, seed, &mut VaeScratch::new(), par)
    }

    /// [`log_likelihood_iw`](Self::log_likelihood_iw) with the caller's
    /// scratch (which also holds the `k x batch` log-weights): no allocation
    /// once it has held `batch` rows and `k` samples.
    pub fn log_likelihood_iw_with(
        &self,
        x: &Matrix,
        k: usize,
        batch: usize,
        seed: u64,
        scratch: &mut VaeScratch,
        par: Par,
    ) -> Result<f64> {
        if k == 0 {
            return bad("log_likelihood_iw: k", "0".into(), "at least 1 sample");
        }
        let mut total = 0.0;
        let logw = grown(&mut scratch.logw, k * batch.max(1));
        let w = self.weights();
        self.for_batches(x, batch, &mut scratch.fwd, par, |fwd, start, rows| {
            for s in 0..k {
                let streams = Streams::new(seed).at_step((start as u64) << 20 | s as u64);
                self.reparam_and_decode(fwd, streams, (rows, &w), par)?;
                self.recon_rows(fwd, rows, None)?;
                self.log_weights(fwd, rows, &mut logw[s * batch..s * batch + rows]);
            }
            for r in 0..rows {
                total += log_mean_exp((0..k).map(|s| logw[s * batch + r]), k);
            }
            Ok(())
        })?;
        Ok(total / x.rows().max(1) as f64)
    }

    /// The importance log-weight `ln p(x|z) + ln p(z) - ln q(z|x)` of each
    /// of `rows` rows, for the sample in `fwd` (after
    /// [`recon_rows`](Self::recon_rows)), into `out`.
    fn log_weights(&self, fwd: &Levels, rows: usize, out: &mut [f64]) {
        let z = self.config.latent;
        for (r, o) in out.iter_mut().enumerate().take(rows) {
            let mut lw = -(fwd.row_a[r] as f64);
            for j in r * z..(r + 1) * z {
                let (zz, e, l) = (fwd.z[j] as f64, fwd.eps[j] as f64, fwd.lv[j] as f64);
                // ln p(z) - ln q(z|x); the ½ ln 2π terms cancel.
                lw += -0.5 * zz * zz + 0.5 * e * e + 0.5 * l;
            }
            *o = lw;
        }
    }

    /// Runs the encoder on each batch of at most `batch` rows of `x` (in
    /// `fwd`) and calls `f(fwd, start, rows)`.
    fn for_batches(
        &self,
        x: &Matrix,
        batch: usize,
        fwd: &mut Levels,
        par: Par,
        mut f: impl FnMut(&mut Levels, usize, usize) -> Result<()>,
    ) -> Result<()> {
        if batch == 0 {
            return bad("Vae: batch", "0".into(), "at least 1");
        }
        check_len("Vae: columns of the data", x.cols(), self.levels[0])?;
        let mut start = 0;
        while start < x.rows() {
            let rows = batch.min(x.rows() - start);
            fwd.ensure(rows, &self.levels);
            copy_rows(&x.rows_view(start, rows)?, &mut fwd.h[0]);
            self.encode_rows(fwd, rows, &self.weights(), par)?;
            f(fwd, start, rows)?;
            start += rows;
        }
        Ok(())
    }
}

/// `ln (1/k) Σ_s e^{w_s}` of the `k` log-weights `w`, computed from their
/// maximum (no overflow).
fn log_mean_exp(w: impl Iterator<Item = f64> + Clone, k: usize) -> f64 {
    let m = w.clone().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = w.map(|lw| (lw - m).exp()).sum();
    m + (sum / k as f64).ln()
}
