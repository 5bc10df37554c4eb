//! The element-wise kernels never allocate: a counting global allocator
//! (this test binary only, counting the current thread's allocations) sees
//! no allocation while every activation, sampler, reduction, loss and
//! penalty runs on one thread, on every instruction set this CPU has. The
//! fused epilogue and the contractive penalty run inside or around SGEMM,
//! whose own allocations (packing buffers on first use, and whatever else
//! it does) are not theirs: they must allocate exactly as often as the bare
//! product. Every call runs once before counting starts.

use latent_kernels::activation::{
    Activation, BiasActivation, activate_on, activation_grad_on, bias_activation_on, sigmoid_on,
    softplus_on,
};
use latent_kernels::gemm::{Accum, MatMut, MatRef, NoEpilogue, gemm_on};
use latent_kernels::penalty::{
    ContractiveShape, Encoder, contractive_penalty_on, contractive_workspace_len, kl_sparsity_on,
    l1_penalty_on,
};
use latent_kernels::random::{
    Scale, Streams, bernoulli_on, gaussian_on, gaussian_reparam_on, mask_noise_on, salt_pepper_on,
    sigmoid_bernoulli_on, uniform_on,
};
use latent_kernels::reduce::{bce_logits_on, col_means_on, col_sums_on, kl_normal_on, sq_err_on};
use latent_kernels::{Isa, Par};
use latent_testkit::alloc_count::{CountingAllocator, allocations_on_this_thread};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocs() -> usize {
    allocations_on_this_thread()
}

fn vals(n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n)
        .map(|i| lo + (hi - lo) * ((i * 7919 % 1000) as f32 / 1000.0))
        .collect()
}

#[test]
fn kernels_allocate_nothing() {
    let (b, v, h) = (9, 37, 21);
    let x = vals(b * v, -1.0, 1.0);
    let x01 = vals(b * v, 0.0, 1.0);
    let w = vals(v * h, -0.3, 0.3);
    let c = vals(h, -0.5, 0.5);
    let code = vals(b * h, 0.05, 0.95);
    let mut o1 = vec![0.0f32; b * v];
    let mut o2 = vec![0.0f32; b * v];
    let mut hb = vec![0.0f32; b * h];
    let mut hs = vec![0.0f32; b * h];
    let mut col = vec![0.0f32; v];
    let mut rows = vec![0.0f32; b];
    let mut gw = vec![0.0f32; v * h];
    let mut gc = vec![0.0f32; h];
    let mut qh = vec![0.0f32; h];
    let mut work = vec![0.0f32; contractive_workspace_len(b, h)];
    let shape = ContractiveShape {
        batch: b,
        visible: v,
        hidden: h,
    };
    let st = Streams::new(1);
    let seq = Par::Seq;
    for isa in Isa::ALL.into_iter().filter(|i| i.is_available()) {
        let mut run = || {
            sigmoid_on(isa, &x, &mut o1).unwrap();
            softplus_on(isa, &x, &mut o1).unwrap();
            activate_on(isa, Activation::Tanh, &mut o1, seq).unwrap();
            activation_grad_on(isa, Activation::Softplus, &x01, &mut o1, seq).unwrap();
            bias_activation_on(isa, Activation::Sigmoid, Some(&c), &mut hb, b, h, seq).unwrap();
            uniform_on(isa, st, &mut o1, b, v, seq).unwrap();
            bernoulli_on(isa, st, &x01, &mut o1, b, v, seq).unwrap();
            sigmoid_bernoulli_on(isa, st, &mut hb, Some(&c), &mut hs, b, h, seq).unwrap();
            mask_noise_on(isa, st, &x, &mut o1, 0.2, b, v, seq).unwrap();
            salt_pepper_on(isa, st, &x, &mut o1, 0.2, 0.0, 1.0, b, v, seq).unwrap();
            gaussian_on(isa, st, &x, Scale::Scalar(0.3), &mut o1, b, v, seq).unwrap();
            gaussian_reparam_on(isa, st, &x, &x01, &mut o1, &mut o2, b, v, seq).unwrap();
            col_sums_on(isa, &x, b, v, &mut col, seq).unwrap();
            col_means_on(isa, &x, b, v, &mut col, seq).unwrap();
            sq_err_on(isa, &x, &x01, b, v, Some(&mut rows), Some(&mut o1), 1.0).unwrap();
            bce_logits_on(isa, &x, &x01, b, v, Some(&mut rows), Some(&mut o1), 1.0).unwrap();
            kl_normal_on(
                isa,
                &x,
                &x01,
                b,
                v,
                Some(&mut rows),
                Some(&mut o1),
                Some(&mut o2),
                1.0,
            )
            .unwrap();
            l1_penalty_on(isa, 0.1, &x, Some(&mut o1), 1.0).unwrap();
            kl_sparsity_on(
                isa,
                0.05,
                1.0,
                &code,
                b,
                h,
                &mut qh,
                Some(&mut hs),
                1.0,
                seq,
            )
            .unwrap();
            contractive_penalty_on(
                isa,
                Encoder::Relu,
                shape,
                &x,
                &w,
                &code,
                Some(&mut gw),
                Some(&mut gc),
                1.0,
                &mut work,
                seq,
            )
            .unwrap();
        };
        run();
        let before = allocs();
        run();
        let after = allocs();
        assert_eq!(
            after - before,
            0,
            "{isa}: kernels allocated {} times",
            after - before
        );

        // Kernels that call SGEMM: they must add no allocation to the
        // product's own, which is none.
        let allocs_of = |f: &mut dyn FnMut()| {
            f();
            let before = allocs();
            f();
            allocs() - before
        };
        let product = |hb: &mut [f32]| {
            gemm_on(
                isa,
                1.0,
                MatRef::row_major(&x, b, v).unwrap(),
                MatRef::row_major(&w, v, h).unwrap(),
                Accum::Replace,
                MatMut::row_major(hb, b, h).unwrap(),
                &NoEpilogue,
                seq,
            )
            .unwrap()
        };
        let plain = allocs_of(&mut || product(&mut hb));
        let ep = BiasActivation::on(isa, Some(&c), Activation::Sigmoid).unwrap();
        let fused = allocs_of(&mut || {
            gemm_on(
                isa,
                1.0,
                MatRef::row_major(&x, b, v).unwrap(),
                MatRef::row_major(&w, v, h).unwrap(),
                Accum::Replace,
                MatMut::row_major(&mut hb, b, h).unwrap(),
                &ep,
                seq,
            )
            .unwrap()
        });
        assert_eq!(fused, plain, "{isa}: the fused epilogue allocated");
        // The contractive penalty's product: Xᵀ G into grad_w.
        let g = vals(b * h, -0.1, 0.1);
        let xtg = allocs_of(&mut || {
            gemm_on(
                isa,
                2.0,
                MatRef::row_major(&x, b, v).unwrap().t(),
                MatRef::row_major(&g, b, h).unwrap(),
                Accum::ADD,
                MatMut::row_major(&mut gw, v, h).unwrap(),
                &NoEpilogue,
                seq,
            )
            .unwrap()
        });
        let contractive = allocs_of(&mut || {
            contractive_penalty_on(
                isa,
                Encoder::Sigmoid,
                shape,
                &x,
                &w,
                &code,
                Some(&mut gw),
                Some(&mut gc),
                1.0,
                &mut work,
                seq,
            )
            .unwrap();
        });
        assert_eq!(contractive, xtg, "{isa}: the contractive penalty allocated");
        // SGEMM itself allocates nothing once its per-thread packing
        // buffers have grown to the problem (the first call above).
        assert_eq!(
            plain, 0,
            "{isa}: sgemm allocated {plain} times in a warm call"
        );
    }
}

