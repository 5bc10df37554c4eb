//! Optimisers and learning-rate schedules.
//!
//! Gradients are of the objective being **minimised** (for an RBM, the
//! negative log-likelihood gradient `⟨vhᵀ⟩_model - ⟨vhᵀ⟩_data`). L2 weight
//! decay `λ` adds `λ·w` to the gradient of tensors whose [`Role`] is
//! [`Role::Weight`] only, never to biases.
//!
//! - SGD with momentum, in the form of Hinton's practical guide:
//!   `v ← μ·v - ε·(g + λ·w)`, `w ← w + v`, with `μ` from a [`Momentum`]
//!   schedule (0.5 for the first 5 epochs, then 0.9 by default).
//! - Adam: `g' = g + λ·w`, `m ← β₁m + (1-β₁)g'`, `s ← β₂s + (1-β₂)g'²`,
//!   `w ← w - ε·m̂ / (√ŝ + ϵ)` with bias-corrected `m̂`, `ŝ`.
//!
//! State buffers are allocated when the optimiser is made; a step
//! allocates nothing. Updates are element-wise in a fixed order, so they
//! are bit-identical whatever the thread count.

use crate::error::{EngineError, Result};
use crate::matrix::Matrix;
use crate::params::{ParamSet, Role, Tensor};
use latent_kernels::Par;
use latent_kernels::update::{AdamRule, SgdMomentum, adam, sgd_momentum};
use rayon::prelude::*;

/// How the momentum coefficient changes with the epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Momentum {
    /// The same coefficient every epoch.
    Constant(f32),
    /// `initial` for epochs `0..switch_epoch`, then `final_value`.
    Switch {
        /// Momentum of the first epochs.
        initial: f32,
        /// Momentum afterwards.
        final_value: f32,
        /// The first epoch (0-based) with `final_value`.
        switch_epoch: usize,
    },
}

impl Momentum {
    /// The coefficients as text: `0.9`, or `0.5->0.9@epoch5` for a switch
    /// (as the trainer line and error messages show them).
    pub fn describe(&self) -> String {
        match *self {
            Momentum::Constant(m) => m.to_string(),
            Momentum::Switch {
                initial,
                final_value,
                switch_epoch,
            } => format!("{initial}->{final_value}@epoch{switch_epoch}"),
        }
    }

    /// Hinton's schedule: 0.5 for the first 5 epochs, then 0.9.
    pub const HINTON: Momentum = Momentum::Switch {
        initial: 0.5,
        final_value: 0.9,
        switch_epoch: 5,
    };

    /// The coefficient for 0-based `epoch`.
    pub fn at(&self, epoch: usize) -> f32 {
        match *self {
            Momentum::Constant(m) => m,
            Momentum::Switch {
                initial,
                final_value,
                switch_epoch,
            } => {
                if epoch < switch_epoch {
                    initial
                } else {
                    final_value
                }
            }
        }
    }

    fn validate(&self) -> Result<()> {
        let ok = |m: f32| (0.0..1.0).contains(&m);
        let good = match *self {
            Momentum::Constant(m) => ok(m),
            Momentum::Switch {
                initial,
                final_value,
                ..
            } => ok(initial) && ok(final_value),
        };
        if good {
            Ok(())
        } else {
            Err(EngineError::InvalidArgument {
                what: "momentum",
                value: self.describe(),
                expected: "coefficients in [0, 1)",
            })
        }
    }
}

/// How the learning rate decays with the epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decay {
    /// No decay.
    Constant,
    /// Multiply by `gamma` every `every` epochs.
    Step {
        /// Epochs between drops.
        every: usize,
        /// Factor per drop.
        gamma: f32,
    },
    /// Multiply by `gamma` every epoch.
    Exponential {
        /// Factor per epoch.
        gamma: f32,
    },
}

impl Decay {
    /// The decay as text: `constant`, `x0.5-every-3-epochs`,
    /// `x0.9-per-epoch`.
    pub fn describe(&self) -> String {
        match *self {
            Decay::Constant => "constant".to_string(),
            Decay::Step { every, gamma } => format!("x{gamma}-every-{every}-epochs"),
            Decay::Exponential { gamma } => format!("x{gamma}-per-epoch"),
        }
    }
}

