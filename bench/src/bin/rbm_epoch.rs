//! `rbm-epoch`: seconds per epoch of CD-1 training of a Bernoulli RBM on a
//! 60,000 x 784 binary matrix (the MNIST test images tiled 6 times), for
//! 784-500 at batch 100 and 784-4096 at batch 1000, with 1 thread and all
//! threads, through the same `Trainer` a user calls.
//!
//! ```text
//! cargo run --release -p latent-bench --bin rbm-epoch -- [--quick] [--threads N] [--only 500|4096] [--repeat N] [--breakdown] [--no-fuse]
//! ```
//!
//! `--repeat N` trains each configuration N times (a fresh model each
//! time) and reports the median epoch, with the fastest and slowest: on a
//! shared machine one epoch can be 10-20 % slower than the next for reasons
//! outside the program, and the spread says how much. The median step time
//! (over every step of every repeat) is printed beside it.
//!
//! `--no-fuse` applies the optimiser's step of `W` in a pass of its own
//! instead of inside the weight-gradient product
//! ([`TrainConfig::fuse_updates`]). `--breakdown` also prints where a step's time went: the RBM's phases
//! ([`StepProfile`]) and the rest of the trainer's step (minibatch gather,
//! optimiser update), in microseconds per step.
//!
//! Achieved GFLOP/s counts 10·V·H FLOP per sample (the five V x H products
//! of a CD-1 step); the fraction of peak is against the FMA peak measured in
//! the same run, before and after each setting's epochs (the higher of the
//! two: a neighbour's load during one measurement would otherwise inflate
//! the fraction). `--quick` trains on the first 12,000 rows and scales the
//! time to 60,000 (said in the output). Without MNIST (`../shared/data/mnist`
//! or `$LATENT_MNIST_DIR`) it uses seeded random binary data of the same
//! shape, and says so.

use latent_bench::{result_line, with_fma_peak};
use latent_engine::data::mnist;
use latent_engine::train::{BatchProgress, Control, Observer, Threads, TrainConfig, Trainer};
use latent_engine::{Dataset, Matrix, preprocess};
use latent_kernels::{Isa, Par};
use latent_models::rbm::{Rbm, RbmConfig, StepProfile};
use std::time::Instant;

const EPOCH_ROWS: usize = 60_000;

struct Opts {
    quick: bool,
    threads: usize,
    only: Option<usize>,
    breakdown: bool,
    no_fuse: bool,
    repeat: usize,
}

/// The positive integer given to `flag`.
fn positive(flag: &str, value: Option<String>) -> Result<usize, String> {
    let v = value.ok_or(format!("{flag} needs a value"))?;
    v.parse()
        .ok()
        .filter(|&n| n > 0)
        .ok_or(format!("{flag}: {v:?} is not a positive integer"))
}

