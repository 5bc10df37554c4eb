//! The RBM family against exact references: gradients (`gradients`),
//! training (`training`), determinism (`determinism`), likelihood
//! evaluation (`eval`), deep belief nets (`dbn`) and bf16 products
//! (`bf16`; `bf16_mnist` for their quality on real data), with the shared f64
//! references in `reference`. One test binary.

mod bf16;
mod bf16_mnist;
mod dbn;
mod determinism;
mod eval;
mod gradients;
mod linear;
mod reference;
mod training;
