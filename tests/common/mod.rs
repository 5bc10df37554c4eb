//! Shared helpers for latent's integration tests: seeded data, f64
//! reference implementations, and the proptest strategies used across test
//! files.
#![allow(dead_code)]

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
