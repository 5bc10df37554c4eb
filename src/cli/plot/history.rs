//! `latent plot history`: the training curves of a run, from a model
//! file's history records or a metrics file of `latent train --metrics`
//! (JSON lines): the training loss per epoch and the validation metric
//! when there is one, a panel per stage (a DBN's or a deep autoencoder's
//! layers, tagged `layer`, then the whole model).

use std::path::{Path, PathBuf};

use clap::Args;
use plotters::chart::DualCoordChartContext;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use serde_json::{Value, json};

use super::canvas::{self, Area, FONT, PALETTE, draw_error, padded_range, tick};
use crate::cli::commands::{load, say};
use crate::cli::error::{CliError, Result};
use crate::cli::io::{check_paths, png_out};
use crate::cli::{Global, Report};

/// Flags of `latent plot history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// A model file written by `latent train` (or give --metrics).
    #[arg(conflicts_with = "metrics")]
    pub model: Option<PathBuf>,
    /// A metrics file written by `latent train --metrics` (JSON lines).
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    /// The picture to write (.png).
    #[arg(long)]
    pub out: PathBuf,
    /// Picture width in pixels (each stage's panel is 300 high).
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u32).range(400..=8000))]
    pub width: u32,
}

/// One epoch of a run.
#[derive(Debug, Clone, PartialEq)]
struct Epoch {
    layer: Option<usize>,
    /// 1-based.
    epoch: u64,
    loss: Option<f64>,
    valid: Option<f64>,
}

/// Consecutive epochs of one stage.
struct Stage {
    name: String,
    epochs: Vec<Epoch>,
}

/// Runs `latent plot history`.
pub fn run(args: &HistoryArgs, g: &Global) -> Result<Report> {
    png_out("--out", &args.out)?;
    let (source, flag) = match (&args.model, &args.metrics) {
        (Some(m), _) => (m, "model"),
        (None, Some(m)) => (m, "--metrics"),
        (None, None) => {
            return Err(CliError::arg(
                "MODEL or --metrics",
                "(missing)",
                "a model file, or a metrics file of latent train --metrics",
            ));
        }
    };
    check_paths(&[(flag, source)], &[("--out", &args.out)])?;
    let (epochs, what) = match &args.model {
        Some(path) => model_epochs(path)?,
        None => (read_metrics(source)?, "latent train --metrics".to_string()),
    };
    if !epochs.iter().any(|e: &Epoch| e.loss.is_some()) {
        return Err(CliError::unsupported(
            format!("latent plot history {}", source.display()),
            "it records no training epochs (no finite training loss)",
        ));
    }
    let stages = stages(epochs);
    let title = format!("{}: {what}", canvas::file_name(source));
    let size = (args.width, 50 + 300 * stages.len() as u32);
    canvas::save_plot(&args.out, size, |root| draw(root, &title, &stages))?;
    let count: usize = stages.iter().map(|s| s.epochs.len()).sum();
    say(
        g,
        format!(
            "drew {count} epochs in {} stage(s): {}",
            stages.len(),
            args.out.display()
        ),
    );
    Ok(Report::json(json!({
        "command": "plot history",
        "out": args.out.display().to_string(),
        "epochs": count,
        "stages": stages.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
        "size": [size.0, size.1],
    })))
}

/// The epochs of a model file's history records, and the model's kind
/// and sizes.
fn model_epochs(path: &Path) -> Result<(Vec<Epoch>, String)> {
    let m = load(path)?;
    let sizes: Vec<String> = m.model.sizes().iter().map(|s| s.to_string()).collect();
    let epochs = m.checkpoint.history.iter().map(|h| Epoch {
        layer: h
            .metrics
            .iter()
            .find(|(k, _)| k == "layer")
            .map(|&(_, l)| l as usize),
        epoch: h.epoch + 1,
        loss: Some(h.train_loss).filter(|v| v.is_finite()),
        valid: h.valid_metric.filter(|v| v.is_finite()),
    });
    let what = format!("{} {}", m.kind.name(), sizes.join("-"));
    Ok((epochs.collect(), what))
}

