//! Unit tests of the module's private pieces: the chain's blocking, the
//! workspace's growth, the learned-σ epilogue and the step profile. The
//! public behaviour is tested against references in `models/tests/rbm/`.

use latent_engine::Matrix;
use latent_kernels::activation::Activation;
use latent_kernels::gemm::Epilogue;
use latent_kernels::random::Streams;
use latent_kernels::{Par, Precision};
use std::time::Duration;

use super::VisibleUnits;
use super::chain::{ChainBlock, ChainCtx, chain_blocks, run_blocks};
use super::epilogue::ScaleShift;
use super::profile::{PhaseClock, StepProfile};
use super::workspace::{PackedWeights, Workspace};

#[test]
fn chain_blocks_cut_rows_by_threads_and_leave_the_rest_to_the_products() {
    // One thread, or too few rows for two blocks: one block with all of par.
    assert_eq!(chain_blocks(100, Par::Seq), (100, Par::Seq));
    assert_eq!(chain_blocks(47, Par::Rayon(4)), (47, Par::Rayon(4)));
    // As many blocks as threads: each block on one thread.
    assert_eq!(chain_blocks(100, Par::Rayon(3)), (34, Par::Seq));
    // 16 threads, 100 rows: 4 blocks of 25 rows, 4 threads each.
    assert_eq!(chain_blocks(100, Par::Rayon(16)), (25, Par::Rayon(4)));
}

/// The buffers of one chain run over `rows` rows.
struct Buffers {
    sv_pos: Vec<f32>,
    sv_neg: Vec<f32>,
    sp_pos: Vec<f32>,
    sp_neg: Vec<f32>,
    h: Vec<f32>,
    v_mean: Vec<f32>,
    recon_rows: Vec<f32>,
    chain: Vec<f32>,
}

impl Buffers {
    fn new(rows: usize, v_n: usize, h_n: usize) -> Self {
        let chain = (0..rows * v_n).map(|i| (i % 3 == 0) as u8 as f32).collect();
        Buffers {
            sv_pos: vec![0.0; rows * v_n],
            sv_neg: vec![0.0; rows * v_n],
            sp_pos: vec![0.0; rows * h_n],
            sp_neg: vec![0.0; rows * h_n],
            h: vec![0.0; rows * h_n],
            v_mean: vec![0.0; rows * v_n],
            recon_rows: vec![0.0; rows],
            chain,
        }
    }

    fn block(&mut self, persistent: bool) -> ChainBlock<'_> {
        ChainBlock {
            r0: 0,
            rows: self.recon_rows.len(),
            sv_pos: &mut self.sv_pos,
            sv_neg: &mut self.sv_neg,
            sp_pos: &mut self.sp_pos,
            sp_neg: &mut self.sp_neg,
            h: &mut self.h,
            v_mean: &mut self.v_mean,
            recon_rows: &mut self.recon_rows,
            chain: persistent.then_some(&mut self.chain[..]),
        }
    }

    fn bits(&self) -> Vec<u32> {
        [
            &self.sv_pos,
            &self.sv_neg,
            &self.sp_pos,
            &self.sp_neg,
            &self.h,
            &self.v_mean,
            &self.recon_rows,
            &self.chain,
        ]
        .iter()
        .flat_map(|b| b.iter().map(|x| x.to_bits()))
        .collect()
    }
}

#[test]
fn the_chain_gives_the_same_bits_however_the_rows_are_cut_into_blocks() {
    let (rows, v_n, h_n) = (77, 9, 5);
    let x = Matrix::from_fn(rows, v_n, |i, j| ((i * 5 + j * 3) % 4 == 0) as u8 as f32).unwrap();
    let w = Matrix::from_fn(v_n, h_n, |i, j| ((i * h_n + j) as f32 * 0.37).sin()).unwrap();
    let (b, c) = (vec![-0.2f32; v_n], vec![0.1f32; h_n]);
    let sigma = vec![1.0f32; v_n];
    let runs = [(false, 1), (false, 3), (true, 2)];
    for ((persistent, k), precision) in runs
        .into_iter()
        .flat_map(|run| Precision::ALL.map(|p| (run, p)))
    {
        let mut packed = PackedWeights::default();
        packed.repack(precision, w.view());
        let ctx = ChainCtx {
            x: x.view(),
            w: packed.operands(precision, w.view()),
            b: &b,
            c: &c,
            sigma: &sigma,
            up_factor: 1.0,
            down_factor: 1.0,
            visible: VisibleUnits::Bernoulli,
            hidden: super::HiddenUnits::Bernoulli,
            visible_act: Activation::Sigmoid,
            k,
            persistent,
            sample_v: persistent,
            learn_sigma: false,
            v_n,
            h_n,
            streams: Streams::new(9),
        };
        let mut whole = Buffers::new(rows, v_n, h_n);
        run_blocks(&ctx, whole.block(persistent), rows, Par::Seq).unwrap();
        // The chain moved: the hidden probabilities are not all zero.
        assert!(whole.sp_pos.iter().any(|&p| p > 0.0));
        for rb in [1, 10, 25, 40] {
            let mut cut = Buffers::new(rows, v_n, h_n);
            run_blocks(&ctx, cut.block(persistent), rb, Par::Seq).unwrap();
            assert!(
                cut.bits() == whole.bits(),
                "persistent={persistent} k={k} {precision}: blocks of {rb} rows differ from one block"
            );
        }
    }
}

