//! Penalties on every instruction set this CPU has: L1 and KL sparsity
//! against f64 with central-difference gradients; the contractive penalty
//! against a materialised Jacobian and its W and c gradients against
//! central differences of the f64 penalty, for sigmoid and ReLU encoders.

use latent_kernels::penalty::{
    ContractiveShape, Encoder, contractive_penalty_on, contractive_workspace_len, kl_sparsity_on,
    l1_penalty_on,
};
use latent_kernels::{Isa, KernelError, Par};
use latent_testkit::{TestRng, present_isas, rel_err, sigmoid64};

/// Checks analytic gradients `a` against numeric `n`: the style guide's
/// relative error below `tol` wherever `|n|` is at least 1e-3 of the largest
/// entry; smaller entries (where the f32 sum of terms of either sign can
/// cancel) within `tol · max|n|` absolutely. Returns the largest relative
/// error seen on the first kind.
fn check_grad(what: &str, a: &[f64], n: &[f64], tol: f64) -> f64 {
    let big = n.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut worst = 0.0f64;
    for (i, (&a, &n)) in a.iter().zip(n).enumerate() {
        if n.abs() >= 1e-3 * big {
            let e = rel_err(a, n);
            worst = worst.max(e);
            assert!(e < tol, "{what}[{i}]: analytic {a} numeric {n} (rel {e:e})");
        } else {
            assert!(
                (a - n).abs() < tol * big,
                "{what}[{i}]: analytic {a} numeric {n}"
            );
        }
    }
    worst
}

#[test]
fn l1_penalty_value_and_gradient() {
    let mut rng = TestRng::new(1);
    let mut h = rng.vec(3001);
    h[0] = 0.0;
    let g0 = rng.vec(3001);
    for isa in present_isas() {
        let mut g = g0.clone();
        let v = l1_penalty_on(isa, 0.3, &h, Some(&mut g), 0.5).unwrap();
        let want: f64 = 0.3 * h.iter().map(|x| x.abs() as f64).sum::<f64>();
        assert!(
            (v as f64 - want).abs() < 1e-6 * want,
            "{isa}: {v} vs {want}"
        );
        let added: Vec<f64> = g.iter().zip(&g0).map(|(a, b)| (*a - *b) as f64).collect();
        assert_eq!(added[0], 0.0, "sign(0) = 0");
        // Central differences of 0.5·0.3·|h| (no h is within 1e-6 of 0
        // except the exact zero, checked above).
        let num: Vec<f64> = h
            .iter()
            .map(|&x| {
                let x = x as f64;
                let d = 1e-7;
                0.5 * 0.3 * ((x + d).abs() - (x - d).abs()) / (2.0 * d)
            })
            .collect();
        check_grad("l1 grad", &added[1..], &num[1..], 1e-5);
        assert_eq!(
            l1_penalty_on(isa, 0.3, &h, None, 1.0).unwrap().to_bits(),
            v.to_bits()
        );
    }
}

fn kl_sparsity64(rho: f64, beta: f64, h: &[f64], rows: usize, cols: usize) -> f64 {
    (0..cols)
        .map(|j| {
            let q: f64 = (0..rows).map(|i| h[i * cols + j]).sum::<f64>() / rows as f64;
            beta * (rho * (rho / q).ln() + (1.0 - rho) * ((1.0 - rho) / (1.0 - q)).ln())
        })
        .sum()
}

