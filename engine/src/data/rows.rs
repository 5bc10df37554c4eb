//! Rows of a data set fetched by index when they are needed: a
//! [`RowSource`] is a matrix in memory or a file read row by row
//! ([`FileRows`]: NPY, uncompressed IDX, CSV), so that a data-parallel
//! rank holds only the rows of its share of each minibatch (as PyTorch's
//! `DistributedSampler` over a map-style dataset), never the file.
//!
//! A [`FileRows`] checks the file as the readers do (its header and size
//! when it opens, a CSV file's every line; the values as they are read:
//! NaN and infinity are errors naming the byte offset) and gives the
//! values the readers give, preprocessed by its [`RowMap`] as the whole
//! matrix would be: the same bits as gathering from the matrix the reader
//! and the preprocessing make.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use latent_kernels::Par;
use rayon::prelude::*;

use crate::data::csv::{self, CsvOptions};
use crate::data::{Dataset, idx, npy};
use crate::error::{EngineError, Result};
use crate::matrix::Matrix;
use crate::preprocess::RowMap;

/// Floats below which a share of a parallel gather from memory is not
/// worth a task (16 KB).
const GATHER_MIN_FLOATS: usize = 4096;

/// The most bytes one read of consecutive rows takes.
const RUN_BYTES: usize = 1 << 20;

/// Values a scan of a whole source reads at a time (1 MB of `f32`).
const SCAN_VALUES: usize = 1 << 18;

/// Rows of `cols()` values, fetched by index.
pub trait RowSource: Sync {
    /// Number of rows.
    fn rows(&self) -> usize;

    /// Values per row.
    fn cols(&self) -> usize;

    /// Writes rows `indices`, in that order, into `out` (`indices.len() x
    /// cols()`, row-major), with up to `par.max_tasks()` threads of the
    /// current rayon pool where the source can use them. The same values
    /// whatever `par`. Errors for an index out of range or an `out` of
    /// another size (and a file's read errors), naming them.
    fn gather(&self, indices: &[u32], out: &mut [f32], par: Par) -> Result<()>;
}

/// The training rows of a fit: their source, and one label per row when
/// the data has labels (kept in memory: 4 bytes a row).
#[derive(Clone, Copy)]
pub struct TrainRows<'d> {
    /// The samples.
    pub x: &'d dyn RowSource,
    /// Their labels.
    pub labels: Option<&'d [u32]>,
}

impl TrainRows<'_> {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.x.rows()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.x.rows() == 0
    }
}

impl<'d> From<&'d Dataset> for TrainRows<'d> {
    fn from(d: &'d Dataset) -> Self {
        TrainRows {
            x: &d.x,
            labels: d.labels.as_deref(),
        }
    }
}

/// The checks every [`RowSource::gather`] makes: `out` holds the rows,
/// every index is a row.
fn check_gather(src: &dyn RowSource, indices: &[u32], out: &[f32]) -> Result<()> {
    let (rows, cols) = (src.rows(), src.cols());
    if out.len() != indices.len().saturating_mul(cols) {
        return Err(EngineError::Shape {
            what: "RowSource::gather: output",
            expected: format!("{} rows x {cols}", indices.len()),
            found: format!("{} values", out.len()),
        });
    }
    if let Some(&i) = indices.iter().find(|&&i| i as usize >= rows) {
        return Err(EngineError::InvalidArgument {
            what: "RowSource::gather: row index",
            value: format!("{i} of {rows} rows"),
            expected: "an index below the number of rows",
        });
    }
    Ok(())
}

impl RowSource for Matrix {
    fn rows(&self) -> usize {
        Matrix::rows(self)
    }

    fn cols(&self) -> usize {
        Matrix::cols(self)
    }

    /// The rows of a shuffled batch are scattered over the matrix, so one
    /// thread mostly waits on memory: several threads fetch them several
    /// times as fast.
    fn gather(&self, indices: &[u32], out: &mut [f32], par: Par) -> Result<()> {
        check_gather(self, indices, out)?;
        let features = Matrix::cols(self);
        let copy = |dst: &mut [f32], src: &[u32]| {
            for (row, &i) in dst.chunks_exact_mut(features).zip(src) {
                row.copy_from_slice(self.row(i as usize));
            }
        };
        let len = indices.len();
        // At most `par.max_tasks()` tasks, at least 16 KB of rows each.
        let tasks = par
            .max_tasks()
            .min(len.saturating_mul(features) / GATHER_MIN_FLOATS)
            .min(len)
            .max(1);
        if tasks <= 1 || features == 0 {
            copy(out, indices);
            return Ok(());
        }
        // `tasks` tasks take 16 KB pieces in turn: a thread that wakes late
        // (tens of microseconds on a virtual machine) finds fewer left
        // instead of holding up the batch with a fixed share.
        let piece = (GATHER_MIN_FLOATS / features).max(1);
        let pieces = Mutex::new(out.chunks_mut(piece * features).zip(indices.chunks(piece)));
        (0..tasks).into_par_iter().for_each(|_| {
            loop {
                // The lock is held only to take a piece. A panic in another
                // task poisons it; the pieces are still whole (and the panic
                // propagates from the region anyway).
                let next = pieces.lock().unwrap_or_else(|e| e.into_inner()).next();
                match next {
                    Some((dst, src)) => copy(dst, src),
                    None => break,
                }
            }
        });
        Ok(())
    }
}

