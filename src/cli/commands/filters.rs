//! `latent filters`: the first layer's weight vectors (an RBM's, or an
//! autoencoder's first encoder layer), or a PSD model's dictionary atoms,
//! as a grid of tiles.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::{load, say};
use crate::cli::error::Result;
use crate::cli::image::{self, Grid, Shade};
use crate::cli::io::{check_paths, png_out};
use crate::cli::{Global, Report};

/// Flags of `latent filters`.
#[derive(Debug, Args)]
pub struct FiltersArgs {
    /// A model file written by `latent train`.
    pub model: PathBuf,
    /// The picture to write (.png).
    #[arg(long)]
    pub out: PathBuf,
    /// Tile shape, HxW (default: square, e.g. 28x28 for 784 visibles).
    #[arg(long)]
    pub tile: Option<String>,
    /// At most this many filters.
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u32).range(1..))]
    pub max: u32,
    /// Tiles per row (default: about square).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub cols: Option<u32>,
}

/// `latent filters`: the first layer's weight vectors (an RBM's, or an
/// autoencoder's first encoder layer) as a grid of tiles.
pub fn run(args: &FiltersArgs, g: &Global) -> Result<Report> {
    png_out("--out", &args.out)?;
    check_paths(&[("model", &args.model)], &[("--out", &args.out)])?;
    let m = load(&args.model)?;
    let tiles = match m.model.as_psd() {
        // The atoms are the dictionary's rows already.
        Some(psd) => {
            let d = psd.dictionary();
            d.slice_rows(0, d.rows().min(args.max as usize))?
        }
        None => image::filters_as_rows(m.model.first_weights(), args.max as usize)?,
    };
    let (th, tw) = image::tile_shape(tiles.cols(), args.tile.as_deref())?;
    let mut grid = Grid::auto(tiles.rows(), th, tw, Shade::PerTile);
    if let Some(c) = args.cols {
        grid.cols = c as usize;
    }
    image::save(&args.out, &tiles, grid)?;
    say(
        g,
        format!(
            "drew {} filters of {th}x{tw}: {}",
            tiles.rows(),
            args.out.display()
        ),
    );
    Ok(Report::json(json!({
        "command": "filters",
        "filters": tiles.rows(),
        "tile": [th, tw],
        "out": args.out.display().to_string(),
    })))
}
