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

pub mod demo;
// Parts of these serve the file-based subcommands that follow the demo.
#[allow(dead_code)]
pub mod error;
#[allow(dead_code)]
pub mod image;
#[allow(dead_code)]
pub mod io;
#[allow(dead_code)]
pub mod progress;

use clap::{Parser, Subcommand};

use crate::cli::error::Result;

/// Train, inspect and use RBMs and deep belief nets from the shell.
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
    /// Train an RBM and a DBN on built-in data and draw pictures (no files needed).
    Demo(demo::DemoArgs),
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
    }
}
