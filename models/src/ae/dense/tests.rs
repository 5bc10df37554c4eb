//! Unit tests of the dense autoencoder's bf16 step.

use latent_engine::Matrix;
use latent_engine::train::Model;
use latent_kernels::Par;
use latent_kernels::activation::Activation;
use latent_kernels::gemm::{Operand, Precision};

use super::workspace::Workspace;
use super::{AeConfig, Autoencoder, Loss, Noise, Sparsity};
use crate::ae::operands::{Use, Weights};

fn bits(m: &Matrix) -> Vec<u32> {
    m.as_slice().iter().map(|v| v.to_bits()).collect()
}

/// A bf16 training step multiplies by its packed weights (each in the
/// orientations it uses), and gives the bits of the same step with every
/// weight rounded and packed by each product instead: deep untied and
/// contractive (the first layer's gradient through its delta), tied with
/// sparsity and noise.
#[test]
fn a_bf16_step_with_packed_weights_gives_the_unpacked_bits() {
    let configs = [
        AeConfig::new(&[12, 8, 5], Activation::Sigmoid)
            .with_loss(Loss::CrossEntropy)
            .with_contractive(0.2),
        AeConfig::new(&[12, 7], Activation::Sigmoid)
            .with_tied(true)
            .with_sparsity(Sparsity::Kl {
                rho: 0.1,
                beta: 0.5,
            })
            .with_noise(Noise::Mask { nu: 0.3 }),
    ];
    let x = Matrix::from_fn(9, 12, |r, c| ((r * 7 + c * 3) % 5) as f32 / 4.0).unwrap();
    for cfg in configs {
        let mut ae = Autoencoder::new(cfg.clone(), 5).unwrap();
        ae.set_precision(Precision::Bf16);
        let mut packed_grads = ae.params().zeros_like().unwrap();
        let a = ae
            .loss_and_gradient(x.view(), &mut packed_grads, 3, Par::Seq)
            .unwrap();
        let w = Weights::new(&ae.params, Precision::Bf16, Some(&ae.ws.packed));
        for &i in ae.enc_w.iter().chain(&ae.dec_w) {
            assert!(matches!(w.of(i, Use::AsStored), Operand::Packed(_)));
        }
        for &i in ae.enc_w[1..].iter().chain(&ae.dec_w) {
            assert!(matches!(w.of(i, Use::Transposed), Operand::Packed(_)));
        }
        let mut grads = ae.params().zeros_like().unwrap();
        let unpacked = Weights::new(&ae.params, Precision::Bf16, None);
        let b = ae
            .step(
                &mut Workspace::default(),
                &unpacked,
                (x.view(), None),
                &mut grads,
                3,
                Par::Seq,
            )
            .unwrap();
        assert_eq!(a.objective.to_bits(), b.objective.to_bits(), "{cfg:?}");
        for (p, u) in packed_grads.tensors().iter().zip(grads.tensors()) {
            assert_eq!(bits(&p.value), bits(&u.value), "{cfg:?}: {}", p.name);
        }
    }
}

/// `σ` and `ln(1 + e^a)` in f64.
fn sigmoid64(a: f64) -> f64 {
    1.0 / (1.0 + (-a).exp())
}

/// `y = act(x Wᵀ + b)` (`transpose`, `w` stored `out x in`) or
/// `act(x W + b)` (`w` stored `in x out`), in f64; `act` sigmoid or
/// identity.
fn layer64(x: &[f64], w: &[f64], b: &[f64], n_in: usize, transpose: bool, sig: bool) -> Vec<f64> {
    let (rows, n_out) = (x.len() / n_in, b.len());
    let mut y = vec![0.0; rows * n_out];
    for i in 0..rows {
        for j in 0..n_out {
            let mut s = b[j];
            for k in 0..n_in {
                let wv = if transpose {
                    w[j * n_in + k]
                } else {
                    w[k * n_out + j]
                };
                s += x[i * n_in + k] * wv;
            }
            y[i * n_out + j] = if sig { sigmoid64(s) } else { s };
        }
    }
    y
}

