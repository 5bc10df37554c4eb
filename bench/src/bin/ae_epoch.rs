//! `ae-epoch`: seconds per epoch of autoencoder training at batch 100 on a
//! 60,000 x 784 matrix in [0, 1] (the MNIST test images scaled and tiled 6
//! times), with 1 thread and all threads, through the same `Trainer` a user
//! calls, each in f32 and then with bf16 products (`set_precision`), for
//!
//! - `deep`: the 784-1000-500-250-30 deep autoencoder of Hinton &
//!   Salakhutdinov (sigmoid hidden layers, linear code, mirrored untied
//!   decoder, cross-entropy from logits), Adam;
//! - `cae`: a 784-500 sigmoid contractive autoencoder (λ = 0.1,
//!   cross-entropy), Adam.
//!
//! ```text
//! cargo run --release -p latent-bench --bin ae-epoch -- [--quick] [--threads N] [--only deep|cae] [--rows N]
//! ```
//!
//! GFLOP/s counts the GEMM work per sample: for each layer `V x H`, the
//! encoder and decoder forward products, the decoder's weight gradient and
//! delta, the encoder's weight gradient, and the encoder's delta below
//! (not for the first layer): `12·V·H`, `10·V·H` for the first layer; the
//! contractive AE adds the `Xᵀ G` product of its penalty gradient
//! (`12·V·H` in all; in bf16 that product joins the weight gradient's, the
//! same count is used). Element-wise work is not counted. The fraction of
//! peak is against the FMA peak (f32) or the `vdpbf16ps` peak (bf16)
//! measured around the same run. The bf16 runs need bf16 instructions (the
//! portable bf16 kernel is scalar; they are skipped, and said so, without).
//! `--quick` trains on 12,000 rows and scales the time to 60,000 (said in
//! the output). Without MNIST it uses seeded random data of the same shape,
//! and says so.
//!
//! The `RESULT` line has, per model and thread count (`deep_t1` …),
//! `sec_`, `gflops_` and `peak_frac_` of the f32 run, the same keys with
//! `sec_bf16_`, `gflops_bf16_`, `peak_frac_bf16_` for the bf16 run, and
//! `ratio_bf16_f32_` (bf16 seconds over f32 seconds).

use latent_bench::{bf16_peak_threads, result_line, with_fma_peak};
use latent_engine::data::mnist;
use latent_engine::train::{Silent, Threads, TrainConfig, Trainer};
use latent_engine::{Dataset, Matrix, OptimizerConfig, preprocess};
use latent_kernels::gemm::Precision;
use latent_kernels::{Activation, Bf16Isa, Dispatch, Isa, Par};
use latent_models::ae::{AeConfig, Autoencoder, Loss};
use std::time::Instant;

const EPOCH_ROWS: usize = 60_000;
const BATCH: usize = 100;

struct Opts {
    rows: usize,
    quick: bool,
    threads: usize,
    only: Option<String>,
}