#[test]
fn kl_sparsity_value_and_gradient() {
    let (rows, cols) = (23, 41);
    let mut rng = TestRng::new(2);
    let h: Vec<f32> = (0..rows * cols).map(|_| rng.uniform(0.01, 0.6)).collect();
    let g0 = rng.vec(rows * cols);
    let (rho, beta, scale) = (0.05f32, 3.0f32, 0.7f32);
    let h64: Vec<f64> = h.iter().map(|&v| v as f64).collect();
    for isa in present_isas() {
        let mut q = vec![f32::NAN; cols];
        let mut g = g0.clone();
        let v = kl_sparsity_on(
            isa,
            rho,
            beta,
            &h,
            rows,
            cols,
            &mut q,
            Some(&mut g),
            scale,
            Par::Seq,
        )
        .unwrap();
        let want = kl_sparsity64(rho as f64, beta as f64, &h64, rows, cols);
        assert!(rel_err(v as f64, want) < 1e-5, "{isa}: {v} vs {want}");
        for j in 0..cols {
            let m: f64 = (0..rows).map(|i| h64[i * cols + j]).sum::<f64>() / rows as f64;
            assert!(rel_err(q[j] as f64, m) < 1e-6, "{isa}: rho_hat[{j}]");
        }
        let added: Vec<f64> = g.iter().zip(&g0).map(|(a, b)| (*a - *b) as f64).collect();
        let num: Vec<f64> = (0..rows * cols)
            .map(|k| {
                let d = 1e-6;
                let mut hp = h64.clone();
                hp[k] += d;
                let mut hm = h64.clone();
                hm[k] -= d;
                scale as f64
                    * (kl_sparsity64(rho as f64, beta as f64, &hp, rows, cols)
                        - kl_sparsity64(rho as f64, beta as f64, &hm, rows, cols))
                    / (2.0 * d)
            })
            .collect();
        // The added gradient went through one f32 addition onto g0 (|g0|
        // < 1): that rounding, 6e-8 absolute, bounds the comparison.
        let worst = check_grad("kl_sparsity grad", &added, &num, 1e-4);
        eprintln!("kl_sparsity on {isa}: max gradient rel error {worst:e}");
    }
    let mut q = vec![0.0f32; cols];
    assert!(matches!(
        kl_sparsity_on(
            Isa::Portable,
            1.0,
            1.0,
            &h,
            rows,
            cols,
            &mut q,
            None,
            1.0,
            Par::Seq
        ),
        Err(KernelError::InvalidValue { .. })
    ));
}

/// A small encoder problem: x (B x V), W (V x H), c (H).
struct Problem {
    b: usize,
    v: usize,
    h: usize,
    x: Vec<f64>,
    w: Vec<f64>,
    c: Vec<f64>,
}

impl Problem {
    fn new(seed: u64, b: usize, v: usize, h: usize) -> Self {
        let mut rng = TestRng::new(seed);
        let f = |v: Vec<f32>| v.into_iter().map(|x| x as f64).collect::<Vec<f64>>();
        Problem {
            b,
            v,
            h,
            x: f(rng.vec(b * v)),
            w: f(rng.vec(v * h).iter().map(|x| 0.8 * x).collect()),
            c: f(rng.vec(h).iter().map(|x| 0.5 * x).collect()),
        }
    }

    /// Pre-activations `x W + c` in f64.
    fn pre(&self, w: &[f64], c: &[f64]) -> Vec<f64> {
        let mut a = vec![0.0; self.b * self.h];
        for i in 0..self.b {
            for j in 0..self.h {
                a[i * self.h + j] = c[j]
                    + (0..self.v)
                        .map(|k| self.x[i * self.v + k] * w[k * self.h + j])
                        .sum::<f64>();
            }
        }
        a
    }

    fn code(&self, enc: Encoder, w: &[f64], c: &[f64]) -> Vec<f64> {
        self.pre(w, c)
            .into_iter()
            .map(|a| match enc {
                Encoder::Sigmoid => sigmoid64(a),
                Encoder::Relu => a.max(0.0),
            })
            .collect()
    }

    /// Ω from a materialised Jacobian `J_i[j, k] = f'(a_ij) W_kj`.
    fn omega_jacobian(&self, enc: Encoder, w: &[f64], c: &[f64]) -> f64 {
        let a = self.pre(w, c);
        let mut total = 0.0;
        for i in 0..self.b {
            let mut jac = vec![0.0f64; self.h * self.v];
            for j in 0..self.h {
                let aij = a[i * self.h + j];
                let d = match enc {
                    Encoder::Sigmoid => sigmoid64(aij) * (1.0 - sigmoid64(aij)),
                    Encoder::Relu => (aij > 0.0) as u8 as f64,
                };
                for k in 0..self.v {
                    jac[j * self.v + k] = d * w[k * self.h + j];
                }
            }
            total += jac.iter().map(|v| v * v).sum::<f64>();
        }
        total
    }

