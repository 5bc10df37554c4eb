//! RBMs and DBNs with bf16 products: inference (Bernoulli, and Gaussian
//! with learned σ) against an f64 reference of the bf16-rounded operands,
//! a training step that must read the weights
//! packed after the last update, packed and unpacked products that agree
//! bit for bit, and bf16 training that gives the same bits on any thread
//! count.

#![allow(clippy::needless_range_loop)] // index loops mirror the formulas

use latent_testkit as common;

use super::reference::*;
use common::{TestRng, sigmoid64, softplus64};
use latent_engine::Matrix;
use latent_engine::train::Model;
use latent_kernels::activation::{Activation, BiasActivation};
use latent_kernels::bf16::{bf16_to_f32, f32_to_bf16};
use latent_kernels::gemm::{Accum, BiasAdd, MatMut, MatRef, Operand, pack_bf16_b, product};
use latent_kernels::random::{Streams, bernoulli, sigmoid_bernoulli};
use latent_kernels::reduce::sq_err;
use latent_kernels::{Par, Precision};
use latent_models::dbn::Dbn;
use latent_models::rbm::{Rbm, RbmConfig, Sparsity, VisibleUnits};

/// The unit roundoff of f32 accumulation.
const U: f64 = 1.0 / (1u64 << 24) as f64;
/// What an f32 activation (sigmoid, softplus) may add, absolute, beyond
/// the rounding of its input: a few ulps of 1.
const ACT_ERR: f64 = 1.0 / (1u64 << 20) as f64;

/// `x` rounded to bf16 (nearest even), in f64.
fn r(x: f32) -> f64 {
    bf16_to_f32(f32_to_bf16(x)) as f64
}

/// Binary rows (exact in bf16) with `P(1) = 0.4`.
fn binary(rows: usize, cols: usize, seed: u64) -> Matrix {
    let mut rng = TestRng::new(seed);
    Matrix::from_fn(rows, cols, |_, _| {
        (rng.uniform(0.0, 1.0) < 0.4) as u8 as f32
    })
    .unwrap()
}

/// `a·W` for row `a` (f32, rounded to bf16 here) and column `j` of `w`
/// (`k x n`), in f64 from the bf16-rounded operands, and the bound the
/// bf16 GEMM documents for it: `k·u·Σ |a_p|·|w_pj|`.
fn dot_rounded(a: &[f32], w: &[f32], n: usize, j: usize) -> (f64, f64) {
    let (mut dot, mut abs) = (0.0, 0.0);
    for (p, &ap) in a.iter().enumerate() {
        let t = r(ap) * r(w[p * n + j]);
        dot += t;
        abs += t.abs();
    }
    (dot, a.len() as f64 * U * abs)
}

/// Asserts `|got − want| ≤ tol` and returns whether the f32 model's value
/// `f32_value` is outside the same bound (the reference tells the
/// precisions apart).
fn check(what: &str, got: f32, f32_value: f32, want: f64, tol: f64) -> bool {
    let err = (got as f64 - want).abs();
    assert!(
        err <= tol,
        "{what}: bf16 {got} vs reference {want} (error {err:e} > bound {tol:e})"
    );
    (f32_value as f64 - want).abs() > tol
}

