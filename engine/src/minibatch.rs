//! Minibatching: a fresh seeded shuffle every epoch, the last partial batch
//! kept or dropped, and every buffer allocated once.
//!
//! The shuffle of epoch `e` is a function of `(seed, e)` only
//! ([`Rng::substream`] of [`streams::SHUFFLE`]), so a run resumed at epoch
//! `e` sees exactly the batches an uninterrupted run would.

use latent_kernels::{MatRef, Par};

use crate::data::rows::RowSource;
use crate::error::{EngineError, Result};
use crate::matrix::Matrix;
use crate::rng::{Rng, streams};

/// Rank `rank`'s part of `len` rows (or values) cut among `ranks` in rank
/// order: `rank·len/ranks .. (rank+1)·len/ranks`. The parts cover `len` in
/// order and differ by at most one (a part is empty when `len < ranks`):
/// how a data-parallel run shares a batch among its ranks
/// ([`Minibatcher::batch_share`]) and its persistent chains, and how its
/// sums cut the values into the ring's segments.
pub fn rank_part(len: usize, ranks: usize, rank: usize) -> std::ops::Range<usize> {
    rank * len / ranks..(rank + 1) * len / ranks
}

/// One minibatch: views into the batcher's buffers.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// The samples, `len x features`, row-major and 64-byte aligned.
    pub x: MatRef<'a>,
    /// Their labels, when the data has labels.
    pub labels: Option<&'a [u32]>,
    /// The rows of the data set they came from.
    pub indices: &'a [u32],
    /// 0-based epoch.
    pub epoch: usize,
    /// 0-based batch within the epoch.
    pub index: usize,
}

impl Batch<'_> {
    /// Number of samples in the batch.
    pub fn len(&self) -> usize {
        self.x.rows()
    }

    /// Whether the batch is empty (never, for a batch from [`Minibatcher`]).
    pub fn is_empty(&self) -> bool {
        self.x.rows() == 0
    }
}

/// Cuts a data set into shuffled minibatches, reusing its buffers.
#[derive(Debug, Clone)]
pub struct Minibatcher {
    seed: u64,
    batch_size: usize,
    drop_last: bool,
    shuffle: bool,
    n: usize,
    features: usize,
    epoch: usize,
    order: Vec<u32>,
    x: Matrix,
    labels: Vec<u32>,
}

