//! `latent plot codes`: a scatter plot of a model's codes of data (what
//! `latent encode` writes), directly when they are 2-D, else their first
//! two principal components; points coloured by label, with a legend.

use std::path::{Path, PathBuf};

use clap::Args;
use latent_engine::{Matrix, Par};
use latent_models::model::AnyModel;
use latent_models::pca::Pca;
use latent_models::persist::ModelFile;
use plotters::prelude::*;
use serde_json::json;

use super::canvas::{self, Area, FONT, PALETTE, draw_error, padded_range, tick};
use crate::cli::commands::{load, model_data, say};
use crate::cli::error::{CliError, Result};
use crate::cli::io::{check_paths, png_out, read_labels};
use crate::cli::{Global, Report};

/// Flags of `latent plot codes`.
#[derive(Debug, Args)]
pub struct CodesArgs {
    /// A model file written by `latent train`.
    pub model: PathBuf,
    /// The data to encode (IDX, NPY or CSV).
    #[arg(long)]
    pub data: PathBuf,
    /// Integer labels of the data (IDX, NPY or a one-column CSV): the
    /// points' colours.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// The picture to write (.png).
    #[arg(long)]
    pub out: PathBuf,
    /// Draw the first two principal components even of 2-D codes (codes
    /// of more dimensions always are).
    #[arg(long)]
    pub pca: bool,
    /// At most this many points: evenly spaced rows of the data.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_points: u32,
    /// DBN, DBM: the hidden layer whose features to draw (1 = first;
    /// default top).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub layer: Option<u32>,
    /// Picture size in pixels, WxH.
    #[arg(long, default_value = "1000x800")]
    pub size: String,
}

/// The 2-D points and how they were made.
struct Projection {
    points: Vec<(f64, f64)>,
    axes: [String; 2],
    /// The explained variance ratios of the two components (PCA only).
    explained: Option<[f64; 2]>,
}

/// Runs `latent plot codes`.
pub fn run(args: &CodesArgs, g: &Global) -> Result<Report> {
    png_out("--out", &args.out)?;
    let size = canvas::parse_size(&args.size, (400, 300))?;
    let mut inputs = vec![("model", args.model.as_path()), ("--data", &args.data)];
    inputs.extend(args.labels.as_deref().map(|p| ("--labels", p)));
    check_paths(&inputs, &[("--out", &args.out)])?;
    let m = load(&args.model)?;
    let level = m
        .model
        .encode_level(args.layer.map(|l| l as usize))
        .map_err(|expected| CliError::arg("--layer", args.layer.unwrap_or(0), expected))?;
    let (codes, labels) = codes_and_labels(args, &m, level)?;
    let proj = project(&codes, args.pca)?;
    let title = format!(
        "{}: {} {}, {}",
        canvas::file_name(&args.model),
        m.kind.name(),
        sizes_text(&m.model),
        feature_name(&m.model, level)
    );
    let classes = labels.as_deref().map(Classes::of);
    if let Some(c) = &classes
        && c.values.len() > PALETTE.len()
        && !g.quiet
    {
        eprintln!("{}", c.cycle_note());
    }
    canvas::save_plot(&args.out, size, |root| {
        draw(root, &title, &proj, labels.as_deref(), classes.as_ref())
    })?;
    let how = match proj.explained {
        Some(_) => "first two principal components",
        None => "directly",
    };
    let of_classes = classes
        .as_ref()
        .map(|c| format!(" of {} classes", c.values.len()));
    say(
        g,
        format!(
            "drew {} codes ({}-D, {how}){}: {}",
            proj.points.len(),
            codes.cols(),
            of_classes.unwrap_or_default(),
            args.out.display()
        ),
    );
    Ok(Report::json(json!({
        "command": "plot codes",
        "out": args.out.display().to_string(),
        "points": proj.points.len(),
        "dims": codes.cols(),
        "projection": if proj.explained.is_some() { "pca" } else { "direct" },
        "explained": proj.explained,
        "classes": classes.as_ref().map(|c| c.values.len()),
        "size": [size.0, size.1],
    })))
}

