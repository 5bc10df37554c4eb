//! Inference with a DBM, on the caller's [`DbmScratch`]: features (the
//! mean-field posterior of the top layer, of any layer, or of all hidden
//! layers side by side), mean-field reconstructions (the visible means of
//! `μ¹`), their squared errors, and samples from fresh Gibbs chains. Every
//! product runs in the model's precision (bf16: the weights packed once
//! per call into the scratch).

use latent_engine::Matrix;
use latent_kernels::Par;
use latent_kernels::gemm::{MatMut, MatRef};
use latent_kernels::random::Streams;

use super::mean_field::visible_means;
use super::{Dbm, DbmScratch, check_len, gibbs};
use crate::error::{ModelError, Result};
use crate::model::{Inference, SampleRequest, Score, by_blocks, squared_error_scores};

/// Mixed into a sampling seed for the chains' random starting states.
const SAMPLE_START: u64 = 0x5A4D_DB40_0000_0001;

/// Which hidden layers [`Dbm::encode_with`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layers {
    /// One hidden layer `l` (`1..=L`).
    One(usize),
    /// Every hidden layer, `μ¹ … μᴸ` side by side (`n1 + … + nL` columns).
    All,
}

impl Dbm {
    /// Columns of [`encode_with`](Self::encode_with)'s output for `layers`.
    pub fn encode_width(&self, layers: Layers) -> usize {
        match layers {
            Layers::One(l) => self.sizes().get(l).copied().unwrap_or(0),
            Layers::All => self.sizes()[1..].iter().sum(),
        }
    }

    /// The mean-field posteriors of the rows of `x` at `layers` into `out`
    /// (`rows x` [`encode_width`](Self::encode_width)).
    pub fn encode_with(
        &self,
        x: MatRef<'_>,
        layers: Layers,
        mut out: MatMut<'_>,
        scratch: &mut DbmScratch,
        par: Par,
    ) -> Result<()> {
        let range = match layers {
            Layers::One(l) if (1..=self.depth()).contains(&l) => l..=l,
            Layers::One(l) => {
                return Err(ModelError::InvalidConfig {
                    what: "DBM encode layer",
                    value: l.to_string(),
                    expected: "a hidden layer from 1 to the number of hidden layers",
                });
            }
            Layers::All => 1..=self.depth(),
        };
        let rows = x.rows();
        check_len("Dbm::encode: rows of out", out.rows(), rows)?;
        let width = self.encode_width(layers);
        check_len("Dbm::encode: columns of out", out.cols(), width)?;
        self.mean_field(x, scratch, par)?;
        let mut col0 = 0;
        for l in range {
            let n = self.sizes()[l];
            write_columns(&mut out, scratch.mu.layer(l, rows), col0, n);
            col0 += n;
        }
        Ok(())
    }

    /// [`encode_with`](Self::encode_with) over blocks of at most
    /// [`BLOCK`](crate::model::BLOCK) rows, so the scratch stays the size of
    /// a block whatever the rows of `x` (each block's mean-field stops on
    /// its own; see [`Dbm::mean_field`]).
    pub fn encode_layers_into(
        &self,
        x: MatRef<'_>,
        layers: Layers,
        out: MatMut<'_>,
        scratch: &mut DbmScratch,
        par: Par,
    ) -> Result<()> {
        by_blocks(x, out, |x, out| {
            self.encode_with(x, layers, out, scratch, par)
        })
    }

    /// Mean-field reconstructions of the rows of `x` into `out` (`rows x
    /// n0`): the visible means `E[v | μ¹]` of the posterior of the first
    /// hidden layer.
    pub fn reconstruct_with(
        &self,
        x: MatRef<'_>,
        mut out: MatMut<'_>,
        scratch: &mut DbmScratch,
        par: Par,
    ) -> Result<()> {
        let rows = x.rows();
        check_len("Dbm::reconstruct: rows of out", out.rows(), rows)?;
        check_len(
            "Dbm::reconstruct: columns of out",
            out.cols(),
            self.sizes()[0],
        )?;
        self.mean_field(x, scratch, par)?;
        let DbmScratch {
            mu, probs, packed, ..
        } = scratch;
        probs.ensure(rows, self.sizes());
        let means = probs.layer_mut(0, rows);
        let net = self.net(packed);
        visible_means(
            &net,
            self.visible_activation(),
            mu.layer(1, rows),
            rows,
            means,
            par,
        )?;
        write_columns(&mut out, means, 0, self.sizes()[0]);
        Ok(())
    }

