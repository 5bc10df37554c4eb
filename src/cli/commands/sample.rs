//! `latent sample`: Gibbs samples from an RBM, DBN or DBM (fresh chains,
//! odd/even sweeps), or a VAE's decoder
//! means at `z ~ N(0, I)`; an autoencoder has no prior to sample from.

use std::path::PathBuf;

use clap::Args;
use latent_engine::Par;
use latent_models::model::{Inference, SampleRequest};
use serde_json::json;

use super::{PrecisionFlag, check_chains_fit, check_outputs, load_with, say, shade_for};
use crate::cli::error::{CliError, Result};
use crate::cli::image::{self, Grid};
use crate::cli::io::write_matrix;
use crate::cli::{Global, Report};
use latent_models::persist::ModelFile;

/// Flags of `latent sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// A model file written by `latent train`.
    pub model: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub precision: PrecisionFlag,
    /// Number of samples (independent chains).
    #[arg(long, short, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub n: u32,
    /// Gibbs steps per chain (in the top RBM for a DBN; odd/even sweeps for
    /// a DBM; a VAE decodes z ~ N(0, I) directly).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub steps: u32,
    /// Seed of the chains.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// DBM: the visible means of the model file's persistent chains (the
    /// training's negative phase; at most as many as it holds) instead of
    /// fresh chains.
    #[arg(long)]
    pub from_chains: bool,
    /// Output: the samples' visible means (.npy or .csv).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A picture of the samples (.png).
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Tile shape of the picture, HxW (default: square).
    #[arg(long)]
    pub tile: Option<String>,
}

/// Runs `latent sample`.
pub fn run(args: &SampleArgs, g: &Global) -> Result<Report> {
    check_outputs(
        &[("model", &args.model)],
        args.out.as_deref(),
        args.png.as_deref(),
    )?;
    let m = load_with(&args.model, &args.precision)?;
    if !m.model.can_sample() {
        return Err(CliError::unsupported(
            format!("latent sample {}", args.model.display()),
            format!(
                "{} models have no prior over their codes to sample from; sample works with rbm, gaussian-rbm, dbn, dbm and vae models",
                m.kind.name()
            ),
        ));
    }
    let n = sample_count(args, &m)?;
    check_chains_fit(&m, "-n", args.n.into())?;
    let tile = match &args.png {
        Some(_) => Some(image::tile_shape(
            m.model.n_visible(),
            args.tile.as_deref(),
        )?),
        None => None,
    };
    let steps = args.steps as usize;
    let request = SampleRequest {
        steps,
        seed: args.seed,
    };
    let mut s = match args.from_chains {
        true => m.model.chain_samples(n, Par::All)?,
        false => m.model.samples(n, request, Par::All)?,
    };
    if let (Some(p), Some((th, tw))) = (&args.png, tile) {
        image::save(p, &s, Grid::auto(n, th, tw, shade_for(&m)))?;
    }
    if let Some(o) = &args.out {
        m.preprocess.invert(&mut s)?;
        write_matrix("--out", o, &s)?;
    }
    if args.from_chains {
        say(g, format!("took {n} samples from the persistent chains"));
    } else if m.model.as_vae().is_some() {
        say(
            g,
            format!("drew {n} samples from the decoder at z ~ N(0, I)"),
        );
    } else {
        say(g, format!("drew {n} samples with {steps} Gibbs steps each"));
    }
    Ok(Report::json(json!({
        "command": "sample",
        "shape": [s.rows(), s.cols()],
        "out": args.out.as_ref().map(|p| p.display().to_string()),
        "png": args.png.as_ref().map(|p| p.display().to_string()),
    })))
}

/// How many samples to draw: `-n`, or with `--from-chains` at most the
/// DBM file's chains (an error for other kinds, or a file without chains).
fn sample_count(args: &SampleArgs, m: &ModelFile) -> Result<usize> {
    let n = match m.model.as_dbm() {
        Some(d) if args.from_chains => (args.n as usize).min(d.chain_count()),
        _ if args.from_chains => {
            return Err(CliError::unsupported(
                format!(
                    "--from-chains with the {} model {}",
                    m.kind.name(),
                    args.model.display()
                ),
                "it applies to dbm models, whose files keep their persistent chains",
            ));
        }
        _ => args.n as usize,
    };
    if n == 0 {
        return Err(CliError::unsupported(
            format!("--from-chains with {}", args.model.display()),
            "the model holds no persistent chains (it was not trained)",
        ));
    }
    Ok(n)
}
