//! FISTA (f32, batched, through the GEMM and the fused kernel) against
//! coordinate descent in f64 run to convergence, and against ISTA.

use latent_engine::Matrix;
use latent_kernels::gemm::MatRef;
use latent_kernels::{Par, Precision};
use latent_models::psd::fista::{FistaSettings, FistaWork, objective_parts, prepare, solve};
use latent_testkit::TestRng;

/// A small problem: `b` rows of `v` inputs, `k` unit-norm atoms, and a
/// prediction.
pub(crate) struct Problem {
    pub x: Matrix,
    pub d: Matrix,
    pub p: Matrix,
}

pub(crate) fn problem(b: usize, v: usize, k: usize, seed: u64) -> Problem {
    let mut rng = TestRng::new(seed);
    let mut d = Matrix::from_fn(k, v, |_, _| rng.uniform(-1.0, 1.0)).unwrap();
    for row in d.as_mut_slice().chunks_exact_mut(v) {
        let n = row.iter().map(|a| a * a).sum::<f32>().sqrt();
        row.iter_mut().for_each(|a| *a /= n);
    }
    let x = Matrix::from_fn(b, v, |_, _| rng.uniform(-1.0, 1.0)).unwrap();
    let p = Matrix::from_fn(b, k, |_, _| 0.3 * rng.uniform(-1.0, 1.0)).unwrap();
    Problem { x, d, p }
}

/// The energy of row `i` at `z` in f64.
fn energy64(pr: &Problem, i: usize, z: &[f64], lambda: f64, alpha: f64) -> f64 {
    let (v, k) = (pr.d.cols(), pr.d.rows());
    let mut recon = 0.0;
    for j in 0..v {
        let r: f64 = (0..k)
            .map(|l| z[l] * pr.d.as_slice()[l * v + j] as f64)
            .sum();
        recon += (pr.x.row(i)[j] as f64 - r).powi(2);
    }
    let l1: f64 = z.iter().map(|a| a.abs()).sum();
    let pred: f64 = (0..k).map(|l| (z[l] - pr.p.row(i)[l] as f64).powi(2)).sum();
    0.5 * recon + lambda * l1 + alpha * pred
}

/// Coordinate descent on row `i` in f64 until no coordinate moves by more
/// than 1e-14.
fn reference(pr: &Problem, i: usize, lambda: f64, alpha: f64) -> Vec<f64> {
    let (v, k) = (pr.d.cols(), pr.d.rows());
    let d = |l: usize, j: usize| pr.d.as_slice()[l * v + j] as f64;
    let gram: Vec<f64> = (0..k * k)
        .map(|e| (0..v).map(|j| d(e / k, j) * d(e % k, j)).sum())
        .collect();
    let c: Vec<f64> = (0..k)
        .map(|l| {
            (0..v).map(|j| pr.x.row(i)[j] as f64 * d(l, j)).sum::<f64>()
                + 2.0 * alpha * pr.p.row(i)[l] as f64
        })
        .collect();
    let mut z = vec![0.0f64; k];
    for _ in 0..100_000 {
        let mut moved = 0.0f64;
        for l in 0..k {
            let r = c[l]
                - (0..k)
                    .filter(|&m| m != l)
                    .map(|m| gram[l * k + m] * z[m])
                    .sum::<f64>();
            let new = r.signum() * (r.abs() - lambda).max(0.0) / (gram[l * k + l] + 2.0 * alpha);
            moved = moved.max((new - z[l]).abs());
            z[l] = new;
        }
        if moved < 1e-14 {
            break;
        }
    }
    z
}

fn run_fista(pr: &Problem, s: &FistaSettings) -> (Vec<f32>, usize) {
    let (b, k) = (pr.x.rows(), pr.d.rows());
    let mut work = FistaWork::default();
    let l = prepare(&pr.d, s.alpha, Precision::F32, &mut work, Par::Seq).unwrap();
    let mut z = vec![0.0f32; b * k];
    let p = (s.alpha > 0.0).then_some(pr.p.as_slice());
    let out = solve(
        pr.x.view(),
        &pr.d,
        p,
        s,
        l,
        Precision::F32,
        &mut z,
        &mut work,
        Par::Seq,
    )
    .unwrap();
    (z, out.iters)
}

#[test]
fn fista_reaches_the_reference_minimum_and_support() {
    for (case, &(v, k, lambda, alpha)) in [
        (12, 8, 0.3f32, 0.0f32),
        (12, 20, 0.2, 0.0),
        (10, 16, 0.3, 0.5),
        (30, 24, 0.1, 1.0),
    ]
    .iter()
    .enumerate()
    {
        let pr = problem(6, v, k, 10 + case as u64);
        let s = FistaSettings {
            lambda,
            alpha,
            max_iters: 20_000,
            tol: 0.0,
        };
        let (z, iters) = run_fista(&pr, &s);
        let mut zeros = 0;
        // With tol 0 it stops only at a fixed point (no code moved).
        assert!(iters <= 20_000);
        for i in 0..6 {
            let want = reference(&pr, i, lambda as f64, alpha as f64);
            let got: Vec<f64> = z[i * k..(i + 1) * k].iter().map(|&a| a as f64).collect();
            let (eg, ew) = (
                energy64(&pr, i, &got, lambda as f64, alpha as f64),
                energy64(&pr, i, &want, lambda as f64, alpha as f64),
            );
            assert!(
                (eg - ew).abs() <= 1e-6 * ew.abs(),
                "case {case} row {i}: FISTA {eg} vs reference {ew}"
            );
            let support = |z: &[f64]| z.iter().map(|a| a.abs() > 1e-5).collect::<Vec<_>>();
            assert_eq!(
                support(&got),
                support(&want),
                "case {case} row {i}: support"
            );
            zeros += want.iter().filter(|&&a| a == 0.0).count();
        }
        assert!(
            zeros >= 6,
            "case {case}: the optima are sparse ({zeros} zeros)"
        );
    }
}

