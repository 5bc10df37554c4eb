//! Samplers driven by uniforms: uniforms, Bernoulli samples, the fused
//! sigmoid-Bernoulli Gibbs half-step, masking and salt-and-pepper noise.

use super::Streams;
use super::vrng::VRng;
use crate::activation::OpSigmoid;
use crate::activation::Unary;
use crate::simd::{Checked, Kernel, LANES, Simd, dispatch};
use crate::split::{check_exact, check_len, rows1, rows2};
use crate::{Isa, KernelError, Par};

/// What a row sampler does with its uniforms.
#[derive(Clone, Copy)]
enum UMode<'a> {
    /// `out = u`.
    Uniform,
    /// `out = [u < p]`.
    Bernoulli { p: &'a [f32] },
    /// `out = x·[u >= nu]`.
    Mask { x: &'a [f32], nu: f32 },
    /// `out = lo` if `u < nu/2`, `hi` if `nu/2 <= u < nu`, else `x`.
    SaltPepper {
        x: &'a [f32],
        nu: f32,
        lo: f32,
        hi: f32,
    },
}

struct URows<'a> {
    streams: Streams,
    row0: usize,
    cols: usize,
    out: &'a mut [f32],
    mode: UMode<'a>,
}

impl Kernel for URows<'_> {
    type Out = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let cols = self.cols;
        if cols == 0 {
            return;
        }
        let zero = s.splat(0.0);
        let one = s.splat(1.0);
        for (i, row) in self.out.chunks_exact_mut(cols).enumerate() {
            let r = self.row0 + i;
            let mut g = VRng::new(s, self.streams.row_key(r as u64));
            let off = i * cols;
            let mut j = 0;
            while j < cols {
                let n = (cols - j).min(LANES);
                let u = g.uniform(s);
                let v = match self.mode {
                    UMode::Uniform => u,
                    UMode::Bernoulli { p } => {
                        let p = s.load_part(&p[off + j..off + j + n], 0.0);
                        s.select(s.lt(u, p), one, zero)
                    }
                    UMode::Mask { x, nu } => {
                        let x = s.load_part(&x[off + j..off + j + n], 0.0);
                        s.select(s.lt(u, s.splat(nu)), zero, x)
                    }
                    UMode::SaltPepper { x, nu, lo, hi } => {
                        let x = s.load_part(&x[off + j..off + j + n], 0.0);
                        let v = s.select(s.lt(u, s.splat(nu)), s.splat(hi), x);
                        s.select(s.lt(u, s.splat(0.5 * nu)), s.splat(lo), v)
                    }
                };
                if n == LANES {
                    let dst: &mut [f32; LANES] = (&mut row[j..j + LANES]).try_into().unwrap();
                    s.store(v, dst);
                } else {
                    s.store_part(v, &mut row[j..j + n]);
                }
                j += n;
            }
        }
    }
}

/// Rows of `a ← σ(a + bias)`, `samples = [u < σ(a + bias)]`, in one pass.
struct SigmoidBernoulliRows<'a> {
    streams: Streams,
    row0: usize,
    cols: usize,
    a: &'a mut [f32],
    samples: &'a mut [f32],
    bias: Option<&'a [f32]>,
}

impl Kernel for SigmoidBernoulliRows<'_> {
    type Out = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let cols = self.cols;
        if cols == 0 {
            return;
        }
        let zero = s.splat(0.0);
        let one = s.splat(1.0);
        for (i, (arow, srow)) in self
            .a
            .chunks_exact_mut(cols)
            .zip(self.samples.chunks_exact_mut(cols))
            .enumerate()
        {
            let mut g = VRng::new(s, self.streams.row_key((self.row0 + i) as u64));
            let mut j = 0;
            while j < cols {
                let n = (cols - j).min(LANES);
                let mut a = s.load_part(&arow[j..j + n], 0.0);
                if let Some(b) = self.bias {
                    a = s.add(a, s.load_part(&b[j..j + n], 0.0));
                }
                let p = OpSigmoid::f(s, a);
                let u = g.uniform(s);
                let h = s.select(s.lt(u, p), one, zero);
                s.store_part(p, &mut arow[j..j + n]);
                s.store_part(h, &mut srow[j..j + n]);
                j += n;
            }
        }
    }
}

fn run_u(
    isa: Checked,
    streams: Streams,
    out: &mut [f32],
    rows: usize,
    cols: usize,
    mode: UMode<'_>,
    par: Par,
) {
    rows1(par, rows, cols, out, |row0, out| {
        let off = row0 * cols;
        let n = out.len();
        let mode = match mode {
            UMode::Uniform => UMode::Uniform,
            UMode::Bernoulli { p } => UMode::Bernoulli {
                p: &p[off..off + n],
            },
            UMode::Mask { x, nu } => UMode::Mask {
                x: &x[off..off + n],
                nu,
            },
            UMode::SaltPepper { x, nu, lo, hi } => UMode::SaltPepper {
                x: &x[off..off + n],
                nu,
                lo,
                hi,
            },
        };
        dispatch(
            isa,
            URows {
                streams,
                row0,
                cols,
                out,
                mode,
            },
        )
    })
}

pub(super) fn check_prob(what: &'static str, nu: f32) -> Result<(), KernelError> {
    if (0.0..=1.0).contains(&nu) {
        Ok(())
    } else {
        Err(KernelError::InvalidValue {
            what,
            value: nu.to_string(),
            expected: "a probability in [0, 1]",
        })
    }
}

