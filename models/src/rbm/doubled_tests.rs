//! The modified RBMs of DBM pretraining ([`DoubledInput`]) against direct
//! f64 computations: their conditionals, and the expectation of their CD-1
//! gradient (enumerating the hidden sample), in f32 and bf16; the checks
//! that refuse what they do not have (a free energy, a learned σ).

#![allow(clippy::needless_range_loop)] // index loops mirror the formulas

use latent_engine::train::Model;
use latent_engine::{Matrix, Rng};
use latent_kernels::{Par, Precision};

use super::{DoubledInput, Rbm, RbmConfig, VisibleUnits};
use crate::error::ModelError;

/// A tiny model's parameters and their f64 conditionals.
struct Reference {
    nv: usize,
    nh: usize,
    w: Vec<f64>,
    b: Vec<f64>,
    c: Vec<f64>,
    up: f64,
    down: f64,
    gaussian: bool,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl Reference {
    fn of(rbm: &Rbm) -> Self {
        let to64 = |s: &[f32]| s.iter().map(|&x| x as f64).collect::<Vec<f64>>();
        let config = rbm.config();
        Reference {
            nv: config.n_visible,
            nh: config.n_hidden,
            w: to64(rbm.weights().as_slice()),
            b: to64(rbm.visible_bias()),
            c: to64(rbm.hidden_bias()),
            up: config.doubled.up_factor() as f64,
            down: config.doubled.down_factor() as f64,
            gaussian: config.visible == VisibleUnits::Gaussian,
        }
    }

    /// `σ(up·vᵀW + c)`.
    fn hidden(&self, v: &[f64]) -> Vec<f64> {
        (0..self.nh)
            .map(|j| {
                let total: f64 = (0..self.nv).map(|i| v[i] * self.w[i * self.nh + j]).sum();
                sigmoid(self.up * total + self.c[j])
            })
            .collect()
    }

    /// `E[v | h]`: `σ(down·Wh + b)`, or `down·Wh + b` for Gaussian visibles.
    fn visible(&self, h: &[f64]) -> Vec<f64> {
        (0..self.nv)
            .map(|i| {
                let total: f64 = (0..self.nh).map(|j| self.w[i * self.nh + j] * h[j]).sum();
                let x = self.down * total + self.b[i];
                if self.gaussian { x } else { sigmoid(x) }
            })
            .collect()
    }

    /// The expected CD-1 gradient (mean-field reconstructions) of the rows
    /// of `data`, flattened as (W, b, c), and the expected reconstruction
    /// error: the hidden sample `H⁰` summed out over its `2^H` states.
    fn expected_cd1(&self, data: &[Vec<f64>]) -> (Vec<f64>, f64) {
        let (nv, nh) = (self.nv, self.nh);
        let mut g = vec![0.0; nv * nh + nv + nh];
        let mut recon = 0.0;
        let inv_b = 1.0 / data.len() as f64;
        for v0 in data {
            let p0 = self.hidden(v0);
            for state in 0..1usize << nh {
                let h: Vec<f64> = (0..nh).map(|j| ((state >> j) & 1) as f64).collect();
                let prob: f64 = (0..nh)
                    .map(|j| if h[j] == 1.0 { p0[j] } else { 1.0 - p0[j] })
                    .product();
                let v1 = self.visible(&h);
                let p1 = self.hidden(&v1);
                for i in 0..nv {
                    for j in 0..nh {
                        g[i * nh + j] += prob * v1[i] * p1[j];
                    }
                    g[nv * nh + i] += prob * v1[i];
                    recon += prob * (v0[i] - v1[i]).powi(2);
                }
                for j in 0..nh {
                    g[nv * nh + nv + j] += prob * p1[j];
                }
            }
            for i in 0..nv {
                for j in 0..nh {
                    g[i * nh + j] -= v0[i] * p0[j];
                }
                g[nv * nh + i] -= v0[i];
            }
            for j in 0..nh {
                g[nv * nh + nv + j] -= p0[j];
            }
        }
        (g.iter().map(|x| x * inv_b).collect(), recon * inv_b)
    }
}

/// A `nv x nh` RBM of `config` with weights large enough that doubling an
/// input moves every conditional by much more than the tests' tolerances.
fn tiny(config: RbmConfig, seed: u64) -> Rbm {
    let (nv, nh) = (config.n_visible, config.n_hidden);
    let mut rng = Rng::new(seed);
    let mut draw = |n: usize, s: f64| -> Vec<f32> {
        (0..n)
            .map(|_| ((rng.uniform_f64() * 2.0 - 1.0) * s) as f32)
            .collect()
    };
    let (w, b, c) = (draw(nv * nh, 1.5), draw(nv, 1.0), draw(nh, 1.0));
    Rbm::from_params(config, &w, &b, &c).unwrap()
}

fn configs(nv: usize, nh: usize) -> Vec<RbmConfig> {
    let bottom = RbmConfig {
        doubled: DoubledInput::BottomUp,
        ..RbmConfig::bernoulli(nv, nh)
    };
    vec![
        bottom,
        RbmConfig {
            doubled: DoubledInput::TopDown,
            ..bottom
        },
        RbmConfig {
            visible: VisibleUnits::Gaussian,
            ..bottom
        },
    ]
}

fn rows_of(x: &Matrix) -> Vec<Vec<f64>> {
    (0..x.rows())
        .map(|r| x.row(r).iter().map(|&v| v as f64).collect())
        .collect()
}

fn max_diff(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y).abs())
        .fold(0.0, f64::max)
}

