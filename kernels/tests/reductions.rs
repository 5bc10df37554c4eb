//! Reductions and losses on every instruction set this CPU has: column
//! sums and means against f64 (every slab and block boundary, and
//! bit-identical for 1, 2 and 4 threads), squared error, binary
//! cross-entropy from logits and the Gaussian KL against f64 references,
//! their gradients against central differences in f64.

use latent_kernels::reduce::{bce_logits_on, col_means_on, col_sums_on, kl_normal_on, sq_err_on};
use latent_kernels::{Isa, KernelError, Par};
use latent_testkit::{TestRng, f32_bits, present_isas, rel_err, sigmoid64, softplus64};
use proptest::prelude::*;

fn check_col_sums(isa: Isa, x: &[f32], rows: usize, cols: usize) {
    let mut s = vec![f32::NAN; cols];
    let mut m = vec![f32::NAN; cols];
    col_sums_on(isa, x, rows, cols, &mut s, Par::Seq).unwrap();
    col_means_on(isa, x, rows, cols, &mut m, Par::Seq).unwrap();
    for j in 0..cols {
        let want: f64 = (0..rows).map(|i| x[i * cols + j] as f64).sum();
        let abs: f64 = (0..rows).map(|i| x[i * cols + j].abs() as f64).sum();
        // Blocked summation: error below (64 + rows/64 + 2)·ε·Σ|x|.
        let tol = (66.0 + rows as f64 / 64.0) * f32::EPSILON as f64 * abs;
        assert!(
            (s[j] as f64 - want).abs() <= tol,
            "{isa} {rows}x{cols} col {j}: {} vs {want}",
            s[j]
        );
        let want_m = if rows == 0 { 0.0 } else { want / rows as f64 };
        assert!(
            (m[j] as f64 - want_m).abs() <= tol / rows.max(1) as f64 + 1e-7 * want_m.abs(),
            "{isa} mean col {j}"
        );
    }
}

#[test]
fn col_sums_and_means_match_f64_at_every_boundary() {
    let mut rng = TestRng::new(1);
    for isa in present_isas() {
        for &rows in &[0usize, 1, 2, 63, 64, 65, 129, 300] {
            for &cols in &[0usize, 1, 15, 16, 17, 255, 256, 257, 513] {
                let x = rng.vec(rows * cols);
                check_col_sums(isa, &x, rows, cols);
            }
        }
    }
}

#[test]
fn col_sums_are_bit_identical_for_1_2_and_4_threads() {
    let (rows, cols) = (700, 1000);
    let x = TestRng::new(2).vec(rows * cols);
    for isa in present_isas() {
        let run = |threads: usize, par: Par| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut s = vec![0.0f32; cols];
            pool.install(|| col_sums_on(isa, &x, rows, cols, &mut s, par).unwrap());
            s
        };
        let one = run(1, Par::Seq);
        assert_eq!(f32_bits(&one), f32_bits(&run(2, Par::Rayon(2))), "{isa}");
        assert_eq!(f32_bits(&one), f32_bits(&run(4, Par::Rayon(4))), "{isa}");
        check_col_sums(isa, &x, rows, cols);
    }
}

/// f64 losses of one element.
fn sq64(xh: f64, x: f64) -> f64 {
    (xh - x).powi(2)
}
fn bce64(a: f64, x: f64) -> f64 {
    softplus64(a) - x * a
}
fn kl64(mu: f64, lv: f64) -> f64 {
    -0.5 * (1.0 + lv - mu * mu - lv.exp())
}

/// Central difference in f64 of a one-element loss `f` in its first
/// (`which = 0`) or second argument.
fn fd(f: impl Fn(f64, f64) -> f64, a: f64, b: f64, which: usize) -> f64 {
    let h = 1e-6 * a.abs().max(b.abs()).max(1.0);
    if which == 0 {
        (f(a + h, b) - f(a - h, b)) / (2.0 * h)
    } else {
        (f(a, b + h) - f(a, b - h)) / (2.0 * h)
    }
}

