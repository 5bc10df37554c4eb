//! Criterion benchmarks of whole model operations: the CD-1 gradient of a
//! Bernoulli RBM (the bulk of a training step: positive phase, chain, bias
//! and weight gradients) and its inference calls, with `Throughput` set to
//! the FLOP of their products so criterion prints GFLOP/s.
//!
//! `cargo bench -p latent-bench --bench models [-- FILTER]`
//!
//! On a shared machine, where one run of `rbm-epoch` can move by 10 % with
//! the neighbours' load, criterion's repeated samples and its comparison
//! against a saved baseline (`-- --save-baseline before`, then
//! `-- --baseline before`) are the way to tell a change of a few percent
//! from noise.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use latent_bench::seeded_vec;
use latent_engine::Matrix;
use latent_engine::train::Model;
use latent_kernels::Par;
use latent_kernels::gemm::{MatMut, MatRef};
use latent_models::rbm::{Rbm, RbmConfig};

/// A `rows x 784` binary matrix with about 13 % ones (binarised MNIST's
/// density), from a fixed seed.
fn binary_data(rows: usize) -> Vec<f32> {
    seeded_vec(rows * 784, 7)
        .into_iter()
        .map(|u| if u.abs() < 0.13 { 1.0 } else { 0.0 })
        .collect()
}

/// The `rbm` group: CD-1 gradients at 784-500 (batch 100) and 784-4096
/// (batch 1000), then `transform` and `free_energy` on 1000 rows at
/// 784-500, each on 1 thread and on all threads.
fn bench_rbm(c: &mut Criterion) {
    let mut group = c.benchmark_group("rbm");
    group.sample_size(10);
    for &(hidden, batch) in &[(500usize, 100usize), (4096, 1000)] {
        let x = binary_data(batch);
        let mut rbm = Rbm::new(RbmConfig::bernoulli(784, hidden), 1).expect("rbm");
        let mut grads = rbm.params().zeros_like().expect("gradient buffers");
        // CD-1: five V x H products of 2·B·V·H FLOP each.
        group.throughput(Throughput::Elements(10 * (784 * hidden * batch) as u64));
        for (name, par) in [("t1", Par::Seq), ("all", Par::All)] {
            let id = BenchmarkId::new(
                format!("cd1_gradient_{name}"),
                format!("784x{hidden}_b{batch}"),
            );
            let mut seed = 0u64;
            group.bench_function(id, |bench| {
                bench.iter(|| {
                    seed += 1;
                    let xv = MatRef::row_major(&x, batch, 784).unwrap();
                    rbm.cd_gradient(xv, &mut grads, seed, par).unwrap()
                })
            });
        }
    }
    let rows = 1000;
    let x = binary_data(rows);
    let rbm = Rbm::new(RbmConfig::bernoulli(784, 500), 1).expect("rbm");
    let mut hidden = Matrix::zeros(rows, 500).expect("buffer");
    let mut energies = vec![0.0f32; rows];
    group.throughput(Throughput::Elements(2 * (784 * 500 * rows) as u64));
    for (name, par) in [("t1", Par::Seq), ("all", Par::All)] {
        group.bench_function(
            BenchmarkId::new(format!("transform_{name}"), "784x500_n1000"),
            |bench| {
                bench.iter(|| {
                    let xv = MatRef::row_major(&x, rows, 784).unwrap();
                    let hv: MatMut<'_> = hidden.view_mut();
                    rbm.transform(xv, hv, par).unwrap()
                })
            },
        );
        group.bench_function(
            BenchmarkId::new(format!("free_energy_{name}"), "784x500_n1000"),
            |bench| {
                bench.iter(|| {
                    let xv = MatRef::row_major(&x, rows, 784).unwrap();
                    rbm.free_energy(xv, &mut energies, par).unwrap()
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench_rbm);
criterion_main!(benches);
