//! How much parallelism a kernel may use.

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
