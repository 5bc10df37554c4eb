//! One inference interface for every model: [`Inference`], implemented by
//! [`Rbm`](crate::rbm::Rbm), [`Dbn`](crate::dbn::Dbn), [`Dbm`](crate::dbm::Dbm),
//! [`Autoencoder`](crate::ae::Autoencoder), [`Vae`](crate::ae::Vae) and
//! [`AnyModel`] (any of them, as a model file holds it).
//!
//! One scratch convention: methods take `&self` and a workspace the caller
//! keeps ([`Inference::Scratch`]); it grows to the largest input seen and is
//! reused, so calling them batch after batch allocates nothing once warm.
//! The provided methods without a scratch ([`features`](Inference::features),
//! [`reconstructions`](Inference::reconstructions), …) make a fresh one and
//! return new matrices.

mod ae;
mod any;
mod classifier;
mod dbn;
mod evaluate;
mod evaluate_dbm;
mod evaluate_dbn;
mod rbm;

pub use any::{AnyModel, AnyScratch};
pub use dbn::DbnScratch;
pub use evaluate::{AisOptions, AisResult, EvalOptions, Evaluation};
pub use evaluate_dbm::{DBM_EXACT_ROW_UNITS, DBM_EXACT_UNITS, DbmAis, DbmEvaluation, DbmExact};
pub use evaluate_dbn::DbnBoundResult;

use latent_engine::Matrix;
use latent_kernels::gemm::{MatMut, MatRef};
use latent_kernels::{Par, Precision};

use crate::error::{ModelError, Result};

/// A model whose matrix products run in a chosen [`Precision`]: every
/// kind, and a training run sets it from its settings.
pub trait WithPrecision {
    /// The precision of the model's matrix products.
    fn precision(&self) -> Precision;
    /// Sets the precision of the model's matrix products.
    fn set_precision(&mut self, precision: Precision);
}

/// [`WithPrecision`] by the types' own methods of the same names.
macro_rules! with_precision {
    ($($ty:ty),*) => {$(
        impl WithPrecision for $ty {
            fn precision(&self) -> Precision {
                <$ty>::precision(self)
            }
            fn set_precision(&mut self, precision: Precision) {
                <$ty>::set_precision(self, precision)
            }
        }
    )*};
}

with_precision!(
    crate::rbm::Rbm,
    crate::dbn::Dbn,
    crate::dbm::Dbm,
    crate::ae::Autoencoder,
    crate::ae::Vae,
    AnyModel,
    crate::psd::Psd,
    crate::ae::Classifier
);

/// Rows per block when an autoencoder or a VAE runs over many rows: their
/// workspaces hold a block, not the whole input.
pub const BLOCK: usize = 1000;

/// A per-sample score (an anomaly score: higher means less like the
/// training data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Score {
    /// Free energy `F(v)` (RBMs).
    FreeEnergy,
    /// Reconstruction error: an autoencoder's own loss (cross-entropy or
    /// ½ squared error); for the others the squared error `Σ_k (x_k − x̂_k)²`
    /// of the mean reconstruction.
    Reconstruction,
    /// Negative ELBO with one latent sample per row (VAEs).
    NegElbo,
    /// The PSD energy `½‖x − z*D‖² + λ‖z*‖₁ + α‖z* − F(x)‖²` at the exact
    /// codes `z*` (PSD models).
    Energy,
}

impl Score {
    /// The name `latent score --metric` takes.
    pub fn name(self) -> &'static str {
        match self {
            Score::FreeEnergy => "free-energy",
            Score::Reconstruction => "recon",
            Score::NegElbo => "neg-elbo",
            Score::Energy => "energy",
        }
    }
}

/// What [`Inference::sample_into`] draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleRequest {
    /// Gibbs steps per chain (RBMs and DBNs; a VAE decodes `z ~ N(0, I)`
    /// directly).
    pub steps: usize,
    /// Seed of the chains or of `z`.
    pub seed: u64,
}