/// The epochs of a metrics file (JSON lines with `epoch`, `train_loss`
/// and optionally `valid_metric` and `layer`).
fn read_metrics(path: &Path) -> Result<Vec<Epoch>> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::io(path, "read", e))?;
    let mut epochs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: &str| {
            CliError::mismatch(
                format!("{}: line {}", path.display(), n + 1),
                "a JSON object with epoch and train_loss (a line of latent train --metrics)",
                why,
            )
        };
        let v: Value = serde_json::from_str(line).map_err(|_| bad("text that is not JSON"))?;
        let Some(epoch) = v.get("epoch").and_then(Value::as_u64) else {
            return Err(bad("no epoch (a whole number)"));
        };
        let loss = match v.get("train_loss") {
            Some(Value::Null) => None,
            Some(x) => Some(
                x.as_f64()
                    .ok_or_else(|| bad("a train_loss that is not a number"))?,
            ),
            None => return Err(bad("no train_loss")),
        };
        let layer = match v.get("layer") {
            None | Some(Value::Null) => None,
            Some(l) => Some(
                l.as_u64()
                    .ok_or_else(|| bad("a layer that is not a whole number"))?
                    as usize,
            ),
        };
        epochs.push(Epoch {
            layer,
            epoch: epoch + 1,
            loss,
            valid: v.get("valid_metric").and_then(Value::as_f64),
        });
    }
    Ok(epochs)
}

/// The epochs split where the `layer` tag changes (0-based in the records):
/// `layer 1`, `layer 2`, … (1 = the first hidden layer) stages, and
/// an untagged one named `whole model` after tagged ones (`training`
/// when nothing is tagged).
fn stages(epochs: Vec<Epoch>) -> Vec<Stage> {
    let tagged = epochs.iter().any(|e| e.layer.is_some());
    let mut out: Vec<Stage> = Vec::new();
    for e in epochs {
        let name = match e.layer {
            Some(l) => format!("layer {}", l + 1),
            None if tagged => "whole model".into(),
            None => "training".into(),
        };
        match out.last_mut() {
            Some(s) if s.name == name => s.epochs.push(e),
            _ => out.push(Stage {
                name,
                epochs: vec![e],
            }),
        }
    }
    out
}

/// Whether the validation metric can share the loss's axis: neither
/// curve would be flattened to under a fifth of the shared range.
fn shared_axis(loss: (f64, f64), valid: (f64, f64)) -> bool {
    let span = loss.1.max(valid.1) - loss.0.min(valid.0);
    let least = (loss.1 - loss.0).min(valid.1 - valid.0);
    span <= 0.0 || least >= span / 5.0
}

/// The picture: the title, then one panel per stage.
fn draw(root: &Area<'_>, title: &str, stages: &[Stage]) -> Result<()> {
    let body = root.titled(title, (FONT, 20)).map_err(draw_error)?;
    let panels = body.split_evenly((stages.len(), 1));
    for (panel, stage) in panels.iter().zip(stages) {
        draw_stage(panel, stage)?;
    }
    Ok(())
}

