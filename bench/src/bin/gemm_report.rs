//! `gemm-report`: latent's SGEMM against matrixmultiply and the machine's
//! measured FMA peak, for 1 and N threads, in one run; and, where the CPU
//! has AVX512-BF16 (and `--isa` allows it), the bf16 GEMM (bf16 operands
//! rounded while packing, f32 accumulation) against the measured
//! `vdpbf16ps` peak, at the same shapes.
//!
//! ```text
//! cargo run --release -p latent-bench --bin gemm-report -- [--quick] [--threads N] [--isa avx512|avx2|portable]
//! ```
//!
//! matrixmultiply reads its thread count (`MATMUL_NUM_THREADS`) once per
//! process, so its figures come from a child process of this same binary
//! (`--mm-worker`), which times one shape each time it is asked on its
//! standard input. The two are interleaved shape by shape, `--rounds` times
//! (3, or 2 with `--quick`), alternating which goes first, and each keeps
//! its best round: on a shared machine a neighbour's burst of load then
//! hits both sides of a ratio alike instead of whichever ran during it.

use latent_bench::{bf16_peak_threads, fma_peak_threads, result_line, seeded_vec, time_per_call};
use latent_kernels::baseline::matrixmultiply_sgemm;
use latent_kernels::gemm::{
    Accum, MatMut, MatRef, NoEpilogue, bf16_kernel_info, gemm_on, kernel_info, microkernel_gflops,
};
use latent_kernels::update::{SgdMomentum, SgdUpdate, gemm_sgd_update, sgd_momentum};
use latent_kernels::{Bf16Isa, Dispatch, Isa, Par, sgemm};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// (m, k, n) shapes, as in the issue: RBM minibatch shapes and large squares.
const SHAPES: [(usize, usize, usize); 7] = [
    (100, 784, 500),
    (100, 500, 784),
    (784, 100, 500),
    (1000, 784, 4096),
    (512, 512, 512),
    (1024, 1024, 1024),
    (2048, 2048, 2048),
];

struct Opts {
    quick: bool,
    no_baseline: bool,
    single_only: bool,
    shapes: Vec<(usize, usize, usize)>,
    threads: usize,
    isa: Isa,
    rounds: Option<usize>,
}

fn usage() -> ! {
    eprintln!(
        "usage: gemm-report [--quick] [--threads N] [--isa portable|avx2|avx512] [--shape MxKxN]...  [--no-baseline] [--single] [--rounds N]"
    );
    std::process::exit(2)
}

/// The options, and whether this process is the matrixmultiply worker.
fn parse_args() -> Result<(Opts, bool), String> {
    let mut opts = Opts {
        quick: false,
        no_baseline: false,
        single_only: false,
        shapes: SHAPES.to_vec(),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        isa: Isa::selected(),
        rounds: None,
    };
    let mut worker = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => opts.quick = true,
            "--no-baseline" => opts.no_baseline = true,
            "--single" => opts.single_only = true,
            "--shape" => {
                let v = args.next().ok_or("--shape needs MxKxN")?;
                let dims: Vec<usize> = v.split('x').filter_map(|d| d.parse().ok()).collect();
                let [m, k, n] = dims[..] else {
                    return Err(format!("--shape {v:?}: expected MxKxN"));
                };
                if opts.shapes.len() == SHAPES.len() && opts.shapes == SHAPES {
                    opts.shapes.clear();
                }
                opts.shapes.push((m, k, n));
            }
            "--threads" => {
                let v = args.next().ok_or("--threads needs a value")?;
                opts.threads = v
                    .parse()
                    .map_err(|_| format!("--threads: {v:?} is not a positive integer"))?;
                if opts.threads == 0 {
                    return Err("--threads must be at least 1".into());
                }
            }
            "--rounds" => {
                let v = args.next().ok_or("--rounds needs a value")?;
                opts.rounds = Some(
                    v.parse()
                        .ok()
                        .filter(|&r| r > 0)
                        .ok_or(format!("--rounds: {v:?} is not a positive integer"))?,
                );
            }
            "--isa" => {
                let v = args.next().ok_or("--isa needs a value")?;
                opts.isa = v.parse()?;
                if !opts.isa.is_available() {
                    return Err(format!("--isa {v}: not supported by this CPU"));
                }
            }
            // Its thread count comes in MATMUL_NUM_THREADS.
            "--mm-worker" => worker = true,
            "-h" | "--help" => usage(),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok((opts, worker))
}