fn parse_args() -> Result<Opts, String> {
    let mut opts = Opts {
        rows: EPOCH_ROWS,
        quick: false,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        only: None,
    };
    let mut args = std::env::args().skip(1);
    let positive = |v: String, what: &str| -> Result<usize, String> {
        v.parse()
            .ok()
            .filter(|&t: &usize| t > 0)
            .ok_or(format!("{what}: {v:?} is not a positive integer"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => {
                opts.quick = true;
                opts.rows = EPOCH_ROWS / 5;
            }
            "--rows" => opts.rows = positive(args.next().ok_or("--rows needs a value")?, "--rows")?,
            "--threads" => {
                opts.threads = positive(args.next().ok_or("--threads needs a value")?, "--threads")?
            }
            "--only" => {
                let v = args.next().ok_or("--only needs deep or cae")?;
                if v != "deep" && v != "cae" {
                    return Err(format!("--only: {v:?} is not deep or cae"));
                }
                opts.only = Some(v);
            }
            "-h" | "--help" => {
                println!("usage: ae-epoch [--quick] [--threads N] [--only deep|cae] [--rows N]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(opts)
}

/// The `rows x 784` training matrix in [0, 1] and where it came from.
fn training_data(rows: usize) -> Result<(Matrix, &'static str), String> {
    let dir = mnist::default_mnist_dir();
    let (base, source) = if mnist::is_available(&dir) {
        let mut ds = mnist::load_test_split(&dir).map_err(|e| e.to_string())?;
        preprocess::scale_to_unit(&mut ds.x, 0.0, 255.0).map_err(|e| e.to_string())?;
        (ds.x, "MNIST test images scaled to [0, 1], tiled")
    } else {
        eprintln!(
            "ae-epoch: MNIST not found in {}; using seeded random data",
            dir.display()
        );
        let v = latent_bench::seeded_vec(10_000 * 784, 7);
        let m = Matrix::from_fn(10_000, 784, |i, j| 0.5 + 0.5 * v[i * 784 + j])
            .map_err(|e| e.to_string())?;
        (m, "seeded random data in [0, 1]")
    };
    let data = Matrix::from_fn(rows, 784, |i, j| base.row(i % base.rows())[j])
        .map_err(|e| e.to_string())?;
    Ok((data, source))
}

/// The model of a benchmark and its GEMM FLOP per sample.
fn model(name: &str) -> (AeConfig, f64) {
    match name {
        "deep" => {
            let sizes = [784usize, 1000, 500, 250, 30];
            let cfg = AeConfig::new(&sizes, Activation::Sigmoid)
                .with_activations(&[
                    Activation::Sigmoid,
                    Activation::Sigmoid,
                    Activation::Sigmoid,
                    Activation::Identity,
                ])
                .with_loss(Loss::CrossEntropy);
            let flop: f64 = sizes
                .windows(2)
                .enumerate()
                .map(|(l, w)| (if l == 0 { 10.0 } else { 12.0 }) * (w[0] * w[1]) as f64)
                .sum();
            (cfg, flop)
        }
        _ => {
            let cfg = AeConfig::new(&[784, 500], Activation::Sigmoid)
                .with_loss(Loss::CrossEntropy)
                .with_contractive(0.1);
            (cfg, 12.0 * 784.0 * 500.0)
        }
    }
}

fn epoch_seconds(
    data: &Dataset,
    cfg: &AeConfig,
    threads: usize,
    precision: Precision,
) -> Result<(f64, f64), String> {
    let mut ae = Autoencoder::new(cfg.clone(), 1).map_err(|e| e.to_string())?;
    ae.set_precision(precision);
    ae.init_output_bias_from_data(&data.x, Par::All)
        .map_err(|e| e.to_string())?;
    let mut train = TrainConfig::new(OptimizerConfig::adam(1e-3));
    train.epochs = 1;
    train.batch_size = BATCH;
    train.threads = Threads::Count(threads);
    let mut trainer = Trainer::new(ae, train).map_err(|e| e.to_string())?;
    let start = Instant::now();
    trainer
        .fit(data, None, &mut Silent)
        .map_err(|e| e.to_string())?;
    let secs = start.elapsed().as_secs_f64();
    let loss = trainer.history().last().map_or(f64::NAN, |r| r.train_loss);
    Ok((secs, loss))
}

fn main() {
    let opts = parse_args().unwrap_or_else(|e| {
        eprintln!("ae-epoch: {e}");
        std::process::exit(2)
    });
    let rows = opts.rows;
    let (x, source) = training_data(rows).unwrap_or_else(|e| {
        eprintln!("ae-epoch: {e}");
        std::process::exit(1)
    });
    let data = Dataset::new(x, None).expect("dataset");
    let isa = Isa::selected();
    println!(
        "ae-epoch: batch {BATCH} on {rows} x 784 ({source}), isa={isa}{}",
        if rows != EPOCH_ROWS {
            ", times scaled to 60,000 rows"
        } else {
            ""
        }
    );
    let mut threads = vec![1];
    if opts.threads > 1 {
        threads.push(opts.threads);
    }
    let mut result = vec![("rows".to_string(), rows.to_string())];
    // bf16 is timed only on bf16 instructions: the portable kernel is a
    // scalar correctness fallback.
    let bf16 = Some(Dispatch::global().bf16_isa()).filter(|&b| b != Bf16Isa::Portable);
    match bf16 {
        Some(b) => result.push(("bf16_isa".to_string(), b.to_string())),
        None => println!("bf16: no bf16 instructions (bf16 isa portable); bf16 runs not timed"),
    }
    println!(
        "{:>6} {:>7} {:>5} {:>10} {:>9} {:>8} {:>11}",
        "model", "threads", "prec", "s/epoch", "GFLOP/s", "of peak", "train loss"
    );
    for name in ["deep", "cae"] {
        if opts.only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let (cfg, flop) = model(name);
        for &t in &threads {
            let key = format!("{name}_t{t}");
            let (run, peak) =
                with_fma_peak(isa, t, || epoch_seconds(&data, &cfg, t, Precision::F32));
            let f32_secs = report(name, t, "f32", run, (flop, rows, peak));
            push_keys(&mut result, "", &key, f32_secs, (flop, rows, peak));
            let Some(b) = bf16 else { continue };
            let (run, peak) =
                with_bf16_peak(b, t, || epoch_seconds(&data, &cfg, t, Precision::Bf16));
            let bf16_secs = report(name, t, "bf16", run, (flop, rows, peak));
            push_keys(&mut result, "bf16_", &key, bf16_secs, (flop, rows, peak));
            result.push((
                format!("ratio_bf16_f32_{key}"),
                format!("{:.3}", bf16_secs / f32_secs),
            ));
        }
    }
    println!("{}", result_line(&result));
}

/// Runs `work` between two measurements of the bf16 peak of `threads`
/// threads (200 ms each) and returns its result with the higher one (as
/// `with_fma_peak` does for the FMA peak).
fn with_bf16_peak<R>(isa: Bf16Isa, threads: usize, work: impl FnOnce() -> R) -> (R, f64) {
    let before = bf16_peak_threads(isa, threads, 200);
    let result = work();
    (result, before.max(bf16_peak_threads(isa, threads, 200)))
}

/// Prints one run's line (seconds per 60,000-row epoch, GFLOP/s, the
/// fraction of `peak`, the last training loss) and returns the seconds
/// of the `rows` trained.
fn report(
    name: &str,
    t: usize,
    precision: &str,
    run: Result<(f64, f64), String>,
    (flop, rows, peak): (f64, usize, f64),
) -> f64 {
    let (secs, loss) = run.unwrap_or_else(|e| {
        eprintln!("ae-epoch: {e}");
        std::process::exit(1)
    });
    let per_epoch = secs * EPOCH_ROWS as f64 / rows as f64;
    let gflops = flop * rows as f64 / secs / 1e9;
    println!(
        "{name:>6} {t:>7} {precision:>5} {per_epoch:>10.3} {gflops:>9.1} {:>7.1}% {loss:>11.2}",
        100.0 * gflops / peak
    );
    secs
}

/// The `RESULT` keys of one run: `sec_{tag}{key}` (per 60,000-row epoch),
/// `gflops_{tag}{key}` and `peak_frac_{tag}{key}`.
fn push_keys(
    result: &mut Vec<(String, String)>,
    tag: &str,
    key: &str,
    secs: f64,
    (flop, rows, peak): (f64, usize, f64),
) {
    let per_epoch = secs * EPOCH_ROWS as f64 / rows as f64;
    let gflops = flop * rows as f64 / secs / 1e9;
    result.push((format!("sec_{tag}{key}"), format!("{per_epoch:.3}")));
    result.push((format!("gflops_{tag}{key}"), format!("{gflops:.1}")));
    result.push((
        format!("peak_frac_{tag}{key}"),
        format!("{:.3}", gflops / peak),
    ));
}