/// Features `σ(xW + c)`, reconstructions `σ(p Wᵀ + b)` of the bf16
/// features `p`, and free energies `−b·x − Σ softplus(xW + c)` of a
/// Bernoulli RBM in bf16, each against f64 sums of the bf16-rounded
/// operands. Bound per element: the GEMM's `k·u·Σ|a||w|`, the rounding of
/// the bias add `u·|z|`, and [`ACT_ERR`] for the activation; summed over
/// the hidden units for a free energy (plus its f32 rounding). The f32
/// model must fall outside these bounds somewhere (so they test the
/// rounding).
#[test]
fn bf16_inference_matches_an_f64_reference_of_the_rounded_operands() {
    let (nv, nh, rows) = (37, 29, 23);
    let mut rbm = structured_rbm(nv, nh, 3);
    let x = binary(rows, nv, 4);
    let f32_rbm = with_config(&rbm, *rbm.config());
    rbm.set_precision(Precision::Bf16);
    let (w, b, c) = (
        rbm.weights().as_slice(),
        rbm.visible_bias(),
        rbm.hidden_bias(),
    );
    let wt: Vec<f32> = (0..nh * nv).map(|i| w[(i % nv) * nh + i / nv]).collect();
    let run = |rbm: &Rbm| {
        let mut p = Matrix::zeros(rows, nh).unwrap();
        rbm.transform(x.view(), p.view_mut(), Par::Seq).unwrap();
        let mut recon = Matrix::zeros(rows, nv).unwrap();
        rbm.reconstruct(x.view(), recon.view_mut(), Par::Seq)
            .unwrap();
        let mut energy = vec![0.0f32; rows];
        rbm.free_energy(x.view(), &mut energy, Par::Seq).unwrap();
        (p, recon, energy)
    };
    let (p, recon, energy) = run(&rbm);
    let (p32, recon32, energy32) = run(&f32_rbm);
    let mut distinguished = [false; 3];
    for i in 0..rows {
        let mut softplus_sum = 0.0;
        let mut energy_tol = 0.0;
        for j in 0..nh {
            let (dot, tol) = dot_rounded(x.row(i), w, nh, j);
            let z = dot + c[j] as f64;
            let tol = tol + U * z.abs() + ACT_ERR;
            let (got, old) = (p.row(i)[j], p32.row(i)[j]);
            distinguished[0] |= check("feature", got, old, sigmoid64(z), tol);
            softplus_sum += softplus64(z);
            energy_tol += tol * (1.0 + z.abs());
        }
        for k in 0..nv {
            // The reconstruction's input is the bf16 model's own features.
            let (dot, tol) = dot_rounded(p.row(i), &wt, nv, k);
            let z = dot + b[k] as f64;
            let tol = tol + U * z.abs() + ACT_ERR;
            let (got, old) = (recon.row(i)[k], recon32.row(i)[k]);
            distinguished[1] |= check("reconstruction", got, old, sigmoid64(z), tol);
        }
        let visible: f64 = x
            .row(i)
            .iter()
            .zip(b)
            .map(|(&v, &bk)| v as f64 * bk as f64)
            .sum();
        let want = -visible - softplus_sum;
        let tol = energy_tol + U * want.abs();
        distinguished[2] |= check("free energy", energy[i], energy32[i], want, tol);
    }
    assert_eq!(
        distinguished, [true; 3],
        "the f32 model is within the bf16 bounds everywhere: the test cannot tell them apart"
    );
}

/// A Gaussian RBM with learned σ in bf16: features `σ(c + (x/σ)W)` (the
/// scaled data rounded to bf16) and reconstructions `b + σ ⊙ (pWᵀ)` of its
/// features `p`, against f64 sums of the rounded operands. Bounds as for
/// the Bernoulli RBM; the reconstructions' is the GEMM's times `σ` plus the
/// rounding of `b + σ·v`. The f32 model must fall outside them somewhere.
#[test]
fn bf16_learned_sigma_inference_matches_an_f64_reference_of_the_rounded_operands() {
    let (nv, nh, rows) = (31, 26, 17);
    let base = structured_rbm(nv, nh, 14);
    let config = RbmConfig {
        learn_sigma: true,
        ..RbmConfig::gaussian(nv, nh)
    };
    // σ away from 1 (and unequal), so that a missed scaling shows.
    let with_sigma = || {
        let mut rbm = with_config(&base, config);
        let log_sigma = rbm.params_mut().value_mut(latent_models::rbm::LOG_SIGMA);
        for (k, z) in log_sigma.as_mut_slice().iter_mut().enumerate() {
            *z = 0.1 * (k % 9) as f32 - 0.4;
        }
        rbm
    };
    let (mut rbm, f32_rbm) = (with_sigma(), with_sigma());
    rbm.set_precision(Precision::Bf16);
    let mut rng = TestRng::new(15);
    let x = Matrix::from_fn(rows, nv, |_, _| rng.uniform(-2.0, 2.0)).unwrap();
    let (w, b, c, sigma) = (
        rbm.weights().as_slice(),
        rbm.visible_bias(),
        rbm.hidden_bias(),
        rbm.sigma(),
    );
    let wt: Vec<f32> = (0..nh * nv).map(|i| w[(i % nv) * nh + i / nv]).collect();
    let run = |rbm: &Rbm| {
        let mut p = Matrix::zeros(rows, nh).unwrap();
        rbm.transform(x.view(), p.view_mut(), Par::Seq).unwrap();
        let mut recon = Matrix::zeros(rows, nv).unwrap();
        rbm.reconstruct(x.view(), recon.view_mut(), Par::Seq)
            .unwrap();
        (p, recon)
    };
    let ((p, recon), (p32, recon32)) = (run(&rbm), run(&f32_rbm));
    let mut distinguished = [false; 2];
    for i in 0..rows {
        let scaled: Vec<f32> = x
            .row(i)
            .iter()
            .zip(&sigma)
            .map(|(&v, &sd)| v / sd)
            .collect();
        for j in 0..nh {
            let (dot, tol) = dot_rounded(&scaled, w, nh, j);
            let z = dot + c[j] as f64;
            let tol = tol + U * z.abs() + ACT_ERR;
            let (got, old) = (p.row(i)[j], p32.row(i)[j]);
            distinguished[0] |= check("feature", got, old, sigmoid64(z), tol);
        }
        for k in 0..nv {
            let (dot, tol) = dot_rounded(p.row(i), &wt, nv, k);
            let sd = sigma[k] as f64;
            let want = b[k] as f64 + sd * dot;
            let tol = sd * tol + U * (want.abs() + 2.0 * (sd * dot).abs());
            let (got, old) = (recon.row(i)[k], recon32.row(i)[k]);
            distinguished[1] |= check("reconstruction", got, old, want, tol);
        }
    }
    assert_eq!(
        distinguished, [true; 2],
        "the f32 model is within the bf16 bounds everywhere: the test cannot tell them apart"
    );
}

