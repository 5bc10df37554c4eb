//! Shrinkage and the fused FISTA step on every instruction set this CPU
//! has (a SKIP line names an absent one), against a scalar reference
//! written from the formula `sign(u)·max(|u| − t, 0)`: equal values (the
//! kernels round once, as the reference does), at lengths around the
//! 16-lane vector and the 1,024-element block.

use latent_kernels::shrink::{FistaStep, Threshold, fista_step_on, shrink_in_place_on, shrink_on};
use latent_kernels::{Isa, KernelError};
use latent_testkit::{TestRng, present_isas};

const LENGTHS: [usize; 10] = [0, 1, 7, 15, 16, 17, 33, 1023, 1024, 2049];

fn reference(u: f32, t: f32) -> f32 {
    u.signum() * (u.abs() - t).max(0.0)
}

/// Values spread over [-3, 3], with exact thresholds and zeros mixed in.
fn inputs(n: usize, seed: u64, t: f32) -> Vec<f32> {
    let mut rng = TestRng::new(seed);
    let mut u: Vec<f32> = rng.vec(n).iter().map(|v| 3.0 * v).collect();
    for (i, v) in u.iter_mut().enumerate() {
        match i % 11 {
            3 => *v = t,
            5 => *v = -t,
            7 => *v = 0.0,
            _ => {}
        }
    }
    u
}

fn assert_same(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        // == treats +0 and -0 as equal: both are a zero code.
        assert!(g == w, "{what}[{i}]: {g} vs reference {w}");
    }
}

#[test]
fn scalar_shrink_equals_the_formula() {
    for isa in present_isas() {
        for n in LENGTHS {
            for t in [0.0f32, 0.25, 1.7] {
                let u = inputs(n, n as u64 + 1, t);
                let want: Vec<f32> = u.iter().map(|&v| reference(v, t)).collect();
                let mut out = vec![f32::NAN; n];
                shrink_on(isa, Threshold::Scalar(t), &u, &mut out).unwrap();
                assert_same(&format!("{isa} n={n} t={t}"), &out, &want);
                let mut z = u.clone();
                shrink_in_place_on(isa, Threshold::Scalar(t), &mut z).unwrap();
                assert_same(&format!("{isa} in place n={n} t={t}"), &z, &want);
            }
        }
    }
}

#[test]
fn per_unit_shrink_uses_each_columns_threshold() {
    for isa in present_isas() {
        for cols in [1usize, 5, 16, 17, 40] {
            for rows in [0usize, 1, 3] {
                let t: Vec<f32> = (0..cols).map(|j| 0.1 * j as f32).collect();
                let u = inputs(rows * cols, (rows * 100 + cols) as u64, 0.3);
                let want: Vec<f32> = u
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| reference(v, t[i % cols]))
                    .collect();
                let mut out = vec![f32::NAN; u.len()];
                shrink_on(isa, Threshold::PerUnit(&t), &u, &mut out).unwrap();
                assert_same(&format!("{isa} {rows}x{cols}"), &out, &want);
            }
        }
    }
}

#[test]
fn fista_step_is_the_proximal_step_then_the_momentum() {
    for isa in present_isas() {
        for n in LENGTHS {
            let p = FistaStep {
                step: 0.37,
                threshold: 0.21,
                beta: 0.6,
            };
            let y0 = inputs(n, 3 * n as u64 + 2, 0.5);
            let g = inputs(n, 5 * n as u64 + 7, 0.5);
            let z0 = inputs(n, 7 * n as u64 + 9, 0.5);
            let (mut y, mut z) = (y0.clone(), z0.clone());
            let change = fista_step_on(isa, p, &g, &mut y, &mut z).unwrap();
            let z1: Vec<f32> = (0..n)
                .map(|i| reference(y0[i] - p.step * g[i], p.threshold))
                .collect();
            let y1: Vec<f32> = (0..n).map(|i| z1[i] + p.beta * (z1[i] - z0[i])).collect();
            assert_same(&format!("{isa} z n={n}"), &z, &z1);
            assert_same(&format!("{isa} y n={n}"), &y, &y1);
            let d: f64 = (0..n).map(|i| f64::from(z1[i] - z0[i]).powi(2)).sum();
            let m: f64 = z1.iter().map(|&v| f64::from(v).powi(2)).sum();
            assert!(
                (change.change_sq - d).abs() <= 1e-5 * d.max(1.0),
                "{isa} {n}"
            );
            assert!((change.norm_sq - m).abs() <= 1e-5 * m.max(1.0), "{isa} {n}");
        }
    }
}

#[test]
fn every_instruction_set_gives_the_same_bits() {
    let isas = present_isas();
    let n = 3001;
    let u = inputs(n, 42, 0.4);
    let g = inputs(n, 43, 0.4);
    let p = FistaStep {
        step: 0.11,
        threshold: 0.05,
        beta: 0.9,
    };
    let run = |isa: Isa| {
        let (mut y, mut z) = (u.clone(), g.clone());
        let c = fista_step_on(isa, p, &g, &mut y, &mut z).unwrap();
        let bits: Vec<u32> = y.iter().chain(&z).map(|v| v.to_bits()).collect();
        (bits, c.change_sq.to_bits(), c.norm_sq.to_bits())
    };
    let first = run(isas[0]);
    for &isa in &isas[1..] {
        assert!(run(isa) == first, "{isa} differs from {}", isas[0]);
    }
}

#[test]
fn bad_lengths_and_thresholds_are_errors() {
    let u = [1.0f32; 10];
    let mut out = [0.0f32; 9];
    let e = shrink_on(Isa::Portable, Threshold::Scalar(0.1), &u, &mut out).unwrap_err();
    assert!(matches!(e, KernelError::LengthMismatch { .. }), "{e}");
    let mut out = [0.0f32; 10];
    for t in [-0.5f32, f32::NAN] {
        let e = shrink_on(Isa::Portable, Threshold::Scalar(t), &u, &mut out).unwrap_err();
        assert!(matches!(e, KernelError::InvalidValue { .. }), "{e}");
    }
    let e = shrink_on(Isa::Portable, Threshold::PerUnit(&[0.1; 3]), &u, &mut out).unwrap_err();
    assert!(matches!(e, KernelError::LengthMismatch { .. }), "{e}");
    let e = shrink_on(
        Isa::Portable,
        Threshold::PerUnit(&[0.1, -1.0]),
        &u,
        &mut out,
    )
    .unwrap_err();
    assert!(matches!(e, KernelError::InvalidValue { .. }), "{e}");
    let p = FistaStep {
        step: 1.0,
        threshold: 0.1,
        beta: 0.0,
    };
    let (mut y, mut z) = ([0.0f32; 10], [0.0f32; 10]);
    assert!(fista_step_on(Isa::Portable, p, &[0.0; 9], &mut y, &mut z).is_err());
    let (mut y9, mut z) = ([0.0f32; 9], [0.0f32; 10]);
    assert!(fista_step_on(Isa::Portable, p, &[0.0; 10], &mut y9, &mut z).is_err());
    let neg = FistaStep {
        threshold: -0.1,
        ..p
    };
    assert!(fista_step_on(Isa::Portable, neg, &[0.0; 10], &mut y, &mut z).is_err());
    for isa in Isa::ALL {
        if !isa.is_available() {
            assert_eq!(
                shrink_on(isa, Threshold::Scalar(0.1), &u, &mut out),
                Err(KernelError::IsaUnavailable(isa))
            );
        }
    }
}