/// How a [`FileRows`] file lays out its rows.
enum Layout {
    /// NPY, C order: `cols` elements of `dtype` a row from `data_offset`.
    Npy { data_offset: u64, dtype: npy::Dtype },
    /// Uncompressed IDX, likewise.
    Idx { data_offset: u64, dtype: idx::Dtype },
    /// CSV: where each data line starts, then the file's end (8 bytes a
    /// row).
    Csv { starts: Vec<u64>, opts: CsvOptions },
}

/// What a gather reuses: the order of its rows in the file and the bytes
/// read (allocated by the first gathers, then reused).
#[derive(Default)]
struct Scratch {
    order: Vec<u32>,
    bytes: Vec<u8>,
}

/// The file formats [`FileRows`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFormat {
    /// NPY (`f4`, `f8`, `u1`, either byte order; C order), as
    /// [`npy::read_matrix`].
    Npy,
    /// Uncompressed IDX (every element type), as [`idx::read_matrix`].
    Idx,
    /// CSV with these options (a label column is skipped), as
    /// [`csv::read`].
    Csv(CsvOptions),
}

/// A data matrix in a file, read a row at a time when rows are gathered
/// (positioned reads; consecutive rows in one read), preprocessed by its
/// [`RowMap`]. Holds the open file, for CSV 8 bytes a row, and the bytes
/// of the largest gather.
pub struct FileRows {
    path: PathBuf,
    file: File,
    rows: usize,
    cols: usize,
    /// The longest row's bytes in the file.
    max_row_bytes: usize,
    layout: Layout,
    map: RowMap,
    scratch: Mutex<Scratch>,
}

impl std::fmt::Debug for FileRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRows")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .finish_non_exhaustive()
    }
}

/// Whether the file at `path` is gzip-compressed (which [`FileRows`]
/// cannot read row by row: such a file is read whole).
pub fn is_gzip(path: &Path) -> Result<bool> {
    let io = |e| EngineError::io(path, "read", e);
    let mut head = Vec::with_capacity(2);
    File::open(path)
        .map_err(io)?
        .take(2)
        .read_to_end(&mut head)
        .map_err(io)?;
    Ok(head == [0x1f, 0x8b])
}

