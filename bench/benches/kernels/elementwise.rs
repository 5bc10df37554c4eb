//! Element-wise kernels: fused activations, samplers, reductions, penalties.
//!
//! Each group runs latent's kernel (one thread, so the rates are per core)
//! next to the naive scalar loop, and for samplers next to drawing with
//! `rand`'s `RngExt::random` one element at a time, at the RBM sizes
//! B ∈ {100, 1000} x H ∈ {500, 4096}. Throughput is set as elements and
//! bytes moved (each buffer read or written once), so criterion prints both.

use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput, measurement::WallTime};
use latent_bench::seeded_vec;
use latent_kernels::Par;
use latent_kernels::activation::{Activation, activation_grad, bias_activation};
use latent_kernels::penalty::{
    ContractiveShape, Encoder, contractive_penalty, contractive_workspace_len,
};
use latent_kernels::random::{Scale, Streams, gaussian, mask_noise, sigmoid_bernoulli, uniform};
use latent_kernels::reduce::{bce_logits, col_sums, sq_err};
use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro128Plus;
use std::hint::black_box;
use std::time::Duration;

/// (B, H) shapes of the issue.
const SHAPES: [(usize, usize); 4] = [(100, 500), (100, 4096), (1000, 500), (1000, 4096)];

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    g
}

fn tp(elems: usize, bytes_per_elem: usize) -> Throughput {
    Throughput::ElementsAndBytes {
        elements: elems as u64,
        bytes: (elems * bytes_per_elem) as u64,
    }
}

fn naive_act(act: Activation, a: f32) -> f32 {
    match act {
        Activation::Identity => a,
        Activation::Sigmoid => 1.0 / (1.0 + (-a).exp()),
        Activation::Relu => a.max(0.0),
        Activation::Tanh => a.tanh(),
        Activation::Softplus => a.max(0.0) + (-a.abs()).exp().ln_1p(),
    }
}

/// `act(X + 1 cᵀ)` in place: latent against the scalar loop.
fn bench_bias_activation(c: &mut Criterion) {
    for act in [
        Activation::Sigmoid,
        Activation::Relu,
        Activation::Tanh,
        Activation::Softplus,
    ] {
        let mut g = group(c, &format!("bias_act_{}", act.name()));
        for &(b, h) in &SHAPES {
            let x0 = seeded_vec(b * h, 1);
            let bias = seeded_vec(h, 2);
            let mut x = x0.clone();
            let shape = format!("{b}x{h}");
            g.throughput(tp(b * h, 8));
            g.bench_function(BenchmarkId::new("latent", &shape), |bn| {
                bn.iter(|| {
                    // Re-running on its own output keeps values in range
                    // for every activation; the cost is the same.
                    bias_activation(act, Some(&bias), &mut x, b, h, Par::Seq).unwrap();
                    black_box(&x);
                })
            });
            x.copy_from_slice(&x0);
            g.bench_function(BenchmarkId::new("naive", &shape), |bn| {
                bn.iter(|| {
                    for row in x.chunks_exact_mut(h) {
                        for (v, &c) in row.iter_mut().zip(&bias) {
                            *v = naive_act(act, *v + c);
                        }
                    }
                    black_box(&x);
                })
            });
        }
        g.finish();
    }
}

/// `δ ← δ ⊙ σ'(y)` from stored outputs.
fn bench_activation_grad(c: &mut Criterion) {
    let mut g = group(c, "act_grad_sigmoid");
    for &(b, h) in &SHAPES {
        let y: Vec<f32> = seeded_vec(b * h, 3).iter().map(|v| 0.5 + 0.4 * v).collect();
        let mut d = seeded_vec(b * h, 4);
        let shape = format!("{b}x{h}");
        g.throughput(tp(b * h, 12));
        g.bench_function(BenchmarkId::new("latent", &shape), |bn| {
            bn.iter(|| activation_grad(Activation::Sigmoid, &y, &mut d, Par::Seq).unwrap())
        });
        g.bench_function(BenchmarkId::new("naive", &shape), |bn| {
            bn.iter(|| {
                for (d, &y) in d.iter_mut().zip(&y) {
                    *d *= y * (1.0 - y);
                }
                black_box(&d);
            })
        });
    }
    g.finish();
}

