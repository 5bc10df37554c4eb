//! latent: representation learning on multicore CPUs.
//!
//! This facade re-exports the workspace crates:
//! - [`kernels`]: SGEMM and the element-wise kernels every model is built from;
//! - [`engine`]: the training runtime;
//! - [`models`]: RBMs, deep belief nets and autoencoders; the inference
//!   interface, model files and training runs;
//! - `mpi` (the `mpi` feature): data-parallel training over MPI.
#![warn(missing_docs)]

pub use latent_engine as engine;
pub use latent_kernels as kernels;
pub use latent_models as models;

#[cfg(feature = "mpi")]
pub mod mpi;
