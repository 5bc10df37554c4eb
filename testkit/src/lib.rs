//! The test kit every latent test suite shares (a dev-dependency only):
//! a seeded random stream ([`TestRng`]), `f64` references
//! ([`sigmoid64`], [`softplus64`], [`act64`], [`dact64`], [`log_sum_exp`]),
//! tolerances ([`ulp_diff`], [`rel_err`]), bit patterns ([`f32_bits`],
//! [`bit_vector`]), thread pools of a given size ([`thread_pool`]),
//! the instruction sets to test ([`present_isas`]), the proptest strategies
//! more than one test uses ([`strategies`]), the counting allocator of the
//! no-allocation tests ([`alloc_count`]) and, with the `engine` feature, a
//! small real model for the engine's tests (`engine`) and the MNIST test
//! split of the long tests (`mnist`).

#![warn(missing_docs)]

#[cfg(feature = "engine")]
pub mod engine;
#[cfg(feature = "engine")]
pub mod mnist;
pub mod strategies;

/// The counting global allocator of the no-allocation tests (the
/// `alloc-count` feature of `latent-kernels`, enabled here).
pub use latent_kernels::alloc_count;

use latent_kernels::{Activation, Isa};

/// A SplitMix64 stream: deterministic test data without extra crates.
pub struct TestRng(u64);

impl TestRng {
    /// A stream from `seed`.
    pub fn new(seed: u64) -> Self {
        TestRng(seed ^ 0xD1B5_4A32_D192_ED03)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * u
    }

    /// A vector of `len` values uniform in `[-1, 1)`.
    pub fn vec(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.uniform(-1.0, 1.0)).collect()
    }

    /// A vector of `len` small integers in `[-r, r]`, exactly representable.
    pub fn int_vec(&mut self, len: usize, r: i64) -> Vec<f32> {
        (0..len)
            .map(|_| ((self.next_u64() % (2 * r as u64 + 1)) as i64 - r) as f32)
            .collect()
    }
}

/// Instruction sets to test, for the element-wise kernel tests; prints a
/// `SKIP:` line for each one this CPU lacks.
pub fn present_isas() -> Vec<Isa> {
    Isa::ALL
        .into_iter()
        .filter(|isa| {
            let ok = isa.is_available();
            if !ok {
                eprintln!("SKIP: {isa} not supported by this CPU; its kernels are not tested here");
            }
            ok
        })
        .collect()
}

/// Distance in units in the last place between two `f32` (0 for `+0` and
/// `-0`; `u64::MAX` if exactly one is NaN, 0 if both are).
pub fn ulp_diff(a: f32, b: f32) -> u64 {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() && b.is_nan() {
            0
        } else {
            u64::MAX
        };
    }
    let key = |x: f32| -> i64 {
        let bits = x.to_bits();
        if bits >> 31 == 1 {
            -((bits & 0x7fff_ffff) as i64)
        } else {
            bits as i64
        }
    };
    (key(a) - key(b)).unsigned_abs()
}

/// The relative error of the style guide: `|a-n| / max(|a|, |n|, 1e-8)`.
pub fn rel_err(a: f64, n: f64) -> f64 {
    (a - n).abs() / a.abs().max(n.abs()).max(1e-8)
}

/// `σ(x)` in `f64`, in the stable form.
pub fn sigmoid64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `softplus(x) = ln(1+e^x)` in `f64`, in the stable form.
pub fn softplus64(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// `act(x)` of a kernel activation in `f64`.
pub fn act64(act: Activation, x: f64) -> f64 {
    match act {
        Activation::Identity => x,
        Activation::Sigmoid => sigmoid64(x),
        Activation::Relu => x.max(0.0),
        Activation::Tanh => x.tanh(),
        Activation::Softplus => softplus64(x),
    }
}

/// `act'(x)` of a kernel activation in `f64`, from the pre-activation.
pub fn dact64(act: Activation, x: f64) -> f64 {
    match act {
        Activation::Identity => 1.0,
        Activation::Sigmoid => sigmoid64(x) * (1.0 - sigmoid64(x)),
        Activation::Relu => {
            if x > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::Tanh => 1.0 - x.tanh().powi(2),
        Activation::Softplus => sigmoid64(x),
    }
}

/// `ln Σ exp(xᵢ)` in `f64`, shifted by the maximum.
pub fn log_sum_exp(xs: &[f64]) -> f64 {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + xs.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// The `n` low bits of `value` as `0.0`/`1.0`, bit `i` at index `i`: one
/// configuration of `n` binary units, for sums over all `2^n` of them.
pub fn bit_vector(value: usize, n: usize) -> Vec<f64> {
    (0..n).map(|i| ((value >> i) & 1) as f64).collect()
}

/// The bit patterns of `v`, for bit-for-bit comparisons.
pub fn f32_bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// A rayon pool of exactly `threads` threads.
pub fn thread_pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulp_diff_counts_across_zero_and_nan() {
        assert_eq!(ulp_diff(0.0, -0.0), 0);
        assert_eq!(ulp_diff(1.0, f32::from_bits(1.0f32.to_bits() + 3)), 3);
        assert_eq!(ulp_diff(f32::from_bits(1), -f32::from_bits(1)), 2);
        assert_eq!(ulp_diff(f32::NAN, 1.0), u64::MAX);
        assert_eq!(ulp_diff(f32::NAN, f32::NAN), 0);
    }

    #[test]
    fn references_match_closed_forms() {
        for x in [-30.0f64, -1.5, 0.0, 0.7, 25.0] {
            assert!(rel_err(sigmoid64(x), 1.0 / (1.0 + (-x).exp())) < 1e-15);
            assert!(rel_err(softplus64(x), x.exp().ln_1p()) < 1e-15);
        }
    }

    #[test]
    fn bit_vector_and_log_sum_exp_enumerate_configurations() {
        assert_eq!(bit_vector(0b1101, 5), vec![1.0, 0.0, 1.0, 1.0, 0.0]);
        let all: Vec<f64> = (0..8).map(|k| bit_vector(k, 3).iter().sum()).collect();
        // Σ over 3 bits of e^{#ones} = (1 + e)^3.
        let want = 3.0 * 1f64.exp().ln_1p();
        assert!(rel_err(log_sum_exp(&all), want) < 1e-15);
        assert_eq!(log_sum_exp(&[1000.0, 1000.0]), 1000.0 + 2f64.ln());
    }

    #[test]
    fn act64_and_dact64_agree_with_finite_differences() {
        for act in Activation::ALL {
            for x in [-2.0f64, -0.3, 0.4, 1.7] {
                let h = 1e-6;
                let fd = (act64(act, x + h) - act64(act, x - h)) / (2.0 * h);
                assert!((fd - dact64(act, x)).abs() < 1e-8, "{act:?} at {x}");
            }
        }
    }

    #[test]
    fn test_rng_is_seeded_and_in_range() {
        let (mut a, mut b) = (TestRng::new(3), TestRng::new(3));
        assert_eq!(a.next_u64(), b.next_u64());
        assert_ne!(TestRng::new(4).next_u64(), TestRng::new(3).next_u64());
        assert!(a.vec(1000).iter().all(|v| (-1.0..1.0).contains(v)));
        assert!(
            a.int_vec(1000, 3)
                .iter()
                .all(|v| v.abs() <= 3.0 && v.fract() == 0.0)
        );
    }
}