fn sample_secs(quick: bool, flops: f64) -> (usize, f64) {
    let target = if quick { 0.04 } else { 0.25 };
    // Big products: fewer, longer samples.
    let samples = if flops > 5e9 { 3 } else { 5 };
    (samples, target)
}

fn time_mm(m: usize, k: usize, n: usize, quick: bool) -> f64 {
    let a = seeded_vec(m * k, 1);
    let b = seeded_vec(k * n, 2);
    let mut c = vec![0.0f32; m * n];
    let flops = 2.0 * (m * n * k) as f64;
    let (samples, secs) = sample_secs(quick, flops);
    let t = time_per_call(samples, secs, || {
        mm_sgemm(m, k, n, &a, &b, &mut c);
    });
    flops / t / 1e9
}

fn mm_sgemm(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let av = MatRef::row_major(a, m, k).expect("A view");
    let bv = MatRef::row_major(b, k, n).expect("B view");
    let cv = MatMut::row_major(c, m, n).expect("C view");
    matrixmultiply_sgemm(1.0, av, bv, 0.0, cv).expect("matrixmultiply sgemm");
}

/// A pool of `threads` threads and the parallelism to pass to the kernels
/// run inside it (`Seq` for one thread, so that path has no rayon calls).
fn pool_and_par(threads: usize) -> (rayon::ThreadPool, Par) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("rayon pool");
    let par = if threads == 1 {
        Par::Seq
    } else {
        Par::Rayon(threads)
    };
    (pool, par)
}

fn time_latent(isa: Isa, m: usize, k: usize, n: usize, threads: usize, quick: bool) -> f64 {
    time_product((m, k, n), threads, quick, |av, bv, cv, par| {
        gemm_on(isa, 1.0, av, bv, Accum::Replace, cv, &NoEpilogue, par).expect("gemm");
    })
}

