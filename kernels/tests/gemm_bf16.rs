//! The bf16 GEMM and the f32 → bf16 rounding, on every bf16 kernel this
//! CPU has (a SKIP line names an absent one).
//!
//! Rounding: all 2³² f32 inputs against a reference that picks the nearer
//! of the two bf16 neighbours by distance (ties to the even one, overflow
//! to infinity past the largest bf16 plus half an ulp), comparing bits.
//! For a NaN input the result must be a quiet NaN with the input's sign.
//!
//! GEMM: against an f64 product of the bf16-rounded inputs, with the bound
//! `|C - ref| <= (k + 4)·ε·(|α|·Σ_p |ã_ip|·|b̃_pj| + |β·c_ij|)` per element
//! (ε = 2⁻²³, the f32 machine epsilon; ã, b̃ the rounded inputs): k
//! roundings of the f32 accumulation, plus those of α, β and the sum
//! across depth blocks.

use latent_kernels::bf16::{bf16_to_f32, f32_to_bf16, round_to_bf16, widen_bf16};
use latent_kernels::gemm::{
    Accum, MatMut, MatRef, NoEpilogue, bf16_kernel_info, gemm_bf16, gemm_bf16_on, gemm_bf16_packed,
    pack_bf16_b,
};
use latent_kernels::{Activation, Bf16Isa, BiasActivation, Dispatch, Isa, KernelError, Par};
use latent_testkit::TestRng;
use rayon::prelude::*;

/// The value of the bf16 `h` (a magnitude, no sign bit) in f64, with
/// 0x7f80 read as 2¹²⁸: where the next bf16 would lie without overflow.
fn magnitude(h: u16) -> f64 {
    if h == 0x7f80 {
        2f64.powi(128)
    } else {
        f64::from(bf16_to_f32(h))
    }
}

/// Checks the 2¹⁶ f32 whose upper half is `hi` (the neighbours towards and
/// away from zero of all of them are the same two bf16, `down` and `up`):
/// each must round to the nearer by distance, the even one on a tie;
/// NaN to a quiet NaN of the same sign. Returns the number of failures.
fn check_block(hi: u32) -> u64 {
    let sign = (hi as u16) & 0x8000;
    let down = (hi as u16) & 0x7fff;
    if down >= 0x7f80 {
        // Infinity (lo = 0) and NaNs.
        let mut bad = 0;
        for lo in 0u32..1 << 16 {
            let x = f32::from_bits(hi << 16 | lo);
            let got = f32_to_bf16(x);
            let ok = if x.is_nan() {
                got & 0x7fc0 == 0x7fc0 && got & 0x8000 == sign
            } else {
                got == sign | down
            };
            bad += u64::from(!ok);
        }
        return bad;
    }
    let up = down + 1;
    let (v_down, v_up) = (magnitude(down), magnitude(up));
    let even = if down.is_multiple_of(2) { down } else { up };
    let mut bad = 0;
    for lo in 0u32..1 << 16 {
        let x = f32::from_bits(hi << 16 | lo);
        let mag = f64::from(x.abs());
        let (d_down, d_up) = (mag - v_down, v_up - mag);
        let pick = if d_down < d_up {
            down
        } else if d_up < d_down {
            up
        } else {
            even
        };
        bad += u64::from(f32_to_bf16(x) != sign | pick);
    }
    bad
}

#[test]
fn rounding_matches_the_reference_on_every_f32() {
    let start = std::time::Instant::now();
    let bad: u64 = (0u32..1 << 16).into_par_iter().map(check_block).sum();
    eprintln!("all 2^32 roundings checked in {:.2?}", start.elapsed());
    assert_eq!(bad, 0, "{bad} f32 inputs rounded wrongly");
}