/// A learning-rate schedule: a base rate, an epoch-wise decay and an
/// optional linear warm-up over the first optimiser steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LrSchedule {
    /// The base learning rate.
    pub base: f32,
    /// The decay.
    pub decay: Decay,
    /// Steps of linear warm-up: step `t` (0-based) uses
    /// `(t + 1) / warmup_steps` of the rate while `t < warmup_steps`.
    pub warmup_steps: u64,
}

impl LrSchedule {
    /// The schedule as text: `lr=0.1 lr_decay=constant warmup_steps=0`
    /// (as the trainer line and error messages show it).
    pub fn describe(&self) -> String {
        format!(
            "lr={} lr_decay={} warmup_steps={}",
            self.base,
            self.decay.describe(),
            self.warmup_steps
        )
    }

    /// A constant rate.
    pub fn constant(lr: f32) -> Self {
        LrSchedule {
            base: lr,
            decay: Decay::Constant,
            warmup_steps: 0,
        }
    }

    /// `lr · gamma^⌊epoch / every⌋`.
    pub fn step(lr: f32, every: usize, gamma: f32) -> Self {
        LrSchedule {
            base: lr,
            decay: Decay::Step { every, gamma },
            warmup_steps: 0,
        }
    }

    /// `lr · gamma^epoch`.
    pub fn exponential(lr: f32, gamma: f32) -> Self {
        LrSchedule {
            base: lr,
            decay: Decay::Exponential { gamma },
            warmup_steps: 0,
        }
    }

    /// This schedule with a linear warm-up over the first `steps` steps.
    pub fn with_warmup(mut self, steps: u64) -> Self {
        self.warmup_steps = steps;
        self
    }

    /// The rate at 0-based `epoch` and global 0-based optimiser `step`.
    pub fn at(&self, epoch: usize, step: u64) -> f32 {
        let e = epoch.min(i32::MAX as usize) as i32;
        let decayed = match self.decay {
            Decay::Constant => self.base as f64,
            Decay::Step { every, gamma } => {
                self.base as f64
                    * (gamma as f64).powi((epoch / every.max(1)).min(i32::MAX as usize) as i32)
            }
            Decay::Exponential { gamma } => self.base as f64 * (gamma as f64).powi(e),
        };
        let warm = if step < self.warmup_steps {
            (step + 1) as f64 / self.warmup_steps as f64
        } else {
            1.0
        };
        (decayed * warm) as f32
    }

    fn validate(&self) -> Result<()> {
        let bad = |expected| {
            Err(EngineError::InvalidArgument {
                what: "learning-rate schedule",
                value: self.describe(),
                expected,
            })
        };
        if !(self.base.is_finite() && self.base > 0.0) {
            return bad("a finite positive base rate");
        }
        match self.decay {
            Decay::Step { every: 0, .. } => bad("a step interval of at least 1 epoch"),
            Decay::Step { gamma, .. } | Decay::Exponential { gamma }
                if !(gamma.is_finite() && gamma > 0.0) =>
            {
                bad("a finite positive decay factor")
            }
            _ => Ok(()),
        }
    }
}

/// Which optimiser, with its own hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerKind {
    /// SGD with momentum.
    Sgd {
        /// The momentum schedule.
        momentum: Momentum,
    },
    /// Adam (Kingma & Ba 2015).
    Adam {
        /// Decay of the first moment (0.9).
        beta1: f32,
        /// Decay of the second moment (0.999).
        beta2: f32,
        /// Added to the root of the second moment (1e-8).
        eps: f32,
    },
}

impl OptimizerKind {
    /// Adam with the usual defaults.
    pub const ADAM: OptimizerKind = OptimizerKind::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };

    /// `"sgd"` or `"adam"`.
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerKind::Sgd { .. } => "sgd",
            OptimizerKind::Adam { .. } => "adam",
        }
    }

    fn slots(&self) -> &'static [&'static str] {
        match self {
            OptimizerKind::Sgd { .. } => &["velocity"],
            OptimizerKind::Adam { .. } => &["m", "v"],
        }
    }
}

/// An optimiser's full configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptimizerConfig {
    /// SGD or Adam.
    pub kind: OptimizerKind,
    /// The learning-rate schedule.
    pub lr: LrSchedule,
    /// L2 weight decay `λ`, applied to [`Role::Weight`] tensors only.
    pub weight_decay: f32,
}

