//! A capped dispatch context caps every kernel: under a portable
//! `Dispatch`, GEMM (every layout, packed and in-place B, edge and tall
//! tiles, strided C, every epilogue), activations, samplers, reductions,
//! penalties and updates run, and the record of kernels that ran
//! (`dispatch::take_ran`) shows no AVX2 or AVX-512 kernel, packing
//! included. Under AVX-512 (and AVX2), where the CPU has it, the same calls
//! show that kernel family did run, so the check can fail. The default
//! entry points, which take no instruction set, stay at or below the
//! global context's (run this under `LATENT_ISA=portable` to check that the
//! variable caps them).
//!
//! The record is process-wide, so this file holds a single test: nothing
//! else in this binary runs kernels meanwhile.

use latent_kernels::activation::{
    BiasActivation, activate_on, activation_grad_on, bias_activation_on, exp_on, log_sigmoid_on,
    sigmoid_on, softplus_on, tanh_on,
};
use latent_kernels::dispatch::{Family, LoopOrder, PackB, take_ran};
use latent_kernels::gemm::{Accum, BiasAdd, Epilogue, MatMut, MatRef, NoEpilogue};
use latent_kernels::penalty::{
    ContractiveShape, Encoder, contractive_penalty_on, contractive_workspace_len, kl_sparsity_on,
    l1_penalty_on,
};
use latent_kernels::random::{
    Scale, Streams, bernoulli_on, gaussian_noise_on, gaussian_on, gaussian_reparam_on,
    mask_noise_on, salt_pepper_on, sigmoid_bernoulli_on, uniform_on,
};
use latent_kernels::reduce::{bce_logits_on, col_means_on, col_sums_on, kl_normal_on, sq_err_on};
use latent_kernels::update::{
    AdamRule, RankOne, RankOneAdd, SgdMomentum, SgdUpdate, adam_on, gemm_sgd_update_on,
    sgd_momentum_on,
};
use latent_kernels::{Activation, Dispatch, Isa, Par};
use latent_testkit::TestRng;

/// C as an `m x n` row- or column-major view.
fn c_view(c: &mut [f32], m: usize, n: usize, col_major: bool) -> MatMut<'_> {
    if col_major {
        MatMut::col_major(c, m, n).unwrap()
    } else {
        MatMut::row_major(c, m, n).unwrap()
    }
}

/// Products of every layout and shape class under `ctx`, with every
/// epilogue, on one and two threads.
fn run_gemms(ctx: &Dispatch, rng: &mut TestRng) {
    // (m, n, k): a short A (B read in place) with edge columns, a tall
    // block (B packed) with edge rows, a tall last tile, a deep k.
    for &(m, n, k) in &[(5, 37, 19), (70, 45, 33), (50, 64, 17), (14, 40, 600)] {
        let (a, b) = (rng.vec(m * k), rng.vec(k * n));
        for layout in 0..8 {
            let av = if layout & 1 == 0 {
                MatRef::row_major(&a, m, k).unwrap()
            } else {
                MatRef::row_major(&a, k, m).unwrap().t()
            };
            let bv = if layout & 2 == 0 {
                MatRef::row_major(&b, k, n).unwrap()
            } else {
                MatRef::row_major(&b, n, k).unwrap().t()
            };
            for par in [Par::Seq, Par::Rayon(2)] {
                with_every_epilogue(ctx, av, bv, layout & 4 != 0, par, rng);
            }
            let mut c = vec![0.0; m * n];
            let cv = c_view(&mut c, m, n, layout & 4 != 0);
            ctx.gemm_bf16(1.0, av, bv, Accum::Replace, cv, &NoEpilogue, Par::Rayon(2))
                .unwrap();
        }
    }
}

/// `C ← op(A)·op(B) (+ β·C)` and the epilogue, under `ctx`, C an
/// `m x n` view of `c` (column-major if `col_major`).
fn product<E: Epilogue>(
    ctx: &Dispatch,
    (av, bv): (MatRef<'_>, MatRef<'_>),
    accum: Accum,
    c: &mut [f32],
    col_major: bool,
    epi: &E,
    par: Par,
) {
    let view = c_view(c, av.rows(), bv.cols(), col_major);
    ctx.gemm(1.0, av, bv, accum, view, epi, par).unwrap();
}

