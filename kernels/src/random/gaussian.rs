//! Gaussian samplers (Box–Muller normals): Gaussian samples, additive
//! Gaussian noise and the VAE reparameterisation.

use super::Streams;
use super::vrng::VRng;
use crate::simd::{Checked, Kernel, LANES, Simd, dispatch, math};
use crate::split::{check_exact, check_len, rows1, rows2};
use crate::{Isa, KernelError, Par};

/// How the standard deviation of a Gaussian sampler is given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale<'a> {
    /// One `σ` for every element.
    Scalar(f32),
    /// One `σ_j` per column (per visible unit of a GB-RBM).
    PerColumn(&'a [f32]),
    /// One `σ_ij` per element.
    PerElement(&'a [f32]),
}

/// What a Gaussian row sampler computes from `ε`.
#[derive(Clone, Copy)]
enum GMode<'a> {
    /// `out = mean + scale·ε`.
    Affine { mean: &'a [f32], scale: Scale<'a> },
    /// `out = μ + e^{lnσ²/2}·ε` and `eps = ε`.
    Reparam { mu: &'a [f32], logvar: &'a [f32] },
}

struct GRows<'a> {
    streams: Streams,
    row0: usize,
    cols: usize,
    out: &'a mut [f32],
    eps: Option<&'a mut [f32]>,
    mode: GMode<'a>,
}

impl GRows<'_> {
    /// Writes `n` outputs at element `j` of row `i` from the normals `e`.
    #[inline(always)]
    fn emit<S: Simd>(&mut self, s: S, i: usize, j: usize, n: usize, e: S::F) {
        let off = i * self.cols + j;
        let v = match self.mode {
            GMode::Affine { mean, scale } => {
                let m = s.load_part(&mean[off..off + n], 0.0);
                let sd = match scale {
                    Scale::Scalar(v) => s.splat(v),
                    Scale::PerColumn(c) => s.load_part(&c[j..j + n], 0.0),
                    Scale::PerElement(e) => s.load_part(&e[off..off + n], 0.0),
                };
                s.fma(sd, e, m)
            }
            GMode::Reparam { mu, logvar } => {
                let m = s.load_part(&mu[off..off + n], 0.0);
                let lv = s.load_part(&logvar[off..off + n], 0.0);
                let sd = math::exp(s, s.mul(lv, s.splat(0.5)));
                s.fma(sd, e, m)
            }
        };
        s.store_part(v, &mut self.out[off..off + n]);
        if let Some(eps) = self.eps.as_deref_mut() {
            s.store_part(e, &mut eps[off..off + n]);
        }
    }
}

impl Kernel for GRows<'_> {
    type Out = ();
    #[inline(always)]
    fn run<S: Simd>(mut self, s: S) {
        let cols = self.cols;
        if cols == 0 {
            return;
        }
        let rows = self.out.len() / cols;
        for i in 0..rows {
            let mut g = VRng::new(s, self.streams.row_key((self.row0 + i) as u64));
            let mut j = 0;
            while j < cols {
                let (e1, e2) = g.normal2(s);
                let n1 = (cols - j).min(LANES);
                self.emit(s, i, j, n1, e1);
                j += n1;
                if j < cols {
                    let n2 = (cols - j).min(LANES);
                    self.emit(s, i, j, n2, e2);
                    j += n2;
                }
            }
        }
    }
}

/// Gaussian samples `out = mean + σ·ε`, `ε ~ N(0, 1)`, row-major
/// `rows x cols` (GB-RBM visibles: `mean = b + σ W h`).
pub fn gaussian(
    streams: Streams,
    mean: &[f32],
    scale: Scale<'_>,
    out: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    gaussian_on(Isa::selected(), streams, mean, scale, out, rows, cols, par)
}

/// [`gaussian`] on a given instruction set.
#[allow(clippy::too_many_arguments)]
pub fn gaussian_on(
    isa: Isa,
    streams: Streams,
    mean: &[f32],
    scale: Scale<'_>,
    out: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    let isa = Checked::new(isa)?;
    check_len("gaussian: mean (rows x cols)", mean.len(), rows, cols)?;
    check_len("gaussian: out (rows x cols)", out.len(), rows, cols)?;
    match scale {
        Scale::Scalar(_) => {}
        Scale::PerColumn(c) => check_exact("gaussian: scale (one per column)", c.len(), cols)?,
        Scale::PerElement(e) => check_len("gaussian: scale (rows x cols)", e.len(), rows, cols)?,
    }
    rows1(par, rows, cols, out, |row0, out| {
        let (off, n) = (row0 * cols, out.len());
        let scale = match scale {
            Scale::PerElement(e) => Scale::PerElement(&e[off..off + n]),
            other => other,
        };
        dispatch(
            isa,
            GRows {
                streams,
                row0,
                cols,
                out,
                eps: None,
                mode: GMode::Affine {
                    mean: &mean[off..off + n],
                    scale,
                },
            },
        )
    });
    Ok(())
}

/// Additive Gaussian noise `out = x + s·ε` (denoising autoencoders).
#[allow(clippy::too_many_arguments)]
pub fn gaussian_noise(
    streams: Streams,
    x: &[f32],
    out: &mut [f32],
    s: f32,
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    gaussian_noise_on(Isa::selected(), streams, x, out, s, rows, cols, par)
}

/// [`gaussian_noise`] on a given instruction set.
#[allow(clippy::too_many_arguments)]
pub fn gaussian_noise_on(
    isa: Isa,
    streams: Streams,
    x: &[f32],
    out: &mut [f32],
    s: f32,
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    gaussian_on(isa, streams, x, Scale::Scalar(s), out, rows, cols, par)
}

/// The VAE reparameterisation in one pass: `ε ~ N(0, 1)`,
/// `z = μ + e^{lnσ²/2}·ε`; writes `z` and `eps` (kept for the gradient
/// `∂z/∂lnσ² = ½ σ ε`). All buffers row-major `rows x cols`.
#[allow(clippy::too_many_arguments)]
pub fn gaussian_reparam(
    streams: Streams,
    mu: &[f32],
    logvar: &[f32],
    z: &mut [f32],
    eps: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    gaussian_reparam_on(
        Isa::selected(),
        streams,
        mu,
        logvar,
        z,
        eps,
        rows,
        cols,
        par,
    )
}

/// [`gaussian_reparam`] on a given instruction set.
#[allow(clippy::too_many_arguments)]
pub fn gaussian_reparam_on(
    isa: Isa,
    streams: Streams,
    mu: &[f32],
    logvar: &[f32],
    z: &mut [f32],
    eps: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    let isa = Checked::new(isa)?;
    check_len("gaussian_reparam: mu (rows x cols)", mu.len(), rows, cols)?;
    check_len(
        "gaussian_reparam: logvar (rows x cols)",
        logvar.len(),
        rows,
        cols,
    )?;
    check_len("gaussian_reparam: z (rows x cols)", z.len(), rows, cols)?;
    check_len("gaussian_reparam: eps (rows x cols)", eps.len(), rows, cols)?;
    rows2(par, rows, cols, z, eps, |row0, z, eps| {
        let (off, n) = (row0 * cols, z.len());
        dispatch(
            isa,
            GRows {
                streams,
                row0,
                cols,
                out: z,
                eps: Some(eps),
                mode: GMode::Reparam {
                    mu: &mu[off..off + n],
                    logvar: &logvar[off..off + n],
                },
            },
        )
    });
    Ok(())
}