    fn f32s(v: &[f64]) -> Vec<f32> {
        v.iter().map(|&x| x as f32).collect()
    }
}

fn check_contractive(enc: Encoder, seed: u64, b: usize, v: usize, hd: usize) {
    let p = Problem::new(seed, b, v, hd);
    // ReLU: the penalty is piecewise constant in a; a central difference is
    // only valid if no pre-activation is within reach of 0.
    if enc == Encoder::Relu {
        let min_a = p
            .pre(&p.w, &p.c)
            .iter()
            .fold(f64::MAX, |m, a| m.min(a.abs()));
        assert!(
            min_a > 1e-4,
            "test data has a pre-activation at {min_a}; pick another seed"
        );
    }
    let (x, w) = (Problem::f32s(&p.x), Problem::f32s(&p.w));
    let h = Problem::f32s(&p.code(enc, &p.w, &p.c));
    let shape = ContractiveShape {
        batch: b,
        visible: v,
        hidden: hd,
    };
    let scale = 0.25f32;
    let want = p.omega_jacobian(enc, &p.w, &p.c);
    let mut rng = TestRng::new(seed + 100);
    let gw0 = rng.vec(v * hd);
    let gc0 = rng.vec(hd);
    for isa in present_isas() {
        let mut work = vec![f32::NAN; contractive_workspace_len(b, hd)];
        let mut gw = gw0.clone();
        let mut gc = gc0.clone();
        let omega = contractive_penalty_on(
            isa,
            enc,
            shape,
            &x,
            &w,
            &h,
            Some(&mut gw),
            Some(&mut gc),
            scale,
            &mut work,
            Par::Seq,
        )
        .unwrap();
        assert!(
            rel_err(omega as f64, want) < 1e-5,
            "{enc:?} {isa}: Ω {omega} vs Jacobian {want}"
        );
        // Gradients are added to what the buffers held: the same run on
        // zeroed buffers gives the gradient alone (compared below in f64),
        // and the accumulated result is it plus the prior, to one rounding.
        let mut gwz = vec![0.0f32; v * hd];
        let mut gcz = vec![0.0f32; hd];
        contractive_penalty_on(
            isa,
            enc,
            shape,
            &x,
            &w,
            &h,
            Some(&mut gwz),
            Some(&mut gcz),
            scale,
            &mut work,
            Par::Seq,
        )
        .unwrap();
        // gw gets two additions (the W ⊙ t term, then the GEMM with β = 1)
        // that round separately: allow a few ulp of the larger operands.
        let zmax = gwz.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for (k, (&acc, (&z, &g0))) in gw.iter().zip(gwz.iter().zip(&gw0)).enumerate() {
            assert!(
                (acc - (z + g0)).abs() <= 4.0 * f32::EPSILON * (g0.abs() + zmax),
                "{isa}: accumulate gw[{k}]"
            );
        }
        for (k, (&acc, (&z, &g0))) in gc.iter().zip(gcz.iter().zip(&gc0)).enumerate() {
            assert!(
                (acc - (z + g0)).abs() <= f32::EPSILON * acc.abs().max(z.abs()),
                "{isa}: accumulate gc[{k}]"
            );
        }
        let dw: Vec<f64> = gwz.iter().map(|&a| a as f64).collect();
        let dc: Vec<f64> = gcz.iter().map(|&a| a as f64).collect();
        let eps = 1e-6;
        let num_w: Vec<f64> = (0..v * hd)
            .map(|k| {
                let mut wp = p.w.clone();
                wp[k] += eps;
                let mut wm = p.w.clone();
                wm[k] -= eps;
                scale as f64 * (p.omega_jacobian(enc, &wp, &p.c) - p.omega_jacobian(enc, &wm, &p.c))
                    / (2.0 * eps)
            })
            .collect();
        let num_c: Vec<f64> = (0..hd)
            .map(|j| {
                let mut cp = p.c.clone();
                cp[j] += eps;
                let mut cm = p.c.clone();
                cm[j] -= eps;
                scale as f64 * (p.omega_jacobian(enc, &p.w, &cp) - p.omega_jacobian(enc, &p.w, &cm))
                    / (2.0 * eps)
            })
            .collect();
        // f32 kernel against f64 differences: s² = (h(1-h))² from an f32 h
        // and the f32 products give ~2e-5 relative.
        let ew = check_grad("dΩ/dW", &dw, &num_w, 2e-4);
        let ec = if enc == Encoder::Sigmoid {
            check_grad("dΩ/dc", &dc, &num_c, 2e-4)
        } else {
            assert!(dc.iter().all(|&d| d == 0.0), "ReLU: dΩ/dc is zero");
            assert!(num_c.iter().all(|&d| d == 0.0));
            0.0
        };
        eprintln!(
            "contractive {enc:?} on {isa}: Ω rel {:.1e}, dW rel {ew:.1e}, dc rel {ec:.1e}",
            rel_err(omega as f64, want)
        );
        // Without gradients: the same Ω.
        let o2 = contractive_penalty_on(
            isa,
            enc,
            shape,
            &x,
            &w,
            &h,
            None,
            None,
            scale,
            &mut work,
            Par::Seq,
        )
        .unwrap();
        assert_eq!(o2.to_bits(), omega.to_bits());
    }
}