/// The f64 objective of a 2-layer untied sigmoid autoencoder with
/// cross-entropy loss and `noise` added to the code's pre-activation
/// (parameters in the model's order `W1 c1 W2 c2 Wd2 b2 Wd1 b1`).
fn noisy_objective64(p: &[Vec<f64>], x: &[f64], noise: &[f64], s: &[usize]) -> f64 {
    let h1 = layer64(x, &p[0], &p[1], s[0], false, true);
    let a2 = layer64(&h1, &p[2], &p[3], s[1], false, false);
    let h2: Vec<f64> = a2
        .iter()
        .zip(noise)
        .map(|(a, n)| sigmoid64(a + n))
        .collect();
    let g1 = layer64(&h2, &p[4], &p[5], s[2], true, true);
    let out = layer64(&g1, &p[6], &p[7], s[1], true, false);
    let rows = x.len() / s[0];
    let loss: f64 = out
        .iter()
        .zip(x)
        .map(|(&a, &t)| a.max(0.0) + (-a.abs()).exp().ln_1p() - t * a)
        .sum();
    loss / rows as f64
}

/// With code noise the gradient is that of the objective with the noise
/// held fixed (central differences of an f64 reference fed the model's
/// own noise), the noise belongs to the data-set row (two rows give the
/// noise they give alone), and rows of another index get other noise.
#[test]
fn code_noise_gradients_match_finite_differences() {
    let s = [6usize, 5, 4];
    let cfg = AeConfig::new(&s, Activation::Sigmoid)
        .with_loss(Loss::CrossEntropy)
        .with_code_noise(2.0, 11);
    let mut ae = Autoencoder::new(cfg, 3).unwrap();
    for (t, tensor) in ae.params_mut().tensors_mut().iter_mut().enumerate() {
        for (k, v) in tensor.value.as_mut_slice().iter_mut().enumerate() {
            *v = (((t * 31 + k * 17) % 23) as f32 / 23.0 - 0.5) * 1.2;
        }
    }
    let rows = [7u32, 2, 40];
    let x = Matrix::from_fn(3, 6, |r, c| ((r * 5 + c * 3) % 7) as f32 / 6.0).unwrap();
    let mut grads = ae.params().zeros_like().unwrap();
    let step = ae
        .loss_and_gradient_rows(x.view(), &rows, &mut grads, 9, Par::Seq)
        .unwrap();
    let mut noise = vec![0.0f32; 3 * 4];
    ae.code_noise(&rows, &mut noise).unwrap();
    assert!(noise.iter().all(|n| n.abs() > 0.0), "{noise:?}");
    let mut one = vec![0.0f32; 4];
    ae.code_noise(&rows[1..2], &mut one).unwrap();
    assert_eq!(
        bits_of(&one),
        bits_of(&noise[4..8]),
        "a row's noise is its own"
    );
    ae.code_noise(&[8], &mut one).unwrap();
    assert_ne!(
        bits_of(&one),
        bits_of(&noise[..4]),
        "another row, other noise"
    );
    let x64: Vec<f64> = x.as_slice().iter().map(|&v| v as f64).collect();
    let n64: Vec<f64> = noise.iter().map(|&v| v as f64).collect();
    let mut p: Vec<Vec<f64>> = ae
        .params()
        .tensors()
        .iter()
        .map(|t| t.value.as_slice().iter().map(|&v| v as f64).collect())
        .collect();
    let obj = noisy_objective64(&p, &x64, &n64, &s);
    assert!(
        (step.objective - obj).abs() < 1e-5 * obj.abs(),
        "{} vs {obj}",
        step.objective
    );
    let clean = noisy_objective64(&p, &x64, &[0.0; 12], &s);
    assert!(
        (clean - obj).abs() > 1e-3,
        "the noise changes the objective"
    );
    let eps = 1e-6;
    for (t, tensor) in grads.tensors().iter().enumerate() {
        for (k, &a) in tensor.value.as_slice().iter().enumerate() {
            let orig = p[t][k];
            p[t][k] = orig + eps;
            let up = noisy_objective64(&p, &x64, &n64, &s);
            p[t][k] = orig - eps;
            let down = noisy_objective64(&p, &x64, &n64, &s);
            p[t][k] = orig;
            let n = (up - down) / (2.0 * eps);
            let err = (a as f64 - n).abs() / (a as f64).abs().max(n.abs()).max(1e-4);
            assert!(err < 1e-3, "{}[{k}]: analytic {a} numeric {n}", tensor.name);
        }
    }
}

fn bits_of(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}
