//! Synchronous data-parallel training's hook: a [`GradientReducer`] sums
//! every rank's gradient (and the step's loss and metric sums) so that the
//! same update runs on every rank, and [`LocalReducer`], ranks that are
//! threads of one process (tests, and a reference for an MPI reducer).
//!
//! A [`Trainer`](crate::Trainer) given a reducer
//! ([`set_reducer`](crate::Trainer::set_reducer)) takes rank `r`'s share of
//! every global minibatch ([`Minibatcher::batch_share`](crate::Minibatcher::batch_share):
//! the same shuffled order on every rank), computes the gradient of its
//! rows, scales it by its share of the batch's rows and sums it across
//! ranks: the gradient of the global batch's mean, up to float rounding.

use std::sync::{Arc, Barrier, Mutex};

use latent_kernels::Par;

use crate::error::{EngineError, Result};
use crate::minibatch::Batch;
use crate::rng::{Rng, streams};
use crate::train::trainer::rank_rng_name;
use crate::train::{Control, MAX_METRICS, Metrics, Model, StepContext, StepOutput, Trainer};

/// Sums values across the ranks of a data-parallel run. Every rank calls
/// the same sums in the same order with the same lengths; each call returns
/// the element-wise sum over all ranks, the same bits on every rank.
pub trait GradientReducer: Send {
    /// This process's rank, `0..ranks()`.
    fn rank(&self) -> usize;

    /// The number of ranks.
    fn ranks(&self) -> usize;

    /// Replaces `values` by their element-wise sum over the ranks.
    fn allreduce_sum(&mut self, values: &mut [f32]) -> Result<()>;

    /// [`allreduce_sum`](Self::allreduce_sum) for the step's loss and
    /// metric sums (and the ranks' vote to stop).
    fn allreduce_sum_f64(&mut self, values: &mut [f64]) -> Result<()>;
}

/// What the ranks of a [`LocalReducer`] group share: each rank's values
/// (as f64, exact for f32) and a barrier.
#[derive(Debug)]
struct Shared {
    slots: Mutex<Vec<Vec<f64>>>,
    barrier: Barrier,
}

/// One rank of a group of ranks in one process, each run by its own
/// thread: a sum waits for every rank, then adds the ranks' values in rank
/// order (from 0), so the result is the same on every rank and every run.
/// Every rank of a group must make the same calls, or the others wait
/// forever.
#[derive(Debug, Clone)]
pub struct LocalReducer {
    rank: usize,
    ranks: usize,
    shared: Arc<Shared>,
}

