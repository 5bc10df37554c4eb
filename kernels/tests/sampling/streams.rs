//! The random streams: the vector generator against the scalar xoshiro128+
//! lanes, streams that differ by seed, step and row, bit-identical samples
//! for 1, 2 and 4 threads and across instruction sets, uncorrelated first
//! draws of consecutive rows and steps, and blocks of rows sampled alone.

use super::*;

#[test]
fn vector_lanes_are_the_scalar_xoshiro128plus_lanes() {
    let st = Streams::new(42).at_step(7);
    let (rows, cols) = (5, 53);
    for isa in present_isas() {
        let mut out = vec![f32::NAN; rows * cols];
        uniform_on(isa, st, &mut out, rows, cols, Par::Seq).unwrap();
        for r in 0..rows {
            let mut lanes: Vec<_> = (0..16).map(|l| st.lane(r as u64, l)).collect();
            for j in 0..cols {
                let want = lanes[j % 16].next_uniform();
                assert_eq!(
                    out[r * cols + j].to_bits(),
                    want.to_bits(),
                    "{isa} ({r},{j})"
                );
            }
        }
    }
}

#[test]
fn streams_differ_by_seed_step_and_row() {
    let a = Streams::new(1);
    let keys = [
        a.row_key(0),
        a.row_key(1),
        a.at_step(1).row_key(0),
        Streams::new(2).row_key(0),
        a.next_step().row_key(1),
    ];
    for i in 0..keys.len() {
        for j in 0..i {
            assert_ne!(keys[i], keys[j], "{i} {j}");
        }
    }
    let mut x = vec![0.0f32; 64];
    let mut y = vec![0.0f32; 64];
    uniform_on(Isa::Portable, a, &mut x, 2, 32, Par::Seq).unwrap();
    uniform_on(Isa::Portable, a.next_step(), &mut y, 2, 32, Par::Seq).unwrap();
    assert_ne!(f32_bits(&x), f32_bits(&y));
    assert_ne!(f32_bits(&x[..32]), f32_bits(&x[32..]));
}

#[test]
fn samples_are_bit_identical_for_1_2_and_4_threads_and_across_isas() {
    // 300 rows x 500: well above the threshold, so 2 and 4 tasks really run.
    let (rows, cols) = (300, 500);
    let mut rng = TestRng::new(3);
    let p: Vec<f32> = (0..rows * cols).map(|_| rng.uniform(0.0, 1.0)).collect();
    let x = rng.vec(rows * cols);
    let c = rng.vec(cols);
    let st = Streams::new(2024).at_step(9);
    let mut firsts: Vec<Vec<Vec<f32>>> = Vec::new();
    for isa in present_isas() {
        let mut per_kernel = Vec::new();
        per_kernel.push(same_for_every_thread_count(|par| {
            let mut o = vec![0.0; rows * cols];
            uniform_on(isa, st, &mut o, rows, cols, par).unwrap();
            o
        }));
        per_kernel.push(same_for_every_thread_count(|par| {
            let mut o = vec![0.0; rows * cols];
            bernoulli_on(isa, st, &p, &mut o, rows, cols, par).unwrap();
            o
        }));
        per_kernel.push(same_for_every_thread_count(|par| {
            let mut a = x.clone();
            let mut s = vec![0.0; rows * cols];
            sigmoid_bernoulli_on(isa, st, &mut a, Some(&c), &mut s, rows, cols, par).unwrap();
            a.extend(s);
            a
        }));
        per_kernel.push(same_for_every_thread_count(|par| {
            let mut o = vec![0.0; rows * cols];
            mask_noise_on(isa, st, &x, &mut o, 0.3, rows, cols, par).unwrap();
            o
        }));
        per_kernel.push(same_for_every_thread_count(|par| {
            let mut o = vec![0.0; rows * cols];
            salt_pepper_on(isa, st, &x, &mut o, 0.3, 0.0, 1.0, rows, cols, par).unwrap();
            o
        }));
        same_for_every_thread_count(|par| {
            let mut o = vec![0.0; rows * cols];
            gaussian_on(
                isa,
                st,
                &x,
                Scale::PerColumn(&p[..cols]),
                &mut o,
                rows,
                cols,
                par,
            )
            .unwrap();
            o
        });
        same_for_every_thread_count(|par| {
            let mut z = vec![0.0; rows * cols];
            let mut e = vec![0.0; rows * cols];
            gaussian_reparam_on(isa, st, &x, &p, &mut z, &mut e, rows, cols, par).unwrap();
            z.extend(e);
            z
        });
        firsts.push(per_kernel);
    }
    // Uniform-based samplers use no rounding-sensitive arithmetic except
    // the sigmoid, which is bit-identical on the FMA paths; uniforms,
    // Bernoulli and noise must match on every instruction set.
    for other in &firsts[1..] {
        for k in [0, 1, 3, 4] {
            assert_eq!(
                f32_bits(&firsts[0][k]),
                f32_bits(&other[k]),
                "kernel {k} differs across ISAs"
            );
        }
    }
}

