//! Samplers on every instruction set this CPU has: the vector generator
//! against the scalar xoshiro128+ lanes, bit-identical results for 1, 2 and
//! 4 threads, the uniform chi-square, Bernoulli and Gaussian moments within
//! a few standard errors, the fused sigmoid–Bernoulli pass, noise, errors.

use latent_kernels::activation::{Activation, bias_activation_on};
use latent_kernels::random::{
    Scale, Streams, bernoulli_on, gaussian_noise_on, gaussian_on, gaussian_reparam_on,
    mask_noise_on, salt_pepper_on, sigmoid_bernoulli_on, uniform_on,
};
use latent_kernels::{Isa, KernelError, Par};
use latent_testkit::{TestRng, f32_bits, present_isas, thread_pool as pool};

mod distributions;
mod streams;

/// Runs `f` with 1 (`Par::Seq`), 2 and 4 threads and checks the outputs
/// are bit-identical; returns the output.
fn same_for_every_thread_count(f: impl Fn(Par) -> Vec<f32> + Sync) -> Vec<f32> {
    let one = pool(1).install(|| f(Par::Seq));
    for n in [2, 4] {
        let many = pool(n).install(|| f(Par::Rayon(n)));
        assert_eq!(f32_bits(&one), f32_bits(&many), "{n} threads");
    }
    one
}

/// Mean and variance of `x` in f64.
fn moments(x: impl Iterator<Item = f64>) -> (f64, f64, usize) {
    let v: Vec<f64> = x.collect();
    let n = v.len();
    let m = v.iter().sum::<f64>() / n as f64;
    let var = v.iter().map(|a| (a - m).powi(2)).sum::<f64>() / (n - 1) as f64;
    (m, var, n)
}
