//! Evaluation: the reconstruction error, and the glue to [`crate::eval`]'s
//! exact and AIS partition functions and pseudo-likelihood (refused for
//! the modified RBMs of DBM pretraining, which have no likelihood).

use latent_engine::Matrix;
use latent_kernels::Par;
use latent_kernels::gemm::{MatMut, MatRef};
use latent_kernels::random::Streams;
use latent_kernels::reduce::sq_err;

use super::workspace::{RbmScratch, grown};
use super::{DoubledInput, Rbm, VisibleUnits};
use crate::error::{ModelError, Result};

impl Rbm {
    /// Mean reconstruction error of `x` (MODELS.md 2.4): the mean over rows
    /// of `Σ_i (v_i − p(v_i | H⁰))²` with `H⁰` sampled from `p(h|v)` by the
    /// streams of `seed`, the products in the model's precision.
    pub fn reconstruction_error(&self, x: &Matrix, seed: u64, par: Par) -> Result<f64> {
        let (rows, v_n, h_n) = (x.rows(), self.config.n_visible, self.config.n_hidden);
        self.check_input("Rbm::reconstruction_error", &x.view())?;
        if rows == 0 {
            return Ok(0.0);
        }
        let mut scratch = RbmScratch::default();
        let s = &mut scratch;
        self.sigma_into(&mut s.sigma);
        let (p, h) = (
            grown(&mut s.hidden_p, rows * h_n),
            grown(&mut s.hidden_h, rows * h_n),
        );
        let streams = Streams::new(seed);
        let ops = self.weight_operands();
        let (scaled, sigma) = (&mut s.scaled, &s.sigma[..]);
        self.sample_hidden(x.view(), ops.up, p, h, streams, par, scaled, sigma)?;
        let recon = grown(&mut s.visible, rows * v_n);
        let h = MatRef::row_major(&s.hidden_h[..rows * h_n], rows, h_n)?;
        let recon_view = MatMut::row_major(recon, rows, v_n)?;
        self.visible_means_sigma(h, ops.down, recon_view, par, &s.sigma)?;
        let total = sq_err(
            &s.visible[..rows * v_n],
            x.as_slice(),
            rows,
            v_n,
            None,
            None,
            0.0,
        )?;
        Ok(total as f64 / rows as f64)
    }

    /// Errors for the modified RBMs of DBM pretraining
    /// ([`DoubledInput`]): their conditionals double the weights in one
    /// direction only, so no energy (no joint distribution) has both, and
    /// a free energy, partition function or likelihood of theirs would be
    /// that of another model.
    pub(super) fn check_joint(&self, what: &'static str) -> Result<()> {
        if self.config.doubled == DoubledInput::None {
            return Ok(());
        }
        Err(ModelError::Unsupported {
            what,
            why: format!(
                "this RBM has a doubled {} input (a modified RBM of DBM pretraining), which has no free energy or likelihood of its own; compose the DBM and evaluate that",
                self.config.doubled.name()
            ),
        })
    }

    /// The visible units' standard deviations: `exp(ln σ)` when learned,
    /// all 1 for fixed-variance Gaussian visibles, empty for Bernoulli.
    pub fn sigma(&self) -> Vec<f32> {
        let mut sigma = Vec::new();
        self.sigma_into(&mut sigma);
        sigma
    }

    /// Runs `f` on the parameters as the evaluation routines of
    /// [`crate::eval`] take them (exact `log Z`, AIS, pseudo-likelihood,
    /// f64 free energy): the f32 master parameters, whatever the model's
    /// precision, so these evaluations are f32 (or f64) in any case.
    /// For a modified RBM of DBM pretraining ([`DoubledInput`]) they are
    /// those of the ordinary RBM with the same parameters, not of this
    /// model: the methods below refuse it.
    pub fn with_eval_params<R>(&self, f: impl FnOnce(&crate::eval::RbmParams<'_>) -> R) -> R {
        let (w, b, c) = (
            self.weights().as_slice(),
            self.visible_bias(),
            self.hidden_bias(),
        );
        let sigma = self.sigma();
        let mut params = match self.config.visible {
            VisibleUnits::Bernoulli => crate::eval::RbmParams::bernoulli(w, b, c),
            VisibleUnits::Gaussian => crate::eval::RbmParams::gaussian(w, b, c, &sigma),
        };
        params.hidden = self.config.hidden;
        f(&params)
    }

    /// Exact `ln Z`, summing over the smaller layer (at most 25 units; the
    /// visible layer for linear hiddens, which are integrated).
    pub fn exact_log_z(&self, par: Par) -> Result<f64> {
        self.check_joint("Rbm::exact_log_z")?;
        self.with_eval_params(|p| crate::eval::exact_log_z(p, par))
    }

    /// Exact mean log-likelihood `−mean F(v) − ln Z` of the rows of `x`
    /// (at most 25 units on the smaller side).
    pub fn exact_log_likelihood(&self, x: &Matrix, par: Par) -> Result<f64> {
        self.check_input("Rbm::exact_log_likelihood", &x.view())?;
        self.check_joint("Rbm::exact_log_likelihood")?;
        self.with_eval_params(|p| crate::eval::exact_average_log_likelihood(p, x.as_slice(), par))
    }

    /// Annealed-importance-sampling estimate of `ln Z`, from the base-rate
    /// RBM of the data `x` (MODELS.md 2.4).
    pub fn ais_log_z(
        &self,
        x: &Matrix,
        config: &crate::eval::AisConfig,
        par: Par,
    ) -> Result<crate::eval::AisEstimate> {
        self.check_input("Rbm::ais_log_z", &x.view())?;
        self.check_joint("Rbm::ais_log_z")?;
        self.with_eval_params(|p| {
            let base = crate::eval::base_rate_visible_bias(p, x.as_slice())?;
            crate::eval::ais_log_z(p, &base, config, par)
        })
    }

    /// Mean stochastic pseudo-log-likelihood of the rows of `x` (one random
    /// bit flipped per row, drawn from `seed`; Bernoulli visibles).
    pub fn pseudo_log_likelihood(&self, x: &Matrix, seed: u64, par: Par) -> Result<f64> {
        self.check_input("Rbm::pseudo_log_likelihood", &x.view())?;
        self.check_joint("Rbm::pseudo_log_likelihood")?;
        if x.rows() == 0 {
            return Ok(0.0);
        }
        let mut per_row = vec![0.0f32; x.rows()];
        self.with_eval_params(|p| {
            crate::eval::pseudo_log_likelihood(p, x.as_slice(), seed, &mut per_row, par)
        })?;
        Ok(per_row.iter().map(|&v| v as f64).sum::<f64>() / x.rows() as f64)
    }
}
