//! Activations: vectorised `exp`, sigmoid, tanh, softplus and log-sigmoid;
//! the fused `act(X W + 1 cᵀ)` epilogue for [`gemm`](crate::gemm::gemm);
//! the same as an in-place pass; and activation derivatives fused with the
//! incoming gradient.
//!
//! Accuracy (measured by `tests/activations.rs` on a dense grid of the
//! whole `f32` range plus ±0, subnormals, ±88..±104, ±`f32::MAX` and ±∞,
//! on every instruction set, against the `f64` result rounded to `f32`):
//!
//! | function | bound |
//! | --- | --- |
//! | [`exp`] | 2 ulp (1 ulp measured), `+∞` above `ln f32::MAX`, `0` below `ln 2^-150` |
//! | [`sigmoid`] | 4 ulp (2 ulp measured); `1` above ≈17, `0` below ≈-87.3 (never subnormal) |
//! | [`tanh`] | 2 ulp (1 ulp measured) |
//! | [`softplus`], [`log_sigmoid`] | 4 ulp (3 ulp measured) |
//!
//! No function returns NaN for a finite input; NaN inputs give NaN. None
//! uses bit-trick approximations: `exp` is a Cody-Waite reduction and a
//! degree-7 polynomial, divisions are true divisions (see
//! `simd::math` in the source for the formulas).

use crate::gemm::{Epilogue, TileRows};
use crate::simd::{Checked, Kernel, LANES, Simd, dispatch, math};
use crate::split::{check_exact, check_len, flat1, rows1};
use crate::{Isa, KernelError, Par};
use std::marker::PhantomData;

/// A layer's element-wise nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Activation {
    /// `y = a` (linear units, VAE heads, linear code layers).
    #[default]
    Identity,
    /// `y = σ(a) = 1/(1+e^{-a})`.
    Sigmoid,
    /// `y = max(a, 0)`.
    Relu,
    /// `y = tanh(a)`.
    Tanh,
    /// `y = softplus(a) = ln(1+e^a)`.
    Softplus,
}

impl Activation {
    /// Every activation, for tests and reports.
    pub const ALL: [Activation; 5] = [
        Activation::Identity,
        Activation::Sigmoid,
        Activation::Relu,
        Activation::Tanh,
        Activation::Softplus,
    ];

    /// A lower-case name (`"sigmoid"`, …).
    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Sigmoid => "sigmoid",
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Softplus => "softplus",
        }
    }
}

/// A vectorised function of one lane (crate-private; zero-sized types).
pub(crate) trait Unary: Copy + Send + Sync {
    fn f<S: Simd>(s: S, v: S::F) -> S::F;
}

macro_rules! unary {
    ($name:ident, |$s:ident, $v:ident| $body:expr) => {
        #[derive(Clone, Copy)]
        pub(crate) struct $name;
        impl Unary for $name {
            #[inline(always)]
            fn f<S: Simd>($s: S, $v: S::F) -> S::F {
                $body
            }
        }
    };
}

unary!(OpIdentity, |_s, v| v);
unary!(OpExp, |s, v| math::exp(s, v));
unary!(OpSigmoid, |s, v| math::sigmoid(s, v));
// max(0, v) returns v when v is NaN, so NaN propagates.
unary!(OpRelu, |s, v| s.max(s.splat(0.0), v));
unary!(OpTanh, |s, v| math::tanh(s, v));
unary!(OpSoftplus, |s, v| math::softplus(s, v));
unary!(OpLogSigmoid, |s, v| s
    .sub(s.splat(0.0), math::softplus(s, s.sub(s.splat(0.0), v))));

/// Calls `$go::<Op>()` with the `Unary` type of an [`Activation`].
macro_rules! with_act {
    ($act:expr, $go:ident ( $($arg:expr),* )) => {
        match $act {
            Activation::Identity => $go::<OpIdentity>($($arg),*),
            Activation::Sigmoid => $go::<OpSigmoid>($($arg),*),
            Activation::Relu => $go::<OpRelu>($($arg),*),
            Activation::Tanh => $go::<OpTanh>($($arg),*),
            Activation::Softplus => $go::<OpSoftplus>($($arg),*),
        }
    };
}

