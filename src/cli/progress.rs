//! Training progress: an engine [`Observer`] that draws a progress bar with
//! rate and ETA (indicatif) when standard error is a terminal, prints one
//! plain line per epoch when it is not, stays silent with `--quiet`, and
//! appends each epoch to a JSON-lines metrics file (rewritten atomically
//! after every epoch, so it is always whole).
//!
//! A run trained in pieces (`--checkpoint-every`: one `Trainer::fit` per
//! piece) shows the whole run's epochs and ETA: [`Progress::set_total`]
//! gives the total, and the ETA then comes from the mean epoch time.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use latent_engine::train::{BatchProgress, Control, EpochProgress, Observer};
use latent_models::train::RunObserver;

use crate::cli::io::write_atomic;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// Nothing.
    Quiet,
    /// One line per epoch on standard error.
    Lines,
    /// A live bar on standard error.
    Bar,
}

impl Display {
    /// A bar on a terminal, lines otherwise, nothing when `quiet`.
    pub fn detect(quiet: bool) -> Display {
        if quiet {
            Display::Quiet
        } else if std::io::stderr().is_terminal() {
            Display::Bar
        } else {
            Display::Lines
        }
    }
}

fn fmt_duration(d: Option<Duration>) -> String {
    match d {
        None => "?".into(),
        Some(d) => {
            let s = d.as_secs();
            if s >= 3600 {
                format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
            } else if s >= 60 {
                format!("{}m{:02}s", s / 60, s % 60)
            } else {
                format!("{:.1}s", d.as_secs_f64())
            }
        }
    }
}

/// The observer of a training run (one per model, or per DBN layer).
pub struct Progress {
    display: Display,
    label: String,
    bar: Option<ProgressBar>,
    metrics_path: Option<PathBuf>,
    /// Every epoch line of the metrics file so far (all layers).
    metrics_lines: Vec<String>,
    /// The error of a failed metrics write, reported after training.
    pub metrics_error: Option<crate::cli::error::CliError>,
    layer: Option<usize>,
    /// Epochs of the whole run (stage), when a fit covers only part of it.
    total: Option<usize>,
    /// Seconds and count of the epochs seen in this stage (for the ETA).
    epoch_seconds: f64,
    epochs_seen: usize,
}

impl Progress {
    /// An observer labelled `label` (e.g. `"rbm 784-500"`).
    pub fn new(display: Display, label: impl Into<String>, metrics: Option<PathBuf>) -> Self {
        Progress {
            display,
            label: label.into(),
            bar: None,
            metrics_path: metrics,
            metrics_lines: Vec::new(),
            metrics_error: None,
            layer: None,
            total: None,
            epoch_seconds: 0.0,
            epochs_seen: 0,
        }
    }

    /// Starts a new stage (a DBN layer, a pretraining layer, fine-tuning):
    /// a new label, and `"layer": l` in the metrics lines when `layer` is
    /// given.
    pub fn stage(&mut self, label: impl Into<String>, layer: Option<usize>) {
        self.finish();
        self.label = label.into();
        self.layer = layer;
        self.total = None;
        self.epoch_seconds = 0.0;
        self.epochs_seen = 0;
    }

    /// The epochs of the whole run (or stage), shown instead of those of
    /// the current `fit` call.
    pub fn set_total(&mut self, epochs: usize) {
        self.total = Some(epochs);
    }

    /// The total epochs to show, given the fit's own.
    fn epochs(&self, fit_epochs: usize) -> usize {
        self.total.unwrap_or(fit_epochs).max(fit_epochs)
    }

    /// Clears the bar.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn bar(&mut self, total: u64) -> &ProgressBar {
        self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:.bold} [{bar:28.cyan/blue}] {percent:>3}% {msg} (eta {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(self.label.clone());
            bar
        })
    }
}

