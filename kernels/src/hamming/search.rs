//! Retrieval over a [`HammingIndex`]: the `k` nearest codes to a query
//! and every code within a Hamming ball, both ordered by distance then
//! index (so ties are broken by index, deterministically).
//!
//! Each task scans its range of the index tile by tile: a tile's
//! distances go to a buffer in L1, and only codes that can still be
//! answers become candidates. For k-nearest that is a code nearer than
//! the current `k`-th candidate: when the candidates outgrow `k` by a
//! tile they are cut back to the `k` best (a counting pass over their
//! distances finds the `k`-th), and that distance becomes the bar. The
//! tasks' candidates are then merged in index order and sorted by
//! `(distance, index)`, a total order, so the answer does not depend on
//! how the index was split. A [`Searcher`] keeps every buffer between
//! queries: after the first queries of a size nothing is allocated.

use rayon::prelude::*;

use super::{HammingIndex, HammingIsa, TILE, codes_per_task, range_distances};
use crate::{KernelError, Par};

/// One retrieved code: its index in the [`HammingIndex`] and its Hamming
/// distance to the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Neighbor {
    /// The Hamming distance to the query (first: the sort key).
    pub distance: u32,
    /// The code's index.
    pub index: u32,
}

/// What a scan keeps.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// The `k` nearest.
    Nearest(usize),
    /// Every code at distance `<= r`.
    Within(u32),
}

/// The buffers of one task.
#[derive(Debug, Default, Clone)]
struct Task {
    /// A tile's distances.
    dist: Vec<u32>,
    /// The candidates, in index order.
    cand: Vec<Neighbor>,
    /// Counts per distance, for cutting candidates back to `k`.
    hist: Vec<u32>,
}

/// Runs k-nearest and Hamming-ball queries over [`HammingIndex`]es,
/// keeping its buffers between queries.
#[derive(Debug, Clone)]
pub struct Searcher {
    isa: HammingIsa,
    tasks: Vec<Task>,
}

impl Default for Searcher {
    fn default() -> Self {
        Searcher::new()
    }
}

impl Searcher {
    /// A searcher on the default kernel ([`HammingIsa::selected`]).
    pub fn new() -> Searcher {
        Searcher {
            isa: HammingIsa::selected(),
            tasks: Vec::new(),
        }
    }

    /// A searcher on a given kernel; errors if this CPU lacks it.
    pub fn on(isa: HammingIsa) -> Result<Searcher, KernelError> {
        Ok(Searcher {
            isa: isa.checked()?,
            tasks: Vec::new(),
        })
    }

    /// The kernel it uses.
    pub fn isa(&self) -> HammingIsa {
        self.isa
    }

    /// The `k` codes of `index` nearest to `query` (all of them when
    /// there are fewer), into `out` (cleared first), by distance then
    /// index.
    pub fn nearest(
        &mut self,
        index: &HammingIndex,
        query: &[u64],
        k: usize,
        out: &mut Vec<Neighbor>,
        par: Par,
    ) -> Result<(), KernelError> {
        self.search(index, query, Mode::Nearest(k), out, par)
    }

    /// Every code of `index` within Hamming distance `radius` of `query`,
    /// into `out` (cleared first), by distance then index.
    pub fn within(
        &mut self,
        index: &HammingIndex,
        query: &[u64],
        radius: u32,
        out: &mut Vec<Neighbor>,
        par: Par,
    ) -> Result<(), KernelError> {
        self.search(index, query, Mode::Within(radius), out, par)
    }

    fn search(
        &mut self,
        index: &HammingIndex,
        query: &[u64],
        mode: Mode,
        out: &mut Vec<Neighbor>,
        par: Par,
    ) -> Result<(), KernelError> {
        index.check_query("hamming search: query words", query)?;
        out.clear();
        let n = index.len();
        if n == 0 || matches!(mode, Mode::Nearest(0)) {
            return Ok(());
        }
        let isa = self.isa;
        let per = codes_per_task(par, n).unwrap_or(n);
        let tasks = n.div_ceil(per);
        if self.tasks.len() < tasks {
            self.tasks.resize_with(tasks, Task::default);
        }
        let scan = |(t, task): (usize, &mut Task)| {
            let (lo, hi) = (t * per, ((t + 1) * per).min(n));
            scan_range(isa, index, query, lo..hi, mode, task);
        };
        if tasks == 1 {
            scan((0, &mut self.tasks[0]));
        } else {
            self.tasks[..tasks]
                .par_iter_mut()
                .enumerate()
                .for_each(scan);
        }
        for task in &self.tasks[..tasks] {
            out.extend_from_slice(&task.cand);
        }
        out.sort_unstable();
        if let Mode::Nearest(k) = mode {
            out.truncate(k);
        }
        Ok(())
    }
}

/// Scans the codes `range` of `index` into `task.cand`: the `k` nearest
/// of the range (by distance, then index), or every code within the
/// radius, in index order.
fn scan_range(
    isa: HammingIsa,
    index: &HammingIndex,
    query: &[u64],
    range: std::ops::Range<usize>,
    mode: Mode,
    task: &mut Task,
) {
    if task.dist.len() < TILE {
        task.dist.resize(TILE, 0);
    }
    task.cand.clear();
    // A code becomes a candidate when its distance is below `bar`.
    let mut bar = match mode {
        Mode::Nearest(_) => u32::MAX,
        Mode::Within(r) => r.saturating_add(1),
    };
    let mut start = range.start;
    while start < range.end {
        let len = TILE.min(range.end - start);
        let dist = &mut task.dist[..len];
        range_distances(isa, index, query, start, dist);
        for (j, &d) in dist.iter().enumerate() {
            if d < bar {
                task.cand.push(Neighbor {
                    distance: d,
                    index: (start + j) as u32,
                });
            }
        }
        if let Mode::Nearest(k) = mode
            && task.cand.len() >= k.saturating_add(TILE)
        {
            bar = keep_nearest(&mut task.cand, &mut task.hist, k);
        }
        start += len;
    }
    if let Mode::Nearest(k) = mode
        && task.cand.len() > k
    {
        keep_nearest(&mut task.cand, &mut task.hist, k);
    }
}

/// Cuts `cand` (in index order, more than `k` of them) back to its `k`
/// nearest, keeping index order, and returns the distance a later code
/// (of a larger index) must be below to beat them: the `k`-th distance.
fn keep_nearest(cand: &mut Vec<Neighbor>, hist: &mut Vec<u32>, k: usize) -> u32 {
    let top = cand.iter().map(|c| c.distance).max().unwrap_or(0) as usize;
    hist.clear();
    hist.resize(top + 1, 0);
    for c in cand.iter() {
        hist[c.distance as usize] += 1;
    }
    // The k-th distance `kth`, and how many codes at it are kept (the
    // first ones: the smallest indices).
    let (mut below, mut kth) = (0usize, 0usize);
    while below + (hist[kth] as usize) < k {
        below += hist[kth] as usize;
        kth += 1;
    }
    let mut at_kth = k - below;
    cand.retain(|c| {
        let d = c.distance as usize;
        if d < kth {
            true
        } else if d == kth && at_kth > 0 {
            at_kth -= 1;
            true
        } else {
            false
        }
    });
    kth as u32
}
