//! SGEMM: latent against matrixmultiply at the RBM and large shapes.

use criterion::{BenchmarkId, Criterion, Throughput};
use latent_bench::seeded_vec;
use latent_kernels::Par;
use latent_kernels::baseline::matrixmultiply_sgemm;
use latent_kernels::gemm::{Accum, MatMut, MatRef, sgemm};

/// (m, k, n) shapes of the issue.
const SHAPES: [(usize, usize, usize); 7] = [
    (100, 784, 500),
    (100, 500, 784),
    (784, 100, 500),
    (1000, 784, 4096),
    (512, 512, 512),
    (1024, 1024, 1024),
    (2048, 2048, 2048),
];

/// Registers the `sgemm` group: latent (1 thread and all threads) and
/// matrixmultiply, with throughput 2mnk so criterion reports GFLOP/s.
pub fn bench_gemm(c: &mut Criterion) {
    let mut group = c.benchmark_group("sgemm");
    group.sample_size(10);
    for &(m, k, n) in &SHAPES {
        let a = seeded_vec(m * k, 1);
        let b = seeded_vec(k * n, 2);
        let mut out = vec![0.0f32; m * n];
        group.throughput(Throughput::Elements(2 * (m * n * k) as u64));
        let shape = format!("{m}x{k}x{n}");
        for (name, par) in [("latent_t1", Par::Seq), ("latent_all", Par::All)] {
            group.bench_function(BenchmarkId::new(name, &shape), |bench| {
                bench.iter(|| {
                    let av = MatRef::row_major(&a, m, k).unwrap();
                    let bv = MatRef::row_major(&b, k, n).unwrap();
                    let cv = MatMut::row_major(&mut out, m, n).unwrap();
                    sgemm(1.0, av, bv, Accum::Replace, cv, par).unwrap();
                })
            });
        }
        group.bench_function(BenchmarkId::new("matrixmultiply", &shape), |bench| {
            bench.iter(|| {
                let av = MatRef::row_major(&a, m, k).unwrap();
                let bv = MatRef::row_major(&b, k, n).unwrap();
                let cv = MatMut::row_major(&mut out, m, n).unwrap();
                matrixmultiply_sgemm(1.0, av, bv, 0.0, cv).unwrap();
            })
        });
    }
    group.finish();
}
