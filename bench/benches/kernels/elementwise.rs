//! Element-wise kernels: fused activations, samplers, reductions, penalties.

use criterion::Criterion;

/// Registers the element-wise groups.
pub fn bench_elementwise(_c: &mut Criterion) {}