/// `op(A)·op(B)` under `ctx` into a fresh C (column-major if `col_major`)
/// with each epilogue in turn.
fn with_every_epilogue(
    ctx: &Dispatch,
    av: MatRef<'_>,
    bv: MatRef<'_>,
    col_major: bool,
    par: Par,
    rng: &mut TestRng,
) {
    let (m, n) = (av.rows(), bv.cols());
    let (bias, rows_f, cols_f) = (rng.vec(n), rng.vec(m), rng.vec(n));
    let mut c = rng.vec(m * n);
    let ops = (av, bv);
    product(ctx, ops, Accum::ADD, &mut c, col_major, &NoEpilogue, par);
    let bias_add = BiasAdd::new(&bias);
    product(ctx, ops, Accum::Replace, &mut c, col_major, &bias_add, par);
    let act = BiasActivation::on(ctx.isa(), Some(&bias), Activation::Sigmoid).unwrap();
    let beta = Accum::Add { beta: 0.5 };
    product(ctx, ops, beta, &mut c, col_major, &act, par);
    let term = RankOne {
        rows: &rows_f,
        cols: &cols_f,
    };
    let r1 = RankOneAdd::on(ctx.isa(), term).unwrap();
    product(ctx, ops, Accum::Replace, &mut c, col_major, &r1, par);
    let old = rng.vec(m * n);
    let mut velocity = vec![0.0; m * n];
    let update = SgdUpdate {
        rule: SgdMomentum {
            momentum: 0.9,
            lr: 0.1,
            decay: 1e-4,
        },
        old: &old,
        velocity: &mut velocity,
        rank_one: Some(term),
    };
    gemm_sgd_update_on(
        ctx.isa(),
        1.0,
        av,
        bv,
        update,
        c_view(&mut c, m, n, col_major),
        par,
    )
    .unwrap();
}

/// Every element-wise kernel family on `isa`.
fn run_elementwise(isa: Isa, rng: &mut TestRng) {
    let (rows, cols) = (7, 45);
    let n = rows * cols;
    let x = rng.vec(n);
    let p: Vec<f32> = x.iter().map(|v| 0.5 + 0.4 * v).collect();
    let bias = rng.vec(cols);
    let mut y = vec![0.0; n];
    let mut z = vec![0.0; n];
    for f in [exp_on, sigmoid_on, tanh_on, softplus_on, log_sigmoid_on] {
        f(isa, &x, &mut y).unwrap();
    }
    for act in Activation::ALL {
        y.copy_from_slice(&x);
        activate_on(isa, act, &mut y, Par::Seq).unwrap();
        bias_activation_on(isa, act, Some(&bias), &mut y, rows, cols, Par::Rayon(2)).unwrap();
        let mut delta = x.clone();
        activation_grad_on(isa, act, &y, &mut delta, Par::Seq).unwrap();
    }
    // Samplers.
    let s = Streams::new(11);
    uniform_on(isa, s, &mut y, rows, cols, Par::Seq).unwrap();
    bernoulli_on(isa, s, &p, &mut y, rows, cols, Par::Rayon(2)).unwrap();
    let mut a = x.clone();
    sigmoid_bernoulli_on(isa, s, &mut a, Some(&bias), &mut y, rows, cols, Par::Seq).unwrap();
    mask_noise_on(isa, s, &x, &mut y, 0.3, rows, cols, Par::Seq).unwrap();
    salt_pepper_on(isa, s, &x, &mut y, 0.3, 0.0, 1.0, rows, cols, Par::Seq).unwrap();
    gaussian_on(isa, s, &x, Scale::Scalar(0.5), &mut y, rows, cols, Par::Seq).unwrap();
    gaussian_noise_on(isa, s, &x, &mut y, 0.5, rows, cols, Par::Seq).unwrap();
    gaussian_reparam_on(isa, s, &x, &p, &mut y, &mut z, rows, cols, Par::Seq).unwrap();
    // Reductions and losses.
    let mut out = vec![0.0; cols];
    col_sums_on(isa, &x, rows, cols, &mut out, Par::Seq).unwrap();
    col_means_on(isa, &x, rows, cols, &mut out, Par::Rayon(2)).unwrap();
    let mut grad = vec![0.0; n];
    let mut grad2 = vec![0.0; n];
    sq_err_on(isa, &x, &p, rows, cols, None, Some(&mut grad), 1.0).unwrap();
    bce_logits_on(isa, &x, &p, rows, cols, None, Some(&mut grad), 1.0).unwrap();
    kl_normal_on(
        isa,
        &x,
        &p,
        rows,
        cols,
        None,
        Some(&mut grad),
        Some(&mut grad2),
        1.0,
    )
    .unwrap();
    run_penalties(isa, rng);
    run_updates(isa, rng);
}

