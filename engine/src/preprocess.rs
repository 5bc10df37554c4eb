//! Preprocessing: scaling to `[0, 1]`, binarisation (threshold or
//! stochastic with a seed), and per-feature standardisation whose
//! statistics are kept ([`Standardizer`]) and can be saved, so exactly the
//! same transform is applied at inference.

use std::path::Path;

use crate::data::npy;
use crate::error::{EngineError, Location, Result};
use crate::matrix::Matrix;
use crate::rng::{Rng, streams};

fn out_of_range(
    what: &'static str,
    m: &Matrix,
    i: usize,
    v: f32,
    expected: &'static str,
) -> EngineError {
    let c = m.cols().max(1);
    EngineError::InvalidArgument {
        what,
        value: format!(
            "{v} at {}",
            Location::Element {
                row: i / c,
                col: i % c
            }
        ),
        expected,
    }
}

/// The first value of `x` outside `[lo, hi]` (or NaN) and its index: a
/// branch-free count first, as the data almost always lies inside.
fn first_outside(x: &Matrix, lo: f32, hi: f32) -> Option<(usize, &f32)> {
    let outside = |v: &f32| !(*v >= lo && *v <= hi);
    let n = x
        .as_slice()
        .iter()
        .fold(0usize, |n, v| n + usize::from(outside(v)));
    if n == 0 {
        return None;
    }
    x.as_slice().iter().enumerate().find(|(_, v)| outside(v))
}

/// Maps `[lo, hi]` linearly onto `[0, 1]` in place (for MNIST pixels:
/// `lo = 0`, `hi = 255`). Errors, changing nothing, if a value lies
/// outside `[lo, hi]` or `lo >= hi`.
pub fn scale_to_unit(x: &mut Matrix, lo: f32, hi: f32) -> Result<()> {
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(EngineError::InvalidArgument {
            what: "scale_to_unit: range",
            value: format!("[{lo}, {hi}]"),
            expected: "finite lo < hi",
        });
    }
    if let Some((i, &v)) = first_outside(x, lo, hi) {
        let mut e = out_of_range("scale_to_unit: value", x, i, v, "a value within the range");
        if let EngineError::InvalidArgument { value, .. } = &mut e {
            value.push_str(&format!(", outside the range [{lo}, {hi}]"));
        }
        return Err(e);
    }
    let range = hi - lo;
    for v in x.as_mut_slice() {
        *v = unit(*v, lo, range);
    }
    Ok(())
}

/// `v` in `[lo, lo + range]` mapped onto `[0, 1]`.
#[inline]
fn unit(v: f32, lo: f32, range: f32) -> f32 {
    ((v - lo) / range).clamp(0.0, 1.0)
}

/// [`scale_to_unit`] and, optionally, [`binarise_threshold`] as one map of
/// each value (the same results), for data preprocessed as it is read.
/// Non-decreasing, so the range of the mapped data is the map of its range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnitMap {
    lo: f32,
    hi: f32,
    threshold: Option<f32>,
}

impl UnitMap {
    /// `[lo, hi]` onto `[0, 1]`, then 1 above `threshold` and 0 elsewhere
    /// when there is one; the errors of [`scale_to_unit`] and
    /// [`binarise_threshold`] for a bad range or a NaN threshold.
    pub fn new(lo: f32, hi: f32, threshold: Option<f32>) -> Result<Self> {
        let mut probe = Matrix::from_slice(1, 1, &[lo])?;
        scale_to_unit(&mut probe, lo, hi)?;
        if let Some(t) = threshold {
            binarise_threshold(&mut probe, t)?;
        }
        Ok(UnitMap { lo, hi, threshold })
    }

    /// Whether the map takes values in `[lo, hi]` (a range read beforehand):
    /// [`scale_to_unit`] refuses values outside its range.
    pub fn accepts(&self, (lo, hi): (f32, f32)) -> bool {
        lo >= self.lo && hi <= self.hi
    }

