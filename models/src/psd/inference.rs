//! What a trained PSD model computes for data: the fast codes `F(x)`, the
//! exact codes `z* = argmin_z E(x, z)` (FISTA), reconstructions from
//! either (`zD`), and the energy per row; [`Inference`] over blocks of
//! [`BLOCK`](crate::model::BLOCK) rows (features = `F(x)`, reconstruct =
//! `F(x)D`, scores: the energy `E(x, z*)` and the squared error of
//! `F(x)D`).

use latent_kernels::gemm::{MatMut, MatRef};
use latent_kernels::{Accum, NoEpilogue, Par, product};

use super::fista::{self, FistaOutcome, FistaWork};
use super::{D, Psd, encoder};
use crate::error::{ModelError, Result};
use crate::model::{
    Inference, Score, by_blocks, by_blocks_rows, check_rows, grow, squared_error_scores,
};

/// The workspace of a PSD model (training and inference), grown to the
/// largest block and reused.
#[derive(Debug, Default)]
pub struct PsdScratch {
    /// `tanh(A)` or `A` (`B x K`).
    pub(super) act: Vec<f32>,
    /// `F(X)` (`B x K`).
    pub(super) f: Vec<f32>,
    /// The codes `Z` (`B x K`).
    pub(super) z: Vec<f32>,
    /// `∂E/∂F`, then `∂A` (`B x K`).
    pub(super) delta: Vec<f32>,
    /// `ZD − X` (`B x V`).
    pub(super) resid: Vec<f32>,
    /// The energy's three parts per row (`B x 3`).
    pub(super) parts: Vec<f64>,
    /// The solver's.
    pub(super) fista: FistaWork,
    /// Reconstructions for the squared-error score.
    recon: Vec<f32>,
}

/// Copies the row-major `rows x cols` `src` into `out`.
fn write_out(src: &[f32], out: &mut MatMut<'_>) {
    let (rows, cols, rs, cs) = (out.rows(), out.cols(), out.row_stride(), out.col_stride());
    let data = out.as_mut_slice();
    for i in 0..rows {
        for j in 0..cols {
            data[i * rs + j * cs] = src[i * cols + j];
        }
    }
}

impl Psd {
    /// `F(X)` into the scratch's `f` (and the encoder's `act`).
    pub(super) fn predict(&self, x: MatRef<'_>, s: &mut PsdScratch, par: Par) -> Result<()> {
        let n = x.rows() * self.config.codes;
        grow(&mut s.act, n);
        grow(&mut s.f, n);
        encoder::forward(
            &self.encoder(),
            x,
            self.precision,
            &mut s.act,
            &mut s.f,
            par,
        )
    }

    /// `Z* = argmin E` into the scratch's `z`, from `F(X)` (call
    /// [`predict`](Self::predict) first).
    pub(super) fn infer(
        &self,
        x: MatRef<'_>,
        s: &mut PsdScratch,
        par: Par,
    ) -> Result<FistaOutcome> {
        let n = x.rows() * self.config.codes;
        let d = self.params.value(D);
        let l = fista::prepare(d, self.config.alpha, self.precision, &mut s.fista, par)?;
        let z = grow(&mut s.z, n);
        z.copy_from_slice(&s.f[..n]);
        let prediction = (self.config.alpha > 0.0).then_some(&s.f[..n]);
        let settings = self.fista_settings();
        fista::solve(
            x,
            d,
            prediction,
            &settings,
            l,
            self.precision,
            z,
            &mut s.fista,
            par,
        )
    }

    /// The energy's parts per row into the scratch's `parts` and `ZD − X`
    /// into its `resid`, for the codes in its `z` (after
    /// [`infer`](Self::infer)).
    pub(super) fn energy_parts(&self, x: MatRef<'_>, s: &mut PsdScratch, par: Par) -> Result<()> {
        let rows = x.rows();
        let n = rows * self.config.codes;
        grow(&mut s.resid, rows * self.config.n_visible);
        if s.parts.len() < 3 * rows {
            s.parts.resize(3 * rows, 0.0);
        }
        let prediction = (self.config.alpha > 0.0).then_some(&s.f[..n]);
        fista::objective_parts(
            x,
            self.params.value(D),
            &s.z[..n],
            prediction,
            self.precision,
            &mut s.resid,
            &mut s.parts,
            par,
        )
    }

