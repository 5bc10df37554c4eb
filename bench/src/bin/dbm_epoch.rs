//! `dbm-epoch`: joint training of a deep Boltzmann machine (mean-field
//! positive phase, persistent-chain negative phase) at batch 100, through
//! the same `Trainer` a user calls, with 1 thread and all threads, in f32 and
//! then with bf16 products, on the MNIST test images binarised at 0.5 (issue
//! 18's mark: one step at 784-500-1000, the fraction of the FMA peak, and of
//! the bf16 peak where bf16 instructions exist).
//!
//! ```text
//! cargo run --release -p latent-bench --bin dbm-epoch -- [--rows N] [--threads N] [--layers 784,500,1000] [--mf-iters I]
//! ```
//!
//! The mean field runs exactly `--mf-iters` sweeps (default 10, tolerance 0,
//! so the work is known), one persistent chain per batch row, one Gibbs
//! sweep per step. GFLOP/s counts the products of a step per sample, with
//! `S_l = n_{l-1}·n_l` the size of `W^l` and `ΣS` their sum: the bottom-up
//! start `2ΣS` (with `v·W¹`, kept for the sweeps); each mean-field sweep
//! `4Σ_{l≥2} S_l` (every hidden layer from above but the top, and from
//! below but the first, whose input from below is kept); each Gibbs sweep `4ΣS`
//! (every layer from its neighbours); the reconstruction error `2S_1`; the
//! gradients `4ΣS` (data and chain statistics). Element-wise work is not
//! counted. Without MNIST it uses seeded random binary data and says so.
//! The default 10,000 rows are 100 steps; seconds are per step.
//!
//! The `RESULT` line has, per thread count, `ms_step_t{T}`, `gflops_t{T}`,
//! `peak_frac_t{T}` (f32 against the FMA peak measured around the run) and
//! the same with `bf16_` (against the `vdpbf16ps` peak) where bf16 runs.

use latent_bench::{bf16_peak_threads, result_line, with_fma_peak};
use latent_engine::data::mnist;
use latent_engine::train::{Silent, Threads, TrainConfig, Trainer};
use latent_engine::{Dataset, Matrix, OptimizerConfig};
use latent_kernels::gemm::Precision;
use latent_kernels::{Bf16Isa, Dispatch, Isa};
use latent_models::dbm::{Dbm, DbmConfig};
use std::time::Instant;

const BATCH: usize = 100;

struct Opts {
    rows: usize,
    threads: usize,
    sizes: Vec<usize>,
    mf_iters: usize,
}