    /// The mapped value of `v`.
    pub fn value(&self, v: f32) -> f32 {
        let u = unit(v, self.lo, self.hi - self.lo);
        match self.threshold {
            Some(t) => threshold(u, t),
            None => u,
        }
    }

    /// Maps every value of `x` in place.
    pub fn apply(&self, x: &mut [f32]) {
        let (lo, range) = (self.lo, self.hi - self.lo);
        match self.threshold {
            Some(t) => x
                .iter_mut()
                .for_each(|v| *v = threshold(unit(*v, lo, range), t)),
            None => x.iter_mut().for_each(|v| *v = unit(*v, lo, range)),
        }
    }
}

/// A preprocessing applied to rows as they are read (see
/// [`FileRows`](crate::data::rows::FileRows)): the same values, bit for
/// bit, as the transform of the whole matrix.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum RowMap {
    /// The values as they are.
    #[default]
    Identity,
    /// [`UnitMap::apply`]: [`scale_to_unit`], then [`binarise_threshold`]
    /// when it has a threshold.
    Unit(UnitMap),
    /// [`Standardizer::transform`].
    Standardize(Standardizer),
}

impl RowMap {
    /// Maps whole rows (`rows`: one row after another) in place.
    pub fn apply(&self, rows: &mut [f32]) {
        match self {
            RowMap::Identity => {}
            RowMap::Unit(m) => m.apply(rows),
            RowMap::Standardize(s) => s.transform_rows(rows),
        }
    }
}

/// Sets each value to 1 when it is strictly greater than `threshold`, else 0.
pub fn binarise_threshold(x: &mut Matrix, threshold: f32) -> Result<()> {
    if threshold.is_nan() {
        return Err(EngineError::InvalidArgument {
            what: "binarise_threshold: threshold",
            value: "NaN".into(),
            expected: "a number",
        });
    }
    for v in x.as_mut_slice() {
        *v = self::threshold(*v, threshold);
    }
    Ok(())
}

/// 1 when `v` is strictly greater than `t`, else 0.
#[inline]
fn threshold(v: f32, t: f32) -> f32 {
    if v > t { 1.0 } else { 0.0 }
}

/// Stochastic binarisation: each value `p` in `[0, 1]` becomes 1 with
/// probability `p` (`[u < p]`, `u` uniform), from the stream
/// ([`streams::BINARISE`]) of `seed`. The same seed gives the same result.
/// Errors, changing nothing, if a value lies outside `[0, 1]`.
pub fn binarise_stochastic(x: &mut Matrix, seed: u64) -> Result<()> {
    if let Some((i, &v)) = first_outside(x, 0.0, 1.0) {
        return Err(out_of_range(
            "binarise_stochastic: probability",
            x,
            i,
            v,
            "a probability within [0, 1]",
        ));
    }
    let mut rng = Rng::stream(seed, streams::BINARISE);
    for v in x.as_mut_slice() {
        *v = if rng.uniform_f32() < *v { 1.0 } else { 0.0 };
    }
    Ok(())
}

