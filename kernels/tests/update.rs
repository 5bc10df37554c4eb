//! The optimiser-update kernels: SGD with momentum and Adam on every
//! instruction set against the plain scalar rules (bit for bit: the kernel does the same
//! multiplies and adds, no fused multiply-add), its non-finite report, and
//! the update fused into a weight-gradient product against the product
//! followed by the separate update (bit for bit, for every edge tile,
//! strided output, threads, and a rank-one term).

use latent_kernels::gemm::{Accum, MatMut, MatRef, gemm};
use latent_kernels::update::{
    AdamRule, RankOne, RankOneAdd, SgdMomentum, SgdUpdate, adam_on, gemm_sgd_update, sgd_momentum,
    sgd_momentum_on,
};
use latent_kernels::{KernelError, Par, sgemm};
use latent_testkit::{TestRng, f32_bits, present_isas};

const RULE: SgdMomentum = SgdMomentum {
    momentum: 0.9,
    lr: 0.05,
    decay: 2e-4,
};

/// The rule as the optimiser wrote it before it was a kernel.
fn scalar(rule: SgdMomentum, w0: &[f32], g: &[f32], v: &mut [f32], w: &mut [f32]) {
    let (mu, lr, lam) = (rule.momentum, rule.lr, rule.decay);
    for i in 0..w.len() {
        v[i] = mu * v[i] - lr * (g[i] + lam * w0[i]);
        w[i] = w0[i] + v[i];
    }
}

#[test]
fn sgd_momentum_matches_the_scalar_rule_bit_for_bit_on_every_isa() {
    let mut rng = TestRng::new(41);
    for isa in present_isas() {
        for n in (0..=40).chain([255, 1000]) {
            let w0 = rng.vec(n);
            let g = rng.vec(n);
            let v0 = rng.vec(n);
            let (mut v_want, mut w_want) = (v0.clone(), vec![0.0; n]);
            scalar(RULE, &w0, &g, &mut v_want, &mut w_want);
            // Out of place.
            let (mut v, mut w) = (v0.clone(), vec![f32::NAN; n]);
            let bad = sgd_momentum_on(isa, RULE, Some(&w0), &g, &mut v, &mut w).unwrap();
            assert!(!bad, "{isa} n={n}: finite update reported non-finite");
            assert_eq!(f32_bits(&w), f32_bits(&w_want), "{isa} n={n}: parameters");
            assert_eq!(f32_bits(&v), f32_bits(&v_want), "{isa} n={n}: velocity");
            // In place.
            let (mut v, mut w) = (v0.clone(), w0.clone());
            sgd_momentum_on(isa, RULE, None, &g, &mut v, &mut w).unwrap();
            assert_eq!(f32_bits(&w), f32_bits(&w_want), "{isa} n={n}: in place");
            assert_eq!(
                f32_bits(&v),
                f32_bits(&v_want),
                "{isa} n={n}: in-place velocity"
            );
        }
    }
}

#[test]
fn sgd_momentum_reports_non_finite_results_anywhere() {
    let mut rng = TestRng::new(42);
    for isa in present_isas() {
        for n in [1, 15, 16, 17, 40] {
            for at in [0, n / 2, n - 1] {
                for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX] {
                    let w0 = rng.vec(n);
                    let mut g = rng.vec(n);
                    // f32::MAX in the gradient overflows lr·g + … only with a
                    // large rate; use it as a velocity that overflows instead.
                    let mut v = rng.vec(n);
                    if bad == f32::MAX {
                        v[at] = f32::MAX;
                    } else {
                        g[at] = bad;
                    }
                    let mut w = vec![0.0; n];
                    let rule = SgdMomentum {
                        momentum: 4.0,
                        ..RULE
                    };
                    let got = sgd_momentum_on(isa, rule, Some(&w0), &g, &mut v, &mut w).unwrap();
                    assert!(
                        got,
                        "{isa} n={n}: {bad} at {at} not reported (w[{at}] = {})",
                        w[at]
                    );
                }
            }
        }
    }
}

#[test]
fn sgd_momentum_refuses_mismatched_lengths() {
    let (w0, g) = (vec![0.0; 8], vec![0.0; 8]);
    let (mut v, mut w) = (vec![0.0; 7], vec![0.0; 8]);
    let err = sgd_momentum(RULE, Some(&w0), &g, &mut v, &mut w).unwrap_err();
    assert!(
        matches!(
            err,
            KernelError::LengthMismatch {
                expected: 8,
                found: 7,
                ..
            }
        ),
        "{err:?}"
    );
}

