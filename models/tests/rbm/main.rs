//! The RBM family against exact references: gradients (`gradients`),
//! training (`training`), determinism (`determinism`), likelihood
//! evaluation (`eval`), deep belief nets (`dbn`) and bf16 products
//! (`bf16`), with the shared f64
//! references in `reference`. One test binary.

mod bf16;
mod dbn;
mod determinism;
mod eval;
mod gradients;
mod reference;
mod training;
