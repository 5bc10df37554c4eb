//! `latent reconstruct`: deterministic reconstructions (mean-field for
//! RBMs, `g(f(x))` for autoencoders, the decoder mean at `μ(x)` for a VAE,
//! `F(x)D` for a PSD model, `z*D` from its FISTA codes with `--exact`), and
//! a picture of data beside them.

use std::path::PathBuf;

use clap::Args;
use latent_engine::{Matrix, Par};
use latent_models::model::{Inference, row_squared_errors};
use latent_models::psd::PsdScratch;
use serde_json::json;

use super::{PrecisionFlag, check_outputs, load_with, mean, model_data, say, shade_for};
use crate::cli::error::{CliError, Result};
use crate::cli::image::{self, Grid};
use crate::cli::io::write_matrix;
use crate::cli::progress::json_f64;
use crate::cli::{Global, Report};

/// Flags of `latent reconstruct`.
#[derive(Debug, Args)]
pub struct ReconstructArgs {
    /// A model file written by `latent train`.
    pub model: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub precision: PrecisionFlag,
    /// The data to reconstruct.
    #[arg(long)]
    pub data: PathBuf,
    /// Output: reconstructions (.npy or .csv).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// A picture of samples beside their reconstructions (.png).
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Samples in the picture.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub count: u32,
    /// Tile shape of the picture, HxW (default: square).
    #[arg(long)]
    pub tile: Option<String>,
    /// psd: reconstruct from the exact sparse codes z* (FISTA), `z*D`,
    /// instead of the fast encoder's `F(x)D`.
    #[arg(long)]
    pub exact: bool,
}

/// Runs `latent reconstruct`.
pub fn run(args: &ReconstructArgs, g: &Global) -> Result<Report> {
    check_outputs(
        &[("model", &args.model), ("--data", &args.data)],
        args.out.as_deref(),
        args.png.as_deref(),
    )?;
    let m = load_with(&args.model, &args.precision)?;
    let tile = match &args.png {
        Some(_) => Some(image::tile_shape(
            m.model.n_visible(),
            args.tile.as_deref(),
        )?),
        None => None,
    };
    if args.exact && m.model.as_psd().is_none() {
        return Err(CliError::unsupported(
            format!(
                "--exact with the {} model {}",
                m.kind.name(),
                args.model.display()
            ),
            "it applies to psd models (from the FISTA codes instead of the fast encoder's)",
        ));
    }
    let x = model_data(&m, &args.data)?;
    let mut r = match (args.exact, m.model.as_psd()) {
        (true, Some(psd)) => {
            let mut r = Matrix::zeros(x.rows(), x.cols())?;
            psd.exact_reconstruct_into(
                x.view(),
                r.view_mut(),
                &mut PsdScratch::default(),
                Par::All,
            )?;
            r
        }
        _ => m.model.reconstructions(&x, Par::All)?,
    };
    let mut sq = vec![0.0f32; x.rows()];
    row_squared_errors(x.view(), r.view(), &mut sq)?;
    let mean = mean(&sq);
    if let (Some(p), Some((th, tw))) = (&args.png, tile) {
        let n = (args.count as usize).min(x.rows());
        image::save(
            p,
            &image::interleave(&x, &r, n)?,
            Grid {
                cols: 2 * ((n as f64).sqrt().ceil() as usize).max(1),
                ..Grid::auto(2 * n, th, tw, shade_for(&m))
            },
        )?;
    }
    if let Some(o) = &args.out {
        m.preprocess.invert(&mut r)?;
        write_matrix("--out", o, &r)?;
    }
    say(
        g,
        format!(
            "reconstructed {} samples, mean squared error per sample {mean:.4}",
            x.rows()
        ),
    );
    Ok(Report::json(json!({
        "command": "reconstruct",
        "samples": x.rows(),
        "reconstruction_error": json_f64(mean),
        "out": args.out.as_ref().map(|p| p.display().to_string()),
        "png": args.png.as_ref().map(|p| p.display().to_string()),
    })))
}