#[test]
fn first_draws_of_consecutive_rows_and_steps_are_uniform_and_uncorrelated() {
    // Seeding quality: every row's generator starts from a hashed state, so
    // the very first draws of 65536 consecutive rows (at two consecutive
    // steps) must look like independent uniforms.
    let (rows, cols) = (65_536, 16);
    let n = rows * cols;
    for isa in present_isas() {
        let mut a = vec![0.0f32; n];
        let mut b = vec![0.0f32; n];
        uniform_on(isa, Streams::new(5), &mut a, rows, cols, Par::Seq).unwrap();
        uniform_on(
            isa,
            Streams::new(5).next_step(),
            &mut b,
            rows,
            cols,
            Par::Seq,
        )
        .unwrap();
        const BINS: usize = 256;
        let mut counts = [0usize; BINS];
        for &v in &a {
            counts[(v * BINS as f32) as usize] += 1;
        }
        let e = n as f64 / BINS as f64;
        let chi2: f64 = counts.iter().map(|&c| (c as f64 - e).powi(2) / e).sum();
        assert!(
            (chi2 - 255.0).abs() < 6.0 * 22.6,
            "{isa}: first draws chi2 = {chi2}"
        );
        let corr = |x: &[f32], y: &[f32]| {
            let s: f64 = x
                .iter()
                .zip(y)
                .map(|(&p, &q)| (p as f64 - 0.5) * (q as f64 - 0.5))
                .sum();
            s / x.len() as f64 * 12.0
        };
        let bound = 5.0 / (n as f64).sqrt();
        assert!(
            corr(&a, &b).abs() < bound,
            "{isa}: step-to-step correlation"
        );
        assert!(
            corr(&a[..n - cols], &a[cols..]).abs() < bound,
            "{isa}: row-to-row correlation"
        );
    }
}

#[test]
fn a_block_of_rows_sampled_on_its_own_equals_those_rows_of_the_whole() {
    // Streams::rows_from lets a caller sample row blocks separately (for
    // example one block per thread) and get exactly the whole-matrix draws.
    let (rows, cols) = (37, 53);
    let mut rng = TestRng::new(9);
    let p: Vec<f32> = (0..rows * cols).map(|_| rng.uniform(0.0, 1.0)).collect();
    let streams = Streams::new(4).at_step(7);
    let mut whole = vec![0.0f32; rows * cols];
    latent_kernels::random::bernoulli(streams, &p, &mut whole, rows, cols, Par::Seq).unwrap();
    let mut gauss_whole = vec![0.0f32; rows * cols];
    latent_kernels::random::gaussian(
        streams,
        &p,
        latent_kernels::random::Scale::Scalar(0.5),
        &mut gauss_whole,
        rows,
        cols,
        Par::Seq,
    )
    .unwrap();
    for (r0, r1) in [(0, 10), (10, 11), (11, 37)] {
        let n = r1 - r0;
        let block_p = &p[r0 * cols..r1 * cols];
        let mut block = vec![0.0f32; n * cols];
        latent_kernels::random::bernoulli(
            streams.rows_from(r0 as u64),
            block_p,
            &mut block,
            n,
            cols,
            Par::Seq,
        )
        .unwrap();
        assert_eq!(
            f32_bits(&block),
            f32_bits(&whole[r0 * cols..r1 * cols]),
            "bernoulli rows {r0}..{r1}"
        );
        let mut g = vec![0.0f32; n * cols];
        latent_kernels::random::gaussian(
            streams.rows_from(r0 as u64),
            block_p,
            latent_kernels::random::Scale::Scalar(0.5),
            &mut g,
            n,
            cols,
            Par::Seq,
        )
        .unwrap();
        assert_eq!(
            f32_bits(&g),
            f32_bits(&gauss_whole[r0 * cols..r1 * cols]),
            "gaussian rows {r0}..{r1}"
        );
    }
    // And without the offset the block draws differ (the offset matters).
    let mut unshifted = vec![0.0f32; 27 * cols];
    latent_kernels::random::bernoulli(streams, &p[10 * cols..], &mut unshifted, 27, cols, Par::Seq)
        .unwrap();
    assert_ne!(f32_bits(&unshifted), f32_bits(&whole[10 * cols..]));
}