/// The codes at `level` of the rows of `--data` to draw (at most
/// `--max-points`, evenly spaced) and their labels; an error for codes of
/// fewer than 2 dimensions.
fn codes_and_labels(
    args: &CodesArgs,
    m: &ModelFile,
    level: usize,
) -> Result<(Matrix, Option<Vec<u32>>)> {
    let x = model_data(m, &args.data)?;
    let labels = match &args.labels {
        Some(p) => Some(checked_labels(p, &args.data, x.rows())?),
        None => None,
    };
    let rows = evenly_spaced(x.rows(), args.max_points as usize);
    let (x, labels) = if rows.len() < x.rows() {
        let picked = Matrix::from_fn(rows.len(), x.cols(), |i, j| x.row(rows[i])[j])?;
        let l = labels.map(|l| rows.iter().map(|&r| l[r]).collect::<Vec<u32>>());
        (picked, l)
    } else {
        (x, labels)
    };
    let codes = m.model.encode_layer(&x, level, Par::All)?;
    if codes.cols() < 2 {
        return Err(CliError::unsupported(
            format!("latent plot codes {}", args.model.display()),
            format!(
                "its {} have {} dimension; a scatter plot needs 2 or more",
                feature_name(&m.model, level),
                codes.cols()
            ),
        ));
    }
    Ok((codes, labels))
}

/// The labels of `path`, one per sample of the data.
fn checked_labels(path: &Path, data: &Path, rows: usize) -> Result<Vec<u32>> {
    let labels = read_labels(path)?;
    if labels.len() != rows {
        return Err(CliError::mismatch(
            format!(
                "{}: labels vs samples of {}",
                path.display(),
                data.display()
            ),
            rows,
            labels.len(),
        ));
    }
    Ok(labels)
}

/// At most `max` row indices of `0..n`, evenly spaced, in order.
fn evenly_spaced(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    (0..max).map(|i| i * n / max).collect()
}

/// What the features of `level` are, in words.
fn feature_name(model: &AnyModel, level: usize) -> String {
    match model {
        AnyModel::Rbm(_) => "hidden probabilities p(h|v)".into(),
        AnyModel::Dbn(_) => format!("layer {level} probabilities (up-pass)"),
        AnyModel::Dbm(_) => format!("layer {level} mean-field posteriors"),
        AnyModel::Vae(_) => "posterior means μ(x)".into(),
        _ => "codes".into(),
    }
}

/// `784-256-2`.
fn sizes_text(model: &AnyModel) -> String {
    let s: Vec<String> = model.sizes().iter().map(|s| s.to_string()).collect();
    s.join("-")
}

/// The codes as points: themselves when 2-D (and no `--pca`), else their
/// coordinates along their first two principal components.
fn project(codes: &Matrix, pca: bool) -> Result<Projection> {
    if codes.cols() == 2 && !pca {
        if let Some((i, v)) = codes.first_non_finite() {
            return Err(CliError::mismatch(
                format!("code {} of sample {}", i % 2 + 1, i / 2 + 1),
                "a finite value",
                v,
            ));
        }
        return Ok(Projection {
            points: (0..codes.rows())
                .map(|r| (codes.row(r)[0] as f64, codes.row(r)[1] as f64))
                .collect(),
            axes: ["code 1".into(), "code 2".into()],
            explained: None,
        });
    }
    let fit = Pca::fit(codes, 2)?;
    let z = fit.transform(codes)?;
    let r = fit.explained_ratio();
    Ok(Projection {
        points: (0..z.rows())
            .map(|i| (z.row(i)[0] as f64, z.row(i)[1] as f64))
            .collect(),
        axes: [
            format!(
                "principal component 1 ({:.1}% of the variance)",
                100.0 * r[0]
            ),
            format!(
                "principal component 2 ({:.1}% of the variance)",
                100.0 * r[1]
            ),
        ],
        explained: Some([r[0], r[1]]),
    })
}

/// The distinct labels, in increasing order: class `k` (its rank) gets
/// colour `k mod 10` and marker `k / 10` (circle, triangle, square).
struct Classes {
    values: Vec<u32>,
}

