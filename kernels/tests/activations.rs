//! Activations on every instruction set this CPU has: ulp error of exp,
//! sigmoid, tanh, softplus and log-sigmoid over a dense grid of the whole
//! `f32` range and the extremes; the fused GEMM epilogue and the in-place
//! pass against an f64 reference (and each other, bit for bit); activation
//! derivatives against the f64 formula and central differences.

use latent_kernels::activation::{
    Activation, BiasActivation, activate_on, activation_grad_on, bias_activation_on, exp_on,
    log_sigmoid_on, sigmoid_on, softplus_on, tanh_on,
};
use latent_kernels::gemm::{Accum, MatMut, MatRef, gemm_on};
use latent_kernels::{Isa, KernelError, Par};
use latent_testkit::strategies::activation_index;
use latent_testkit::{TestRng, act64, present_isas, rel_err, sigmoid64, softplus64, ulp_diff};
use proptest::prelude::*;

type Kernel = fn(Isa, &[f32], &mut [f32]) -> Result<(), KernelError>;

/// Inputs: every 1021st bit pattern (about 4.2 million values spread over
/// the whole f32 line, both signs, subnormals included), a fine linear grid
/// on [-30, 30], and the extremes.
fn scan_inputs() -> Vec<f32> {
    let mut xs: Vec<f32> = (0..=u32::MAX / 1021)
        .map(|i| f32::from_bits(i * 1021))
        .filter(|x| !x.is_nan())
        .collect();
    xs.extend((-300_000..=300_000).map(|i| i as f32 * 1e-4));
    let extremes = [
        0.0,
        -0.0,
        f32::from_bits(1),
        -f32::from_bits(1),
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        1e-30,
        -1e-30,
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        88.0,
        88.5,
        88.72283,
        88.72284,
        89.0,
        -87.33654,
        -87.33655,
        -103.0,
        -103.27893,
        -103.97208,
        -104.0,
        17.0,
        16.6355,
        -16.6355,
    ];
    xs.extend(extremes);
    // ±88 .. ±104 densely, where exp overflows and goes subnormal.
    xs.extend((0..=16_000).flat_map(|i| {
        let x = 88.0 + i as f32 * 1e-3;
        [x, -x]
    }));
    xs
}

/// Scans `kernel` against `reference` on every ISA; returns, per ISA, the
/// largest ulp error and where it happens, and checks no NaN appears for a
/// non-NaN input.
fn scan(name: &str, kernel: Kernel, reference: fn(f64) -> f64, max_ulp: u64) {
    let xs = scan_inputs();
    let want: Vec<f32> = xs.iter().map(|&x| reference(x as f64) as f32).collect();
    let mut got = vec![0.0f32; xs.len()];
    for isa in present_isas() {
        kernel(isa, &xs, &mut got).unwrap();
        let (mut worst, mut at) = (0u64, 0.0f32);
        for ((&x, &g), &w) in xs.iter().zip(&got).zip(&want) {
            assert!(!g.is_nan(), "{name} on {isa}: NaN at x = {x:e}");
            let d = ulp_diff(g, w);
            if d > worst {
                worst = d;
                at = x;
            }
        }
        eprintln!(
            "{name} on {isa}: max error {worst} ulp (at x = {at:e}) over {} inputs",
            xs.len()
        );
        assert!(
            worst <= max_ulp,
            "{name} on {isa}: {worst} ulp at x = {at:e} (got {}, want {})",
            got[xs
                .iter()
                .position(|&x| x.to_bits() == at.to_bits())
                .unwrap()],
            reference(at as f64) as f32
        );
    }
}

#[test]
fn exp_is_within_2_ulp_everywhere() {
    scan("exp", exp_on, f64::exp, 2);
}

#[test]
fn sigmoid_is_within_4_ulp_everywhere() {
    // The bound; the measured maximum is printed. Results that
    // would be subnormal are 0 (the reference flushes them too).
    scan("sigmoid", sigmoid_on, sigmoid64_flushed, 4);
}