/// Samplers: uniforms, the fused Gibbs half-step, Gaussians, masking noise.
fn bench_sampling(c: &mut Criterion) {
    let st = Streams::new(7);
    let mut g = group(c, "uniform");
    for &(b, h) in &SHAPES {
        let mut out = vec![0.0f32; b * h];
        let shape = format!("{b}x{h}");
        g.throughput(tp(b * h, 4));
        g.bench_function(BenchmarkId::new("latent", &shape), |bn| {
            bn.iter(|| uniform(st, &mut out, b, h, Par::Seq).unwrap())
        });
        let mut rng = Xoshiro128Plus::seed_from_u64(7);
        g.bench_function(BenchmarkId::new("rand_random", &shape), |bn| {
            bn.iter(|| {
                for v in out.iter_mut() {
                    *v = rng.random::<f32>();
                }
                black_box(&out);
            })
        });
    }
    g.finish();

    let mut g = group(c, "sigmoid_bernoulli");
    for &(b, h) in &SHAPES {
        let a0 = seeded_vec(b * h, 5);
        let bias = seeded_vec(h, 6);
        let mut a = a0.clone();
        let mut s = vec![0.0f32; b * h];
        let shape = format!("{b}x{h}");
        g.throughput(tp(b * h, 12));
        g.bench_function(BenchmarkId::new("latent", &shape), |bn| {
            bn.iter(|| {
                a.copy_from_slice(&a0);
                sigmoid_bernoulli(st, &mut a, Some(&bias), &mut s, b, h, Par::Seq).unwrap()
            })
        });
        let mut rng = Xoshiro128Plus::seed_from_u64(7);
        g.bench_function(BenchmarkId::new("naive_rand", &shape), |bn| {
            bn.iter(|| {
                a.copy_from_slice(&a0);
                for (arow, srow) in a.chunks_exact_mut(h).zip(s.chunks_exact_mut(h)) {
                    for ((a, s), &c) in arow.iter_mut().zip(srow.iter_mut()).zip(&bias) {
                        let p = 1.0 / (1.0 + (-(*a + c)).exp());
                        *a = p;
                        *s = (rng.random::<f32>() < p) as u8 as f32;
                    }
                }
                black_box((&a, &s));
            })
        });
    }
    g.finish();

    let mut g = group(c, "gaussian");
    for &(b, h) in &SHAPES {
        let mean = seeded_vec(b * h, 8);
        let mut out = vec![0.0f32; b * h];
        let shape = format!("{b}x{h}");
        g.throughput(tp(b * h, 8));
        g.bench_function(BenchmarkId::new("latent", &shape), |bn| {
            bn.iter(|| gaussian(st, &mean, Scale::Scalar(0.5), &mut out, b, h, Par::Seq).unwrap())
        });
        let mut rng = Xoshiro128Plus::seed_from_u64(7);
        g.bench_function(BenchmarkId::new("naive_rand_box_muller", &shape), |bn| {
            bn.iter(|| {
                for (o, m) in out.chunks_exact_mut(2).zip(mean.chunks_exact(2)) {
                    let u1 = 1.0 - rng.random::<f32>();
                    let u2 = rng.random::<f32>();
                    let r = (-2.0 * u1.ln()).sqrt();
                    let (sn, cs) = (std::f32::consts::TAU * u2).sin_cos();
                    o[0] = m[0] + 0.5 * r * cs;
                    o[1] = m[1] + 0.5 * r * sn;
                }
                black_box(&out);
            })
        });
    }
    g.finish();

    let mut g = group(c, "mask_noise");
    for &(b, h) in &SHAPES {
        let x = seeded_vec(b * h, 9);
        let mut out = vec![0.0f32; b * h];
        let shape = format!("{b}x{h}");
        g.throughput(tp(b * h, 8));
        g.bench_function(BenchmarkId::new("latent", &shape), |bn| {
            bn.iter(|| mask_noise(st, &x, &mut out, 0.25, b, h, Par::Seq).unwrap())
        });
        let mut rng = Xoshiro128Plus::seed_from_u64(7);
        g.bench_function(BenchmarkId::new("naive_rand", &shape), |bn| {
            bn.iter(|| {
                for (o, &x) in out.iter_mut().zip(&x) {
                    *o = if rng.random::<f32>() < 0.25 { 0.0 } else { x };
                }
                black_box(&out);
            })
        });
    }
    g.finish();
}

