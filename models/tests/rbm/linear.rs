//! RBMs with linear (unit-variance Gaussian) hidden units (Hinton &
//! Salakhutdinov 2006, `rbmhidlinear.m`): the exact `ln Z` against
//! numerical quadrature over the hiddens, the free energy against its
//! formula, the CD-k statistics against an f64 reference fed the same
//! noise, PCD, and the refusals (AIS, Gaussian visibles, sparsity).

#![allow(clippy::needless_range_loop)] // index loops mirror the formulas

use latent_testkit as common;

use super::reference::{flat, zero_grads};
use common::{TestRng, bit_vector, log_sum_exp, sigmoid64};
use latent_engine::Matrix;
use latent_kernels::Par;
use latent_kernels::random::{Scale, Streams, gaussian};
use latent_models::eval::{self, RbmParams};
use latent_models::rbm::{HiddenUnits, Rbm, RbmConfig, Sparsity};

/// A linear-hidden RBM of `v x h` units with weights of scale `scale`.
fn linear_rbm(v: usize, h: usize, scale: f32, seed: u64) -> Rbm {
    let mut rng = TestRng::new(seed);
    let w: Vec<f32> = (0..v * h).map(|_| rng.uniform(-scale, scale)).collect();
    let b: Vec<f32> = (0..v).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let c: Vec<f32> = (0..h).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let config = RbmConfig {
        hidden: HiddenUnits::Linear,
        ..RbmConfig::bernoulli(v, h)
    };
    Rbm::from_params(config, &w, &b, &c).unwrap()
}

/// `∫ e^{−E(v, h)} dh` over `h ∈ ℝ^H` (`H ≤ 2`) by the trapezoidal rule on
/// a grid of step `dh` over `[−L, L]^H`, with `E(v, h) = −bᵀv − cᵀh +
/// ½‖h‖² − vᵀWh`, straight from the energy (no completed squares).
fn quadrature(rbm: &Rbm, v: &[f64], dh: f64, l: f64) -> f64 {
    let (nv, nh) = (rbm.config().n_visible, rbm.config().n_hidden);
    let (w, b, c) = (
        rbm.weights().as_slice(),
        rbm.visible_bias(),
        rbm.hidden_bias(),
    );
    let bv: f64 = (0..nv).map(|i| b[i] as f64 * v[i]).sum();
    // The linear coefficient of each h_j in −E: c_j + Σ_i v_i W_ij.
    let lin: Vec<f64> = (0..nh)
        .map(|j| c[j] as f64 + (0..nv).map(|i| v[i] * w[i * nh + j] as f64).sum::<f64>())
        .collect();
    let n = (2.0 * l / dh).round() as usize;
    let grid: Vec<f64> = (0..=n).map(|k| -l + k as f64 * dh).collect();
    let weight = |k: usize| if k == 0 || k == n { 0.5 * dh } else { dh };
    let neg_energy = |h: &[f64]| -> f64 {
        bv + h
            .iter()
            .zip(&lin)
            .map(|(&h, &a)| a * h - 0.5 * h * h)
            .sum::<f64>()
    };
    match nh {
        1 => (0..=n)
            .map(|k| weight(k) * neg_energy(&[grid[k]]).exp())
            .sum(),
        2 => (0..=n)
            .map(|k1| {
                (0..=n)
                    .map(|k2| weight(k1) * weight(k2) * neg_energy(&[grid[k1], grid[k2]]).exp())
                    .sum::<f64>()
            })
            .sum(),
        _ => unreachable!("quadrature over at most two hidden units"),
    }
}

#[test]
fn exact_log_z_matches_quadrature_over_the_gaussian_hiddens() {
    for (v, h, seed) in [(4, 1, 1), (5, 2, 2), (3, 2, 3)] {
        let rbm = linear_rbm(v, h, 0.8, seed);
        // The hiddens' means |c + vW| stay below 1 + 0.8·5: a grid to ±14
        // holds every Gaussian to far beyond 1e-15 of its mass.
        let terms: Vec<f64> = (0..1usize << v)
            .map(|k| quadrature(&rbm, &bit_vector(k, v), 0.02, 14.0).ln())
            .collect();
        let want = log_sum_exp(&terms);
        let got = rbm.exact_log_z(Par::Seq).unwrap();
        assert!(
            (got - want).abs() < 1e-9,
            "{v}x{h}: exact ln Z {got} vs quadrature {want}"
        );
        // Summed over the visibles' free energies, the same Z.
        let all: Vec<f32> = (0..1usize << v)
            .flat_map(|k| bit_vector(k, v).into_iter().map(|x| x as f32))
            .collect();
        let rows = 1usize << v;
        let mut f = vec![0.0f64; rows];
        rbm.with_eval_params(|p| eval::free_energy_f64(p, &all, &mut f, Par::Seq))
            .unwrap();
        let from_f = log_sum_exp(&f.iter().map(|&f| -f).collect::<Vec<_>>());
        assert!((from_f - want).abs() < 1e-9, "{from_f} vs {want}");
        // The exact log-likelihood of the data is −mean F − ln Z.
        let x = Matrix::from_slice(rows, v, &all).unwrap();
        let ll = rbm.exact_log_likelihood(&x, Par::Seq).unwrap();
        let want_ll = -f.iter().sum::<f64>() / rows as f64 - want;
        assert!((ll - want_ll).abs() < 1e-9, "{ll} vs {want_ll}");
    }
}