/// The penalties on `isa`.
fn run_penalties(isa: Isa, rng: &mut TestRng) {
    let (batch, visible, hidden) = (6, 20, 18);
    let h: Vec<f32> = rng
        .vec(batch * hidden)
        .iter()
        .map(|v| 0.5 + 0.4 * v)
        .collect();
    let mut grad = vec![0.0; batch * hidden];
    l1_penalty_on(isa, 0.1, &h, Some(&mut grad), 1.0).unwrap();
    let mut rho_hat = vec![0.0; hidden];
    kl_sparsity_on(
        isa,
        0.05,
        0.1,
        &h,
        batch,
        hidden,
        &mut rho_hat,
        Some(&mut grad),
        1.0,
        Par::Seq,
    )
    .unwrap();
    let (x, w) = (rng.vec(batch * visible), rng.vec(visible * hidden));
    let shape = ContractiveShape {
        batch,
        visible,
        hidden,
    };
    let (mut gw, mut gc) = (vec![0.0; visible * hidden], vec![0.0; hidden]);
    let mut work = vec![0.0; contractive_workspace_len(batch, hidden)];
    for enc in [Encoder::Sigmoid, Encoder::Relu] {
        contractive_penalty_on(
            isa,
            enc,
            shape,
            &x,
            &w,
            &h,
            Some(&mut gw),
            Some(&mut gc),
            1.0,
            &mut work,
            Par::Seq,
        )
        .unwrap();
    }
}

/// The optimiser updates on `isa`.
fn run_updates(isa: Isa, rng: &mut TestRng) {
    let n = 100;
    let (g, old) = (rng.vec(n), rng.vec(n));
    let (mut v, mut params) = (vec![0.0; n], vec![0.0; n]);
    let rule = SgdMomentum {
        momentum: 0.9,
        lr: 0.1,
        decay: 1e-4,
    };
    sgd_momentum_on(isa, rule, Some(&old), &g, &mut v, &mut params).unwrap();
    let (mut m, mut s) = (vec![0.0; n], vec![0.0; n]);
    let rule = AdamRule {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        lr: 1e-3,
        decay: 1e-4,
        c1: 0.1,
        c2: 0.001,
    };
    adam_on(isa, rule, Some(&old), &g, &mut m, &mut s, &mut params).unwrap();
}

/// Runs everything under `ctx` (and its variants of B packing and loop
/// order) and returns the record of what ran.
fn everything_under(ctx: Dispatch) -> latent_kernels::dispatch::Ran {
    let mut rng = TestRng::new(5);
    take_ran();
    for pack_b in [PackB::Auto, PackB::Always, PackB::Never] {
        for order in [
            LoopOrder::Auto,
            LoopOrder::APanelsOuter,
            LoopOrder::BPanelsOuter,
        ] {
            run_gemms(&ctx.with_pack_b(pack_b).with_order(order), &mut rng);
        }
    }
    run_elementwise(ctx.isa(), &mut rng);
    take_ran()
}

