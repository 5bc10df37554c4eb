//! Unit tests of the VAE's evaluation and inference methods and of its bf16
//! step.

use latent_engine::Matrix;
use latent_kernels::Par;
use latent_kernels::activation::Activation;
use latent_kernels::gemm::{MatMut, MatRef};

use super::{Vae, VaeConfig};

fn data(rows: usize, cols: usize) -> Matrix {
    Matrix::from_fn(rows, cols, |r, c| ((r * 7 + c * 3) % 5) as f32 / 4.0).unwrap()
}

#[test]
fn per_row_elbo_matches_the_mean_and_reconstruct_decodes_the_mean() {
    let cfg = VaeConfig::new(12, &[6], 3, Activation::Tanh);
    let vae = Vae::new(cfg, 5).unwrap();
    let x = data(23, 12);
    let mean = vae.elbo(&x, 10, 9, Par::Seq).unwrap();
    let mut rows = vec![0.0f32; 23];
    let mean2 = vae.elbo_rows(&x, 10, 9, &mut rows, Par::Seq).unwrap();
    assert_eq!(mean, mean2);
    let avg = rows.iter().map(|&v| v as f64).sum::<f64>() / 23.0;
    assert!(
        (avg - mean).abs() < 1e-4 * mean.abs().max(1.0),
        "{avg} {mean}"
    );

    let mut mu = vec![0.0f32; 23 * 3];
    vae.encode(
        x.view(),
        MatMut::row_major(&mut mu, 23, 3).unwrap(),
        Par::Seq,
    )
    .unwrap();
    let mut a = Matrix::zeros(23, 12).unwrap();
    let mut b = Matrix::zeros(23, 12).unwrap();
    let mu = MatRef::row_major(&mu, 23, 3).unwrap();
    vae.decode(mu, a.view_mut(), Par::Seq).unwrap();
    vae.reconstruct(x.view(), b.view_mut(), Par::Seq).unwrap();
    assert_eq!(a.as_slice(), b.as_slice());
    assert!(a.as_slice().iter().all(|&p| (0.0..=1.0).contains(&p)));
    assert!(vae.decode(x.view(), a.view_mut(), Par::Seq).is_err());
}

/// A bf16 training step multiplies by its packed weights, and gives the
/// bits of the same step with every weight rounded and packed by each
/// product instead.
#[test]
fn a_bf16_step_with_packed_weights_gives_the_unpacked_bits() {
    use super::workspace::Workspace;
    use crate::ae::operands::{Use, Weights};
    use latent_engine::train::Model;
    use latent_kernels::gemm::{Operand, Precision};

    for output in [super::VaeOutput::Bernoulli, super::VaeOutput::Gaussian] {
        let cfg = VaeConfig::new(12, &[8, 6], 3, Activation::Tanh).with_output(output);
        let mut vae = Vae::new(cfg, 5).unwrap();
        vae.set_precision(Precision::Bf16);
        let x = data(9, 12);
        let mut packed_grads = vae.params().zeros_like().unwrap();
        let a = vae
            .loss_and_gradient(x.view(), &mut packed_grads, 3, Par::Seq)
            .unwrap();
        let w = Weights::new(&vae.params, Precision::Bf16, Some(&vae.ws.packed));
        for &i in vae.enc_w.iter().chain([&vae.heads[0], &vae.heads[2]]) {
            assert!(matches!(w.of(i, Use::AsStored), Operand::Packed(_)));
        }
        for &i in &vae.dec_w {
            assert!(matches!(w.of(i, Use::Transposed), Operand::Packed(_)));
            assert!(matches!(w.of(i, Use::AsStored), Operand::Packed(_)));
        }
        let mut grads = vae.params().zeros_like().unwrap();
        let unpacked = Weights::new(&vae.params, Precision::Bf16, None);
        let mut ws = Workspace::default();
        let b = vae
            .step(&mut ws, &unpacked, x.view(), &mut grads, 3, Par::Seq)
            .unwrap();
        assert_eq!(a.loss.to_bits(), b.loss.to_bits());
        for (p, u) in packed_grads.tensors().iter().zip(grads.tensors()) {
            let bits = |m: &Matrix| m.as_slice().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&p.value), bits(&u.value), "{output:?} {}", p.name);
        }
    }
}