/// `rbm`'s CD-1 reconstruction error on `x` (one block, one thread) made
/// by hand from the kernels, with the products' right operands `w` (for
/// `x·W`) and `wt` (for `h·Wᵀ`) as given: the training step's first
/// products, its hidden sample and its loss.
fn hand_cd1_loss(rbm: &Rbm, x: &Matrix, seed: u64, w: Operand<'_>, wt: Operand<'_>) -> f64 {
    let (rows, nv, nh) = (x.rows(), x.cols(), rbm.config().n_hidden);
    let (mut p, mut h) = (vec![0.0f32; rows * nh], vec![0.0f32; rows * nh]);
    let pv = MatMut::row_major(&mut p, rows, nh).unwrap();
    let up = BiasAdd::new(rbm.hidden_bias());
    product(1.0, x.view(), w, Accum::Replace, pv, &up, Par::Seq).unwrap();
    let streams = Streams::new(seed).rows_from(0);
    sigmoid_bernoulli(streams, &mut p, None, &mut h, rows, nh, Par::Seq).unwrap();
    let mut means = vec![0.0f32; rows * nv];
    let hv = MatRef::row_major(&h, rows, nh).unwrap();
    let mv = MatMut::row_major(&mut means, rows, nv).unwrap();
    let down = BiasActivation::new(rbm.visible_bias(), Activation::Sigmoid);
    product(1.0, hv, wt, Accum::Replace, mv, &down, Par::Seq).unwrap();
    let mut per_row = vec![0.0f32; rows];
    sq_err(
        &means,
        x.as_slice(),
        rows,
        nv,
        Some(&mut per_row),
        None,
        0.0,
    )
    .unwrap();
    let total: f64 = per_row.iter().map(|&e| e as f64).sum();
    total * (1.0 / rows as f32) as f64
}