/// Data for `config`: binary, or real values for Gaussian visibles.
fn data(config: &RbmConfig, rows: usize, seed: u64) -> Matrix {
    let mut rng = Rng::new(seed);
    let gaussian = config.visible == VisibleUnits::Gaussian;
    Matrix::from_fn(rows, config.n_visible, |_, _| match gaussian {
        true => (rng.normal() * 0.8) as f32,
        false => (rng.uniform_f64() < 0.4) as u8 as f32,
    })
    .unwrap()
}

#[test]
fn doubled_conditionals_match_f64_and_differ_from_the_ordinary_ones() {
    for (n, config) in configs(6, 4).into_iter().enumerate() {
        let mut rbm = tiny(config, 10 + n as u64);
        let reference = Reference::of(&rbm);
        let plain = Reference {
            up: 1.0,
            down: 1.0,
            ..Reference::of(&rbm)
        };
        let x = data(&config, 9, 3);
        let h_in = Matrix::from_fn(9, 4, |i, j| ((i * 7 + j * 3) % 5) as f32 / 4.0).unwrap();
        let (mut want_h, mut want_v, mut want_r) = (vec![], vec![], vec![]);
        let (mut plain_h, mut plain_v) = (vec![], vec![]);
        for (v, h) in rows_of(&x).iter().zip(rows_of(&h_in)) {
            want_h.extend(reference.hidden(v));
            want_v.extend(reference.visible(&h));
            want_r.extend(reference.visible(&reference.hidden(v)));
            plain_h.extend(plain.hidden(v));
            plain_v.extend(plain.visible(&h));
        }
        // bf16 operands carry 8 significant bits: about 2^-8 relative.
        for (precision, tol) in [(Precision::F32, 1e-5), (Precision::Bf16, 2e-2)] {
            rbm.set_precision(precision);
            let mut h = Matrix::zeros(9, 4).unwrap();
            rbm.transform(x.view(), h.view_mut(), Par::Seq).unwrap();
            let mut v = Matrix::zeros(9, 6).unwrap();
            rbm.visible_means(h_in.view(), v.view_mut(), Par::Seq)
                .unwrap();
            let mut r = Matrix::zeros(9, 6).unwrap();
            rbm.reconstruct(x.view(), r.view_mut(), Par::Seq).unwrap();
            let what = format!("{} {precision}", config.to_text());
            assert!(max_diff(h.as_slice(), &want_h) < tol, "p(h|v), {what}");
            assert!(max_diff(v.as_slice(), &want_v) < tol, "E[v|h], {what}");
            assert!(max_diff(r.as_slice(), &want_r) < tol, "recon, {what}");
        }
        // The doubled direction is not the ordinary one (the test can fail).
        let moved = match config.doubled {
            DoubledInput::BottomUp => max_diff(&to32(&want_h), &plain_h),
            _ => max_diff(&to32(&want_v), &plain_v),
        };
        assert!(moved > 0.1, "doubling moved the conditionals by {moved}");
    }
}

fn to32(x: &[f64]) -> Vec<f32> {
    x.iter().map(|&v| v as f32).collect()
}

