//! The training data of a run: read, checked, preprocessed (the default
//! preprocessing for the kind, or the resumed model's), and the resumed
//! model file.

use std::path::Path;

use latent_engine::preprocess::Standardizer;
use latent_engine::{Dataset, Matrix};
use latent_models::persist::{self, ModelFile, Preprocess};

use super::args::{Kind, LossArg, TrainArgs};
use crate::cli::error::{CliError, Result};
use crate::cli::io::read_matrix;

/// The training data of a run, preprocessed.
#[derive(Debug)]
pub struct TrainData {
    /// Training samples (and labels when given).
    pub train: Dataset,
    /// Validation samples.
    pub valid: Option<Dataset>,
    /// What was done to the data (stored in the model file).
    pub pre: Preprocess,
    /// The smallest and largest preprocessed training value.
    pub range: (f32, f32),
}

impl TrainData {
    /// Whether the training data lies in `[0, 1]`.
    pub fn in_unit(&self) -> bool {
        self.range.0 >= 0.0 && self.range.1 <= 1.0
    }
}

fn value_range(x: &Matrix) -> (f32, f32) {
    x.as_slice()
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        })
}

/// The default preprocessing: Gaussian RBMs standardise; otherwise `[0, 1]`
/// data is used as it is and `[0, 255]` data (IDX bytes) divided by 255;
/// other data is an error that suggests `--scale` for binary-visible models
/// and used as it is by autoencoders (unless `--loss bce`).
fn choose_preprocess(args: &TrainArgs, x: &Matrix) -> Result<Preprocess> {
    let (lo, hi) = value_range(x);
    if args.model == Kind::GaussianRbm {
        if args.no_standardize {
            return Ok(Preprocess::None);
        }
        return Ok(Preprocess::Standardize(Standardizer::fit(x)?));
    }
    let range = if args.scale {
        if hi <= lo {
            return Err(CliError::arg(
                "--scale",
                format!("data range [{lo}, {hi}]"),
                "data with at least two distinct values",
            ));
        }
        Some((lo, hi))
    } else if lo >= 0.0 && hi <= 1.0 {
        None
    } else if lo >= 0.0 && hi <= 255.0 {
        Some((0.0, 255.0))
    } else if args.model.is_autoencoder()
        && args.loss != Some(LossArg::Bce)
        && args.binarize.is_none()
    {
        return Ok(Preprocess::None);
    } else {
        let what = if args.model.is_autoencoder() {
            "an autoencoder with --loss bce (targets in [0, 1])"
        } else {
            "an RBM with binary visibles"
        };
        return Err(CliError::mismatch(
            format!("{}: value range for {what}", args.data.display()),
            "[0, 1] or [0, 255] (or pass --scale, or train gaussian-rbm, or --loss mse)",
            format!("[{lo}, {hi}]"),
        ));
    };
    Ok(match (range, args.binarize) {
        (Some((lo, hi)), None) => Preprocess::Scale { lo, hi },
        (Some((lo, hi)), Some(t)) => Preprocess::Binarize {
            lo,
            hi,
            threshold: t,
        },
        (None, Some(t)) => Preprocess::Binarize {
            lo: 0.0,
            hi: 1.0,
            threshold: t,
        },
        (None, None) => Preprocess::None,
    })
}

fn load_data(
    path: &Path,
    raw: Option<Matrix>,
    labels: Option<&Path>,
    pre: &Preprocess,
) -> Result<Dataset> {
    let mut x = match raw {
        Some(x) => x,
        None => read_matrix(path)?,
    };
    if x.rows() == 0 {
        return Err(CliError::mismatch(
            format!("{}: samples", path.display()),
            "at least one",
            0,
        ));
    }
    pre.apply(&mut x, path)?;
    let labels = match labels {
        Some(p) => {
            let l = crate::cli::io::read_labels(p)?;
            if l.len() != x.rows() {
                return Err(CliError::mismatch(
                    format!("{}: labels vs samples in {}", p.display(), path.display()),
                    x.rows(),
                    l.len(),
                ));
            }
            Some(l)
        }
        None => None,
    };
    Ok(Dataset::new(x, labels)?)
}

/// Reads and preprocesses the training (and validation) data: with the
/// resumed model's preprocessing when there is one, else the default for
/// the kind.
pub fn read_data(args: &TrainArgs, resumed: Option<&ModelFile>) -> Result<TrainData> {
    let raw = read_matrix(&args.data)?;
    let pre = match resumed {
        Some(m) => m.preprocess.clone(),
        None => choose_preprocess(args, &raw)?,
    };
    let train = load_data(&args.data, Some(raw), args.labels.as_deref(), &pre)?;
    let valid = match &args.validate {
        Some(p) => {
            let v = load_data(p, None, None, &pre)?;
            check_columns(p, &v.x, train.x.cols())?;
            Some(v)
        }
        None => None,
    };
    let range = value_range(&train.x);
    Ok(TrainData {
        train,
        valid,
        pre,
        range,
    })
}

/// Checks that the data at `path` has `visible` features per sample.
pub fn check_columns(path: &Path, x: &Matrix, visible: usize) -> Result<()> {
    if x.cols() != visible {
        return Err(CliError::mismatch(
            format!(
                "{}: features per sample vs the model's visible units",
                path.display()
            ),
            visible,
            x.cols(),
        ));
    }
    Ok(())
}

/// Loads the `--resume` model file, which must be of `kind`.
pub fn load_resumed(args: &TrainArgs) -> Result<Option<ModelFile>> {
    let Some(path) = &args.resume else {
        return Ok(None);
    };
    let m = persist::load(path)?;
    let kind = args.model.name();
    if m.checkpoint.model_kind != kind {
        return Err(CliError::mismatch(
            format!("{}: model kind for train {kind}", path.display()),
            kind,
            &m.checkpoint.model_kind,
        ));
    }
    Ok(Some(m))
}