/// The default entry points (no instruction set given) under the global
/// context, e.g. capped by `LATENT_ISA`.
fn defaults_under_global() -> latent_kernels::dispatch::Ran {
    let mut rng = TestRng::new(6);
    let (m, n, k) = (70, 45, 33);
    let (a, b, bias) = (rng.vec(m * k), rng.vec(k * n), rng.vec(n));
    let (av, bv) = (
        MatRef::row_major(&a, k, m).unwrap().t(),
        MatRef::row_major(&b, n, k).unwrap().t(),
    );
    let mut c = vec![0.0; m * n];
    take_ran();
    let act = BiasActivation::new(&bias, Activation::Tanh);
    latent_kernels::gemm(
        1.0,
        av,
        bv,
        Accum::ADD,
        c_view(&mut c, m, n, false),
        &act,
        Par::All,
    )
    .unwrap();
    let term = RankOne {
        rows: &a[..m],
        cols: &bias,
    };
    let r1 = RankOneAdd::new(term);
    latent_kernels::gemm(
        1.0,
        av,
        bv,
        Accum::ADD,
        c_view(&mut c, m, n, true),
        &r1,
        Par::Seq,
    )
    .unwrap();
    let old = rng.vec(m * n);
    let mut velocity = vec![0.0; m * n];
    let update = SgdUpdate {
        rule: SgdMomentum {
            momentum: 0.9,
            lr: 0.1,
            decay: 1e-4,
        },
        old: &old,
        velocity: &mut velocity,
        rank_one: None,
    };
    let out = c_view(&mut c, m, n, false);
    latent_kernels::update::gemm_sgd_update(1.0, av, bv, update, out, Par::All).unwrap();
    let out = c_view(&mut c, m, n, false);
    let bias_add = BiasAdd::new(&bias);
    latent_kernels::gemm::gemm_bf16(1.0, av, bv, Accum::ADD, out, &bias_add, Par::All).unwrap();
    latent_kernels::activation::activate(Activation::Sigmoid, &mut c, Par::All);
    take_ran()
}

#[test]
fn a_capped_context_reaches_no_kernel_above_its_instruction_set() {
    let global = Dispatch::global().isa();
    let ran = defaults_under_global();
    assert!(ran.contains(Family::Gemm, global));
    assert!(ran.contains(Family::Elementwise, global));
    for family in Family::ALL {
        for isa in Isa::ALL.into_iter().filter(|&isa| isa > global) {
            assert!(
                !ran.contains(family, isa),
                "{family:?} kernels ran on {isa} under the global context ({global})"
            );
        }
    }

    let portable = Dispatch::new(Isa::Portable).unwrap();
    let ran = everything_under(portable);
    for family in Family::ALL {
        for isa in [Isa::Avx2, Isa::Avx512] {
            assert!(
                !ran.contains(family, isa),
                "{family:?} kernels ran on {isa} under a portable context"
            );
        }
    }
    assert!(ran.contains(Family::Gemm, Isa::Portable));
    assert!(ran.contains(Family::Elementwise, Isa::Portable));
    assert!(ran.contains(Family::GemmBf16, Isa::Portable));

    for isa in [Isa::Avx2, Isa::Avx512] {
        let Ok(ctx) = Dispatch::new(isa) else {
            eprintln!("SKIP: {isa} not supported by this CPU; its record is not checked");
            continue;
        };
        let ran = everything_under(ctx);
        assert!(ran.contains(Family::Gemm, isa), "no {isa} GEMM kernel ran");
        assert!(
            ran.contains(Family::Elementwise, isa),
            "no {isa} element-wise kernel ran"
        );
        assert!(
            ran.contains(Family::Pack, Isa::Avx2),
            "no AVX2 packing ran under {isa}"
        );
        // The bf16 GEMM is portable below avx512bf16 (and on a CPU
        // without it): the one family that may run portable here.
        let bf16 = ctx.bf16_isa().base();
        assert!(
            ran.contains(Family::GemmBf16, bf16),
            "no {bf16} bf16 GEMM ran under {isa}"
        );
        for family in Family::ALL.into_iter().filter(|&f| f != Family::GemmBf16) {
            assert!(
                !ran.contains(family, Isa::Portable),
                "a portable {family:?} kernel ran under {isa}"
            );
        }
        if isa == Isa::Avx2 {
            assert!(!ran.any_on(Isa::Avx512), "an AVX-512 kernel ran under avx2");
        }
    }
}
