//! Epilogues: each element seen once after the full sum, and the bias-add
//! epilogue against the reference.

use super::*;

/// Counts how often the epilogue sees each element.
struct CountingEpilogue {
    n: usize,
    seen: Mutex<Vec<u32>>,
}

impl Epilogue for CountingEpilogue {
    fn apply_row(&self, row: usize, col0: usize, values: &mut [f32]) {
        let mut seen = self.seen.lock().unwrap();
        for (j, v) in values.iter_mut().enumerate() {
            seen[row * self.n + col0 + j] += 1;
            *v *= 2.0;
        }
    }
}

#[test]
fn epilogue_sees_every_element_once_after_the_full_sum() {
    let mut rng = TestRng::new(7);
    for isa in isas() {
        let info = kernel_info(isa);
        let kc = info.blocking.kc;
        for &(m, k, n) in &[
            (0, 3, 3),
            (5, 0, 7),
            (info.mr + 1, 2 * kc + 3, info.nr + 5),
            (2 * info.mr + 2, kc + 3, 2 * info.nr + 5),
            (50, 500, 784),
            (120, 784, 300),
        ] {
            // B row-major is read in place (B panels outer), B transposed
            // is packed (A panels outer): the epilogue's strips differ.
            for (c_col_major, b_transposed) in [(false, false), (true, false), (false, true)] {
                let a = rng.vec(m * k);
                let b = rng.vec(k * n);
                let epi = CountingEpilogue {
                    n,
                    seen: Mutex::new(vec![0; m * n]),
                };
                let mut plain = vec![0.0f32; m * n];
                let mut fused = vec![f32::NAN; m * n];
                let av = MatRef::row_major(&a, m, k).unwrap();
                let bv = if b_transposed {
                    MatRef::col_major(&b, k, n).unwrap()
                } else {
                    MatRef::row_major(&b, k, n).unwrap()
                };
                gemm_on(
                    isa,
                    1.0,
                    av,
                    bv,
                    Accum::Replace,
                    MatMut::row_major(&mut plain, m, n).unwrap(),
                    &NoEpilogue,
                    Par::Seq,
                )
                .unwrap();
                let cv = if c_col_major {
                    MatMut::col_major(&mut fused, m, n).unwrap()
                } else {
                    MatMut::row_major(&mut fused, m, n).unwrap()
                };
                gemm_on(isa, 1.0, av, bv, Accum::Replace, cv, &epi, Par::Rayon(2)).unwrap();
                assert!(
                    epi.seen.lock().unwrap().iter().all(|&s| s == 1),
                    "{isa} {m}x{k}x{n}: epilogue not applied exactly once"
                );
                for i in 0..m {
                    for j in 0..n {
                        let f = if c_col_major {
                            fused[j * m + i]
                        } else {
                            fused[i * n + j]
                        };
                        assert_eq!(f, 2.0 * plain[i * n + j], "{isa} {m}x{k}x{n} ({i},{j})");
                    }
                }
            }
        }
    }
}

#[test]
fn bias_add_epilogue_matches_reference() {
    let mut rng = TestRng::new(8);
    for isa in isas() {
        let (m, k, n) = (100, 784, 500);
        let a = rng.vec(m * k);
        let w = rng.vec(k * n);
        let bias = rng.vec(n);
        let mut c = vec![f32::NAN; m * n];
        let av = MatRef::row_major(&a, m, k).unwrap();
        let bv = MatRef::row_major(&w, k, n).unwrap();
        gemm_on(
            isa,
            1.0,
            av,
            bv,
            Accum::Replace,
            MatMut::row_major(&mut c, m, n).unwrap(),
            &BiasAdd::new(&bias),
            Par::Rayon(2),
        )
        .unwrap();
        let (want, bound) = reference(
            1.0,
            &|i, p| a[i * k + p],
            &|p, j| w[p * n + j],
            0.0,
            &|_, _| 0.0,
            Some(&bias),
            (m, k, n),
        );
        for idx in 0..m * n {
            assert!(
                (c[idx] as f64 - want[idx]).abs() <= bound[idx],
                "{isa}: element {idx}"
            );
        }
    }
}