#[test]
fn the_tolerance_stops_early_near_the_minimum() {
    let pr = problem(8, 20, 16, 3);
    let loose = FistaSettings {
        lambda: 0.1,
        alpha: 0.0,
        max_iters: 5000,
        tol: 1e-5,
    };
    let (z, iters) = run_fista(&pr, &loose);
    assert!(iters < 5000, "stopped after {iters}");
    for i in 0..8 {
        let want = reference(&pr, i, 0.1, 0.0);
        let got: Vec<f64> = z[i * 16..(i + 1) * 16].iter().map(|&a| a as f64).collect();
        let (eg, ew) = (
            energy64(&pr, i, &got, 0.1, 0.0),
            energy64(&pr, i, &want, 0.1, 0.0),
        );
        assert!((eg - ew) / ew < 1e-3, "row {i}: {eg} vs {ew}");
    }
}

/// ISTA in f64 with the same step, from 0.
fn ista(pr: &Problem, i: usize, lambda: f64, l: f64, iters: usize) -> Vec<f64> {
    let (v, k) = (pr.d.cols(), pr.d.rows());
    let d = |a: usize, j: usize| pr.d.as_slice()[a * v + j] as f64;
    let mut z = vec![0.0f64; k];
    for _ in 0..iters {
        let r: Vec<f64> = (0..v)
            .map(|j| (0..k).map(|a| z[a] * d(a, j)).sum::<f64>() - pr.x.row(i)[j] as f64)
            .collect();
        for (a, za) in z.iter_mut().enumerate() {
            let g: f64 = (0..v).map(|j| r[j] * d(a, j)).sum();
            let u = *za - g / l;
            *za = u.signum() * (u.abs() - lambda / l).max(0.0);
        }
    }
    z
}

#[test]
fn fista_is_never_far_above_ista_and_goes_down() {
    let pr = problem(4, 40, 60, 8);
    let lambda = 0.05f32;
    let mut work = FistaWork::default();
    let l = prepare(&pr.d, 0.0, Precision::F32, &mut work, Par::Seq).unwrap();
    let mut last = [f64::INFINITY; 4];
    for iters in [1usize, 2, 5, 10, 20, 50, 100, 200] {
        let s = FistaSettings {
            lambda,
            alpha: 0.0,
            max_iters: iters,
            tol: 0.0,
        };
        let (z, _) = run_fista(&pr, &s);
        for i in 0..4 {
            let got: Vec<f64> = z[i * 60..(i + 1) * 60].iter().map(|&a| a as f64).collect();
            let ef = energy64(&pr, i, &got, lambda as f64, 0.0);
            let zi = ista(&pr, i, lambda as f64, l as f64, iters);
            let ei = energy64(&pr, i, &zi, lambda as f64, 0.0);
            assert!(
                ef <= ei * (1.0 + 1e-4),
                "{iters} iterations, row {i}: FISTA {ef} ISTA {ei}"
            );
            assert!(
                ef <= last[i] * (1.0 + 1e-6),
                "{iters} iterations, row {i}: {ef} after {}",
                last[i]
            );
            last[i] = ef;
        }
    }
}

#[test]
fn the_objective_parts_are_the_energy() {
    let pr = problem(3, 9, 5, 2);
    let z = Matrix::from_fn(3, 5, |i, j| {
        if (i + j) % 2 == 0 {
            0.5 - j as f32 * 0.2
        } else {
            0.0
        }
    })
    .unwrap();
    let mut resid = vec![0.0f32; 27];
    let mut parts = vec![0.0f64; 9];
    objective_parts(
        MatRef::row_major(pr.x.as_slice(), 3, 9).unwrap(),
        &pr.d,
        z.as_slice(),
        Some(pr.p.as_slice()),
        Precision::F32,
        &mut resid,
        &mut parts,
        Par::Seq,
    )
    .unwrap();
    for i in 0..3 {
        let zi: Vec<f64> = z.row(i).iter().map(|&a| a as f64).collect();
        let want = energy64(&pr, i, &zi, 0.3, 0.7);
        let got = parts[3 * i] + 0.3 * parts[3 * i + 1] + 0.7 * parts[3 * i + 2];
        assert!((got - want).abs() < 1e-5 * want, "row {i}: {got} vs {want}");
    }
}
