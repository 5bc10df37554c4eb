//! Adam over slices, bit for bit its scalar rule on every instruction set.

use super::any_nonzero;
use crate::Isa;
use crate::error::KernelError;
use crate::simd::{Checked, Kernel, LANES, Simd, dispatch};
use crate::split::check_exact;

/// Adam (Kingma & Ba 2015) with L2 weight decay added to the gradient and
/// bias-corrected moments: with `g ← g + λ·w`,
/// `m ← β₁·m + (1−β₁)·g`, `s ← β₂·s + (1−β₂)·g·g` and
/// `w ← w − lr·(m/c₁) / (√(s/c₂) + ε)`, where `c₁ = 1 − β₁ᵗ` and
/// `c₂ = 1 − β₂ᵗ` at step `t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamRule {
    /// `β₁`, the decay of the first moment.
    pub beta1: f32,
    /// `β₂`, the decay of the second moment.
    pub beta2: f32,
    /// `ε`, added to the root of the second moment.
    pub eps: f32,
    /// `lr`, the learning rate.
    pub lr: f32,
    /// `λ`, the L2 weight decay.
    pub decay: f32,
    /// `c₁ = 1 − β₁ᵗ`.
    pub c1: f32,
    /// `c₂ = 1 − β₂ᵗ`.
    pub c2: f32,
}

/// One Adam step over slices (see [`adam`]).
struct AdamRun<'a> {
    rule: AdamRule,
    old: Option<&'a [f32]>,
    grad: &'a [f32],
    m: &'a mut [f32],
    s: &'a mut [f32],
    out: &'a mut [f32],
}

impl Kernel for AdamRun<'_> {
    /// Whether a new parameter is NaN or infinite.
    type Out = bool;

    #[inline(always)]
    fn run<S: Simd>(self, s: S) -> bool {
        let AdamRun {
            rule,
            old,
            grad,
            m,
            s: sq,
            out,
        } = self;
        let r = rule;
        let (b1, b2, omb1, omb2) = (
            s.splat(r.beta1),
            s.splat(r.beta2),
            s.splat(1.0 - r.beta1),
            s.splat(1.0 - r.beta2),
        );
        let (eps, lr, lam, c1, c2) = (
            s.splat(r.eps),
            s.splat(r.lr),
            s.splat(r.decay),
            s.splat(r.c1),
            s.splat(r.c2),
        );
        let mut non_finite = s.splat(0.0);
        let k = AdamConsts {
            b1,
            b2,
            omb1,
            omb2,
            eps,
            lr,
            lam,
            c1,
            c2,
        };
        // `adam_step` is a function, not a closure: a closure is compiled
        // outside the instruction set's `#[target_feature]` shell, and its
        // vector operations would become calls.
        let n = out.len();
        let full = n - n % LANES;
        {
            let outs = out[..full].as_chunks_mut::<LANES>().0;
            let ms = m[..full].as_chunks_mut::<LANES>().0;
            let sqs = sq[..full].as_chunks_mut::<LANES>().0;
            let grads = grad[..full].as_chunks::<LANES>().0;
            let chunks = outs.iter_mut().zip(ms).zip(sqs).zip(grads);
            match old {
                Some(old) => {
                    let olds = old[..full].as_chunks::<LANES>().0;
                    for ((((o, mc), sc), g), w0) in chunks.zip(olds) {
                        let (m1, s1, w) = adam_step(
                            s,
                            &k,
                            s.load(w0),
                            s.load(g),
                            s.load(mc),
                            s.load(sc),
                            &mut non_finite,
                        );
                        s.store(m1, mc);
                        s.store(s1, sc);
                        s.store(w, o);
                    }
                }
                None => {
                    for (((o, mc), sc), g) in chunks {
                        let (m1, s1, w) = adam_step(
                            s,
                            &k,
                            s.load(o),
                            s.load(g),
                            s.load(mc),
                            s.load(sc),
                            &mut non_finite,
                        );
                        s.store(m1, mc);
                        s.store(s1, sc);
                        s.store(w, o);
                    }
                }
            }
        }
        if full < n {
            let w0 = s.load_part(&old.unwrap_or(&*out)[full..], 0.0);
            let (m1, s1, w) = adam_step(
                s,
                &k,
                w0,
                s.load_part(&grad[full..], 0.0),
                s.load_part(&m[full..], 0.0),
                s.load_part(&sq[full..], 0.0),
                &mut non_finite,
            );
            s.store_part(m1, &mut m[full..]);
            s.store_part(s1, &mut sq[full..]);
            s.store_part(w, &mut out[full..]);
        }
        any_nonzero(s, non_finite)
    }
}

/// Adam's constants as vectors.
struct AdamConsts<F> {
    b1: F,
    b2: F,
    omb1: F,
    omb2: F,
    eps: F,
    lr: F,
    lam: F,
    c1: F,
    c2: F,
}

/// One 16-lane Adam step: the new moments and parameters, in the scalar
/// rule's operations and order (no fused multiply-add); adds `w − w` to
/// `non_finite`.
#[inline(always)]
fn adam_step<S: Simd>(
    s: S,
    k: &AdamConsts<S::F>,
    w0: S::F,
    g: S::F,
    m0: S::F,
    s0: S::F,
    non_finite: &mut S::F,
) -> (S::F, S::F, S::F) {
    let g = s.add(g, s.mul(k.lam, w0));
    let m1 = s.add(s.mul(k.b1, m0), s.mul(k.omb1, g));
    let s1 = s.add(s.mul(k.b2, s0), s.mul(s.mul(k.omb2, g), g));
    let den = s.add(s.sqrt(s.div(s1, k.c2)), k.eps);
    let w = s.sub(w0, s.div(s.mul(k.lr, s.div(m1, k.c1)), den));
    *non_finite = s.add(*non_finite, s.sub(w, w));
    (m1, s1, w)
}

/// One Adam step over a whole parameter tensor: reads the parameters from
/// `old` (or from `params` itself when `old` is `None`) and the gradient,
/// updates the moments `m` and `s`, writes the new parameters to `params`.
/// Returns whether any new parameter is NaN or infinite. Bit for bit the
/// scalar rule (the same operations in the same order) on every
/// instruction set.
pub fn adam(
    rule: AdamRule,
    old: Option<&[f32]>,
    grad: &[f32],
    m: &mut [f32],
    s: &mut [f32],
    params: &mut [f32],
) -> Result<bool, KernelError> {
    adam_on(Isa::selected(), rule, old, grad, m, s, params)
}

/// [`adam`] on a given instruction set.
pub fn adam_on(
    isa: Isa,
    rule: AdamRule,
    old: Option<&[f32]>,
    grad: &[f32],
    m: &mut [f32],
    s: &mut [f32],
    params: &mut [f32],
) -> Result<bool, KernelError> {
    let isa = Checked::new(isa)?;
    let n = params.len();
    check_exact("adam: gradient (one per parameter)", grad.len(), n)?;
    check_exact("adam: first moment (one per parameter)", m.len(), n)?;
    check_exact("adam: second moment (one per parameter)", s.len(), n)?;
    if let Some(old) = old {
        check_exact("adam: old parameters (one per parameter)", old.len(), n)?;
    }
    Ok(dispatch(
        isa,
        AdamRun {
            rule,
            old,
            grad,
            m,
            s,
            out: params,
        },
    ))
}