impl LocalReducer {
    /// The `ranks` ranks of a new group, rank `r` at index `r`.
    pub fn group(ranks: usize) -> Result<Vec<LocalReducer>> {
        if ranks == 0 {
            return Err(EngineError::InvalidArgument {
                what: "LocalReducer::group: ranks",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        let shared = Arc::new(Shared {
            slots: Mutex::new(vec![Vec::new(); ranks]),
            barrier: Barrier::new(ranks),
        });
        Ok((0..ranks)
            .map(|rank| LocalReducer {
                rank,
                ranks,
                shared: Arc::clone(&shared),
            })
            .collect())
    }

    /// Puts this rank's values in its slot (as f64, exact for f32), waits
    /// for every rank, then replaces each value by `zero` plus the ranks'
    /// values added by `add` in rank order. Allocates only when a slot
    /// grows.
    fn reduce<T: Copy + Into<f64>>(&self, values: &mut [T], zero: T, add: fn(T, f64) -> T) {
        let lock = || self.shared.slots.lock().unwrap_or_else(|e| e.into_inner());
        {
            let mut slots = lock();
            let mine = &mut slots[self.rank];
            mine.clear();
            mine.extend(values.iter().map(|&v| v.into()));
        }
        self.shared.barrier.wait();
        {
            let slots = lock();
            for (i, v) in values.iter_mut().enumerate() {
                *v = slots.iter().fold(zero, |total, slot| add(total, slot[i]));
            }
        }
        // Nobody refills a slot before every rank has read them all.
        self.shared.barrier.wait();
    }
}

impl GradientReducer for LocalReducer {
    fn rank(&self) -> usize {
        self.rank
    }

    fn ranks(&self) -> usize {
        self.ranks
    }

    /// The f32 sum in rank order (each partial sum rounded to f32, as an
    /// MPI library's f32 sum is).
    fn allreduce_sum(&mut self, values: &mut [f32]) -> Result<()> {
        self.reduce(values, 0.0, |total, v| total + v as f32);
        Ok(())
    }

    fn allreduce_sum_f64(&mut self, values: &mut [f64]) -> Result<()> {
        self.reduce(values, 0.0, |total, v| total + v);
        Ok(())
    }
}

impl<M: Model> Trainer<M> {
    /// Makes this trainer one rank of a data-parallel run: from now on it
    /// trains on `reducer`'s share of every minibatch and sums gradients,
    /// loss and metrics across the ranks before each update (see the
    /// module documentation), with the fused update off (the update needs
    /// the summed gradient). Rank 0 keeps the model's random stream of a
    /// run alone; rank `r > 0` gets sub-stream `r` of it, so that the ranks'
    /// sampling noise is independent. Persistent state kept by row (PCD
    /// chains) is split among the ranks when the first fit starts, each
    /// rank keeping the rows of its share (`rank_state.rs`). Every rank's
    /// stream and rows are saved in checkpoints (gathered at each epoch's
    /// end), so a trainer [`restore`](Self::restore)d from one and then
    /// given a reducer of the same rank count continues the run exactly.
    ///
    /// Errors, changing nothing: a restored checkpoint not of a run on
    /// this many ranks (one alone counts as one rank), a model with
    /// persistent state not kept by row ([`Model::persistent_by_row`]), or
    /// a trainer that had a reducer already.
    pub fn set_reducer(&mut self, reducer: Box<dyn GradientReducer>) -> Result<()> {
        let (rank, ranks) = (reducer.rank(), reducer.ranks());
        if rank >= ranks {
            return Err(EngineError::InvalidArgument {
                what: "Trainer::set_reducer: rank",
                value: format!("{rank} of {ranks}"),
                expected: "a rank below the rank count",
            });
        }
        if !self.rank_rngs.is_empty() {
            return Err(EngineError::InvalidArgument {
                what: "Trainer::set_reducer",
                value: "a trainer that was a rank already".into(),
                expected: "one reducer per trainer",
            });
        }
        self.check_state_by_row(&self.model.persistent_state())?;
        // Every rank's stream as it starts (what a checkpoint taken before
        // the first epoch's end holds).
        let rank_rngs: Vec<[u8; 32]> = if self.epoch == 0 {
            let seed = self.config.seed;
            let first = Rng::stream(seed, streams::MODEL).state();
            std::iter::once(first)
                .chain((1..ranks).map(|r| Rng::substream(seed, streams::MODEL, r as u64).state()))
                .collect()
        } else {
            self.resumed_rank_rngs(ranks)?
        };
        self.rng = Rng::from_state(rank_rngs[rank]);
        self.rank_rngs = rank_rngs;
        self.reducer = Some(reducer);
        self.split_pending = true;
        Ok(())
    }

    /// Every rank's stream from the restored checkpoint (rank 0's is the
    /// model's, which [`restore`](Self::restore) put in place); an error
    /// when the checkpoint's run had another rank count.
    fn resumed_rank_rngs(&self, ranks: usize) -> Result<Vec<[u8; 32]>> {
        let mut states = vec![self.rng.state()];
        for r in 1..ranks {
            let name = rank_rng_name(r);
            match self.restored_rngs.iter().find(|(n, _)| *n == name) {
                Some((_, s)) => states.push(*s),
                None => break,
            }
        }
        let saved = 1
            + (self.restored_rngs.iter())
                .filter(|(n, _)| n.contains('@'))
                .count();
        if states.len() != ranks || saved != ranks {
            return Err(EngineError::Mismatch {
                what: "ranks of the resumed run".into(),
                expected: format!("a checkpoint of a run on {ranks} rank(s)"),
                found: format!("one of a run on {saved} rank(s)"),
            });
        }
        Ok(states)
    }

    /// Gathers every rank's model stream into `rank_rngs` (one sum of
    /// 32-bit words as f64, exact: each rank adds its own slot to zeros),
    /// and every rank's rows of the persistent state.
    pub(super) fn gather_rank_rngs(&mut self) -> Result<()> {
        let Some(reducer) = self.reducer.as_mut() else {
            return Ok(());
        };
        let rank = reducer.rank();
        let mut words = vec![0.0f64; self.rank_rngs.len() * 8];
        let state = self.rng.state();
        for (w, c) in words[rank * 8..].iter_mut().zip(state.chunks_exact(4)) {
            *w = f64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        }
        reducer.allreduce_sum_f64(&mut words)?;
        for (s, w) in self.rank_rngs.iter_mut().zip(words.chunks_exact(8)) {
            for (b, &v) in s.chunks_exact_mut(4).zip(w) {
                b.copy_from_slice(&(v as u32).to_le_bytes());
            }
        }
        self.gather_persistent_state()
    }

    /// The rank and rank count: `(0, 1)` for a trainer alone.
    pub fn rank(&self) -> (usize, usize) {
        self.reducer
            .as_ref()
            .map_or((0, 1), |r| (r.rank(), r.ranks()))
    }

    /// The data-parallel step on this rank's `share` of batch `b` (of
    /// `rows` rows on all ranks): the share's gradient, weighted by its
    /// part of the rows and summed over the ranks, then the loss and
    /// metrics of the whole batch (the ranks' sums weighted by rows), then
    /// the same checked update as a step alone. The loss is checked after
    /// the sum, so every rank stops at the same step.
    pub(super) fn step_reduced(
        &mut self,
        share: &Batch<'_>,
        (b, rows): (usize, usize),
        par: Par,
    ) -> Result<StepOutput> {
        let epoch = self.epoch;
        self.grads.fill_zero();
        let mut out = StepOutput::default();
        if !share.is_empty() {
            let mut ctx = StepContext {
                par,
                rng: &mut self.rng,
                epoch,
                batch: b,
                fused: None,
            };
            out = self.model.gradient(share, &mut self.grads, &mut ctx)?;
        }
        let reducer = self.reducer.as_mut().expect("a reduced step has a reducer");
        let weight = share.len() as f32 / rows as f32;
        for t in self.grads.tensors_mut() {
            let g = t.value.as_mut_slice();
            if weight != 1.0 {
                g.iter_mut().for_each(|v| *v *= weight);
            }
            reducer.allreduce_sum(g)?;
        }
        let out = reduce_output(reducer.as_mut(), &out, share.len(), &mut self.metric_names)?;
        if !out.loss.is_finite() {
            return Err(super::fit::diverged(
                epoch,
                b,
                "loss".into(),
                0,
                out.loss as f32,
            ));
        }
        self.apply_update(None, b, par)?;
        Ok(out)
    }

    /// The observer's `control` on this rank, agreed by all: every rank
    /// stops when one asks to (alone, `control` itself).
    pub(super) fn agree(&mut self, control: Control) -> Result<Control> {
        let Some(reducer) = self.reducer.as_mut() else {
            return Ok(control);
        };
        let mut stop = [f64::from(u8::from(control == Control::Stop))];
        reducer.allreduce_sum_f64(&mut stop)?;
        Ok(if stop[0] > 0.0 {
            Control::Stop
        } else {
            Control::Continue
        })
    }
}

/// The whole batch's [`StepOutput`] from each rank's (over its `rows`
/// rows): the sums of loss and metrics times rows over the rows. A rank
/// with no rows (a last batch with fewer rows than ranks) reports its
/// metrics under the names of its last non-empty step, `names`.
fn reduce_output(
    reducer: &mut dyn GradientReducer,
    out: &StepOutput,
    rows: usize,
    names: &mut Metrics,
) -> Result<StepOutput> {
    let n = rows as f64;
    let mut sums = [0.0f64; 2 + MAX_METRICS];
    sums[0] = out.loss * n;
    sums[1] = n;
    if rows > 0 {
        *names = out.metrics;
    }
    let count = names.as_slice().len();
    for (s, &(_, v)) in sums[2..].iter_mut().zip(out.metrics.as_slice()) {
        *s = v * n;
    }
    reducer.allreduce_sum_f64(&mut sums[..2 + count])?;
    let total = sums[1];
    let mut metrics = Metrics::new();
    for (&(name, _), &s) in names.as_slice().iter().zip(&sums[2..]) {
        metrics.push(name, s / total)?;
    }
    Ok(StepOutput {
        loss: sums[0] / total,
        metrics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rank_gets_the_sum_in_rank_order() {
        // 1e8 + 1 - 1e8 in f32: rank order gives 0 (1e8 + 1 rounds to
        // 1e8), on every rank.
        let group = LocalReducer::group(3).unwrap();
        let results: Vec<(Vec<f32>, Vec<f64>)> = std::thread::scope(|s| {
            let handles: Vec<_> = group
                .into_iter()
                .map(|mut r| {
                    s.spawn(move || {
                        let mut v = [[1e8f32, 1.0], [1.0, 2.0], [-1e8, 3.0]][r.rank()];
                        r.allreduce_sum(&mut v).unwrap();
                        let mut w = [r.rank() as f64 + 0.5];
                        r.allreduce_sum_f64(&mut w).unwrap();
                        (v.to_vec(), w.to_vec())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (v, w) in results {
            assert_eq!(v, [0.0, 6.0]);
            assert_eq!(w, [4.5]);
        }
        assert!(LocalReducer::group(0).is_err());
    }
}