impl FileRows {
    /// Opens the data matrix at `path` in `format`, with the checks and
    /// errors of its reader on the header and the size (a CSV file's every
    /// line), and no preprocessing. A gzip-compressed IDX file is an error
    /// (see [`is_gzip`]).
    pub fn open(path: impl AsRef<Path>, format: RowFormat) -> Result<Self> {
        let path = path.as_ref();
        let (file, rows, cols, layout) = match format {
            RowFormat::Npy => {
                let m = npy::open_matrix(path)?;
                let layout = Layout::Npy {
                    data_offset: m.data_offset,
                    dtype: m.dtype,
                };
                (m.file, m.rows, m.cols, layout)
            }
            RowFormat::Idx => {
                let m = open_idx(path)?;
                let layout = Layout::Idx {
                    data_offset: m.data_offset,
                    dtype: m.dtype,
                };
                (m.file, m.rows, m.cols, layout)
            }
            RowFormat::Csv(opts) => open_csv(path, opts)?,
        };
        let max_row_bytes = match &layout {
            Layout::Npy { dtype, .. } => cols * dtype.size(),
            Layout::Idx { dtype, .. } => cols * dtype.bytes(),
            Layout::Csv { starts, .. } => (starts.windows(2).map(|w| w[1] - w[0]).max())
                .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)),
        };
        Ok(FileRows {
            path: path.to_path_buf(),
            file,
            rows,
            cols,
            max_row_bytes,
            layout,
            map: RowMap::Identity,
            scratch: Mutex::new(Scratch::default()),
        })
    }

    /// The same rows preprocessed by `map` as they are gathered; errors if
    /// a standardiser's features are not the columns.
    pub fn with_map(mut self, map: RowMap) -> Result<Self> {
        if let RowMap::Standardize(s) = &map
            && s.mean.len() != self.cols
        {
            return Err(EngineError::Shape {
                what: "FileRows::with_map: standardiser",
                expected: format!("{} features", self.cols),
                found: format!("{} features", s.mean.len()),
            });
        }
        self.map = map;
        Ok(self)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every row, in order, as the reader reads it (not preprocessed),
    /// handed to `f` a piece of whole rows at a time: a scan of the file
    /// that never holds it (the values' range, a standardiser's
    /// statistics), with the reader's checks of every value.
    pub fn for_each_raw(&self, f: impl FnMut(&[f32]) -> Result<()>) -> Result<()> {
        scan(
            self.rows,
            self.cols,
            |idx, out| self.read(idx, out, false),
            f,
        )
    }

    /// Reads rows `indices` into `out`, preprocessed when `mapped`: the
    /// rows in file order, consecutive ones in one read.
    fn read(&self, indices: &[u32], out: &mut [f32], mapped: bool) -> Result<()> {
        let mut guard = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        let Scratch { order, bytes } = &mut *guard;
        // Room for any run of these rows at once: a later gather of as
        // many rows allocates nothing.
        let most = (indices.len().saturating_mul(self.max_row_bytes)).min(RUN_BYTES);
        bytes.reserve(most.max(self.max_row_bytes).saturating_sub(bytes.len()));
        order.clear();
        order.extend(0..indices.len() as u32);
        order.sort_unstable_by_key(|&k| indices[k as usize]);
        let row_of = |k: u32| indices[k as usize] as usize;
        let mut k = 0;
        while k < order.len() {
            let first = row_of(order[k]);
            let mut n = 1;
            while k + n < order.len()
                && row_of(order[k + n]) == first + n
                && self.span(first, n + 1).1 <= RUN_BYTES as u64
            {
                n += 1;
            }
            self.read_run(first, &order[k..k + n], out, bytes)?;
            k += n;
        }
        if mapped {
            self.map.apply(out);
        }
        Ok(())
    }

    /// Where rows `first..first + n` lie in the file: offset and length.
    fn span(&self, first: usize, n: usize) -> (u64, u64) {
        match &self.layout {
            Layout::Npy { data_offset, .. } | Layout::Idx { data_offset, .. } => {
                let row = self.max_row_bytes as u64;
                (data_offset + first as u64 * row, n as u64 * row)
            }
            Layout::Csv { starts, .. } => (starts[first], starts[first + n] - starts[first]),
        }
    }

    /// Reads the consecutive rows from `first` on, one for each position
    /// in `at` (where each goes in `out`), in one read into `bytes`.
    fn read_run(
        &self,
        first: usize,
        at: &[u32],
        out: &mut [f32],
        bytes: &mut Vec<u8>,
    ) -> Result<()> {
        let (offset, len) = self.span(first, at.len());
        let cols = self.cols;
        if let (Layout::Npy { dtype, .. }, [pos]) = (&self.layout, at)
            && dtype.is_native_f32()
        {
            // One row of the machine's own `f32`: read straight into place.
            let dst = &mut out[*pos as usize * cols..][..cols];
            self.file
                .read_exact_at(bytemuck::cast_slice_mut(dst), offset)
                .map_err(|e| EngineError::io(&self.path, "read", e))?;
            return dtype.check_finite(&self.path, offset, dst);
        }
        // Grown, never shrunk: no zeroing of the bytes about to be read.
        if bytes.len() < len as usize {
            bytes.resize(len as usize, 0);
        }
        let bytes = &mut bytes[..len as usize];
        self.file
            .read_exact_at(bytes, offset)
            .map_err(|e| EngineError::io(&self.path, "read", e))?;
        for (j, &pos) in at.iter().enumerate() {
            let dst = &mut out[pos as usize * cols..][..cols];
            let (row_offset, row_len) = self.span(first + j, 1);
            let start = (row_offset - offset) as usize;
            let src = &bytes[start..start + row_len as usize];
            match &self.layout {
                Layout::Npy { dtype, .. } => {
                    dtype.decode_checked(&self.path, row_offset, src, dst)?
                }
                Layout::Idx { dtype, .. } => {
                    dtype.decode_checked(&self.path, row_offset, src, dst)?
                }
                Layout::Csv { opts, .. } => {
                    let line = src.split(|&b| b == b'\n').next().unwrap_or(src);
                    csv::parse_row(&self.path, opts, (row_offset, line), dst)?;
                }
            }
        }
        Ok(())
    }
}

impl RowSource for FileRows {
    fn rows(&self) -> usize {
        self.rows
    }

    fn cols(&self) -> usize {
        self.cols
    }

    /// Reads the rows from the file (on the calling thread: `par` is not
    /// used), then preprocesses them.
    fn gather(&self, indices: &[u32], out: &mut [f32], _par: Par) -> Result<()> {
        check_gather(self, indices, out)?;
        self.read(indices, out, true)
    }
}