#[test]
fn the_workspace_grows_to_the_largest_batch_and_keeps_its_buffers() {
    let mut ws = Workspace::default();
    ws.ensure(10, 3, 2, false);
    assert_eq!(ws.stacked_v.len(), 2 * 10 * 3);
    assert_eq!(ws.stacked_p.len(), 2 * 10 * 2);
    assert!(ws.pw.is_empty(), "only a learned σ needs [P⁰; Pᵏ] Wᵀ");
    let kept = ws.stacked_v.as_ptr();
    ws.ensure(4, 3, 2, false);
    assert_eq!(
        ws.stacked_v.as_ptr(),
        kept,
        "a smaller batch reuses the buffers"
    );
    assert_eq!(ws.rows, 10);
    ws.ensure(12, 3, 2, true);
    assert_eq!(ws.rows, 12);
    assert_eq!(ws.pw.len(), 2 * 12 * 3);
}

#[test]
fn scale_shift_scales_and_shifts_from_the_block_s_first_column() {
    let (scale, shift) = ([1.0f32, 2.0, 3.0, 4.0], [10.0f32, 20.0, 30.0, 40.0]);
    let epi = ScaleShift {
        scale: &scale,
        shift: &shift,
    };
    assert!(epi.check(5, 4).is_ok());
    assert!(epi.check(5, 3).is_err(), "one scale and shift per column");
    let mut values = [1.0f32, -1.0];
    epi.apply_row(0, 2, &mut values);
    assert_eq!(values, [30.0 + 3.0, 40.0 - 4.0]);
}

#[test]
fn a_step_profile_adds_up_and_an_idle_clock_reads_zero() {
    let mut clock = PhaseClock::new(false);
    assert_eq!(clock.lap(), Duration::ZERO);
    let lap = StepProfile {
        steps: 1,
        setup: Duration::from_micros(1),
        chain: Duration::from_micros(20),
        bias_gradients: Duration::from_micros(300),
        weight_gradient: Duration::from_micros(4000),
    };
    let mut total = StepProfile::default();
    total.add(&lap);
    total.add(&lap);
    assert_eq!(total.steps, 2);
    assert_eq!(total.total(), Duration::from_micros(2 * 4321));
    assert_eq!(total.phases()[1], ("chain", Duration::from_micros(40)));
}

/// Linear hiddens are sampled as their means plus unit-variance Gaussian
/// noise (`rbmhidlinear.m`: `poshidprobs + randn`): over many rows the
/// samples' deviations from the means have mean 0 and variance 1 per unit,
/// and the means are the features.
#[test]
fn linear_hidden_samples_are_the_means_plus_standard_normal_noise() {
    let (v_n, h_n, rows) = (5, 3, 20_000);
    let config = super::RbmConfig {
        hidden: super::HiddenUnits::Linear,
        ..super::RbmConfig::bernoulli(v_n, h_n)
    };
    let w: Vec<f32> = (0..v_n * h_n).map(|i| (i as f32 * 0.37).sin()).collect();
    let rbm = super::Rbm::from_params(config, &w, &[0.0; 5], &[0.5, -1.0, 2.0]).unwrap();
    let x: Vec<f32> = (0..rows * v_n)
        .map(|i| ((i * 7) % 3 == 0) as u8 as f32)
        .collect();
    let xm = latent_kernels::gemm::MatRef::row_major(&x, rows, v_n).unwrap();
    let (mut p, mut h) = (vec![0.0f32; rows * h_n], vec![0.0f32; rows * h_n]);
    let ops = rbm.weight_operands();
    let (mut scaled, sigma) = (Vec::new(), Vec::new());
    let streams = Streams::new(42);
    rbm.sample_hidden(
        xm,
        ops.up,
        &mut p,
        &mut h,
        streams,
        Par::Seq,
        &mut scaled,
        &sigma,
    )
    .unwrap();
    let mut feats = Matrix::zeros(rows, h_n).unwrap();
    rbm.transform(xm, feats.view_mut(), Par::Seq).unwrap();
    assert_eq!(feats.as_slice(), &p[..], "the means are the features");
    for j in 0..h_n {
        let d: Vec<f64> = (0..rows)
            .map(|r| (h[r * h_n + j] - p[r * h_n + j]) as f64)
            .collect();
        let mean = d.iter().sum::<f64>() / rows as f64;
        let var = d.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (rows - 1) as f64;
        // Five standard errors: 5/√n for the mean, 5·√(2/n) for the variance.
        let n = rows as f64;
        assert!(mean.abs() < 5.0 / n.sqrt(), "unit {j}: noise mean {mean}");
        assert!(
            (var - 1.0).abs() < 5.0 * (2.0 / n).sqrt(),
            "unit {j}: noise variance {var}"
        );
    }
}
