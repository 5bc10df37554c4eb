//! SGEMM against a naive f64 reference on every instruction set this CPU
//! has: edge tiles of every size, blocking boundaries in k, strides,
//! transposes, α/β, `Replace` over NaN, the epilogue, threads, and errors.

use latent_kernels::gemm::{
    Accum, BiasAdd, Epilogue, MatMut, MatRef, NoEpilogue, gemm_on, kernel_info,
};
use latent_kernels::{Isa, KernelError, Par};
use latent_testkit::TestRng;
use proptest::prelude::*;
use std::sync::Mutex;

/// Instruction sets to test; prints a skip line for each one this CPU lacks.
fn isas() -> Vec<Isa> {
    Isa::ALL
        .into_iter()
        .filter(|isa| {
            let ok = isa.is_available();
            if !ok {
                eprintln!("SKIP: {isa} not supported by this CPU; its kernels are not tested here");
            }
            ok
        })
        .collect()
}

/// A matrix stored with arbitrary strides inside a padded buffer.
struct Strided {
    data: Vec<f32>,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl Strided {
    /// `rows x cols`, row-major (`col_major = false`) or column-major, with
    /// `pad` extra elements per leading dimension, filled from `rng`.
    fn new(
        rng: &mut TestRng,
        rows: usize,
        cols: usize,
        col_major: bool,
        pad: usize,
        fill: f32,
    ) -> Self {
        let (rs, cs) = if col_major {
            (1, rows + pad)
        } else {
            (cols + pad, 1)
        };
        let len = if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1
        };
        let mut data = vec![fill; len];
        for i in 0..rows {
            for j in 0..cols {
                data[i * rs + j * cs] = if fill.is_nan() {
                    f32::NAN
                } else {
                    rng.uniform(-1.0, 1.0)
                };
            }
        }
        Strided {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }

    fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.rs + j * self.cs]
    }

    fn view(&self) -> MatRef<'_> {
        MatRef::new(&self.data, self.rows, self.cols, self.rs, self.cs).unwrap()
    }

    fn view_mut(&mut self) -> MatMut<'_> {
        MatMut::new(&mut self.data, self.rows, self.cols, self.rs, self.cs).unwrap()
    }
}

/// The f64 reference and an error bound for each element:
/// `(k + 2)·ε·(|α|·Σ|a||b| + |β||c|)` plus a little for the epilogue.
fn reference(
    alpha: f32,
    a: &dyn Fn(usize, usize) -> f32,
    b: &dyn Fn(usize, usize) -> f32,
    beta: f32,
    c0: &dyn Fn(usize, usize) -> f32,
    bias: Option<&[f32]>,
    (m, k, n): (usize, usize, usize),
) -> (Vec<f64>, Vec<f64>) {
    let mut out = vec![0.0; m * n];
    let mut bound = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let (mut s, mut s_abs) = (0.0f64, 0.0f64);
            for p in 0..k {
                let t = a(i, p) as f64 * b(p, j) as f64;
                s += t;
                s_abs += t.abs();
            }
            let mut v = alpha as f64 * s;
            let mut scale = (alpha as f64).abs() * s_abs;
            if beta != 0.0 {
                v += beta as f64 * c0(i, j) as f64;
                scale += (beta as f64 * c0(i, j) as f64).abs();
            }
            if let Some(bias) = bias {
                v += bias[j] as f64;
                scale += v.abs() + (bias[j] as f64).abs();
            }
            out[i * n + j] = v;
            bound[i * n + j] = (k as f64 + 4.0) * f32::EPSILON as f64 * scale + 1e-30;
        }
    }
    (out, bound)
}

