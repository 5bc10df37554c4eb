//! Inference: hidden features, visible means, reconstructions, free
//! energies, Gibbs sampling and samples from the model, each in two forms,
//! one that makes its own scratch buffers and a `_with` form that reuses the
//! caller's [`RbmScratch`]. Every product runs in the model's
//! [`precision`](Rbm::precision): in bf16, `W` is rounded while each
//! product packs it, or, in the calls that make several products with it
//! (Gibbs sampling, samples), packed once per call into the scratch.

use latent_engine::Matrix;
use latent_kernels::Par;
use latent_kernels::activation::{Activation, BiasActivation};
use latent_kernels::gemm::{Accum, BiasAdd, Epilogue, MatMut, MatRef, Operand, product};
use latent_kernels::random::{Scale, Streams, bernoulli, gaussian, sigmoid_bernoulli};
use rayon::prelude::*;

use super::epilogue::ScaleShift;
use super::workspace::{RbmScratch, WeightOperands, grown};
use super::{HiddenUnits, LOG_SIGMA, Rbm, VisibleUnits, check_len};
use crate::error::Result;

impl Rbm {
    pub(super) fn check_input(&self, what: &str, x: &MatRef<'_>) -> Result<()> {
        if x.cols() == self.config.n_visible {
            return Ok(());
        }
        check_len(
            &format!("{what}: columns of the data (visible units)"),
            x.cols(),
            self.config.n_visible,
        )
    }

    /// [`sigma`](Self::sigma) into `out` (its old contents replaced, its
    /// room reused).
    pub(super) fn sigma_into(&self, out: &mut Vec<f32>) {
        out.clear();
        match self.config.visible {
            VisibleUnits::Bernoulli => {}
            VisibleUnits::Gaussian if self.config.learn_sigma => out.extend(
                self.params
                    .value(LOG_SIGMA)
                    .as_slice()
                    .iter()
                    .map(|z| z.exp()),
            ),
            VisibleUnits::Gaussian => out.resize(self.config.n_visible, 1.0),
        }
    }

