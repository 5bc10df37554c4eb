//! Models for latent: restricted Boltzmann machines, deep belief nets, the
//! autoencoder family and predictive sparse decomposition, written as thin
//! layers over `latent-kernels` and `latent-engine`. The formulas follow
//! `MODELS.md`.
#![warn(missing_docs)]

pub mod ae;
pub mod dbm;
pub mod dbm_pretrain;
pub mod dbn;
pub mod error;
pub mod eval;
pub mod model;
pub mod pca;
pub mod persist;
pub mod psd;
pub mod rbm;
pub mod train;

pub use error::{ModelError, Result};