/// The GFLOP/s of `product(A, B, C, par)` at `m x k x n` on `threads`
/// threads (row-major operands, seeded).
fn time_product(
    (m, k, n): (usize, usize, usize),
    threads: usize,
    quick: bool,
    product: impl Fn(MatRef<'_>, MatRef<'_>, MatMut<'_>, Par) + Sync,
) -> f64 {
    let a = seeded_vec(m * k, 1);
    let b = seeded_vec(k * n, 2);
    let mut c = vec![0.0f32; m * n];
    let flops = 2.0 * (m * n * k) as f64;
    let (samples, secs) = sample_secs(quick, flops);
    let (pool, par) = pool_and_par(threads);
    let t = pool.install(|| {
        time_per_call(samples, secs, || {
            let av = MatRef::row_major(&a, m, k).expect("A view");
            let bv = MatRef::row_major(&b, k, n).expect("B view");
            let cv = MatMut::row_major(&mut c, m, n).expect("C view");
            product(av, bv, cv, par);
        })
    });
    flops / t / 1e9
}

/// The bf16 GEMM's GFLOP/s on `bf16` (A and B rounded while packed).
fn time_latent_bf16(
    bf16: Bf16Isa,
    m: usize,
    k: usize,
    n: usize,
    threads: usize,
    quick: bool,
) -> f64 {
    let ctx = Dispatch::global().with_bf16_isa(bf16).expect("bf16 kernel");
    time_product((m, k, n), threads, quick, |av, bv, cv, par| {
        ctx.gemm_bf16(1.0, av, bv, Accum::Replace, cv, &NoEpilogue, par)
            .expect("gemm_bf16");
    })
}

/// The RBM weight-gradient step at 784-500, batch 100 (`G = −[V⁰;Vᵏ]ᵀ
/// [P⁰;−Pᵏ]/B`, 784x200x500 with a transposed A) followed by an SGD step of
/// `W`: microseconds per step as a product and a separate update pass, and
/// with the update fused into the product
/// ([`latent_kernels::update::gemm_sgd_update`]).
fn time_weight_step(threads: usize, quick: bool) -> (f64, f64) {
    let (v, b2, h) = (784, 200, 500);
    let sv = seeded_vec(b2 * v, 3);
    let sp = seeded_vec(b2 * h, 4);
    let w0 = seeded_vec(v * h, 5);
    let mut vel = vec![0.0f32; v * h];
    let mut grad = vec![0.0f32; v * h];
    let mut w1 = vec![0.0f32; v * h];
    let rule = SgdMomentum {
        momentum: 0.5,
        lr: 1e-3,
        decay: 1e-4,
    };
    let (pool, par) = pool_and_par(threads);
    let (samples, secs) = sample_secs(quick, 2.0 * (v * h * b2) as f64);
    pool.install(|| {
        let a = || MatRef::row_major(&sv, b2, v).expect("A view").t();
        let b = || MatRef::row_major(&sp, b2, h).expect("B view");
        let separate = time_per_call(samples, secs, || {
            let g = MatMut::row_major(&mut grad, v, h).expect("G view");
            sgemm(-0.01, a(), b(), Accum::Replace, g, par).expect("gemm");
            sgd_momentum(rule, Some(&w0), &grad, &mut vel, &mut w1).expect("update");
        });
        let fused = time_per_call(samples, secs, || {
            let update = SgdUpdate {
                rule,
                old: &w0,
                velocity: &mut vel,
                rank_one: None,
            };
            let out = MatMut::row_major(&mut w1, v, h).expect("W view");
            gemm_sgd_update(-0.01, a(), b(), update, out, par).expect("fused update");
        });
        (separate * 1e6, fused * 1e6)
    })
}

/// This binary running as `--mm-worker` (with `MATMUL_NUM_THREADS` set): it times matrixmultiply
/// at one shape per line `m k n` it reads and answers `MM m k n gflops`.
struct MmWorker {
    child: Child,
    to: ChildStdin,
    from: BufReader<ChildStdout>,
}

impl MmWorker {
    fn spawn(threads: usize, quick: bool) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| format!("locating this program: {e}"))?;
        let mut cmd = Command::new(exe);
        cmd.arg("--mm-worker")
            .env("MATMUL_NUM_THREADS", threads.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if quick {
            cmd.arg("--quick");
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("starting the matrixmultiply worker: {e}"))?;
        let to = child.stdin.take().ok_or("no pipe to the worker")?;
        let from = BufReader::new(child.stdout.take().ok_or("no pipe from the worker")?);
        Ok(MmWorker { child, to, from })
    }

    /// matrixmultiply's GFLOP/s at `m x k x n`.
    fn gflops(&mut self, (m, k, n): (usize, usize, usize)) -> Result<f64, String> {
        writeln!(self.to, "{m} {k} {n}")
            .and_then(|_| self.to.flush())
            .map_err(|e| format!("writing to the matrixmultiply worker: {e}"))?;
        let mut line = String::new();
        self.from
            .read_line(&mut line)
            .map_err(|e| format!("reading from the matrixmultiply worker: {e}"))?;
        line.strip_prefix("MM ")
            .and_then(|l| l.split_whitespace().last()?.parse().ok())
            .ok_or_else(|| format!("the matrixmultiply worker answered {line:?}"))
    }
}

