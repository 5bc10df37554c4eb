//! Criterion benchmarks of latent's kernels, one group per kernel family,
//! each next to its baseline and with `Throughput` set so criterion prints
//! rates (GFLOP/s for products, elements/s and bytes/s for element-wise
//! passes).
//!
//! `cargo bench -p latent-bench --bench kernels [-- FILTER]`

use criterion::{criterion_group, criterion_main};

mod elementwise;
mod gemm;

criterion_group!(benches, gemm::bench_gemm, elementwise::bench_elementwise);
criterion_main!(benches);