    /// The energy `½‖x − zD‖² + λ‖z‖₁ + α‖z − F(x)‖²` of row `i` from its
    /// parts.
    pub(super) fn energy_of(&self, parts: &[f64], i: usize) -> f64 {
        let p = &parts[3 * i..3 * i + 3];
        p[0] + f64::from(self.config.lambda) * p[1] + f64::from(self.config.alpha) * p[2]
    }

    fn check_input(&self, x: &MatRef<'_>) -> Result<()> {
        check_rows("columns of x", x.cols(), self.config.n_visible)
    }

    /// The exact codes `z* = argmin_z E(x, z)` of the rows of `x` into
    /// `out` (`rows x K`), by FISTA per block of rows.
    pub fn exact_codes_into(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        s: &mut PsdScratch,
        par: Par,
    ) -> Result<()> {
        self.check_input(&x)?;
        by_blocks(x, out, |x, mut out| {
            self.predict(x, s, par)?;
            self.infer(x, s, par)?;
            write_out(&s.z, &mut out);
            Ok(())
        })
    }

    /// Reconstructions `z*D` from the exact codes into `out` (`rows x V`).
    pub fn exact_reconstruct_into(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        s: &mut PsdScratch,
        par: Par,
    ) -> Result<()> {
        self.check_input(&x)?;
        by_blocks(x, out, |x, out| {
            self.predict(x, s, par)?;
            self.infer(x, s, par)?;
            self.decode(&s.z, x.rows(), out, par)
        })
    }

    /// `ZD` into `out` for the row-major `rows x K` codes `z`.
    fn decode(&self, z: &[f32], rows: usize, out: MatMut<'_>, par: Par) -> Result<()> {
        let k = self.config.codes;
        let z = MatRef::row_major(&z[..rows * k], rows, k)?;
        let d = self.precision.operand(self.params.value(D).view());
        product(1.0, z, d, Accum::Replace, out, &NoEpilogue, par)?;
        Ok(())
    }

    /// The energy `E(x, z*)` of each row of `x` at its exact codes into
    /// `out` (`rows`).
    pub fn energies_into(
        &self,
        x: MatRef<'_>,
        out: &mut [f32],
        s: &mut PsdScratch,
        par: Par,
    ) -> Result<()> {
        self.check_input(&x)?;
        by_blocks_rows(x, out, |x, out| {
            self.predict(x, s, par)?;
            self.infer(x, s, par)?;
            self.energy_parts(x, s, par)?;
            for (i, o) in out.iter_mut().enumerate() {
                *o = self.energy_of(&s.parts, i) as f32;
            }
            Ok(())
        })
    }
}

impl Inference for Psd {
    type Scratch = PsdScratch;

    fn n_visible(&self) -> usize {
        self.config.n_visible
    }

    fn n_features(&self) -> usize {
        self.config.codes
    }

    /// The fast encoder's codes `F(x)`.
    fn encode_into(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        s: &mut PsdScratch,
        par: Par,
    ) -> Result<()> {
        self.check_input(&x)?;
        by_blocks(x, out, |x, mut out| {
            self.predict(x, s, par)?;
            write_out(&s.f, &mut out);
            Ok(())
        })
    }

    /// `F(x)D`.
    fn reconstruct_into(
        &self,
        x: MatRef<'_>,
        out: MatMut<'_>,
        s: &mut PsdScratch,
        par: Par,
    ) -> Result<()> {
        self.check_input(&x)?;
        by_blocks(x, out, |x, out| {
            self.predict(x, s, par)?;
            self.decode(&s.f, x.rows(), out, par)
        })
    }

    fn supported_scores(&self) -> &'static [Score] {
        &[Score::Energy, Score::Reconstruction]
    }

    fn score_into(
        &self,
        x: MatRef<'_>,
        score: Score,
        _seed: u64,
        out: &mut [f32],
        s: &mut PsdScratch,
        par: Par,
    ) -> Result<()> {
        match score {
            Score::Energy => self.energies_into(x, out, s, par),
            Score::Reconstruction => {
                self.check_input(&x)?;
                squared_error_scores(self, x, out, s, |s| &mut s.recon, par)
            }
            _ => Err(ModelError::Unsupported {
                what: "this score",
                why: "a psd model scores energy (the objective at the exact codes) or recon".into(),
            }),
        }
    }
}