impl Drop for MmWorker {
    fn drop(&mut self) {
        // The worker stops at the end of its input; do not leave it behind
        // if it does not.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The worker's side: one timing per request line until the input ends.
fn run_mm_worker(quick: bool) {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let dims: Vec<usize> = line
            .split_whitespace()
            .filter_map(|d| d.parse().ok())
            .collect();
        let [m, k, n] = dims[..] else {
            eprintln!("gemm-report --mm-worker: expected \"m k n\", got {line:?}");
            std::process::exit(2)
        };
        let gf = time_mm(m, k, n, quick);
        if writeln!(out, "MM {m} {k} {n} {gf:.3}")
            .and_then(|_| out.flush())
            .is_err()
        {
            break;
        }
    }
}

fn main() {
    let (opts, worker) = parse_args().unwrap_or_else(|e| {
        eprintln!("gemm-report: {e}");
        usage()
    });
    if worker {
        run_mm_worker(opts.quick);
        return;
    }
    let rounds = opts.rounds.unwrap_or(if opts.quick { 2 } else { 3 });
    let info = kernel_info(opts.isa);
    let mut thread_counts = vec![1];
    if opts.threads > 1 && !opts.single_only {
        thread_counts.push(opts.threads);
    }
    let peak_ms = if opts.quick { 100 } else { 400 };
    println!(
        "latent SGEMM report: isa={} kernel={} ({}x{}), blocking mc={} kc={} nc={}",
        opts.isa, info.name, info.mr, info.nr, info.blocking.mc, info.blocking.kc, info.blocking.nc
    );
    let ukr_gf = (0..3)
        .filter_map(|_| {
            microkernel_gflops(
                opts.isa,
                info.blocking.kc,
                if opts.quick { 20_000 } else { 100_000 },
                1,
                1,
                (1, 1),
            )
        })
        .fold(0.0f64, f64::max);
    println!(
        "microkernel alone (L1-resident panels, kc={}): {ukr_gf:.1} GFLOP/s",
        info.blocking.kc
    );
    let mut result = vec![
        ("isa".to_string(), opts.isa.to_string()),
        ("ukr_gflops".to_string(), format!("{ukr_gf:.1}")),
    ];
    // The bf16 GEMM is timed only on a bf16 instruction set: the portable
    // kernel is a correctness fallback, far too slow for these shapes.
    let bf16 = Dispatch::global()
        .with_isa(opts.isa)
        .map(|d| d.bf16_isa())
        .ok()
        .filter(|&b| b != Bf16Isa::Portable);
    match bf16 {
        Some(b) => {
            let (name, mr, nr) = bf16_kernel_info(b);
            println!("bf16 GEMM: isa={b} kernel={name} ({mr}x{nr})");
            result.push(("bf16_isa".to_string(), b.to_string()));
        }
        None => println!(
            "bf16 GEMM: no bf16 instructions under --isa {}; not timed",
            opts.isa
        ),
    }
    // GFLOP/s per shape for each thread count, for the scaling table.
    let mut rates: Vec<Vec<f64>> = Vec::new();
    for &threads in &thread_counts {
        let peak = fma_peak_threads(opts.isa, threads, peak_ms);
        println!(
            "\n{threads} thread(s): measured {} FMA peak {peak:.1} GFLOP/s",
            opts.isa
        );
        result.push((format!("peak_t{threads}"), format!("{peak:.1}")));
        let bf16_peak = bf16.map_or(f64::NAN, |b| bf16_peak_threads(b, threads, peak_ms));
        if bf16.is_some() {
            println!("{threads} thread(s): measured bf16 (vdpbf16ps) peak {bf16_peak:.1} GFLOP/s");
            result.push((format!("bf16_peak_t{threads}"), format!("{bf16_peak:.1}")));
        }
        let mut mm_worker = if opts.no_baseline {
            None
        } else {
            MmWorker::spawn(threads, opts.quick)
                .map_err(|e| eprintln!("gemm-report: {e}; no matrixmultiply figures"))
                .ok()
        };
        println!(
            "{:>18} {:>12} {:>12} {:>8} {:>8} {:>10} {:>8}",
            "m x k x n", "latent GF/s", "mm GF/s", "ratio", "of peak", "bf16 GF/s", "of bf16"
        );
        rates.push(Vec::new());
        for &(m, k, n) in &opts.shapes {
            // Best of `rounds` interleaved rounds each, the first going
            // first in even rounds and second in odd ones.
            let (mut gf, mut mm_gf) = (0.0f64, f64::NAN);
            for round in 0..rounds {
                let mut mm_round = |mm_gf: &mut f64| {
                    if let Some(w) = mm_worker.as_mut() {
                        match w.gflops((m, k, n)) {
                            Ok(g) => *mm_gf = if mm_gf.is_nan() { g } else { mm_gf.max(g) },
                            Err(e) => {
                                eprintln!("gemm-report: {e}; no more matrixmultiply figures");
                                mm_worker = None;
                            }
                        }
                    }
                };
                if round % 2 == 1 {
                    mm_round(&mut mm_gf);
                }
                gf = gf.max(time_latent(opts.isa, m, k, n, threads, opts.quick));
                if round % 2 == 0 {
                    mm_round(&mut mm_gf);
                }
            }
            if let Some(r) = rates.last_mut() {
                r.push(gf);
            }
            let shape = format!("{m}x{k}x{n}");
            let bf_gf = bf16.map_or(f64::NAN, |b| {
                (0..rounds)
                    .map(|_| time_latent_bf16(b, m, k, n, threads, opts.quick))
                    .fold(0.0, f64::max)
            });
            println!(
                "{shape:>18} {gf:>12.1} {mm_gf:>12.1} {:>8.2} {:>7.1}% {bf_gf:>10.1} {:>7.1}%",
                gf / mm_gf,
                100.0 * gf / peak,
                100.0 * bf_gf / bf16_peak
            );
            if bf16.is_some() {
                result.push((
                    format!("bf16_gflops_{shape}_t{threads}"),
                    format!("{bf_gf:.1}"),
                ));
                result.push((
                    format!("bf16_peak_frac_{shape}_t{threads}"),
                    format!("{:.3}", bf_gf / bf16_peak),
                ));
            }
            result.push((format!("gflops_{shape}_t{threads}"), format!("{gf:.1}")));
            result.push((
                format!("vs_mm_{shape}_t{threads}"),
                format!("{:.2}", gf / mm_gf),
            ));
            result.push((
                format!("peak_frac_{shape}_t{threads}"),
                format!("{:.3}", gf / peak),
            ));
        }
    }
    if let [one, many] = rates.as_slice() {
        let threads = thread_counts[1];
        println!("\nScaling, {threads} threads over 1 (latent GFLOP/s ratio):");
        for ((&(m, k, n), &r1), &rn) in opts.shapes.iter().zip(one).zip(many) {
            let shape = format!("{m}x{k}x{n}");
            println!("{shape:>18} {:>8.2}x", rn / r1);
            result.push((
                format!("scaling_{shape}_t{threads}"),
                format!("{:.2}", rn / r1),
            ));
        }
    }
    println!("\nRBM weight-gradient step, 784x200x500 (Aᵀ B) and an SGD step of W, us per step:");
    for &threads in &thread_counts {
        let (separate, fused) = time_weight_step(threads, opts.quick);
        println!(
            "{threads:>3} thread(s): product + update pass {separate:>8.0}   fused into the product {fused:>8.0}   ratio {:.2}",
            separate / fused
        );
        result.push((
            format!("wstep_separate_us_t{threads}"),
            format!("{separate:.0}"),
        ));
        result.push((format!("wstep_fused_us_t{threads}"), format!("{fused:.0}")));
    }
    println!("{}", result_line(&result));
}
