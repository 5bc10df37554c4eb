//! A small real model for the engine's tests: multi-output linear
//! regression `Y ≈ X W + 1 bᵀ` trained on squared error, built on
//! `latent_kernels::gemm`, plus seeded synthetic data.
//!
//! The data matrix holds the features and the targets side by side
//! (`[X | Y]`), so the batches the engine gathers carry both; the model
//! reads them through strided views.

use latent_engine::{
    Batch, Dataset, EngineError, Matrix, Model, Par, ParamSet, Result, Rng, Role, StepContext,
    StepOutput,
};
use latent_kernels::{Accum, BiasAdd, MatMut, MatRef, gemm, sgemm};

/// Features of the test problem: with [`K`], big enough that the kernels
/// split each product over 4 threads.
pub const D: usize = 256;
/// Outputs of the test problem.
pub const K: usize = 128;

/// Linear regression `Y ≈ X W + 1 bᵀ` on squared error, with hooks that
/// make a step misbehave on cue.
pub struct LinReg {
    /// `W` (`D x K`) and `b` (`1 x K`).
    pub params: ParamSet,
    resid: Matrix,
    /// Poison the gradient of `W` at (epoch, batch) with a NaN at index 5.
    pub poison_at: Option<(usize, usize)>,
    /// Set the gradient of `W` at index 7 to `f32::MAX` at (epoch, batch).
    pub huge_grad_at: Option<(usize, usize)>,
    /// Validation metrics to return, one per epoch, instead of the MSE.
    pub valid_script: Option<Vec<f64>>,
    /// Calls of `validation_metric` so far.
    pub valid_calls: usize,
    /// Adds model randomness: a tiny seeded jitter to the loss, so the
    /// model's RNG stream matters for the resume test.
    pub use_rng: bool,
}

impl LinReg {
    /// Small seeded weights, zero bias, no hooks.
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::stream(seed, latent_engine::rng::streams::INIT);
        let w = Matrix::from_fn(D, K, |_, _| (rng.normal() * 0.01) as f32).unwrap();
        let mut params = ParamSet::new();
        params.push("W", Role::Weight, w).unwrap();
        params
            .push("b", Role::Bias, Matrix::zeros(1, K).unwrap())
            .unwrap();
        LinReg {
            params,
            resid: Matrix::default(),
            poison_at: None,
            huge_grad_at: None,
            valid_script: None,
            valid_calls: 0,
            use_rng: false,
        }
    }

    /// `R = X W + b - Y` for the `n x (D + K)` row-major `data`; returns the loss.
    fn residual(&mut self, data: MatRef<'_>, par: Par) -> Result<f64> {
        let n = data.rows();
        if self.resid.rows() < n {
            self.resid = Matrix::zeros(n, K)?;
        }
        let s = data.as_slice();
        let x = MatRef::new(s, n, D, D + K, 1)?;
        let mut r = self.resid.rows_view_mut(0, n)?;
        gemm(
            1.0,
            x,
            self.params.value(0).view(),
            Accum::Replace,
            r.reborrow(),
            &BiasAdd::new(self.params.value(1).as_slice()),
            par,
        )?;
        let mut loss = 0.0f64;
        let rs = r.as_mut_slice();
        for i in 0..n {
            let y = &s[i * (D + K) + D..(i + 1) * (D + K)];
            for (v, &t) in rs[i * K..(i + 1) * K].iter_mut().zip(y) {
                *v -= t;
                loss += 0.5 * (*v as f64) * (*v as f64);
            }
        }
        Ok(loss / n as f64)
    }
}

impl Model for LinReg {
    fn kind(&self) -> &str {
        "test-linreg"
    }

    fn hyperparameters(&self) -> String {
        format!("inputs={D} outputs={K}")
    }

    fn params(&self) -> &ParamSet {
        &self.params
    }

    fn params_mut(&mut self) -> &mut ParamSet {
        &mut self.params
    }

    fn gradient(
        &mut self,
        batch: &Batch<'_>,
        grads: &mut ParamSet,
        ctx: &mut StepContext<'_>,
    ) -> Result<StepOutput> {
        let n = batch.len();
        let mut loss = self.residual(batch.x, ctx.par)?;
        let x = MatRef::new(batch.x.as_slice(), n, D, D + K, 1)?;
        let r = self.resid.rows_view(0, n)?;
        // gW = Xᵀ R / n, gb = 1ᵀ R / n.
        let gw: MatMut<'_> = grads.value_mut(0).view_mut();
        sgemm(1.0 / n as f32, x.t(), r, Accum::Replace, gw, ctx.par)?;
        let gb = grads.value_mut(1).as_mut_slice();
        for i in 0..n {
            for (g, &v) in gb.iter_mut().zip(self.resid.row(i)) {
                *g += v / n as f32;
            }
        }
        if self.use_rng {
            loss += ctx.rng.uniform_f64() * 1e-9;
            // Randomness that reaches the parameters: jitter one gradient.
            grads.value_mut(1).as_mut_slice()[0] += (ctx.rng.uniform_f32() - 0.5) * 1e-3;
        }
        if self.poison_at == Some((ctx.epoch, ctx.batch)) {
            grads.value_mut(0).as_mut_slice()[5] = f32::NAN;
        }
        if self.huge_grad_at == Some((ctx.epoch, ctx.batch)) {
            grads.value_mut(0).as_mut_slice()[7] = f32::MAX;
        }
        let mut out = StepOutput {
            loss,
            ..Default::default()
        };
        out.metrics.push("rows", n as f64)?;
        Ok(out)
    }

    fn validation_metric(
        &mut self,
        x: &Matrix,
        _: Option<&[u32]>,
        par: Par,
    ) -> Result<Option<f64>> {
        self.valid_calls += 1;
        if let Some(s) = &self.valid_script {
            return s.get(self.valid_calls - 1).copied().map(Some).ok_or(
                EngineError::InvalidArgument {
                    what: "test script",
                    value: self.valid_calls.to_string(),
                    expected: "a scripted value",
                },
            );
        }
        self.residual(x.view(), par).map(Some)
    }
}

/// `n` samples `[x | y]` with `y = x A / sqrt(D) + 0.1 ε`, seeded.
pub fn data(n: usize, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let a = Matrix::from_fn(D, K, |_, _| rng.normal() as f32).unwrap();
    let mut m = Matrix::zeros(n, D + K).unwrap();
    for i in 0..n {
        let row = m.row_mut(i);
        for v in &mut row[..D] {
            *v = rng.normal() as f32;
        }
        for k in 0..K {
            let mut s = 0.0f64;
            for (d, &x) in row[..D].iter().enumerate() {
                s += x as f64 * a.get(d, k).unwrap() as f64;
            }
            row[D + k] = (s / (D as f64).sqrt() + 0.1 * rng.normal()) as f32;
        }
    }
    Dataset::new(m, None).unwrap()
}

/// A fresh directory for this process's files of test `tag`.
pub fn temp_path(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("latent-engine-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Bit patterns of every parameter, for exact comparisons.
pub fn bits(p: &ParamSet) -> Vec<u32> {
    p.tensors()
        .iter()
        .flat_map(|t| t.value.as_slice().iter().map(|v| v.to_bits()))
        .collect()
}