/// Inference with a trained model.
pub trait Inference {
    /// The caller-kept workspace.
    type Scratch: Default + Send + std::fmt::Debug;

    /// Visible units: the columns the data must have.
    fn n_visible(&self) -> usize;

    /// Columns of [`encode_into`](Inference::encode_into)'s output.
    fn n_features(&self) -> usize;

    /// The features of the rows of `x` into `out` (`rows x n_features`):
    /// `p(h|v)` for an RBM, the up-pass for a DBN, the code for an
    /// autoencoder, the posterior mean for a VAE.
    fn encode_into(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut Self::Scratch,
        par: Par,
    ) -> Result<()>;

    /// Deterministic reconstructions of the rows of `x` into `out` (`rows x
    /// V`): mean-field for an RBM (a DBN goes up to the top and back down),
    /// `g(f(x))` for an autoencoder, the decoder's mean at `μ(x)` for a VAE.
    fn reconstruct_into(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut Self::Scratch,
        par: Par,
    ) -> Result<()>;

    /// The scores this model computes; the first is its default.
    fn supported_scores(&self) -> &'static [Score];

    /// The per-sample score `score` of the rows of `x` into `out` (`rows`);
    /// `seed` drives stochastic scores (the VAE's latent samples). A score
    /// the model does not support is an error.
    fn score_into(
        &self,
        x: MatRef<'_>,
        score: Score,
        seed: u64,
        out: &mut [f32],
        scratch: &mut Self::Scratch,
        par: Par,
    ) -> Result<()>;

    /// Whether the model has a prior to draw samples from (an autoencoder
    /// does not).
    fn can_sample(&self) -> bool {
        false
    }

    /// `out.rows()` samples into `out` (`n x V`, visible means).
    fn sample_into(
        &self,
        request: SampleRequest,
        out: MatMut<'_>,
        scratch: &mut Self::Scratch,
        par: Par,
    ) -> Result<()> {
        let _ = (request, out, scratch, par);
        Err(ModelError::Unsupported {
            what: "sampling",
            why: "this model has no prior over its codes to sample from".into(),
        })
    }

    /// [`encode_into`](Inference::encode_into) into a new matrix.
    fn features(&self, x: &Matrix, par: Par) -> Result<Matrix> {
        let mut out = Matrix::zeros(x.rows(), self.n_features())?;
        self.encode_into(x.view(), out.view_mut(), &mut Default::default(), par)?;
        Ok(out)
    }

    /// [`reconstruct_into`](Inference::reconstruct_into) into a new matrix.
    fn reconstructions(&self, x: &Matrix, par: Par) -> Result<Matrix> {
        let mut out = Matrix::zeros(x.rows(), self.n_visible())?;
        self.reconstruct_into(x.view(), out.view_mut(), &mut Default::default(), par)?;
        Ok(out)
    }

    /// [`score_into`](Inference::score_into) into a new vector.
    fn scores(&self, x: &Matrix, score: Score, seed: u64, par: Par) -> Result<Vec<f32>> {
        let mut out = vec![0.0; x.rows()];
        self.score_into(
            x.view(),
            score,
            seed,
            &mut out,
            &mut Default::default(),
            par,
        )?;
        Ok(out)
    }

    /// [`sample_into`](Inference::sample_into) of `n` samples into a new
    /// matrix.
    fn samples(&self, n: usize, request: SampleRequest, par: Par) -> Result<Matrix> {
        let mut out = Matrix::zeros(n, self.n_visible())?;
        self.sample_into(request, out.view_mut(), &mut Default::default(), par)?;
        Ok(out)
    }
}

