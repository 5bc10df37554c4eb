//! The training data of a run: read, checked, preprocessed (the default
//! preprocessing for the kind, or the resumed model's), and the resumed
//! model file. A distributed run reads its training rows from the file
//! when it needs them (see [`on_demand`]) unless `--load-data`.

use std::borrow::Cow;
use std::path::Path;

use latent_engine::data::npy;
use latent_engine::data::rows::TrainRows;
use latent_engine::preprocess::{Standardizer, UnitMap};
use latent_engine::{Dataset, Matrix};
use latent_models::persist::{self, ModelFile, Preprocess};

use super::args::{Kind, LossArg, TrainArgs};
use crate::cli::error::{CliError, Result};
use crate::cli::io::{DataFormat, detect_format, read_matrix};

pub mod on_demand;

/// The training data of a run, preprocessed.
#[derive(Debug)]
pub struct TrainData {
    /// Training samples (and labels when given) in memory; with
    /// [`on_demand`](Self::on_demand), none (the columns, no rows).
    pub train: Dataset,
    /// The training rows read from the file as they are needed (and the
    /// labels, in memory), when they are not in `train`.
    pub on_demand: Option<on_demand::OnDemand>,
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

    /// Training samples.
    pub fn rows(&self) -> usize {
        match &self.on_demand {
            Some(d) => latent_engine::data::rows::RowSource::rows(&d.x),
            None => self.train.x.rows(),
        }
    }

    /// The training rows (and labels) for a fit.
    pub fn train_rows(&self) -> TrainRows<'_> {
        match &self.on_demand {
            Some(d) => TrainRows {
                x: &d.x,
                labels: d.labels.as_deref(),
            },
            None => (&self.train).into(),
        }
    }

    /// Data whose column means are the training data's, bit for bit, for
    /// a bias initialised from the data's means: the data in memory, or one
    /// row of its means read from the file (the column means of one row
    /// are that row).
    pub fn means_data(&self) -> Result<Cow<'_, Matrix>> {
        match &self.on_demand {
            Some(d) => Ok(Cow::Owned(d.means()?)),
            None => Ok(Cow::Borrowed(&self.train.x)),
        }
    }

    /// `f`'s mean per row over the training data: `f` of the matrix in
    /// memory, or of the file's rows a piece at a time (the mean of the
    /// pieces' means weighted by their rows: the same up to `f64`
    /// rounding when `f` is a mean of batches that the pieces keep whole).
    pub fn mean_over_rows(&self, f: impl FnMut(&Matrix) -> Result<f64>) -> Result<f64> {
        match &self.on_demand {
            Some(d) => d.mean_over_rows(f),
            None => {
                let mut f = f;
                f(&self.train.x)
            }
        }
    }
}

