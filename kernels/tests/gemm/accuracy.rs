//! SGEMM against the f64 reference: edge tiles, k blocking, transposes,
//! strides, α/β, blocking boundaries in m and n, `Replace` over NaN, exact
//! integer products, and random shapes and layouts.

use super::*;

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
