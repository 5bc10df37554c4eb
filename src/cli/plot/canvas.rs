//! What the plots share: the embedded font (DejaVu Sans, registered with
//! plotters once), drawing into an RGB buffer with plotters' bitmap
//! backend and writing it as a PNG, the picture-size flag, the class
//! palette and axis ranges.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::cli::error::{CliError, Result};
use crate::cli::io::write_atomic;

/// The font family every plot's text uses.
pub const FONT: &str = "sans-serif";

/// DejaVu Sans (Bitstream Vera licence, beside the file), cut down to
/// Latin-1, Greek and a few signs: no system fonts are needed.
static FONT_BYTES: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans-subset.ttf");

/// Registers the embedded font as [`FONT`] (once per process).
fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(CliError::unsupported(
            "drawing a plot",
            "the embedded font could not be read",
        ))
    }
}

/// The drawing area of a plot.
pub type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// A drawing error of plotters as the command line's error.
pub fn draw_error(e: impl std::fmt::Display) -> CliError {
    CliError::unsupported("drawing the plot", e.to_string())
}

/// Draws a `width x height` picture on a white background with `draw` and
/// writes it to `out` as an 8-bit RGB PNG (atomically).
pub fn save_plot(
    out: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&Area<'_>) -> Result<()>,
) -> Result<()> {
    register_font()?;
    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        draw(&root)?;
        root.present().map_err(draw_error)?;
    }
    write_atomic(out, &encode_png(&rgb, width, height)?)
}

/// `rgb` (`width·height` pixels, 3 bytes each) as PNG bytes.
fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>> {
    let fail = |e: png::EncodingError| {
        CliError::arg("picture", format!("{width}x{height}"), e.to_string())
    };
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(fail)?;
        w.write_image_data(rgb).map_err(fail)?;
    }
    Ok(out)
}

/// Parses `--size WxH` (pixels), each side in `min..=8000`.
pub fn parse_size(text: &str, min: (u32, u32)) -> Result<(u32, u32)> {
    let parsed = text
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?)));
    match parsed {
        Some((w, h)) if (min.0..=8000).contains(&w) && (min.1..=8000).contains(&h) => Ok((w, h)),
        _ => Err(CliError::arg(
            "--size",
            text,
            format!(
                "WxH in pixels, width {}..=8000 and height {}..=8000 (e.g. 1000x800)",
                min.0, min.1
            ),
        )),
    }
}

/// Ten colours told apart easily (Tableau 10, as matplotlib's `tab10`).
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The range `[lo, hi]` of the finite `values` widened by 5% on each side
/// (a single value or none: a unit range around it).
pub fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (-1.0, 1.0);
    }
    let span = hi - lo;
    if span <= f64::EPSILON * lo.abs().max(hi.abs()).max(1e-300) {
        return (lo - 0.5 * lo.abs().max(1.0), hi + 0.5 * hi.abs().max(1.0));
    }
    (lo - 0.05 * span, hi + 0.05 * span)
}

/// A number for a tick label: few digits, no trailing zeros.
pub fn tick(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        return format!("{v:.1e}");
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// The file name of `path`, for titles.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
