//! CD-k and PCD gradients against the exact log-likelihood gradient of
//! small models (Bernoulli, and Gaussian with learned σ), and the free
//! energy against its formula.

#![allow(clippy::needless_range_loop)] // index loops mirror the formulas

use latent_testkit as common;

use super::reference::*;
use common::{TestRng, bit_vector};
use latent_engine::{Matrix, ParamSet};
use latent_kernels::Par;
use latent_models::rbm::{Rbm, RbmConfig};

#[test]
fn cd_k_gradient_points_along_the_exact_gradient_for_large_k() {
    let tiny = tiny_problem();
    let mut cos = Vec::new();
    for k in [1, 50] {
        let config = RbmConfig {
            cd_k: k,
            sample_visible: true,
            ..*tiny.base.config()
        };
        let mut rbm = with_config(&tiny.base, config);
        let mut grads = zero_grads(&rbm);
        rbm.cd_gradient(tiny.big.view(), &mut grads, 7, Par::Seq)
            .unwrap();
        cos.push(cosine(&flat(&grads), &tiny.exact));
    }
    // CD-50 from the data is close to maximum likelihood; CD-1 is biased.
    eprintln!(
        "cosine to the exact gradient: CD-1 {:.4}, CD-50 {:.4}",
        cos[0], cos[1]
    );
    assert!(
        cos[1] > 0.995,
        "CD-50 vs exact gradient: cosine {:.4} (CD-1: {:.4})",
        cos[1],
        cos[0]
    );
    assert!(
        cos[1] > cos[0],
        "CD-50 should be closer to the exact gradient than CD-1: {cos:?}"
    );
}

#[test]
fn free_energy_matches_the_formula() {
    let rbm = structured_rbm(7, 5, 3);
    let mut rng = TestRng::new(4);
    let x: Vec<f32> = (0..20 * 7)
        .map(|_| {
            if rng.uniform(0.0, 1.0) < 0.5 {
                0.0
            } else {
                1.0
            }
        })
        .collect();
    let x = Matrix::from_slice(20, 7, &x).unwrap();
    let mut f = vec![0.0f32; 20];
    rbm.free_energy(x.view(), &mut f, Par::Seq).unwrap();
    for r in 0..20 {
        let v: Vec<f64> = x.row(r).iter().map(|&a| a as f64).collect();
        let want = free_energy_f64(&rbm, &v);
        assert!(
            (f[r] as f64 - want).abs() < 1e-4 * (1.0 + want.abs()),
            "row {r}: {} vs {want}",
            f[r]
        );
    }
}

/// Each chain block copies its own rows of the minibatch: a minibatch seen
/// through a transposed (strided) view gives the gradient of the same rows
/// stored densely, bit for bit, on one block and on several.
#[test]
fn cd_gradient_of_a_strided_minibatch_equals_the_dense_one() {
    let (nv, nh, rows) = (20, 12, 100);
    let mut rng = TestRng::new(13);
    let x: Vec<f32> = (0..rows * nv)
        .map(|_| (rng.uniform(0.0, 1.0) < 0.3) as u8 as f32)
        .collect();
    let x = Matrix::from_slice(rows, nv, &x).unwrap();
    let xt = Matrix::from_fn(nv, rows, |i, j| x.row(j)[i]).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .unwrap();
    for par in [Par::Seq, Par::Rayon(4)] {
        let mut dense = structured_rbm(nv, nh, 3);
        let mut strided = structured_rbm(nv, nh, 3);
        let (mut g_dense, mut g_strided) = (zero_grads(&dense), zero_grads(&strided));
        let e_dense = pool
            .install(|| dense.cd_gradient(x.view(), &mut g_dense, 7, par))
            .unwrap();
        let e_strided = pool
            .install(|| strided.cd_gradient(xt.view().t(), &mut g_strided, 7, par))
            .unwrap();
        assert_eq!(
            e_dense.to_bits(),
            e_strided.to_bits(),
            "{par:?}: reconstruction error"
        );
        let bits = |g: &ParamSet| flat(g).iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&g_dense), bits(&g_strided), "{par:?}: gradients");
    }
}

