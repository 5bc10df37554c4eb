//! Sparse coding and PSD: FISTA against an independent f64 solver, the
//! gradients by finite differences, training (the prediction error falls,
//! atoms stay unit norm), bit-exactness (threads, resume) and the model
//! file.

mod fista;
mod gradients;
mod training;