#[test]
fn free_energy_matches_the_formula_in_f32_and_f64() {
    let (v, h) = (7, 5);
    let rbm = linear_rbm(v, h, 0.5, 4);
    let mut rng = TestRng::new(5);
    let x: Vec<f32> = (0..20 * v)
        .map(|_| (rng.uniform(0.0, 1.0) < 0.5) as u8 as f32)
        .collect();
    let xm = Matrix::from_slice(20, v, &x).unwrap();
    let mut f32s = vec![0.0f32; 20];
    rbm.free_energy(xm.view(), &mut f32s, Par::Seq).unwrap();
    let mut f64s = vec![0.0f64; 20];
    rbm.with_eval_params(|p| eval::free_energy_f64(p, &x, &mut f64s, Par::Seq))
        .unwrap();
    let (w, b, c) = (
        rbm.weights().as_slice(),
        rbm.visible_bias(),
        rbm.hidden_bias(),
    );
    for r in 0..20 {
        let row = &x[r * v..(r + 1) * v];
        let bv: f64 = (0..v).map(|i| b[i] as f64 * row[i] as f64).sum();
        let sq: f64 = (0..h)
            .map(|j| {
                let a = c[j] as f64
                    + (0..v)
                        .map(|i| row[i] as f64 * w[i * h + j] as f64)
                        .sum::<f64>();
                0.5 * a * a
            })
            .sum();
        let want = -bv - sq - h as f64 * 0.5 * (2.0 * std::f64::consts::PI).ln();
        assert!(
            (f64s[r] - want).abs() < 1e-12 * (1.0 + want.abs()),
            "row {r}"
        );
        assert!(
            (f32s[r] as f64 - want).abs() < 1e-5 * (1.0 + want.abs()),
            "row {r}: f32 {} vs {want}",
            f32s[r]
        );
    }
    // The f32 batch routine of `eval` agrees with the model's.
    let mut e32 = vec![0.0f32; 20];
    rbm.with_eval_params(|p| eval::free_energy(p, &x, &mut e32, Par::Seq))
        .unwrap();
    for r in 0..20 {
        assert!((e32[r] - f32s[r]).abs() < 1e-4 * (1.0 + f32s[r].abs()));
    }
}

/// The f64 CD-k gradient of a linear-hidden RBM (visible means in the
/// chain, as CD runs by default) given the noise `noise[t]` (`rows x H`)
/// of each sampled hidden step: `H⁰ = P⁰ + noise[0]`, `Vᵗ = σ(Hᵗ⁻¹Wᵀ +
/// b)`, `Pᵗ = VᵗW + c`, `Hᵗ = Pᵗ + noise[t]` for `t < k`. Returns the
/// gradients of the negative log-likelihood `[W | b | c]` flattened.
fn reference_cd(rbm: &Rbm, x: &[f32], rows: usize, noise: &[Vec<f32>]) -> Vec<f64> {
    let (nv, nh) = (rbm.config().n_visible, rbm.config().n_hidden);
    let (w, b, c) = (
        rbm.weights().as_slice(),
        rbm.visible_bias(),
        rbm.hidden_bias(),
    );
    let up = |v: &[f64]| -> Vec<f64> {
        (0..nh)
            .map(|j| c[j] as f64 + (0..nv).map(|i| v[i] * w[i * nh + j] as f64).sum::<f64>())
            .collect()
    };
    let down = |h: &[f64]| -> Vec<f64> {
        (0..nv)
            .map(|i| {
                sigmoid64(b[i] as f64 + (0..nh).map(|j| h[j] * w[i * nh + j] as f64).sum::<f64>())
            })
            .collect()
    };
    let mut gw = vec![0.0f64; nv * nh];
    let (mut gb, mut gc) = (vec![0.0f64; nv], vec![0.0f64; nh]);
    for r in 0..rows {
        let v0: Vec<f64> = x[r * nv..(r + 1) * nv].iter().map(|&a| a as f64).collect();
        let p0 = up(&v0);
        let mut hs: Vec<f64> = (0..nh)
            .map(|j| p0[j] + noise[0][r * nh + j] as f64)
            .collect();
        let (mut vk, mut pk) = (Vec::new(), Vec::new());
        for t in 1..noise.len() + 1 {
            vk = down(&hs);
            pk = up(&vk);
            if t < noise.len() {
                hs = (0..nh)
                    .map(|j| pk[j] + noise[t][r * nh + j] as f64)
                    .collect();
            }
        }
        for i in 0..nv {
            gb[i] -= (v0[i] - vk[i]) / rows as f64;
            for j in 0..nh {
                gw[i * nh + j] -= (v0[i] * p0[j] - vk[i] * pk[j]) / rows as f64;
            }
        }
        for j in 0..nh {
            gc[j] -= (p0[j] - pk[j]) / rows as f64;
        }
    }
    gw.into_iter().chain(gb).chain(gc).collect()
}