/// Column sums and the fused losses.
fn bench_reductions(c: &mut Criterion) {
    let mut g = group(c, "col_sums");
    for &(b, h) in &SHAPES {
        let x = seeded_vec(b * h, 10);
        let mut out = vec![0.0f32; h];
        let shape = format!("{b}x{h}");
        g.throughput(tp(b * h, 4));
        g.bench_function(BenchmarkId::new("latent", &shape), |bn| {
            bn.iter(|| col_sums(&x, b, h, &mut out, Par::Seq).unwrap())
        });
        g.bench_function(BenchmarkId::new("naive", &shape), |bn| {
            bn.iter(|| {
                out.fill(0.0);
                for row in x.chunks_exact(h) {
                    for (o, &v) in out.iter_mut().zip(row) {
                        *o += v;
                    }
                }
                black_box(&out);
            })
        });
    }
    g.finish();

    let mut g = group(c, "bce_logits_grad");
    for &(b, h) in &SHAPES {
        let a = seeded_vec(b * h, 11);
        let x: Vec<f32> = seeded_vec(b * h, 12)
            .iter()
            .map(|v| 0.5 + 0.5 * v)
            .collect();
        let mut grad = vec![0.0f32; b * h];
        let shape = format!("{b}x{h}");
        g.throughput(tp(b * h, 12));
        g.bench_function(BenchmarkId::new("latent", &shape), |bn| {
            bn.iter(|| bce_logits(&a, &x, b, h, None, Some(&mut grad), 1.0).unwrap())
        });
        g.bench_function(BenchmarkId::new("naive", &shape), |bn| {
            bn.iter(|| {
                let mut total = 0.0f64;
                for ((&a, &x), g) in a.iter().zip(&x).zip(grad.iter_mut()) {
                    total += (a.max(0.0) - x * a + (-a.abs()).exp().ln_1p()) as f64;
                    *g = 1.0 / (1.0 + (-a).exp()) - x;
                }
                black_box(total)
            })
        });
    }
    g.finish();

    let mut g = group(c, "sq_err_grad");
    for &(b, h) in &SHAPES {
        let a = seeded_vec(b * h, 13);
        let x = seeded_vec(b * h, 14);
        let mut grad = vec![0.0f32; b * h];
        let shape = format!("{b}x{h}");
        g.throughput(tp(b * h, 12));
        g.bench_function(BenchmarkId::new("latent", &shape), |bn| {
            bn.iter(|| sq_err(&a, &x, b, h, None, Some(&mut grad), 1.0).unwrap())
        });
        g.bench_function(BenchmarkId::new("naive", &shape), |bn| {
            bn.iter(|| {
                let mut total = 0.0f64;
                for ((&a, &x), g) in a.iter().zip(&x).zip(grad.iter_mut()) {
                    let d = a - x;
                    total += (d * d) as f64;
                    *g = d;
                }
                black_box(total)
            })
        });
    }
    g.finish();
}

/// The contractive penalty with gradients at 784-500, B = 100, against the
/// same closed form in scalar loops.
fn bench_contractive(c: &mut Criterion) {
    let (b, v, h) = (100, 784, 500);
    let x = seeded_vec(b * v, 15);
    let w: Vec<f32> = seeded_vec(v * h, 16).iter().map(|a| 0.05 * a).collect();
    let code: Vec<f32> = seeded_vec(b * h, 17)
        .iter()
        .map(|a| 0.5 + 0.45 * a)
        .collect();
    let mut gw = vec![0.0f32; v * h];
    let mut gc = vec![0.0f32; h];
    let mut work = vec![0.0f32; contractive_workspace_len(b, h)];
    let shape = ContractiveShape {
        batch: b,
        visible: v,
        hidden: h,
    };
    let mut g = group(c, "contractive_sigmoid");
    // 2·B·V·H flops for Xᵀ G dominate.
    g.throughput(Throughput::Elements((2 * b * v * h) as u64));
    g.bench_function(BenchmarkId::new("latent_t1", "100x784x500"), |bn| {
        bn.iter(|| {
            contractive_penalty(
                Encoder::Sigmoid,
                shape,
                &x,
                &w,
                &code,
                Some(&mut gw),
                Some(&mut gc),
                1e-3,
                &mut work,
                Par::Seq,
            )
            .unwrap()
        })
    });
    g.bench_function(BenchmarkId::new("naive", "100x784x500"), |bn| {
        bn.iter(|| {
            let n: Vec<f32> = (0..h)
                .map(|j| (0..v).map(|k| w[k * h + j] * w[k * h + j]).sum())
                .collect();
            let mut omega = 0.0f32;
            for i in 0..b {
                for j in 0..h {
                    let hh = code[i * h + j];
                    let s2 = (hh * (1.0 - hh)).powi(2);
                    omega += s2 * n[j];
                    let gij = n[j] * s2 * (1.0 - 2.0 * hh);
                    gc[j] += 2e-3 * gij;
                    for k in 0..v {
                        gw[k * h + j] += 2e-3 * (s2 * w[k * h + j] + gij * x[i * v + k]);
                    }
                }
            }
            black_box(omega)
        })
    });
    g.finish();
}

/// Registers the element-wise groups.
pub fn bench_elementwise(c: &mut Criterion) {
    bench_bias_activation(c);
    bench_activation_grad(c);
    bench_sampling(c);
    bench_reductions(c);
    bench_contractive(c);
}
