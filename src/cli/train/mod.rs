//! `latent train`: the flags ([`args`]), the data ([`data`]) and the
//! session ([`session`]: progress, metrics file, the closing report) are the
//! command line's; the training itself is the library's
//! ([`latent_models::train`]): one model, a DBN layer by layer, a deep
//! autoencoder pretrained and fine-tuned, with the model file written
//! every `--checkpoint-every` epochs and at the end, and `--resume`
//! continuing exactly. One file per kind.

pub mod args;
pub mod data;
pub mod session;

mod ae;
mod ae_flags;
mod dbn;
mod deep_ae;
mod rbm;
mod vae;

pub use args::TrainArgs;

use args::{Kind, check_flags};

use crate::cli::error::Result;
use crate::cli::{Global, Report};

/// Runs `latent train`: the one place that dispatches on the kind.
pub fn run(args: &TrainArgs, g: &Global) -> Result<Report> {
    check_flags(args)?;
    match args.model {
        Kind::Rbm | Kind::GaussianRbm => rbm::train(args, g),
        Kind::Dbn => dbn::train(args, g),
        Kind::Ae => ae::train(args, g),
        Kind::Vae => vae::train(args, g),
        Kind::DeepAe => deep_ae::train(args, g),
    }
}