impl Minibatcher {
    /// A batcher for `n` samples of `features` columns. With `drop_last` a
    /// final batch smaller than `batch_size` is skipped; otherwise it is
    /// kept. With `shuffle == false` samples come in order.
    pub fn new(
        n: usize,
        features: usize,
        batch_size: usize,
        seed: u64,
        drop_last: bool,
        shuffle: bool,
    ) -> Result<Self> {
        if batch_size == 0 {
            return Err(EngineError::InvalidArgument {
                what: "Minibatcher: batch size",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        if n > u32::MAX as usize {
            return Err(EngineError::InvalidArgument {
                what: "Minibatcher: number of samples",
                value: n.to_string(),
                expected: "at most 2^32 - 1",
            });
        }
        let rows = batch_size.min(n.max(1));
        Ok(Minibatcher {
            seed,
            batch_size,
            drop_last,
            shuffle,
            n,
            features,
            epoch: 0,
            order: (0..n as u32).collect(),
            x: Matrix::zeros(rows, features)?,
            labels: Vec::with_capacity(rows),
        })
    }

    /// The batch size.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Batches per epoch.
    pub fn num_batches(&self) -> usize {
        if self.drop_last {
            self.n / self.batch_size
        } else {
            self.n.div_ceil(self.batch_size)
        }
    }

    /// Samples per epoch (less than `n` when the last batch is dropped).
    pub fn samples_per_epoch(&self) -> usize {
        if self.drop_last {
            self.num_batches() * self.batch_size
        } else {
            self.n
        }
    }

    /// Starts epoch `epoch`: the order becomes the shuffle of `(seed, epoch)`.
    /// Allocates nothing.
    pub fn start_epoch(&mut self, epoch: usize) {
        self.epoch = epoch;
        for (i, o) in self.order.iter_mut().enumerate() {
            *o = i as u32;
        }
        if self.shuffle {
            Rng::substream(self.seed, streams::SHUFFLE, epoch as u64).shuffle(&mut self.order);
        }
    }

    /// The sample order of the current epoch.
    pub fn order(&self) -> &[u32] {
        &self.order
    }

    /// Gathers batch `index` of the current epoch from `data` (and its
    /// labels) into the batcher's buffers, on the calling thread. Allocates
    /// nothing.
    pub fn batch<'a>(
        &'a mut self,
        index: usize,
        data: &dyn RowSource,
        labels: Option<&[u32]>,
    ) -> Result<Batch<'a>> {
        self.batch_with(index, data, labels, Par::Seq)
    }

    /// [`batch`](Self::batch), with the rows gathered by up to
    /// `par.max_tasks()` threads of the current rayon pool where the
    /// source can use them ([`RowSource::gather`]: from memory, the rows
    /// of a shuffled batch are scattered over the data set, so one thread
    /// mostly waits on memory: several threads fetch them several times as
    /// fast). The batch is the same whatever `par`. Allocates nothing (a
    /// file source after its first gathers).
    pub fn batch_with<'a>(
        &'a mut self,
        index: usize,
        data: &dyn RowSource,
        labels: Option<&[u32]>,
        par: Par,
    ) -> Result<Batch<'a>> {
        self.batch_share(index, data, labels, par, (0, 1))
    }

    /// Rows in batch `index` of an epoch (the last one may be partial);
    /// 0 past the end.
    pub fn batch_len(&self, index: usize) -> usize {
        let start = index.saturating_mul(self.batch_size).min(self.n);
        self.batch_size.min(self.n - start)
    }

    /// Rank `rank`'s share of batch `index` among `ranks` (data-parallel
    /// training): its [`rank_part`] of the batch's rows, so the shares of
    /// all ranks are the batch, in order, and differ by at most one row (a
    /// share is empty when the batch has fewer rows than there are ranks). `(0, 1)` is
    /// [`batch_with`](Self::batch_with). Only the share's rows are
    /// gathered from `data` (from a file, only they are read). Allocates
    /// nothing (a file source after its first gathers).
    pub fn batch_share<'a>(
        &'a mut self,
        index: usize,
        data: &dyn RowSource,
        labels: Option<&[u32]>,
        par: Par,
        (rank, ranks): (usize, usize),
    ) -> Result<Batch<'a>> {
        if rank >= ranks {
            return Err(EngineError::InvalidArgument {
                what: "Minibatcher::batch_share: rank",
                value: format!("{rank} of {ranks}"),
                expected: "a rank below the rank count",
            });
        }
        if data.rows() != self.n || data.cols() != self.features {
            return Err(EngineError::Shape {
                what: "Minibatcher::batch: data",
                expected: format!("{}x{}", self.n, self.features),
                found: format!("{}x{}", data.rows(), data.cols()),
            });
        }
        if let Some(l) = labels
            && l.len() != self.n
        {
            return Err(EngineError::SizeMismatch {
                what: "Minibatcher::batch: labels vs samples".into(),
                expected: self.n as u64,
                found: l.len() as u64,
            });
        }
        if index >= self.num_batches() {
            return Err(EngineError::InvalidArgument {
                what: "Minibatcher::batch: batch index",
                value: index.to_string(),
                expected: "less than num_batches()",
            });
        }
        let start = index * self.batch_size;
        let whole = self.batch_size.min(self.n - start);
        let part = rank_part(whole, ranks, rank);
        let len = part.len();
        let idx = &self.order[start + part.start..start + part.end];
        data.gather(idx, &mut self.x.as_mut_slice()[..len * self.features], par)?;
        self.labels.clear();
        if let Some(l) = labels {
            self.labels.extend(idx.iter().map(|&i| l[i as usize]));
        }
        Ok(Batch {
            x: self.x.rows_view(0, len)?,
            labels: labels.map(|_| &self.labels[..]),
            indices: idx,
            epoch: self.epoch,
            index,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_once_per_epoch_and_fresh_shuffles() {
        let data = Matrix::from_fn(10, 2, |i, j| (i * 2 + j) as f32).unwrap();
        let labels: Vec<u32> = (0..10).collect();
        let mut b = Minibatcher::new(10, 2, 4, 42, false, true).unwrap();
        assert_eq!(b.num_batches(), 3);
        let mut orders = Vec::new();
        for epoch in 0..3 {
            b.start_epoch(epoch);
            let mut seen = Vec::new();
            for i in 0..3 {
                let batch = b.batch(i, &data, Some(&labels)).unwrap();
                assert_eq!(batch.len(), if i == 2 { 2 } else { 4 });
                for r in 0..batch.len() {
                    let l = batch.labels.unwrap()[r];
                    assert_eq!(batch.x.get(r, 1), Some((l * 2 + 1) as f32));
                    assert_eq!(batch.indices[r], l);
                    seen.push(l);
                }
            }
            orders.push(seen.clone());
            seen.sort();
            assert_eq!(seen, labels);
        }
        assert_ne!(orders[0], orders[1]);
        assert_ne!(orders[1], orders[2]);
        // Same (seed, epoch), same order; drop_last skips the partial batch.
        let mut c = Minibatcher::new(10, 2, 4, 42, true, true).unwrap();
        c.start_epoch(1);
        assert_eq!(c.num_batches(), 2);
        assert_eq!(c.order(), &orders[1][..]);
        assert!(c.batch(2, &data, None).is_err());
        assert!(Minibatcher::new(10, 2, 0, 1, false, true).is_err());
    }

    #[test]
    fn shares_of_ranks_are_the_batch_in_order() {
        // 11 rows in batches of 4 (the last has 3) among 2 and 3 ranks: the
        // shares, concatenated in rank order, are the batch; with 3 ranks a
        // batch of 3 gives one row each, with 4 ranks one share is empty.
        let data = Matrix::from_fn(11, 2, |i, j| (i * 2 + j) as f32).unwrap();
        let labels: Vec<u32> = (0..11).collect();
        let mut whole = Minibatcher::new(11, 2, 4, 5, false, true).unwrap();
        let mut part = whole.clone();
        whole.start_epoch(1);
        part.start_epoch(1);
        for ranks in [2, 3, 4] {
            for b in 0..whole.num_batches() {
                let want = whole.batch(b, &data, Some(&labels)).unwrap();
                let (want_x, want_l) = (want.x.as_slice().to_vec(), want.labels.unwrap().to_vec());
                assert_eq!(whole.batch_len(b), want_l.len());
                let (mut x, mut l, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
                for r in 0..ranks {
                    let share = part
                        .batch_share(b, &data, Some(&labels), Par::Seq, (r, ranks))
                        .unwrap();
                    x.extend_from_slice(share.x.as_slice());
                    l.extend_from_slice(share.labels.unwrap());
                    sizes.push(share.len());
                }
                assert_eq!((x, l), (want_x, want_l), "batch {b}, {ranks} ranks");
                let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(max - min <= 1, "{sizes:?}");
            }
        }
        assert_eq!(whole.batch_len(3), 0);
        assert!(part.batch_share(0, &data, None, Par::Seq, (2, 2)).is_err());
    }

    #[test]
    fn parallel_gather_gives_the_serial_batch() {
        // Batches of 30 and 17 rows (the last of an epoch) on 4 and 3
        // tasks, in pieces of 4 rows (1000 features, the last piece
        // partial) and of 1 row (5000), and on one (3 features: below a
        // task's worth, gathered serially).
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        for (features, par) in [(1000, Par::All), (5000, Par::Rayon(3)), (3, Par::All)] {
            let n = 107;
            let data = Matrix::from_fn(n, features, |i, j| (i * 100_000 + j) as f32).unwrap();
            let labels: Vec<u32> = (0..n as u32).map(|i| i * 3).collect();
            let mut serial = Minibatcher::new(n, features, 30, 9, false, true).unwrap();
            let mut parallel = serial.clone();
            for epoch in 0..2 {
                serial.start_epoch(epoch);
                parallel.start_epoch(epoch);
                for b in 0..serial.num_batches() {
                    let want = serial.batch(b, &data, Some(&labels)).unwrap();
                    let got = pool
                        .install(|| parallel.batch_with(b, &data, Some(&labels), par))
                        .unwrap();
                    assert_eq!(got.len(), want.len());
                    assert_eq!(got.indices, want.indices);
                    assert_eq!(got.labels, want.labels);
                    for r in 0..want.len() {
                        let src = want.indices[r] as usize;
                        for j in 0..features {
                            assert_eq!(
                                got.x.get(r, j),
                                Some(data.row(src)[j]),
                                "{features} {r} {j}"
                            );
                        }
                    }
                }
            }
        }
    }
}