impl OptimizerConfig {
    /// SGD with Hinton's momentum schedule and weight decay.
    pub fn sgd_hinton(lr: f32, weight_decay: f32) -> Self {
        OptimizerConfig {
            kind: OptimizerKind::Sgd {
                momentum: Momentum::HINTON,
            },
            lr: LrSchedule::constant(lr),
            weight_decay,
        }
    }

    /// Adam with the usual defaults and no weight decay.
    pub fn adam(lr: f32) -> Self {
        OptimizerConfig {
            kind: OptimizerKind::ADAM,
            lr: LrSchedule::constant(lr),
            weight_decay: 0.0,
        }
    }

    /// Checks every hyper-parameter.
    pub fn validate(&self) -> Result<()> {
        self.lr.validate()?;
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(EngineError::InvalidArgument {
                what: "weight decay",
                value: self.weight_decay.to_string(),
                expected: "a finite non-negative number",
            });
        }
        match self.kind {
            OptimizerKind::Sgd { momentum } => momentum.validate(),
            OptimizerKind::Adam { beta1, beta2, eps } => {
                let ok = |b: f32| (0.0..1.0).contains(&b);
                if ok(beta1) && ok(beta2) && eps.is_finite() && eps > 0.0 {
                    Ok(())
                } else {
                    Err(EngineError::InvalidArgument {
                        what: "Adam hyper-parameters",
                        value: format!("beta1 {beta1}, beta2 {beta2}, eps {eps}"),
                        expected: "betas in [0, 1) and a positive eps",
                    })
                }
            }
        }
    }
}

/// An optimiser with its state.
#[derive(Debug, Clone)]
pub struct Optimizer {
    config: OptimizerConfig,
    step: u64,
    /// One buffer per (slot, parameter): slot-major.
    state: Vec<Tensor>,
    nparams: usize,
    /// Parallelism of [`step_into`](Optimizer::step_into).
    par: Par,
}

/// Elements per parallel task of an update (below two of these a tensor is
/// updated on the calling thread).
const UPDATE_CHUNK: usize = 1 << 15;

impl Optimizer {
    /// An optimiser for `params`, with zeroed state.
    pub fn new(config: OptimizerConfig, params: &ParamSet) -> Result<Self> {
        config.validate()?;
        let mut state = Vec::new();
        for slot in config.kind.slots() {
            for t in params.tensors() {
                state.push(Tensor {
                    name: format!("{slot}.{}", t.name),
                    role: t.role,
                    value: Matrix::zeros(t.value.rows(), t.value.cols())?,
                });
            }
        }
        Ok(Optimizer {
            config,
            step: 0,
            state,
            nparams: params.len(),
            par: Par::Seq,
        })
    }

    /// Lets [`step_into`](Optimizer::step_into) split large tensors into
    /// chunks updated in parallel on the current rayon pool. The update is
    /// element-wise, so the result is the same for every setting.
    pub fn set_par(&mut self, par: Par) {
        self.par = par;
    }

    /// The configuration.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The learning rate the next step at `epoch` will use.
    pub fn lr(&self, epoch: usize) -> f32 {
        self.config.lr.at(epoch, self.step)
    }

    /// The state buffers (`velocity.W`, or `m.W` and `v.W`, …).
    pub fn state(&self) -> &[Tensor] {
        &self.state
    }

    /// The state buffers' names and values, to change in place (the ranks
    /// of a data-parallel run average them); names and shapes stay.
    pub fn state_values_mut(&mut self) -> impl Iterator<Item = (&str, &mut [f32])> {
        (self.state.iter_mut()).map(|t| (t.name.as_str(), t.value.as_mut_slice()))
    }