/// Opens an uncompressed IDX file for reading rows.
fn open_idx(path: &Path) -> Result<idx::MatrixLayout> {
    let io = |e| EngineError::io(path, "read", e);
    let file = File::open(path).map_err(io)?;
    let len = crate::fsutil::regular_len(path, &file)?;
    let mut head = Vec::new();
    (&file)
        .take(idx::MAX_HEADER as u64)
        .read_to_end(&mut head)
        .map_err(io)?;
    if head.is_empty() {
        return Err(EngineError::Empty {
            path: path.to_path_buf(),
            expected: "an IDX file",
        });
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Err(EngineError::InvalidArgument {
            what: "FileRows::open: IDX file",
            value: format!("{} (gzip-compressed)", path.display()),
            expected: "an uncompressed IDX file (a compressed one is read whole)",
        });
    }
    idx::open_matrix(
        path,
        file,
        &head,
        usize::try_from(len).unwrap_or(usize::MAX),
    )
}

/// Opens a CSV file for reading rows: one pass over its lines with the
/// checks of [`csv::read`], recording where each data line starts.
fn open_csv(path: &Path, opts: CsvOptions) -> Result<(File, usize, usize, Layout)> {
    let io = |e| EngineError::io(path, "read", e);
    let file = File::open(path).map_err(io)?;
    let len = crate::fsutil::regular_len(path, &file)?;
    if len == 0 {
        return Err(csv::empty(path));
    }
    let mut reader = BufReader::with_capacity(1 << 16, (&file).take(len));
    let mut lines = csv::Lines::new(path, &opts);
    let (mut line, mut values, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    let (mut starts, mut offset, mut cols) = (Vec::new(), 0u64, None);
    for line_no in 1.. {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(io)?;
        let raw = line.strip_suffix(b"\n").unwrap_or(&line);
        values.clear();
        labels.clear();
        if lines.line(line_no, raw, &mut values, &mut labels)? {
            starts.push(offset);
            cols.get_or_insert(values.len());
        }
        offset += n as u64;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
    }
    let rows = lines.data_rows()?;
    starts.push(offset);
    starts.shrink_to_fit();
    let layout = Layout::Csv { starts, opts };
    Ok((file, rows, cols.unwrap_or(0), layout))
}

/// Reads every row of a `rows x cols` source in order with `read` (row
/// indices, output), a piece of at most [`SCAN_VALUES`] values (a multiple
/// of 64 rows) at a time, and hands each piece to `f`.
fn scan(
    rows: usize,
    cols: usize,
    mut read: impl FnMut(&[u32], &mut [f32]) -> Result<()>,
    mut f: impl FnMut(&[f32]) -> Result<()>,
) -> Result<()> {
    let per = (SCAN_VALUES / cols.max(1))
        .max(1)
        .next_multiple_of(64)
        .min(rows.max(1));
    let mut idx = Vec::with_capacity(per);
    let mut buf = vec![0f32; per * cols];
    let mut start = 0;
    while start < rows {
        let n = per.min(rows - start);
        idx.clear();
        idx.extend(start as u32..(start + n) as u32);
        let piece = &mut buf[..n * cols];
        read(&idx, piece)?;
        f(piece)?;
        start += n;
    }
    Ok(())
}

/// Every row of `src`, in order, handed to `f` a piece of whole rows (a
/// multiple of 64 rows but the last) at a time.
pub fn for_each_piece(src: &dyn RowSource, f: impl FnMut(&[f32]) -> Result<()>) -> Result<()> {
    scan(
        src.rows(),
        src.cols(),
        |idx, out| src.gather(idx, out, Par::Seq),
        f,
    )
}

/// The mean of each column of `src`, read a piece at a time: the same
/// bits as [`latent_kernels::reduce::col_means`] of the whole matrix
/// (which sums each column 64 rows at a time, then adds the blocks' sums
/// in order; so does this), whatever its threads.
pub fn column_means(src: &dyn RowSource) -> Result<Vec<f32>> {
    const BLOCK: usize = 64;
    let cols = src.cols();
    let mut sums = vec![0f32; cols];
    let mut block = vec![0f32; cols];
    for_each_piece(src, |piece| {
        for rows in piece.chunks(BLOCK * cols.max(1)) {
            let n = rows.len() / cols.max(1);
            latent_kernels::reduce::col_sums(rows, n, cols, &mut block, Par::Seq)?;
            sums.iter_mut().zip(&block).for_each(|(s, b)| *s += b);
        }
        Ok(())
    })?;
    let rows = src.rows();
    let scale = if rows == 0 { 0.0 } else { 1.0 / rows as f32 };
    if scale != 1.0 {
        sums.iter_mut().for_each(|s| *s *= scale);
    }
    Ok(sums)
}
