//! Sparse coding and predictive sparse decomposition (PSD; Kavukcuoglu,
//! Ranzato & LeCun 2008, "Fast inference in sparse coding algorithms with
//! applications to object recognition"; MODELS.md 4.8).
//!
//! A row `x` (`1 x V`) is coded by `z` (`1 x K`) over a dictionary `D`
//! (`K x V`, one atom a row, atoms of unit norm) by minimising the energy
//!
//! `E(x, z) = ½‖x − zD‖² + λ‖z‖₁ + α‖z − F(x)‖²`
//!
//! where `F` is the fast encoder ([`EncoderKind`]): `F(x) = g ⊙ tanh(xW +
//! b)` (the paper's) or a learned shrinkage `sign(a)·max(|a| − θ, 0)`,
//! `a = xW + b`. `E` is convex in `z`; [`fista`] finds `z* = argmin_z E`
//! (FISTA, warm-started at `F(x)`). With `α = 0` this is plain sparse
//! coding with dictionary learning.
//!
//! Training, per minibatch of `B` rows (the engine's loop: optimiser,
//! checkpoints, history, early stopping on the validation energy):
//!
//! 1. the atoms are put back on the unit sphere, `d_k ← d_k/‖d_k‖`, and
//!    thresholds below 0 to 0 (the projection after the previous update;
//!    see [`Psd::project`]);
//! 2. `P = F(X)`, then `Z* = argmin E` by FISTA;
//! 3. with `Z*` fixed, the gradient of the batch mean of `E`:
//!    `∂D = Z*ᵀ(Z*D − X)/B`, and through the encoder ([`encoder`])
//!    `Δ = 2α(P − Z*)/B`.
//!
//! The loss is the mean energy at `Z*`; the metrics are its parts
//! (`recon` = mean `½‖x − z*D‖²`, `l1` = mean `‖z*‖₁`, `pred` = mean
//! `‖z* − F(x)‖²`), `zeros` (the fraction of zero codes) and `fista_iters`.
//!
//! Parameters: `D` (`K x V`), `W` (`V x K`), `b` (`1 x K`), and `g` (tanh,
//! `1 x K`) or `theta` (shrink, `1 x K`).

pub mod config;
pub mod encoder;
pub mod fista;
mod inference;
mod model;

pub use config::{EncoderKind, PsdConfig};
pub use fista::{FistaOutcome, FistaSettings, FistaWork};
pub use inference::PsdScratch;

use latent_engine::{Matrix, ParamSet, Rng, Role};
use latent_kernels::Precision;

use crate::error::Result;
use encoder::EncoderParams;

/// Index of `D` in the parameters.
pub const D: usize = 0;
/// Index of `W`.
pub const W: usize = 1;
/// Index of `b`.
pub const B: usize = 2;
/// Index of `g` or `theta`.
pub const UNIT: usize = 3;

/// An atom is put back on the unit sphere when `|‖d‖² − 1|` exceeds this:
/// a projected atom is left as it is, so projecting twice changes nothing
/// (a run resumed from a projected file continues bit for bit).
pub const UNIT_NORM_TOL: f64 = 1e-5;

/// A PSD model: the dictionary, the fast encoder and their configuration.
#[derive(Debug)]
pub struct Psd {
    config: PsdConfig,
    params: ParamSet,
    precision: Precision,
    work: PsdScratch,
}

impl Psd {
    /// A new model: atoms drawn from `N(0, I)` and normalised, `W` from
    /// `N(0, 1/V)`, `b = 0`, `g = 1` (tanh) or `θ = 0` (shrink), from
    /// `seed`.
    pub fn new(config: PsdConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let (v, k) = (config.n_visible, config.codes);
        let mut rng = Rng::new(seed);
        let d = Matrix::from_fn(k, v, |_, _| rng.normal() as f32)?;
        let std = (1.0 / v as f64).sqrt();
        let w = Matrix::from_fn(v, k, |_, _| (std * rng.normal()) as f32)?;
        let unit = match config.encoder {
            EncoderKind::Tanh => 1.0,
            EncoderKind::Shrink => 0.0,
        };
        let mut params = ParamSet::new();
        params.push("D", Role::Weight, d)?;
        params.push("W", Role::Weight, w)?;
        params.push("b", Role::Bias, Matrix::zeros(1, k)?)?;
        params.push(
            config.encoder.unit_tensor(),
            Role::Other,
            Matrix::filled(1, k, unit)?,
        )?;
        let mut psd = Psd {
            config,
            params,
            precision: Precision::F32,
            work: PsdScratch::default(),
        };
        psd.project();
        Ok(psd)
    }

    /// The configuration.
    pub fn config(&self) -> &PsdConfig {
        &self.config
    }

    /// The parameters (`D`, `W`, `b`, `g` or `theta`).
    pub fn params(&self) -> &ParamSet {
        &self.params
    }

    /// The parameters, mutable (call [`project`](Self::project) after
    /// changing them).
    pub fn params_mut(&mut self) -> &mut ParamSet {
        &mut self.params
    }

    /// The dictionary `D` (`K x V`, one atom a row).
    pub fn dictionary(&self) -> &Matrix {
        self.params.value(D)
    }

    /// The precision of the matrix products.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Sets the precision of the matrix products.
    pub fn set_precision(&mut self, precision: Precision) {
        self.precision = precision;
    }

    /// The FISTA settings of the configuration.
    pub fn fista_settings(&self) -> FistaSettings {
        FistaSettings {
            lambda: self.config.lambda,
            alpha: self.config.alpha,
            max_iters: self.config.fista_iters,
            tol: self.config.fista_tol,
        }
    }

    /// The encoder's parameters.
    fn encoder(&self) -> EncoderParams<'_> {
        EncoderParams {
            kind: self.config.encoder,
            w: self.params.value(W).as_slice(),
            b: self.params.value(B).as_slice(),
            unit: self.params.value(UNIT).as_slice(),
        }
    }

    /// Puts the parameters back where they live: each atom `d_k` with
    /// `|‖d_k‖² − 1| > `[`UNIT_NORM_TOL`] becomes `d_k/‖d_k‖` (an all-zero
    /// atom stays), and shrinkage thresholds below 0 become 0. Done at the
    /// start of every training step (after the previous update), when a
    /// model is loaded, and before a model file is written.
    pub fn project(&mut self) {
        project_tensors(&mut self.params, self.config.encoder);
    }
}

/// [`Psd::project`] on a PSD model's parameters (a checkpoint's too).
pub fn project_tensors(params: &mut ParamSet, encoder: EncoderKind) {
    let d = params.value_mut(D);
    let v = d.cols();
    for atom in d.as_mut_slice().chunks_exact_mut(v.max(1)) {
        let sq: f64 = atom.iter().map(|&a| f64::from(a).powi(2)).sum();
        if (sq - 1.0).abs() > UNIT_NORM_TOL && sq > 0.0 {
            let inv = (1.0 / sq.sqrt()) as f32;
            atom.iter_mut().for_each(|a| *a *= inv);
        }
    }
    if encoder == EncoderKind::Shrink {
        for t in params.value_mut(UNIT).as_mut_slice() {
            *t = t.max(0.0);
        }
    }
}