/// Fills the row-major `rows x cols` `out` with uniforms in `[0, 1)`.
pub fn uniform(
    streams: Streams,
    out: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    uniform_on(Isa::selected(), streams, out, rows, cols, par)
}

/// [`uniform`] on a given instruction set.
pub fn uniform_on(
    isa: Isa,
    streams: Streams,
    out: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    let isa = Checked::new(isa)?;
    check_len("uniform: out (rows x cols)", out.len(), rows, cols)?;
    run_u(isa, streams, out, rows, cols, UMode::Uniform, par);
    Ok(())
}

/// Bernoulli samples `out = [u < p]` (as `1.0`/`0.0`) of the probabilities
/// `p`, both row-major `rows x cols`.
pub fn bernoulli(
    streams: Streams,
    p: &[f32],
    out: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    bernoulli_on(Isa::selected(), streams, p, out, rows, cols, par)
}

/// [`bernoulli`] on a given instruction set.
pub fn bernoulli_on(
    isa: Isa,
    streams: Streams,
    p: &[f32],
    out: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    let isa = Checked::new(isa)?;
    check_len("bernoulli: p (rows x cols)", p.len(), rows, cols)?;
    check_len("bernoulli: out (rows x cols)", out.len(), rows, cols)?;
    run_u(isa, streams, out, rows, cols, UMode::Bernoulli { p }, par);
    Ok(())
}

/// The Gibbs half-step in one pass: `a ← σ(a + 1 biasᵀ)` (the
/// probabilities, in place over the pre-activations) and
/// `samples = [u < a]`. `a` and `samples` are row-major `rows x cols`;
/// `bias` is `None` (already added, e.g. by the GEMM epilogue) or has `cols`
/// elements.
pub fn sigmoid_bernoulli(
    streams: Streams,
    a: &mut [f32],
    bias: Option<&[f32]>,
    samples: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    sigmoid_bernoulli_on(Isa::selected(), streams, a, bias, samples, rows, cols, par)
}

/// [`sigmoid_bernoulli`] on a given instruction set.
#[allow(clippy::too_many_arguments)]
pub fn sigmoid_bernoulli_on(
    isa: Isa,
    streams: Streams,
    a: &mut [f32],
    bias: Option<&[f32]>,
    samples: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    let isa = Checked::new(isa)?;
    check_len("sigmoid_bernoulli: a (rows x cols)", a.len(), rows, cols)?;
    check_len(
        "sigmoid_bernoulli: samples (rows x cols)",
        samples.len(),
        rows,
        cols,
    )?;
    if let Some(b) = bias {
        check_exact("sigmoid_bernoulli: bias (one per column)", b.len(), cols)?;
    }
    rows2(par, rows, cols, a, samples, |row0, a, samples| {
        dispatch(
            isa,
            SigmoidBernoulliRows {
                streams,
                row0,
                cols,
                a,
                samples,
                bias,
            },
        )
    });
    Ok(())
}

/// Masking noise: `out = x·[u >= ν]`, each input zeroed with probability
/// `nu` (denoising autoencoders).
pub fn mask_noise(
    streams: Streams,
    x: &[f32],
    out: &mut [f32],
    nu: f32,
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    mask_noise_on(Isa::selected(), streams, x, out, nu, rows, cols, par)
}

/// [`mask_noise`] on a given instruction set.
#[allow(clippy::too_many_arguments)]
pub fn mask_noise_on(
    isa: Isa,
    streams: Streams,
    x: &[f32],
    out: &mut [f32],
    nu: f32,
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    let isa = Checked::new(isa)?;
    check_prob("mask_noise: nu", nu)?;
    check_len("mask_noise: x (rows x cols)", x.len(), rows, cols)?;
    check_len("mask_noise: out (rows x cols)", out.len(), rows, cols)?;
    run_u(isa, streams, out, rows, cols, UMode::Mask { x, nu }, par);
    Ok(())
}

/// Salt-and-pepper noise: with probability `nu` an input is replaced, by
/// `lo` or `hi` with equal probability; otherwise it is kept.
#[allow(clippy::too_many_arguments)]
pub fn salt_pepper(
    streams: Streams,
    x: &[f32],
    out: &mut [f32],
    nu: f32,
    lo: f32,
    hi: f32,
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    salt_pepper_on(
        Isa::selected(),
        streams,
        x,
        out,
        nu,
        lo,
        hi,
        rows,
        cols,
        par,
    )
}

/// [`salt_pepper`] on a given instruction set.
#[allow(clippy::too_many_arguments)]
pub fn salt_pepper_on(
    isa: Isa,
    streams: Streams,
    x: &[f32],
    out: &mut [f32],
    nu: f32,
    lo: f32,
    hi: f32,
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    let isa = Checked::new(isa)?;
    check_prob("salt_pepper: nu", nu)?;
    check_len("salt_pepper: x (rows x cols)", x.len(), rows, cols)?;
    check_len("salt_pepper: out (rows x cols)", out.len(), rows, cols)?;
    run_u(
        isa,
        streams,
        out,
        rows,
        cols,
        UMode::SaltPepper { x, nu, lo, hi },
        par,
    );
    Ok(())
}
