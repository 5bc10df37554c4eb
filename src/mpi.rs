//! Data-parallel training over MPI (the `mpi` feature): [`MpiRanks`] joins
//! the job's ranks (`MPI_COMM_WORLD`) and hands out [`MpiReducer`]s, the
//! engine's [`GradientReducer`] as MPI all-reduce sums.
//!
//! # Errors
//! rsmpi leaves MPI's default error handler, `MPI_ERRORS_ARE_FATAL`, in
//! place: a failed collective (a rank that died, a broken link) ends every
//! rank of the job with MPI's message instead of returning an error, so no
//! rank waits forever. An error of latent's own on one rank is the
//! caller's to turn into [`MpiRanks::abort`].
//!
//! # Determinism
//! Every rank calls the same sums in the same order with the same lengths;
//! the MPI library adds the ranks' values by an algorithm it chooses from
//! the rank count and message size, the same on every run of a job of that
//! shape (with two ranks, `a + b` on both, bit for bit).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use latent_engine::train::GradientReducer;
use latent_engine::{EngineError, Result};
use mpi::Threading;
use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::CommunicatorCollectives;

/// The MPI job this process is a rank of; MPI stays initialised while it
/// lives (finalised on drop).
pub struct MpiRanks {
    _universe: Universe,
    rank: usize,
    ranks: usize,
    /// Nanoseconds this process's reducers spent in their sums.
    spent: Arc<AtomicU64>,
}

impl MpiRanks {
    /// Initialises MPI with calls allowed from any one thread at a time
    /// (the trainer's pool runs the sums). Errors when MPI was initialised
    /// already or cannot give that thread support.
    pub fn init() -> Result<Self> {
        let Some((universe, threading)) = mpi::initialize_with_threading(Threading::Serialized)
        else {
            return Err(EngineError::InvalidArgument {
                what: "MPI initialisation",
                value: "MPI is initialised already".into(),
                expected: "one initialisation per process",
            });
        };
        if threading < Threading::Serialized {
            return Err(EngineError::InvalidArgument {
                what: "MPI thread support",
                value: format!("{threading:?}"),
                expected: "Serialized or Multiple (an MPI library built with thread support)",
            });
        }
        let world = universe.world();
        let (rank, ranks) = (world.rank() as usize, world.size() as usize);
        Ok(MpiRanks {
            _universe: universe,
            rank,
            ranks,
            spent: Arc::default(),
        })
    }

    /// Seconds this process's reducers have spent in their sums so far
    /// (waiting for the other ranks included: a slower rank shows up here).
    pub fn seconds_in_sums(&self) -> f64 {
        self.spent.load(Ordering::Relaxed) as f64 * 1e-9
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of ranks.
    pub fn ranks(&self) -> usize {
        self.ranks
    }

    /// A reducer over all ranks of the job.
    pub fn reducer(&self) -> MpiReducer {
        MpiReducer {
            rank: self.rank,
            ranks: self.ranks,
            scratch: Vec::new(),
            scratch64: Vec::new(),
            spent: Arc::clone(&self.spent),
        }
    }

    /// Ends every rank of the job with exit status `code` (`MPI_Abort`).
    pub fn abort(&self, code: i32) -> ! {
        SimpleCommunicator::world().abort(code)
    }
}

/// Sums across all ranks of the job with `MPI_Allreduce` (`MPI_SUM`). Holds
/// no MPI handle (each sum names `MPI_COMM_WORLD` afresh), so it can move
/// to the thread that trains; its send buffers grow to the largest tensor
/// on the first step and are reused after.
#[derive(Debug)]
pub struct MpiReducer {
    rank: usize,
    ranks: usize,
    scratch: Vec<f32>,
    scratch64: Vec<f64>,
    spent: Arc<AtomicU64>,
}

impl MpiReducer {
    /// Adds the time since `started` to the sums' total.
    fn count(&self, started: Instant) {
        let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.spent.fetch_add(ns, Ordering::Relaxed);
    }
}

impl GradientReducer for MpiReducer {
    fn rank(&self) -> usize {
        self.rank
    }

    fn ranks(&self) -> usize {
        self.ranks
    }

    fn allreduce_sum(&mut self, values: &mut [f32]) -> Result<()> {
        let started = Instant::now();
        self.scratch.clear();
        self.scratch.extend_from_slice(values);
        let world = SimpleCommunicator::world();
        world.all_reduce_into(&self.scratch[..], values, SystemOperation::sum());
        self.count(started);
        Ok(())
    }

    fn allreduce_sum_f64(&mut self, values: &mut [f64]) -> Result<()> {
        let started = Instant::now();
        self.scratch64.clear();
        self.scratch64.extend_from_slice(values);
        let world = SimpleCommunicator::world();
        world.all_reduce_into(&self.scratch64[..], values, SystemOperation::sum());
        self.count(started);
        Ok(())
    }
}