/// `y[i] = O(x[i] + bias[i])` (bias optional), `y` may be `x`'s storage.
#[inline(always)]
pub(crate) fn map_row<S: Simd, O: Unary>(s: S, x: &mut [f32], bias: Option<&[f32]>) {
    let n = x.len();
    let full = n - n % LANES;
    let (head, tail) = x.split_at_mut(full);
    match bias {
        Some(bias) => {
            let (bh, bt) = bias.split_at(full);
            for (c, b) in head
                .as_chunks_mut::<LANES>()
                .0
                .iter_mut()
                .zip(bh.as_chunks::<LANES>().0)
            {
                let v = s.add(s.load(c), s.load(b));
                s.store(O::f(s, v), c);
            }
            if !tail.is_empty() {
                let v = s.add(s.load_part(tail, 0.0), s.load_part(bt, 0.0));
                s.store_part(O::f(s, v), tail);
            }
        }
        None => {
            for c in head.as_chunks_mut::<LANES>().0 {
                let v = s.load(c);
                s.store(O::f(s, v), c);
            }
            if !tail.is_empty() {
                let v = s.load_part(tail, 0.0);
                s.store_part(O::f(s, v), tail);
            }
        }
    }
}

/// `y[i] = O(x[i])`, out of place.
#[inline(always)]
fn map_into<S: Simd, O: Unary>(s: S, x: &[f32], y: &mut [f32]) {
    let n = x.len();
    let full = n - n % LANES;
    for (xc, yc) in x[..full]
        .as_chunks::<LANES>()
        .0
        .iter()
        .zip(y[..full].as_chunks_mut::<LANES>().0)
    {
        s.store(O::f(s, s.load(xc)), yc);
    }
    if full < n {
        let v = s.load_part(&x[full..], 0.0);
        s.store_part(O::f(s, v), &mut y[full..n]);
    }
}

struct MapInto<'a, O> {
    x: &'a [f32],
    y: &'a mut [f32],
    op: PhantomData<O>,
}

impl<O: Unary> Kernel for MapInto<'_, O> {
    type Out = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        map_into::<S, O>(s, self.x, self.y)
    }
}

/// Rows of `cols` elements, each `x ← O(x + bias)`.
struct BiasRows<'a, O> {
    x: &'a mut [f32],
    cols: usize,
    bias: Option<&'a [f32]>,
    op: PhantomData<O>,
}

impl<O: Unary> Kernel for BiasRows<'_, O> {
    type Out = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        match self.bias {
            // Without a bias, rows are contiguous: one flat pass.
            None => map_row::<S, O>(s, self.x, None),
            Some(_) if self.cols == 0 => {}
            Some(b) => {
                for row in self.x.chunks_exact_mut(self.cols) {
                    map_row::<S, O>(s, row, Some(b))
                }
            }
        }
    }
}

fn map_into_on<O: Unary>(isa: Isa, x: &[f32], y: &mut [f32]) -> Result<(), KernelError> {
    let isa = Checked::new(isa)?;
    check_exact("output (one per input)", y.len(), x.len())?;
    dispatch(
        isa,
        MapInto::<O> {
            x,
            y,
            op: PhantomData,
        },
    );
    Ok(())
}

/// `y = e^x` element-wise (Cody-Waite + polynomial; within 2 ulp).
pub fn exp(x: &[f32], y: &mut [f32]) -> Result<(), KernelError> {
    exp_on(Isa::selected(), x, y)
}

/// [`exp`] on a given instruction set; `IsaUnavailable` if this CPU lacks it.
pub fn exp_on(isa: Isa, x: &[f32], y: &mut [f32]) -> Result<(), KernelError> {
    map_into_on::<OpExp>(isa, x, y)
}