#[test]
fn cd_k_statistics_match_an_f64_reference_with_the_same_noise() {
    let (nv, nh, rows, seed) = (9, 4, 60, 11);
    let rbm0 = linear_rbm(nv, nh, 0.3, 6);
    let mut rng = TestRng::new(7);
    let x: Vec<f32> = (0..rows * nv).map(|_| rng.uniform(0.0, 1.0)).collect();
    let xm = Matrix::from_slice(rows, nv, &x).unwrap();
    for k in [1usize, 3] {
        let config = RbmConfig {
            cd_k: k,
            ..*rbm0.config()
        };
        let (w, b, c) = (
            rbm0.weights().as_slice(),
            rbm0.visible_bias(),
            rbm0.hidden_bias(),
        );
        let mut rbm = Rbm::from_params(config, w, b, c).unwrap();
        let mut grads = zero_grads(&rbm);
        for par in [Par::Seq, Par::Rayon(3)] {
            rbm.cd_gradient(xm.view(), &mut grads, seed, par).unwrap();
            // The chain's hidden steps draw, row by row, from the streams
            // of `seed` advanced once per sampled step: the same standard
            // normals, drawn here with zero means.
            let mut streams = Streams::new(seed);
            let noise: Vec<Vec<f32>> = (0..k)
                .map(|_| {
                    let mut z = vec![0.0f32; rows * nh];
                    let zeros = vec![0.0f32; rows * nh];
                    gaussian(
                        streams,
                        &zeros,
                        Scale::Scalar(1.0),
                        &mut z,
                        rows,
                        nh,
                        Par::Seq,
                    )
                    .unwrap();
                    streams = streams.next_step();
                    z
                })
                .collect();
            let want = reference_cd(&rbm, &x, rows, &noise);
            let got = flat(&grads);
            assert_eq!(got.len(), want.len());
            for (n, (&g, &r)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - r).abs() < 2e-5 * (1.0 + r.abs()),
                    "CD-{k} {par:?}: gradient {n}: {g} vs reference {r}"
                );
            }
        }
    }
}

#[test]
fn features_are_the_means_and_pcd_runs() {
    let (nv, nh, rows) = (6, 3, 40);
    let rbm = linear_rbm(nv, nh, 0.5, 8);
    let mut rng = TestRng::new(9);
    let x: Vec<f32> = (0..rows * nv).map(|_| rng.uniform(0.0, 1.0)).collect();
    let xm = Matrix::from_slice(rows, nv, &x).unwrap();
    let mut feats = Matrix::zeros(rows, nh).unwrap();
    rbm.transform(xm.view(), feats.view_mut(), Par::Seq)
        .unwrap();
    let (w, c) = (rbm.weights().as_slice(), rbm.hidden_bias());
    for r in 0..rows {
        for j in 0..nh {
            let want: f64 = c[j] as f64
                + (0..nv)
                    .map(|i| x[r * nv + i] as f64 * w[i * nh + j] as f64)
                    .sum::<f64>();
            let got = feats.as_slice()[r * nh + j] as f64;
            assert!(
                (got - want).abs() < 1e-5,
                "feature ({r},{j}): {got} vs {want}"
            );
        }
    }
    // PCD: the persistent chains move and the gradient stays finite.
    let config = RbmConfig {
        persistent: true,
        ..*rbm.config()
    };
    let mut pcd = Rbm::from_params(config, w, rbm.visible_bias(), c).unwrap();
    let mut grads = zero_grads(&pcd);
    pcd.cd_gradient(xm.view(), &mut grads, 1, Par::Seq).unwrap();
    let first = pcd.chains().unwrap().clone();
    pcd.cd_gradient(xm.view(), &mut grads, 2, Par::Seq).unwrap();
    assert_ne!(pcd.chains().unwrap().as_slice(), first.as_slice());
    assert!(flat(&grads).iter().all(|g| g.is_finite()));
}

