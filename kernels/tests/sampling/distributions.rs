//! The samplers' distributions: the uniform chi-square, Bernoulli and
//! Gaussian moments within a few standard errors, the fused
//! sigmoid–Bernoulli pass, means and scales, the reparameterisation, noise
//! rates, and bad arguments as typed errors.

use super::*;

#[test]
fn uniforms_pass_chi_square_and_have_no_lag_one_correlation() {
    let (rows, cols) = (1000, 1003);
    let n = rows * cols;
    for isa in present_isas() {
        let mut u = vec![0.0f32; n];
        uniform_on(isa, Streams::new(77), &mut u, rows, cols, Par::Seq).unwrap();
        assert!(u.iter().all(|&v| (0.0..1.0).contains(&v)));
        const BINS: usize = 256;
        let mut counts = [0usize; BINS];
        for &v in &u {
            counts[(v * BINS as f32) as usize] += 1;
        }
        let e = n as f64 / BINS as f64;
        let chi2: f64 = counts.iter().map(|&c| (c as f64 - e).powi(2) / e).sum();
        // 255 degrees of freedom: mean 255, sd sqrt(510) ≈ 22.6; 6 sd.
        eprintln!("uniform on {isa}: chi-square {chi2:.1} on 255 dof");
        assert!(chi2 < 255.0 + 6.0 * 22.6, "{isa}: chi2 = {chi2}");
        assert!(
            chi2 > 255.0 - 6.0 * 22.6,
            "{isa}: chi2 = {chi2} (too uniform)"
        );
        // Lag-1 correlation along rows, and between consecutive rows at the
        // same column: |r| < 5/sqrt(n).
        for lag in [1, cols, 16] {
            let m = n - lag;
            let mut s = 0.0f64;
            for i in 0..m {
                s += (u[i] as f64 - 0.5) * (u[i + lag] as f64 - 0.5);
            }
            let r = s / m as f64 / (1.0 / 12.0);
            assert!(
                r.abs() < 5.0 / (m as f64).sqrt(),
                "{isa}: lag {lag} correlation {r}"
            );
        }
    }
}

#[test]
fn bernoulli_means_and_variances_match_p() {
    let ps = [0.0f32, 0.02, 0.1, 0.5, 0.77, 0.999, 1.0];
    let cols = ps.len() * 5;
    let rows = 40_000;
    let p: Vec<f32> = (0..rows * cols).map(|i| ps[i % cols % ps.len()]).collect();
    for isa in present_isas() {
        let mut s = vec![f32::NAN; rows * cols];
        bernoulli_on(isa, Streams::new(5), &p, &mut s, rows, cols, Par::All).unwrap();
        assert!(s.iter().all(|&v| v == 0.0 || v == 1.0));
        for (k, &pk) in ps.iter().enumerate() {
            let (m, var, n) = moments(
                s.iter()
                    .enumerate()
                    .filter(|(i, _)| i % cols % ps.len() == k)
                    .map(|(_, &v)| v as f64),
            );
            let pk = pk as f64;
            let sd = (pk * (1.0 - pk)).sqrt();
            if pk == 0.0 || pk == 1.0 {
                assert_eq!(m, pk, "{isa}: p = {pk} must be exact");
                continue;
            }
            let se = sd / (n as f64).sqrt();
            assert!(
                (m - pk).abs() < 5.0 * se,
                "{isa}: p={pk} mean {m} (se {se})"
            );
            // Var of the sample variance of a Bernoulli ≈ (μ4 - σ⁴)/n, which
            // vanishes at p = ½; the second-order terms (δ² with δ the error
            // of the mean, and the n/(n-1) factor) are O(p(1-p)/n).
            let mu4 = pk * (1.0 - pk) * (1.0 - 3.0 * pk + 3.0 * pk * pk);
            let se_v = ((mu4 - sd.powi(4)) / n as f64).sqrt();
            let second = 30.0 * sd * sd / n as f64;
            assert!(
                (var - sd * sd).abs() < 5.0 * se_v + second,
                "{isa}: p={pk} var {var} vs {} (se {se_v})",
                sd * sd
            );
        }
    }
}

