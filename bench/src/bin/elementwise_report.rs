//! `elementwise-report`: how close latent's memory-bound element-wise
//! kernels come to this machine's memory bandwidth, and what share of a
//! CD-1 step they take next to its matrix products, in one run.
//!
//! ```text
//! cargo run --release -p latent-bench --bin elementwise-report -- [--quick] [--threads N]
//! ```
//!
//! 1. The bandwidth yardstick: a STREAM-style triad `a = b + s·c` over
//!    buffers far larger than the caches, on 1 thread and on all threads
//!    (bytes counted as STREAM does: 3 × 4 bytes an element).
//! 2. Each memory-bound kernel on a `4096 x 4096` matrix, its bytes moved
//!    (each buffer read or written once), GB/s, and fraction of the triad's.
//! 3. One CD-1 step of a 784-500 RBM on a batch of 100: the five products
//!    (`sgemm`, no epilogue) against the element-wise passes (fused
//!    sigmoid–Bernoulli, two bias+sigmoid passes, four column means for
//!    the bias gradients, the reconstruction error).
//!
//! The last line is `RESULT key=value ...` with the headline figures.

use latent_bench::{QuickOpts, result_line, seeded_vec, time_sampled};
use latent_kernels::activation::{Activation, activation_grad, bias_activation};
use latent_kernels::gemm::{Accum, MatMut, MatRef, sgemm};
use latent_kernels::random::{Streams, mask_noise, sigmoid_bernoulli, uniform};
use latent_kernels::reduce::{bce_logits, col_means, col_sums, sq_err};
use latent_kernels::{Isa, Par};
use rayon::prelude::*;

/// Triad GB/s on `n`-element buffers with up to `tasks` rayon tasks.
fn triad_gbs(quick: bool, n: usize, tasks: usize) -> f64 {
    let b = seeded_vec(n, 1);
    let c = seeded_vec(n, 2);
    let mut a = vec![0.0f32; n];
    let s = 0.5f32;
    let chunk = n.div_ceil(tasks.max(1));
    let secs = time_sampled(quick, || {
        if tasks <= 1 {
            for ((a, &b), &c) in a.iter_mut().zip(&b).zip(&c) {
                *a = b + s * c;
            }
        } else {
            a.par_chunks_mut(chunk)
                .zip(b.par_chunks(chunk))
                .zip(c.par_chunks(chunk))
                .for_each(|((a, b), c)| {
                    for ((a, &b), &c) in a.iter_mut().zip(b).zip(c) {
                        *a = b + s * c;
                    }
                });
        }
        std::hint::black_box(&a);
    });
    (3 * 4 * n) as f64 / secs / 1e9
}

/// One memory-bound kernel measurement.
struct Row {
    key: &'static str,
    name: &'static str,
    bytes_per_elem: usize,
    secs: [f64; 2],
}

fn main() {
    let opts = QuickOpts::from_args("elementwise-report");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build()
        .expect("building the rayon pool");
    pool.install(|| run(&opts));
}

