//! The f64 references and fixtures of the RBM tests: free energy, exact
//! `ln Z`, mean log-likelihood and NLL gradient by enumeration, bars and
//! stripes, and a tiny problem with its exact gradient.

#![allow(clippy::needless_range_loop)] // index loops mirror the formulas

use latent_testkit as common;

use common::{TestRng, bit_vector, log_sum_exp, softplus64};
use latent_engine::train::{Silent, Threads, TrainConfig, Trainer};
use latent_engine::{Dataset, Matrix, ParamSet};
use latent_models::rbm::{Rbm, RbmConfig};

/// `F(v)` of a Bernoulli RBM in f64.
pub(super) fn free_energy_f64(rbm: &Rbm, v: &[f64]) -> f64 {
    let (nv, nh) = (rbm.config().n_visible, rbm.config().n_hidden);
    let w = rbm.weights().as_slice();
    let (b, c) = (rbm.visible_bias(), rbm.hidden_bias());
    let mut f = -(0..nv).map(|i| b[i] as f64 * v[i]).sum::<f64>();
    for j in 0..nh {
        let a = c[j] as f64 + (0..nv).map(|i| v[i] * w[i * nh + j] as f64).sum::<f64>();
        f -= softplus64(a);
    }
    f
}

/// Exact `ln Z` of a small Bernoulli RBM, summing over the visibles.
pub(super) fn exact_log_z(rbm: &Rbm) -> f64 {
    let nv = rbm.config().n_visible;
    let neg_f: Vec<f64> = (0..1usize << nv)
        .map(|x| -free_energy_f64(rbm, &bit_vector(x, nv)))
        .collect();
    log_sum_exp(&neg_f)
}

/// Exact mean log-likelihood of the rows of `data`.
pub(super) fn exact_mean_ll(rbm: &Rbm, data: &Matrix) -> f64 {
    let log_z = exact_log_z(rbm);
    let n = data.rows();
    (0..n)
        .map(|r| {
            let v: Vec<f64> = data.row(r).iter().map(|&x| x as f64).collect();
            -free_energy_f64(rbm, &v) - log_z
        })
        .sum::<f64>()
        / n as f64
}

/// Exact gradient of the mean negative log-likelihood w.r.t. W, b, c
/// (the direction CD-k estimates), by enumerating the visibles.
pub(super) fn exact_nll_gradient(rbm: &Rbm, data: &Matrix) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (nv, nh) = (rbm.config().n_visible, rbm.config().n_hidden);
    let w = rbm.weights().as_slice();
    let c = rbm.hidden_bias();
    let hidden_probs = |v: &[f64]| -> Vec<f64> {
        (0..nh)
            .map(|j| {
                let a = c[j] as f64 + (0..nv).map(|i| v[i] * w[i * nh + j] as f64).sum::<f64>();
                1.0 / (1.0 + (-a).exp())
            })
            .collect()
    };
    let mut gw = vec![0.0; nv * nh];
    let mut gb = vec![0.0; nv];
    let mut gc = vec![0.0; nh];
    // Data term (negative: we return the gradient of the NLL).
    for r in 0..data.rows() {
        let v: Vec<f64> = data.row(r).iter().map(|&x| x as f64).collect();
        let p = hidden_probs(&v);
        let s = 1.0 / data.rows() as f64;
        for i in 0..nv {
            gb[i] -= s * v[i];
            for j in 0..nh {
                gw[i * nh + j] -= s * v[i] * p[j];
            }
        }
        for j in 0..nh {
            gc[j] -= s * p[j];
        }
    }
    // Model term.
    let log_z = exact_log_z(rbm);
    for x in 0..1usize << nv {
        let v = bit_vector(x, nv);
        let pv = (-free_energy_f64(rbm, &v) - log_z).exp();
        let p = hidden_probs(&v);
        for i in 0..nv {
            gb[i] += pv * v[i];
            for j in 0..nh {
                gw[i * nh + j] += pv * v[i] * p[j];
            }
        }
        for j in 0..nh {
            gc[j] += pv * p[j];
        }
    }
    (gw, gb, gc)
}