/// Checks per-row and total losses against `f` in f64 (relative 1e-5 of
/// the sum of absolute terms: f32 arithmetic on each term plus the lane
/// sums).
#[allow(clippy::too_many_arguments)]
fn check_rows(
    name: &str,
    isa: Isa,
    a: &[f32],
    b: &[f32],
    rows: usize,
    cols: usize,
    row: &[f32],
    total: f32,
    f: &dyn Fn(f64, f64) -> f64,
) {
    let mut t = 0.0f64;
    let mut tabs = 0.0f64;
    for i in 0..rows {
        let want: f64 = (0..cols)
            .map(|j| f(a[i * cols + j] as f64, b[i * cols + j] as f64))
            .sum();
        let abs: f64 = (0..cols)
            .map(|j| f(a[i * cols + j] as f64, b[i * cols + j] as f64).abs())
            .sum();
        assert!(
            (row[i] as f64 - want).abs() <= 1e-5 * abs + 1e-30,
            "{name} {isa} row {i}: {} vs {want}",
            row[i]
        );
        t += want;
        tabs += abs;
    }
    assert!(
        (total as f64 - t).abs() <= 1e-5 * tabs + 1e-30,
        "{name} {isa} total {total} vs {t}"
    );
}

#[test]
fn squared_error_and_its_gradient() {
    let (rows, cols) = (13, 45);
    let mut rng = TestRng::new(3);
    let xh = rng.vec(rows * cols);
    let x = rng.vec(rows * cols);
    for isa in present_isas() {
        let mut row = vec![f32::NAN; rows];
        let mut g = vec![f32::NAN; rows * cols];
        let total = sq_err_on(isa, &xh, &x, rows, cols, Some(&mut row), Some(&mut g), 0.5).unwrap();
        check_rows("sq_err", isa, &xh, &x, rows, cols, &row, total, &sq64);
        for i in 0..rows * cols {
            // The gradient of ½(x̂-x)², times 0.5, by central differences.
            let n = 0.5 * 0.5 * fd(sq64, xh[i] as f64, x[i] as f64, 0);
            assert!(
                rel_err(g[i] as f64, n) < 1e-5,
                "{isa} grad[{i}] {} vs {n}",
                g[i]
            );
        }
        let t2 = sq_err_on(isa, &xh, &x, rows, cols, None, None, 1.0).unwrap();
        assert_eq!(total.to_bits(), t2.to_bits());
    }
}

#[test]
fn bce_from_logits_is_stable_and_its_gradient_is_sigmoid_minus_target() {
    let (rows, cols) = (11, 37);
    let mut rng = TestRng::new(4);
    let mut a: Vec<f32> = rng.vec(rows * cols).iter().map(|v| 12.0 * v).collect();
    a[..6].copy_from_slice(&[-1e4, 1e4, -100.0, 100.0, 0.0, -0.0]);
    let x: Vec<f32> = (0..rows * cols).map(|_| rng.uniform(0.0, 1.0)).collect();
    for isa in present_isas() {
        let mut row = vec![f32::NAN; rows];
        let mut g = vec![f32::NAN; rows * cols];
        let total =
            bce_logits_on(isa, &a, &x, rows, cols, Some(&mut row), Some(&mut g), 1.0).unwrap();
        assert!(total.is_finite() && row.iter().all(|r| r.is_finite()));
        check_rows("bce", isa, &a, &x, rows, cols, &row, total, &bce64);
        for i in 0..rows * cols {
            let want = sigmoid64(a[i] as f64) - x[i] as f64;
            assert!((g[i] as f64 - want).abs() < 1e-6, "{isa} grad[{i}]");
            if a[i].abs() < 50.0 {
                let n = fd(bce64, a[i] as f64, x[i] as f64, 0);
                assert!(
                    rel_err(g[i] as f64, n) < 1e-4 || (g[i] as f64 - n).abs() < 1e-6,
                    "{isa} fd[{i}] {} vs {n}",
                    g[i]
                );
            }
        }
    }
}