#[test]
fn contractive_sigmoid_matches_jacobian_and_central_differences() {
    check_contractive(Encoder::Sigmoid, 3, 7, 13, 19);
    check_contractive(Encoder::Sigmoid, 4, 1, 1, 1);
    check_contractive(Encoder::Sigmoid, 5, 20, 33, 40);
}

#[test]
fn contractive_relu_matches_jacobian_and_central_differences() {
    check_contractive(Encoder::Relu, 6, 7, 13, 19);
    check_contractive(Encoder::Relu, 7, 17, 5, 37);
}

#[test]
fn contractive_is_bit_identical_across_thread_counts_and_rejects_bad_shapes() {
    let (b, v, hd) = (100, 784, 500);
    let mut rng = TestRng::new(9);
    let x = rng.vec(b * v);
    let w: Vec<f32> = rng.vec(v * hd).iter().map(|a| 0.05 * a).collect();
    let h: Vec<f32> = (0..b * hd).map(|_| rng.uniform(0.0, 1.0)).collect();
    let shape = ContractiveShape {
        batch: b,
        visible: v,
        hidden: hd,
    };
    let isa = Isa::best_available();
    let run = |threads: usize, par: Par| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut gw = vec![0.0f32; v * hd];
        let mut gc = vec![0.0f32; hd];
        let mut work = vec![0.0f32; contractive_workspace_len(b, hd)];
        let o = pool.install(|| {
            contractive_penalty_on(
                isa,
                Encoder::Sigmoid,
                shape,
                &x,
                &w,
                &h,
                Some(&mut gw),
                Some(&mut gc),
                1.0,
                &mut work,
                par,
            )
            .unwrap()
        });
        (
            o.to_bits(),
            gw.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            gc.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        )
    };
    let one = run(1, Par::Seq);
    assert!(one == run(2, Par::Rayon(2)), "2 threads");
    assert!(one == run(4, Par::Rayon(4)), "4 threads");

    let mut work = vec![0.0f32; contractive_workspace_len(b, hd) - 1];
    assert!(matches!(
        contractive_penalty_on(
            isa,
            Encoder::Sigmoid,
            shape,
            &x,
            &w,
            &h,
            None,
            None,
            1.0,
            &mut work,
            Par::Seq
        ),
        Err(KernelError::LengthMismatch { .. })
    ));
    let mut work = vec![0.0f32; contractive_workspace_len(b, hd)];
    assert!(
        contractive_penalty_on(
            isa,
            Encoder::Relu,
            shape,
            &x[1..],
            &w,
            &h,
            None,
            None,
            1.0,
            &mut work,
            Par::Seq
        )
        .is_err()
    );
    let mut gc = vec![0.0f32; hd + 1];
    assert!(
        contractive_penalty_on(
            isa,
            Encoder::Relu,
            shape,
            &x,
            &w,
            &h,
            None,
            Some(&mut gc),
            1.0,
            &mut work,
            Par::Seq
        )
        .is_err()
    );
}
