//! How much parallelism a kernel may use, and keeping a pool's threads
//! awake across a short serial stretch.

/// Parallelism passed explicitly to every kernel that can use threads.
///
/// Kernels never create thread pools: `Rayon(n)` splits the work into at
/// most `n` tasks on the *current* rayon pool, so a caller that runs latent
/// inside its own pool keeps control of the thread count and nothing is
/// oversubscribed. Below a size threshold a kernel stays on the calling
/// thread whatever is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Par {
    /// Run on the calling thread only.
    Seq,
    /// Use up to this many tasks on the current rayon pool; `0` means as many
    /// as the pool has threads.
    Rayon(usize),
    /// As many tasks as the current rayon pool has threads.
    #[default]
    All,
}

impl Par {
    /// The number of tasks this setting allows on the current rayon pool
    /// (at least 1).
    pub fn max_tasks(self) -> usize {
        match self {
            Par::Seq => 1,
            Par::Rayon(0) | Par::All => rayon::current_num_threads().max(1),
            Par::Rayon(n) => n,
        }
    }
}

/// Runs `f` on the calling thread while the other threads `par` allows
/// (`par.max_tasks() - 1` of the current rayon pool) spin until it returns,
/// or until `limit` has passed, and returns what `f` returns.
///
/// A rayon worker that finds no work for a few microseconds goes to sleep,
/// and waking it costs the next parallel region 20-40 µs on a virtual
/// machine (more than the kernel of a small region takes). Wrapped around
/// a serial stretch that precedes a parallel region (the next minibatch's
/// copy before a training step), this wakes the workers while the stretch
/// runs instead of when the region starts. The spinning threads yield the
/// core while they wait, so an oversubscribed pool loses little; with
/// `Par::Seq`, or a pool of one thread, it is just `f()`.
pub fn with_warm_pool<R: Send>(
    par: Par,
    limit: std::time::Duration,
    f: impl FnOnce() -> R + Send,
) -> R {
    use std::sync::atomic::{AtomicBool, Ordering};
    let spinners = par
        .max_tasks()
        .min(rayon::current_num_threads())
        .saturating_sub(1);
    if spinners == 0 {
        return f();
    }
    let done = AtomicBool::new(false);
    let start = std::time::Instant::now();
    // `n` spinning tasks as a tree of joins (no allocation). A task that no
    // idle thread takes is run by its parent after `f` has returned, and
    // then stops at once.
    fn spin(done: &AtomicBool, n: usize, start: std::time::Instant, limit: std::time::Duration) {
        if n == 0 {
            return;
        }
        rayon::join(
            || {
                while !done.load(Ordering::Acquire) && start.elapsed() < limit {
                    std::thread::yield_now();
                }
            },
            || spin(done, n - 1, start, limit),
        );
    }
    let (r, ()) = rayon::join(
        || {
            let r = f();
            done.store(true, Ordering::Release);
            r
        },
        || spin(&done, spinners, start, limit),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    #[test]
    fn warm_pool_returns_what_f_returns_on_any_pool() {
        let limit = Duration::from_millis(50);
        assert_eq!(with_warm_pool(Par::Seq, limit, || 7), 7);
        for (threads, par) in [
            (4, Par::All),
            (4, Par::Rayon(2)),
            (1, Par::Rayon(4)),
            (2, Par::Rayon(8)),
        ] {
            let got =
                pool(threads).install(|| with_warm_pool(par, limit, || (0..1000u64).sum::<u64>()));
            assert_eq!(got, 499_500, "{threads} threads, {par:?}");
        }
    }

    #[test]
    fn warm_pool_spinners_stop_at_the_limit_when_f_runs_longer() {
        // f outlasts the limit: the spinners give up on their own and the
        // call still returns f's value (nothing waits on them forever).
        let got = pool(3).install(|| {
            with_warm_pool(Par::All, Duration::ZERO, || {
                std::thread::sleep(Duration::from_millis(5));
                "done"
            })
        });
        assert_eq!(got, "done");
    }
}
