//! Data-parallel training over MPI (the `mpi` feature): [`MpiRanks`] joins
//! the job's ranks (`MPI_COMM_WORLD`) and hands out [`MpiReducer`]s, the
//! engine's [`GradientReducer`] as a ring all-reduce of latent's own over
//! non-blocking point-to-point messages.
//!
//! # The ring
//! A sum cuts the values into one segment per rank
//! ([`rank_part`]). In `N − 1` steps of a reduce-scatter each rank sends
//! a segment to the next rank and adds the one it receives from the
//! previous rank to its own values (the rank's weight applied as it adds);
//! segment `k` is then the sum starting at rank `k`, in ring order, on rank
//! `k − 1`. `N − 1` steps of an all-gather pass the summed segments on.
//! Each rank sends and receives `2(N − 1)/N` of the values, and the order
//! of the additions is fixed by the rank count alone (not by an MPI
//! library's choice of algorithm): the same bits on every run, and the
//! same as [`LocalReducer`](latent_engine::train::LocalReducer)'s.
//!
//! # Failures
//! Every wait polls its requests with `MPI_Test` and gives up at a
//! deadline (`--collective-timeout`, from the start of the sum) or when
//! SIGTERM or SIGINT arrived (mpirun sends SIGTERM to every rank when one
//! dies; a second signal ends the process at once). It then cancels what
//! is pending and returns an [`EngineError::Collective`] naming the sum,
//! the step, the rank waited for and the seconds waited, which the caller
//! prints before [`MpiRanks::abort`]. A send to a dead rank cannot always
//! be cancelled (MPI may not cancel a send, and its buffer stays lent to
//! MPI): then the reducer prints the same line itself and calls
//! `MPI_Abort`, since it cannot return while MPI holds the buffer.
//!
//! MPI's own error handler stays `MPI_ERRORS_ARE_FATAL`: rsmpi has no safe
//! way to set another, and it ignores the codes MPI functions return, so
//! `MPI_ERRORS_RETURN` would hide a failed call rather than report it. An
//! error MPI detects itself (a broken TCP link) ends every rank with MPI's
//! message.

use std::fmt::Display;
use std::ops::{Add, Mul, Range};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use latent_engine::minibatch::rank_part;
use latent_engine::train::{GradientReducer, SumOf, add_as_f32};
use latent_engine::{EngineError, Result};
use mpi::Threading;
use mpi::datatype::Equivalence;
use mpi::environment::Universe;
use mpi::point_to_point::{Destination, Source};
use mpi::request::Request;
use mpi::topology::{Communicator, SimpleCommunicator};

/// How long a sum waits for the other ranks unless told otherwise
/// (`--collective-timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// How long a failed wait waits for its cancelled requests to complete
/// before it aborts the job itself.
const CANCEL_GRACE: Duration = Duration::from_millis(200);

/// The tag of every message of a sum (each rank's messages to another
/// arrive in the order sent, and every rank makes the same sums).
const TAG: i32 = 20;

/// The MPI job this process is a rank of; MPI stays initialised while it
/// lives (finalised on drop).
pub struct MpiRanks {
    _universe: Universe,
    rank: usize,
    ranks: usize,
    /// Nanoseconds this process's reducers spent in their sums.
    spent: Arc<AtomicU64>,
    /// Set by SIGTERM or SIGINT.
    stop: Arc<AtomicBool>,
    timeout: Duration,
}

impl MpiRanks {
    /// Initialises MPI with calls allowed from any one thread at a time
    /// (the trainer's pool runs the sums), and registers SIGTERM and SIGINT
    /// to end the sums' waits (a second signal ends the process). Sums
    /// wait at most `timeout` for the other ranks. Errors when MPI was
    /// initialised already or cannot give that thread support.
    pub fn init(timeout: Duration) -> Result<Self> {
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
        let stop = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            // The first signal sets `stop`; one more ends the process.
            signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop))
                .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop)))
                .map_err(|e| EngineError::InvalidArgument {
                    what: "MPI rank: SIGTERM/SIGINT handler",
                    value: e.to_string(),
                    expected: "a process that may handle termination signals",
                })?;
        }
        let world = universe.world();
        let (rank, ranks) = (world.rank() as usize, world.size() as usize);
        Ok(MpiRanks {
            _universe: universe,
            rank,
            ranks,
            spent: Arc::default(),
            stop,
            timeout,
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
            recv32: Vec::new(),
            recv64: Vec::new(),
            pack: Vec::new(),
            spent: Arc::clone(&self.spent),
            stop: Arc::clone(&self.stop),
            timeout: self.timeout,
        }
    }

    /// Ends every rank of the job with exit status `code` (`MPI_Abort`).
    pub fn abort(&self, code: i32) -> ! {
        SimpleCommunicator::world().abort(code)
    }

    /// Prints `latent: error: <error> (rank r of N; stopping every rank)`
    /// and ends every rank with exit status 1.
    pub fn abort_with(&self, error: &dyn Display) -> ! {
        abort_job((self.rank, self.ranks), error)
    }
}