/// Exact gradient of the mean NLL of a Gaussian RBM with learned σ, w.r.t.
/// (W, b, c, ln σ), by enumerating the hidden units: the data term uses
/// p(h|v); the model term the joint (v, h), whose v-moments given h are
/// Gaussian in closed form (s = v/σ ~ N(b/σ + Wh, 1)).
fn exact_gaussian_sigma_gradient(rbm: &Rbm, data: &Matrix) -> Vec<f64> {
    let (nv, nh) = (rbm.config().n_visible, rbm.config().n_hidden);
    let w = rbm.weights().as_slice();
    let (b, c) = (rbm.visible_bias(), rbm.hidden_bias());
    let sigma: Vec<f64> = rbm.sigma().iter().map(|&s| s as f64).collect();
    let beta: Vec<f64> = (0..nv).map(|i| b[i] as f64 / sigma[i]).collect();
    let wf = |i: usize, j: usize| w[i * nh + j] as f64;
    let (mut gw, mut gb, mut gc, mut gz) = (
        vec![0.0; nv * nh],
        vec![0.0; nv],
        vec![0.0; nh],
        vec![0.0; nv],
    );
    let n = data.rows() as f64;
    for r in 0..data.rows() {
        let s: Vec<f64> = (0..nv).map(|i| data.row(r)[i] as f64 / sigma[i]).collect();
        let p: Vec<f64> = (0..nh)
            .map(|j| {
                1.0 / (1.0 + (-(c[j] as f64 + (0..nv).map(|i| s[i] * wf(i, j)).sum::<f64>())).exp())
            })
            .collect();
        for i in 0..nv {
            let wp: f64 = (0..nh).map(|j| wf(i, j) * p[j]).sum();
            gb[i] += -(s[i] - beta[i]) / sigma[i] / n;
            gz[i] += (-(s[i] - beta[i]).powi(2) + s[i] * wp) / n;
            for j in 0..nh {
                gw[i * nh + j] += -s[i] * p[j] / n;
            }
        }
        for j in 0..nh {
            gc[j] += -p[j] / n;
        }
    }
    // Model term: p(h) ∝ exp(cᵀh + Σ_i ((β_i + (Wh)_i)² − β_i²)/2).
    let hs: Vec<Vec<f64>> = (0..1usize << nh).map(|x| bit_vector(x, nh)).collect();
    let log_w: Vec<f64> = hs
        .iter()
        .map(|h| {
            let wh: Vec<f64> = (0..nv)
                .map(|i| (0..nh).map(|j| wf(i, j) * h[j]).sum())
                .collect();
            (0..nh).map(|j| c[j] as f64 * h[j]).sum::<f64>()
                + (0..nv)
                    .map(|i| ((beta[i] + wh[i]).powi(2) - beta[i].powi(2)) / 2.0)
                    .sum::<f64>()
        })
        .collect();
    let max = log_w.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = log_w.iter().map(|l| (l - max).exp()).sum();
    for (h, lw) in hs.iter().zip(&log_w) {
        let ph = (lw - max).exp() / total;
        let wh: Vec<f64> = (0..nv)
            .map(|i| (0..nh).map(|j| wf(i, j) * h[j]).sum())
            .collect();
        for i in 0..nv {
            gb[i] -= ph * (-wh[i] / sigma[i]);
            gz[i] -= ph * (-1.0 + beta[i] * wh[i]);
            for j in 0..nh {
                gw[i * nh + j] -= ph * (-(beta[i] + wh[i]) * h[j]);
            }
        }
        for j in 0..nh {
            gc[j] -= ph * -h[j];
        }
    }
    [gw, gb, gc, gz].concat()
}

#[test]
fn learned_sigma_pcd_gradient_matches_the_exact_gradient() {
    let (nv, nh) = (3, 4);
    let mut rng = TestRng::new(41);
    let w: Vec<f32> = (0..nv * nh).map(|_| rng.uniform(-0.8, 0.8)).collect();
    let b: Vec<f32> = (0..nv).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let c: Vec<f32> = (0..nh).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let config = RbmConfig {
        learn_sigma: true,
        persistent: true,
        ..RbmConfig::gaussian(nv, nh)
    };
    let mut rbm = Rbm::from_params(config, &w, &b, &c).unwrap();
    // σ = (0.5, 1.0, 1.6).
    let z = [0.5f32.ln(), 0.0, 1.6f32.ln()];
    latent_engine::train::Model::params_mut(&mut rbm)
        .value_mut(latent_models::rbm::LOG_SIGMA)
        .as_mut_slice()
        .copy_from_slice(&z);
    let data = Matrix::from_fn(4, nv, |i, j| {
        [0.3f32, -1.2, 2.0, 0.7][(i + j) % 4] * (1.0 + j as f32 * 0.5)
    })
    .unwrap();
    let exact = exact_gaussian_sigma_gradient(&rbm, &data);
    let copies = 4000;
    let big: Vec<f32> = (0..copies)
        .flat_map(|_| data.as_slice().iter().cloned())
        .collect();
    let big = Matrix::from_slice(4 * copies, nv, &big).unwrap();
    let mut grads = zero_grads(&rbm);
    let mut cos = 0.0;
    for step in 0..60 {
        rbm.cd_gradient(big.view(), &mut grads, 500 + step, Par::Seq)
            .unwrap();
        cos = cosine(&flat(&grads), &exact);
    }
    eprintln!("learned-σ PCD-1 gradient vs exact: cosine {cos:.5}");
    assert!(
        cos > 0.99,
        "learned-σ PCD-1 after 60 chain steps vs exact gradient: cosine {cos:.5}"
    );
    // Each block on its own (W, b, c, ln σ), so no block hides behind a
    // larger one.
    let est = flat(&grads);
    let mut start = 0;
    for (name, len) in [("W", nv * nh), ("b", nv), ("c", nh), ("ln σ", nv)] {
        let (e, x) = (&est[start..start + len], &exact[start..start + len]);
        let rel = e
            .iter()
            .zip(x)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt()
            / x.iter().map(|b| b * b).sum::<f64>().sqrt();
        eprintln!("  {name}: relative error {rel:.4}");
        assert!(
            rel < 0.1,
            "{name}: relative error {rel:.4} (estimate {e:?}, exact {x:?})"
        );
        start += len;
    }
}