/// `y = σ(x) = 1/(1+e^{-x})` element-wise, within 4 ulp of the correctly
/// rounded result for every `f32` (2 ulp measured), saturating to exactly
/// `1` and `0`, never NaN for a non-NaN input.
pub fn sigmoid(x: &[f32], y: &mut [f32]) -> Result<(), KernelError> {
    sigmoid_on(Isa::selected(), x, y)
}

/// [`sigmoid`] on a given instruction set.
pub fn sigmoid_on(isa: Isa, x: &[f32], y: &mut [f32]) -> Result<(), KernelError> {
    map_into_on::<OpSigmoid>(isa, x, y)
}

/// `y = tanh(x)` element-wise, within 2 ulp.
pub fn tanh(x: &[f32], y: &mut [f32]) -> Result<(), KernelError> {
    tanh_on(Isa::selected(), x, y)
}

/// [`tanh`] on a given instruction set.
pub fn tanh_on(isa: Isa, x: &[f32], y: &mut [f32]) -> Result<(), KernelError> {
    map_into_on::<OpTanh>(isa, x, y)
}

/// `y = softplus(x) = ln(1+e^x)` element-wise, in the stable form
/// `max(x,0) + log1p(e^{-|x|})`; within 4 ulp, never overflows.
pub fn softplus(x: &[f32], y: &mut [f32]) -> Result<(), KernelError> {
    softplus_on(Isa::selected(), x, y)
}

/// [`softplus`] on a given instruction set.
pub fn softplus_on(isa: Isa, x: &[f32], y: &mut [f32]) -> Result<(), KernelError> {
    map_into_on::<OpSoftplus>(isa, x, y)
}

/// `y = ln σ(x) = -softplus(-x)` element-wise; within 4 ulp.
pub fn log_sigmoid(x: &[f32], y: &mut [f32]) -> Result<(), KernelError> {
    log_sigmoid_on(Isa::selected(), x, y)
}

/// [`log_sigmoid`] on a given instruction set.
pub fn log_sigmoid_on(isa: Isa, x: &[f32], y: &mut [f32]) -> Result<(), KernelError> {
    map_into_on::<OpLogSigmoid>(isa, x, y)
}

/// `x ← act(x)` in place, on a flat buffer.
pub fn activate(act: Activation, x: &mut [f32], par: Par) {
    activate_checked(Checked::selected(), act, x, par)
}

/// [`activate`] on a given instruction set.
pub fn activate_on(isa: Isa, act: Activation, x: &mut [f32], par: Par) -> Result<(), KernelError> {
    activate_checked(Checked::new(isa)?, act, x, par);
    Ok(())
}

fn activate_checked(isa: Checked, act: Activation, x: &mut [f32], par: Par) {
    fn go<O: Unary>(isa: Checked, x: &mut [f32], par: Par) {
        flat1(par, x, |_, c| {
            dispatch(
                isa,
                BiasRows::<O> {
                    x: c,
                    cols: 0,
                    bias: None,
                    op: PhantomData,
                },
            )
        })
    }
    with_act!(act, go(isa, x, par))
}

/// `X ← act(X + 1 biasᵀ)` in place, for a row-major `rows x cols` `X`
/// (the unfused form of [`BiasActivation`], for a product computed
/// elsewhere). `bias` is `None` or has `cols` elements.
pub fn bias_activation(
    act: Activation,
    bias: Option<&[f32]>,
    x: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    bias_activation_on(Isa::selected(), act, bias, x, rows, cols, par)
}