#[test]
fn rounding_edge_cases_and_slices() {
    let cases: [(f32, u16); 8] = [
        (1.0, 0x3f80),
        (f32::from_bits(0x3f80_8000), 0x3f80), // tie, even kept
        (f32::from_bits(0x3f81_8000), 0x3f82), // tie, odd rounds up
        (f32::INFINITY, 0x7f80),
        (f32::NEG_INFINITY, 0xff80),
        (f32::MAX, 0x7f80), // past the largest bf16 + half an ulp
        (-0.0, 0x8000),
        (f32::from_bits(1), 0x0000), // the smallest subnormal rounds to 0
    ];
    for (x, want) in cases {
        assert_eq!(f32_to_bf16(x), want, "{x:e}");
    }
    let nan = f32_to_bf16(f32::from_bits(0xff80_0001)); // signalling, negative
    assert!(
        bf16_to_f32(nan).is_nan() && nan & 0x8040 == 0x8040,
        "{nan:#x}"
    );
    let src = [1.5f32, -2.0, 3.0e-3];
    let mut half = [0u16; 3];
    round_to_bf16(&src, &mut half).unwrap();
    let mut back = [0.0f32; 3];
    widen_bf16(&half, &mut back).unwrap();
    assert_eq!(back[..2], [1.5, -2.0]);
    assert!((back[2] - 3.0e-3).abs() <= 3.0e-3 * 2f32.powi(-8));
    assert!(matches!(
        round_to_bf16(&src, &mut [0u16; 2]),
        Err(KernelError::LengthMismatch { .. })
    ));
    assert!(widen_bf16(&half, &mut [0.0f32; 4]).is_err());
}

/// The bf16 kernels to test; prints a SKIP line for each absent one.
fn kernels() -> Vec<Bf16Isa> {
    Bf16Isa::ALL
        .into_iter()
        .filter(|isa| {
            if !isa.is_available() {
                eprintln!("SKIP: bf16 kernel {isa} not supported by this CPU; not tested here");
                return false;
            }
            let ok = Dispatch::global().with_bf16_isa(*isa).is_ok();
            if !ok {
                eprintln!("SKIP: bf16 kernel {isa} capped by LATENT_ISA; not tested here");
            }
            ok
        })
        .collect()
}

