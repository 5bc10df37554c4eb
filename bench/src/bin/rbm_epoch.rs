//! `rbm-epoch`: seconds per epoch of CD-1 training of a Bernoulli RBM on a
//! 60,000 x 784 binary matrix (the MNIST test images tiled 6 times), for
//! 784-500 at batch 100 and 784-4096 at batch 1000, with 1 thread and all
//! threads, through the same `Trainer` a user calls; each setting in f32
//! and then with bf16 products ([`Precision::Bf16`]: same shapes, threads
//! and repetitions), unless the bf16 kernel is the portable one (far too
//! slow for these runs: then the bf16 runs are left out, and it says so).
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
//! the fraction); a bf16 run's against the bf16 (`vdpbf16ps`) peak,
//! measured the same way. The RESULT line has the f32 run's keys (`sec_`,
//! `step_us_`, `gflops_`, `peak_frac_`, `peak_gflops_`, …) and the bf16
//! run's with `bf16_` after the first word (`sec_bf16_h500_t1`,
//! `gflops_bf16_h500_t1`, …), and `bf16_ratio_` the bf16/f32 seconds. `--quick` trains on the first 12,000 rows and scales the
//! time to 60,000 (said in the output). Without MNIST (`../shared/data/mnist`
//! or `$LATENT_MNIST_DIR`) it uses seeded random binary data of the same
//! shape, and says so.

use latent_bench::{bf16_peak_threads, result_line, with_fma_peak};
use latent_engine::data::mnist;
use latent_engine::train::{BatchProgress, Control, Observer, Threads, TrainConfig, Trainer};
use latent_engine::{Dataset, Matrix, preprocess};
use latent_kernels::{Bf16Isa, Dispatch, Isa, Par, Precision};
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

