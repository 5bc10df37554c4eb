//! `latent info`: a model file's kind, shapes, hyper-parameters and
//! training history.

use std::path::PathBuf;

use clap::Args;
use serde_json::{Value, json};

use super::{load, say};
use crate::cli::error::Result;
use crate::cli::progress::json_f64;
use crate::cli::{Global, Report};

/// Flags of `latent info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// A model file written by `latent train`.
    pub model: PathBuf,
}

/// `latent info`: kind, shapes, hyper-parameters, training history.
pub fn run(args: &InfoArgs, g: &Global) -> Result<Report> {
    let m = load(&args.model)?;
    let ck = &m.checkpoint;
    let sizes = m.model.sizes();
    let variant = m.model.variant();
    let tensors: Vec<Value> = ck
        .params
        .tensors()
        .iter()
        .map(|t| json!({"name": t.name, "shape": [t.value.rows(), t.value.cols()]}))
        .collect();
    say(g, format!("model:      {}", args.model.display()));
    say(
        g,
        format!(
            "kind:       {}{}",
            ck.model_kind,
            variant
                .as_ref()
                .map(|v| format!(" ({v})"))
                .unwrap_or_default()
        ),
    );
    if let Some(s) = &m.status {
        say(g, format!("status:     {s}"));
    }
    say(
        g,
        format!(
            "layers:     {}",
            sizes
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join("-")
        ),
    );
    let classes = m.model.as_classifier().map(|c| c.classes());
    if let Some(k) = classes {
        say(
            g,
            format!("classes:    {k} (a softmax on the top hidden layer)"),
        );
    }
    say(g, format!("precision:  {}", m.model.precision()));
    say(g, format!("parameters: {}", ck.params.num_elements()));
    for t in ck.params.tensors() {
        say(
            g,
            format!("  {:<10} {} x {}", t.name, t.value.rows(), t.value.cols()),
        );
    }
    say(g, "hyper-parameters:");
    for line in ck.hyperparameters.lines() {
        say(g, format!("  {line}"));
    }
    say(g, format!("trainer:    {}", ck.trainer));
    say(
        g,
        format!(
            "trained:    {} epoch(s), {} optimiser step(s)",
            ck.history.len(),
            ck.step
        ),
    );
    if !ck.history.is_empty() {
        say(g, "history:");
        for h in &ck.history {
            let layer = h
                .metrics
                .iter()
                .find(|(k, _)| k == "layer")
                .map(|(_, l)| format!("layer {l} "))
                .unwrap_or_default();
            say(
                g,
                format!(
                    "  {layer}epoch {:>3}  loss {:.5}{}  {:.2} s",
                    h.epoch + 1,
                    h.train_loss,
                    h.valid_metric
                        .map(|v| format!("  valid {v:.5}"))
                        .unwrap_or_default(),
                    h.seconds
                ),
            );
        }
    }
    Ok(Report::json(json!({
        "command": "info",
        "model": args.model.display().to_string(),
        "kind": ck.model_kind,
        "variant": variant,
        "status": m.status,
        "sizes": sizes,
        "classes": classes,
        "precision": m.model.precision().name(),
        "parameters": ck.params.num_elements(),
        "tensors": tensors,
        "hyperparameters": ck.hyperparameters,
        "preprocess": m.preprocess.describe(),
        "trainer": ck.trainer,
        "epochs": ck.history.len(),
        "steps": ck.step,
        "history": ck.history.iter().map(|h| json!({
            "epoch": h.epoch,
            "train_loss": json_f64(h.train_loss),
            "valid_metric": h.valid_metric.map(json_f64),
            "seconds": json_f64(h.seconds),
            "metrics": h.metrics.iter().map(|(k, v)| (k.clone(), json_f64(*v))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
    })))
}
