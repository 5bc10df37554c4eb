//! Helpers shared by the autoencoders: shape checks, error conversion at the
//! engine boundary, parameter initialisation, disjoint mutable access to
//! gradient tensors, and a dense layer's forward and backward passes.

use latent_engine::{Matrix, ParamSet};
use latent_kernels::Par;
use latent_kernels::activation::{Activation, BiasActivation, activation_grad};
use latent_kernels::gemm::{Accum, MatMut, MatRef, NoEpilogue, Operand, product};
use latent_kernels::reduce::col_sums;

use super::operands::{Use, Weights};

use crate::error::{ModelError, Result};

/// `Err(Shape)` unless `found == expected`.
pub(crate) fn check_len(what: &str, found: usize, expected: usize) -> Result<()> {
    if found != expected {
        return Err(ModelError::Shape {
            what: what.to_string(),
            expected,
            found,
        });
    }
    Ok(())
}

/// An `InvalidConfig` error.
pub(crate) fn bad<T>(what: &'static str, value: String, expected: &'static str) -> Result<T> {
    Err(ModelError::InvalidConfig {
        what,
        value,
        expected,
    })
}

pub(crate) use crate::error::into_engine;

/// Copies the rows of a (possibly strided) `rows x cols` view into the
/// first `rows * cols` elements of a dense row-major buffer.
pub(crate) fn copy_rows(x: &MatRef<'_>, out: &mut [f32]) {
    copy_row_range(x, 0..x.rows(), out);
}

/// Copies rows `rows` of a (possibly strided) view into the first
/// `rows.len() * cols` elements of a dense row-major buffer.
pub(crate) fn copy_row_range(x: &MatRef<'_>, rows: std::ops::Range<usize>, out: &mut [f32]) {
    let cols = x.cols();
    let out = &mut out[..rows.len() * cols];
    if x.col_stride() == 1 && x.row_stride() == cols {
        out.copy_from_slice(&x.as_slice()[rows.start * cols..rows.end * cols]);
        return;
    }
    for (i, row) in rows.zip(out.chunks_exact_mut(cols.max(1))) {
        for (j, o) in row.iter_mut().enumerate() {
            *o = x.get(i, j).unwrap_or(0.0);
        }
    }
}

/// The first `len` elements of `buf`, grown (with zeros) if it is shorter:
/// allocates only when `len` is larger than any seen before.
pub(crate) fn grown<T: Copy + Default>(buf: &mut Vec<T>, len: usize) -> &mut [T] {
    if buf.len() < len {
        buf.resize(len, T::default());
    }
    &mut buf[..len]
}

/// Grows `levels` to one buffer per entry of `sizes`, level `i` holding at
/// least `rows * sizes[i]` elements (existing buffers only grow).
pub(crate) fn grown_levels(levels: &mut Vec<Vec<f32>>, rows: usize, sizes: &[usize]) {
    if levels.len() < sizes.len() {
        levels.resize_with(sizes.len(), Vec::new);
    }
    for (buf, &n) in levels.iter_mut().zip(sizes) {
        grown(buf, rows * n);
    }
}

/// Writes the dense row-major `rows x cols` buffer `src` (its first
/// `rows * cols` elements) into `out`, a view of any layout with that shape.
pub(crate) fn write_rows(src: &[f32], mut out: MatMut<'_>) {
    let (rows, cols) = (out.rows(), out.cols());
    let (rs, cs) = (out.row_stride(), out.col_stride());
    if rows == 0 || cols == 0 {
        return;
    }
    let dst = out.as_mut_slice();
    if cs == 1 && rs == cols {
        dst[..rows * cols].copy_from_slice(&src[..rows * cols]);
        return;
    }
    for (i, row) in src.chunks_exact(cols).take(rows).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            dst[i * rs + j * cs] = v;
        }
    }
}

/// A `rows x cols` weight matrix with Glorot-normal entries
/// (`std = sqrt(2/(rows+cols))`) or `N(0, std²)` when `std` is given.
pub(crate) fn init_weights(
    rng: &mut latent_engine::Rng,
    rows: usize,
    cols: usize,
    std: Option<f32>,
) -> Result<Matrix> {
    let s = std.map_or((2.0 / (rows + cols) as f64).sqrt(), |s| s as f64);
    Ok(Matrix::from_fn(rows, cols, |_, _| {
        (rng.normal() * s) as f32
    })?)
}

/// Mutable slices of two different tensors of a parameter set.
pub(crate) fn two_mut(p: &mut ParamSet, i: usize, j: usize) -> (&mut [f32], &mut [f32]) {
    debug_assert_ne!(i, j);
    let t = p.tensors_mut();
    if i < j {
        let (a, b) = t.split_at_mut(j);
        (a[i].value.as_mut_slice(), b[0].value.as_mut_slice())
    } else {
        let (a, b) = t.split_at_mut(i);
        (b[0].value.as_mut_slice(), a[j].value.as_mut_slice())
    }
}