/// A product that reads B in place and needs no edge panel (columns a
/// multiple of the tile width) allocates nothing once its A block has been
/// packed, also when no edge panel was ever packed on the thread: an
/// empty packing buffer is not grown (it was, by 64 bytes, in the first
/// such product, which made a training step under LATENT_ISA=portable
/// allocate).
#[test]
fn an_in_place_product_without_an_edge_panel_allocates_nothing() {
    use latent_kernels::Dispatch;
    use latent_kernels::dispatch::PackB;
    for isa in Isa::ALL.into_iter().filter(|isa| isa.is_available()) {
        let nr = latent_kernels::gemm::kernel_info(isa).nr;
        let (m, n, k) = (4, 2 * nr, 9);
        let (a, b) = (vals(m * k, -1.0, 1.0), vals(k * n, -1.0, 1.0));
        // A fresh thread: its packing buffers start empty.
        std::thread::spawn(move || {
            let ctx = Dispatch::new(isa).unwrap();
            let mut c = vec![0.0f32; m * n];
            let mut product = |pack_b| {
                let (av, bv) = (
                    MatRef::row_major(&a, m, k).unwrap(),
                    MatRef::row_major(&b, k, n).unwrap(),
                );
                let cv = MatMut::row_major(&mut c, m, n).unwrap();
                let ctx = ctx.with_pack_b(pack_b);
                ctx.gemm(1.0, av, bv, Accum::Replace, cv, &NoEpilogue, Par::Seq)
                    .unwrap();
            };
            // Packs A (and B), never an edge panel.
            product(PackB::Always);
            let before = allocs();
            product(PackB::Never);
            assert_eq!(
                allocs() - before,
                0,
                "{isa}: the in-place product allocated"
            );
        })
        .join()
        .unwrap();
    }
}

/// A bf16 training step's products allocate nothing after warm-up: the
/// weights repacked in place, then multiplied from the packing and from an
/// f32 view (packing buffers are per thread and only grow).
#[test]
fn bf16_products_allocate_nothing_after_warm_up() {
    let (b, v, h) = (30, 57, 41);
    let x = vals(b * v, -1.0, 1.0);
    let w = vals(v * h, -0.3, 0.3);
    let mut out = vec![0.0f32; b * h];
    let mut back = vec![0.0f32; b * v];
    let ctx = latent_kernels::Dispatch::global();
    let mut packed = ctx.pack_bf16_b(MatRef::row_major(&w, v, h).unwrap());
    let mut step = |packed: &mut latent_kernels::gemm::PackedBf16| {
        let wv = MatRef::row_major(&w, v, h).unwrap();
        ctx.repack_bf16_b(wv, packed);
        let xv = MatRef::row_major(&x, b, v).unwrap();
        let ov = MatMut::row_major(&mut out, b, h).unwrap();
        ctx.gemm_bf16_packed(1.0, xv, packed, Accum::Replace, ov, &NoEpilogue, Par::Seq)
            .unwrap();
        let hv = MatRef::row_major(&out, b, h).unwrap();
        let bv = MatMut::row_major(&mut back, b, v).unwrap();
        ctx.gemm_bf16(1.0, hv, wv.t(), Accum::Replace, bv, &NoEpilogue, Par::Seq)
            .unwrap();
    };
    step(&mut packed);
    let before = allocs();
    step(&mut packed);
    assert_eq!(allocs() - before, 0, "a bf16 step allocated after warm-up");
}
