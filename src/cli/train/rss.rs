//! The peak resident memory of a training run's process (and of every rank
//! of a distributed run), for the `--json` report: `peak_rss_bytes` (this
//! process) and, distributed, `peak_rss_bytes_per_rank`.

use super::distributed::Ranks;
use crate::cli::Report;
use crate::cli::error::Result;

/// This process's peak resident set size so far (`VmHWM` of
/// `/proc/self/status`), in bytes; `None` where the system does not say.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Adds `peak_rss_bytes` to the JSON report of a run that ended well, and
/// for a distributed one `peak_rss_bytes_per_rank` (rank order; a sum
/// across the ranks that every rank joins, so every rank calls this after
/// its run). An error is given back as it is (the ranks end on it).
pub fn add_peak_rss(report: Result<Report>, ranks: &Ranks) -> Result<Report> {
    let mut report = report?;
    let own = peak_rss_bytes();
    let per_rank = match ranks.reducer() {
        Some(mut r) => {
            let mut peaks = vec![0f64; r.ranks()];
            peaks[r.rank()] = own.unwrap_or(0) as f64;
            r.allreduce_sum_f64(&mut peaks)?;
            Some(peaks.iter().map(|&p| p as u64).collect::<Vec<_>>())
        }
        None => None,
    };
    if let Some(o) = report.json.as_object_mut() {
        o.insert("peak_rss_bytes".into(), serde_json::json!(own));
        if let Some(p) = per_rank {
            o.insert("peak_rss_bytes_per_rank".into(), serde_json::json!(p));
        }
    }
    Ok(report)
}
