//! The `latent` command line: subcommands, global flags and the shape of
//! their results.
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`error`] | [`CliError`](error::CliError), printed by `main` as one line |
//! | [`io`] | data in (IDX, NPY, CSV by magic and extension), NPY/CSV out, atomic writes |
//! | [`image`] | PNG grids of tiles (filters, samples, reconstructions) |
//! | [`progress`] | the training observer: progress bar, plain lines, metrics file |
//! | [`demo`] | `latent demo` |
//! | [`train`] | `latent train`: flags, data, progress and report around the library's training; a file per kind |
//! | [`commands`] | `info`, `encode`, `reconstruct`, `score`, `sample`, `eval`, `filters`, `export`, `predict`, `hash`, `search`, a file each, over the library's model interface |
//! | [`plot`] | `latent plot codes`, `manifold`, `history`: pictures drawn with plotters |

pub mod commands;
pub mod demo;
pub mod error;
pub mod image;
pub mod io;
pub mod plot;
pub mod progress;
pub mod train;

use clap::{Parser, Subcommand};

use crate::cli::error::Result;

/// Train, inspect and use RBMs, deep belief nets and autoencoders from the shell.
#[derive(Debug, Parser)]
#[command(name = "latent", version, about, long_about = None)]
pub struct Cli {
    /// Flags every subcommand takes.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Print nothing but errors (no progress, no summary).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Print the result as one JSON object on standard output.
    #[arg(long, global = true)]
    pub json: bool,
    /// Threads to use (default: one per core).
    #[arg(long, global = true, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub threads: Option<u32>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train an RBM, a DBN and a denoising autoencoder on built-in data and draw pictures (no files needed).
    Demo(demo::DemoArgs),
    /// Train rbm, gaussian-rbm, dbn, ae, vae, deep-ae, dbm, psd or classifier on a data file (IDX, NPY, CSV) and write a model file.
    Train(Box<train::TrainArgs>),
    /// Show a model file's kind, shapes, hyper-parameters and training history.
    Info(commands::info::InfoArgs),
    /// Write features of data: p(h|v), a DBN's up-pass, an autoencoder's code, a VAE's posterior mean, a classifier's top hidden layer.
    Encode(commands::encode::EncodeArgs),
    /// Write reconstructions of data, and a PNG of data beside reconstructions.
    Reconstruct(commands::reconstruct::ReconstructArgs),
    /// Write a per-sample anomaly score: free energy, reconstruction error or negative ELBO.
    Score(commands::score::ScoreArgs),
    /// Draw samples (Gibbs sampling, or a VAE's decoder); write them and/or a PNG grid.
    Sample(commands::sample::SampleArgs),
    /// Reconstruction error; RBMs: pseudo-, exact or AIS log-likelihood; VAEs: ELBO and importance-weighted log-likelihood; classifiers (--labels): accuracy and confusion matrix.
    Eval(commands::eval::EvalArgs),
    /// Draw the first layer's weight vectors as a PNG grid of tiles.
    Filters(commands::filters::FiltersArgs),
    /// Write the weights as NPY files or one safetensors file.
    Export(commands::export::ExportArgs),
    /// Draw a model's codes (coloured by label), a VAE's latent manifold or the training curves as a PNG.
    Plot(plot::PlotArgs),
    /// Write a classifier's class of every sample (and with --proba its class probabilities).
    Predict(commands::predict::PredictArgs),
    /// Write binary codes of data (a sigmoid code layer or hidden probabilities, thresholded) as packed bits (NPY uint8).
    Hash(commands::hash::HashArgs),
    /// Retrieve the k nearest codes or a Hamming ball of packed codes for each query; precision and recall against labels.
    Search(commands::search::SearchArgs),
}

/// Writes one line to standard output. When the reader has gone (a broken
/// pipe, as in `latent info m.latent | head -3`) the program ends at once
/// with status 141, as a process killed by `SIGPIPE` would, instead of
/// panicking; other write errors are ignored (nothing more can be said).
pub fn print_line(text: impl std::fmt::Display) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{text}").and_then(|()| out.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(141);
    }
}

/// What a command produced, for `--json`.
#[derive(Debug)]
pub struct Report {
    /// The machine-readable result.
    pub json: serde_json::Value,
}

impl Report {
    /// A report of `value`.
    pub fn json(value: serde_json::Value) -> Report {
        Report { json: value }
    }
}

/// Runs a parsed command line.
pub fn run(cli: &Cli) -> Result<Report> {
    let g = &cli.global;
    match &cli.command {
        Command::Demo(a) => demo::run(a, g),
        Command::Train(a) => train::run(a, g),
        Command::Info(a) => commands::info::run(a, g),
        Command::Encode(a) => commands::encode::run(a, g),
        Command::Reconstruct(a) => commands::reconstruct::run(a, g),
        Command::Score(a) => commands::score::run(a, g),
        Command::Sample(a) => commands::sample::run(a, g),
        Command::Eval(a) => commands::eval::run(a, g),
        Command::Filters(a) => commands::filters::run(a, g),
        Command::Export(a) => commands::export::run(a, g),
        Command::Plot(a) => plot::run(a, g),
        Command::Predict(a) => commands::predict::run(a, g),
        Command::Hash(a) => commands::hash::run(a, g),
        Command::Search(a) => commands::search::run(a, g),
    }
}
