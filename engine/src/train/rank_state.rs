//! The persistent state of a data-parallel run (PCD chains): split by rows
//! among the ranks when the first fit starts, each rank moving the rows of
//! its share of the batch with its own random stream, and gathered in rank
//! order at every epoch's end into the matrix a run alone keeps, which is
//! what checkpoints save (so a file is the same whatever the rank count,
//! and a run resumed on as many ranks takes its rows back).
//!
//! With `N` ranks and a first batch of `B` rows, rank `r` keeps rows
//! `r·B/N .. (r+1)·B/N` of the state: the chains of its share of a full
//! batch ([`Minibatcher::batch_share`]). A new run starts the whole state
//! on every rank as a run alone would ([`Model::start_persistent_state`]
//! from rank 0's stream) and keeps its rows; a resumed one takes its rows
//! of the checkpoint's.

use latent_kernels::Par;

use crate::error::{EngineError, Result};
use crate::minibatch::{Minibatcher, rank_part};
use crate::params::Tensor;
use crate::rng::Rng;
use crate::train::{GradientReducer, Model, Trainer};

/// Every rank's 32-bit words, this rank's `own` placed from word `at` of
/// `len`, on every rank: one f64 sum that is exact, each rank adding its
/// words to the zeros of the others' places (the checkpoint's random
/// streams and persistent state of every rank, gathered in rank order).
pub(super) fn gather_words(
    reducer: &mut dyn GradientReducer,
    (len, at): (usize, usize),
    own: impl Iterator<Item = u32>,
) -> Result<Vec<u32>> {
    let mut words = vec![0.0f64; len];
    for (w, v) in words[at..].iter_mut().zip(own) {
        *w = f64::from(v);
    }
    reducer.allreduce_sum_f64(&mut words)?;
    Ok(words.into_iter().map(|w| w as u32).collect())
}

impl<M: Model> Trainer<M> {
    /// Gives back the reducer of a data-parallel run, ending the trainer's
    /// part in it (`None` alone): the next stage of a staged run trains
    /// with it. The trainer keeps every rank's random streams and
    /// persistent state as last gathered, so its
    /// [`checkpoint`](Self::checkpoint) stays the run's; it cannot be given
    /// a reducer again.
    pub fn take_reducer(&mut self) -> Option<Box<dyn GradientReducer>> {
        self.reducer.take()
    }

    /// An error unless every tensor of the model's persistent state is
    /// kept by row ([`Model::persistent_by_row`]), so that the ranks can
    /// split it.
    pub(super) fn check_state_by_row(&self, state: &[Tensor]) -> Result<()> {
        match state
            .iter()
            .find(|t| !self.model.persistent_by_row(&t.name))
        {
            None => Ok(()),
            Some(t) => Err(EngineError::InvalidArgument {
                what: "data-parallel training: persistent state of the model",
                value: format!("{} of model {}", t.name, self.model.kind()),
                expected: "persistent state kept row by row for the batch's rows (PCD chains, \
                           one per batch row), which the ranks split; this state is not",
            }),
        }
    }

    /// When the fit starts on a new rank: splits the model's persistent
    /// state by rows (see the module documentation). `batcher` gives the
    /// first batch's rows `B` and the last's; an error when the state is
    /// not `B` rows, or when a rank's share of the last batch would have
    /// more rows than its share of a full batch (its chains would not
    /// suffice; 5 ranks or more only).
    pub(super) fn split_persistent_state(&mut self, batcher: &Minibatcher, par: Par) -> Result<()> {
        if !std::mem::take(&mut self.split_pending) {
            return Ok(());
        }
        let (rank, ranks) = self.rank();
        let rows = batcher.batch_len(0);
        if self.model.persistent_state().is_empty() {
            let first = Rng::from_state(self.rank_rngs[0]);
            self.model.start_persistent_state(rows, &first, par)?;
        }
        let full = self.model.persistent_state();
        if full.is_empty() {
            return Ok(());
        }
        self.check_state_by_row(&full)?;
        let last = batcher.batch_len(batcher.num_batches() - 1);
        if let Some(q) =
            (0..ranks).find(|&q| rank_part(last, ranks, q).len() > rank_part(rows, ranks, q).len())
        {
            return Err(EngineError::InvalidArgument {
                what: "Trainer::fit: batch rows for the ranks' persistent chains",
                value: format!(
                    "a last batch of {last} rows gives rank {q} of {ranks} more rows than a batch of {rows}"
                ),
                expected: "a batch size or rank count whose last batch's shares fit the full batch's",
            });
        }
        let mut mine = Vec::with_capacity(full.len());
        for t in &full {
            if t.value.rows() != rows {
                return Err(EngineError::Mismatch {
                    what: format!("rows of persistent state {} for the ranks", t.name),
                    expected: format!("{rows} (one per row of a batch)"),
                    found: t.value.rows().to_string(),
                });
            }
            let own = rank_part(rows, ranks, rank);
            let cols = t.value.cols();
            let values = &t.value.as_slice()[own.start * cols..own.end * cols];
            mine.push(Tensor {
                name: t.name.clone(),
                role: t.role,
                value: crate::matrix::Matrix::from_slice(own.len(), cols, values)?,
            });
        }
        self.model.load_persistent_state(&mine)?;
        self.rank_state = full;
        Ok(())
    }

    /// Gathers every rank's rows of the persistent state into
    /// `rank_state`, in rank order: the f32 values' bits, one
    /// [`gather_words`] per tensor.
    pub(super) fn gather_persistent_state(&mut self) -> Result<()> {
        if self.rank_state.is_empty() {
            return Ok(());
        }
        let Some(reducer) = self.reducer.as_mut() else {
            return Ok(());
        };
        let (rank, ranks) = (reducer.rank(), reducer.ranks());
        let mine = self.model.persistent_state();
        for (full, own) in self.rank_state.iter_mut().zip(&mine) {
            let (rows, cols) = full.value.shape();
            let range = rank_part(rows, ranks, rank);
            if own.name != full.name || own.value.shape() != (range.len(), cols) {
                return Err(EngineError::Mismatch {
                    what: format!("persistent state {} of rank {rank} of {ranks}", full.name),
                    expected: format!("{} x {cols}", range.len()),
                    found: format!("{} ({} x {})", own.name, own.value.rows(), own.value.cols()),
                });
            }
            let bits = own.value.as_slice().iter().map(|v| v.to_bits());
            let words = gather_words(reducer.as_mut(), (rows * cols, range.start * cols), bits)?;
            for (v, &w) in full.value.as_mut_slice().iter_mut().zip(&words) {
                *v = f32::from_bits(w);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::minibatch::rank_part;

    #[test]
    fn shares_cover_the_rows_in_rank_order() {
        for (rows, ranks) in [(10, 3), (7, 2), (5, 5), (100, 1)] {
            let all: Vec<usize> = (0..ranks).flat_map(|r| rank_part(rows, ranks, r)).collect();
            assert_eq!(
                all,
                (0..rows).collect::<Vec<_>>(),
                "{rows} rows, {ranks} ranks"
            );
        }
    }
}