/// The marker shapes, one per cycle through the palette.
const MARKERS: [&str; 3] = ["circle", "triangle", "square"];

impl Classes {
    fn of(labels: &[u32]) -> Classes {
        let mut values = labels.to_vec();
        values.sort_unstable();
        values.dedup();
        Classes { values }
    }

    fn rank(&self, label: u32) -> usize {
        self.values.binary_search(&label).unwrap_or(0)
    }

    fn cycle_note(&self) -> String {
        format!(
            "note: {} classes and {} colours: the colours cycle, with another marker each cycle ({}){}",
            self.values.len(),
            PALETTE.len(),
            MARKERS.join(", "),
            if self.values.len() > PALETTE.len() * MARKERS.len() {
                "; past 30 classes colour and marker repeat"
            } else {
                ""
            }
        )
    }
}

/// Draws marker `rank` at `at` (in pixels) with radius `r`.
fn marker(area: &Area<'_>, at: (i32, i32), r: i32, rank: usize, alpha: f64) -> Result<()> {
    let style = PALETTE[rank % PALETTE.len()].mix(alpha).filled();
    let (x, y) = at;
    match (rank / PALETTE.len()) % MARKERS.len() {
        0 => area.draw(&Circle::new(at, r, style)),
        1 => area.draw(&Polygon::new(
            vec![(x, y - r - 1), (x - r - 1, y + r), (x + r + 1, y + r)],
            style,
        )),
        _ => area.draw(&Rectangle::new([(x - r, y - r), (x + r, y + r)], style)),
    }
    .map_err(draw_error)
}

/// The whole picture: the scatter plot, and the legend on the right when
/// there are labels.
fn draw(
    root: &Area<'_>,
    title: &str,
    proj: &Projection,
    labels: Option<&[u32]>,
    classes: Option<&Classes>,
) -> Result<()> {
    let (w, _) = root.dim_in_pixel();
    let (plot_area, legend_area) = root.split_horizontally(w.saturating_sub(150));
    let chart_area = if classes.is_some() { &plot_area } else { root };
    let (x0, x1) = padded_range(proj.points.iter().map(|p| p.0));
    let (y0, y1) = padded_range(proj.points.iter().map(|p| p.1));
    let mut chart = ChartBuilder::on(chart_area)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .x_desc(proj.axes[0].as_str())
        .y_desc(proj.axes[1].as_str())
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .draw()
        .map_err(draw_error)?;
    // Markers are drawn in pixels, on the plotting area without its
    // coordinates, in the data's order so that no class hides the others.
    let area = chart.plotting_area();
    let strip = area.strip_coord_spec();
    let base = area.get_base_pixel();
    for (i, &(x, y)) in proj.points.iter().enumerate() {
        let (px, py) = area.map_coordinate(&(x, y));
        let rank = match (labels, classes) {
            (Some(l), Some(c)) => c.rank(l[i]),
            _ => 0,
        };
        marker(&strip, (px - base.0, py - base.1), 2, rank, 0.55)?;
    }
    if let Some(c) = classes {
        draw_legend(&legend_area, c)?;
    }
    Ok(())
}

/// The legend: a marker and the label of each class (at most 30 lines).
fn draw_legend(area: &Area<'_>, classes: &Classes) -> Result<()> {
    let text = (FONT, 16).into_font().color(&BLACK);
    area.draw(&Text::new("label", (20, 60), text.clone()))
        .map_err(draw_error)?;
    let shown = classes.values.len().min(30);
    for (k, &label) in classes.values.iter().take(shown).enumerate() {
        let y = 95 + 24 * k as i32;
        marker(area, (30, y), 6, k, 1.0)?;
        area.draw(&Text::new(label.to_string(), (48, y - 8), text.clone()))
            .map_err(draw_error)?;
    }
    if classes.values.len() > shown {
        let y = 95 + 24 * shown as i32;
        let more = format!("… {} more", classes.values.len() - shown);
        area.draw(&Text::new(more, (20, y - 8), text))
            .map_err(draw_error)?;
    }
    Ok(())
}
