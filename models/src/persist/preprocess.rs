//! What is done to data before a model sees it, as stored in model files
//! (the `preprocess:` line and the `preprocess.mean`/`preprocess.std`
//! tensors).

use std::path::Path;

use latent_engine::preprocess::{Standardizer, binarise_threshold, scale_to_unit};
use latent_engine::{Matrix, Role, Tensor};

use crate::error::{ModelError, Result};

/// What is done to data before the model sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Preprocess {
    /// Nothing: the data is used as it is.
    None,
    /// `[lo, hi]` mapped linearly onto `[0, 1]` (values outside are an
    /// error).
    Scale {
        /// The value mapped to 0.
        lo: f32,
        /// The value mapped to 1.
        hi: f32,
    },
    /// Scaled, then 1 where the scaled value is above `threshold`, else 0.
    Binarize {
        /// The value mapped to 0.
        lo: f32,
        /// The value mapped to 1.
        hi: f32,
        /// The threshold in `[0, 1]`.
        threshold: f32,
    },
    /// Per-feature standardisation with saved statistics.
    Standardize(Standardizer),
}

/// The names of the standardiser's persistent tensors.
const MEAN: &str = "preprocess.mean";
const STD: &str = "preprocess.std";

impl Preprocess {
    /// The one-line description stored in model files (`none`, `scale LO
    /// HI`, `binarize LO HI T`, `standardize`).
    pub fn describe(&self) -> String {
        match self {
            Preprocess::None => "none".into(),
            Preprocess::Scale { lo, hi } => format!("scale {lo} {hi}"),
            Preprocess::Binarize { lo, hi, threshold } => {
                format!("binarize {lo} {hi} {threshold}")
            }
            Preprocess::Standardize(_) => "standardize".into(),
        }
    }

    /// Whether the transformed data is known to lie in `[0, 1]`.
    pub fn maps_to_unit(&self) -> bool {
        matches!(self, Preprocess::Scale { .. } | Preprocess::Binarize { .. })
    }

    /// Applies the transform in place; `what` names the data in errors.
    pub fn apply(&self, x: &mut Matrix, what: &Path) -> Result<()> {
        let wrap = |e: latent_engine::EngineError| {
            ModelError::mismatch(
                format!("{}: preprocessing ({})", what.display(), self.describe()),
                "values the model's preprocessing accepts",
                e,
            )
        };
        match self {
            Preprocess::None => Ok(()),
            Preprocess::Scale { lo, hi } => scale_to_unit(x, *lo, *hi).map_err(wrap),
            Preprocess::Binarize { lo, hi, threshold } => {
                scale_to_unit(x, *lo, *hi).map_err(wrap)?;
                binarise_threshold(x, *threshold).map_err(wrap)
            }
            Preprocess::Standardize(s) => {
                if s.mean.len() != x.cols() {
                    return Err(ModelError::mismatch(
                        format!("{}: columns vs the model's standardiser", what.display()),
                        s.mean.len(),
                        x.cols(),
                    ));
                }
                s.transform(x).map_err(wrap)
            }
        }
    }

    /// Maps model-space values back to data space where that is defined
    /// (standardisation); scaled data stays in `[0, 1]`.
    pub fn invert(&self, x: &mut Matrix) -> Result<()> {
        if let Preprocess::Standardize(s) = self {
            s.inverse_transform(x)?;
        }
        Ok(())
    }

    /// The persistent tensors that hold the statistics (standardisation
    /// only).
    pub fn tensors(&self) -> Result<Vec<Tensor>> {
        Ok(match self {
            Preprocess::Standardize(s) => vec![
                Tensor {
                    name: MEAN.into(),
                    role: Role::Other,
                    value: Matrix::from_slice(1, s.mean.len(), &s.mean)?,
                },
                Tensor {
                    name: STD.into(),
                    role: Role::Other,
                    value: Matrix::from_slice(1, s.std.len(), &s.std)?,
                },
            ],
            _ => Vec::new(),
        })
    }

    /// Whether `name` is one of the tensors [`tensors`](Self::tensors)
    /// writes.
    pub fn is_preprocess_tensor(name: &str) -> bool {
        name.starts_with("preprocess.")
    }

    /// Reads the `preprocess:` line `line` (with the file's persistent
    /// tensors for the standardiser's statistics); `path` names the file in
    /// errors. Every word is checked: a bad or extra value is an error.
    pub fn parse(line: &str, persistent: &[Tensor], path: &Path) -> Result<Preprocess> {
        let bad = || {
            ModelError::mismatch(
                format!("{}: preprocessing line of the model file", path.display()),
                "none | scale LO HI | binarize LO HI T | standardize",
                line,
            )
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| -> Result<f32> {
            words
                .get(i)
                .and_then(|w| w.parse::<f32>().ok())
                .filter(|v| v.is_finite())
                .ok_or_else(bad)
        };
        let arity = |n: usize| if words.len() == n { Ok(()) } else { Err(bad()) };
        Ok(match words.first().copied() {
            None => Preprocess::None,
            Some("none") => {
                arity(1)?;
                Preprocess::None
            }
            Some("scale") => {
                arity(3)?;
                Preprocess::Scale {
                    lo: num(1)?,
                    hi: num(2)?,
                }
            }
            Some("binarize") => {
                arity(4)?;
                Preprocess::Binarize {
                    lo: num(1)?,
                    hi: num(2)?,
                    threshold: num(3)?,
                }
            }
            Some("standardize") => {
                arity(1)?;
                let get = |name: &str| {
                    persistent
                        .iter()
                        .find(|t| t.name == name)
                        .map(|t| t.value.as_slice().to_vec())
                        .ok_or_else(|| {
                            ModelError::mismatch(
                                format!("{}: standardised model", path.display()),
                                format!("a tensor {name}"),
                                "none",
                            )
                        })
                };
                Preprocess::Standardize(Standardizer {
                    mean: get(MEAN)?,
                    std: get(STD)?,
                })
            }
            Some(_) => return Err(bad()),
        })
    }
}
