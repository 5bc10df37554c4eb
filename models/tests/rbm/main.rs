//! The RBM family against exact references: gradients (`gradients`),
//! training (`training`), determinism (`determinism`), likelihood
//! evaluation (`eval`) and deep belief nets (`dbn`), with the shared f64
//! references in `reference`. One test binary.

mod dbn;
mod determinism;
mod eval;
mod gradients;
mod reference;
mod training;
