//! Kernels for latent: the numerical building blocks every model is made of.
//!
//! - [`gemm`](mod@gemm): a cache-blocked, multithreaded SGEMM with register-tiled
//!   microkernels for AVX-512F, AVX2+FMA and a portable fallback, chosen at
//!   run time, and an epilogue hook that fuses work into the write-out of C.
//! - [`bf16`]: f32 ↔ bf16 conversion (round to nearest even); the bf16
//!   GEMM ([`gemm::gemm_bf16`]: bf16 operands, f32 accumulation) is in
//!   [`gemm`](mod@gemm).
//! - [`activation`]: vectorised `exp`, sigmoid, tanh, softplus and their
//!   derivatives; the fused bias+activation epilogue.
//! - [`random`]: reproducible per-row random streams and the samplers of
//!   Gibbs chains and noise (Bernoulli, fused sigmoid+Bernoulli, Gaussian,
//!   masking, salt-and-pepper).
//! - [`reduce`]: column sums and means, reconstruction losses, KL to N(0, I).
//! - [`penalty`]: L1, KL sparsity and the closed-form contractive penalty.
//! - [`shrink`]: soft thresholding (one threshold or one per unit) and the
//!   fused FISTA step of sparse coding.
//! - [`update`]: SGD with momentum over slices and fused into the write-out
//!   of a weight-gradient product.
//! - [`hamming`]: Hamming distances between bit-packed binary codes
//!   (AVX-512 VPOPCNTDQ, AVX2 nibble-table and portable popcounts), and
//!   k-nearest and Hamming-ball retrieval (semantic hashing).
//! - [`dispatch`]: the one decision of instruction set and SGEMM tuning (the
//!   CPU and the `LATENT_*` overrides), and a record of which kernels ran;
//!   [`isa`]: run-time CPU feature detection;
//!   [`par`]: the parallelism every kernel takes.
//! - Behind cargo features, for tests and benchmarks only: `peak` (feature
//!   `peak`), the FMA- and bf16-peak microbenchmarks reports compare
//!   against, and
//!   `alloc_count` (feature `alloc-count`), a counting allocator for
//!   no-allocation tests.
//!
//! This crate knows nothing about models. Every public function is safe and
//! checks the shapes it is given; `unsafe` stays inside, next to a
//! `// SAFETY:` comment that says why it is sound.

#![warn(missing_docs)]

pub mod activation;
#[cfg(feature = "alloc-count")]
pub mod alloc_count;
#[cfg(feature = "baseline")]
pub mod baseline;
pub mod bf16;
pub mod dispatch;
pub mod error;
pub mod gemm;
pub mod hamming;
pub mod isa;
pub mod par;
#[cfg(feature = "peak")]
pub mod peak;
pub mod penalty;
pub mod random;
pub mod reduce;
pub mod shrink;
mod simd;
mod split;
pub mod update;

pub use activation::{Activation, BiasActivation};
pub use dispatch::Dispatch;
pub use error::KernelError;
pub use gemm::{
    Accum, BiasAdd, Epilogue, MatMut, MatRef, NoEpilogue, Operand, Precision, gemm, gemm_on,
    product, sgemm,
};
pub use isa::{Bf16Isa, Isa};
pub use par::Par;