#[test]
fn fused_sigmoid_bernoulli_equals_the_two_separate_passes() {
    let (rows, cols) = (33, 71);
    let mut rng = TestRng::new(8);
    let a0: Vec<f32> = rng.vec(rows * cols).iter().map(|v| 6.0 * v).collect();
    let c = rng.vec(cols);
    let st = Streams::new(31).at_step(2);
    for isa in present_isas() {
        let mut a = a0.clone();
        let mut s = vec![f32::NAN; rows * cols];
        sigmoid_bernoulli_on(isa, st, &mut a, Some(&c), &mut s, rows, cols, Par::Seq).unwrap();
        let mut p = a0.clone();
        bias_activation_on(
            isa,
            Activation::Sigmoid,
            Some(&c),
            &mut p,
            rows,
            cols,
            Par::Seq,
        )
        .unwrap();
        let mut s2 = vec![f32::NAN; rows * cols];
        bernoulli_on(isa, st, &p, &mut s2, rows, cols, Par::Seq).unwrap();
        assert_eq!(f32_bits(&a), f32_bits(&p), "{isa}: probabilities");
        assert_eq!(f32_bits(&s), f32_bits(&s2), "{isa}: samples");
        // Without a bias: the pre-activation already holds it.
        let mut a = p.clone();
        for (i, v) in a.iter_mut().enumerate() {
            *v = a0[i] + c[i % cols];
        }
        let mut s3 = vec![f32::NAN; rows * cols];
        sigmoid_bernoulli_on(isa, st, &mut a, None, &mut s3, rows, cols, Par::Seq).unwrap();
        assert_eq!(f32_bits(&a), f32_bits(&p), "{isa}: probabilities (no bias)");
        assert_eq!(f32_bits(&s3), f32_bits(&s2), "{isa}: samples (no bias)");
    }
}

#[test]
fn gaussian_moments_match_normal() {
    let (rows, cols) = (1000, 1001);
    let zeros = vec![0.0f32; rows * cols];
    for isa in present_isas() {
        let mut e = vec![f32::NAN; rows * cols];
        gaussian_on(
            isa,
            Streams::new(9),
            &zeros,
            Scale::Scalar(1.0),
            &mut e,
            rows,
            cols,
            Par::All,
        )
        .unwrap();
        assert!(e.iter().all(|v| v.is_finite()));
        let n = e.len() as f64;
        let (m, var, _) = moments(e.iter().map(|&v| v as f64));
        let m3 = e.iter().map(|&v| (v as f64 - m).powi(3)).sum::<f64>() / n / var.powf(1.5);
        let m4 = e.iter().map(|&v| (v as f64 - m).powi(4)).sum::<f64>() / n / var.powi(2);
        let within1 = e.iter().filter(|v| v.abs() < 1.0).count() as f64 / n;
        let within2 = e.iter().filter(|v| v.abs() < 2.0).count() as f64 / n;
        eprintln!(
            "gaussian on {isa}: mean {m:.5} var {var:.5} skew {m3:.4} kurt {m4:.4} P(|e|<1) {within1:.5}"
        );
        assert!(m.abs() < 5.0 / n.sqrt(), "{isa}: mean {m}");
        assert!(
            (var - 1.0).abs() < 5.0 * (2.0 / n).sqrt(),
            "{isa}: var {var}"
        );
        assert!(m3.abs() < 5.0 * (6.0 / n).sqrt(), "{isa}: skewness {m3}");
        assert!(
            (m4 - 3.0).abs() < 5.0 * (24.0 / n).sqrt(),
            "{isa}: kurtosis {m4}"
        );
        let se1 = (0.6827 * 0.3173 / n).sqrt();
        assert!(
            (within1 - 0.682_689_5).abs() < 5.0 * se1,
            "{isa}: P(|e|<1) = {within1}"
        );
        let se2 = (0.9545 * 0.0455 / n).sqrt();
        assert!(
            (within2 - 0.954_499_7).abs() < 5.0 * se2,
            "{isa}: P(|e|<2) = {within2}"
        );
        // Cos and sin halves (elements j and j+16 of each block of 32) are
        // uncorrelated.
        let mut s = 0.0f64;
        let mut k = 0usize;
        for r in 0..rows {
            for j in (0..cols - 32).step_by(32) {
                for l in 0..16 {
                    s += e[r * cols + j + l] as f64 * e[r * cols + j + l + 16] as f64;
                    k += 1;
                }
            }
        }
        assert!(
            (s / k as f64).abs() < 5.0 / (k as f64).sqrt(),
            "{isa}: cos/sin correlation"
        );
    }
}