#[test]
fn gaussian_kl_and_its_gradients() {
    let (rows, cols) = (9, 33);
    let mut rng = TestRng::new(5);
    let mu: Vec<f32> = rng.vec(rows * cols).iter().map(|v| 2.0 * v).collect();
    let mut lv: Vec<f32> = rng.vec(rows * cols).iter().map(|v| 3.0 * v).collect();
    lv[..4].copy_from_slice(&[1e-6, -1e-6, 0.0, 20.0]);
    for isa in present_isas() {
        let mut row = vec![f32::NAN; rows];
        let mut gm = vec![f32::NAN; rows * cols];
        let mut gl = vec![f32::NAN; rows * cols];
        let total = kl_normal_on(
            isa,
            &mu,
            &lv,
            rows,
            cols,
            Some(&mut row),
            Some(&mut gm),
            Some(&mut gl),
            2.0,
        )
        .unwrap();
        check_rows("kl", isa, &mu, &lv, rows, cols, &row, total, &kl64);
        let mut worst = 0.0f64;
        for i in 0..rows * cols {
            let (m, l) = (mu[i] as f64, lv[i] as f64);
            let (nm, nl) = if l > 5.0 {
                // With σ² = e^20 in the loss, f64 central differences lose
                // their digits to cancellation: use the exact derivatives.
                (2.0 * m, 2.0 * 0.5 * l.exp_m1())
            } else {
                (2.0 * fd(kl64, m, l, 0), 2.0 * fd(kl64, m, l, 1))
            };
            let (em, el) = (rel_err(gm[i] as f64, nm), rel_err(gl[i] as f64, nl));
            worst = worst.max(em).max(el);
            assert!(
                em < 1e-5 || (gm[i] as f64 - nm).abs() < 1e-8,
                "{isa} dmu[{i}] {} vs {nm}",
                gm[i]
            );
            // expm1 keeps the relative accuracy of ½(σ²-1) for tiny ln σ².
            assert!(
                el < 1e-5 || (gl[i] as f64 - nl).abs() < 1e-9,
                "{isa} dlv[{i}] {} vs {nl}",
                gl[i]
            );
        }
        eprintln!("kl_normal on {isa}: max gradient rel error {worst:e}");
    }
}

#[test]
fn losses_reject_wrong_shapes() {
    let a = [0.0f32; 6];
    let mut r = [0.0f32; 2];
    let mut g = [0.0f32; 5];
    assert!(matches!(
        sq_err_on(Isa::Portable, &a, &a[..5], 2, 3, None, None, 1.0),
        Err(KernelError::LengthMismatch { .. })
    ));
    assert!(bce_logits_on(Isa::Portable, &a, &a, 2, 3, Some(&mut r[..1]), None, 1.0).is_err());
    assert!(
        kl_normal_on(
            Isa::Portable,
            &a,
            &a,
            2,
            3,
            Some(&mut r),
            Some(&mut g),
            None,
            1.0
        )
        .is_err()
    );
    let mut c = [0.0f32; 2];
    assert!(col_sums_on(Isa::Portable, &a, 2, 3, &mut c, Par::Seq).is_err());
    for isa in Isa::ALL {
        if !isa.is_available() {
            assert_eq!(
                sq_err_on(isa, &a, &a, 2, 3, None, None, 1.0),
                Err(KernelError::IsaUnavailable(isa))
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn losses_match_f64_for_any_shape(rows in 0usize..6, cols in 0usize..50, seed in any::<u64>()) {
        let mut rng = TestRng::new(seed);
        let a: Vec<f32> = rng.vec(rows * cols).iter().map(|v| 5.0 * v).collect();
        let b: Vec<f32> = (0..rows * cols).map(|_| rng.uniform(0.0, 1.0)).collect();
        for isa in present_isas() {
            let mut row = vec![0.0f32; rows];
            let t = bce_logits_on(isa, &a, &b, rows, cols, Some(&mut row), None, 1.0).unwrap();
            check_rows("bce", isa, &a, &b, rows, cols, &row, t, &bce64);
            let t = kl_normal_on(isa, &a, &b, rows, cols, Some(&mut row), None, None, 1.0).unwrap();
            check_rows("kl", isa, &a, &b, rows, cols, &row, t, &kl64);
        }
    }
}
