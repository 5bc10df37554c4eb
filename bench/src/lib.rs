//! Shared helpers for latent's benchmark programs: timing, seeded inputs,
//! the machine's measured FMA peak, and the `RESULT` line every program
//! ends with.
#![warn(missing_docs)]

use latent_kernels::peak::{bf16_peak_gflops, fma_peak_gflops};
use latent_kernels::{Bf16Isa, Isa};
use std::time::Instant;

/// Median seconds per call of `f`, over `samples` samples of enough calls to
/// last about `sample_secs` each, after one warm-up call.
pub fn time_per_call(samples: usize, sample_secs: f64, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    f();
    let first = start.elapsed().as_secs_f64().max(1e-7);
    let calls = ((sample_secs / first) as usize).clamp(1, 1_000_000);
    let mut times: Vec<f64> = (0..samples.max(1))
        .map(|_| {
            let t = Instant::now();
            for _ in 0..calls {
                f();
            }
            t.elapsed().as_secs_f64() / calls as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// A deterministic pseudo-random vector with entries in `[-1, 1)`
/// (SplitMix64), so benchmark inputs are the same in every run.
pub fn seeded_vec(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    (0..len)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// The FMA peak of `threads` cores running at once on `isa`, in GFLOP/s:
/// every thread of a fresh pool runs the peak loop simultaneously.
pub fn fma_peak_threads(isa: Isa, threads: usize, millis: u64) -> f64 {
    sum_over_threads(threads, || fma_peak_gflops(isa, millis).unwrap_or(f64::NAN))
}

/// [`fma_peak_threads`] for the bf16 dot product (`vdpbf16ps`); NaN if
/// `isa` has no bf16 instruction on this CPU.
pub fn bf16_peak_threads(isa: Bf16Isa, threads: usize, millis: u64) -> f64 {
    sum_over_threads(threads, || {
        bf16_peak_gflops(isa, millis).unwrap_or(f64::NAN)
    })
}

/// `measure` run on `threads` threads at once, summed.
fn sum_over_threads(threads: usize, measure: impl Fn() -> f64 + Sync) -> f64 {
    if threads <= 1 {
        return measure();
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("building a rayon pool for the peak measurement");
    pool.broadcast(|_| measure()).into_iter().sum()
}

/// Runs `work` between two measurements of [`fma_peak_threads`] (200 ms
/// each) and returns its result with the higher peak: a neighbour's load
/// during one measurement would otherwise lower the peak and inflate the
/// fraction of it that `work` is reported to reach.
pub fn with_fma_peak<R>(isa: Isa, threads: usize, work: impl FnOnce() -> R) -> (R, f64) {
    let before = fma_peak_threads(isa, threads, 200);
    let result = work();
    let peak = before.max(fma_peak_threads(isa, threads, 200));
    (result, peak)
}

/// Formats the closing `RESULT key=value …` line from pairs.
pub fn result_line(pairs: &[(String, String)]) -> String {
    let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("RESULT {}", body.join(" "))
}

/// The flags of a report program that takes `[--quick] [--threads N]`.
#[derive(Debug, Clone, Copy)]
pub struct QuickOpts {
    /// Fewer, shorter samples (a check that the program runs).
    pub quick: bool,
    /// Threads for the parallel rows (default: one per core).
    pub threads: usize,
}

impl QuickOpts {
    /// The flags of the command line; anything else prints `usage:
    /// <program> [--quick] [--threads N]` and exits with status 2.
    pub fn from_args(program: &str) -> QuickOpts {
        let usage = || -> ! {
            eprintln!("usage: {program} [--quick] [--threads N]");
            std::process::exit(2)
        };
        let mut o = QuickOpts {
            quick: false,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--quick" => o.quick = true,
                "--threads" => {
                    o.threads = args
                        .next()
                        .and_then(|v| v.parse().ok())
                        .filter(|&n| n > 0)
                        .unwrap_or_else(|| usage())
                }
                _ => usage(),
            }
        }
        o
    }
}

/// Seconds per call of `f` ([`time_per_call`]): 3 samples of 0.05 s when
/// `quick`, else 7 of 0.25 s.
pub fn time_sampled(quick: bool, f: impl FnMut()) -> f64 {
    if quick {
        time_per_call(3, 0.05, f)
    } else {
        time_per_call(7, 0.25, f)
    }
}