/// One stage's panel: the loss, and the validation metric (on the right
/// axis when its scale differs).
fn draw_stage(area: &Area<'_>, stage: &Stage) -> Result<()> {
    let pts = |f: fn(&Epoch) -> Option<f64>| -> Vec<(f64, f64)> {
        let e = stage.epochs.iter();
        e.filter_map(|e| Some((e.epoch as f64, f(e)?))).collect()
    };
    let (loss, valid) = (pts(|e| e.loss), pts(|e| e.valid));
    let (first, last) = stage
        .epochs
        .iter()
        .fold((u64::MAX, 0), |(a, b), e| (a.min(e.epoch), b.max(e.epoch)));
    let x = (first as f64 - 0.5, last as f64 + 0.5);
    let yl = padded_range(loss.iter().map(|p| p.1));
    let yv = padded_range(valid.iter().map(|p| p.1));
    let shared = valid.is_empty() || shared_axis(yl, yv);
    let (yl, yv) = match shared {
        true => {
            let y = padded_range(loss.iter().chain(&valid).map(|p| p.1));
            (y, y)
        }
        false => (yl, yv),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(&stage.name, (FONT, 17))
        .margin(10)
        .x_label_area_size(45)
        .y_label_area_size(75)
        .right_y_label_area_size(if shared { 10 } else { 75 })
        .build_cartesian_2d(x.0..x.1, yl.0..yl.1)
        .map_err(draw_error)?
        .set_secondary_coord(x.0..x.1, yv.0..yv.1);
    let integral = |v: &f64| match (v - v.round()).abs() < 1e-9 {
        true => format!("{}", v.round()),
        false => String::new(),
    };
    let y_desc = if shared && !valid.is_empty() {
        "loss, validation metric"
    } else {
        "training loss"
    };
    chart
        .configure_mesh()
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .x_desc("epoch")
        .y_desc(y_desc)
        .axis_desc_style((FONT, 15))
        .label_style((FONT, 13))
        .x_label_formatter(&integral)
        .y_label_formatter(&|v| tick(*v))
        .draw()
        .map_err(draw_error)?;
    if !shared {
        chart
            .configure_secondary_axes()
            .y_desc("validation metric")
            .axis_desc_style((FONT, 15))
            .label_style((FONT, 13))
            .y_label_formatter(&|v| tick(*v))
            .draw()
            .map_err(draw_error)?;
    }
    let marks = stage.epochs.len() <= 60;
    draw_curves(&mut chart, &loss, &valid, shared, marks)
}

/// A stage's chart: epochs across, the loss on the left axis and the
/// validation metric on the right one.
type Chart<'a, 'b> = DualCoordChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<RangedCoordf64, RangedCoordf64>,
    Cartesian2d<RangedCoordf64, RangedCoordf64>,
>;

/// The loss and validation curves (the latter on the right axis unless
/// `shared`), with a dot per epoch when `marks`, and their legend.
fn draw_curves<'a>(
    chart: &mut Chart<'a, 'a>,
    loss: &[(f64, f64)],
    valid: &[(f64, f64)],
    shared: bool,
    marks: bool,
) -> Result<()> {
    let (lc, vc) = (PALETTE[0], PALETTE[1]);
    chart
        .draw_series(LineSeries::new(loss.iter().copied(), lc.stroke_width(2)))
        .map_err(draw_error)?
        .label("training loss")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], lc.stroke_width(2)));
    if marks {
        let dots = loss.iter().map(|&p| Circle::new(p, 3, lc.filled()));
        chart.draw_series(dots).map_err(draw_error)?;
    }
    if !valid.is_empty() {
        let line = LineSeries::new(valid.iter().copied(), vc.stroke_width(2));
        let (s, name) = match shared {
            true => (chart.draw_series(line), "validation metric"),
            false => (
                chart.draw_secondary_series(line),
                "validation metric (right axis)",
            ),
        };
        s.map_err(draw_error)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], vc.stroke_width(2)));
        if marks {
            let dots = valid.iter().map(|&p| Circle::new(p, 3, vc.filled()));
            match shared {
                true => chart.draw_series(dots).map(|_| ()),
                false => chart.draw_secondary_series(dots).map(|_| ()),
            }
            .map_err(draw_error)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(draw_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_validation_metric_shares_the_axis_only_on_a_like_scale() {
        // A VAE's loss and negative ELBO: one axis.
        assert!(shared_axis((150.0, 190.0), (160.0, 200.0)));
        // A loss of ~100 and an error rate: the error rate gets its own.
        assert!(!shared_axis((65.0, 100.0), (0.13, 0.2)));
        // A flat validation curve far from the loss: its own axis too.
        assert!(!shared_axis((1.0, 2.0), (10.0, 10.1)));
        // Constant curves on one value: one axis.
        assert!(shared_axis((3.0, 3.0), (3.0, 3.0)));
    }

    #[test]
    fn stages_follow_the_layer_tags() {
        let e = |layer, epoch| Epoch {
            layer,
            epoch,
            loss: Some(1.0),
            valid: None,
        };
        let s = stages(vec![
            e(Some(0), 1),
            e(Some(0), 2),
            e(Some(1), 1),
            e(None, 1),
        ]);
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["layer 1", "layer 2", "whole model"]);
        assert_eq!(s[0].epochs.len(), 2);
        let s = stages(vec![e(None, 1), e(None, 2)]);
        assert_eq!((s.len(), s[0].name.as_str()), (1, "training"));
    }
}