    /// `n = out.rows()` samples into `out` (`n x n0`): chains started at
    /// random states (fair coins; standard normal Gaussian visibles) from
    /// `seed`, `steps` odd/even Gibbs sweeps, then the visible means of the
    /// last sample of `h¹`.
    pub fn sample_with(
        &self,
        mut out: MatMut<'_>,
        steps: usize,
        seed: u64,
        scratch: &mut DbmScratch,
        par: Par,
    ) -> Result<()> {
        let (n, sizes) = (out.rows(), self.sizes());
        check_len("Dbm::sample: columns of out", out.cols(), sizes[0])?;
        let DbmScratch {
            states,
            probs,
            packed,
            ..
        } = scratch;
        states.ensure(n, sizes);
        probs.ensure(n, sizes);
        let start = Streams::new(seed ^ SAMPLE_START);
        gibbs::random_states(sizes, self.config.visible, states, probs, n, start, par)?;
        packed.repack(self.precision, &self.params, self.depth());
        let net = self.net(packed);
        let streams = Streams::new(seed);
        gibbs::sweeps(
            &net,
            self.config.visible,
            states,
            probs,
            n,
            steps,
            streams,
            par,
        )?;
        let means = probs.layer_mut(0, n);
        visible_means(
            &net,
            self.visible_activation(),
            states.layer(1, n),
            n,
            means,
            par,
        )?;
        write_columns(&mut out, means, 0, sizes[0]);
        Ok(())
    }

    /// The visible means `E[v | h¹]` of the first `out.rows()` persistent
    /// chains (the training's negative phase, as the model file holds
    /// them) into `out` (`n x n0`); more rows than chains is an error.
    pub fn chain_samples_with(
        &self,
        mut out: MatMut<'_>,
        scratch: &mut DbmScratch,
        par: Par,
    ) -> Result<()> {
        let (n, sizes) = (out.rows(), self.sizes());
        check_len("Dbm::chain_samples: columns of out", out.cols(), sizes[0])?;
        if n > self.chain_count() {
            return Err(ModelError::mismatch(
                "Dbm::chain_samples: samples from the persistent chains",
                format!(
                    "at most {} (the chains the model holds)",
                    self.chain_count()
                ),
                n,
            ));
        }
        let DbmScratch { probs, packed, .. } = scratch;
        probs.ensure(n, sizes);
        packed.repack(self.precision, &self.params, self.depth());
        let net = self.net(packed);
        let h1 = &self.chains.layer(1, self.chain_count())[..n * sizes[1]];
        let means = probs.layer_mut(0, n);
        visible_means(&net, self.visible_activation(), h1, n, means, par)?;
        write_columns(&mut out, means, 0, sizes[0]);
        Ok(())
    }

    /// The mean over the rows of `x` of the squared error of the
    /// mean-field reconstructions (the training's validation metric).
    pub fn reconstruction_error(&self, x: &Matrix, par: Par) -> Result<f64> {
        let scores = self.scores(x, Score::Reconstruction, 0, par)?;
        let total: f64 = scores.iter().map(|&e| e as f64).sum();
        Ok(total / x.rows().max(1) as f64)
    }
}

/// Writes the `rows x width` row-major `src` into columns `col0 ..
/// col0 + width` of `out` (any layout).
fn write_columns(out: &mut MatMut<'_>, src: &[f32], col0: usize, width: usize) {
    let (rs, cs) = (out.row_stride(), out.col_stride());
    let data = out.as_mut_slice();
    for (i, row) in src.chunks_exact(width.max(1)).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            data[i * rs + (col0 + j) * cs] = v;
        }
    }
}

/// The inference interface: features are the top layer's posterior;
/// blocks of [`BLOCK`](crate::model::BLOCK) rows keep the scratch small.
impl Inference for Dbm {
    type Scratch = DbmScratch;

    fn n_visible(&self) -> usize {
        self.sizes()[0]
    }

    fn n_features(&self) -> usize {
        self.sizes()[self.depth()]
    }

    fn encode_into(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut DbmScratch,
        par: Par,
    ) -> Result<()> {
        let top = Layers::One(self.depth());
        self.encode_layers_into(x, top, out, scratch, par)
    }

    fn reconstruct_into(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut DbmScratch,
        par: Par,
    ) -> Result<()> {
        by_blocks(x, out, |x, out| self.reconstruct_with(x, out, scratch, par))
    }

    fn supported_scores(&self) -> &'static [Score] {
        &[Score::Reconstruction]
    }

    fn score_into(
        &self,
        x: MatRef<'_>,
        score: Score,
        _seed: u64,
        out: &mut [f32],
        scratch: &mut DbmScratch,
        par: Par,
    ) -> Result<()> {
        match score {
            Score::Reconstruction => {
                squared_error_scores(self, x, out, scratch, |s| &mut s.recon, par)
            }
            other => Err(ModelError::Unsupported {
                what: "this score for a DBM",
                why: format!(
                    "a DBM scores recon (its free energy needs the hidden layers summed out; {} is not available)",
                    other.name()
                ),
            }),
        }
    }

    fn can_sample(&self) -> bool {
        true
    }

    fn sample_into(
        &self,
        request: SampleRequest,
        out: MatMut<'_>,
        scratch: &mut DbmScratch,
        par: Par,
    ) -> Result<()> {
        self.sample_with(out, request.steps, request.seed, scratch, par)
    }
}
