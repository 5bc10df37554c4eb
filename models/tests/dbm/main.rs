//! Deep Boltzmann machines against f64 references: mean-field fixed points
//! and the PCD gradient (`posteriors`), the Gibbs sampler against the
//! exact marginals and training on bars and stripes (`training`), resume
//! and thread-count exactness and model files (`exactness`). One test
//! binary; the references are in `reference`.

#![allow(clippy::needless_range_loop)] // index loops mirror the formulas

mod evaluation;
mod exactness;
mod posteriors;
mod pretraining;
mod reference;
mod training;