/// One epoch of a fresh model with products in `precision`: seconds, final training loss, the RBM's
/// step profile and the time of every step.
fn train_epoch(
    data: &Dataset,
    hidden: usize,
    batch: usize,
    threads: usize,
    fuse: bool,
    precision: Precision,
) -> Result<Epoch, String> {
    let config = RbmConfig::bernoulli(784, hidden);
    let mut rbm = Rbm::new(config, 1).map_err(|e| e.to_string())?;
    rbm.set_precision(precision);
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

/// What the repetitions of one setting (shape, threads, precision)
/// measured, per 60,000-row epoch.
struct Setting {
    /// Median, fastest and slowest epoch, seconds.
    med: f64,
    lo: f64,
    hi: f64,
    /// Median step, µs.
    step_us: f64,
    /// The last epoch's training loss.
    loss: f64,
    /// Achieved GFLOP/s (at the median) and the peak it is measured against.
    gflops: f64,
    peak: f64,
    /// The RBM's phase times summed over the repetitions, and the steps.
    phases: Vec<(&'static str, std::time::Duration)>,
    steps: u64,
    /// Seconds of all repetitions, unscaled.
    total_secs: f64,
}

/// `work` between two measurements of the peak of `precision`'s products
/// on `threads` threads (FMA for f32, `vdpbf16ps` for bf16): its result and
/// the higher of the two.
fn with_peak<R>(precision: Precision, threads: usize, work: impl FnOnce() -> R) -> (R, f64) {
    match precision {
        Precision::F32 => with_fma_peak(Isa::selected(), threads, work),
        Precision::Bf16 => {
            let bf16 = Dispatch::global().bf16_isa();
            let before = bf16_peak_threads(bf16, threads, 200);
            let result = work();
            (result, before.max(bf16_peak_threads(bf16, threads, 200)))
        }
    }
}

/// Trains `opts.repeat` fresh models for one epoch each in one setting and
/// summarises them (`scale`: 60,000 over the rows trained on).
fn measure(
    opts: &Opts,
    data: &Dataset,
    (hidden, batch, threads): (usize, usize, usize),
    precision: Precision,
    scale: f64,
) -> Result<Setting, String> {
    let (epochs, peak) = with_peak(precision, threads, || {
        (0..opts.repeat)
            .map(|_| train_epoch(data, hidden, batch, threads, !opts.no_fuse, precision))
            .collect::<Result<Vec<Epoch>, _>>()
    });
    let epochs = epochs?;
    let per_epoch: Vec<f64> = epochs.iter().map(|e| e.secs * scale).collect();
    let all_steps: Vec<f64> = epochs
        .iter()
        .flat_map(|e| e.steps_us.iter().copied())
        .collect();
    let med = median(&per_epoch);
    let mut phases = epochs[0].profile.phases().to_vec();
    for e in &epochs[1..] {
        for (total, (_, d)) in phases.iter_mut().zip(e.profile.phases()) {
            total.1 += d;
        }
    }
    Ok(Setting {
        med,
        lo: per_epoch.iter().copied().fold(f64::INFINITY, f64::min),
        hi: per_epoch.iter().copied().fold(0.0, f64::max),
        step_us: median(&all_steps),
        loss: epochs.last().map_or(f64::NAN, |e| e.loss),
        gflops: 10.0 * 784.0 * hidden as f64 * EPOCH_ROWS as f64 / med / 1e9,
        peak,
        phases,
        steps: epochs.iter().map(|e| e.profile.steps).sum(),
        total_secs: epochs.iter().map(|e| e.secs).sum(),
    })
}

/// The table row of a setting, and its phase breakdown when asked.
fn print_setting(
    opts: &Opts,
    (hidden, batch, t): (usize, usize, usize),
    p: Precision,
    s: &Setting,
) {
    let spread = opts.repeat > 1;
    println!(
        "{:>10} {:>5} {batch:>6} {t:>7} {:>10.3} {:>17} {:>9.1} {:>7.1}% {:>9.0} {:>11.2}",
        format!("784-{hidden}"),
        p.name(),
        s.med,
        if spread {
            format!("({:.3} - {:.3})", s.lo, s.hi)
        } else {
            String::new()
        },
        s.gflops,
        100.0 * s.gflops / s.peak,
        s.step_us,
        s.loss
    );
    if !opts.breakdown || s.steps == 0 {
        return;
    }
    let per_step = |d: std::time::Duration| d.as_secs_f64() * 1e6 / s.steps as f64;
    let mut line = String::from("    us/step:");
    let mut in_model = 0.0;
    for (name, d) in &s.phases {
        line += &format!(" {name} {:.0}", per_step(*d));
        in_model += per_step(*d);
    }
    let total = s.total_secs * 1e6 / s.steps as f64;
    line += &format!(
        " | trainer (batch, optimiser) {:.0} | step {total:.0} ({} steps)",
        total - in_model,
        s.steps
    );
    println!("{line}");
}

/// The RESULT pairs of a setting: `sec_<key>`, … for f32, and
/// `sec_bf16_<key>`, … (`bf16_` after the first word) for bf16.
fn push_result(
    result: &mut Vec<(String, String)>,
    spread: bool,
    key: &str,
    p: Precision,
    s: &Setting,
) {
    let tag = match p {
        Precision::F32 => "",
        Precision::Bf16 => "bf16_",
    };
    let mut push = |word: &str, value: String| result.push((format!("{word}_{tag}{key}"), value));
    push("sec", format!("{:.3}", s.med));
    if spread {
        push("sec_min", format!("{:.3}", s.lo));
        push("sec_max", format!("{:.3}", s.hi));
    }
    push("step_us", format!("{:.0}", s.step_us));
    push("gflops", format!("{:.1}", s.gflops));
    push("peak_frac", format!("{:.3}", s.gflops / s.peak));
    push("peak_gflops", format!("{:.1}", s.peak));
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
    let bf16 = Dispatch::global().bf16_isa();
    println!(
        "rbm-epoch: CD-1 on {rows} x 784 ({source}), isa={isa}, bf16 isa={bf16}{}",
        if opts.quick {
            ", --quick: times scaled to 60,000 rows"
        } else {
            ""
        }
    );
    let precisions: &[Precision] = if bf16 == Bf16Isa::Portable {
        println!("rbm-epoch: the bf16 kernel is the portable one (far too slow here): f32 only");
        &[Precision::F32]
    } else {
        &Precision::ALL
    };
    let mut threads = vec![1];
    if opts.threads > 1 {
        threads.push(opts.threads);
    }
    let mut result = Vec::new();
    let spread = opts.repeat > 1;
    println!(
        "{:>10} {:>5} {:>6} {:>7} {:>10} {:>17} {:>9} {:>8} {:>9} {:>11}",
        "784-H",
        "prec",
        "batch",
        "threads",
        "s/epoch",
        if spread { "(min - max)" } else { "" },
        "GFLOP/s",
        "of peak",
        "step us",
        "recon err"
    );
    let scale = EPOCH_ROWS as f64 / rows as f64;
    for &(hidden, batch) in &[(500usize, 100usize), (4096, 1000)] {
        if opts.only.is_some_and(|h| h != hidden) {
            continue;
        }
        for &t in &threads {
            let key = format!("h{hidden}_t{t}");
            let mut secs = Vec::new();
            for &p in precisions {
                let s = measure(&opts, &data, (hidden, batch, t), p, scale).unwrap_or_else(|e| {
                    eprintln!("rbm-epoch: {e}");
                    std::process::exit(1)
                });
                print_setting(&opts, (hidden, batch, t), p, &s);
                push_result(&mut result, spread, &key, p, &s);
                secs.push(s.med);
            }
            if let [f32_sec, bf16_sec] = secs[..] {
                println!("{:>10} bf16/f32 time: {:.3}", "", bf16_sec / f32_sec);
                result.push((
                    format!("bf16_ratio_{key}"),
                    format!("{:.3}", bf16_sec / f32_sec),
                ));
            }
        }
    }
    println!("{}", result_line(&result));
}