/// `σ(x)` in f64, 0 where its f32 rounding is subnormal.
fn sigmoid64_flushed(x: f64) -> f64 {
    let r = sigmoid64(x);
    if (r as f32) < f32::MIN_POSITIVE {
        0.0
    } else {
        r
    }
}

#[test]
fn sigmoid_is_never_subnormal() {
    // Every x from -88 to -86 in f32 steps of 2^-17, around the flush.
    let xs: Vec<f32> = (0..=(2 << 17))
        .map(|i| -88.0 + i as f32 / (1 << 17) as f32)
        .collect();
    let mut y = vec![0.0f32; xs.len()];
    for isa in present_isas() {
        sigmoid_on(isa, &xs, &mut y).unwrap();
        for (&x, &v) in xs.iter().zip(&y) {
            assert!(
                v == 0.0 || v >= f32::MIN_POSITIVE,
                "{isa}: sigmoid({x:e}) = {v:e}"
            );
        }
        assert!(
            y[0] == 0.0 && y[y.len() - 1] > 0.0,
            "{isa}: the flush moved"
        );
    }
}

#[test]
fn tanh_is_within_2_ulp_everywhere() {
    scan("tanh", tanh_on, f64::tanh, 2);
}

#[test]
fn softplus_is_within_4_ulp_everywhere() {
    scan("softplus", softplus_on, softplus64, 4);
}

#[test]
fn log_sigmoid_is_within_4_ulp_everywhere() {
    scan("log_sigmoid", log_sigmoid_on, |x| -softplus64(-x), 4);
}

#[test]
fn saturation_and_special_values_are_exact() {
    let xs = [
        0.0,
        -0.0,
        30.0,
        200.0,
        f32::MAX,
        f32::INFINITY,
        -200.0,
        f32::MIN,
        f32::NEG_INFINITY,
        f32::NAN,
    ];
    for isa in present_isas() {
        let mut y = [0.0f32; 10];
        sigmoid_on(isa, &xs, &mut y).unwrap();
        assert_eq!(
            &y[..9],
            &[0.5, 0.5, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0],
            "{isa}"
        );
        assert!(y[9].is_nan(), "{isa}: sigmoid(NaN)");
        exp_on(isa, &xs, &mut y).unwrap();
        assert_eq!(y[0], 1.0);
        assert_eq!(y[3], f32::INFINITY);
        assert_eq!(y[5], f32::INFINITY);
        assert_eq!(y[6], 0.0);
        assert_eq!(y[8], 0.0);
        assert!(y[9].is_nan());
        tanh_on(isa, &xs, &mut y).unwrap();
        assert_eq!(&y[2..9], &[1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0], "{isa}");
        assert_eq!(y[1].to_bits(), (-0.0f32).to_bits(), "{isa}: tanh(-0)");
        softplus_on(isa, &xs, &mut y).unwrap();
        assert_eq!(
            &y[3..9],
            &[200.0, f32::MAX, f32::INFINITY, 0.0, 0.0, 0.0],
            "{isa}"
        );
        log_sigmoid_on(isa, &xs, &mut y).unwrap();
        assert_eq!(y[3], 0.0);
        assert_eq!(y[6], -200.0);
        assert_eq!(y[8], f32::NEG_INFINITY);
    }
}

/// Relative error allowed for `act` of an f32 pre-activation against f64:
/// the f32 rounding of `X W + c` (k = 37 terms) dominates.
fn close(got: f32, want: f64) -> bool {
    (got as f64 - want).abs() <= 1e-5 * want.abs().max(1.0)
}