/// The squared error `Σ_k (x_k − r_k)²` of each row into `out`.
pub fn row_squared_errors(x: MatRef<'_>, r: MatRef<'_>, out: &mut [f32]) -> Result<()> {
    check_rows("row_squared_errors: rows of r", r.rows(), x.rows())?;
    check_rows("row_squared_errors: columns of r", r.cols(), x.cols())?;
    check_rows("row_squared_errors: out", out.len(), x.rows())?;
    for (i, o) in out.iter_mut().enumerate() {
        *o = (0..x.cols())
            .map(|j| {
                let d = x.get(i, j).unwrap_or(0.0) - r.get(i, j).unwrap_or(0.0);
                d * d
            })
            .sum();
    }
    Ok(())
}

/// The first `len` floats of `buf`, growing it (zero-filled) when shorter.
pub(crate) fn grow(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

/// [`Score::Reconstruction`] as the squared error of each row of `x`
/// against `model`'s reconstruction, built in the scratch's buffer that
/// `recon` names (taken out while `model` uses the rest of the scratch).
pub(crate) fn squared_error_scores<M: Inference>(
    model: &M,
    x: MatRef<'_>,
    out: &mut [f32],
    scratch: &mut M::Scratch,
    recon: fn(&mut M::Scratch) -> &mut Vec<f32>,
    par: Par,
) -> Result<()> {
    let (rows, cols) = (x.rows(), x.cols());
    let mut buf = std::mem::take(recon(scratch));
    let r = MatMut::row_major(grow(&mut buf, rows * cols), rows, cols)?;
    let done = model.reconstruct_into(x, r, scratch, par).and_then(|()| {
        let r = MatRef::row_major(&buf[..rows * cols], rows, cols)?;
        row_squared_errors(x, r, out)
    });
    *recon(scratch) = buf;
    done
}

/// An error unless `found == expected`.
pub(crate) fn check_rows(what: &str, found: usize, expected: usize) -> Result<()> {
    if found == expected {
        Ok(())
    } else {
        Err(ModelError::Shape {
            what: what.into(),
            expected,
            found,
        })
    }
}

/// Rows `start .. start + n` of `x`.
pub(crate) fn row_block<'a>(x: &MatRef<'a>, start: usize, n: usize) -> Result<MatRef<'a>> {
    let data = &x.as_slice()[(start * x.row_stride()).min(x.as_slice().len())..];
    Ok(MatRef::new(
        data,
        n,
        x.cols(),
        x.row_stride(),
        x.col_stride(),
    )?)
}

/// Rows `start .. start + n` of `out`.
pub(crate) fn row_block_mut<'a>(
    out: &'a mut MatMut<'_>,
    start: usize,
    n: usize,
) -> Result<MatMut<'a>> {
    let (cols, rs, cs) = (out.cols(), out.row_stride(), out.col_stride());
    let data = out.as_mut_slice();
    let from = (start * rs).min(data.len());
    Ok(MatMut::new(&mut data[from..], n, cols, rs, cs)?)
}

/// Runs `f(rows of x, rows of out)` over blocks of at most [`BLOCK`] rows.
pub(crate) fn by_blocks(
    x: MatRef<'_>,
    mut out: MatMut<'_>,
    mut f: impl FnMut(MatRef<'_>, MatMut<'_>) -> Result<()>,
) -> Result<()> {
    check_rows("rows of out", out.rows(), x.rows())?;
    let mut start = 0;
    while start < x.rows() {
        let n = BLOCK.min(x.rows() - start);
        f(row_block(&x, start, n)?, row_block_mut(&mut out, start, n)?)?;
        start += n;
    }
    Ok(())
}

/// Runs `f(rows of x, their entries of out)` over blocks of at most
/// [`BLOCK`] rows.
pub(crate) fn by_blocks_rows(
    x: MatRef<'_>,
    out: &mut [f32],
    mut f: impl FnMut(MatRef<'_>, &mut [f32]) -> Result<()>,
) -> Result<()> {
    check_rows("entries of out (one per row)", out.len(), x.rows())?;
    let mut start = 0;
    while start < x.rows() {
        let n = BLOCK.min(x.rows() - start);
        f(row_block(&x, start, n)?, &mut out[start..start + n])?;
        start += n;
    }
    Ok(())
}
