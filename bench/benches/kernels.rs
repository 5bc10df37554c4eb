//! Criterion benchmarks of latent's kernels.
fn main() {}
