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
                x.view(),
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
