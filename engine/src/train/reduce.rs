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
use crate::minibatch::{Batch, rank_part};
use crate::params::ParamSet;
use crate::rng::{Rng, streams};
use crate::train::rank_state::gather_words;
use crate::train::trainer::rank_rng_name;
use crate::train::{Control, MAX_METRICS, Metrics, Model, StepContext, StepOutput, Trainer};

/// What a sum across ranks is of, for the error when it cannot finish:
/// `what` of `tensor` (e.g. "the gradient of W") at a training step,
/// counted from 1 when shown.
#[derive(Debug, Clone, Copy)]
pub struct SumOf<'a> {
    /// What is summed, e.g. `"the gradient"`.
    pub what: &'static str,
    /// The tensor, when it is one's.
    pub tensor: Option<&'a str>,
    /// The 0-based epoch and batch of the step it belongs to.
    pub step: Option<(usize, usize)>,
}

impl SumOf<'_> {
    /// A sum described only as "values" (the plain trait methods').
    pub const VALUES: SumOf<'static> = SumOf {
        what: "values",
        tensor: None,
        step: None,
    };
}

impl std::fmt::Display for SumOf<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.what)?;
        if let Some(t) = self.tensor {
            write!(f, " of {t}")?;
        }
        match self.step {
            Some((e, b)) => write!(f, " (epoch {}, batch {})", e + 1, b + 1),
            None => Ok(()),
        }
    }
}

/// What [`GradientReducer::sum_step`] sums, for its errors: the label of
/// each large tensor's sum and that of the packed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepSums {
    /// Each large tensor's sum, e.g. "the gradient" (of W).
    pub tensors: &'static str,
    /// The packed sum of the small tensors with the loss and metrics.
    pub packed: &'static str,
}

impl StepSums {
    /// A step's gradients.
    pub const GRADIENTS: StepSums = StepSums {
        tensors: "the gradient",
        packed: "the small gradients, loss and metrics",
    };
    /// Parameters averaged across the ranks.
    pub const PARAMETERS: StepSums = StepSums {
        tensors: "the parameters",
        packed: "the small parameters, loss and metrics",
    };
}

/// Sums values across the ranks of a data-parallel run. Every rank calls
/// the same sums in the same order with the same lengths; each call returns
/// the element-wise sum over all ranks, the same bits on every rank.
///
/// The order of the additions is fixed, the ring order: the values are cut
/// into `ranks` segments (segment `k` is [`rank_part`]`(len, ranks, k)`), and segment `k` is summed
/// starting at rank `k`: `((x[k] + x[k+1]) + x[k+2]) + … + x[k-1]` (ranks
/// modulo the rank count), each partial sum rounded to the element type.
pub trait GradientReducer: Send {
    /// This process's rank, `0..ranks()`.
    fn rank(&self) -> usize;

    /// The number of ranks.
    fn ranks(&self) -> usize;

