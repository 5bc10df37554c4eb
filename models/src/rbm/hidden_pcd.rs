//! scikit-learn's training of a Bernoulli RBM (`BernoulliRBM._fit`):
//! persistent contrastive divergence whose persistent chains are *hidden*
//! states, one row per chain, updated by plain SGD at `rate / rows`.
//!
//! For a minibatch `X` (`n x V`) and chains `Hᶜ` (`C x H`, binary):
//!
//! 1. `P⁺ = σ(XW + c)`;
//! 2. `Vᵗ ~ σ(Hᵗ⁻¹Wᵀ + b)` from `H⁰ = Hᶜ`, `Pᵗ = σ(VᵗW + c)`, `Hᵗ ~ Pᵗ`
//!    for `t = 1..k` (`k = 1` in scikit-learn);
//! 3. with `η = rate / n`: `W += η(XᵀP⁺ − VᵏᵀPᵏ)`, `b += η(Σ X − Σ Vᵏ)`,
//!    `c += η(Σ P⁺ − Σ Pᵏ)` (column sums; `n` and `C` may differ);
//! 4. the chains become `Hᵏ ~ Pᵏ`.
//!
//! With momentum `μ > 0` the three increments go through velocities
//! (`u ← μu + increment`, `θ += u`); `μ = 0` is scikit-learn's plain step.
//! Every sampled row draws from its own stream, so the results do not
//! depend on the thread count; the column sums run on one thread.

use latent_engine::{Matrix, Rng};
use latent_kernels::Par;
use latent_kernels::activation::{Activation, BiasActivation};
use latent_kernels::gemm::{Accum, MatMut, MatRef, product};
use latent_kernels::random::{Streams, bernoulli};

use super::{B_VIS, C_HID, DoubledInput, HiddenUnits, Rbm, VisibleUnits, W};
use crate::error::{ModelError, Result};

/// The settings of [`HiddenPcd`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HiddenPcdConfig {
    /// The learning rate before division by the minibatch's rows.
    pub learning_rate: f32,
    /// Gibbs steps per update (scikit-learn: 1).
    pub cd_k: usize,
    /// Momentum of the updates (scikit-learn: 0, plain SGD).
    pub momentum: f32,
}

impl Default for HiddenPcdConfig {
    /// scikit-learn's: rate 0.1, PCD-1, no momentum.
    fn default() -> Self {
        HiddenPcdConfig {
            learning_rate: 0.1,
            cd_k: 1,
            momentum: 0.0,
        }
    }
}

impl HiddenPcdConfig {
    /// Errors unless the rate is finite, `cd_k ≥ 1` and `0 ≤ μ < 1`.
    pub fn validate(&self) -> Result<()> {
        if !self.learning_rate.is_finite() {
            return Err(invalid(
                "learning_rate",
                self.learning_rate,
                "a finite number",
            ));
        }
        if self.cd_k == 0 {
            return Err(invalid("cd_k", self.cd_k, "at least 1"));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(invalid("momentum", self.momentum, "in [0, 1)"));
        }
        Ok(())
    }
}

fn invalid(what: &'static str, value: impl ToString, expected: &'static str) -> ModelError {
    ModelError::InvalidConfig {
        what,
        value: value.to_string(),
        expected,
    }
}

/// The stream of [`HiddenPcd::fit`]'s step seeds ("SKPC").
pub const FIT_STREAM: u64 = 0x534B_5043;

/// The passes of [`HiddenPcd::fit`]: minibatch rows, which epochs, and the
/// seed of the steps' streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FitPlan {
    /// Rows per minibatch (scikit-learn's `batch_size`).
    pub batch_size: usize,
    /// The first epoch's index (0 for a whole run; a run cut into pieces
    /// gives each piece its first epoch and draws what the whole run would).
    pub first_epoch: usize,
    /// Passes over the data (scikit-learn's `n_iter`).
    pub epochs: usize,
    /// The seed of every step's streams.
    pub seed: u64,
}

/// The trainer's state: the hidden chains, the velocities (momentum only)
/// and the step's buffers (grown to the largest minibatch, then reused).
#[derive(Debug)]
pub struct HiddenPcd {
    config: HiddenPcdConfig,
    /// `C x H` binary hidden states.
    chains: Matrix,
    /// Velocities of `W` (`V x H`), `b` and `c`; empty without momentum.
    velocity: [Vec<f32>; 3],
    ws: StepBuffers,
}