#[test]
fn gaussian_with_mean_and_scales_and_reparam() {
    let (rows, cols) = (4000, 37);
    let mut rng = TestRng::new(12);
    let mean_c = rng.vec(cols);
    let sd_c: Vec<f32> = (0..cols).map(|_| rng.uniform(0.1, 3.0)).collect();
    let mean: Vec<f32> = (0..rows * cols).map(|i| mean_c[i % cols]).collect();
    let logvar: Vec<f32> = (0..rows * cols)
        .map(|i| 2.0 * sd_c[i % cols].ln())
        .collect();
    let sd_e: Vec<f32> = (0..rows * cols).map(|i| sd_c[i % cols]).collect();
    for isa in present_isas() {
        let st = Streams::new(4);
        let mut a = vec![0.0f32; rows * cols];
        let mut b = vec![0.0f32; rows * cols];
        gaussian_on(
            isa,
            st,
            &mean,
            Scale::PerColumn(&sd_c),
            &mut a,
            rows,
            cols,
            Par::Seq,
        )
        .unwrap();
        gaussian_on(
            isa,
            st,
            &mean,
            Scale::PerElement(&sd_e),
            &mut b,
            rows,
            cols,
            Par::Seq,
        )
        .unwrap();
        assert_eq!(
            f32_bits(&a),
            f32_bits(&b),
            "{isa}: per-column and per-element scales"
        );
        for j in 0..cols {
            let (m, var, n) = moments((0..rows).map(|i| a[i * cols + j] as f64));
            let sd = sd_c[j] as f64;
            assert!(
                (m - mean_c[j] as f64).abs() < 5.0 * sd / (n as f64).sqrt(),
                "{isa} col {j}: mean {m}"
            );
            assert!(
                (var / (sd * sd) - 1.0).abs() < 5.0 * (2.0 / n as f64).sqrt(),
                "{isa} col {j}: var {var}"
            );
        }
        // Reparameterisation: same ε as the affine sampler (same stream),
        // z = μ + e^{lv/2} ε.
        let mut z = vec![0.0f32; rows * cols];
        let mut eps = vec![0.0f32; rows * cols];
        gaussian_reparam_on(
            isa,
            st,
            &mean,
            &logvar,
            &mut z,
            &mut eps,
            rows,
            cols,
            Par::Seq,
        )
        .unwrap();
        let mut e0 = vec![0.0f32; rows * cols];
        let zeros = vec![0.0f32; rows * cols];
        gaussian_on(
            isa,
            st,
            &zeros,
            Scale::Scalar(1.0),
            &mut e0,
            rows,
            cols,
            Par::Seq,
        )
        .unwrap();
        assert_eq!(
            f32_bits(&eps),
            f32_bits(&e0),
            "{isa}: eps is the stream's normals"
        );
        for i in 0..rows * cols {
            let want = mean[i] as f64 + (0.5 * logvar[i] as f64).exp() * eps[i] as f64;
            assert!(
                (z[i] as f64 - want).abs() < 1e-5 * (1.0 + want.abs()),
                "{isa}: z[{i}]"
            );
            assert!(
                (a[i] - z[i]).abs() <= 1e-5 * (1.0 + z[i].abs()),
                "{isa}: affine vs reparam"
            );
        }
        // Additive noise is the affine sampler with mean x.
        let mut g = vec![0.0f32; rows * cols];
        gaussian_noise_on(isa, st, &mean, &mut g, 0.5, rows, cols, Par::Seq).unwrap();
        for i in 0..rows * cols {
            assert!((g[i] - (mean[i] + 0.5 * e0[i])).abs() <= 1e-6 * (1.0 + g[i].abs()));
        }
    }
}

