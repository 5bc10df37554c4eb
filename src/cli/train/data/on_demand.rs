//! The training rows of a distributed run, read from the file when they are
//! needed: each rank holds only the rows of its share of a minibatch (and
//! the file's offsets, 8 bytes a row, for CSV), never the file. The file is
//! checked as its reader checks it: the header and size when it opens, then
//! every value in one pass, a piece at a time, which also gives the range
//! for the preprocessing (and a Gaussian RBM's standardiser, in a second
//! pass); the rows are preprocessed as they are read, the same bits as the
//! matrix preprocessed whole. Labels (4 bytes a row) and validation data
//! stay in memory. A gzip-compressed IDX file is read whole, and so is the
//! data of the kinds that need every row at once (see [`reads_rows`]).

use latent_engine::Matrix;
use latent_engine::data::csv::CsvOptions;
use latent_engine::data::rows::{self, FileRows, RowFormat, RowSource};
use latent_engine::preprocess::{RowMap, Standardizer};
use latent_models::persist::Preprocess;

use super::super::args::{Kind, TrainArgs};
use super::{choose_preprocess, read_labels, unit_map};
use crate::cli::error::{CliError, Result};
use crate::cli::io::{DataFormat, detect_format};

/// Rows read from their file as they are needed, and their labels.
#[derive(Debug)]
pub struct OnDemand {
    /// The samples, preprocessed as they are read.
    pub x: FileRows,
    /// One label per sample, when given.
    pub labels: Option<Vec<u32>>,
}

/// Rows of the pieces [`OnDemand::mean_over_rows`] hands over: one batch
/// of the closing evaluations (500 rows).
const PIECE_ROWS: usize = 500;

impl OnDemand {
    /// Values per sample.
    pub fn cols(&self) -> usize {
        self.x.cols()
    }

    /// The column means as one row (see [`rows::column_means`]).
    pub fn means(&self) -> Result<Matrix> {
        let means = rows::column_means(&self.x)?;
        Ok(Matrix::from_slice(1, means.len(), &means)?)
    }

    /// `f`'s mean per row over the rows, [`PIECE_ROWS`] at a time: the
    /// pieces' means weighted by their rows.
    pub fn mean_over_rows(&self, mut f: impl FnMut(&Matrix) -> Result<f64>) -> Result<f64> {
        let (n, cols) = (self.x.rows(), self.x.cols());
        let mut total = 0.0;
        let mut idx = Vec::with_capacity(PIECE_ROWS.min(n));
        let mut start = 0;
        while start < n {
            let rows = PIECE_ROWS.min(n - start);
            idx.clear();
            idx.extend(start as u32..(start + rows) as u32);
            let mut piece = Matrix::zeros(rows, cols)?;
            self.x
                .gather(&idx, piece.as_mut_slice(), latent_engine::Par::Seq)?;
            total += f(&piece)? * rows as f64;
            start += rows;
        }
        Ok(total / n as f64)
    }
}

/// Rows read on demand, their preprocessing, and the range of the
/// preprocessed values.
pub type Opened = (OnDemand, Preprocess, (f32, f32));

