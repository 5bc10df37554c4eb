//! The PSD step's gradients (dictionary and encoder, tanh and shrink)
//! against central differences of the mean energy in f64 with the codes
//! fixed at the step's `z*`.

use latent_engine::train::{Model, StepContext};
use latent_engine::{Batch, Matrix, ParamSet, Rng};
use latent_kernels::Par;
use latent_models::psd::{EncoderKind, Psd, PsdConfig, PsdScratch};
use latent_testkit::TestRng;

/// The mean energy in f64 of `x` at codes `z` under `params` (`D`, `W`,
/// `b`, `g`/`θ`).
fn energy(c: &PsdConfig, params: &[Vec<f64>], x: &Matrix, z: &[f32]) -> f64 {
    let (v, k, rows) = (c.n_visible, c.codes, x.rows());
    let (d, w, b, u) = (&params[0], &params[1], &params[2], &params[3]);
    let mut total = 0.0;
    for i in 0..rows {
        let zi = &z[i * k..(i + 1) * k];
        let xi = x.row(i);
        for j in 0..v {
            let r: f64 = (0..k).map(|l| zi[l] as f64 * d[l * v + j]).sum();
            total += 0.5 * (xi[j] as f64 - r).powi(2);
        }
        for l in 0..k {
            let a: f64 = b[l] + (0..v).map(|j| xi[j] as f64 * w[j * k + l]).sum::<f64>();
            let f = match c.encoder {
                EncoderKind::Tanh => u[l] * a.tanh(),
                EncoderKind::Shrink => a.signum() * (a.abs() - u[l]).max(0.0),
            };
            total += c.lambda as f64 * (zi[l] as f64).abs()
                + c.alpha as f64 * (zi[l] as f64 - f).powi(2);
        }
    }
    total / rows as f64
}

fn check(encoder: EncoderKind) {
    let mut c = PsdConfig::new(7, 5);
    c.lambda = 0.05;
    c.alpha = 0.8;
    c.encoder = encoder;
    c.fista_iters = 500;
    c.fista_tol = 0.0;
    let mut psd = Psd::new(c, 4).unwrap();
    let mut rng = TestRng::new(9);
    // Gains away from 1, thresholds away from 0, a bias.
    for (i, t) in psd.params_mut().tensors_mut().iter_mut().enumerate() {
        if i >= 2 {
            for v in t.value.as_mut_slice() {
                *v = if encoder == EncoderKind::Tanh || i == 2 {
                    rng.uniform(0.5, 1.5)
                } else {
                    rng.uniform(0.0, 0.2)
                } * if i == 2 { 0.3 } else { 1.0 };
            }
        }
        if i == 1 {
            for v in t.value.as_mut_slice() {
                *v *= 3.0;
            }
        }
    }
    let x = Matrix::from_fn(6, 7, |_, _| rng.uniform(0.0, 1.0)).unwrap();
    let mut grads = psd.params().zeros_like().unwrap();
    let mut model_rng = Rng::new(1);
    let mut ctx = StepContext {
        par: Par::Seq,
        rng: &mut model_rng,
        epoch: 0,
        batch: 0,
        fused: None,
    };
    let idx: Vec<u32> = (0..6).collect();
    let batch = Batch {
        x: x.view(),
        labels: None,
        indices: &idx,
        epoch: 0,
        index: 0,
    };
    let out = psd.gradient(&batch, &mut grads, &mut ctx).unwrap();
    let mut z = Matrix::zeros(6, 5).unwrap();
    psd.exact_codes_into(x.view(), z.view_mut(), &mut PsdScratch::default(), Par::Seq)
        .unwrap();
    let base: Vec<Vec<f64>> = psd
        .params()
        .tensors()
        .iter()
        .map(|t| t.value.as_slice().iter().map(|&v| v as f64).collect())
        .collect();
    let e0 = energy(&c, &base, &x, z.as_slice());
    assert!(
        (e0 - out.loss).abs() < 1e-5 * e0,
        "loss {} vs {e0}",
        out.loss
    );
    compare(&c, &base, &x, z.as_slice(), &grads, encoder);
}

fn compare(
    c: &PsdConfig,
    base: &[Vec<f64>],
    x: &Matrix,
    z: &[f32],
    grads: &ParamSet,
    encoder: EncoderKind,
) {
    let h = 1e-5;
    for (t, tensor) in grads.tensors().iter().enumerate() {
        for e in 0..base[t].len() {
            let mut p = base.to_vec();
            p[t][e] += h;
            let up = energy(c, &p, x, z);
            p[t][e] -= 2.0 * h;
            let down = energy(c, &p, x, z);
            let numeric = (up - down) / (2.0 * h);
            let analytic = tensor.value.as_slice()[e] as f64;
            assert!(
                (analytic - numeric).abs() <= 1e-3 * numeric.abs().max(1e-2),
                "{encoder} {}[{e}]: analytic {analytic} numeric {numeric}",
                tensor.name
            );
        }
    }
}

#[test]
fn tanh_encoder_and_dictionary_gradients_match_finite_differences() {
    check(EncoderKind::Tanh);
}

#[test]
fn shrink_encoder_and_dictionary_gradients_match_finite_differences() {
    check(EncoderKind::Shrink);
}
