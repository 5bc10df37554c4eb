//! What every training run shares: the flags, the progress observer (bar
//! or lines, metrics file) and the clock; the library's [`Run`] built from
//! them; the closing line and JSON report.

use std::time::Instant;

use latent_engine::checkpoint::EpochRecord;
use latent_engine::train::{FitSummary, GradientReducer, Model, Trainer};
use latent_models::persist::Preprocess;
use latent_models::train::{Run, Settings};
use serde_json::json;

use super::args::TrainArgs;
use super::distributed::Ranks;
use crate::cli::progress::{Display, Progress, json_f64};
use crate::cli::{Global, Report};

/// The flags, the observer of every fit of the run, and when it started.
pub struct Session<'a> {
    /// The flags.
    pub args: &'a TrainArgs,
    /// The global flags.
    pub g: &'a Global,
    /// The observer of every fit of the run.
    pub obs: Progress,
    /// When the run started.
    pub started: Instant,
    /// The ranks' reducer of a distributed run, for the run's stages.
    reducer: Option<Box<dyn GradientReducer>>,
    /// Whether this process writes the model file (alone, or rank 0).
    writes: bool,
}

impl<'a> Session<'a> {
    /// A session whose progress lines are labelled `label`.
    pub fn new(args: &'a TrainArgs, g: &'a Global, label: impl Into<String>) -> Self {
        Session {
            args,
            g,
            obs: Progress::new(
                Display::detect(g.quiet || g.json),
                label,
                args.metrics.clone(),
            ),
            started: Instant::now(),
            reducer: None,
            writes: true,
        }
    }

    /// The session of one rank of `ranks` (alone: unchanged): its models
    /// (every stage of a staged kind) train with the ranks' reducer, and
    /// only rank 0 writes the file.
    pub fn with_ranks(mut self, ranks: &Ranks) -> Self {
        self.reducer = ranks.reducer();
        self.writes = ranks.leads();
        self
    }

    /// Whether to print progress and summaries.
    pub fn verbose(&self) -> bool {
        !self.g.quiet && !self.g.json
    }

    /// The library's run: writing `--out` (every `--checkpoint-every`
    /// epochs too) with `settings` and the data's preprocessing `pre`; on a
    /// rank but 0 of a distributed run, writing nothing. The run (every
    /// stage of it) trains with the ranks' reducer, averaging parameters
    /// every `--average-every` steps when given.
    pub fn run<'s>(&'s mut self, settings: &'s Settings, pre: &'s Preprocess) -> Run<'s> {
        let args = self.args;
        let mut run = if self.writes {
            Run::new(&args.out, settings, pre, &mut self.obs)
        } else {
            Run::in_memory(settings, pre, &mut self.obs)
        };
        run.checkpoint_every = args.checkpoint_every.map(|n| n as usize);
        run.reducer = self.reducer.take();
        run.average_every = args.average_every.map(|k| k as usize);
        run
    }

    /// Seconds since the run started.
    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The end of a one-model run that took `seconds`: the line `trained
    /// <what>: <n> epoch(s) in <s> s, <result>[, best validation <v>];
    /// wrote <out>` (not with --quiet or --json), and the JSON report: the
    /// fields of the object `fields` (kind, sizes, the result…) with the
    /// command, the output file, the epochs run and in all, the seconds,
    /// the best validation metric and the history.
    pub fn model_report<M: Model>(
        &self,
        (what, result): (&str, &str),
        seconds: f64,
        (trainer, summary): (&Trainer<M>, &FitSummary),
        mut fields: serde_json::Value,
    ) -> Report {
        let out = &self.args.out;
        if self.verbose() {
            crate::cli::print_line(format!(
                "trained {what}: {} epoch(s) in {seconds:.1} s, {result}{}; wrote {}",
                summary.epochs_run,
                best_text(summary),
                out.display()
            ));
        }
        let common = json!({
            "command": "train",
            "out": out.display().to_string(),
            "epochs_run": summary.epochs_run,
            "epochs_total": trainer.epochs_done(),
            "seconds": json_f64(seconds),
            "best_valid": summary.best_valid.map(json_f64),
            "history": history_json(trainer.history()),
        });
        if let (Some(f), serde_json::Value::Object(c)) = (fields.as_object_mut(), common) {
            f.extend(c);
        }
        Report::json(fields)
    }
}

/// The history records as JSON.
pub fn history_json(h: &[EpochRecord]) -> serde_json::Value {
    h.iter()
        .map(|r| {
            let mut o = json!({
                "epoch": r.epoch,
                "train_loss": json_f64(r.train_loss),
                "valid_metric": r.valid_metric.map(json_f64),
                "samples": r.samples,
                "seconds": json_f64(r.seconds),
            });
            for (k, v) in &r.metrics {
                o[k] = json_f64(*v);
            }
            o
        })
        .collect()
}

/// `, best validation 1.2345` when there was validation.
pub fn best_text(summary: &FitSummary) -> String {
    summary
        .best_valid
        .map(|v| format!(", best validation {v:.4}"))
        .unwrap_or_default()
}