pub(super) fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Bars and stripes on a `side x side` grid: every pattern once.
pub(super) fn bars_and_stripes(side: usize) -> Matrix {
    let mut rows: Vec<Vec<f32>> = Vec::new();
    for mask in 0..1usize << side {
        let mut bars = vec![0.0f32; side * side];
        let mut stripes = vec![0.0f32; side * side];
        for r in 0..side {
            for c in 0..side {
                bars[r * side + c] = ((mask >> c) & 1) as f32;
                stripes[r * side + c] = ((mask >> r) & 1) as f32;
            }
        }
        if !rows.contains(&bars) {
            rows.push(bars);
        }
        if !rows.contains(&stripes) {
            rows.push(stripes);
        }
    }
    let flat: Vec<f32> = rows.concat();
    Matrix::from_slice(rows.len(), side * side, &flat).unwrap()
}

/// A small RBM with weights large enough that the model distribution is far
/// from uniform, so the gradient test means something.
pub(super) fn structured_rbm(nv: usize, nh: usize, seed: u64) -> Rbm {
    let mut rng = TestRng::new(seed);
    let w: Vec<f32> = (0..nv * nh).map(|_| rng.uniform(-1.5, 1.5)).collect();
    let b: Vec<f32> = (0..nv).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let c: Vec<f32> = (0..nh).map(|_| rng.uniform(-1.0, 1.0)).collect();
    Rbm::from_params(RbmConfig::bernoulli(nv, nh), &w, &b, &c).unwrap()
}

/// A 6x4 RBM with structured weights, its four training patterns repeated
/// 2,000 times (so one CD estimate averages over thousands of chains), and
/// the exact gradient of the patterns' mean NLL, flattened as (W, b, c).
pub(super) struct TinyProblem {
    pub(super) base: Rbm,
    pub(super) big: Matrix,
    pub(super) exact: Vec<f64>,
}

pub(super) fn tiny_problem() -> TinyProblem {
    let nv = 6;
    let rows: Vec<f32> = [
        [1, 1, 1, 0, 0, 0],
        [0, 0, 0, 1, 1, 1],
        [1, 0, 1, 0, 1, 0],
        [1, 1, 0, 0, 1, 1],
    ]
    .iter()
    .flatten()
    .map(|&x| x as f32)
    .collect();
    let data = Matrix::from_slice(4, nv, &rows).unwrap();
    let base = structured_rbm(nv, 4, 11);
    let (gw, gb, gc) = exact_nll_gradient(&base, &data);
    let copies = 2000;
    let big: Vec<f32> = (0..copies).flat_map(|_| rows.iter().cloned()).collect();
    TinyProblem {
        base,
        big: Matrix::from_slice(4 * copies, nv, &big).unwrap(),
        exact: [gw, gb, gc].concat(),
    }
}

/// A copy of `base`'s parameters under another configuration.
pub(super) fn with_config(base: &Rbm, config: RbmConfig) -> Rbm {
    Rbm::from_params(
        config,
        base.weights().as_slice(),
        base.visible_bias(),
        base.hidden_bias(),
    )
    .unwrap()
}

/// Every gradient tensor, flattened in parameter order.
pub(super) fn flat(grads: &ParamSet) -> Vec<f64> {
    grads
        .tensors()
        .iter()
        .flat_map(|t| t.value.as_slice().iter().map(|&x| x as f64))
        .collect()
}

pub(super) fn zero_grads(rbm: &Rbm) -> ParamSet {
    latent_engine::train::Model::params(rbm)
        .zeros_like()
        .unwrap()
}

/// `rbm` trained on the rows of `data` with its default optimiser at a
/// constant `lr` on `threads` threads.
pub(super) fn train(
    rbm: Rbm,
    data: &Matrix,
    epochs: usize,
    batch: usize,
    lr: f32,
    seed: u64,
    threads: usize,
) -> Rbm {
    let mut optimizer = rbm.config().default_optimizer();
    optimizer.lr = latent_engine::LrSchedule::constant(lr);
    let mut config = TrainConfig::new(optimizer);
    config.epochs = epochs;
    config.batch_size = batch;
    config.seed = seed;
    config.threads = Threads::Count(threads);
    let mut trainer = Trainer::new(rbm, config).unwrap();
    let ds = Dataset::new(data.clone(), None).unwrap();
    trainer.fit(&ds, None, &mut Silent).unwrap();
    trainer.into_model()
}