/// Runs one case on `isa` and checks every element of C.
#[allow(clippy::too_many_arguments)]
fn check_case(
    isa: Isa,
    rng: &mut TestRng,
    (m, k, n): (usize, usize, usize),
    a_col_major: bool,
    b_col_major: bool,
    c_col_major: bool,
    pad: usize,
    alpha: f32,
    accum: Accum,
    par: Par,
) {
    let a = Strided::new(rng, m, k, a_col_major, pad, 0.0);
    let b = Strided::new(rng, k, n, b_col_major, pad, 0.0);
    let replace = matches!(accum, Accum::Replace);
    let mut c = Strided::new(
        rng,
        m,
        n,
        c_col_major,
        pad,
        if replace { f32::NAN } else { 0.0 },
    );
    let c0 = c.data.clone();
    let (crs, ccs) = (c.rs, c.cs);
    let beta = match accum {
        Accum::Replace => 0.0,
        Accum::Add { beta } => beta,
    };
    let (want, bound) = reference(
        alpha,
        &|i, p| a.at(i, p),
        &|p, j| b.at(p, j),
        beta,
        &|i, j| c0[i * crs + j * ccs],
        None,
        (m, k, n),
    );
    gemm_on(
        isa,
        alpha,
        a.view(),
        b.view(),
        accum,
        c.view_mut(),
        &NoEpilogue,
        par,
    )
    .unwrap();
    for i in 0..m {
        for j in 0..n {
            let got = c.at(i, j) as f64;
            let (w, tol) = (want[i * n + j], bound[i * n + j]);
            assert!(
                (got - w).abs() <= tol,
                "{isa}: m={m} k={k} n={n} a_cm={a_col_major} b_cm={b_col_major} c_cm={c_col_major} pad={pad} alpha={alpha} {accum:?}: C[{i},{j}] = {got}, want {w} ± {tol}"
            );
        }
    }
    // Padding between elements must be untouched.
    let mut is_elem = vec![false; c.data.len()];
    for i in 0..m {
        for j in 0..n {
            is_elem[i * crs + j * ccs] = true;
        }
    }
    for (idx, (&now, &before)) in c.data.iter().zip(&c0).enumerate() {
        if !is_elem[idx] {
            assert!(
                now.to_bits() == before.to_bits(),
                "{isa}: padding at {idx} was written"
            );
        }
    }
}