/// The one line a failing rank prints (in one write, so that the ranks'
/// lines do not interleave), then `MPI_Abort` with status 1.
fn abort_job((rank, ranks): (usize, usize), error: &dyn Display) -> ! {
    let line = format!("latent: error: {error} (rank {rank} of {ranks}; stopping every rank)\n");
    eprint!("{line}");
    SimpleCommunicator::world().abort(1)
}

/// Sums across all ranks of the job in ring order (see the module
/// documentation). Holds no MPI handle (each sum names `MPI_COMM_WORLD`
/// afresh), so it can move to the thread that trains; its receive buffers
/// grow to the largest segment on the first step and are reused after.
#[derive(Debug)]
pub struct MpiReducer {
    rank: usize,
    ranks: usize,
    recv32: Vec<f32>,
    recv64: Vec<f64>,
    pack: Vec<f64>,
    spent: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    timeout: Duration,
}

impl GradientReducer for MpiReducer {
    fn rank(&self) -> usize {
        self.rank
    }

    fn ranks(&self) -> usize {
        self.ranks
    }

    fn sum_weighted(&mut self, values: &mut [f32], weight: f32, of: SumOf<'_>) -> Result<()> {
        let wait = self.waiter(of);
        let result = ring_sum(&wait, values, (weight, 0), &mut self.recv32);
        count(&self.spent, wait.started);
        result
    }

    fn sum_f64(&mut self, values: &mut [f64], of: SumOf<'_>) -> Result<()> {
        self.sum_packed(values, 0, of)
    }

    fn sum_packed(&mut self, values: &mut [f64], f32_len: usize, of: SumOf<'_>) -> Result<()> {
        let wait = self.waiter(of);
        let result = ring_sum(&wait, values, (1.0, f32_len), &mut self.recv64);
        count(&self.spent, wait.started);
        result
    }

    fn pack_buffer(&mut self) -> &mut Vec<f64> {
        &mut self.pack
    }
}

impl MpiReducer {
    /// The bounds of a sum of `of` starting now.
    fn waiter<'a>(&self, of: SumOf<'a>) -> Waiter<'a> {
        Waiter {
            of,
            rank: self.rank,
            ranks: self.ranks,
            started: Instant::now(),
            timeout: self.timeout,
            stop: Arc::clone(&self.stop),
        }
    }
}

/// Adds the time since `started` to the sums' total `spent`.
fn count(spent: &AtomicU64, started: Instant) {
    let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    spent.fetch_add(ns, Ordering::Relaxed);
}

/// A value the ring adds: f32 (gradients) or f64 (loss and metric sums,
/// and f32 values carried as f64).
trait Summand:
    Equivalence + Copy + Default + PartialEq + Add<Output = Self> + Mul<Output = Self>
{
    const ONE: Self;
    /// `a + b` for f32 values carried as this type.
    fn add_as_f32(a: Self, b: Self) -> Self;
}

impl Summand for f32 {
    const ONE: f32 = 1.0;
    fn add_as_f32(a: f32, b: f32) -> f32 {
        a + b
    }
}

impl Summand for f64 {
    const ONE: f64 = 1.0;
    fn add_as_f32(a: f64, b: f64) -> f64 {
        add_as_f32(a, b)
    }
}

/// One sum's bounds: what it is, this rank, when it started, its deadline
/// and the signals' flag.
struct Waiter<'a> {
    of: SumOf<'a>,
    rank: usize,
    ranks: usize,
    started: Instant,
    timeout: Duration,
    stop: Arc<AtomicBool>,
}

impl Waiter<'_> {
    /// The error that ends a wait for `peer` now, if any: a signal arrived,
    /// or the deadline passed.
    fn failed(&self, peer: usize) -> Option<EngineError> {
        let waited = self.started.elapsed();
        let cause = if self.stop.load(Ordering::Relaxed) {
            "a termination signal (SIGTERM or SIGINT) arrived; mpirun sends one to every rank when a rank dies or the job is stopped".to_string()
        } else if waited >= self.timeout {
            format!(
                "no answer within the {} s of --collective-timeout (a rank died or hangs)",
                self.timeout.as_secs_f64()
            )
        } else {
            return None;
        };
        Some(EngineError::Collective {
            what: self.of.to_string(),
            peer,
            waited: waited.as_secs_f64(),
            cause,
        })
    }
}