/// The default preprocessing: Gaussian RBMs standardise; otherwise `[0, 1]`
/// data is used as it is and `[0, 255]` data (IDX bytes) divided by 255;
/// other data is an error that suggests `--scale` for binary-visible models
/// and used as it is by autoencoders (unless `--loss bce`). `(lo, hi)` is
/// the data's range; `standardizer` fits the data's statistics (only a
/// Gaussian RBM calls it).
pub(super) fn choose_preprocess(
    args: &TrainArgs,
    (lo, hi): (f32, f32),
    standardizer: impl FnOnce() -> Result<Standardizer>,
) -> Result<Preprocess> {
    if args.model == Kind::GaussianRbm {
        if args.no_standardize {
            return Ok(Preprocess::None);
        }
        return Ok(Preprocess::Standardize(standardizer()?));
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
        let (what, expected) = if args.model.is_autoencoder() {
            (
                "an autoencoder with --loss bce (targets in [0, 1])",
                "[0, 1] or [0, 255] (or pass --scale, or --loss mse)",
            )
        } else {
            (
                "an RBM with binary visibles",
                "[0, 1] or [0, 255] (or pass --scale, or train gaussian-rbm)",
            )
        };
        return Err(CliError::mismatch(
            format!("{}: value range for {what}", args.data.display()),
            expected,
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

/// The element-wise map of `pre` when it has one that takes data of range
/// `range` (none: the data is used as it is).
pub(super) fn unit_map(pre: &Preprocess, range: (f32, f32)) -> Option<Option<UnitMap>> {
    let map = match *pre {
        Preprocess::None => return Some(None),
        Preprocess::Scale { lo, hi } => UnitMap::new(lo, hi, None),
        Preprocess::Binarize { lo, hi, threshold } => UnitMap::new(lo, hi, Some(threshold)),
        Preprocess::Standardize(_) => return None,
    };
    map.ok().filter(|m| m.accepts(range)).map(Some)
}

/// The data at `path` preprocessed with `pre` (the resumed model's) or, when
/// there is none, the default for the kind; with that preprocessing and the
/// range of the preprocessed values. An NPY file whose preprocessing is
/// element-wise is preprocessed as it is read, a chunk at a time; other data
/// is read whole, then preprocessed in place.
fn read_preprocessed(
    args: &TrainArgs,
    path: &Path,
    pre: Option<&Preprocess>,
) -> Result<(Matrix, Preprocess, (f32, f32))> {
    let standardize = match pre {
        Some(p) => matches!(p, Preprocess::Standardize(_)),
        None => args.model == Kind::GaussianRbm && !args.no_standardize,
    };
    if !standardize && detect_format(path)? == DataFormat::Npy {
        let range = npy::value_range(path)?;
        let pre = match pre {
            Some(p) => p.clone(),
            None => choose_preprocess(args, range, || {
                Err(CliError::mismatch("standardising", "the data", "none"))
            })?,
        };
        if let Some(map) = unit_map(&pre, range) {
            let x = match map {
                Some(m) => npy::read_matrix_with(path, |c| m.apply(c))?,
                None => npy::read_matrix(path)?,
            };
            // The maps do not decrease: the range maps to the new range.
            let range = map.map_or(range, |m| (m.value(range.0), m.value(range.1)));
            return Ok((x, pre, range));
        }
    }
    let mut x = read_matrix(path)?;
    let pre = match pre {
        Some(p) => p.clone(),
        None => choose_preprocess(args, x.value_range(), || Ok(Standardizer::fit(&x)?))?,
    };
    check_samples(path, &x)?;
    pre.apply(&mut x, path)?;
    let range = x.value_range();
    Ok((x, pre, range))
}

/// An error unless `x` has a sample.
pub(super) fn check_samples(path: &Path, x: &Matrix) -> Result<()> {
    if x.rows() == 0 {
        return Err(CliError::mismatch(
            format!("{}: samples", path.display()),
            "at least one",
            0,
        ));
    }
    Ok(())
}

/// The samples `x` read from `path` and preprocessed, with the labels at
/// `labels` (checked against them).
fn load_data(path: &Path, x: Matrix, labels: Option<&Path>) -> Result<Dataset> {
    check_samples(path, &x)?;
    let labels = read_labels(path, x.rows(), labels)?;
    Ok(Dataset::new(x, labels)?)
}

/// The labels at `labels`, checked against the `rows` samples at `path`.
pub(super) fn read_labels(
    path: &Path,
    rows: usize,
    labels: Option<&Path>,
) -> Result<Option<Vec<u32>>> {
    let Some(p) = labels else {
        return Ok(None);
    };
    let l = crate::cli::io::read_labels(p)?;
    if l.len() != rows {
        return Err(CliError::mismatch(
            format!("{}: labels vs samples in {}", p.display(), path.display()),
            rows,
            l.len(),
        ));
    }
    Ok(Some(l))
}

/// Reads and preprocesses the training (and validation) data: with the
/// resumed model's preprocessing when there is one, else the default for
/// the kind.
pub fn read_data(args: &TrainArgs, resumed: Option<&ModelFile>) -> Result<TrainData> {
    let resumed = resumed.map(|m| &m.preprocess);
    let (train, on_demand, pre, range) = match on_demand::open(args, resumed)? {
        Some((d, pre, range)) => {
            let none = Dataset::new(Matrix::zeros(0, d.cols())?, None)?;
            (none, Some(d), pre, range)
        }
        None => {
            let (x, pre, range) = read_preprocessed(args, &args.data, resumed)?;
            let train = load_data(&args.data, x, args.labels.as_deref())?;
            (train, None, pre, range)
        }
    };
    let valid = match &args.validate {
        Some(p) => {
            let (x, ..) = read_preprocessed(args, p, Some(&pre))?;
            let v = load_data(p, x, None)?;
            check_columns(p, &v.x, train.x.cols())?;
            Some(v)
        }
        None => None,
    };
    Ok(TrainData {
        train,
        on_demand,
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
