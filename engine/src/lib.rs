//! Training runtime for latent: matrices and workspaces, data readers,
//! minibatching, optimisers, schedules, checkpoints and progress reporting.
//!
//! The engine knows nothing about particular models; models are built on it
//! in `latent-models`.