fn parse_args() -> Result<Opts, String> {
    let mut opts = Opts {
        rows: 10_000,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        sizes: vec![784, 500, 1000],
        mf_iters: 10,
    };
    let mut args = std::env::args().skip(1);
    let positive = |v: Option<String>, what: &str| -> Result<usize, String> {
        let v = v.ok_or(format!("{what} needs a value"))?;
        v.parse()
            .ok()
            .filter(|&t: &usize| t > 0)
            .ok_or(format!("{what}: {v:?} is not a positive integer"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rows" => opts.rows = positive(args.next(), "--rows")?,
            "--threads" => opts.threads = positive(args.next(), "--threads")?,
            "--mf-iters" => opts.mf_iters = positive(args.next(), "--mf-iters")?,
            "--layers" => {
                let v = args.next().ok_or("--layers needs a value")?;
                opts.sizes = v
                    .split(',')
                    .map(|s| positive(Some(s.to_string()), "--layers"))
                    .collect::<Result<_, _>>()?;
                if opts.sizes.len() < 3 || opts.sizes[0] != 784 {
                    return Err(format!("--layers: {v:?} is not 784,H1,H2[,…]"));
                }
            }
            "-h" | "--help" => {
                println!(
                    "usage: dbm-epoch [--rows N] [--threads N] [--layers 784,H1,H2[,…]] [--mf-iters I]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if opts.rows < BATCH {
        return Err(format!(
            "--rows: {} is less than a batch ({BATCH})",
            opts.rows
        ));
    }
    Ok(opts)
}

/// `rows x 784` binary images and where they came from.
fn training_data(rows: usize) -> Result<(Matrix, &'static str), String> {
    let dir = mnist::default_mnist_dir();
    if mnist::is_available(&dir) {
        let ds = mnist::load_test_split(&dir).map_err(|e| e.to_string())?;
        let base = ds.x;
        let m = Matrix::from_fn(rows, 784, |i, j| {
            (base.row(i % base.rows())[j] > 127.5) as u8 as f32
        })
        .map_err(|e| e.to_string())?;
        return Ok((m, "MNIST test images binarised at 0.5, tiled"));
    }
    eprintln!(
        "dbm-epoch: MNIST not found in {}; using seeded random data",
        dir.display()
    );
    let v = latent_bench::seeded_vec(rows * 784, 7);
    let m = Matrix::from_fn(rows, 784, |i, j| (v[i * 784 + j] > 0.0) as u8 as f32)
        .map_err(|e| e.to_string())?;
    Ok((m, "seeded random binary data"))
}

/// The product FLOP of one step per sample (see the module comment).
fn flop_per_sample(sizes: &[usize], mf_iters: usize) -> f64 {
    let s: Vec<f64> = sizes.windows(2).map(|w| (w[0] * w[1]) as f64).collect();
    let total: f64 = s.iter().sum();
    let above: f64 = s[1..].iter().sum();
    2.0 * total + mf_iters as f64 * 4.0 * above + 4.0 * total + 2.0 * s[0] + 4.0 * total
}

/// Seconds of one epoch over `data` and the last epoch's training loss.
fn epoch_seconds(
    data: &Dataset,
    o: &Opts,
    threads: usize,
    p: Precision,
) -> Result<(f64, f64), String> {
    let config = DbmConfig {
        mf_iters: o.mf_iters,
        mf_tol: 0.0,
        ..DbmConfig::bernoulli(&o.sizes)
    };
    let mut dbm = Dbm::new(config, 1).map_err(|e| e.to_string())?;
    dbm.set_precision(p);
    let mut train = TrainConfig::new(OptimizerConfig::sgd_hinton(0.01, 1e-4));
    train.epochs = 1;
    train.batch_size = BATCH;
    train.threads = Threads::Count(threads);
    let mut trainer = Trainer::new(dbm, train).map_err(|e| e.to_string())?;
    let start = Instant::now();
    trainer
        .fit(data, None, &mut Silent)
        .map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    Ok((
        secs,
        trainer.history().last().map_or(f64::NAN, |r| r.train_loss),
    ))
}

fn main() {
    let fail = |e: String| -> ! {
        eprintln!("dbm-epoch: {e}");
        std::process::exit(2)
    };
    let o = parse_args().unwrap_or_else(|e| fail(e));
    let (x, source) = training_data(o.rows).unwrap_or_else(|e| fail(e));
    let data = Dataset::new(x, None).unwrap_or_else(|e| fail(e.to_string()));
    let isa = Isa::selected();
    let flop = flop_per_sample(&o.sizes, o.mf_iters);
    let steps = o.rows.div_ceil(BATCH);
    let layers: Vec<String> = o.sizes.iter().map(|s| s.to_string()).collect();
    println!(
        "dbm-epoch: {} at batch {BATCH}, {} mean-field sweeps, PCD-1; {} rows ({source}) = {steps} steps; isa={isa}; {:.1} MFLOP per sample",
        layers.join("-"),
        o.mf_iters,
        o.rows,
        flop / 1e6
    );
    let bf16 = Some(Dispatch::global().bf16_isa()).filter(|&b| b != Bf16Isa::Portable);
    if bf16.is_none() {
        println!("bf16: no bf16 instructions (bf16 isa portable); bf16 runs not timed");
    }
    println!(
        "{:>7} {:>5} {:>9} {:>9} {:>8} {:>10}",
        "threads", "prec", "ms/step", "GFLOP/s", "of peak", "train loss"
    );
    let mut result = vec![("layers".to_string(), layers.join("-"))];
    let mut threads = vec![1];
    if o.threads > 1 {
        threads.push(o.threads);
    }
    for &t in &threads {
        let (run, peak) = with_fma_peak(isa, t, || epoch_seconds(&data, &o, t, Precision::F32));
        report(
            &mut result,
            "",
            t,
            run.unwrap_or_else(|e| fail(e)),
            (flop, o.rows, steps, peak),
        );
        let Some(b) = bf16 else { continue };
        let before = bf16_peak_threads(b, t, 200);
        let run = epoch_seconds(&data, &o, t, Precision::Bf16).unwrap_or_else(|e| fail(e));
        let peak = before.max(bf16_peak_threads(b, t, 200));
        report(&mut result, "bf16_", t, run, (flop, o.rows, steps, peak));
    }
    println!("{}", result_line(&result));
}

/// Prints a run's line and adds its `RESULT` keys.
fn report(
    result: &mut Vec<(String, String)>,
    tag: &str,
    t: usize,
    (secs, loss): (f64, f64),
    (flop, rows, steps, peak): (f64, usize, usize, f64),
) {
    let ms = 1e3 * secs / steps as f64;
    let gflops = flop * rows as f64 / secs / 1e9;
    let prec = if tag.is_empty() { "f32" } else { "bf16" };
    println!(
        "{t:>7} {prec:>5} {ms:>9.2} {gflops:>9.1} {:>7.1}% {loss:>10.3}",
        100.0 * gflops / peak
    );
    result.push((format!("ms_step_{tag}t{t}"), format!("{ms:.3}")));
    result.push((format!("gflops_{tag}t{t}"), format!("{gflops:.1}")));
    result.push((
        format!("peak_frac_{tag}t{t}"),
        format!("{:.3}", gflops / peak),
    ));
}
