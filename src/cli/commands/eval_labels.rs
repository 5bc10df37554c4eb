//! `latent eval --labels` on a classifier: its accuracy against the labels,
//! the accuracy of each class and the confusion matrix (rows: the true
//! class, columns: the predicted one).

use std::path::Path;

use latent_engine::Par;
use latent_models::persist::ModelFile;
use serde_json::{Value, json};

use super::eval::EvalArgs;
use super::{model_data, say};
use crate::cli::error::{CliError, Result};
use crate::cli::io::read_labels;
use crate::cli::progress::json_f64;
use crate::cli::{Global, Report};

/// Accuracy, per-class accuracy and confusion of predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct Confusion {
    /// `counts[true][predicted]`.
    pub counts: Vec<Vec<u64>>,
}

impl Confusion {
    /// The confusion of `predicted` against `labels` over `classes`
    /// classes (every value below it).
    pub fn new(labels: &[u32], predicted: &[u32], classes: usize) -> Self {
        let mut counts = vec![vec![0u64; classes]; classes];
        for (&y, &p) in labels.iter().zip(predicted) {
            counts[y as usize][p as usize] += 1;
        }
        Confusion { counts }
    }

    /// Samples of class `c`.
    pub fn samples(&self, c: usize) -> u64 {
        self.counts[c].iter().sum()
    }

    /// Samples classified correctly.
    pub fn correct(&self) -> u64 {
        (0..self.counts.len()).map(|c| self.counts[c][c]).sum()
    }

    /// The fraction classified correctly.
    pub fn accuracy(&self) -> f64 {
        let n: u64 = (0..self.counts.len()).map(|c| self.samples(c)).sum();
        self.correct() as f64 / n.max(1) as f64
    }

    /// The accuracy of class `c` (`None` without samples of it).
    pub fn class_accuracy(&self, c: usize) -> Option<f64> {
        let n = self.samples(c);
        (n > 0).then(|| self.counts[c][c] as f64 / n as f64)
    }
}

/// The error of `--labels` with a model that has no classes, or of a
/// classifier evaluated without them.
pub fn check(args: &EvalArgs, m: &ModelFile) -> Result<()> {
    match (&args.labels, m.model.as_classifier()) {
        (Some(_), None) => Err(CliError::unsupported(
            format!(
                "--labels with the {} model {}",
                m.kind.name(),
                args.model.display()
            ),
            "only a classifier model (kind classifier) predicts classes to compare with labels",
        )),
        (None, Some(_)) => Err(CliError::arg(
            "--labels",
            "(missing)",
            "the true classes of --data: a classifier is evaluated by its accuracy",
        )),
        _ => Ok(()),
    }
}

/// Reads the labels at `path`: one per sample of `rows`, each below
/// `classes`.
fn labels(path: &Path, rows: usize, classes: usize) -> Result<Vec<u32>> {
    let labels = read_labels(path)?;
    if labels.len() != rows {
        return Err(CliError::mismatch(
            format!("{}: labels vs samples of --data", path.display()),
            rows,
            labels.len(),
        ));
    }
    if let Some((i, &y)) = labels
        .iter()
        .enumerate()
        .find(|&(_, &y)| y as usize >= classes)
    {
        return Err(CliError::mismatch(
            format!("{}: label of sample {}", path.display(), i + 1),
            format!("a class in 0..{classes} (the classifier's {classes} classes)"),
            y,
        ));
    }
    Ok(labels)
}

/// Runs `latent eval --labels` on a classifier (checked by [`check`]).
pub fn run(args: &EvalArgs, g: &Global, m: &ModelFile, path: &Path) -> Result<Report> {
    for (flag, given) in [
        ("--ais", args.ais),
        ("--mf-iters", args.mf_iters.is_some()),
        ("--mf-tol", args.mf_tol.is_some()),
    ] {
        if given {
            return Err(CliError::unsupported(
                format!("{flag} with the classifier model {}", args.model.display()),
                "a classifier is evaluated by its accuracy against --labels",
            ));
        }
    }
    let x = model_data(m, &args.data)?;
    let (predicted, p) = m.model.predict_classes(&x, Par::All)?;
    let k = p.cols();
    let labels = labels(path, x.rows(), k)?;
    let c = Confusion::new(&labels, &predicted, k);
    print(g, &c, x.rows());
    let per_class: Vec<Value> = (0..k)
        .map(|j| c.class_accuracy(j).map_or(Value::Null, json_f64))
        .collect();
    Ok(Report::json(json!({
        "command": "eval",
        "samples": x.rows(),
        "classes": k,
        "correct": c.correct(),
        "accuracy": json_f64(c.accuracy()),
        "per_class_accuracy": per_class,
        "per_class_samples": (0..k).map(|j| c.samples(j)).collect::<Vec<_>>(),
        "confusion": c.counts,
    })))
}

/// The human-readable report.
fn print(g: &Global, c: &Confusion, rows: usize) {
    let k = c.counts.len();
    say(g, format!("samples:                  {rows}"));
    say(
        g,
        format!(
            "accuracy:                 {:.4} ({} of {rows})",
            c.accuracy(),
            c.correct()
        ),
    );
    say(g, "per-class accuracy:");
    for j in 0..k {
        let acc = c
            .class_accuracy(j)
            .map_or("-".to_string(), |a| format!("{a:.4}"));
        say(
            g,
            format!(
                "  class {j:<4} {acc:>6} ({} of {})",
                c.counts[j][j],
                c.samples(j)
            ),
        );
    }
    let width = c
        .counts
        .iter()
        .flatten()
        .max()
        .map_or(1, |m| m.to_string().len())
        .max(k.to_string().len());
    say(
        g,
        "confusion matrix (rows: true class, columns: predicted class):",
    );
    let head: Vec<String> = (0..k).map(|j| format!("{j:>width$}")).collect();
    say(
        g,
        format!("  {:>w$}  {}", "", head.join(" "), w = k.to_string().len()),
    );
    for (j, row) in c.counts.iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:>width$}")).collect();
        say(
            g,
            format!("  {j:>w$}  {}", cells.join(" "), w = k.to_string().len()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_counts_rows_as_the_true_class() {
        let c = Confusion::new(&[0, 0, 1, 2, 2, 2], &[0, 1, 1, 2, 0, 2], 4);
        assert_eq!(c.counts[0], vec![1, 1, 0, 0]);
        assert_eq!(c.counts[2], vec![1, 0, 2, 0]);
        assert_eq!(c.correct(), 4);
        assert!((c.accuracy() - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(c.class_accuracy(0), Some(0.5));
        assert_eq!(c.class_accuracy(3), None);
    }
}
