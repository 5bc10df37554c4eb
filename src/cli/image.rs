//! Pictures: rows of a matrix drawn as a grid of grey tiles in a PNG file
//! (filters, samples, data beside reconstructions), written atomically.

use std::path::Path;

use latent_engine::Matrix;

use crate::cli::error::{CliError, Result};
use crate::cli::io::write_atomic;

/// How tile values become grey levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shade {
    /// `[0, 1]` maps to black..white, values outside are clipped (data,
    /// reconstructions, samples of binary models).
    Unit,
    /// Each tile is stretched to its own min..max (weight vectors, and
    /// real-valued data).
    PerTile,
}

/// The layout of a picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// Tile height in pixels of the source.
    pub tile_h: usize,
    /// Tile width in pixels of the source.
    pub tile_w: usize,
    /// Tiles per row of the picture.
    pub cols: usize,
    /// Each source pixel becomes `zoom x zoom` picture pixels.
    pub zoom: usize,
    /// The shading.
    pub shade: Shade,
}

impl Grid {
    /// A grid of `n` tiles of `tile_h x tile_w`, about square, zoomed so a
    /// tile is at least 32 pixels high.
    pub fn auto(n: usize, tile_h: usize, tile_w: usize, shade: Shade) -> Grid {
        let cols = (n as f64).sqrt().ceil().max(1.0) as usize;
        Grid {
            tile_h,
            tile_w,
            cols,
            zoom: 32usize.div_ceil(tile_h.max(1)).clamp(1, 8),
            shade,
        }
    }
}

/// Parses a tile shape `HxW` (e.g. `28x28`).
pub fn parse_tile(s: &str) -> Option<(usize, usize)> {
    let (h, w) = s.split_once(['x', 'X'])?;
    let (h, w) = (h.trim().parse().ok()?, w.trim().parse().ok()?);
    (h > 0 && w > 0).then_some((h, w))
}

/// The tile shape for vectors of `len` values: `tile` when given (it must
/// multiply to `len`), else the square root when `len` is a square.
pub fn tile_shape(len: usize, tile: Option<&str>) -> Result<(usize, usize)> {
    if let Some(t) = tile {
        let (h, w) = parse_tile(t)
            .ok_or_else(|| CliError::arg("--tile", t, "HxW with positive integers, e.g. 28x28"))?;
        if h * w != len {
            return Err(CliError::mismatch(
                format!("--tile {t}: pixels per tile vs values per vector"),
                len,
                h * w,
            ));
        }
        return Ok((h, w));
    }
    let side = (len as f64).sqrt().round() as usize;
    if side * side == len && len > 0 {
        Ok((side, side))
    } else {
        Err(CliError::arg(
            "--tile",
            format!("(none; {len} values per vector is not a square)"),
            "a tile shape HxW whose product is the vector length",
        ))
    }
}

/// Renders `tiles` (one tile per row of the matrix, `tile_h·tile_w` values,
/// row-major) as an 8-bit grey PNG and returns its bytes.
pub fn render(tiles: &Matrix, grid: Grid) -> Result<Vec<u8>> {
    let per_tile = grid.tile_h * grid.tile_w;
    if tiles.cols() != per_tile {
        return Err(CliError::mismatch(
            "picture: values per tile",
            per_tile,
            tiles.cols(),
        ));
    }
    let n = tiles.rows().max(1);
    let cols = grid.cols.clamp(1, n);
    let rows = n.div_ceil(cols);
    let z = grid.zoom.max(1);
    let gap = 1;
    let width = cols * (grid.tile_w * z + gap) + gap;
    let height = rows * (grid.tile_h * z + gap) + gap;
    let mut pixels = vec![64u8; width * height];
    for t in 0..tiles.rows() {
        let v = tiles.row(t);
        let (lo, hi) = match grid.shade {
            Shade::Unit => (0.0f32, 1.0f32),
            Shade::PerTile => v
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
                    (a.min(x), b.max(x))
                }),
        };
        let range = if hi > lo { hi - lo } else { 1.0 };
        let (x0, y0) = (
            gap + (t % cols) * (grid.tile_w * z + gap),
            gap + (t / cols) * (grid.tile_h * z + gap),
        );
        for i in 0..grid.tile_h {
            for j in 0..grid.tile_w {
                let g = ((v[i * grid.tile_w + j] - lo) / range).clamp(0.0, 1.0);
                let g = if g.is_finite() {
                    (g * 255.0).round() as u8
                } else {
                    0
                };
                for dy in 0..z {
                    let row = (y0 + i * z + dy) * width;
                    pixels[row + x0 + j * z..row + x0 + (j + 1) * z].fill(g);
                }
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width as u32, height as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc
            .write_header()
            .map_err(|e| CliError::arg("picture", format!("{width}x{height}"), e.to_string()))?;
        w.write_image_data(&pixels)
            .map_err(|e| CliError::arg("picture", format!("{width}x{height}"), e.to_string()))?;
    }
    Ok(out)
}

/// Renders and writes a picture atomically.
pub fn save(path: &Path, tiles: &Matrix, grid: Grid) -> Result<()> {
    write_atomic(path, &render(tiles, grid)?)
}

/// Rows `a[i]` and `b[i]` interleaved (`a0, b0, a1, b1, …`) for the first
/// `n` rows: in a grid with an even number of columns each pair sits side
/// by side (data beside its reconstruction).
pub fn interleave(a: &Matrix, b: &Matrix, n: usize) -> Result<Matrix> {
    interleave_many(&[a, b], n)
}

/// The first `n` rows of every matrix of `parts` interleaved (`p0[0],
/// p1[0], …, p0[1], p1[1], …`): with a multiple of `parts.len()` columns
/// in the grid, each group sits side by side.
pub fn interleave_many(parts: &[&Matrix], n: usize) -> Result<Matrix> {
    let k = parts.len();
    let n = parts.iter().fold(n, |n, p| n.min(p.rows()));
    let cols = parts.first().map_or(0, |p| p.cols());
    let mut out = Matrix::zeros(k * n, cols)?;
    for i in 0..n {
        for (j, p) in parts.iter().enumerate() {
            if p.cols() != cols {
                return Err(CliError::mismatch(
                    "picture: values per tile",
                    cols,
                    p.cols(),
                ));
            }
            out.row_mut(k * i + j).copy_from_slice(p.row(i));
        }
    }
    Ok(out)
}

/// The columns of `w` (`V x H`: one weight vector per hidden unit) as rows,
/// `H x V`, the first `max` of them: the tiles of a filter picture.
pub fn filters_as_rows(w: &Matrix, max: usize) -> Result<Matrix> {
    let h = w.cols().min(max);
    Ok(Matrix::from_fn(h, w.rows(), |j, i| w.row(i)[j])?)
}
