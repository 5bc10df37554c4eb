//! `latent plot`: pictures of what a model learned and how it trained,
//! drawn with plotters into a PNG.
//!
//! | subcommand | module | picture |
//! | --- | --- | --- |
//! | `codes` | [`codes`] | a scatter plot of the codes of data (2-D, or their first two principal components), coloured by label |
//! | `manifold` | [`manifold`] | a VAE's decoder over a grid of its 2-D latent space |
//! | `history` | [`history`] | the training curves of a model file or a metrics file |
//!
//! [`canvas`] holds what they share: the embedded font, the PNG writer,
//! the palette.

pub mod canvas;
pub mod codes;
pub mod history;
pub mod manifold;

use clap::{Args, Subcommand};

use crate::cli::error::Result;
use crate::cli::{Global, Report};

/// Flags of `latent plot`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// What to draw.
    #[command(subcommand)]
    pub what: PlotCommand,
}

/// The pictures `latent plot` draws.
#[derive(Debug, Subcommand)]
pub enum PlotCommand {
    /// A scatter plot of a model's codes of data (2-D, or their first two principal components), coloured by label.
    Codes(codes::CodesArgs),
    /// A VAE's decoder over a grid of its 2-D latent space (the prior's quantiles), as a grid of image tiles.
    Manifold(manifold::ManifoldArgs),
    /// The training curves (loss, validation metric, per stage) of a model file or a --metrics file.
    History(history::HistoryArgs),
}

/// Runs `latent plot`.
pub fn run(args: &PlotArgs, g: &Global) -> Result<Report> {
    match &args.what {
        PlotCommand::Codes(a) => codes::run(a, g),
        PlotCommand::Manifold(a) => manifold::run(a, g),
        PlotCommand::History(a) => history::run(a, g),
    }
}