/// [`bias_activation`] on a given instruction set.
pub fn bias_activation_on(
    isa: Isa,
    act: Activation,
    bias: Option<&[f32]>,
    x: &mut [f32],
    rows: usize,
    cols: usize,
    par: Par,
) -> Result<(), KernelError> {
    let isa = Checked::new(isa)?;
    check_len("bias_activation: X (rows x cols)", x.len(), rows, cols)?;
    if let Some(b) = bias {
        check_exact("bias_activation: bias (one per column)", b.len(), cols)?;
    }
    fn go<O: Unary>(
        isa: Checked,
        bias: Option<&[f32]>,
        x: &mut [f32],
        rows: usize,
        cols: usize,
        par: Par,
    ) {
        rows1(par, rows, cols, x, |_, c| {
            dispatch(
                isa,
                BiasRows::<O> {
                    x: c,
                    cols,
                    bias,
                    op: PhantomData,
                },
            )
        })
    }
    with_act!(act, go(isa, bias, x, rows, cols, par));
    Ok(())
}

/// The fused layer epilogue `Y = act(X W + 1 cᵀ)`: pass it to
/// [`gemm`](crate::gemm::gemm) and the bias and activation are applied to
/// each tile of the product while it is in cache, with no second pass.
#[derive(Debug, Clone, Copy)]
pub struct BiasActivation<'a> {
    bias: Option<&'a [f32]>,
    act: Activation,
    isa: Checked,
}

impl<'a> BiasActivation<'a> {
    /// `act(· + 1 biasᵀ)` on the default instruction set; [`gemm`] checks
    /// that `bias` has one element per column of C.
    ///
    /// [`gemm`]: crate::gemm::gemm
    pub fn new(bias: &'a [f32], act: Activation) -> Self {
        BiasActivation {
            bias: Some(bias),
            act,
            isa: Checked::selected(),
        }
    }

    /// `act(·)` with no bias.
    pub fn without_bias(act: Activation) -> Self {
        BiasActivation {
            bias: None,
            act,
            isa: Checked::selected(),
        }
    }

    /// `act(· + 1 biasᵀ)` (or no bias) on a given instruction set;
    /// `IsaUnavailable` if this CPU lacks it.
    pub fn on(isa: Isa, bias: Option<&'a [f32]>, act: Activation) -> Result<Self, KernelError> {
        Ok(BiasActivation {
            bias,
            act,
            isa: Checked::new(isa)?,
        })
    }

    /// The activation.
    pub fn activation(&self) -> Activation {
        self.act
    }
}

impl Epilogue for BiasActivation<'_> {
    fn check(&self, _rows: usize, cols: usize) -> Result<(), KernelError> {
        match self.bias {
            Some(b) => check_exact(
                "gemm: bias of a BiasActivation epilogue (one per column of C)",
                b.len(),
                cols,
            ),
            None => Ok(()),
        }
    }

    #[inline]
    fn apply_row(&self, _row: usize, col0: usize, values: &mut [f32]) {
        let bias = self.bias.map(|b| &b[col0..col0 + values.len()]);
        let cols = values.len();
        fn go<O: Unary>(isa: Checked, x: &mut [f32], cols: usize, bias: Option<&[f32]>) {
            dispatch(
                isa,
                BiasRows::<O> {
                    x,
                    cols,
                    bias,
                    op: PhantomData,
                },
            )
        }
        with_act!(self.act, go(self.isa, values, cols, bias))
    }

    /// One instruction-set dispatch for the whole tile, not one per row (a
    /// column strip of a product is many short rows).
    #[inline]
    fn apply_tile(&self, _row0: usize, col0: usize, tile: &mut TileRows<'_>) {
        let bias = self.bias.map(|b| &b[col0..col0 + tile.cols()]);
        fn go<O: Unary>(isa: Checked, tile: &mut TileRows<'_>, bias: Option<&[f32]>) {
            dispatch(
                isa,
                BiasTile::<O> {
                    tile,
                    bias,
                    op: PhantomData,
                },
            )
        }
        with_act!(self.act, go(self.isa, tile, bias))
    }
}

/// The rows of a finished tile of a product, each `x ← O(x + bias)`.
struct BiasTile<'t, 'a, O> {
    tile: &'t mut TileRows<'a>,
    bias: Option<&'t [f32]>,
    op: PhantomData<O>,
}

impl<O: Unary> Kernel for BiasTile<'_, '_, O> {
    type Out = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        for i in 0..self.tile.rows() {
            map_row::<S, O>(s, self.tile.row(i), self.bias)
        }
    }
}