/// The training rows of a distributed run read on demand, with the
/// preprocessing (`resumed`, the resumed model's, or the default for the
/// kind) and the range of the preprocessed values; `None` when the run
/// reads the data whole (not distributed, `--load-data`, a gzip-compressed
/// IDX file).
pub fn open(args: &TrainArgs, resumed: Option<&Preprocess>) -> Result<Option<Opened>> {
    if args.load_data && !args.distributed {
        return Err(CliError::arg(
            "--load-data",
            "without --distributed",
            "--distributed (a run alone reads the whole file anyway)",
        ));
    }
    let path = args.data.as_path();
    if !args.distributed || args.load_data || !reads_rows(args.model) {
        return Ok(None);
    }
    let format = match detect_format(path)? {
        DataFormat::Npy => RowFormat::Npy,
        DataFormat::Idx if rows::is_gzip(path)? => return Ok(None),
        DataFormat::Idx => RowFormat::Idx,
        DataFormat::Csv => RowFormat::Csv(CsvOptions::default()),
    };
    let file = FileRows::open(path, format)?;
    let standardize = match resumed {
        Some(p) => matches!(p, Preprocess::Standardize(_)),
        None => args.model == Kind::GaussianRbm && !args.no_standardize,
    };
    let ranges = column_ranges(&file, standardize)?;
    let range = ranges
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |r, c| {
            (r.0.min(c.0), r.1.max(c.1))
        });
    let pre = match resumed {
        Some(p) => p.clone(),
        None => choose_preprocess(args, range, || {
            let each = |f: &mut dyn FnMut(&[f32])| {
                file.for_each_raw(|piece| {
                    f(piece);
                    Ok(())
                })
            };
            Ok(Standardizer::fit_streamed(file.cols(), each)?)
        })?,
    };
    let (map, range) = row_map(args, &pre, range, &ranges)?;
    let labels = read_labels(path, file.rows(), args.labels.as_deref())?;
    let x = file.with_map(map)?;
    Ok(Some((OnDemand { x, labels }, pre, range)))
}

/// Whether a distributed run of `kind` reads its rows on demand: the kinds
/// trained in one fit on the rows as they are (RBMs, autoencoders, VAE).
/// The others read the file whole: a staged kind (dbn, deep-ae, dbm,
/// classifier) computes every row's codes for its next stage, and psd's
/// closing energy and the classifier's accuracy pass over all rows.
fn reads_rows(kind: Kind) -> bool {
    matches!(kind, Kind::Rbm | Kind::GaussianRbm | Kind::Ae | Kind::Vae)
}

/// The smallest and largest value of every column (`by_column`) or of the
/// whole data (one pair), in one pass over the file with its reader's
/// checks of every value.
fn column_ranges(file: &FileRows, by_column: bool) -> Result<Vec<(f32, f32)>> {
    let cols = if by_column { file.cols() } else { 1 };
    let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); cols];
    file.for_each_raw(|piece| {
        if !by_column {
            let (lo, hi) = latent_engine::matrix::value_range(piece);
            ranges[0] = (ranges[0].0.min(lo), ranges[0].1.max(hi));
            return Ok(());
        }
        for row in piece.chunks_exact(cols) {
            for (r, &v) in ranges.iter_mut().zip(row) {
                *r = (r.0.min(v), r.1.max(v));
            }
        }
        Ok(())
    })?;
    Ok(ranges)
}

/// The map of `pre` applied to the rows as they are read, and the range of
/// the mapped values (each map is non-decreasing in each column, so the
/// columns' ranges map to it); an error when `pre` does not take the data
/// (a resumed model's scaling of another range, its standardiser of other
/// columns).
fn row_map(
    args: &TrainArgs,
    pre: &Preprocess,
    range: (f32, f32),
    columns: &[(f32, f32)],
) -> Result<(RowMap, (f32, f32))> {
    let path = args.data.display();
    if let Preprocess::Standardize(s) = pre {
        if s.mean.len() != columns.len() {
            return Err(CliError::mismatch(
                format!("{path}: columns vs the model's standardiser"),
                s.mean.len(),
                columns.len(),
            ));
        }
        let mut mapped = (f32::INFINITY, f32::NEG_INFINITY);
        for ((lo, hi), (&m, &sd)) in columns.iter().zip(s.mean.iter().zip(&s.std)) {
            mapped = (mapped.0.min((lo - m) / sd), mapped.1.max((hi - m) / sd));
        }
        return Ok((RowMap::Standardize(s.clone()), mapped));
    }
    match unit_map(pre, range) {
        Some(None) => Ok((RowMap::Identity, range)),
        Some(Some(m)) => Ok((RowMap::Unit(m), (m.value(range.0), m.value(range.1)))),
        None => Err(CliError::mismatch(
            format!("{path}: preprocessing ({})", pre.describe()),
            "values the model's preprocessing accepts",
            format!("values in [{}, {}]", range.0, range.1),
        )),
    }
}