fn parse_args() -> Result<Opts, String> {
    let mut opts = Opts {
        quick: false,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        only: None,
        breakdown: false,
        no_fuse: false,
        repeat: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => opts.quick = true,
            "--breakdown" => opts.breakdown = true,
            "--no-fuse" => opts.no_fuse = true,
            "--threads" => opts.threads = positive(&arg, args.next())?,
            "--repeat" => opts.repeat = positive(&arg, args.next())?,
            "--only" => {
                let v = args.next().ok_or("--only needs 500 or 4096")?;
                opts.only = Some(
                    v.parse()
                        .map_err(|_| format!("--only: {v:?} is not a number"))?,
                );
            }
            "-h" | "--help" => {
                println!(
                    "usage: rbm-epoch [--quick] [--threads N] [--only 500|4096] [--repeat N] [--breakdown] [--no-fuse]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(opts)
}

/// The 60,000 x 784 binary training matrix and where it came from.
fn training_data(rows: usize) -> Result<(Matrix, &'static str), String> {
    let dir = mnist::default_mnist_dir();
    let source;
    let base = if mnist::is_available(&dir) {
        let mut ds = mnist::load_test_split(&dir).map_err(|e| e.to_string())?;
        preprocess::scale_to_unit(&mut ds.x, 0.0, 255.0).map_err(|e| e.to_string())?;
        preprocess::binarise_threshold(&mut ds.x, 0.5).map_err(|e| e.to_string())?;
        source = "MNIST test images (binarised at 0.5) tiled";
        ds.x
    } else {
        eprintln!(
            "rbm-epoch: MNIST not found in {}; using seeded random binary data",
            dir.display()
        );
        source = "seeded random binary data";
        let mut state = 0x1234_5678u64;
        Matrix::from_fn(10_000, 784, |_, _| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if (state >> 40) % 100 < 13 { 1.0 } else { 0.0 }
        })
        .map_err(|e| e.to_string())?
    };
    let cols = base.cols();
    let data = Matrix::from_fn(rows, cols, |i, j| base.row(i % base.rows())[j])
        .map_err(|e| e.to_string())?;
    Ok((data, source))
}

/// Records the time of every training step.
struct StepClock {
    last: Instant,
    steps_us: Vec<f64>,
}

impl Observer for StepClock {
    fn on_batch(&mut self, _progress: &BatchProgress<'_>) -> Control {
        let now = Instant::now();
        self.steps_us.push((now - self.last).as_secs_f64() * 1e6);
        self.last = now;
        Control::Continue
    }
}

/// What one epoch measured.
struct Epoch {
    secs: f64,
    loss: f64,
    profile: StepProfile,
    /// Wall time of each step (minibatch, gradient, update, observer), µs.
    steps_us: Vec<f64>,
}

/// The median of `v` (NaN when empty).
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

/// One epoch of a fresh model: seconds, final training loss, the RBM's
/// step profile and the time of every step.
fn train_epoch(
    data: &Dataset,
    hidden: usize,
    batch: usize,
    threads: usize,
    fuse: bool,
) -> Result<Epoch, String> {
    let config = RbmConfig::bernoulli(784, hidden);
    let mut rbm = Rbm::new(config, 1).map_err(|e| e.to_string())?;
    rbm.set_profiling(true);
    rbm.init_visible_bias_from_data(&data.x, Par::All)
        .map_err(|e| e.to_string())?;
    let mut train = TrainConfig::new(config.default_optimizer());
    train.epochs = 1;
    train.batch_size = batch;
    train.threads = Threads::Count(threads);
    train.fuse_updates = fuse;
    let mut trainer = Trainer::new(rbm, train).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut clock = StepClock {
        last: start,
        steps_us: Vec::with_capacity(data.x.rows().div_ceil(batch)),
    };
    trainer
        .fit(data, None, &mut clock)
        .map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    let loss = trainer.history().last().map_or(f64::NAN, |r| r.train_loss);
    let profile = trainer.model().step_profile().unwrap_or_default();
    Ok(Epoch {
        secs,
        loss,
        profile,
        steps_us: clock.steps_us,
    })
}

fn main() {
    let opts = parse_args().unwrap_or_else(|e| {
        eprintln!("rbm-epoch: {e}");
        std::process::exit(2)
    });
    let rows = if opts.quick {
        EPOCH_ROWS / 5
    } else {
        EPOCH_ROWS
    };
    let (x, source) = training_data(rows).unwrap_or_else(|e| {
        eprintln!("rbm-epoch: {e}");
        std::process::exit(1)
    });
    let data = Dataset::new(x, None).expect("dataset");
    let isa = Isa::selected();
    println!(
        "rbm-epoch: CD-1 on {rows} x 784 ({source}), isa={isa}{}",
        if opts.quick {
            ", --quick: times scaled to 60,000 rows"
        } else {
            ""
        }
    );
    let mut threads = vec![1];
    if opts.threads > 1 {
        threads.push(opts.threads);
    }
    let mut result = Vec::new();
    let spread = opts.repeat > 1;
    println!(
        "{:>10} {:>6} {:>7} {:>10} {:>17} {:>9} {:>8} {:>9} {:>11}",
        "784-H",
        "batch",
        "threads",
        "s/epoch",
        if spread { "(min - max)" } else { "" },
        "GFLOP/s",
        "of peak",
        "step us",
        "recon err"
    );
    for &(hidden, batch) in &[(500usize, 100usize), (4096, 1000)] {
        if opts.only.is_some_and(|h| h != hidden) {
            continue;
        }
        for &t in &threads {
            let (epochs, peak) = with_fma_peak(isa, t, || {
                (0..opts.repeat)
                    .map(|_| train_epoch(&data, hidden, batch, t, !opts.no_fuse))
                    .collect::<Result<Vec<Epoch>, _>>()
            });
            let epochs = epochs.unwrap_or_else(|e| {
                eprintln!("rbm-epoch: {e}");
                std::process::exit(1)
            });
            let scale = EPOCH_ROWS as f64 / rows as f64;
            let per_epoch: Vec<f64> = epochs.iter().map(|e| e.secs * scale).collect();
            let (med, lo, hi) = (
                median(&per_epoch),
                per_epoch.iter().copied().fold(f64::INFINITY, f64::min),
                per_epoch.iter().copied().fold(0.0, f64::max),
            );
            let all_steps: Vec<f64> = epochs
                .iter()
                .flat_map(|e| e.steps_us.iter().copied())
                .collect();
            let step_us = median(&all_steps);
            let loss = epochs.last().map_or(f64::NAN, |e| e.loss);
            let gflops = 10.0 * 784.0 * hidden as f64 * EPOCH_ROWS as f64 / med / 1e9;
            println!(
                "{:>10} {batch:>6} {t:>7} {med:>10.3} {:>17} {gflops:>9.1} {:>7.1}% {step_us:>9.0} {loss:>11.2}",
                format!("784-{hidden}"),
                if spread {
                    format!("({lo:.3} - {hi:.3})")
                } else {
                    String::new()
                },
                100.0 * gflops / peak
            );
            let steps: u64 = epochs.iter().map(|e| e.profile.steps).sum();
            if opts.breakdown && steps > 0 {
                let per_step = |d: std::time::Duration| d.as_secs_f64() * 1e6 / steps as f64;
                let mut phases = epochs[0].profile.phases();
                for e in &epochs[1..] {
                    for (total, (_, d)) in phases.iter_mut().zip(e.profile.phases()) {
                        total.1 += d;
                    }
                }
                let mut line = String::from("    us/step:");
                let mut in_model = 0.0;
                for (name, d) in phases {
                    line += &format!(" {name} {:.0}", per_step(d));
                    in_model += per_step(d);
                }
                let total = epochs.iter().map(|e| e.secs).sum::<f64>() * 1e6 / steps as f64;
                line += &format!(
                    " | trainer (batch, optimiser) {:.0} | step {total:.0} ({steps} steps)",
                    total - in_model,
                );
                println!("{line}");
            }
            let key = format!("h{hidden}_t{t}");
            result.push((format!("sec_{key}"), format!("{med:.3}")));
            if spread {
                result.push((format!("sec_min_{key}"), format!("{lo:.3}")));
                result.push((format!("sec_max_{key}"), format!("{hi:.3}")));
            }
            result.push((format!("step_us_{key}"), format!("{step_us:.0}")));
            result.push((format!("gflops_{key}"), format!("{gflops:.1}")));
            result.push((format!("peak_frac_{key}"), format!("{:.3}", gflops / peak)));
            result.push((format!("peak_gflops_{key}"), format!("{peak:.1}")));
        }
    }
    println!("{}", result_line(&result));
}