/// Two bf16 CD-1 steps with an update of `W` between them: the second
/// step's loss is the one made by hand from `W` packed after the update
/// (and, the same bits, from `W` rounded by the products themselves), not
/// the one from the stale packing; its gradient is a fresh model's on the
/// updated parameters. A model that kept the first step's packing fails.
#[test]
fn a_bf16_step_reads_the_weights_packed_after_the_last_update() {
    let (nv, nh, rows) = (40, 24, 30);
    let (x1, x2) = (binary(rows, nv, 5), binary(rows, nv, 6));
    let config = RbmConfig::bernoulli(nv, nh);
    let mut rbm = Rbm::new(config, 7).unwrap();
    rbm.set_precision(Precision::Bf16);
    let mut grads = zero_grads(&rbm);
    let loss1 = rbm.cd_gradient(x1.view(), &mut grads, 1, Par::Seq).unwrap();
    let old_w = rbm.weights().clone();
    let old_packed = (pack_bf16_b(old_w.view()), pack_bf16_b(old_w.view().t()));
    let stale = |rbm: &Rbm, x: &Matrix, seed| {
        let (w, wt) = (&old_packed.0, &old_packed.1);
        hand_cd1_loss(rbm, x, seed, Operand::Packed(w), Operand::Packed(wt))
    };
    assert_eq!(loss1.to_bits(), stale(&rbm, &x1, 1).to_bits(), "step 1");
    // A step large enough to change the bf16 rounding of W.
    let grad_w = grads.value(latent_models::rbm::W).as_slice().to_vec();
    let w = rbm.params_mut().value_mut(latent_models::rbm::W);
    for (w, g) in w.as_mut_slice().iter_mut().zip(&grad_w) {
        *w -= g;
    }
    let loss2 = rbm.cd_gradient(x2.view(), &mut grads, 2, Par::Seq).unwrap();
    let new_w = rbm.weights().view();
    let packed = (pack_bf16_b(new_w), pack_bf16_b(new_w.t()));
    let by_packing = hand_cd1_loss(
        &rbm,
        &x2,
        2,
        Operand::Packed(&packed.0),
        Operand::Packed(&packed.1),
    );
    let by_rounding = hand_cd1_loss(&rbm, &x2, 2, Operand::Bf16(new_w), Operand::Bf16(new_w.t()));
    assert_eq!(
        by_packing.to_bits(),
        by_rounding.to_bits(),
        "packed vs unpacked"
    );
    assert_eq!(
        loss2.to_bits(),
        by_packing.to_bits(),
        "step 2 vs hand-packed W"
    );
    assert_ne!(
        loss2.to_bits(),
        stale(&rbm, &x2, 2).to_bits(),
        "the stale packing gives the same loss: the test cannot fail"
    );
    let f32_loss = hand_cd1_loss(&rbm, &x2, 2, Operand::F32(new_w), Operand::F32(new_w.t()));
    assert_ne!(loss2.to_bits(), f32_loss.to_bits(), "step 2 ran in f32");
    let mut fresh = with_config(&rbm, config);
    fresh.set_precision(Precision::Bf16);
    let mut want = zero_grads(&fresh);
    fresh
        .cd_gradient(x2.view(), &mut want, 2, Par::Seq)
        .unwrap();
    let bits =
        |g: &latent_engine::ParamSet| flat(g).iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert!(
        bits(&grads) == bits(&want),
        "step 2's gradient vs a fresh model's"
    );
}

/// Gibbs sampling packs `W` and `Wᵀ` once per call; one step of it equals
/// the step made by hand from products that round `W` themselves, and
/// from the RBM's own (unpacked) visible means.
#[test]
fn packed_gibbs_steps_match_unpacked_bf16_products() {
    let (nv, nh, rows) = (33, 45, 20);
    let mut rbm = structured_rbm(nv, nh, 8);
    rbm.set_precision(Precision::Bf16);
    let v0 = binary(rows, nv, 9);
    let mut gibbs = v0.clone();
    let streams = Streams::new(12);
    rbm.gibbs(&mut gibbs, 1, streams, Par::Seq).unwrap();
    let (mut p, mut h) = (vec![0.0f32; rows * nh], vec![0.0f32; rows * nh]);
    let w = Operand::Bf16(rbm.weights().view());
    let pv = MatMut::row_major(&mut p, rows, nh).unwrap();
    let up = BiasAdd::new(rbm.hidden_bias());
    product(1.0, v0.view(), w, Accum::Replace, pv, &up, Par::Seq).unwrap();
    sigmoid_bernoulli(streams, &mut p, None, &mut h, rows, nh, Par::Seq).unwrap();
    let mut means = Matrix::zeros(rows, nv).unwrap();
    let hv = MatRef::row_major(&h, rows, nh).unwrap();
    rbm.visible_means(hv, means.view_mut(), Par::Seq).unwrap();
    let mut want = vec![0.0f32; rows * nv];
    bernoulli(
        streams.next_step(),
        means.as_slice(),
        &mut want,
        rows,
        nv,
        Par::Seq,
    )
    .unwrap();
    assert_eq!(common::f32_bits(gibbs.as_slice()), common::f32_bits(&want));
}

