//! `rbm-epoch`: seconds per epoch of CD-1 training of a Bernoulli RBM on a
//! 60,000 x 784 binary matrix (the MNIST test images tiled 6 times), for
//! 784-500 at batch 100 and 784-4096 at batch 1000, with 1 thread and all
//! threads, through the same `Trainer` a user calls.
//!
//! ```text
//! cargo run --release -p latent-bench --bin rbm-epoch -- [--quick] [--threads N] [--only 500|4096] [--breakdown]
//! ```
//!
//! `--no-fuse` applies the optimiser's step of `W` in a pass of its own
//! instead of inside the weight-gradient product
//! ([`TrainConfig::fuse_updates`]). `--breakdown` also prints where a step's time went: the RBM's phases
//! ([`StepProfile`]) and the rest of the trainer's step (minibatch gather,
//! optimiser update), in microseconds per step.
//!
//! Achieved GFLOP/s counts 10·V·H FLOP per sample (the five V x H products
//! of a CD-1 step); the fraction of peak is against the FMA peak measured in
//! the same run. `--quick` trains on the first 12,000 rows and scales the
//! time to 60,000 (said in the output). Without MNIST (`../shared/data/mnist`
//! or `$LATENT_MNIST_DIR`) it uses seeded random binary data of the same
//! shape, and says so.

use latent_bench::{fma_peak_threads, result_line};
use latent_engine::data::mnist;
use latent_engine::train::{Silent, Threads, TrainConfig, Trainer};
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
}

fn parse_args() -> Result<Opts, String> {
    let mut opts = Opts {
        quick: false,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        only: None,
        breakdown: false,
        no_fuse: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => opts.quick = true,
            "--breakdown" => opts.breakdown = true,
            "--no-fuse" => opts.no_fuse = true,
            "--threads" => {
                let v = args.next().ok_or("--threads needs a value")?;
                opts.threads = v
                    .parse()
                    .ok()
                    .filter(|&t| t > 0)
                    .ok_or(format!("--threads: {v:?} is not a positive integer"))?;
            }
            "--only" => {
                let v = args.next().ok_or("--only needs 500 or 4096")?;
                opts.only = Some(
                    v.parse()
                        .map_err(|_| format!("--only: {v:?} is not a number"))?,
                );
            }
            "-h" | "--help" => {
                println!(
                    "usage: rbm-epoch [--quick] [--threads N] [--only 500|4096] [--breakdown]"
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

/// One epoch: seconds, final training loss, and the RBM's step profile.
fn epoch_seconds(
    data: &Dataset,
    hidden: usize,
    batch: usize,
    threads: usize,
    fuse: bool,
) -> Result<(f64, f64, StepProfile), String> {
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
    let summary = trainer
        .fit(data, None, &mut Silent)
        .map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    let loss = trainer.history().last().map_or(f64::NAN, |r| r.train_loss);
    let _ = summary;
    let profile = trainer.model().step_profile().unwrap_or_default();
    Ok((secs, loss, profile))
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
    println!(
        "{:>10} {:>6} {:>7} {:>10} {:>9} {:>8} {:>11}",
        "784-H", "batch", "threads", "s/epoch", "GFLOP/s", "of peak", "recon err"
    );
    for &(hidden, batch) in &[(500usize, 100usize), (4096, 1000)] {
        if opts.only.is_some_and(|h| h != hidden) {
            continue;
        }
        for &t in &threads {
            let peak = fma_peak_threads(isa, t, 200);
            let (secs, loss, profile) = epoch_seconds(&data, hidden, batch, t, !opts.no_fuse)
                .unwrap_or_else(|e| {
                    eprintln!("rbm-epoch: {e}");
                    std::process::exit(1)
                });
            let per_epoch = secs * EPOCH_ROWS as f64 / rows as f64;
            let gflops = 10.0 * 784.0 * hidden as f64 * rows as f64 / secs / 1e9;
            println!(
                "{:>10} {batch:>6} {t:>7} {per_epoch:>10.3} {gflops:>9.1} {:>7.1}% {loss:>11.2}",
                format!("784-{hidden}"),
                100.0 * gflops / peak
            );
            if opts.breakdown && profile.steps > 0 {
                let per_step =
                    |d: std::time::Duration| d.as_secs_f64() * 1e6 / profile.steps as f64;
                let mut line = String::from("    us/step:");
                for (name, d) in profile.phases() {
                    line += &format!(" {name} {:.0}", per_step(d));
                }
                let total = secs * 1e6 / profile.steps as f64;
                line += &format!(
                    " | trainer (batch, optimiser) {:.0} | step {total:.0} ({} steps)",
                    total - per_step(profile.total()),
                    profile.steps
                );
                println!("{line}");
            }
            let key = format!("h{hidden}_t{t}");
            result.push((format!("sec_{key}"), format!("{per_epoch:.3}")));
            result.push((format!("gflops_{key}"), format!("{gflops:.1}")));
            result.push((format!("peak_frac_{key}"), format!("{:.3}", gflops / peak)));
        }
    }
    println!("{}", result_line(&result));
}