    /// `W` and `Wᵀ` as the right operands of products in the model's
    /// precision, not packed beforehand (a bf16 product rounds and packs
    /// its operand itself): for calls that make one product with each.
    pub(super) fn weight_operands(&self) -> WeightOperands<'_> {
        let w = self.weights().view();
        WeightOperands {
            up: self.precision.operand(w),
            down: self.precision.operand(w.t()),
        }
    }

    /// `(x/σ) W` (σ only when learned; `sigma` is [`sigma_into`]'s; times
    /// 2 for a doubled bottom-up input) with
    /// `epi` fused into the write-out: the hidden units' total inputs, with
    /// `w` the operand `W` ([`WeightOperands::up`]). Learned σ costs a
    /// scaled copy of `x`, made in `scaled`.
    ///
    /// [`sigma_into`]: Self::sigma_into
    #[allow(clippy::too_many_arguments)]
    pub(super) fn up<E: Epilogue>(
        &self,
        x: MatRef<'_>,
        w: Operand<'_>,
        out: MatMut<'_>,
        epi: &E,
        par: Par,
        scaled: &mut Vec<f32>,
        sigma: &[f32],
    ) -> Result<()> {
        let alpha = self.config.doubled.up_factor();
        if !self.config.learn_sigma {
            product(alpha, x, w, Accum::Replace, out, epi, par)?;
            return Ok(());
        }
        let (rows, v_n) = (x.rows(), x.cols());
        let s = grown(scaled, rows * v_n);
        for (i, row) in s.chunks_exact_mut(v_n.max(1)).enumerate() {
            for (j, (o, &sd)) in row.iter_mut().zip(sigma).enumerate() {
                *o = x.get(i, j).unwrap_or(0.0) / sd;
            }
        }
        let s = MatRef::row_major(s, rows, v_n)?;
        product(alpha, s, w, Accum::Replace, out, epi, par)?;
        Ok(())
    }

    /// Hidden probabilities `p(h = 1 | v) = σ(xW + 1cᵀ)` (`σ(2xW + 1cᵀ)`
    /// for a doubled bottom-up input, [`DoubledInput`](super::DoubledInput))
    /// of the rows of `x` into `out` (`rows x H`): the features of the
    /// data (linear hiddens: their means `xW + 1cᵀ`). One fused GEMM
    /// (Gaussian visibles with learned σ: of `x/σ`, which allocates; see
    /// [`transform_with`](Self::transform_with)).
    pub fn transform(&self, x: MatRef<'_>, out: MatMut<'_>, par: Par) -> Result<()> {
        self.transform_with(x, out, &mut RbmScratch::default(), par)
    }

    /// [`transform`](Self::transform) with the caller's scratch buffers.
    pub fn transform_with(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut RbmScratch,
        par: Par,
    ) -> Result<()> {
        self.check_input("Rbm::transform", &x)?;
        self.sigma_into(&mut scratch.sigma);
        self.up(
            x,
            self.weight_operands().up,
            out,
            &BiasActivation::new(self.hidden_bias(), self.config.hidden.activation()),
            par,
            &mut scratch.scaled,
            &scratch.sigma,
        )
    }

    /// The visible means `E[v | h]` for hidden states `h` (`rows x H`) into
    /// `out` (`rows x V`): `σ(hWᵀ + 1bᵀ)`, `hWᵀ + 1bᵀ`, or with learned σ
    /// `b + σ ⊙ hWᵀ`, with `2hWᵀ` for a doubled top-down input
    /// ([`DoubledInput`](super::DoubledInput)) (which allocates σ; see
    /// [`visible_means_with`](Self::visible_means_with)).
    pub fn visible_means(&self, h: MatRef<'_>, out: MatMut<'_>, par: Par) -> Result<()> {
        self.visible_means_with(h, out, &mut RbmScratch::default(), par)
    }

    /// [`visible_means`](Self::visible_means) with the caller's scratch
    /// buffers.
    pub fn visible_means_with(
        &self,
        h: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut RbmScratch,
        par: Par,
    ) -> Result<()> {
        self.sigma_into(&mut scratch.sigma);
        let wt = self.weight_operands().down;
        self.visible_means_sigma(h, wt, out, par, &scratch.sigma)
    }

    /// [`visible_means`](Self::visible_means) with `wt` the operand `Wᵀ`
    /// ([`WeightOperands::down`]) and σ from
    /// [`sigma_into`](Self::sigma_into) (read only when learned).
    pub(super) fn visible_means_sigma(
        &self,
        h: MatRef<'_>,
        wt: Operand<'_>,
        out: MatMut<'_>,
        par: Par,
        sigma: &[f32],
    ) -> Result<()> {
        check_len(
            "Rbm::visible_means: columns of h (hidden units)",
            h.cols(),
            self.config.n_hidden,
        )?;
        let b = self.visible_bias();
        let alpha = self.config.doubled.down_factor();
        match (self.config.visible, self.config.learn_sigma) {
            (VisibleUnits::Bernoulli, _) => product(
                alpha,
                h,
                wt,
                Accum::Replace,
                out,
                &BiasActivation::new(b, Activation::Sigmoid),
                par,
            )?,
            (VisibleUnits::Gaussian, false) => {
                product(alpha, h, wt, Accum::Replace, out, &BiasAdd::new(b), par)?
            }
            (VisibleUnits::Gaussian, true) => product(
                alpha,
                h,
                wt,
                Accum::Replace,
                out,
                &ScaleShift {
                    scale: sigma,
                    shift: b,
                },
                par,
            )?,
        }
        Ok(())
    }

    /// Mean-field reconstructions `E[v | h = p(h|x)]` of the rows of `x` into
    /// `out` (`rows x V`). Allocates a `rows x H` scratch buffer; see
    /// [`reconstruct_with`](Self::reconstruct_with).
    pub fn reconstruct(&self, x: MatRef<'_>, out: MatMut<'_>, par: Par) -> Result<()> {
        self.reconstruct_with(x, out, &mut RbmScratch::default(), par)
    }

    /// [`reconstruct`](Self::reconstruct) with the caller's scratch buffers:
    /// no allocation once they have held a batch this large.
    pub fn reconstruct_with(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        scratch: &mut RbmScratch,
        par: Par,
    ) -> Result<()> {
        self.check_input("Rbm::reconstruct", &x)?;
        let (rows, h_n) = (x.rows(), self.config.n_hidden);
        self.sigma_into(&mut scratch.sigma);
        let p = grown(&mut scratch.hidden_p, rows * h_n);
        let ops = self.weight_operands();
        self.up(
            x,
            ops.up,
            MatMut::row_major(p, rows, h_n)?,
            &BiasActivation::new(self.hidden_bias(), self.config.hidden.activation()),
            par,
            &mut scratch.scaled,
            &scratch.sigma,
        )?;
        let p = MatRef::row_major(&scratch.hidden_p[..rows * h_n], rows, h_n)?;
        self.visible_means_sigma(p, ops.down, out, par, &scratch.sigma)
    }

    /// Free energies `F(v)` of the rows of `x` into `out` (MODELS.md 2.1,
    /// 2.2; linear hiddens: `−bᵀv − Σ_j ½(c_j + (vW)_j)² − (H/2) ln 2π`),
    /// in f32 with a stable softplus, the sums per row in f64; rows
    /// are split between threads. Refused for the modified RBMs of DBM
    /// pretraining, which have no free energy ([`DoubledInput`](super::DoubledInput)). Allocates a `rows x H` scratch; see
    /// [`free_energy_with`](Self::free_energy_with).
    pub fn free_energy(&self, x: MatRef<'_>, out: &mut [f32], par: Par) -> Result<()> {
        self.free_energy_with(x, out, &mut RbmScratch::default(), par)
    }

    /// [`free_energy`](Self::free_energy) with the caller's scratch buffers:
    /// no allocation once they have held a batch this large.
    pub fn free_energy_with(
        &self,
        x: MatRef<'_>,
        out: &mut [f32],
        scratch: &mut RbmScratch,
        par: Par,
    ) -> Result<()> {
        self.check_input("Rbm::free_energy", &x)?;
        self.check_joint("Rbm::free_energy")?;
        let (rows, h_n) = (x.rows(), self.config.n_hidden);
        check_len("Rbm::free_energy: out (one per row)", out.len(), rows)?;
        self.sigma_into(&mut scratch.sigma);
        let act = grown(&mut scratch.hidden_p, rows * h_n);
        self.up(
            x,
            self.weight_operands().up,
            MatMut::row_major(act, rows, h_n)?,
            &BiasActivation::new(self.hidden_bias(), self.hidden_free_energy_act()),
            par,
            &mut scratch.scaled,
            &scratch.sigma,
        )?;
        let act = &scratch.hidden_p[..rows * h_n];
        self.free_energy_rows(x, act, &scratch.sigma, out, par);
        Ok(())
    }

    /// The free energies of the rows of `x` into `out` from their hidden
    /// units' softplus terms `act` (`rows x H`), with σ from
    /// [`sigma_into`](Self::sigma_into) (Gaussian visibles).
    fn free_energy_rows(
        &self,
        x: MatRef<'_>,
        act: &[f32],
        sigma: &[f32],
        out: &mut [f32],
        par: Par,
    ) {
        let (rows, v_n, h_n) = (x.rows(), self.config.n_visible, self.config.n_hidden);
        let b = self.visible_bias();
        let (data, rs, cs) = (x.as_slice(), x.row_stride(), x.col_stride());
        let visible_units = self.config.visible;
        let hidden_units = self.config.hidden;
        // Row by row, in f64; rows are independent, so the split between
        // threads does not change a bit of the result.
        let energy = |i: usize| -> f32 {
            let act_row = &act[i * h_n..(i + 1) * h_n];
            let hidden: f64 = match hidden_units {
                HiddenUnits::Bernoulli => act_row.iter().map(|&s| s as f64).sum(),
                HiddenUnits::Linear => linear_hidden_term(act_row),
            };
            let row = (0..v_n).map(|j| data[i * rs + j * cs] as f64);
            let visible: f64 = match visible_units {
                VisibleUnits::Bernoulli => row.zip(b).map(|(v, &bj)| bj as f64 * v).sum(),
                VisibleUnits::Gaussian => -row
                    .zip(b)
                    .zip(sigma)
                    .map(|((v, &bj), &sd)| {
                        let d = (v - bj as f64) / sd as f64;
                        0.5 * d * d
                    })
                    .sum::<f64>(),
            };
            (-visible - hidden) as f32
        };
        let tasks = par.max_tasks().min(rows / 64).max(1);
        if tasks == 1 {
            for (i, f) in out.iter_mut().enumerate() {
                *f = energy(i);
            }
            return;
        }
        let chunk = rows.div_ceil(tasks);
        out.par_chunks_mut(chunk)
            .enumerate()
            .with_max_len(1)
            .for_each(|(t, out)| {
                for (k, f) in out.iter_mut().enumerate() {
                    *f = energy(t * chunk + k);
                }
            });
    }

    /// The epilogue of the hidden units' total inputs that the free energy
    /// sums: their softplus (Bernoulli) or the inputs themselves (linear).
    fn hidden_free_energy_act(&self) -> Activation {
        match self.config.hidden {
            HiddenUnits::Bernoulli => Activation::Softplus,
            HiddenUnits::Linear => Activation::Identity,
        }
    }

    /// Runs `steps` steps of block Gibbs sampling `v → h → v` in place on
    /// the visible states `v` (`rows x V`), drawing from `streams` (advanced
    /// once per half-step). Bernoulli visibles are sampled, Gaussian ones
    /// get unit-variance noise (σ when learned). Allocates scratch buffers;
    /// see [`gibbs_with`](Self::gibbs_with).
    pub fn gibbs(
        &self,
        v: &mut Matrix,
        steps: usize,
        streams: Streams,
        par: Par,
    ) -> Result<Streams> {
        self.gibbs_with(v, steps, streams, &mut RbmScratch::default(), par)
    }

    /// [`gibbs`](Self::gibbs) with the caller's scratch buffers: no
    /// allocation once they have held this many chains.
    pub fn gibbs_with(
        &self,
        v: &mut Matrix,
        steps: usize,
        streams: Streams,
        scratch: &mut RbmScratch,
        par: Par,
    ) -> Result<Streams> {
        self.check_input("Rbm::gibbs", &v.view())?;
        let rows = v.rows();
        self.sigma_into(&mut scratch.sigma);
        scratch.packed.repack(self.precision, self.weights().view());
        self.gibbs_rows(v.as_mut_slice(), rows, steps, streams, par, scratch)
    }

    /// The Gibbs steps of [`gibbs_with`](Self::gibbs_with) on `rows`
    /// row-major visible states in `v`, with `s.sigma` already made and, in
    /// bf16, the weights already packed into `s.packed`.
    pub(super) fn gibbs_rows(
        &self,
        v: &mut [f32],
        rows: usize,
        steps: usize,
        streams: Streams,
        par: Par,
        s: &mut RbmScratch,
    ) -> Result<Streams> {
        let (v_n, h_n) = (self.config.n_visible, self.config.n_hidden);
        grown(&mut s.hidden_p, rows * h_n);
        grown(&mut s.hidden_h, rows * h_n);
        grown(&mut s.visible, rows * v_n);
        let ops = s.packed.operands(self.precision, self.weights().view());
        let mut streams = streams;
        for _ in 0..steps {
            let (p, h) = (&mut s.hidden_p[..rows * h_n], &mut s.hidden_h[..rows * h_n]);
            let vv = MatRef::row_major(v, rows, v_n)?;
            let (scaled, sigma) = (&mut s.scaled, &s.sigma[..]);
            self.sample_hidden(vv, ops.up, p, h, streams, par, scaled, sigma)?;
            streams = streams.next_step();
            let h = MatRef::row_major(&s.hidden_h[..rows * h_n], rows, h_n)?;
            let mean = MatMut::row_major(&mut s.visible[..rows * v_n], rows, v_n)?;
            self.visible_means_sigma(h, ops.down, mean, par, &s.sigma)?;
            let mean = &s.visible[..rows * v_n];
            self.sample_visible(streams, mean, v, rows, par, &s.sigma)?;
            streams = streams.next_step();
        }
        Ok(streams)
    }

    /// `p ← p(h|v)` and `h ~ Bernoulli(p)` for the rows of `v` (`p` and `h`
    /// are `rows x H`), drawing from `streams`; `w`, `scaled` and `sigma`
    /// are as for [`up`](Self::up). Linear hiddens: `p ← c + vW` (the
    /// means) and `h = p + N(0, 1)` noise.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn sample_hidden(
        &self,
        v: MatRef<'_>,
        w: Operand<'_>,
        p: &mut [f32],
        h: &mut [f32],
        streams: Streams,
        par: Par,
        scaled: &mut Vec<f32>,
        sigma: &[f32],
    ) -> Result<()> {
        let (rows, h_n) = (v.rows(), self.config.n_hidden);
        let pv = MatMut::row_major(p, rows, h_n)?;
        let bias = BiasAdd::new(self.hidden_bias());
        self.up(v, w, pv, &bias, par, scaled, sigma)?;
        match self.config.hidden {
            HiddenUnits::Bernoulli => sigmoid_bernoulli(streams, p, None, h, rows, h_n, par)?,
            HiddenUnits::Linear => gaussian(streams, p, Scale::Scalar(1.0), h, rows, h_n, par)?,
        }
        Ok(())
    }

    /// `n` samples from the model: `n` chains started from uniform random
    /// binary states (Bernoulli) or standard normal states (Gaussian), run
    /// for `steps` Gibbs steps with the streams of `seed`. Returns the last
    /// visible means (`n x V`), the usual picture of RBM samples. Allocates
    /// the result and scratch buffers; see [`sample_with`](Self::sample_with).
    pub fn sample(&self, n: usize, steps: usize, seed: u64, par: Par) -> Result<Matrix> {
        let mut out = Matrix::zeros(n, self.config.n_visible)?;
        self.sample_with(out.view_mut(), steps, seed, &mut RbmScratch::default(), par)?;
        Ok(out)
    }

    /// [`sample`](Self::sample) into the caller's `out`, one sample per row
    /// (`n x V`, any layout), with the caller's scratch buffers (which also
    /// hold the chains): no allocation once they have held `n` chains. The
    /// same numbers as `sample(n, steps, seed, par)`.
    pub fn sample_with(
        &self,
        out: MatMut<'_>,
        steps: usize,
        seed: u64,
        scratch: &mut RbmScratch,
        par: Par,
    ) -> Result<()> {
        let (n, v_n) = (out.rows(), self.config.n_visible);
        check_len(
            "Rbm::sample_with: columns of the output (visible units)",
            out.cols(),
            v_n,
        )?;
        // The chains live in the scratch; taken out for the run (the other
        // buffers are borrowed beside them) and put back whatever happens.
        let mut chains = std::mem::take(&mut scratch.chains);
        let states = grown(&mut chains, n * v_n);
        let result = self.sample_chains(states, out, steps, seed, par, scratch);
        scratch.chains = chains;
        result
    }

    /// The body of [`sample_with`](Self::sample_with) on the chains'
    /// states (`n x V`, row-major).
    pub(super) fn sample_chains(
        &self,
        states: &mut [f32],
        out: MatMut<'_>,
        steps: usize,
        seed: u64,
        par: Par,
        s: &mut RbmScratch,
    ) -> Result<()> {
        let (n, h_n) = (out.rows(), self.config.n_hidden);
        let streams = Streams::new(seed);
        let means = grown(&mut s.visible, states.len());
        self.fill_random_states(states, means, n, streams, par)?;
        self.sigma_into(&mut s.sigma);
        s.packed.repack(self.precision, self.weights().view());
        let steps = steps.saturating_sub(1);
        let streams = self.gibbs_rows(states, n, steps, streams.next_step(), par, s)?;
        // The last step ends in means rather than samples.
        let (p, h) = (
            grown(&mut s.hidden_p, n * h_n),
            grown(&mut s.hidden_h, n * h_n),
        );
        let v = MatRef::row_major(states, n, self.config.n_visible)?;
        let ops = s.packed.operands(self.precision, self.weights().view());
        let (scaled, sigma) = (&mut s.scaled, &s.sigma[..]);
        self.sample_hidden(v, ops.up, p, h, streams, par, scaled, sigma)?;
        let h = MatRef::row_major(&s.hidden_h[..n * h_n], n, h_n)?;
        self.visible_means_sigma(h, ops.down, out, par, &s.sigma)
    }

    /// Samples visibles from their means: Bernoulli draws, or Gaussian
    /// noise of unit variance (of σ, from `sigma`, when learned).
    pub(super) fn sample_visible(
        &self,
        streams: Streams,
        mean: &[f32],
        out: &mut [f32],
        rows: usize,
        par: Par,
        sigma: &[f32],
    ) -> Result<()> {
        let v_n = self.config.n_visible;
        match self.config.visible {
            VisibleUnits::Bernoulli => bernoulli(streams, mean, out, rows, v_n, par)?,
            VisibleUnits::Gaussian if self.config.learn_sigma => {
                gaussian(streams, mean, Scale::PerColumn(sigma), out, rows, v_n, par)?
            }
            VisibleUnits::Gaussian => {
                gaussian(streams, mean, Scale::Scalar(1.0), out, rows, v_n, par)?
            }
        }
        Ok(())
    }
}

/// The linear hiddens' part of `−F(v)` from their total inputs `a = c + vW`
/// (one row): `Σ_j ½a_j² + (H/2) ln 2π`, the log of `∫ e^{−E(v, h)} dh` over
/// the Gaussian hiddens less the visible term, in f64.
pub(super) fn linear_hidden_term(a: &[f32]) -> f64 {
    let half_ln_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
    a.iter()
        .map(|&a| {
            let a = a as f64;
            0.5 * a * a + half_ln_2pi
        })
        .sum()
}