/// CD-1 of a modified RBM on 8,000 rows (four patterns, 2,000 copies
/// each): its gradient is the f64 expectation over the hidden samples
/// within a few standard errors (each entry averages 8,000 terms of
/// standard deviation at most about 0.5: a standard error of about 0.006;
/// the largest error seen over the 23 entries is 0.008), and the ordinary
/// RBM's expectation is at least three tolerances away.
#[test]
fn doubled_cd1_gradient_matches_its_f64_expectation() {
    let (nv, nh, copies) = (5, 3, 2000);
    for (n, config) in configs(nv, nh).into_iter().enumerate() {
        let base = tiny(config, 30 + n as u64);
        let patterns = data(&config, 4, 40 + n as u64);
        let big = Matrix::from_fn(4 * copies, nv, |i, j| patterns.row(i % 4)[j]).unwrap();
        let reference = Reference::of(&base);
        let (want, want_recon) = reference.expected_cd1(&rows_of(&patterns));
        let plain = Reference {
            up: 1.0,
            down: 1.0,
            ..Reference::of(&base)
        };
        let (ordinary, _) = plain.expected_cd1(&rows_of(&patterns));
        let apart = ordinary
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            apart > 0.06,
            "the ordinary expectation is only {apart} away"
        );
        for precision in [Precision::F32, Precision::Bf16] {
            let mut rbm = Rbm::from_params(
                config,
                base.weights().as_slice(),
                base.visible_bias(),
                base.hidden_bias(),
            )
            .unwrap();
            rbm.set_precision(precision);
            let mut grads = rbm.params().zeros_like().unwrap();
            let recon = rbm
                .cd_gradient(big.view(), &mut grads, 7, Par::All)
                .unwrap();
            let got: Vec<f32> = grads
                .tensors()
                .iter()
                .flat_map(|t| t.value.as_slice().to_vec())
                .collect();
            let what = format!("{} {precision}", config.to_text());
            let err = max_diff(&got, &want);
            assert!(err < 0.02, "gradient off by {err}, {what}");
            let recon_err = (recon - want_recon).abs() / want_recon.max(1.0);
            assert!(recon_err < 0.01, "recon {recon} vs {want_recon}, {what}");
        }
    }
}

#[test]
fn doubled_rbms_refuse_what_they_do_not_have() {
    let bottom = configs(6, 4)[0];
    let rbm = tiny(bottom, 1);
    let x = data(&bottom, 5, 2);
    let mut out = vec![0.0f32; 5];
    let refused: Vec<ModelError> = vec![
        rbm.free_energy(x.view(), &mut out, Par::Seq).unwrap_err(),
        rbm.exact_log_z(Par::Seq).unwrap_err(),
        rbm.exact_log_likelihood(&x, Par::Seq).unwrap_err(),
        rbm.pseudo_log_likelihood(&x, 1, Par::Seq).unwrap_err(),
        rbm.ais_log_z(&x, &Default::default(), Par::Seq)
            .unwrap_err(),
    ];
    for e in refused {
        let text = e.to_string();
        assert!(
            matches!(e, ModelError::Unsupported { .. }) && text.contains("doubled bottom-up"),
            "{text}"
        );
    }
    let sigma = RbmConfig {
        learn_sigma: true,
        ..RbmConfig::gaussian(6, 4)
    };
    let bad = [
        RbmConfig {
            doubled: DoubledInput::BottomUp,
            ..sigma
        },
        RbmConfig {
            doubled: DoubledInput::TopDown,
            ..RbmConfig::gaussian(6, 4)
        },
    ];
    for config in bad {
        let e = config.validate().unwrap_err().to_string();
        assert!(e.contains("doubled"), "{e}");
    }
}

#[test]
fn only_modified_rbms_write_the_doubled_key_and_files_refuse_it() {
    let plain = RbmConfig::bernoulli(6, 4);
    assert!(!plain.to_text().contains("doubled"));
    let top = RbmConfig {
        doubled: DoubledInput::TopDown,
        ..plain
    };
    let line = top.to_text();
    assert_eq!(line, format!("{} doubled=top-down", plain.to_text()));
    // A model file's parser does not read it as an ordinary RBM.
    let path = std::path::Path::new("model.latent");
    let shape = (VisibleUnits::Bernoulli, 6, 4);
    let e = crate::persist::parse_rbm_config(&line, shape, true, path, "model line").unwrap_err();
    assert!(e.to_string().contains("doubled"), "{e}");
}