/// Per-feature standardisation `(x - mean) / std`, with the statistics of
/// the data it was fitted on.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    /// Mean of each feature.
    pub mean: Vec<f32>,
    /// Standard deviation of each feature (1 where a feature is constant).
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Features whose standard deviation is below this are left unscaled
    /// (their `std` is stored as 1) so constant pixels do not blow up.
    pub const MIN_STD: f64 = 1e-6;

    /// Fits the statistics of `x` (computed in `f64`, population variance).
    pub fn fit(x: &Matrix) -> Result<Self> {
        if x.rows() == 0 {
            return Err(EngineError::InvalidArgument {
                what: "Standardizer::fit: samples",
                value: "0 rows".into(),
                expected: "at least one sample",
            });
        }
        if x.cols() == 0 {
            return Ok(Standardizer {
                mean: Vec::new(),
                std: Vec::new(),
            });
        }
        // The rows in order as one piece: the sums `fit_streamed` makes of
        // any pieces.
        Self::fit_streamed(x.cols(), |each| {
            each(x.as_slice());
            Ok(())
        })
    }

    /// [`fit`](Self::fit) on data met in pieces, never held whole: `each`
    /// hands every piece of the data (whole rows of `cols` values, in row
    /// order) to the function it is given, and is called twice (once for
    /// the means, once for the variances). The same sums in the same order
    /// as `fit`: the same statistics, bit for bit.
    pub fn fit_streamed(
        cols: usize,
        mut each: impl FnMut(&mut dyn FnMut(&[f32])) -> Result<()>,
    ) -> Result<Self> {
        let mut rows = 0usize;
        let mut mean = vec![0f64; cols];
        each(&mut |piece| {
            for row in piece.chunks(cols.max(1)) {
                rows += 1;
                for (m, &v) in mean.iter_mut().zip(row) {
                    *m += v as f64;
                }
            }
        })?;
        if rows == 0 || cols == 0 {
            return Err(EngineError::InvalidArgument {
                what: "Standardizer::fit_streamed: samples",
                value: format!("{rows} rows of {cols} features"),
                expected: "at least one sample of one feature",
            });
        }
        let n = rows as f64;
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0f64; cols];
        each(&mut |piece| {
            for row in piece.chunks(cols) {
                for ((s, &v), &m) in var.iter_mut().zip(row).zip(&mean) {
                    *s += (v as f64 - m).powi(2);
                }
            }
        })?;
        let std = var
            .iter()
            .map(|s| {
                let sd = (s / n).sqrt();
                if sd < Self::MIN_STD { 1.0 } else { sd as f32 }
            })
            .collect();
        Ok(Standardizer {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std,
        })
    }

    /// [`transform`](Self::transform) of whole rows in a slice (one row of
    /// `mean.len()` values after another): the same values, bit for bit.
    pub fn transform_rows(&self, rows: &mut [f32]) {
        for row in rows.chunks_exact_mut(self.mean.len().max(1)) {
            for ((v, &m), &s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = (*v - m) / s;
            }
        }
    }

    fn check(&self, x: &Matrix, what: &'static str) -> Result<()> {
        if x.cols() != self.mean.len() {
            return Err(EngineError::Shape {
                what,
                expected: format!("{} columns", self.mean.len()),
                found: format!("{} columns", x.cols()),
            });
        }
        Ok(())
    }

    /// Applies `(x - mean) / std` in place.
    pub fn transform(&self, x: &mut Matrix) -> Result<()> {
        self.check(x, "Standardizer::transform")?;
        for i in 0..x.rows() {
            for ((v, &m), &s) in x.row_mut(i).iter_mut().zip(&self.mean).zip(&self.std) {
                *v = (*v - m) / s;
            }
        }
        Ok(())
    }

    /// Undoes [`transform`](Self::transform): `x * std + mean` in place.
    pub fn inverse_transform(&self, x: &mut Matrix) -> Result<()> {
        self.check(x, "Standardizer::inverse_transform")?;
        for i in 0..x.rows() {
            for ((v, &m), &s) in x.row_mut(i).iter_mut().zip(&self.mean).zip(&self.std) {
                *v = *v * s + m;
            }
        }
        Ok(())
    }

    /// The statistics as a `2 x features` matrix: row 0 the means, row 1 the
    /// standard deviations (the form saved in files and checkpoints).
    pub fn to_matrix(&self) -> Result<Matrix> {
        let n = self.mean.len();
        let mut m = Matrix::zeros(2, n)?;
        m.row_mut(0).copy_from_slice(&self.mean);
        m.row_mut(1).copy_from_slice(&self.std);
        Ok(m)
    }

    /// Statistics from [`to_matrix`](Self::to_matrix)'s form; checks the
    /// shape and that every std is finite and positive.
    pub fn from_matrix(m: &Matrix) -> Result<Self> {
        if m.rows() != 2 {
            return Err(EngineError::Shape {
                what: "Standardizer::from_matrix",
                expected: "2 x features (means, stds)".into(),
                found: format!("{}x{}", m.rows(), m.cols()),
            });
        }
        if let Some((i, v)) = m.first_non_finite() {
            return Err(out_of_range(
                "Standardizer statistics",
                m,
                i,
                v,
                "finite values",
            ));
        }
        if let Some((j, &s)) = m.row(1).iter().enumerate().find(|(_, s)| **s <= 0.0) {
            return Err(out_of_range(
                "Standardizer std",
                m,
                m.cols() + j,
                s,
                "a positive std",
            ));
        }
        Ok(Standardizer {
            mean: m.row(0).to_vec(),
            std: m.row(1).to_vec(),
        })
    }

    /// Saves the statistics as an NPY file (`2 x features`, `<f4`).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        npy::write_matrix(path, &self.to_matrix()?)
    }

    /// Loads statistics saved by [`save`](Self::save).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_matrix(&npy::read_matrix(path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_and_binarise() {
        let mut m = Matrix::from_slice(1, 4, &[0.0, 51.0, 255.0, 128.0]).unwrap();
        scale_to_unit(&mut m, 0.0, 255.0).unwrap();
        assert_eq!(m.as_slice(), &[0.0, 0.2, 1.0, 128.0 / 255.0]);
        let mut t = m.clone();
        binarise_threshold(&mut t, 0.5).unwrap();
        assert_eq!(t.as_slice(), &[0.0, 0.0, 1.0, 1.0]);
        let mut bad = Matrix::from_slice(1, 2, &[0.0, 256.0]).unwrap();
        assert!(scale_to_unit(&mut bad, 0.0, 255.0).is_err());
        assert_eq!(bad.as_slice(), &[0.0, 256.0], "unchanged on error");
        assert!(binarise_stochastic(&mut bad, 1).is_err());
    }

    #[test]
    fn stochastic_binarisation_is_seeded_and_unbiased() {
        let mut a = Matrix::filled(100, 100, 0.3).unwrap();
        let mut b = a.clone();
        let mut c = a.clone();
        binarise_stochastic(&mut a, 5).unwrap();
        binarise_stochastic(&mut b, 5).unwrap();
        binarise_stochastic(&mut c, 6).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mean = a.as_slice().iter().sum::<f32>() / 10_000.0;
        assert!((mean - 0.3).abs() < 0.02, "{mean}");
        assert!(a.as_slice().iter().all(|&v| v == 0.0 || v == 1.0));
    }

    #[test]
    fn standardizer_round_trips() {
        let x = Matrix::from_fn(
            50,
            3,
            |i, j| if j == 2 { 7.0 } else { (i * (j + 1)) as f32 },
        )
        .unwrap();
        let s = Standardizer::fit(&x).unwrap();
        let mut y = x.clone();
        s.transform(&mut y).unwrap();
        for j in 0..2 {
            let mean: f64 = (0..50).map(|i| y.get(i, j).unwrap() as f64).sum::<f64>() / 50.0;
            let var: f64 = (0..50)
                .map(|i| (y.get(i, j).unwrap() as f64 - mean).powi(2))
                .sum::<f64>()
                / 50.0;
            assert!(
                mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
                "{mean} {var}"
            );
        }
        assert!(y.row(0)[2] == 0.0 && s.std[2] == 1.0);
        let back = Standardizer::from_matrix(&s.to_matrix().unwrap()).unwrap();
        assert_eq!(back, s);
        back.inverse_transform(&mut y).unwrap();
        for (a, b) in y.as_slice().iter().zip(x.as_slice()) {
            assert!((a - b).abs() < 1e-4);
        }
        assert!(s.transform(&mut Matrix::zeros(1, 4).unwrap()).is_err());
    }
}