    /// Restores the step count and state buffers saved from an optimiser
    /// of the same kind over the same parameters.
    pub fn restore(&mut self, step: u64, state: &[Tensor]) -> Result<()> {
        let same = state.len() == self.state.len()
            && state
                .iter()
                .zip(&self.state)
                .all(|(a, b)| a.name == b.name && a.value.shape() == b.value.shape());
        if !same {
            let names = |s: &[Tensor]| {
                s.iter()
                    .map(|t| format!("{}:{}x{}", t.name, t.value.rows(), t.value.cols()))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(EngineError::Mismatch {
                what: format!("{} optimiser state", self.config.kind.name()),
                expected: names(&self.state),
                found: names(state),
            });
        }
        for (dst, src) in self.state.iter_mut().zip(state) {
            dst.value.copy_from(&src.value)?;
        }
        self.step = step;
        Ok(())
    }

    /// One update of `params` in place from `grads`.
    pub fn step(&mut self, params: &mut ParamSet, grads: &ParamSet, epoch: usize) -> Result<()> {
        self.check_layout(params, grads)?;
        self.update(None, params, grads, epoch, None);
        Ok(())
    }

    /// One update that reads `params` and writes the new values into `out`
    /// (same layout), leaving `params` untouched, in one fused pass that also
    /// looks for NaN and infinity in what it writes. Returns the first
    /// non-finite new value as `(tensor, index, value)`, if any.
    ///
    /// This is the trainer's divergence guard without extra passes: it keeps
    /// two parameter sets and swaps them only when the update is finite, so
    /// the last good parameters survive a diverging step without a copy.
    /// (The optimiser's own state, momentum or Adam moments, is updated in
    /// place either way.)
    pub fn step_into(
        &mut self,
        params: &ParamSet,
        grads: &ParamSet,
        out: &mut ParamSet,
        epoch: usize,
    ) -> Result<Option<(usize, usize, f32)>> {
        self.step_into_except(params, grads, out, epoch, None)
    }

    /// [`step_into`](Optimizer::step_into) for every tensor but `skip`,
    /// whose step was applied elsewhere (a fused update from
    /// [`fusable_sgd`](Optimizer::fusable_sgd)); counts as one step.
    pub fn step_into_except(
        &mut self,
        params: &ParamSet,
        grads: &ParamSet,
        out: &mut ParamSet,
        epoch: usize,
        skip: Option<usize>,
    ) -> Result<Option<(usize, usize, f32)>> {
        self.check_layout(params, grads)?;
        params.check_same_layout(out, "optimiser: output parameters")?;
        Ok(self.update(Some(params), out, grads, epoch, skip))
    }

    /// For SGD with momentum: the rule of the coming step for parameter
    /// `tensor` (with role `role`) at `epoch`, and its velocity, so that the
    /// step can be fused into the product that computes the gradient
    /// ([`latent_kernels::update::gemm_sgd_update`]), with the same result
    /// as [`step_into`](Optimizer::step_into). `None` for Adam or an index
    /// out of range.
    pub fn fusable_sgd(
        &mut self,
        tensor: usize,
        role: Role,
        epoch: usize,
    ) -> Option<(SgdMomentum, &mut [f32])> {
        let OptimizerKind::Sgd { momentum } = self.config.kind else {
            return None;
        };
        if tensor >= self.nparams {
            return None;
        }
        let rule = SgdMomentum {
            momentum: momentum.at(epoch),
            lr: self.config.lr.at(epoch, self.step),
            decay: self.decay(role),
        };
        Some((rule, self.state[tensor].value.as_mut_slice()))
    }

    /// The L2 weight decay of a tensor with `role` (weights only), for the
    /// step here and the fused one alike.
    fn decay(&self, role: Role) -> f32 {
        if role == Role::Weight {
            self.config.weight_decay
        } else {
            0.0
        }
    }

    fn check_layout(&self, params: &ParamSet, grads: &ParamSet) -> Result<()> {
        if params.len() != self.nparams || grads.len() != self.nparams {
            params.check_same_layout(grads, "optimiser: gradients vs parameters")?;
            return Err(EngineError::SizeMismatch {
                what: "optimiser: number of parameter tensors".into(),
                expected: self.nparams as u64,
                found: params.len() as u64,
            });
        }
        for (i, (p, g)) in params.tensors().iter().zip(grads.tensors()).enumerate() {
            if p.value.shape() != g.value.shape() || p.value.shape() != self.state[i].value.shape()
            {
                return Err(EngineError::Shape {
                    what: "optimiser: a gradient or parameter tensor",
                    expected: format!("{:?} for {}", self.state[i].value.shape(), p.name),
                    found: format!("{:?} / {:?}", p.value.shape(), g.value.shape()),
                });
            }
        }
        Ok(())
    }

    /// The update rule: reads `params_in` (or `out` itself, in place) and
    /// writes `out`; returns the first non-finite value written.
    fn update(
        &mut self,
        params_in: Option<&ParamSet>,
        out: &mut ParamSet,
        grads: &ParamSet,
        epoch: usize,
        skip: Option<usize>,
    ) -> Option<(usize, usize, f32)> {
        let lr = self.config.lr.at(epoch, self.step);
        let n = self.nparams;
        let mut first_bad = None;
        for (i, g) in grads.tensors().iter().enumerate() {
            if skip == Some(i) {
                continue;
            }
            let lam = self.decay(g.role);
            let g = g.value.as_slice();
            let old = params_in.map(|p| p.value(i).as_slice());
            let w = out.value_mut(i).as_mut_slice();
            let bad = match self.config.kind {
                OptimizerKind::Sgd { momentum } => {
                    let rule = Sgd {
                        rule: SgdMomentum {
                            momentum: momentum.at(epoch),
                            lr,
                            decay: lam,
                        },
                    };
                    let v = self.state[i].value.as_mut_slice();
                    match old {
                        Some(old) if self.par.max_tasks() > 1 && w.len() >= 2 * UPDATE_CHUNK => w
                            .par_chunks_mut(UPDATE_CHUNK)
                            .zip(v.par_chunks_mut(UPDATE_CHUNK))
                            .zip(g.par_chunks(UPDATE_CHUNK))
                            .zip(old.par_chunks(UPDATE_CHUNK))
                            .map(|(((w, v), g), old)| rule.apply(Some(old), w, v, g))
                            .reduce(|| false, |a, b| a | b),
                        _ => rule.apply(old, w, v, g),
                    }
                }
                OptimizerKind::Adam { beta1, beta2, eps } => {
                    let t = (self.step + 1).min(i32::MAX as u64) as i32;
                    let rule = Adam {
                        rule: AdamRule {
                            beta1,
                            beta2,
                            eps,
                            lr,
                            decay: lam,
                            c1: (1.0 - (beta1 as f64).powi(t)) as f32,
                            c2: (1.0 - (beta2 as f64).powi(t)) as f32,
                        },
                    };
                    let (ms, vs) = self.state.split_at_mut(n);
                    let (m, v) = (ms[i].value.as_mut_slice(), vs[i].value.as_mut_slice());
                    match old {
                        Some(old) if self.par.max_tasks() > 1 && w.len() >= 2 * UPDATE_CHUNK => w
                            .par_chunks_mut(UPDATE_CHUNK)
                            .zip(m.par_chunks_mut(UPDATE_CHUNK))
                            .zip(v.par_chunks_mut(UPDATE_CHUNK))
                            .zip(g.par_chunks(UPDATE_CHUNK))
                            .zip(old.par_chunks(UPDATE_CHUNK))
                            .map(|((((w, m), v), g), old)| rule.apply(Some(old), w, m, v, g))
                            .reduce(|| false, |a, b| a | b),
                        _ => rule.apply(old, w, m, v, g),
                    }
                }
            };
            if bad && first_bad.is_none() {
                first_bad = crate::matrix::first_non_finite(w).map(|(k, v)| (i, k, v));
            }
        }
        self.step += 1;
        first_bad
    }
}

/// SGD with momentum and L2 decay: `v ← μv − lr(g + λw)`, `w ← w + v`
/// (the kernels' [`sgd_momentum`], which a model can also fuse into its
/// gradient product: see [`Optimizer::fusable_sgd`]).
struct Sgd {
    rule: SgdMomentum,
}

impl Sgd {
    /// Updates `w` (from `old`, or in place) and `v`; true if any new
    /// weight is non-finite.
    fn apply(&self, old: Option<&[f32]>, w: &mut [f32], v: &mut [f32], g: &[f32]) -> bool {
        // The lengths agree (the layouts were checked), so the kernel
        // cannot refuse; a refusal would still count as a bad update.
        sgd_momentum(self.rule, old, g, v, w).unwrap_or(true)
    }
}

/// Adam with L2 decay added to the gradient and bias-corrected moments (the
/// kernels' [`adam`]).
struct Adam {
    rule: AdamRule,
}

impl Adam {
    /// Updates `w` (from `old`, or in place) and the moments; true if any
    /// new weight is non-finite.
    fn apply(
        &self,
        old: Option<&[f32]>,
        w: &mut [f32],
        m: &mut [f32],
        s: &mut [f32],
        g: &[f32],
    ) -> bool {
        // The lengths agree (the layouts were checked), so the kernel
        // cannot refuse; a refusal would still count as a bad update.
        adam(self.rule, old, g, m, s, w).unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> ParamSet {
        let mut p = ParamSet::new();
        p.push("W", Role::Weight, Matrix::filled(2, 2, 1.0).unwrap())
            .unwrap();
        p.push("b", Role::Bias, Matrix::filled(1, 2, 1.0).unwrap())
            .unwrap();
        p
    }

    /// A bad hyper-parameter is named in words, not as a Rust debug dump.
    #[test]
    fn bad_settings_are_described_in_words() {
        let mut opt = OptimizerConfig::sgd_hinton(f32::NAN, 0.0);
        let e = opt.validate().unwrap_err().to_string();
        assert!(
            e.contains("lr=NaN lr_decay=constant") && !e.contains('{'),
            "{e}"
        );
        opt.lr.base = 0.1;
        opt.kind = OptimizerKind::Sgd {
            momentum: Momentum::Switch {
                initial: 0.5,
                final_value: 1.5,
                switch_epoch: 5,
            },
        };
        let e = opt.validate().unwrap_err().to_string();
        assert!(e.contains("0.5->1.5@epoch5") && !e.contains('{'), "{e}");
    }

    #[test]
    fn schedules() {
        assert_eq!(Momentum::HINTON.at(0), 0.5);
        assert_eq!(Momentum::HINTON.at(4), 0.5);
        assert_eq!(Momentum::HINTON.at(5), 0.9);
        let s = LrSchedule::step(1.0, 2, 0.5);
        assert_eq!(
            [s.at(0, 0), s.at(1, 0), s.at(2, 0), s.at(5, 0)],
            [1.0, 1.0, 0.5, 0.25]
        );
        let e = LrSchedule::exponential(1.0, 0.5);
        assert_eq!(e.at(3, 0), 0.125);
        let w = LrSchedule::constant(1.0).with_warmup(4);
        assert_eq!(
            [w.at(0, 0), w.at(0, 1), w.at(0, 3), w.at(0, 9)],
            [0.25, 0.5, 1.0, 1.0]
        );
        assert!(OptimizerConfig::adam(-1.0).validate().is_err());
        assert!(
            OptimizerConfig {
                lr: LrSchedule::step(0.1, 0, 0.5),
                ..OptimizerConfig::adam(0.1)
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn sgd_momentum_and_decay_on_weights_only() {
        let mut p = params();
        let mut g = p.zeros_like().unwrap();
        g.value_mut(0).as_mut_slice().fill(1.0);
        g.value_mut(1).as_mut_slice().fill(1.0);
        let mut o = Optimizer::new(OptimizerConfig::sgd_hinton(0.1, 0.5), &p).unwrap();
        o.step(&mut p, &g, 0).unwrap();
        // v = -0.1 * (1 + 0.5 * 1) = -0.15 for W; -0.1 for b.
        assert_eq!(p.value(0).as_slice()[0], 1.0 - 0.15);
        assert_eq!(p.value(1).as_slice()[0], 1.0 - 0.1);
        o.step(&mut p, &g, 0).unwrap();
        // b: v = 0.5 * -0.1 - 0.1 = -0.15.
        assert!((p.value(1).as_slice()[0] - (0.9 - 0.15)).abs() < 1e-7);
        assert_eq!(o.steps(), 2);
    }

    #[test]
    fn adam_first_step_is_lr_times_sign() {
        let mut p = params();
        let mut g = p.zeros_like().unwrap();
        g.value_mut(0)
            .as_mut_slice()
            .copy_from_slice(&[3.0, -2.0, 0.5, -1e-3]);
        let mut o = Optimizer::new(OptimizerConfig::adam(0.01), &p).unwrap();
        o.step(&mut p, &g, 0).unwrap();
        let want = [0.99, 1.01, 0.99, 1.01];
        for (a, b) in p.value(0).as_slice().iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        assert_eq!(
            p.value(1).as_slice(),
            &[1.0, 1.0],
            "zero gradient, no decay on biases"
        );
        let saved = o.state().to_vec();
        let mut o2 = Optimizer::new(OptimizerConfig::adam(0.01), &p).unwrap();
        o2.restore(o.steps(), &saved).unwrap();
        assert!(o2.restore(1, &saved[..1]).is_err());
    }
}
