//! `latent plot manifold`: a VAE's decoder over a grid of its 2-D latent
//! space, as a grid of image tiles (Kingma & Welling 2014, figure 4): the
//! grid's coordinates are evenly spaced quantiles of the prior `N(0, 1)`,
//! so that it covers the prior's mass evenly. A VAE with more latent
//! dimensions: `--dims i,j` picks the two that vary, the others stay at 0
//! (the prior's mean).

use std::path::PathBuf;

use clap::Args;
use latent_engine::{Matrix, Par};
use latent_models::model::Inference;
use serde_json::json;

use crate::cli::commands::{load, say, shade_for};
use crate::cli::error::{CliError, Result};
use crate::cli::image::{self, Grid};
use crate::cli::io::{check_paths, png_out};
use crate::cli::{Global, Report};

/// Flags of `latent plot manifold`.
#[derive(Debug, Args)]
pub struct ManifoldArgs {
    /// A VAE model file written by `latent train vae`.
    pub model: PathBuf,
    /// The picture to write (.png).
    #[arg(long)]
    pub out: PathBuf,
    /// Tiles per side of the grid.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(2..=100))]
    pub grid: u32,
    /// The central probability of the prior the grid covers: its
    /// coordinates are the quantiles (1-SPAN)/2 … (1+SPAN)/2 of N(0, 1),
    /// evenly spaced (0.9: z from -1.64 to 1.64).
    #[arg(long, default_value_t = 0.9)]
    pub span: f64,
    /// The two latent coordinates that vary, i,j (1-based; needed when the
    /// latent space has more than 2 dimensions; the others are 0). Left to
    /// right: z_i grows; bottom to top: z_j grows.
    #[arg(long)]
    pub dims: Option<String>,
    /// Tile shape, HxW (default: square, e.g. 28x28 for 784 visibles).
    #[arg(long)]
    pub tile: Option<String>,
}

/// Runs `latent plot manifold`.
pub fn run(args: &ManifoldArgs, g: &Global) -> Result<Report> {
    png_out("--out", &args.out)?;
    if !(args.span > 0.0 && args.span < 1.0) {
        return Err(CliError::arg(
            "--span",
            args.span,
            "a probability strictly between 0 and 1 (e.g. 0.9)",
        ));
    }
    check_paths(&[("model", &args.model)], &[("--out", &args.out)])?;
    let m = load(&args.model)?;
    let Some(vae) = m.model.as_vae() else {
        return Err(CliError::unsupported(
            format!("latent plot manifold {}", args.model.display()),
            format!(
                "{} models have no latent prior to decode a grid over; manifold works with vae models",
                m.kind.name()
            ),
        ));
    };
    let latent = vae.latent();
    let (i, j) = latent_dims(args.dims.as_deref(), latent, &args.model)?;
    let (th, tw) = image::tile_shape(m.model.n_visible(), args.tile.as_deref())?;
    let n = args.grid as usize;
    let coords = grid_coordinates(n, args.span);
    let z = grid_codes(&coords, latent, (i, j))?;
    let mut tiles = Matrix::zeros(z.rows(), m.model.n_visible())?;
    vae.decode(z.view(), tiles.view_mut(), Par::All)?;
    let mut grid = Grid::auto(n * n, th, tw, shade_for(&m));
    grid.cols = n;
    image::save(&args.out, &tiles, grid)?;
    let (lo, hi) = (coords[0], coords[n - 1]);
    say(
        g,
        format!(
            "decoded a {n}x{n} grid of z{} (across) and z{} (up) from {lo:.3} to {hi:.3}: {}",
            i + 1,
            j + 1,
            args.out.display()
        ),
    );
    Ok(Report::json(json!({
        "command": "plot manifold",
        "out": args.out.display().to_string(),
        "grid": n,
        "span": args.span,
        "dims": [i + 1, j + 1],
        "latent": latent,
        "z_range": [lo, hi],
        "tile": [th, tw],
    })))
}

/// The 0-based latent coordinates that vary: `--dims i,j` (1-based), or
/// `0, 1` for a 2-D latent space.
fn latent_dims(
    dims: Option<&str>,
    latent: usize,
    model: &std::path::Path,
) -> Result<(usize, usize)> {
    if latent < 2 {
        return Err(CliError::unsupported(
            format!("latent plot manifold {}", model.display()),
            "the VAE's latent space has 1 dimension; a manifold grid needs 2",
        ));
    }
    let expected = format!(
        "two different latent coordinates i,j in 1..={latent} to vary (the others are fixed at 0)"
    );
    let Some(text) = dims else {
        if latent == 2 {
            return Ok((0, 1));
        }
        return Err(CliError::arg(
            "--dims",
            "(missing)",
            format!("{expected}: this VAE's latent space has {latent} dimensions"),
        ));
    };
    let parsed = text.split_once(',').and_then(|(a, b)| {
        let (a, b) = (
            a.trim().parse::<usize>().ok()?,
            b.trim().parse::<usize>().ok()?,
        );
        (a != b && (1..=latent).contains(&a) && (1..=latent).contains(&b)).then_some((a - 1, b - 1))
    });
    parsed.ok_or_else(|| CliError::arg("--dims", text, expected))
}

/// The `n` grid coordinates: the prior's quantiles `(1 − span)/2 + span·k/(n − 1)`.
pub fn grid_coordinates(n: usize, span: f64) -> Vec<f64> {
    let lo = (1.0 - span) / 2.0;
    (0..n)
        .map(|k| normal_quantile(lo + span * k as f64 / (n - 1) as f64))
        .collect()
}

/// The codes of the tiles, row by row (`n² x latent`): tile `(r, c)` has
/// `z_i = coords[c]` and `z_j = coords[n − 1 − r]` (up is `+z_j`), the
/// other coordinates 0.
fn grid_codes(coords: &[f64], latent: usize, (i, j): (usize, usize)) -> Result<Matrix> {
    let n = coords.len();
    let mut z = Matrix::zeros(n * n, latent)?;
    for r in 0..n {
        for c in 0..n {
            let row = z.row_mut(r * n + c);
            row[i] = coords[c] as f32;
            row[j] = coords[n - 1 - r] as f32;
        }
    }
    Ok(z)
}

/// The quantile function of the standard normal distribution, `Φ⁻¹(p)`
/// for `p` in `(0, 1)` (Acklam's rational approximations, relative error
/// below 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    const P_LOW: f64 = 0.02425;
    if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - P_LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantiles_match_tabulated_values() {
        // Φ⁻¹ to 16 digits (scipy.stats.norm.ppf).
        for (p, z) in [
            (0.5, 0.0),
            (0.75, 0.6744897501960817),
            (0.9, 1.2815515655446004),
            (0.95, 1.6448536269514722),
            (0.975, 1.959963984540054),
            (0.01, -2.3263478740408408),
            (0.001, -3.090232306167813),
            (0.3, -0.5244005127080407),
        ] {
            let got = normal_quantile(p);
            assert!(
                (got - z).abs() <= 1.2e-9 * z.abs().max(1.0),
                "{p}: {got} vs {z}"
            );
        }
    }

    #[test]
    fn the_grid_is_symmetric_and_increasing() {
        let g = grid_coordinates(5, 0.8);
        assert!(g.windows(2).all(|w| w[0] < w[1]), "{g:?}");
        assert!((g[0] + g[4]).abs() < 1e-12 && g[2].abs() < 1e-12, "{g:?}");
        assert!((g[4] - 1.2815515655446004).abs() < 1e-8, "{g:?}");
    }
}