#[test]
fn masking_and_salt_and_pepper_noise_rates() {
    let (rows, cols) = (2000, 300);
    let n = (rows * cols) as f64;
    let x: Vec<f32> = (0..rows * cols)
        .map(|i| 0.25 + (i % 7) as f32 * 0.05)
        .collect();
    for isa in present_isas() {
        for nu in [0.0f32, 0.1, 0.5, 1.0] {
            let mut o = vec![f32::NAN; rows * cols];
            mask_noise_on(isa, Streams::new(6), &x, &mut o, nu, rows, cols, Par::All).unwrap();
            assert!(o.iter().zip(&x).all(|(&o, &x)| o == 0.0 || o == x));
            let zeroed = o.iter().filter(|&&v| v == 0.0).count() as f64 / n;
            let se = (nu as f64 * (1.0 - nu as f64) / n).sqrt();
            assert!(
                (zeroed - nu as f64).abs() <= 5.0 * se,
                "{isa}: nu {nu} zeroed {zeroed}"
            );
            let mut o = vec![f32::NAN; rows * cols];
            salt_pepper_on(
                isa,
                Streams::new(6),
                &x,
                &mut o,
                nu,
                -1.0,
                2.0,
                rows,
                cols,
                Par::All,
            )
            .unwrap();
            let lo = o.iter().filter(|&&v| v == -1.0).count() as f64 / n;
            let hi = o.iter().filter(|&&v| v == 2.0).count() as f64 / n;
            assert!(
                o.iter()
                    .zip(&x)
                    .all(|(&o, &x)| o == -1.0 || o == 2.0 || o == x)
            );
            let h = nu as f64 / 2.0;
            let se = (h * (1.0 - h) / n).sqrt();
            assert!(
                (lo - h).abs() <= 5.0 * se && (hi - h).abs() <= 5.0 * se,
                "{isa}: nu {nu}: {lo} {hi}"
            );
        }
    }
}

#[test]
fn samplers_reject_bad_arguments() {
    let st = Streams::new(0);
    let x = [0.5f32; 12];
    let mut o = [0.0f32; 12];
    assert!(matches!(
        uniform_on(Isa::Portable, st, &mut o, 5, 2, Par::Seq),
        Err(KernelError::LengthMismatch {
            expected: 10,
            found: 12,
            ..
        })
    ));
    assert!(bernoulli_on(Isa::Portable, st, &x[..10], &mut o, 3, 4, Par::Seq).is_err());
    assert!(matches!(
        mask_noise_on(Isa::Portable, st, &x, &mut o, 1.5, 3, 4, Par::Seq),
        Err(KernelError::InvalidValue { .. })
    ));
    assert!(mask_noise_on(Isa::Portable, st, &x, &mut o, f32::NAN, 3, 4, Par::Seq).is_err());
    assert!(
        salt_pepper_on(
            Isa::Portable,
            st,
            &x,
            &mut o,
            -0.1,
            0.0,
            1.0,
            3,
            4,
            Par::Seq
        )
        .is_err()
    );
    assert!(
        gaussian_on(
            Isa::Portable,
            st,
            &x,
            Scale::PerColumn(&x[..3]),
            &mut o,
            3,
            4,
            Par::Seq
        )
        .is_err()
    );
    let mut a = [0.0f32; 12];
    assert!(
        sigmoid_bernoulli_on(
            Isa::Portable,
            st,
            &mut a,
            Some(&x[..3]),
            &mut o,
            3,
            4,
            Par::Seq
        )
        .is_err()
    );
    for isa in Isa::ALL {
        if !isa.is_available() {
            assert_eq!(
                uniform_on(isa, st, &mut o, 3, 4, Par::Seq),
                Err(KernelError::IsaUnavailable(isa))
            );
        }
    }
    // Empty shapes are fine.
    uniform_on(Isa::Portable, st, &mut [], 0, 7, Par::All).unwrap();
    uniform_on(Isa::Portable, st, &mut [], 7, 0, Par::All).unwrap();
}