/// A derivative from the stored output, times the incoming gradient.
trait Deriv: Copy + Send + Sync {
    /// `δ · act'(y)`.
    fn f<S: Simd>(s: S, y: S::F, d: S::F) -> S::F;
}

macro_rules! deriv {
    ($name:ident, |$s:ident, $y:ident, $d:ident| $body:expr) => {
        #[derive(Clone, Copy)]
        struct $name;
        impl Deriv for $name {
            #[inline(always)]
            fn f<S: Simd>($s: S, $y: S::F, $d: S::F) -> S::F {
                $body
            }
        }
    };
}

deriv!(DSigmoid, |s, y, d| s
    .mul(d, s.mul(y, s.sub(s.splat(1.0), y))));
deriv!(DRelu, |s, y, d| s.select(
    s.lt(s.splat(0.0), y),
    d,
    s.splat(0.0)
));
deriv!(DTanh, |s, y, d| s
    .mul(d, s.fma(s.sub(s.splat(0.0), y), y, s.splat(1.0))));
// softplus'(x) = σ(x) = 1 - e^{-y} = -expm1(-y), accurate for small y.
deriv!(DSoftplus, |s, y, d| s.mul(
    d,
    s.sub(s.splat(0.0), math::expm1(s, s.sub(s.splat(0.0), y)))
));

struct DerivKernel<'a, D> {
    y: &'a [f32],
    d: &'a mut [f32],
    op: PhantomData<D>,
}

impl<D: Deriv> Kernel for DerivKernel<'_, D> {
    type Out = ();
    #[inline(always)]
    fn run<S: Simd>(self, s: S) {
        let n = self.y.len();
        let full = n - n % LANES;
        for (yc, dc) in self.y[..full]
            .as_chunks::<LANES>()
            .0
            .iter()
            .zip(self.d[..full].as_chunks_mut::<LANES>().0)
        {
            let v = D::f(s, s.load(yc), s.load(dc));
            s.store(v, dc);
        }
        if full < n {
            let y = s.load_part(&self.y[full..], 0.0);
            let d = s.load_part(&self.d[full..], 0.0);
            s.store_part(D::f(s, y, d), &mut self.d[full..n]);
        }
    }
}

/// `δ ← δ ⊙ act'(·)` computed from the stored outputs `y = act(a)`:
/// sigmoid `y(1-y)`, ReLU `[y > 0]`, tanh `1-y²`, softplus `1-e^{-y}`
/// (that is `σ(a)`), identity `1`. `y` and `delta` have the same length.
pub fn activation_grad(
    act: Activation,
    y: &[f32],
    delta: &mut [f32],
    par: Par,
) -> Result<(), KernelError> {
    activation_grad_on(Isa::selected(), act, y, delta, par)
}

/// [`activation_grad`] on a given instruction set.
pub fn activation_grad_on(
    isa: Isa,
    act: Activation,
    y: &[f32],
    delta: &mut [f32],
    par: Par,
) -> Result<(), KernelError> {
    let isa = Checked::new(isa)?;
    check_exact(
        "activation_grad: delta (one per output)",
        delta.len(),
        y.len(),
    )?;
    fn go<D: Deriv>(isa: Checked, y: &[f32], delta: &mut [f32], par: Par) {
        flat1(par, delta, |off, c| {
            let n = c.len();
            dispatch(
                isa,
                DerivKernel::<D> {
                    y: &y[off..off + n],
                    d: c,
                    op: PhantomData,
                },
            )
        })
    }
    match act {
        Activation::Identity => {}
        Activation::Sigmoid => go::<DSigmoid>(isa, y, delta, par),
        Activation::Relu => go::<DRelu>(isa, y, delta, par),
        Activation::Tanh => go::<DTanh>(isa, y, delta, par),
        Activation::Softplus => go::<DSoftplus>(isa, y, delta, par),
    }
    Ok(())
}