    /// Replaces `values` by the element-wise sum over the ranks of each
    /// rank's `values` times its `weight` (each product rounded to f32
    /// before it is added). `of` names the sum in errors.
    fn sum_weighted(&mut self, values: &mut [f32], weight: f32, of: SumOf<'_>) -> Result<()>;

    /// The f64 sum of the step's loss and metric sums (and the ranks'
    /// vote to stop, and their random streams); `of` names it in errors.
    fn sum_f64(&mut self, values: &mut [f64], of: SumOf<'_>) -> Result<()>;

    /// One sum of f32 values carried as f64 (`values[..f32_len]`, each
    /// partial sum rounded to f32: the same bits as an f32 sum) followed by
    /// f64 values: the step's small gradient tensors and its loss and
    /// metric sums in one message ([`sum_step`](Self::sum_step)).
    fn sum_packed(&mut self, values: &mut [f64], f32_len: usize, of: SumOf<'_>) -> Result<()>;

    /// The buffer [`sum_step`](Self::sum_step) packs into (kept between
    /// steps, so that it allocates only on the first).
    fn pack_buffer(&mut self) -> &mut Vec<f64>;

    /// A step's sums: every gradient tensor of `grads` times `weight`,
    /// and the f64 `sums` (loss and metrics). Tensors of at least
    /// [`PACK_BELOW`] values are summed in place one by one, in order; the
    /// smaller ones (biases) travel with `sums` in one
    /// [`sum_packed`](Self::sum_packed) after them, so that a step makes
    /// few messages. Each value's bits are those of the tensor's own f32
    /// sum, in the ring order of the packed vector. `step` (0-based epoch
    /// and batch) and `labels` name the sums in their errors.
    fn sum_step(
        &mut self,
        grads: &mut ParamSet,
        weight: f32,
        sums: &mut [f64],
        (step, labels): ((usize, usize), StepSums),
    ) -> Result<()> {
        let small = |t: &&mut crate::params::Tensor| t.value.len() < PACK_BELOW;
        for t in grads.tensors_mut().iter_mut().filter(|t| !small(t)) {
            let tensor = Some(t.name.as_str());
            let what = labels.tensors;
            let of = SumOf {
                what,
                tensor,
                step: Some(step),
            };
            self.sum_weighted(t.value.as_mut_slice(), weight, of)?;
        }
        let mut packed = std::mem::take(self.pack_buffer());
        packed.clear();
        for t in grads.tensors_mut().iter_mut().filter(small) {
            let g = t.value.as_slice();
            packed.extend(
                g.iter()
                    .map(|&v| f64::from(if weight == 1.0 { v } else { v * weight })),
            );
        }
        let f32_len = packed.len();
        packed.extend_from_slice(sums);
        let what = labels.packed;
        let of = SumOf {
            what,
            tensor: None,
            step: Some(step),
        };
        let result = self.sum_packed(&mut packed, f32_len, of);
        let mut from = packed.iter();
        for t in grads.tensors_mut().iter_mut().filter(small) {
            t.value
                .as_mut_slice()
                .iter_mut()
                .zip(&mut from)
                .for_each(|(v, &p)| *v = p as f32);
        }
        sums.iter_mut().zip(from).for_each(|(v, &p)| *v = p);
        *self.pack_buffer() = packed;
        result
    }

    /// Replaces `values` by their element-wise sum over the ranks.
    fn allreduce_sum(&mut self, values: &mut [f32]) -> Result<()> {
        self.sum_weighted(values, 1.0, SumOf::VALUES)
    }

    /// [`allreduce_sum`](Self::allreduce_sum) of f64 values.
    fn allreduce_sum_f64(&mut self, values: &mut [f64]) -> Result<()> {
        self.sum_f64(values, SumOf::VALUES)
    }
}

/// Gradient tensors with fewer values than this travel packed with the
/// step's loss and metric sums ([`GradientReducer::sum_step`]): biases, not
/// weight matrices of any size worth a message of their own.
pub const PACK_BELOW: usize = 1 << 16;

/// `a + b` for f32 values carried as f64: the f32 sum (the f64 sum rounded
/// once more to f32 is the correctly rounded f32 sum: 53 ≥ 2·24 + 2 bits).
pub fn add_as_f32(a: f64, b: f64) -> f64 {
    f64::from((a + b) as f32)
}

/// What the ranks of a [`LocalReducer`] group share: each rank's values
/// (as f64, exact for f32) and a barrier.
#[derive(Debug)]
struct Shared {
    slots: Mutex<Vec<Vec<f64>>>,
    barrier: Barrier,
}

/// One rank of a group of ranks in one process, each run by its own
/// thread: a sum waits for every rank, then adds the ranks' values in the
/// ring order (see [`GradientReducer`]), so the result is the same on
/// every rank and every run, and the same bits as an MPI run's. Every rank
/// of a group must make the same calls, or the others wait forever.
#[derive(Debug, Clone)]
pub struct LocalReducer {
    rank: usize,
    ranks: usize,
    shared: Arc<Shared>,
    pack: Vec<f64>,
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
                pack: Vec::new(),
            })
            .collect())
    }

    /// Puts this rank's values in its slot (as f64, exact for f32), waits
    /// for every rank, then replaces each value `i` of segment `k` by rank
    /// `k`'s value plus the next ranks' (modulo the count) added in turn by
    /// `add(i, total, value)`. Allocates only when a slot grows.
    fn reduce<T: Copy + Into<f64>>(
        &self,
        values: &mut [T],
        from: fn(f64) -> T,
        add: impl Fn(usize, T, T) -> T,
    ) {
        let lock = || self.shared.slots.lock().unwrap_or_else(|e| e.into_inner());
        {
            let mut slots = lock();
            let mine = &mut slots[self.rank];
            mine.clear();
            mine.extend(values.iter().map(|&v| v.into()));
        }
        self.shared.barrier.wait();
        {
            let (slots, n, len) = (lock(), self.ranks, values.len());
            for k in 0..n {
                for i in rank_part(len, n, k) {
                    let mut total = from(slots[k][i]);
                    for j in 1..n {
                        total = add(i, total, from(slots[(k + j) % n][i]));
                    }
                    values[i] = total;
                }
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

    /// The f32 sum in ring order (each partial sum rounded to f32, as an
    /// MPI rank adds what it receives to its own values).
    fn sum_weighted(&mut self, values: &mut [f32], weight: f32, _: SumOf<'_>) -> Result<()> {
        if weight != 1.0 {
            values.iter_mut().for_each(|v| *v *= weight);
        }
        self.reduce(values, |v| v as f32, |_, a, b| a + b);
        Ok(())
    }

    fn sum_f64(&mut self, values: &mut [f64], _: SumOf<'_>) -> Result<()> {
        self.reduce(values, |v| v, |_, a, b| a + b);
        Ok(())
    }

    fn sum_packed(&mut self, values: &mut [f64], f32_len: usize, _: SumOf<'_>) -> Result<()> {
        let add = |i, a, b| if i < f32_len { add_as_f32(a, b) } else { a + b };
        self.reduce(values, |v| v, add);
        Ok(())
    }

    fn pack_buffer(&mut self) -> &mut Vec<f64> {
        &mut self.pack
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

    /// Gathers every rank's model stream into `rank_rngs` (its 32-bit
    /// words, [`gather_words`]), and every rank's rows of the persistent
    /// state.
    pub(super) fn gather_rank_rngs(&mut self) -> Result<()> {
        let Some(reducer) = self.reducer.as_mut() else {
            return Ok(());
        };
        let rank = reducer.rank();
        let state = self.rng.state();
        let own = (state.chunks_exact(4)).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let words = gather_words(reducer.as_mut(), (self.rank_rngs.len() * 8, rank * 8), own)?;
        for (s, w) in self.rank_rngs.iter_mut().zip(words.chunks_exact(8)) {
            for (b, &v) in s.chunks_exact_mut(4).zip(w) {
                b.copy_from_slice(&v.to_le_bytes());
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
        let (mut sums, count) = local_sums(&out, share.len(), &mut self.metric_names);
        let sums = &mut sums[..2 + count];
        let labels = StepSums::GRADIENTS;
        reducer.sum_step(&mut self.grads, weight, sums, ((epoch, b), labels))?;
        let out = whole_batch(sums, &self.metric_names)?;
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
        let of = SumOf {
            what: "the ranks' vote to stop",
            tensor: None,
            step: None,
        };
        reducer.sum_f64(&mut stop, of)?;
        Ok(if stop[0] > 0.0 {
            Control::Stop
        } else {
            Control::Continue
        })
    }
}

/// This rank's sums for the whole batch's [`StepOutput`] (over its `rows`
/// rows): loss times rows, rows, each metric times rows; and the metrics'
/// count. A rank with no rows (a last batch with fewer rows than ranks)
/// reports its metrics under the names of its last non-empty step,
/// `names`.
fn local_sums(
    out: &StepOutput,
    rows: usize,
    names: &mut Metrics,
) -> ([f64; 2 + MAX_METRICS], usize) {
    let n = rows as f64;
    let mut sums = [0.0f64; 2 + MAX_METRICS];
    sums[0] = out.loss * n;
    sums[1] = n;
    if rows > 0 {
        *names = out.metrics;
    }
    for (s, &(_, v)) in sums[2..].iter_mut().zip(out.metrics.as_slice()) {
        *s = v * n;
    }
    (sums, names.as_slice().len())
}

/// The whole batch's [`StepOutput`] from the ranks' summed
/// [`local_sums`]: the sums of loss and metrics times rows over the rows.
fn whole_batch(sums: &[f64], names: &Metrics) -> Result<StepOutput> {
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
    use crate::matrix::Matrix;
    use crate::params::Role;

    #[test]
    fn every_rank_gets_the_sum_in_ring_order() {
        // 1e8, 1 and -1e8 in f32, segment k summed from rank k: segment 0
        // (1e8 + 1) - 1e8 = 0 (1e8 + 1 rounds to 1e8), segment 1
        // (1 - 1e8) + 1e8 = 0, segment 2 (elements 2 and 3) (-1e8 + 1e8) + 1
        // = 1 (rank order would give 0); on every
        // rank. Rank 1's values weighted by 2 before they are added, and a
        // negative zero kept where every rank has one.
        let group = LocalReducer::group(3).unwrap();
        let results: Vec<(Vec<f32>, Vec<f64>)> = std::thread::scope(|s| {
            let handles: Vec<_> = group
                .into_iter()
                .map(|mut r| {
                    s.spawn(move || {
                        let x = [1e8f32, 0.5, -1e8][r.rank()];
                        let weight = if r.rank() == 1 { 2.0 } else { 1.0 };
                        let mut v = [x, x, x, -0.0];
                        let of = SumOf::VALUES;
                        r.sum_weighted(&mut v, weight, of).unwrap();
                        let mut w = [r.rank() as f64 + 0.5];
                        r.allreduce_sum_f64(&mut w).unwrap();
                        (v.to_vec(), w.to_vec())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (v, w) in results {
            let bits: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
            assert_eq!(bits, [0.0f32, 0.0, 1.0, -0.0].map(f32::to_bits), "{v:?}");
            assert_eq!(w, [4.5]);
        }
        assert!(LocalReducer::group(0).is_err());
    }

    #[test]
    fn a_step_packs_the_small_tensors_with_the_sums() {
        // Two ranks: W (large) summed alone, b packed with the f64 sums;
        // both the f32 sum's bits (1 + 2^-24 rounds to 1), the f64 sums
        // exact. add_as_f32 rounds to f32 (1 + 0.75 ulp -> 1 + 1 ulp).
        let mut p = ParamSet::new();
        p.push("W", Role::Weight, Matrix::zeros(256, 256).unwrap())
            .unwrap();
        p.push("b", Role::Bias, Matrix::zeros(1, 3).unwrap())
            .unwrap();
        let group = LocalReducer::group(2).unwrap();
        let results: Vec<(ParamSet, Vec<f64>)> = std::thread::scope(|s| {
            let handles: Vec<_> = group
                .into_iter()
                .map(|mut r| {
                    let mut g = p.clone();
                    s.spawn(move || {
                        let x = [1.0f32, f32::EPSILON / 2.0][r.rank()];
                        for t in g.tensors_mut() {
                            t.value.as_mut_slice().fill(x);
                        }
                        let mut sums = [r.rank() as f64 + 0.25, 1e-20];
                        r.sum_step(&mut g, 1.0, &mut sums, ((0, 0), StepSums::GRADIENTS))
                            .unwrap();
                        (g, sums.to_vec())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let one_plus = 1.0f32 + f32::EPSILON / 2.0;
        for (g, sums) in results {
            assert_eq!(g.value(0).as_slice()[0].to_bits(), one_plus.to_bits());
            assert!(
                g.value(1)
                    .as_slice()
                    .iter()
                    .all(|v| v.to_bits() == one_plus.to_bits())
            );
            assert_eq!(sums, [1.5, 2e-20]);
        }
        const { assert!(256 * 256 >= PACK_BELOW && 3 < PACK_BELOW) };
        assert_eq!(
            add_as_f32(1.0, f64::from(f32::EPSILON) * 0.75),
            1.0 + f64::from(f32::EPSILON)
        );
    }

    #[test]
    fn ring_segments_cover_the_values_in_order() {
        let cuts: Vec<_> = (0..3).map(|k| rank_part(10, 3, k)).collect();
        assert_eq!(cuts, [0..3, 3..6, 6..10]);
        assert_eq!(rank_part(2, 3, 0), 0..0);
        let of = SumOf {
            what: "the gradient",
            tensor: Some("W"),
            step: Some((0, 4)),
        };
        assert_eq!(of.to_string(), "the gradient of W (epoch 1, batch 5)");
    }
}