impl Observer for Progress {
    fn on_batch(&mut self, p: &BatchProgress<'_>) -> Control {
        if self.display == Display::Bar {
            let epochs = self.epochs(p.epochs);
            let total = (epochs * p.batches) as u64;
            let pos = (p.epoch * p.batches + p.batch + 1) as u64;
            let msg = format!(
                "epoch {}/{} loss {:.4} {:.0} samples/s",
                p.epoch + 1,
                epochs,
                p.loss,
                p.samples_per_sec
            );
            let bar = self.bar(total);
            bar.set_position(pos);
            bar.set_message(msg);
        }
        Control::Continue
    }

    fn on_epoch(&mut self, p: &EpochProgress<'_>) -> Control {
        let r = p.record;
        let epochs = self.epochs(p.epochs);
        self.epoch_seconds += r.seconds;
        self.epochs_seen += 1;
        // The fit's own ETA covers its epochs; the epochs after it are
        // estimated from the mean epoch time.
        let eta = p.eta.map(|d| {
            let mean = self.epoch_seconds / self.epochs_seen as f64;
            d + Duration::from_secs_f64(mean * (epochs - p.epochs) as f64)
        });
        let valid = r
            .valid_metric
            .map(|v| format!(" valid {v:.4}"))
            .unwrap_or_default();
        let line = format!(
            "{}: epoch {}/{} loss {:.4}{valid} {:.0} samples/s {:.2}s eta {}",
            self.label,
            r.epoch + 1,
            epochs,
            r.train_loss,
            p.samples_per_sec,
            r.seconds,
            fmt_duration(eta)
        );
        // At most about 20 lines a run, and always the last epoch.
        let every = epochs.div_ceil(20).max(1);
        let show = (r.epoch as usize + 1).is_multiple_of(every) || r.epoch as usize + 1 == epochs;
        match self.display {
            _ if !show => {}
            Display::Quiet => {}
            Display::Lines => eprintln!("{line}"),
            Display::Bar => {
                if let Some(bar) = &self.bar {
                    bar.println(line);
                } else {
                    eprintln!("{line}");
                }
            }
        }
        if let Some(path) = &self.metrics_path {
            let mut obj = serde_json::Map::new();
            if let Some(l) = self.layer {
                obj.insert("layer".into(), l.into());
            }
            obj.insert("epoch".into(), r.epoch.into());
            obj.insert("train_loss".into(), json_f64(r.train_loss));
            obj.insert(
                "valid_metric".into(),
                r.valid_metric.map_or(serde_json::Value::Null, json_f64),
            );
            obj.insert("samples".into(), r.samples.into());
            obj.insert("seconds".into(), json_f64(r.seconds));
            obj.insert("samples_per_sec".into(), json_f64(p.samples_per_sec));
            for (k, v) in &r.metrics {
                obj.insert(k.clone(), json_f64(*v));
            }
            self.metrics_lines
                .push(serde_json::Value::Object(obj).to_string());
            let mut text = self.metrics_lines.join("\n");
            text.push('\n');
            if let Err(e) = write_atomic(path, text.as_bytes()) {
                self.metrics_error = Some(e);
                return Control::Stop;
            }
        }
        Control::Continue
    }
}

/// A JSON number, or `null` for a non-finite value.
pub fn json_f64(v: f64) -> serde_json::Value {
    serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// The library's training runs report their stages and notes here: a new
/// label (and layer) per stage, notes on standard error unless quiet, the
/// whole fit's epochs, and a failed metrics write as the run's error.
impl RunObserver for Progress {
    fn stage(&mut self, label: &str, layer: Option<usize>) {
        Progress::stage(self, label, layer);
    }

    fn note(&mut self, text: &str) {
        if self.display != Display::Quiet {
            eprintln!("{text}");
        }
    }

    fn begin_fit(&mut self, epochs: usize) {
        self.set_total(epochs);
    }

    fn end_fit(&mut self) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        match self.metrics_error.take() {
            Some(e) => Err(Box::new(e)),
            None => Ok(()),
        }
    }

    fn fit_done(&mut self) {
        self.finish();
    }
}
