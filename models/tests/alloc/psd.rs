//! After warm-up, a PSD training step (the encoder, FISTA with its Gram
//! matrix and Lipschitz estimate, the energy, the gradients, the
//! projection, the optimiser's step) and the inference calls with a kept
//! [`PsdScratch`] allocate nothing, for both encoders.

use latent_engine::train::{Model, StepContext};
use latent_engine::{Batch, Matrix, Optimizer, Rng};
use latent_kernels::Par;
use latent_models::model::{Inference, Score};
use latent_models::psd::{EncoderKind, Psd, PsdConfig, PsdScratch};
use latent_models::train::Settings;
use latent_testkit::alloc_count::allocations_on_this_thread;

fn data(rows: usize, cols: usize, k: usize) -> Matrix {
    Matrix::from_fn(rows, cols, |i, j| ((i * 7 + j * 3 + k) % 5) as f32 / 4.0).unwrap()
}

#[test]
fn psd_steps_and_inference_allocate_nothing_after_warm_up() {
    let (x, partial) = (data(100, 48, 0), data(37, 48, 1));
    let idx: Vec<u32> = (0..100).collect();
    for encoder in [EncoderKind::Tanh, EncoderKind::Shrink] {
        let mut c = PsdConfig::new(48, 32);
        c.encoder = encoder;
        c.fista_iters = 20;
        let mut psd = Psd::new(c, 1).unwrap();
        let mut grads = psd.params().zeros_like().unwrap();
        let mut spare = psd.params().clone();
        let settings = Settings::defaults(latent_models::persist::Kind::Psd);
        let mut opt = Optimizer::new(settings.optimizer_config(), psd.params()).unwrap();
        let mut rng = Rng::new(3);
        let mut step = |psd: &mut Psd, x: &Matrix| {
            let batch = Batch {
                x: x.view(),
                labels: None,
                indices: &idx[..x.rows()],
                epoch: 0,
                index: 0,
            };
            let mut ctx = StepContext {
                par: Par::Seq,
                rng: &mut rng,
                epoch: 0,
                batch: 0,
                fused: None,
            };
            psd.gradient(&batch, &mut grads, &mut ctx).unwrap();
            let bad = opt.step_into(psd.params(), &grads, &mut spare, 0).unwrap();
            assert!(bad.is_none());
            std::mem::swap(psd.params_mut(), &mut spare);
        };
        step(&mut psd, &x);
        step(&mut psd, &partial);
        let before = allocations_on_this_thread();
        for _ in 0..3 {
            step(&mut psd, &x);
            step(&mut psd, &partial);
        }
        let during = allocations_on_this_thread() - before;
        assert_eq!(during, 0, "{encoder}: {during} allocations in 6 steps");

        let mut s = PsdScratch::default();
        let mut out = Matrix::zeros(100, 32).unwrap();
        let mut rec = Matrix::zeros(100, 48).unwrap();
        let mut e = vec![0.0f32; 100];
        let mut infer = |s: &mut PsdScratch| {
            psd.encode_into(x.view(), out.view_mut(), s, Par::Seq)
                .unwrap();
            psd.exact_codes_into(x.view(), out.view_mut(), s, Par::Seq)
                .unwrap();
            psd.reconstruct_into(x.view(), rec.view_mut(), s, Par::Seq)
                .unwrap();
            psd.score_into(x.view(), Score::Energy, 0, &mut e, s, Par::Seq)
                .unwrap();
            psd.score_into(x.view(), Score::Reconstruction, 0, &mut e, s, Par::Seq)
                .unwrap();
        };
        infer(&mut s);
        let before = allocations_on_this_thread();
        infer(&mut s);
        let during = allocations_on_this_thread() - before;
        assert_eq!(during, 0, "{encoder}: {during} allocations in inference");
    }
}