/// One case: the fused product+update against product (with the rank-one
/// epilogue when given) then `sgd_momentum`, element for element.
fn check_fused(
    rng: &mut TestRng,
    (m, k, n): (usize, usize, usize),
    transposed_a: bool,
    out_stride: usize,
    rank_one: bool,
    par: Par,
) {
    let a_data = rng.vec(m * k);
    let b_data = rng.vec(k * n);
    let a = if transposed_a {
        MatRef::row_major(&a_data, k, m).unwrap().t()
    } else {
        MatRef::row_major(&a_data, m, k).unwrap()
    };
    let b = MatRef::row_major(&b_data, k, n).unwrap();
    let w0 = rng.vec(m * n);
    let v0 = rng.vec(m * n);
    let rows_f = rng.vec(m);
    let cols_f = rng.vec(n);
    let term = rank_one.then_some(RankOne {
        rows: &rows_f,
        cols: &cols_f,
    });
    let alpha = -0.37;

    // Separate: G, then the update.
    let mut g = vec![0.0; m * n];
    let gv = MatMut::row_major(&mut g, m, n).unwrap();
    match term {
        Some(t) => gemm(alpha, a, b, Accum::Replace, gv, &RankOneAdd::new(t), par).unwrap(),
        None => sgemm(alpha, a, b, Accum::Replace, gv, par).unwrap(),
    }
    let (mut v_want, mut w_want) = (v0.clone(), vec![0.0; m * n]);
    assert!(!sgd_momentum(RULE, Some(&w0), &g, &mut v_want, &mut w_want).unwrap());

    // Fused, into a strided output whose padding must stay untouched.
    let stride = n + out_stride;
    let mut out = vec![-7.0f32; m * stride];
    let mut v = v0.clone();
    let update = SgdUpdate {
        rule: RULE,
        old: &w0,
        velocity: &mut v,
        rank_one: term,
    };
    let view = MatMut::new(&mut out, m, n, stride, 1).unwrap();
    let bad = gemm_sgd_update(alpha, a, b, update, view, par).unwrap();
    assert!(!bad);
    for i in 0..m {
        for j in 0..stride {
            let got = out[i * stride + j];
            if j < n {
                assert_eq!(
                    got.to_bits(),
                    w_want[i * n + j].to_bits(),
                    "{m}x{k}x{n} at={transposed_a} r1={rank_one} {par:?}: W[{i},{j}] = {got}, want {}",
                    w_want[i * n + j]
                );
            } else {
                assert_eq!(got, -7.0, "padding at ({i}, {j}) written");
            }
        }
    }
    assert_eq!(f32_bits(&v), f32_bits(&v_want), "{m}x{k}x{n}: velocity");

    // A column-major output (edge tiles go through the driver's tile
    // buffer): the same parameters, element for element.
    let mut out_cm = vec![0.0f32; m * n];
    let mut v = v0.clone();
    let update = SgdUpdate {
        rule: RULE,
        old: &w0,
        velocity: &mut v,
        rank_one: term,
    };
    let view = MatMut::col_major(&mut out_cm, m, n).unwrap();
    assert!(!gemm_sgd_update(alpha, a, b, update, view, par).unwrap());
    for i in 0..m {
        for j in 0..n {
            assert_eq!(
                out_cm[j * m + i].to_bits(),
                w_want[i * n + j].to_bits(),
                "{m}x{k}x{n} column-major output at ({i}, {j})"
            );
        }
    }
    assert_eq!(
        f32_bits(&v),
        f32_bits(&v_want),
        "{m}x{k}x{n}: velocity (column-major)"
    );
}

#[test]
fn fused_update_equals_product_then_update_bit_for_bit() {
    let mut rng = TestRng::new(43);
    for &(m, k, n) in &[
        (1, 1, 1),
        (13, 7, 33),
        (25, 40, 17),
        (100, 64, 70),
        (784 / 8, 200 / 8, 500 / 8),
    ] {
        for transposed_a in [false, true] {
            for rank_one in [false, true] {
                for (pad, par) in [(0, Par::Seq), (5, Par::Seq), (3, Par::Rayon(3))] {
                    check_fused(&mut rng, (m, k, n), transposed_a, pad, rank_one, par);
                }
            }
        }
    }
}