/// Buffers of one step.
#[derive(Debug, Default)]
struct StepBuffers {
    rows: usize,
    /// `P⁺`, `n x H`.
    p_pos: Vec<f32>,
    /// `σ(HWᵀ + b)` then its sample `Vᵗ`, `C x V`.
    v_mean: Vec<f32>,
    v_neg: Vec<f32>,
    /// `Pᵗ` and `Hᵗ`, `C x H`.
    p_neg: Vec<f32>,
    h_neg: Vec<f32>,
    /// The increment of `W` (momentum only), `V x H`.
    dw: Vec<f32>,
    /// The increments of `b` and `c`.
    db: Vec<f32>,
    dc: Vec<f32>,
}

impl HiddenPcd {
    /// A trainer continuing the hidden `chains` (`C x H`; scikit-learn
    /// starts from zeros with `C` = the batch size).
    pub fn new(config: HiddenPcdConfig, chains: Matrix) -> Result<Self> {
        config.validate()?;
        if chains.rows() == 0 {
            return Err(invalid("hidden chains", 0, "at least one chain"));
        }
        Ok(HiddenPcd {
            config,
            chains,
            velocity: Default::default(),
            ws: StepBuffers::default(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &HiddenPcdConfig {
        &self.config
    }

    /// The hidden chains, `C x H` (scikit-learn's `h_samples_`).
    pub fn chains(&self) -> &Matrix {
        &self.chains
    }

    /// The velocities of `W`, `b` and `c` (empty until a step with
    /// momentum has run).
    pub fn velocity(&self) -> &[Vec<f32>; 3] {
        &self.velocity
    }

    /// Sets the velocities (to continue an earlier run); each must be empty
    /// or as long as its parameter.
    pub fn set_velocity(&mut self, rbm: &Rbm, velocity: [Vec<f32>; 3]) -> Result<()> {
        let lens = [
            rbm.params.value(W).len(),
            rbm.config.n_visible,
            rbm.config.n_hidden,
        ];
        for (v, len) in velocity.iter().zip(lens) {
            if !v.is_empty() && v.len() != len {
                return Err(ModelError::Shape {
                    what: "HiddenPcd::set_velocity: velocity length".into(),
                    expected: len,
                    found: v.len(),
                });
            }
        }
        self.velocity = velocity;
        Ok(())
    }

    /// `plan.epochs` passes over `x` in scikit-learn's minibatches
    /// (consecutive slices of `plan.batch_size` rows, the last one shorter,
    /// no shuffling). Epoch `e` draws its steps' seeds from
    /// `Rng::substream(plan.seed, FIT_STREAM, e)`, so epochs run one call at
    /// a time give the bits of one call.
    pub fn fit(&mut self, rbm: &mut Rbm, x: MatRef<'_>, plan: FitPlan, par: Par) -> Result<()> {
        let batch = plan.batch_size;
        if batch == 0 {
            return Err(invalid("batch_size", 0, "at least 1"));
        }
        let n = x.rows();
        for e in plan.first_epoch..plan.first_epoch + plan.epochs {
            let mut rng = Rng::substream(plan.seed, FIT_STREAM, e as u64);
            for r0 in (0..n).step_by(batch) {
                let rows = batch.min(n - r0);
                let xb = MatRef::new(
                    &x.as_slice()[r0 * x.row_stride()..],
                    rows,
                    x.cols(),
                    x.row_stride(),
                    x.col_stride(),
                )?;
                self.step(rbm, xb, Streams::new(rng.next_u64()), par)?;
            }
        }
        Ok(())
    }

    /// One update on the minibatch `x` (all of it, like scikit-learn's
    /// `partial_fit`), drawing from `streams` (advanced once per draw).
    pub fn step(&mut self, rbm: &mut Rbm, x: MatRef<'_>, streams: Streams, par: Par) -> Result<()> {
        self.check(rbm, &x)?;
        let n = x.rows();
        if n == 0 {
            return Ok(());
        }
        let (v_n, h_n, c_n) = (
            rbm.config.n_visible,
            rbm.config.n_hidden,
            self.chains.rows(),
        );
        let momentum = self.config.momentum > 0.0;
        self.ws.ensure(n, c_n, v_n, h_n, momentum);
        self.phases(rbm, x, streams, par)?;
        let eta = self.config.learning_rate / n as f32;
        let ws = &mut self.ws;
        let (p_pos, v_neg, p_neg) = (&ws.p_pos[..n * h_n], &ws.v_neg[..], &ws.p_neg[..]);
        // The bias increments, as scikit-learn: η(Σ data − Σ model).
        col_sums_into(x, &mut ws.db);
        sub_col_sums(v_neg, v_n, &mut ws.db);
        col_sums_into(MatRef::row_major(p_pos, n, h_n)?, &mut ws.dc);
        sub_col_sums(p_neg, h_n, &mut ws.dc);
        let prec = rbm.precision;
        let w_delta = if momentum {
            MatMut::row_major(&mut ws.dw, v_n, h_n)?
        } else {
            rbm.params.value_mut(W).view_mut()
        };
        weight_increment(eta, x, (p_pos, v_neg, p_neg), w_delta, momentum, prec, par)?;
        let (db, dc) = (&mut ws.db, &mut ws.dc);
        db.iter_mut().chain(dc.iter_mut()).for_each(|d| *d *= eta);
        if momentum {
            self.apply_momentum(rbm);
        } else {
            add_into(rbm.params.value_mut(B_VIS).as_mut_slice(), &self.ws.db);
            add_into(rbm.params.value_mut(C_HID).as_mut_slice(), &self.ws.dc);
        }
        // The chains move on: Hᵏ ~ Pᵏ.
        let last = streams.at_step(2 * self.config.cd_k as u64 - 1);
        let chains = self.chains.as_mut_slice();
        bernoulli(last, &self.ws.p_neg, chains, c_n, h_n, par)?;
        Ok(())
    }

    /// Errors unless `rbm` is an ordinary RBM with Bernoulli visibles (fixed
    /// σ) and hiddens, and `x` and the chains fit it.
    fn check(&self, rbm: &Rbm, x: &MatRef<'_>) -> Result<()> {
        if rbm.config.visible != VisibleUnits::Bernoulli {
            return Err(ModelError::Unsupported {
                what: "scikit-learn PCD (hidden chains)",
                why: "it trains Bernoulli visibles; this RBM has Gaussian visibles".into(),
            });
        }
        if rbm.config.hidden != HiddenUnits::Bernoulli {
            return Err(ModelError::Unsupported {
                what: "scikit-learn PCD (hidden chains)",
                why: "its chains are binary hidden states; this RBM has linear hiddens".into(),
            });
        }
        if rbm.config.doubled != DoubledInput::None {
            return Err(ModelError::Unsupported {
                what: "scikit-learn PCD (hidden chains)",
                why: "it trains ordinary RBMs; this one has a doubled input (DBM pretraining)"
                    .into(),
            });
        }
        rbm.check_input("HiddenPcd::step", x)?;
        if self.chains.cols() != rbm.config.n_hidden {
            return Err(ModelError::Shape {
                what: "HiddenPcd: columns of the hidden chains (hidden units)".into(),
                expected: rbm.config.n_hidden,
                found: self.chains.cols(),
            });
        }
        Ok(())
    }

    /// `P⁺` and the k Gibbs steps from the chains: leaves `Vᵏ` in `v_neg`
    /// and `Pᵏ` in `p_neg`.
    fn phases(&mut self, rbm: &Rbm, x: MatRef<'_>, streams: Streams, par: Par) -> Result<()> {
        let (n, v_n, h_n, c_n) = (
            x.rows(),
            rbm.config.n_visible,
            rbm.config.n_hidden,
            self.chains.rows(),
        );
        let w = rbm.params.value(W).view();
        let op = rbm.precision.operand(w);
        let op_t = rbm.precision.operand(w.t());
        let up = BiasActivation::new(rbm.hidden_bias(), Activation::Sigmoid);
        let down = BiasActivation::new(rbm.visible_bias(), Activation::Sigmoid);
        let ws = &mut self.ws;
        let p_pos = MatMut::row_major(&mut ws.p_pos[..n * h_n], n, h_n)?;
        product(1.0, x, op, Accum::Replace, p_pos, &up, par)?;
        let mut streams = streams;
        for t in 1..=self.config.cd_k {
            let h = match t {
                1 => self.chains.view(),
                _ => MatRef::row_major(&ws.h_neg, c_n, h_n)?,
            };
            let v_mean = MatMut::row_major(&mut ws.v_mean, c_n, v_n)?;
            product(1.0, h, op_t, Accum::Replace, v_mean, &down, par)?;
            bernoulli(streams, &ws.v_mean, &mut ws.v_neg, c_n, v_n, par)?;
            streams = streams.next_step();
            let v = MatRef::row_major(&ws.v_neg, c_n, v_n)?;
            let p_neg = MatMut::row_major(&mut ws.p_neg, c_n, h_n)?;
            product(1.0, v, op, Accum::Replace, p_neg, &up, par)?;
            if t < self.config.cd_k {
                bernoulli(streams, &ws.p_neg, &mut ws.h_neg, c_n, h_n, par)?;
                streams = streams.next_step();
            }
        }
        Ok(())
    }

    /// Momentum: `u ← μu + Δ`, `θ += u` for `W`, `b` and `c`.
    fn apply_momentum(&mut self, rbm: &mut Rbm) {
        let mu = self.config.momentum;
        let deltas = [&self.ws.dw, &self.ws.db, &self.ws.dc];
        for ((vel, delta), idx) in self.velocity.iter_mut().zip(deltas).zip([W, B_VIS, C_HID]) {
            if vel.len() != delta.len() {
                vel.clear();
                vel.resize(delta.len(), 0.0);
            }
            let param = rbm.params.value_mut(idx).as_mut_slice();
            for ((u, &d), p) in vel.iter_mut().zip(delta).zip(param) {
                *u = mu * *u + d;
                *p += *u;
            }
        }
    }
}

/// The weight increment `η(XᵀP⁺ − VᵏᵀPᵏ)`: added to `out` (the weights,
/// plain SGD) or written to it (`replace`, the momentum's increment).
fn weight_increment(
    eta: f32,
    x: MatRef<'_>,
    (p_pos, v_neg, p_neg): (&[f32], &[f32], &[f32]),
    mut out: MatMut<'_>,
    replace: bool,
    prec: latent_kernels::Precision,
    par: Par,
) -> Result<()> {
    let (v_n, h_n) = (out.rows(), out.cols());
    let (n, c_n) = (x.rows(), v_neg.len() / v_n.max(1));
    let none = BiasActivation::without_bias(Activation::Identity);
    let first = if replace { Accum::Replace } else { Accum::ADD };
    let p_pos = prec.operand(MatRef::row_major(p_pos, n, h_n)?);
    product(eta, x.t(), p_pos, first, out.reborrow(), &none, par)?;
    let v_neg = MatRef::row_major(v_neg, c_n, v_n)?;
    let p_neg = prec.operand(MatRef::row_major(p_neg, c_n, h_n)?);
    product(-eta, v_neg.t(), p_neg, Accum::ADD, out, &none, par)?;
    Ok(())
}

/// Column sums of `x` (any layout) into `out`, row by row in f32.
fn col_sums_into(x: MatRef<'_>, out: &mut [f32]) {
    out.fill(0.0);
    let (data, rs, cs) = (x.as_slice(), x.row_stride(), x.col_stride());
    for r in 0..x.rows() {
        for (j, o) in out.iter_mut().enumerate() {
            *o += data[r * rs + j * cs];
        }
    }
}

/// Subtracts the column sums of the row-major `m` (`cols` wide) from `out`.
fn sub_col_sums(m: &[f32], cols: usize, out: &mut [f32]) {
    for (j, o) in out.iter_mut().enumerate().take(cols) {
        let sum: f32 = m.chunks_exact(cols).map(|row| row[j]).sum();
        *o -= sum;
    }
}

fn add_into(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

impl StepBuffers {
    /// Sizes the buffers for `n` data rows and `c_n` chains.
    fn ensure(&mut self, n: usize, c_n: usize, v_n: usize, h_n: usize, momentum: bool) {
        if n > self.rows {
            self.rows = n;
            self.p_pos = vec![0.0; n * h_n];
        }
        resize(&mut self.v_mean, c_n * v_n);
        resize(&mut self.v_neg, c_n * v_n);
        resize(&mut self.p_neg, c_n * h_n);
        resize(&mut self.h_neg, c_n * h_n);
        resize(&mut self.db, v_n);
        resize(&mut self.dc, h_n);
        if momentum {
            resize(&mut self.dw, v_n * h_n);
        }
    }
}

fn resize(buf: &mut Vec<f32>, len: usize) {
    if buf.len() != len {
        buf.clear();
        buf.resize(len, 0.0);
    }
}

#[cfg(test)]
#[path = "hidden_pcd_tests.rs"]
mod tests;