#[test]
fn unsupported_combinations_are_refused_by_name() {
    let rbm = linear_rbm(5, 2, 0.5, 10);
    let x = Matrix::from_slice(2, 5, &[0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0]).unwrap();
    let ais = rbm
        .ais_log_z(&x, &eval::AisConfig::default(), Par::Seq)
        .unwrap_err()
        .to_string();
    assert!(ais.contains("linear hiddens"), "{ais}");
    let over_h = rbm
        .with_eval_params(|p| eval::exact_log_z_over(p, eval::ExactSide::Hidden, Par::Seq))
        .unwrap_err()
        .to_string();
    assert!(over_h.contains("linear hiddens are continuous"), "{over_h}");
    let mut bad = RbmConfig {
        hidden: HiddenUnits::Linear,
        ..RbmConfig::gaussian(5, 2)
    };
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("Gaussian visibles"), "{e}");
    bad.visible = latent_models::rbm::VisibleUnits::Bernoulli;
    bad.sparsity = Some(Sparsity::with_target(0.1));
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("sparsity"), "{e}");
    let sigma = [1.0f32; 5];
    let (w, b, c) = (
        rbm.weights().as_slice(),
        rbm.visible_bias(),
        rbm.hidden_bias(),
    );
    let p = RbmParams {
        hidden: HiddenUnits::Linear,
        ..RbmParams::gaussian(w, b, c, &sigma)
    };
    let e = p.validate().unwrap_err().to_string();
    assert!(e.contains("Gaussian visibles and linear hiddens"), "{e}");
}

#[test]
fn the_config_line_names_linear_hiddens_only() {
    let lin = RbmConfig {
        hidden: HiddenUnits::Linear,
        ..RbmConfig::bernoulli(784, 30)
    };
    assert!(
        lin.to_text().ends_with(" hidden=linear"),
        "{}",
        lin.to_text()
    );
    // Bernoulli hiddens: the line is as before this option existed.
    assert_eq!(
        RbmConfig::bernoulli(784, 30).to_text(),
        "visible=bernoulli n_visible=784 n_hidden=30 cd_k=1 persistent=false sample_visible=false init_std=0.01 sparsity=none learn_sigma=false"
    );
    let path = std::path::Path::new("m.latent");
    let shape = (latent_models::rbm::VisibleUnits::Bernoulli, 784, 30);
    let back = latent_models::persist::parse_rbm_config(&lin.to_text(), shape, true, path, "line")
        .unwrap();
    assert_eq!(back, lin);
    let e = latent_models::persist::parse_rbm_config("hidden=cubic", shape, true, path, "line")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("hidden") && e.contains("bernoulli or linear"),
        "{e}"
    );
}

#[test]
fn pseudo_likelihood_matches_free_energy_differences() {
    let (v, rows) = (6, 12);
    let rbm = linear_rbm(v, 3, 0.7, 12);
    let x: Vec<f32> = (0..rows * v)
        .map(|i| ((i * 5) % 3 == 0) as u8 as f32)
        .collect();
    let flips: Vec<usize> = (0..rows).map(|r| (r * 7) % v).collect();
    let mut pll = vec![0.0f32; rows];
    rbm.with_eval_params(|p| {
        eval::pseudo_log_likelihood_with_flips(p, &x, &flips, &mut pll, Par::Seq)
    })
    .unwrap();
    for r in 0..rows {
        let row = &x[r * v..(r + 1) * v];
        let mut flipped = row.to_vec();
        flipped[flips[r]] = 1.0 - flipped[flips[r]];
        let both: Vec<f32> = row.iter().chain(&flipped).copied().collect();
        let mut f = [0.0f64; 2];
        rbm.with_eval_params(|p| eval::free_energy_f64(p, &both, &mut f, Par::Seq))
            .unwrap();
        // V · ln σ(F(ṽ) − F(v)).
        let want = v as f64 * sigmoid64(f[1] - f[0]).ln();
        assert!(
            (pll[r] as f64 - want).abs() < 1e-5 * (1.0 + want.abs()),
            "row {r}: {} vs {want}",
            pll[r]
        );
    }
}