/// A matrix with arbitrary strides inside a padded buffer.
#[derive(Clone)]
struct Mat {
    data: Vec<f32>,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl Mat {
    fn new(rng: &mut TestRng, (rows, cols): (usize, usize), col_major: bool, pad: usize) -> Mat {
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
        let data = (0..len).map(|_| rng.uniform(-1.0, 1.0)).collect();
        Mat {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }

    fn filled(mut self, v: f32) -> Mat {
        self.data.fill(v);
        self
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

    fn bits(&self) -> Vec<u32> {
        self.data.iter().map(|v| v.to_bits()).collect()
    }
}

fn rounded(x: f32) -> f64 {
    f64::from(bf16_to_f32(f32_to_bf16(x)))
}

/// Checks C (after `C ← α·A·B + β·C0`) against the f64 product of the
/// rounded inputs, within the bound of the module documentation.
fn check_against_reference(a: &Mat, b: &Mat, alpha: f32, beta: f32, c0: &Mat, c: &Mat, what: &str) {
    let k = a.cols;
    for i in 0..a.rows {
        for j in 0..b.cols {
            let (mut s, mut s_abs) = (0.0f64, 0.0f64);
            for p in 0..k {
                let t = rounded(a.at(i, p)) * rounded(b.at(p, j));
                s += t;
                s_abs += t.abs();
            }
            let old = if beta == 0.0 {
                0.0
            } else {
                f64::from(beta) * f64::from(c0.at(i, j))
            };
            let want = f64::from(alpha) * s + old;
            let scale = f64::from(alpha).abs() * s_abs + old.abs();
            let bound = (k as f64 + 4.0) * f64::from(f32::EPSILON) * scale;
            let got = f64::from(c.at(i, j));
            assert!(
                (got - want).abs() <= bound,
                "{what}: C[{i},{j}] = {got}, reference {want}, bound {bound}"
            );
        }
    }
}

/// One product on `isa`: `alpha·A·B (+ beta·C)` with the given layouts;
/// checked against the reference; returns C.
#[allow(clippy::too_many_arguments)]
fn case(
    isa: Bf16Isa,
    rng: &mut TestRng,
    (m, k, n): (usize, usize, usize),
    (a_cm, b_cm, c_cm): (bool, bool, bool),
    pad: usize,
    alpha: f32,
    accum: Accum,
    par: Par,
) -> Mat {
    let a = Mat::new(rng, (m, k), a_cm, pad);
    let b = Mat::new(rng, (k, n), b_cm, pad);
    let mut c = Mat::new(rng, (m, n), c_cm, pad);
    if accum == Accum::Replace {
        c = c.filled(f32::NAN);
    }
    let c0 = c.clone();
    gemm_bf16_on(
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
    let beta = match accum {
        Accum::Replace => 0.0,
        Accum::Add { beta } => beta,
    };
    let what = format!("{isa} {m}x{k}x{n} layouts {a_cm}/{b_cm}/{c_cm} pad {pad} {accum:?}");
    check_against_reference(&a, &b, alpha, beta, &c0, &c, &what);
    c
}

#[test]
fn every_edge_up_to_two_tiles_and_odd_depths() {
    let mut rng = TestRng::new(1);
    for isa in kernels() {
        let (_, mr, nr) = bf16_kernel_info(isa);
        for k in [0, 1, 2, 3, 8, 17] {
            for m in 0..=2 * mr {
                for n in 0..=2 * nr {
                    let accum = if (m + n) % 2 == 0 {
                        Accum::Replace
                    } else {
                        Accum::Add { beta: 0.5 }
                    };
                    case(
                        isa,
                        &mut rng,
                        (m, k, n),
                        (false, false, false),
                        0,
                        1.0,
                        accum,
                        Par::Seq,
                    );
                }
            }
        }
    }
}

#[test]
fn depths_across_the_pair_and_block_boundaries() {
    let mut rng = TestRng::new(2);
    for isa in kernels() {
        let (_, mr, nr) = bf16_kernel_info(isa);
        for k in [511, 512, 513, 514, 1023, 1025, 1537] {
            let shape = (mr + 3, k, nr + 5);
            case(
                isa,
                &mut rng,
                shape,
                (false, false, false),
                0,
                0.75,
                Accum::Replace,
                Par::Seq,
            );
            case(
                isa,
                &mut rng,
                shape,
                (true, true, false),
                1,
                1.0,
                Accum::ADD,
                Par::Seq,
            );
        }
    }
}

#[test]
fn strides_transposes_alpha_beta_and_nan_in_c() {
    let mut rng = TestRng::new(3);
    for isa in kernels() {
        let (_, mr, nr) = bf16_kernel_info(isa);
        for layout in 0..8 {
            let cm = (layout & 1 != 0, layout & 2 != 0, layout & 4 != 0);
            for (alpha, accum) in [
                (1.0, Accum::Replace),
                (-0.5, Accum::Add { beta: 1.5 }),
                (2.0, Accum::Add { beta: 0.0 }),
            ] {
                let shape = (2 * mr + 1, 37, 2 * nr - 3);
                let c = case(isa, &mut rng, shape, cm, 3, alpha, accum, Par::Seq);
                // `Replace` (and β = 0) over NaN: no NaN may leak.
                let nan = (0..c.rows).any(|i| (0..c.cols).any(|j| c.at(i, j).is_nan()));
                assert!(!nan, "{isa}: NaN in C after {accum:?}");
            }
        }
    }
}

#[test]
fn bias_and_activation_epilogue() {
    let mut rng = TestRng::new(4);
    for isa in kernels() {
        for (m, k, n, c_cm) in [
            (30, 50, 70, false),
            (13, 9, 33, true),
            (100, 600, 40, false),
        ] {
            let a = Mat::new(&mut rng, (m, k), false, 0);
            let b = Mat::new(&mut rng, (k, n), true, 0);
            let bias: Vec<f32> = (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let mut c = Mat::new(&mut rng, (m, n), c_cm, 2).filled(f32::NAN);
            let epi = BiasActivation::new(&bias, Activation::Relu);
            gemm_bf16_on(
                isa,
                1.0,
                a.view(),
                b.view(),
                Accum::Replace,
                c.view_mut(),
                &epi,
                Par::Seq,
            )
            .unwrap();
            let mut plain = Mat::new(&mut rng, (m, n), false, 0);
            gemm_bf16_on(
                isa,
                1.0,
                a.view(),
                b.view(),
                Accum::Replace,
                plain.view_mut(),
                &NoEpilogue,
                Par::Seq,
            )
            .unwrap();
            for i in 0..m {
                for (j, &bj) in bias.iter().enumerate() {
                    // Relu is 1-Lipschitz; the bias add rounds once.
                    let v = f64::from(plain.at(i, j)) + f64::from(bj);
                    let want = v.max(0.0);
                    let bound = 2.0 * f64::from(f32::EPSILON) * v.abs() + 1e-30;
                    let got = f64::from(c.at(i, j));
                    assert!(
                        (got - want).abs() <= bound,
                        "{isa} C[{i},{j}] = {got}, want {want}"
                    );
                }
            }
            let bad = BiasActivation::new(&bias[..n - 1], Activation::Relu);
            let err = gemm_bf16_on(
                isa,
                1.0,
                a.view(),
                b.view(),
                Accum::Replace,
                c.view_mut(),
                &bad,
                Par::Seq,
            );
            assert!(err.is_err(), "a bias of the wrong length must be refused");
        }
    }
}

#[test]
fn packed_b_reused_equals_packing_each_time() {
    let mut rng = TestRng::new(5);
    for isa in kernels() {
        let ctx = Dispatch::global().with_bf16_isa(isa).unwrap();
        for (m, k, n) in [(7, 1, 5), (40, 1025, 77), (300, 784, 100), (3, 0, 4)] {
            let w = Mat::new(&mut rng, (k, n), false, 0);
            let packed = ctx.pack_bf16_b(w.view());
            assert_eq!((packed.rows(), packed.cols()), (k, n));
            // Repacking over an earlier, larger packing gives the same.
            let mut again = ctx.pack_bf16_b(Mat::new(&mut rng, (k + 3, n + 40), true, 0).view());
            ctx.repack_bf16_b(w.view(), &mut again);
            assert_eq!(again, packed);
            for (round, accum) in [Accum::Replace, Accum::ADD, Accum::Add { beta: -0.25 }]
                .into_iter()
                .enumerate()
            {
                let a = Mat::new(&mut rng, (m, k), round == 1, 1);
                let mut c1 = Mat::new(&mut rng, (m, n), false, 0);
                let mut c2 = c1.clone();
                let par = Par::Rayon(2);
                ctx.gemm_bf16(
                    0.5,
                    a.view(),
                    w.view(),
                    accum,
                    c1.view_mut(),
                    &NoEpilogue,
                    par,
                )
                .unwrap();
                ctx.gemm_bf16_packed(
                    0.5,
                    a.view(),
                    &packed,
                    accum,
                    c2.view_mut(),
                    &NoEpilogue,
                    par,
                )
                .unwrap();
                assert_eq!(c1.bits(), c2.bits(), "{isa} {m}x{k}x{n} product {round}");
            }
            // Shapes are checked when the packed B is used.
            let a = Mat::new(&mut rng, (m, k + 1), false, 0);
            let mut c = Mat::new(&mut rng, (m, n), false, 0);
            let err = ctx.gemm_bf16_packed(
                1.0,
                a.view(),
                &packed,
                Accum::Replace,
                c.view_mut(),
                &NoEpilogue,
                Par::Seq,
            );
            assert!(
                matches!(err, Err(KernelError::ShapeMismatch { .. })),
                "{err:?}"
            );
            let a = Mat::new(&mut rng, (m, k), false, 0);
            let mut c = Mat::new(&mut rng, (m, n + 1), false, 0);
            let err = ctx.gemm_bf16_packed(
                1.0,
                a.view(),
                &packed,
                Accum::Replace,
                c.view_mut(),
                &NoEpilogue,
                Par::Seq,
            );
            assert!(
                matches!(err, Err(KernelError::ShapeMismatch { .. })),
                "{err:?}"
            );
        }
    }
    // Panels packed for one kernel are refused by another.
    let present = kernels();
    if let [first, .., last] = present[..] {
        let w = Mat::new(&mut rng, (8, 8), false, 0);
        let packed = Dispatch::global()
            .with_bf16_isa(first)
            .unwrap()
            .pack_bf16_b(w.view());
        let a = Mat::new(&mut rng, (8, 8), false, 0);
        let mut c = Mat::new(&mut rng, (8, 8), false, 0);
        let other = Dispatch::global().with_bf16_isa(last).unwrap();
        let err = other.gemm_bf16_packed(
            1.0,
            a.view(),
            &packed,
            Accum::Replace,
            c.view_mut(),
            &NoEpilogue,
            Par::Seq,
        );
        assert!(
            matches!(err, Err(KernelError::InvalidValue { .. })),
            "{err:?}"
        );
    } else {
        eprintln!("SKIP: one bf16 kernel only; packed panels of another kernel not tested");
    }
    // The global entry points: pack once, multiply, as `gemm_bf16`.
    let w = Mat::new(&mut rng, (70, 45), true, 0);
    let a = Mat::new(&mut rng, (29, 70), false, 0);
    let packed = pack_bf16_b(w.view());
    let (mut c1, mut c2) = (
        Mat::new(&mut rng, (29, 45), false, 0),
        Mat::new(&mut rng, (29, 45), false, 0),
    );
    gemm_bf16(
        1.0,
        a.view(),
        w.view(),
        Accum::Replace,
        c1.view_mut(),
        &NoEpilogue,
        Par::Seq,
    )
    .unwrap();
    gemm_bf16_packed(
        1.0,
        a.view(),
        &packed,
        Accum::Replace,
        c2.view_mut(),
        &NoEpilogue,
        Par::Seq,
    )
    .unwrap();
    assert_eq!(c1.bits(), c2.bits());
}

#[test]
fn threads_give_the_same_bits() {
    let mut rng = TestRng::new(6);
    for isa in kernels() {
        for (m, k, n) in [(200, 300, 300), (1000, 97, 64), (33, 1100, 500)] {
            let a = Mat::new(&mut rng, (m, k), false, 0);
            let b = Mat::new(&mut rng, (k, n), false, 0);
            let c0 = Mat::new(&mut rng, (m, n), false, 0);
            let run = |par| {
                let mut c = c0.clone();
                gemm_bf16_on(
                    isa,
                    1.0,
                    a.view(),
                    b.view(),
                    Accum::ADD,
                    c.view_mut(),
                    &NoEpilogue,
                    par,
                )
                .unwrap();
                c.bits()
            };
            let one = run(Par::Seq);
            for t in [2, 3, 7] {
                assert_eq!(one, run(Par::Rayon(t)), "{isa} {m}x{k}x{n} on {t} threads");
            }
        }
    }
}

/// AVX512-BF16 and the portable kernel compute the same arithmetic (the
/// order and rounding of `vdpbf16ps`, one blocking), so they must agree
/// bit for bit, also where cancellation makes every rounding visible.
#[test]
fn avx512bf16_and_portable_agree_bit_for_bit() {
    if !kernels().contains(&Bf16Isa::Avx512Bf16) {
        eprintln!("SKIP: avx512bf16 absent; the comparison with the portable kernel is not run");
        return;
    }
    let mut rng = TestRng::new(7);
    for (m, k, n) in [
        (1, 1, 1),
        (13, 3, 31),
        (50, 513, 70),
        (24, 1100, 64),
        (130, 784, 33),
    ] {
        let mut a = Mat::new(&mut rng, (m, k), false, 0);
        let mut b = Mat::new(&mut rng, (k, n), true, 0);
        // Large, cancelling terms next to small ones.
        for (idx, v) in a.data.iter_mut().enumerate() {
            if idx % 5 == 0 {
                *v *= 4096.0;
            }
        }
        // Denormal handling: the last row of A tiny and the column before
        // last of B tiny (products below the normal range: flushed to
        // zero), the last column of B subnormal in bf16 (read as zero).
        let scale_row = |x: &mut Mat, i: usize, f: f32| {
            for p in 0..x.cols {
                x.data[i * x.rs + p * x.cs] *= f;
            }
        };
        let scale_col = |x: &mut Mat, j: usize, f: f32| {
            for p in 0..x.rows {
                x.data[p * x.rs + j * x.cs] *= f;
            }
        };
        if m > 1 && n > 2 {
            scale_row(&mut a, m - 1, 1e-19);
            scale_col(&mut b, n - 2, 1e-19);
            scale_col(&mut b, n - 1, 1e-39);
        }
        let c0 = Mat::new(&mut rng, (m, n), false, 0).filled(0.0);
        let run = |isa| {
            let mut c = c0.clone();
            gemm_bf16_on(
                isa,
                0.7,
                a.view(),
                b.view(),
                Accum::Add { beta: 0.3 },
                c.view_mut(),
                &NoEpilogue,
                Par::Rayon(2),
            )
            .unwrap();
            c.bits()
        };
        assert_eq!(
            run(Bf16Isa::Avx512Bf16),
            run(Bf16Isa::Portable),
            "{m}x{k}x{n}"
        );
    }
}

#[test]
fn a_capped_context_gets_the_portable_bf16_kernel() {
    let portable = Dispatch::new(Isa::Portable).unwrap();
    assert_eq!(portable.bf16_isa(), Bf16Isa::Portable);
    assert!(portable.with_bf16_isa(Bf16Isa::Avx512Bf16).is_err());
    if Isa::Avx2.is_available() {
        let avx2 = Dispatch::new(Isa::Avx2).unwrap();
        assert_eq!(avx2.bf16_isa(), Bf16Isa::Portable);
        assert!(avx2.with_bf16_isa(Bf16Isa::Avx512Bf16).is_err());
    }
    if Bf16Isa::Avx512Bf16.is_available() {
        let full = Dispatch::new(Isa::Avx512).unwrap();
        assert_eq!(full.bf16_isa(), Bf16Isa::Avx512Bf16);
        assert_eq!(
            full.with_bf16_isa(Bf16Isa::Portable).unwrap().bf16_isa(),
            Bf16Isa::Portable
        );
    } else {
        eprintln!("SKIP: avx512bf16 absent; its dispatch is not tested here");
    }
}