fn run(opts: &QuickOpts) {
    let quick = opts.quick;
    let nt = opts.threads;
    println!(
        "elementwise-report: isa {} ({}), {} threads{}",
        Isa::selected(),
        latent_kernels::gemm::kernel_info(Isa::selected()).name,
        nt,
        if quick { ", quick" } else { "" }
    );

    // 1. Bandwidth.
    let tn = if quick { 1 << 23 } else { 1 << 25 };
    let triad = [triad_gbs(quick, tn, 1), triad_gbs(quick, tn, nt)];
    println!(
        "\ntriad a = b + s*c, {} MiB per buffer: {:.1} GB/s (1 thread), {:.1} GB/s ({nt} threads)",
        (tn * 4) >> 20,
        triad[0],
        triad[1]
    );

    // 2. Memory-bound kernels on a matrix larger than the caches.
    let (r, c) = if quick { (2048, 2048) } else { (4096, 4096) };
    let n = r * c;
    let x0 = seeded_vec(n, 3);
    let bias = seeded_vec(c, 4);
    let y: Vec<f32> = seeded_vec(n, 5).iter().map(|v| 0.5 + 0.4 * v).collect();
    let t01: Vec<f32> = seeded_vec(n, 6).iter().map(|v| 0.5 + 0.5 * v).collect();
    let mut buf = x0.clone();
    let mut buf2 = vec![0.0f32; n];
    let mut colv = vec![0.0f32; c];
    let st = Streams::new(1);
    let mut rows: Vec<Row> = Vec::new();
    let pars = [Par::Seq, Par::Rayon(nt)];
    let mut measure = |key, name, bytes_per_elem, f: &mut dyn FnMut(Par)| {
        let mut secs = [0.0; 2];
        for (k, &par) in pars.iter().enumerate() {
            secs[k] = time_sampled(quick, || f(par));
        }
        rows.push(Row {
            key,
            name,
            bytes_per_elem,
            secs,
        });
    };
    measure("bias_sigmoid", "bias + sigmoid, in place", 8, &mut |par| {
        bias_activation(Activation::Sigmoid, Some(&bias), &mut buf, r, c, par).unwrap()
    });
    measure("act_grad", "delta *= y(1-y)", 12, &mut |par| {
        activation_grad(Activation::Sigmoid, &y, &mut buf, par).unwrap()
    });
    measure(
        "sigmoid_bernoulli",
        "sigmoid + Bernoulli (p and s)",
        12,
        &mut |par| sigmoid_bernoulli(st, &mut buf, Some(&bias), &mut buf2, r, c, par).unwrap(),
    );
    measure("uniform", "uniforms", 4, &mut |par| {
        uniform(st, &mut buf2, r, c, par).unwrap()
    });
    measure("mask_noise", "masking noise", 8, &mut |par| {
        mask_noise(st, &x0, &mut buf2, 0.25, r, c, par).unwrap()
    });
    measure("col_sums", "column sums", 4, &mut |par| {
        col_sums(&x0, r, c, &mut colv, par).unwrap()
    });
    // The losses run on one thread (deterministic totals): the all-threads
    // figure is the same kernel.
    measure("sq_err", "squared error + gradient", 12, &mut |_| {
        std::hint::black_box(sq_err(&x0, &y, r, c, None, Some(&mut buf2), 1.0).unwrap());
    });
    measure("bce", "BCE from logits + gradient", 12, &mut |_| {
        std::hint::black_box(bce_logits(&x0, &t01, r, c, None, Some(&mut buf2), 1.0).unwrap());
    });
    println!(
        "\nmemory-bound kernels on {r}x{c} ({} MiB per buffer)",
        (n * 4) >> 20
    );
    println!(
        "{:<32} {:>6} {:>9} {:>9} {:>7} {:>9} {:>9} {:>7}",
        "kernel", "B/elem", "Gelem/s", "GB/s", "frac", "Gelem/s", "GB/s", "frac"
    );
    println!(
        "{:<32} {:>6} {:>27} {:>27}",
        "",
        "",
        "1 thread",
        format!("{nt} threads")
    );
    let mut pairs: Vec<(String, String)> = vec![
        ("triad_gbs_1t".into(), format!("{:.1}", triad[0])),
        (format!("triad_gbs_{nt}t"), format!("{:.1}", triad[1])),
    ];
    for row in &rows {
        let ge = [n as f64 / row.secs[0] / 1e9, n as f64 / row.secs[1] / 1e9];
        let gb = [
            ge[0] * row.bytes_per_elem as f64,
            ge[1] * row.bytes_per_elem as f64,
        ];
        println!(
            "{:<32} {:>6} {:>9.2} {:>9.1} {:>7.2} {:>9.2} {:>9.1} {:>7.2}",
            row.name,
            row.bytes_per_elem,
            ge[0],
            gb[0],
            gb[0] / triad[0],
            ge[1],
            gb[1],
            gb[1] / triad[1]
        );
        pairs.push((
            format!("{}_bw_frac_1t", row.key),
            format!("{:.2}", gb[0] / triad[0]),
        ));
        pairs.push((
            format!("{}_bw_frac_{nt}t", row.key),
            format!("{:.2}", gb[1] / triad[1]),
        ));
    }

    // Rates in cache (one 100 x 1024 block, 400 KiB a buffer), per core:
    // what each kernel costs when memory is not the limit.
    let (ub, uh) = (100, 1024);
    let un = ub * uh;
    let (ux, uy, ut) = (&x0[..un], &y[..un], &t01[..un]);
    let mut ua = ux.to_vec();
    let mut ubuf = vec![0.0f32; un];
    let mut ucol = vec![0.0f32; uh];
    let ubias = &bias[..uh];
    println!("\nin cache ({ub}x{uh}), 1 thread, Gelem/s:");
    let mut cache = |key: &str, f: &mut dyn FnMut()| {
        let g = un as f64 / time_sampled(quick, f) / 1e9;
        println!("  {key:<20} {g:>7.2}");
        pairs.push((format!("{key}_gelem_per_s_cache_1t"), format!("{g:.2}")));
    };
    cache("uniform", &mut || {
        uniform(st, &mut ubuf, ub, uh, Par::Seq).unwrap()
    });
    cache("bias_sigmoid", &mut || {
        ua.copy_from_slice(ux);
        bias_activation(Activation::Sigmoid, Some(ubias), &mut ua, ub, uh, Par::Seq).unwrap()
    });
    cache("sigmoid_bernoulli", &mut || {
        ua.copy_from_slice(ux);
        sigmoid_bernoulli(st, &mut ua, Some(ubias), &mut ubuf, ub, uh, Par::Seq).unwrap()
    });
    cache("gaussian", &mut || {
        latent_kernels::random::gaussian(
            st,
            ux,
            latent_kernels::random::Scale::Scalar(1.0),
            &mut ubuf,
            ub,
            uh,
            Par::Seq,
        )
        .unwrap()
    });
    cache("act_grad", &mut || {
        activation_grad(Activation::Sigmoid, uy, &mut ubuf, Par::Seq).unwrap()
    });
    cache("col_sums", &mut || {
        col_sums(ux, ub, uh, &mut ucol, Par::Seq).unwrap()
    });
    cache("sq_err", &mut || {
        std::hint::black_box(sq_err(ux, uy, ub, uh, None, Some(&mut ubuf), 1.0).unwrap());
    });
    cache("bce", &mut || {
        std::hint::black_box(bce_logits(ux, ut, ub, uh, None, Some(&mut ubuf), 1.0).unwrap());
    });

    // 3. A CD-1 step, 784-500, batch 100.
    for (label, par) in [("1t", Par::Seq), (&*format!("{nt}t"), Par::Rayon(nt))] {
        let (b, v, h) = (100usize, 784usize, 500usize);
        let v0: Vec<f32> = seeded_vec(b * v, 7)
            .iter()
            .map(|x| (*x > 0.0) as u8 as f32)
            .collect();
        let w: Vec<f32> = seeded_vec(v * h, 8).iter().map(|x| 0.01 * x).collect();
        let bv = seeded_vec(v, 9);
        let ch = seeded_vec(h, 10);
        let mut p0 = vec![0.0f32; b * h];
        let mut h0 = vec![0.0f32; b * h];
        let mut v1 = vec![0.0f32; b * v];
        let mut p1 = vec![0.0f32; b * h];
        let mut dw = vec![0.0f32; v * h];
        let (mut db0, mut db1) = (vec![0.0f32; v], vec![0.0f32; v]);
        let (mut dc0, mut dc1) = (vec![0.0f32; h], vec![0.0f32; h]);
        let gemms = |par: Par,
                     p0: &mut [f32],
                     h0: &[f32],
                     v1: &mut [f32],
                     p1: &mut [f32],
                     dw: &mut [f32]| {
            let wv = MatRef::row_major(&w, v, h).unwrap();
            sgemm(
                1.0,
                MatRef::row_major(&v0, b, v).unwrap(),
                wv,
                Accum::Replace,
                MatMut::row_major(p0, b, h).unwrap(),
                par,
            )
            .unwrap();
            sgemm(
                1.0,
                MatRef::row_major(h0, b, h).unwrap(),
                wv.t(),
                Accum::Replace,
                MatMut::row_major(v1, b, v).unwrap(),
                par,
            )
            .unwrap();
            sgemm(
                1.0,
                MatRef::row_major(v1, b, v).unwrap(),
                wv,
                Accum::Replace,
                MatMut::row_major(p1, b, h).unwrap(),
                par,
            )
            .unwrap();
            sgemm(
                1.0,
                MatRef::row_major(&v0, b, v).unwrap().t(),
                MatRef::row_major(p0, b, h).unwrap(),
                Accum::Replace,
                MatMut::row_major(dw, v, h).unwrap(),
                par,
            )
            .unwrap();
            sgemm(
                -1.0,
                MatRef::row_major(v1, b, v).unwrap().t(),
                MatRef::row_major(p1, b, h).unwrap(),
                Accum::ADD,
                MatMut::row_major(dw, v, h).unwrap(),
                par,
            )
            .unwrap();
        };
        let t_gemm = time_sampled(quick, || {
            gemms(par, &mut p0, &h0, &mut v1, &mut p1, &mut dw)
        });
        let mut step = 0u64;
        let mut elem = |par: Par| {
            step += 1;
            let st = Streams::new(3).at_step(step);
            sigmoid_bernoulli(st, &mut p0, Some(&ch), &mut h0, b, h, par).unwrap();
            bias_activation(Activation::Sigmoid, Some(&bv), &mut v1, b, v, par).unwrap();
            bias_activation(Activation::Sigmoid, Some(&ch), &mut p1, b, h, par).unwrap();
            col_means(&v0, b, v, &mut db0, par).unwrap();
            col_means(&v1, b, v, &mut db1, par).unwrap();
            col_means(&p0, b, h, &mut dc0, par).unwrap();
            col_means(&p1, b, h, &mut dc1, par).unwrap();
            std::hint::black_box(sq_err(&v1, &v0, b, v, None, None, 1.0).unwrap());
        };
        let t_elem = time_sampled(quick, || elem(par));
        let share = t_elem / (t_elem + t_gemm);
        println!(
            "\nCD-1 step 784-500, batch 100, {label}: GEMMs {:.1} us, element-wise passes {:.1} us \
             ({:.1}% of GEMM + element-wise, {:.3}x the GEMMs)",
            t_gemm * 1e6,
            t_elem * 1e6,
            100.0 * share,
            t_elem / t_gemm
        );
        pairs.push((
            format!("cd1_gemm_us_{label}"),
            format!("{:.1}", t_gemm * 1e6),
        ));
        pairs.push((
            format!("cd1_elementwise_us_{label}"),
            format!("{:.1}", t_elem * 1e6),
        ));
        pairs.push((
            format!("cd1_elementwise_share_{label}"),
            format!("{:.3}", share),
        ));
    }
    println!("\n{}", result_line(&pairs));
}