#[test]
fn every_edge_tile_and_kc_boundary_matches_reference() {
    let mut rng = TestRng::new(1);
    for isa in isas() {
        let info = kernel_info(isa);
        let kc = info.blocking.kc;
        for k in [0, 1, kc - 1, kc, kc + 1] {
            // Past 2·MR: blocks whose last rows join a tall tile (MR + 1
            // and MR + 2 rows after full panels), and one that does not.
            let ms = (0..=2 * info.mr).chain([2 * info.mr + 1, 2 * info.mr + 2, 3 * info.mr + 3]);
            for m in ms {
                for n in 0..=2 * info.nr {
                    check_case(
                        isa,
                        &mut rng,
                        (m, k, n),
                        false,
                        false,
                        false,
                        0,
                        1.0,
                        Accum::Replace,
                        Par::Seq,
                    );
                    if k == kc + 1 {
                        // Edge tiles read C (β ≠ 0, and β = 1 for the
                        // second k block) and must not touch the padding
                        // around the tile's corner.
                        check_case(
                            isa,
                            &mut rng,
                            (m, k, n),
                            false,
                            false,
                            false,
                            3,
                            -0.5,
                            Accum::Add { beta: 0.75 },
                            Par::Seq,
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn transposes_strides_alpha_beta_match_reference() {
    let mut rng = TestRng::new(2);
    for isa in isas() {
        let info = kernel_info(isa);
        let (mr, nr, kc) = (info.mr, info.nr, info.blocking.kc);
        let shapes = [
            (1, 1, 1),
            (mr + 1, 3, nr - 1),
            (2 * mr + 3, kc + 5, 3 * nr + 7),
            (37, 300, 41),
            (0, 5, 4),
            (4, 5, 0),
        ];
        for &(m, k, n) in &shapes {
            for layout in 0..8 {
                let (acm, bcm, ccm) = (layout & 1 == 1, layout & 2 == 2, layout & 4 == 4);
                for (alpha, accum) in [
                    (1.0, Accum::Replace),
                    (-0.5, Accum::Add { beta: 0.75 }),
                    (2.0, Accum::ADD),
                    (1.5, Accum::Add { beta: 0.0 }),
                ] {
                    check_case(
                        isa,
                        &mut rng,
                        (m, k, n),
                        acm,
                        bcm,
                        ccm,
                        3,
                        alpha,
                        accum,
                        Par::Seq,
                    );
                }
            }
        }
    }
}

#[test]
fn blocking_boundaries_in_m_and_n_match_reference() {
    let mut rng = TestRng::new(3);
    for isa in isas() {
        let info = kernel_info(isa);
        let b = info.blocking;
        // Crosses mc and nc, with edge tiles at each boundary, and a short
        // A (in-place B) as well as a tall one (packed B).
        for &(m, k, n) in &[
            (b.mc + 5, 17, b.nc + info.nr + 3),
            (9, 33, 2 * b.nc + 1),
            (2 * info.mr * 17 + 1, 40, 70),
        ] {
            check_case(
                isa,
                &mut rng,
                (m, k, n),
                false,
                false,
                false,
                0,
                1.0,
                Accum::Add { beta: -1.0 },
                Par::Seq,
            );
            check_case(
                isa,
                &mut rng,
                (m, k, n),
                false,
                false,
                false,
                0,
                0.5,
                Accum::Replace,
                Par::Rayon(3),
            );
        }
    }
}

#[test]
fn replace_never_reads_c_even_with_beta_zero_add() {
    // Covered element-wise by the reference checks (C starts NaN there);
    // this checks the BLAS convention that Add { beta: 0 } ignores NaN too.
    for isa in isas() {
        let a = vec![1.0f32; 6];
        let b = vec![2.0f32; 6];
        let mut c = vec![f32::NAN; 4];
        let av = MatRef::row_major(&a, 2, 3).unwrap();
        let bv = MatRef::row_major(&b, 3, 2).unwrap();
        gemm_on(
            isa,
            1.0,
            av,
            bv,
            Accum::Add { beta: 0.0 },
            MatMut::row_major(&mut c, 2, 2).unwrap(),
            &NoEpilogue,
            Par::Seq,
        )
        .unwrap();
        assert_eq!(c, vec![6.0; 4], "{isa}");
    }
}

#[test]
fn threads_give_bit_identical_results() {
    let mut rng = TestRng::new(4);
    for isa in isas() {
        for &(m, k, n) in &[
            (100, 784, 500),
            (784, 100, 500),
            (333, 257, 129),
            (1000, 64, 1000),
        ] {
            let a = rng.vec(m * k);
            let b = rng.vec(k * n);
            let run = |par: Par| {
                let mut c = vec![f32::NAN; m * n];
                let av = MatRef::row_major(&a, m, k).unwrap();
                let bv = MatRef::row_major(&b, k, n).unwrap();
                gemm_on(
                    isa,
                    1.0,
                    av,
                    bv,
                    Accum::Replace,
                    MatMut::row_major(&mut c, m, n).unwrap(),
                    &NoEpilogue,
                    par,
                )
                .unwrap();
                c
            };
            let seq = run(Par::Seq);
            for par in [Par::Rayon(2), Par::Rayon(3), Par::Rayon(8)] {
                let got = run(par);
                assert!(
                    seq.iter()
                        .zip(&got)
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{isa} {m}x{k}x{n}: {par:?} differs from Seq"
                );
            }
        }
    }
}

#[test]
fn running_inside_a_callers_pool_uses_that_pool() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let mut rng = TestRng::new(5);
    let (m, k, n) = (200, 300, 400);
    let a = rng.vec(m * k);
    let b = rng.vec(k * n);
    let mut c = vec![0.0f32; m * n];
    let mut c_seq = vec![0.0f32; m * n];
    let av = MatRef::row_major(&a, m, k).unwrap();
    let bv = MatRef::row_major(&b, k, n).unwrap();
    latent_kernels::sgemm(
        1.0,
        av,
        bv,
        Accum::Replace,
        MatMut::row_major(&mut c_seq, m, n).unwrap(),
        Par::Seq,
    )
    .unwrap();
    pool.install(|| {
        assert_eq!(Par::All.max_tasks(), 3);
        latent_kernels::sgemm(
            1.0,
            av,
            bv,
            Accum::Replace,
            MatMut::row_major(&mut c, m, n).unwrap(),
            Par::All,
        )
        .unwrap();
    });
    assert_eq!(c, c_seq);
}

#[test]
fn microkernels_are_exact_on_integer_data() {
    // Small integers: every product and partial sum is exactly
    // representable, so the result must equal the integer reference.
    let mut rng = TestRng::new(6);
    for isa in isas() {
        let info = kernel_info(isa);
        for &(m, k, n) in &[
            (info.mr, 1, info.nr),
            (info.mr, 300, info.nr),
            (2 * info.mr + 1, 513, 2 * info.nr + 1),
            (50, 50, 50),
        ] {
            let a = rng.int_vec(m * k, 4);
            let b = rng.int_vec(k * n, 4);
            let mut c = vec![f32::NAN; m * n];
            gemm_on(
                isa,
                1.0,
                MatRef::row_major(&a, m, k).unwrap(),
                MatRef::row_major(&b, k, n).unwrap(),
                Accum::Replace,
                MatMut::row_major(&mut c, m, n).unwrap(),
                &NoEpilogue,
                Par::Seq,
            )
            .unwrap();
            for i in 0..m {
                for j in 0..n {
                    let want: i64 = (0..k)
                        .map(|p| a[i * k + p] as i64 * b[p * n + j] as i64)
                        .sum();
                    assert_eq!(c[i * n + j], want as f32, "{isa} {m}x{k}x{n} at ({i},{j})");
                }
            }
            // A·I = A exactly.
            let mut eye = vec![0.0f32; k * k];
            for p in 0..k {
                eye[p * k + p] = 1.0;
            }
            let mut c = vec![f32::NAN; m * k];
            gemm_on(
                isa,
                1.0,
                MatRef::row_major(&a, m, k).unwrap(),
                MatRef::row_major(&eye, k, k).unwrap(),
                Accum::Replace,
                MatMut::row_major(&mut c, m, k).unwrap(),
                &NoEpilogue,
                Par::Seq,
            )
            .unwrap();
            assert_eq!(c, a, "{isa}: A·I != A for {m}x{k}");
        }
    }
}

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

#[test]
fn bad_shapes_and_views_are_typed_errors() {
    let a = vec![0.0f32; 6];
    let b = vec![0.0f32; 6];
    let mut c = vec![0.0f32; 4];
    let av = MatRef::row_major(&a, 2, 3).unwrap();
    let b_wrong = MatRef::row_major(&b, 2, 3).unwrap();
    let err = latent_kernels::sgemm(
        1.0,
        av,
        b_wrong,
        Accum::Replace,
        MatMut::row_major(&mut c, 2, 2).unwrap(),
        Par::Seq,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            KernelError::ShapeMismatch {
                expected: 3,
                found: 2,
                ..
            }
        ),
        "{err}"
    );
    let bv = MatRef::row_major(&b, 3, 2).unwrap();
    let mut c3 = vec![0.0f32; 6];
    let err = latent_kernels::sgemm(
        1.0,
        av,
        bv,
        Accum::Replace,
        MatMut::row_major(&mut c3, 3, 2).unwrap(),
        Par::Seq,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            KernelError::ShapeMismatch {
                expected: 2,
                found: 3,
                ..
            }
        ),
        "{err}"
    );
    let err = latent_kernels::gemm(
        1.0,
        av,
        bv,
        Accum::Replace,
        MatMut::row_major(&mut c, 2, 2).unwrap(),
        &BiasAdd::new(&[1.0; 3]),
        Par::Seq,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            KernelError::LengthMismatch {
                expected: 2,
                found: 3,
                ..
            }
        ),
        "{err}"
    );
    assert!(matches!(
        MatRef::row_major(&a, 2, 4),
        Err(KernelError::LengthMismatch { .. })
    ));
    assert!(matches!(
        MatRef::new(&a, 3, 3, 3, 1),
        Err(KernelError::ViewOutOfBounds {
            needed: 9,
            len: 6,
            ..
        })
    ));
    assert!(matches!(
        MatRef::new(&a, 2, 2, usize::MAX, 1),
        Err(KernelError::ViewOutOfBounds { .. })
    ));
    assert!(matches!(
        MatMut::new(&mut c, 2, 2, 1, 1),
        Err(KernelError::OverlappingView { .. })
    ));
    assert!(matches!(
        MatMut::new(&mut c, 2, 2, 0, 1),
        Err(KernelError::OverlappingView { .. })
    ));
    for isa in Isa::ALL.into_iter().filter(|i| !i.is_available()) {
        let err = gemm_on(
            isa,
            1.0,
            av,
            bv,
            Accum::Replace,
            MatMut::row_major(&mut c, 2, 2).unwrap(),
            &NoEpilogue,
            Par::Seq,
        )
        .unwrap_err();
        assert_eq!(err, KernelError::IsaUnavailable(isa));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_shapes_layouts_and_scalars_match_reference(
        m in 0usize..70,
        k in 0usize..300,
        n in 0usize..90,
        layout in 0u8..8,
        pad in 0usize..4,
        alpha in -2.0f32..2.0,
        beta in prop_oneof![Just(None), (-2.0f32..2.0).prop_map(Some)],
        threads in 1usize..4,
        seed in any::<u64>(),
    ) {
        let mut rng = TestRng::new(seed);
        let accum = beta.map_or(Accum::Replace, |beta| Accum::Add { beta });
        let par = if threads == 1 { Par::Seq } else { Par::Rayon(threads) };
        for isa in isas() {
            check_case(isa, &mut rng, (m, k, n), layout & 1 == 1, layout & 2 == 2, layout & 4 == 4, pad, alpha, accum, par);
        }
    }
}