#[test]
fn fused_update_reports_non_finite_and_refuses_bad_shapes() {
    let (m, k, n) = (20, 9, 40);
    let a = vec![1.0f32; m * k];
    let mut b = vec![0.5f32; k * n];
    b[3 * n + 37] = f32::INFINITY;
    let w0 = vec![0.0f32; m * n];
    let mut v = vec![0.0f32; m * n];
    let mut out = vec![0.0f32; m * n];
    let bad = gemm_sgd_update(
        1.0,
        MatRef::row_major(&a, m, k).unwrap(),
        MatRef::row_major(&b, k, n).unwrap(),
        SgdUpdate {
            rule: RULE,
            old: &w0,
            velocity: &mut v,
            rank_one: None,
        },
        MatMut::row_major(&mut out, m, n).unwrap(),
        Par::Seq,
    )
    .unwrap();
    assert!(bad, "an infinite gradient column was not reported");

    let mut short = vec![0.0f32; m * n - 1];
    let err = gemm_sgd_update(
        1.0,
        MatRef::row_major(&a, m, k).unwrap(),
        MatRef::row_major(&b, k, n).unwrap(),
        SgdUpdate {
            rule: RULE,
            old: &w0,
            velocity: &mut short,
            rank_one: None,
        },
        MatMut::row_major(&mut out, m, n).unwrap(),
        Par::Seq,
    )
    .unwrap_err();
    assert!(matches!(err, KernelError::LengthMismatch { .. }), "{err:?}");
    let rows_f = vec![1.0f32; m + 1];
    let cols_f = vec![1.0f32; n];
    let err = gemm_sgd_update(
        1.0,
        MatRef::row_major(&a, m, k).unwrap(),
        MatRef::row_major(&b, k, n).unwrap(),
        SgdUpdate {
            rule: RULE,
            old: &w0,
            velocity: &mut v,
            rank_one: Some(RankOne {
                rows: &rows_f,
                cols: &cols_f,
            }),
        },
        MatMut::row_major(&mut out, m, n).unwrap(),
        Par::Seq,
    )
    .unwrap_err();
    assert!(matches!(err, KernelError::LengthMismatch { .. }), "{err:?}");
}

#[test]
fn adam_matches_the_scalar_rule_bit_for_bit_on_every_isa() {
    let rule = AdamRule {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        lr: 1e-3,
        decay: 1e-4,
        c1: 1.0 - 0.9f32.powi(3),
        c2: 1.0 - 0.999f32.powi(3),
    };
    // The rule as the optimiser wrote it before it was a kernel.
    let scalar = |w0: &[f32], g: &[f32], m: &mut [f32], s: &mut [f32], w: &mut [f32]| {
        for i in 0..w.len() {
            let g = g[i] + rule.decay * w0[i];
            m[i] = rule.beta1 * m[i] + (1.0 - rule.beta1) * g;
            s[i] = rule.beta2 * s[i] + (1.0 - rule.beta2) * g * g;
            w[i] = w0[i] - rule.lr * (m[i] / rule.c1) / ((s[i] / rule.c2).sqrt() + rule.eps);
        }
    };
    let mut rng = TestRng::new(44);
    for isa in present_isas() {
        for n in (0..=40).chain([1000]) {
            let w0 = rng.vec(n);
            let g = rng.vec(n);
            let m0 = rng.vec(n);
            let s0: Vec<f32> = rng.vec(n).iter().map(|x| x * x).collect();
            let (mut m_want, mut s_want, mut w_want) = (m0.clone(), s0.clone(), vec![0.0; n]);
            scalar(&w0, &g, &mut m_want, &mut s_want, &mut w_want);
            let (mut m, mut s, mut w) = (m0.clone(), s0.clone(), vec![f32::NAN; n]);
            let bad = adam_on(isa, rule, Some(&w0), &g, &mut m, &mut s, &mut w).unwrap();
            assert!(!bad, "{isa} n={n}: finite update reported non-finite");
            assert_eq!(f32_bits(&w), f32_bits(&w_want), "{isa} n={n}: parameters");
            assert_eq!(f32_bits(&m), f32_bits(&m_want), "{isa} n={n}: first moment");
            assert_eq!(
                f32_bits(&s),
                f32_bits(&s_want),
                "{isa} n={n}: second moment"
            );
            // In place, and a non-finite gradient reported.
            let (mut m, mut s, mut w) = (m0.clone(), s0.clone(), w0.clone());
            adam_on(isa, rule, None, &g, &mut m, &mut s, &mut w).unwrap();
            assert_eq!(f32_bits(&w), f32_bits(&w_want), "{isa} n={n}: in place");
            if n > 0 {
                let mut g_bad = g.clone();
                g_bad[n / 2] = f32::NAN;
                let (mut m, mut s, mut w) = (m0.clone(), s0.clone(), w0.clone());
                assert!(adam_on(isa, rule, None, &g_bad, &mut m, &mut s, &mut w).unwrap());
            }
        }
    }
}