/// The parameters (and PCD chains) after two bf16 epochs, as bits.
fn bf16_run_bits(config: RbmConfig, x: &Matrix, threads: usize, precision: Precision) -> Vec<u32> {
    let mut rbm = Rbm::new(config, 4).unwrap();
    rbm.set_precision(precision);
    let lr = if config.visible == VisibleUnits::Gaussian {
        0.01
    } else {
        0.1
    };
    let rbm = train(rbm, x, 2, 100, lr, 7, threads);
    assert_eq!(rbm.precision(), precision);
    let mut bits = common::engine::bits(rbm.params());
    if let Some(chains) = rbm.chains() {
        bits.extend(common::f32_bits(chains.as_slice()));
    }
    bits
}

/// bf16 training (the fused update, CD-2, PCD, learned σ, sparsity) gives
/// the same bits on 1, 2 and 3 threads, and on 8 (more threads than the
/// batch's 4 chain blocks: the rest split the blocks' bf16 products), and
/// not the f32 run's.
#[test]
fn bf16_training_is_bit_identical_across_thread_counts() {
    let binary_x = binary(300, 64, 10);
    let mut rng = TestRng::new(11);
    let real = Matrix::from_fn(300, 64, |_, _| rng.uniform(-1.5, 1.5)).unwrap();
    let sparse = Sparsity {
        target: 0.1,
        cost: 0.05,
        decay: 0.9,
    };
    let base = RbmConfig::bernoulli(64, 150);
    let configs = [
        (RbmConfig { cd_k: 2, ..base }, &binary_x),
        (
            RbmConfig {
                persistent: true,
                cd_k: 2,
                ..base
            },
            &binary_x,
        ),
        (
            RbmConfig {
                sparsity: Some(sparse),
                ..base
            },
            &binary_x,
        ),
        (
            RbmConfig {
                learn_sigma: true,
                ..RbmConfig::gaussian(64, 150)
            },
            &real,
        ),
    ];
    for (config, x) in configs {
        let one = bf16_run_bits(config, x, 1, Precision::Bf16);
        for threads in [2, 3, 8] {
            let many = bf16_run_bits(config, x, threads, Precision::Bf16);
            assert!(one == many, "{config:?}: {threads} threads differ from 1");
        }
        let f32_bits = bf16_run_bits(config, x, 1, Precision::F32);
        assert!(
            one != f32_bits,
            "{config:?}: bf16 training gave the f32 bits"
        );
    }
}

/// A DBN in bf16: every layer trains and infers in bf16; its up-pass is
/// its bf16 layers' transforms chained, close to but not the f32 net's.
#[test]
fn a_bf16_dbn_runs_every_layer_in_bf16() {
    let x = binary(200, 20, 13);
    let mut dbn = Dbn::new(&[20, 16, 12], VisibleUnits::Bernoulli, 3).unwrap();
    dbn.set_precision(Precision::Bf16);
    let data = latent_engine::Dataset::new(x.clone(), None).unwrap();
    let config = |rbm: &RbmConfig| {
        let mut tc = latent_engine::train::TrainConfig::new(rbm.default_optimizer());
        tc.epochs = 2;
        tc.batch_size = 50;
        tc.threads = latent_engine::train::Threads::Count(2);
        tc
    };
    dbn.pretrain(
        &data,
        |_, rbm| config(rbm),
        latent_models::dbn::Propagate::Probabilities,
        &mut latent_engine::train::Silent,
    )
    .unwrap();
    assert!(
        dbn.layers()
            .iter()
            .all(|l| l.precision() == Precision::Bf16)
    );
    let top = dbn.transform(&x, Par::Seq).unwrap();
    let mut h1 = Matrix::zeros(200, 16).unwrap();
    dbn.layers()[0]
        .transform(x.view(), h1.view_mut(), Par::Seq)
        .unwrap();
    let mut want = Matrix::zeros(200, 12).unwrap();
    dbn.layers()[1]
        .transform(h1.view(), want.view_mut(), Par::Seq)
        .unwrap();
    assert_eq!(
        common::f32_bits(top.as_slice()),
        common::f32_bits(want.as_slice())
    );
    dbn.set_precision(Precision::F32);
    let top32 = dbn.transform(&x, Par::Seq).unwrap();
    let max_diff = top
        .as_slice()
        .iter()
        .zip(top32.as_slice())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        max_diff > 0.0 && max_diff < 0.02,
        "bf16 vs f32 up-pass: largest difference {max_diff}"
    );
}