/// Replaces `values` by the ring sum over the ranks of each rank's values
/// times `weight`, the first `f32_len` of them f32 values (each partial
/// sum rounded to f32); `recv` holds a received segment.
fn ring_sum<T: Summand>(
    wait: &Waiter<'_>,
    values: &mut [T],
    (weight, f32_len): (T, usize),
    recv: &mut Vec<T>,
) -> Result<()> {
    let (rank, n, len) = (wait.rank, wait.ranks, values.len());
    let seg = |k: usize| rank_part(len, n, k % n);
    if weight != T::ONE {
        values[seg(rank)].iter_mut().for_each(|v| *v = *v * weight);
    }
    if n == 1 {
        return Ok(());
    }
    recv.resize(len.div_ceil(n), T::default());
    // Reduce-scatter: receive segment rank − s − 1 from the left, add this
    // rank's (weighted) values to it, pass it on at the next step.
    for s in 0..n - 1 {
        let (out, into) = (seg(rank + n - s), seg(rank + 2 * n - s - 1));
        let got = &mut recv[..into.len()];
        exchange(wait, &values[out], got)?;
        let as_f32 = f32_len.clamp(into.start, into.end) - into.start;
        let (mine, got) = (&mut values[into], &*got);
        let (mine32, mine64) = mine.split_at_mut(as_f32);
        let (got32, got64) = got.split_at(as_f32);
        if weight == T::ONE {
            mine32
                .iter_mut()
                .zip(got32)
                .for_each(|(v, &p)| *v = T::add_as_f32(p, *v));
            mine64.iter_mut().zip(got64).for_each(|(v, &p)| *v = p + *v);
        } else {
            mine32
                .iter_mut()
                .zip(got32)
                .for_each(|(v, &p)| *v = T::add_as_f32(p, *v * weight));
            mine64
                .iter_mut()
                .zip(got64)
                .for_each(|(v, &p)| *v = p + *v * weight);
        }
    }
    // All-gather: this rank's summed segment is rank + 1; pass the summed
    // segments on, received straight into place.
    for s in 0..n - 1 {
        let (send, into) = disjoint(values, seg(rank + 1 + n - s), seg(rank + n - s));
        exchange(wait, send, into)?;
    }
    Ok(())
}

/// `send` and `into`, two disjoint ranges of `values`.
fn disjoint<T>(values: &mut [T], send: Range<usize>, into: Range<usize>) -> (&[T], &mut [T]) {
    if send.end <= into.start {
        let (a, b) = values.split_at_mut(into.start);
        (&a[send], &mut b[..into.len()])
    } else {
        let (a, b) = values.split_at_mut(send.start);
        (&b[..send.len()], &mut a[into])
    }
}

/// Sends `send` to the next rank while receiving `into` from the previous
/// one, polling both until done or the wait fails.
fn exchange<T: Equivalence>(wait: &Waiter<'_>, send: &[T], into: &mut [T]) -> Result<()> {
    let (rank, n) = (wait.rank, wait.ranks);
    let (left, right) = ((rank + n - 1) % n, (rank + 1) % n);
    let world = SimpleCommunicator::world();
    let posted = Instant::now();
    mpi::request::scope(|scope| {
        let from = world.process_at_rank(left as i32);
        let to = world.process_at_rank(right as i32);
        let mut receiving = Some(from.immediate_receive_into_with_tag(scope, into, TAG));
        let mut sending = Some(to.immediate_send_with_tag(scope, send, TAG));
        loop {
            receiving = receiving.and_then(|r| r.test().err());
            sending = sending.and_then(|r| r.test().err());
            if receiving.is_none() && sending.is_none() {
                return Ok(());
            }
            let peer = if receiving.is_some() { left } else { right };
            if let Some(e) = wait.failed(peer) {
                return give_up(wait, e, [receiving, sending]);
            }
            pause(posted);
        }
    })
}

/// Between polls: nothing for the first 10 ms of an exchange (as MPI's own
/// blocking wait spins: a large message moves in fragments, each on a
/// poll of both ranks, and a rank that yields its core on a busy machine
/// gets it back milliseconds later, per fragment), then the core to other
/// processes until 100 ms (a slow rank), then 100 µs sleeps (a checkpoint
/// being written, a rank that hangs).
fn pause(started: Instant) {
    let waited = started.elapsed();
    if waited < Duration::from_millis(10) {
        std::hint::spin_loop();
    } else if waited < Duration::from_millis(100) {
        std::thread::yield_now();
    } else {
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// A failed wait: cancels the pending `requests` and returns `error` once
/// they complete; when they do not within [`CANCEL_GRACE`] (a send MPI
/// cannot cancel), prints `error` and aborts the job.
fn give_up<'a, D: ?Sized, S: mpi::request::Scope<'a>>(
    wait: &Waiter<'_>,
    error: EngineError,
    requests: [Option<Request<'a, D, S>>; 2],
) -> Result<()> {
    requests.iter().flatten().for_each(|r| r.cancel());
    let cancelled = Instant::now();
    let mut pending = requests;
    while cancelled.elapsed() < CANCEL_GRACE {
        for r in &mut pending {
            *r = r.take().and_then(|r| r.test().err());
        }
        if pending.iter().all(Option::is_none) {
            return Err(error);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    abort_job((wait.rank, wait.ranks), &error)
}
