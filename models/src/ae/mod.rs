//! The autoencoder family (MODELS.md section 4), each variant a real trainer
//! implementing [`latent_engine::train::Model`] on top of the kernels:
//!
//! - [`dense`]: the dense autoencoder ([`Autoencoder`]) with any number of
//!   encoder layers and a mirrored decoder, tied or untied weights, per-layer
//!   activations, squared-error or cross-entropy-from-logits loss, and the
//!   regularised variants as parts of its [`AeConfig`]: sparse (L1 or KL
//!   toward `ρ`, [`Sparsity`]), denoising (masking, Gaussian,
//!   salt-and-pepper, [`Noise`]) and contractive (closed-form Jacobian
//!   penalty, layer by layer).
//! - [`vae`]: the variational autoencoder ([`Vae`]).
//! - [`stacked`]: greedy layer-wise pretraining with any of the above or an
//!   RBM, unrolled into a deep autoencoder or topped with a softmax
//!   [`Classifier`].
//! - [`codes`]: binary codes and Hamming-distance retrieval (semantic
//!   hashing).
//! - [`spec`]: the settings and configurations as text (`mask:0.3`,
//!   `kl:0.05:3`, `sizes=784,256 …`), for command lines and model files.
//!
//! Every model sizes its training buffers once per batch size, allocates
//! nothing per step afterwards, passes the step's
//! [`Par`](latent_kernels::Par) to every kernel, and draws its randomness
//! from [`Streams`](latent_kernels::random::Streams) seeded per step, so
//! results are bit-identical for every thread count.
//! Randomness enters a step only through the explicit `seed` argument of
//! `loss_and_gradient` (the [`Model`](latent_engine::train::Model)
//! implementations draw one per step from the trainer's stream), and the
//! noise a seed gives can be reproduced on its own
//! ([`Autoencoder::corrupt`], [`Vae::draw_eps`]), so tests can hold it fixed.
//!
//! Every matrix product follows the model's precision
//! (`set_precision`: f32, or bf16 operands with f32 accumulation), in
//! training and inference; parameters, gradients, optimiser state, noise
//! and losses stay f32. A bf16 training step packs each weight matrix once
//! per orientation it multiplies by (`operands`), into storage kept in
//! the workspace.
//!
//! Inference and evaluation take `&self` and a workspace that the caller
//! keeps ([`AeScratch`], [`VaeScratch`]) in their `_with` forms, which
//! allocate nothing once the scratch has held a batch that large (one
//! scratch can serve models of different shapes); the plain forms make a
//! fresh scratch. Outputs are views of any layout (`MatMut`).

pub mod codes;
pub mod dense;
pub mod spec;
pub mod stacked;
pub mod vae;

pub(crate) mod operands;
pub(crate) mod util;

pub use codes::BinaryCodes;
pub use dense::{AeConfig, AeScratch, AeStep, Autoencoder, CodeNoise, Loss, Noise, Sparsity};
pub use spec::{parse_activation, parse_activations, parse_sizes};
pub use stacked::{
    Classifier, ClassifierScratch, LayerKind, PretrainConfig, PretrainedLayer, Stack,
    StackedPretrainer, argmax,
};
pub use vae::{Vae, VaeConfig, VaeOutput, VaeScratch, VaeStep};