/// The shape of a dense layer `out = input · W + 1 biasᵀ`, as stored.
#[derive(Clone, Copy)]
pub(crate) enum Stored {
    /// `W` is `n_in x n_out` (an encoder layer).
    InByOut,
    /// `W` is `n_out x n_in` and the layer applies `Wᵀ` (a decoder's `W'`).
    OutByIn,
}

/// Forward through a dense layer: `out = act(input · w + bias)` for the
/// first `rows` rows of `input` (`rows x w.rows()`) into the first rows of
/// `out` (`rows x w.cols()`), the bias and activation fused into the
/// product's write-out; the product in `w`'s precision.
pub(crate) fn dense_forward(
    input: &[f32],
    rows: usize,
    w: Operand<'_>,
    bias: &[f32],
    act: Activation,
    out: &mut [f32],
    par: Par,
) -> Result<()> {
    let (n_in, n_out) = (w.rows(), w.cols());
    product(
        1.0,
        MatRef::row_major(&input[..rows * n_in], rows, n_in)?,
        w,
        Accum::Replace,
        MatMut::row_major(&mut out[..rows * n_out], rows, n_out)?,
        &BiasActivation::new(bias, act),
        par,
    )?;
    Ok(())
}

/// `c ← a · b` (or `+=` with `accum`), no epilogue, in `b`'s precision.
pub(crate) fn matmul(
    a: MatRef<'_>,
    b: Operand<'_>,
    accum: Accum,
    c: MatMut<'_>,
    par: Par,
) -> Result<()> {
    product(1.0, a, b, accum, c, &NoEpilogue, par)?;
    Ok(())
}

/// Backward through a dense layer with weights `w` (parameter `w` of
/// `weights`) from the delta `d` at its pre-activation (`rows x n_out`):
/// the weight gradient `inputᵀ d` (or `dᵀ input` for [`Stored::OutByIn`])
/// into `grad_w` with `accum` (tied weights add the second use), the bias
/// gradient (column sums of `d`) into `grad_b`, and, when `delta_in` is
/// given, the delta at the layer's input `d · Wᵀ` (or `d · W`),
/// `rows x n_in`; the products in `weights`' precision.
#[allow(clippy::too_many_arguments)]
pub(crate) fn dense_backward(
    input: &[f32],
    d: &[f32],
    (rows, n_in, n_out): (usize, usize, usize),
    (weights, w): (&Weights<'_>, usize),
    stored: Stored,
    accum: Accum,
    (grad_w, grad_b): (&mut [f32], &mut [f32]),
    delta_in: Option<&mut [f32]>,
    par: Par,
) -> Result<()> {
    let input = MatRef::row_major(input, rows, n_in)?;
    let d_view = MatRef::row_major(d, rows, n_out)?;
    match stored {
        Stored::InByOut => matmul(
            input.t(),
            weights.data(d_view),
            accum,
            MatMut::row_major(grad_w, n_in, n_out)?,
            par,
        )?,
        Stored::OutByIn => matmul(
            d_view.t(),
            weights.data(input),
            accum,
            MatMut::row_major(grad_w, n_out, n_in)?,
            par,
        )?,
    }
    col_sums(d, rows, n_out, grad_b, par)?;
    if let Some(delta_in) = delta_in {
        let w_back = match stored {
            Stored::InByOut => weights.of(w, Use::Transposed),
            Stored::OutByIn => weights.of(w, Use::AsStored),
        };
        let out = MatMut::row_major(delta_in, rows, n_in)?;
        matmul(d_view, w_back, Accum::Replace, out, par)?;
    }
    Ok(())
}

/// Back-propagates through the dense encoder layers `0..depth` (`depth =
/// sizes.len() - 1`), from the delta at the top layer's output in
/// `dh[depth]`: for each layer from the top, the activation's derivative
/// (from its output `h[i + 1]`), then [`dense_backward`] into the layer's
/// weight and bias gradients (`enc_w[i]`, `enc_c[i]`, replaced), and the
/// delta at its input into `dh[i]` for every layer but the first; the
/// products in `weights`' precision.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encoder_backward(
    h: &[Vec<f32>],
    dh: &mut [Vec<f32>],
    sizes: &[usize],
    activations: &[Activation],
    weights: &Weights<'_>,
    (enc_w, enc_c): (&[usize], &[usize]),
    grads: &mut ParamSet,
    rows: usize,
    par: Par,
) -> Result<()> {
    for i in (0..sizes.len() - 1).rev() {
        let (n_lo, n_hi) = (sizes[i], sizes[i + 1]);
        let (dlo, dhi) = dh.split_at_mut(i + 1);
        let d = &mut dhi[0][..rows * n_hi];
        activation_grad(activations[i], &h[i + 1][..rows * n_hi], d, par)?;
        dense_backward(
            &h[i][..rows * n_lo],
            d,
            (rows, n_lo, n_hi),
            (weights, enc_w[i]),
            Stored::InByOut,
            Accum::Replace,
            two_mut(grads, enc_w[i], enc_c[i]),
            if i > 0 {
                Some(&mut dlo[i][..rows * n_lo])
            } else {
                None
            },
            par,
        )?;
    }
    Ok(())
}