#[test]
fn fused_epilogue_matches_reference_and_unfused_pass_bit_for_bit() {
    let mut rng = TestRng::new(7);
    // 37 rows: B read in place, the epilogue gets column strips of all the
    // rows; 203 rows: B packed, row strips of one A panel (both with a
    // partial last strip).
    for (m, k, n) in [(37, 29, 53), (203, 29, 45)] {
        let x = rng.vec(m * k);
        let w: Vec<f32> = rng.vec(k * n).iter().map(|v| 3.0 * v).collect();
        let c = rng.vec(n);
        for isa in present_isas() {
            for act in Activation::ALL {
                let mut fused = vec![f32::NAN; m * n];
                let ep = BiasActivation::on(isa, Some(&c), act).unwrap();
                gemm_on(
                    isa,
                    1.0,
                    MatRef::row_major(&x, m, k).unwrap(),
                    MatRef::row_major(&w, k, n).unwrap(),
                    Accum::Replace,
                    MatMut::row_major(&mut fused, m, n).unwrap(),
                    &ep,
                    Par::Seq,
                )
                .unwrap();
                let mut plain = vec![f32::NAN; m * n];
                gemm_on(
                    isa,
                    1.0,
                    MatRef::row_major(&x, m, k).unwrap(),
                    MatRef::row_major(&w, k, n).unwrap(),
                    Accum::Replace,
                    MatMut::row_major(&mut plain, m, n).unwrap(),
                    &BiasActivation::on(isa, None, Activation::Identity).unwrap(),
                    Par::Seq,
                )
                .unwrap();
                bias_activation_on(isa, act, Some(&c), &mut plain, m, n, Par::Seq).unwrap();
                for i in 0..m {
                    for j in 0..n {
                        let a: f64 = (0..k)
                            .map(|p| x[i * k + p] as f64 * w[p * n + j] as f64)
                            .sum::<f64>()
                            + c[j] as f64;
                        let want = act64(act, a);
                        let got = fused[i * n + j];
                        assert!(close(got, want), "{isa} {act:?} ({i},{j}): {got} vs {want}");
                        assert_eq!(got.to_bits(), plain[i * n + j].to_bits(), "{isa} {act:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn epilogue_and_pass_reject_wrong_shapes() {
    let c = [0.0f32; 3];
    let x = [0.0f32; 8];
    let w = [0.0f32; 8];
    let mut out = [0.0f32; 4];
    let ep = BiasActivation::new(&c, Activation::Sigmoid);
    let r = gemm_on(
        Isa::Portable,
        1.0,
        MatRef::row_major(&x, 2, 4).unwrap(),
        MatRef::row_major(&w, 4, 2).unwrap(),
        Accum::Replace,
        MatMut::row_major(&mut out, 2, 2).unwrap(),
        &ep,
        Par::Seq,
    );
    assert!(matches!(
        r,
        Err(KernelError::LengthMismatch {
            expected: 2,
            found: 3,
            ..
        })
    ));
    let mut buf = [0.0f32; 6];
    assert!(
        bias_activation_on(
            Isa::Portable,
            Activation::Relu,
            Some(&c),
            &mut buf,
            3,
            2,
            Par::Seq
        )
        .is_err()
    );
    assert!(
        bias_activation_on(
            Isa::Portable,
            Activation::Relu,
            None,
            &mut buf,
            4,
            2,
            Par::Seq
        )
        .is_err()
    );
    let mut y = [0.0f32; 2];
    assert!(sigmoid_on(Isa::Portable, &x, &mut y).is_err());
    for isa in Isa::ALL {
        if !isa.is_available() {
            assert_eq!(
                sigmoid_on(isa, &x, &mut out),
                Err(KernelError::IsaUnavailable(isa))
            );
            assert!(BiasActivation::on(isa, None, Activation::Tanh).is_err());
        }
    }
}

#[test]
fn in_place_activation_is_the_same_for_every_split() {
    let mut rng = TestRng::new(11);
    let x: Vec<f32> = rng.vec(300_007).iter().map(|v| 20.0 * v).collect();
    for isa in present_isas() {
        for act in Activation::ALL {
            let mut one = x.clone();
            activate_on(isa, act, &mut one, Par::Seq).unwrap();
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(4)
                .build()
                .unwrap();
            let mut four = x.clone();
            pool.install(|| activate_on(isa, act, &mut four, Par::Rayon(4)).unwrap());
            assert!(
                one.iter()
                    .zip(&four)
                    .all(|(a, b)| a.to_bits() == b.to_bits())
            );
            for (i, (&g, &xi)) in one.iter().zip(&x).enumerate().step_by(997) {
                let want = act64(act, xi as f64);
                assert!(
                    (g as f64 - want).abs() <= 4.0 * f32::EPSILON as f64 * want.abs().max(1e-30),
                    "{isa} {act:?} [{i}] x={xi}: {g} vs {want}"
                );
            }
        }
    }
}

/// `act'(a)` by central differences in f64.
fn numeric_derivative(act: Activation, a: f64) -> f64 {
    let h = 1e-6 * a.abs().max(1.0);
    (act64(act, a + h) - act64(act, a - h)) / (2.0 * h)
}

#[test]
fn derivatives_from_outputs_match_central_differences() {
    let mut rng = TestRng::new(5);
    for isa in present_isas() {
        for act in Activation::ALL {
            // Ranges where y stored in f32 still pins act'(a) to 1e-4: near
            // saturation 1-y (or 1-y²) loses the bits y rounded away.
            let r = match act {
                Activation::Sigmoid => 6.0,
                Activation::Tanh => 3.0,
                _ => 12.0,
            };
            let a: Vec<f32> = (0..1003)
                .map(|_| rng.uniform(-r, r))
                .filter(|a| act != Activation::Relu || a.abs() > 1e-3)
                .collect();
            let y: Vec<f32> = a.iter().map(|&a| act64(act, a as f64) as f32).collect();
            let d0: Vec<f32> = a.iter().map(|_| rng.uniform(0.5, 2.0)).collect();
            let mut d = d0.clone();
            activation_grad_on(isa, act, &y, &mut d, Par::Seq).unwrap();
            let mut worst = 0.0f64;
            for i in 0..a.len() {
                let n = d0[i] as f64 * numeric_derivative(act, a[i] as f64);
                let e = rel_err(d[i] as f64, n);
                worst = worst.max(e);
                assert!(
                    e < 1e-4,
                    "{isa} {act:?} a={} got {} want {n} (rel {e:e})",
                    a[i],
                    d[i]
                );
            }
            eprintln!("activation_grad {act:?} on {isa}: max rel error {worst:e}");
        }
    }
}

#[test]
fn softplus_derivative_is_accurate_for_tiny_outputs() {
    // y = softplus(a) ≈ e^a for very negative a: σ(a) = 1 - e^{-y} must
    // keep its relative accuracy (a naive 1 - exp(-y) loses it).
    let a: Vec<f64> = (0..200).map(|i| -15.0 - i as f64 * 0.3).collect();
    let y: Vec<f32> = a.iter().map(|&a| softplus64(a) as f32).collect();
    for isa in present_isas() {
        let mut d = vec![1.0f32; y.len()];
        activation_grad_on(isa, Activation::Softplus, &y, &mut d, Par::Seq).unwrap();
        for (i, &ai) in a.iter().enumerate() {
            // The reference uses the stored (rounded) y: σ = -expm1(-y).
            let want = -(-(y[i] as f64)).exp_m1();
            assert!(
                rel_err(d[i] as f64, want) < 1e-6,
                "{isa} a={ai}: {} vs {want}",
                d[i]
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn bias_activation_matches_reference_for_any_shape(
        rows in 0usize..9, cols in 0usize..70, seed in any::<u64>(), ai in activation_index()
    ) {
        let act = Activation::ALL[ai];
        let mut rng = TestRng::new(seed);
        let x: Vec<f32> = rng.vec(rows * cols).iter().map(|v| 10.0 * v).collect();
        let c = rng.vec(cols);
        for isa in present_isas() {
            let mut y = x.clone();
            bias_activation_on(isa, act, Some(&c), &mut y, rows, cols, Par::Seq).unwrap();
            for i in 0..rows {
                for j in 0..cols {
                    let want = act64(act, x[i * cols + j] as f64 + c[j] as f64);
                    let got = y[i * cols + j] as f64;
                    prop_assert!((got - want).abs() <= 1e-6 * want.abs().max(1.0));
                }
            }
        }
    }
}
