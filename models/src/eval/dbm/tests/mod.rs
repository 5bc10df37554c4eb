//! Tests of the DBM evaluation against direct `f64` computations: exact
//! `ln Z` and log-likelihoods against brute force over every layer (and
//! numerical integration for Gaussian visibles), the mean-field bound against
//! its definition and the exact log-likelihood, AIS against exact
//! enumeration ([`ais`]), thread-count independence and typed errors.

// The f64 references index `W^l[i*n_l + j]` the way the formulas read.
#![allow(clippy::needless_range_loop)]

use latent_kernels::Par;
use latent_testkit::{TestRng, bit_vector, log_sum_exp, sigmoid64, thread_pool};

use super::*;
use crate::error::ModelError;

mod ais;
mod bound;

/// Owned DBM parameters for the tests.
#[derive(Clone)]
struct Dbm {
    sizes: Vec<usize>,
    w: Vec<Vec<f32>>,
    b: Vec<Vec<f32>>,
    sigma: Option<Vec<f32>>,
}

impl Dbm {
    /// Weights uniform in `[-w_scale, w_scale)`, biases in `[-b_scale,
    /// b_scale)`, Bernoulli visibles.
    fn random(seed: u64, sizes: &[usize], w_scale: f32, b_scale: f32) -> Dbm {
        let mut rng = TestRng::new(seed);
        let scaled = |rng: &mut TestRng, n: usize, s: f32| -> Vec<f32> {
            rng.vec(n).iter().map(|x| x * s).collect()
        };
        let w = (1..sizes.len())
            .map(|l| scaled(&mut rng, sizes[l - 1] * sizes[l], w_scale))
            .collect();
        let b = sizes
            .iter()
            .map(|&n| scaled(&mut rng, n, b_scale))
            .collect();
        Dbm {
            sizes: sizes.to_vec(),
            w,
            b,
            sigma: None,
        }
    }

    fn with_sigma(mut self, sigma: &[f32]) -> Dbm {
        self.sigma = Some(sigma.to_vec());
        self
    }

    fn params(&self) -> DbmParams<'_> {
        let w = self.w.iter().map(|w| &w[..]).collect();
        let b = self.b.iter().map(|b| &b[..]).collect();
        match &self.sigma {
            None => DbmParams::bernoulli(w, b),
            Some(s) => DbmParams::gaussian(w, b, s),
        }
    }

    /// `W^l_ij`.
    fn w(&self, l: usize, i: usize, j: usize) -> f64 {
        self.w[l - 1][i * self.sizes[l] + j] as f64
    }

    fn top(&self) -> usize {
        self.sizes.len() - 1
    }

    /// `x^0`: `v`, or `v/σ`.
    fn x0(&self, v: &[f64]) -> Vec<f64> {
        match &self.sigma {
            None => v.to_vec(),
            Some(s) => v.iter().zip(s).map(|(v, &s)| v / s as f64).collect(),
        }
    }

    /// `-e_0(v)`.
    fn visible_term(&self, v: &[f64]) -> f64 {
        let b = &self.b[0];
        match &self.sigma {
            None => (0..v.len()).map(|i| v[i] * b[i] as f64).sum(),
            Some(s) => (0..v.len())
                .map(|i| -0.5 * ((v[i] - b[i] as f64) / s[i] as f64).powi(2))
                .sum(),
        }
    }

    /// `-E(v, h¹, …, hᴸ)` straight from the definition.
    fn neg_energy(&self, v: &[f64], h: &[Vec<f64>]) -> f64 {
        let mut e = self.visible_term(v);
        let x0 = self.x0(v);
        for l in 1..=self.top() {
            let below = if l == 1 { &x0 } else { &h[l - 2] };
            let hl = &h[l - 1];
            for j in 0..self.sizes[l] {
                e += self.b[l][j] as f64 * hl[j];
                for i in 0..self.sizes[l - 1] {
                    e += below[i] * self.w(l, i, j) * hl[j];
                }
            }
        }
        e
    }

    /// Every configuration of the hidden layers.
    fn hidden_states(&self) -> Vec<Vec<Vec<f64>>> {
        let n: usize = self.sizes[1..].iter().sum();
        (0..1usize << n)
            .map(|k| {
                let bits = bit_vector(k, n);
                let mut at = 0;
                self.sizes[1..]
                    .iter()
                    .map(|&s| {
                        at += s;
                        bits[at - s..at].to_vec()
                    })
                    .collect()
            })
            .collect()
    }

    /// `ln Σ_h e^{-E(v, h)}` by brute force over every hidden layer.
    fn brute_log_marginal(&self, v: &[f64]) -> f64 {
        let terms: Vec<f64> = self
            .hidden_states()
            .iter()
            .map(|h| self.neg_energy(v, h))
            .collect();
        log_sum_exp(&terms)
    }

    /// `ln Z` by brute force over every layer (Bernoulli visibles).
    fn brute_log_z(&self) -> f64 {
        let terms: Vec<f64> = (0..1usize << self.sizes[0])
            .map(|k| self.brute_log_marginal(&bit_vector(k, self.sizes[0])))
            .collect();
        log_sum_exp(&terms)
    }

    /// Mean-field posteriors `μ^1..μ^L` of one row: `μ = 0.5` everywhere,
    /// then `sweeps` sweeps of `μ^l ← σ(b^l + W^lᵀμ^{l-1} + W^{l+1}μ^{l+1})`,
    /// `l = 1..L` in order (each a coordinate ascent step on the bound).
    fn mean_field(&self, v: &[f64], sweeps: usize) -> Vec<Vec<f64>> {
        let x0 = self.x0(v);
        let mut mu: Vec<Vec<f64>> = self.sizes[1..].iter().map(|&n| vec![0.5; n]).collect();
        for _ in 0..sweeps {
            for l in 1..=self.top() {
                for j in 0..self.sizes[l] {
                    let mut a = self.b[l][j] as f64;
                    let below = if l == 1 { &x0 } else { &mu[l - 2] };
                    for i in 0..self.sizes[l - 1] {
                        a += below[i] * self.w(l, i, j);
                    }
                    if l < self.top() {
                        for k in 0..self.sizes[l + 1] {
                            a += self.w(l + 1, j, k) * mu[l][k];
                        }
                    }
                    mu[l - 1][j] = sigmoid64(a);
                }
            }
        }
        mu
    }

    /// `-E_q(v, μ) + H(q)` from the definition.
    fn bound_f64(&self, v: &[f64], mu: &[Vec<f64>]) -> f64 {
        let entropy: f64 = mu
            .iter()
            .flatten()
            .map(|&m| {
                let t = |x: f64| if x > 0.0 { -x * x.ln() } else { 0.0 };
                t(m) + t(1.0 - m)
            })
            .sum();
        // -E is linear in each layer's state, and q factorises over layers.
        self.neg_energy(v, mu) + entropy
    }
}

/// `rows` binary rows of `n` values, each 1 with probability 0.4.
fn binary_rows(seed: u64, rows: usize, n: usize) -> Vec<f32> {
    let mut rng = TestRng::new(seed);
    (0..rows * n)
        .map(|_| (rng.uniform(0.0, 1.0) < 0.4) as u8 as f32)
        .collect()
}

fn f64s(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&x| x as f64).collect()
}

fn rel_close(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= tol * want.abs().max(1.0)
}

// ---------------------------------------------------------------- exact

#[test]
fn exact_log_z_matches_brute_force_over_all_layers() {
    for (k, sizes) in [&[4, 3, 2][..], &[3, 2, 3, 2], &[2, 2, 2, 2, 2], &[1, 4, 1]]
        .iter()
        .enumerate()
    {
        for seed in 0..3 {
            let dbm = Dbm::random(100 * k as u64 + seed, sizes, 1.5, 1.0);
            let want = dbm.brute_log_z();
            for side in [DbmExactSide::Even, DbmExactSide::Odd] {
                let got = dbm_exact_log_z_over(&dbm.params(), side, Par::Seq).unwrap();
                assert!(
                    rel_close(got, want, 1e-12),
                    "{sizes:?} {side:?}: {got} vs {want}"
                );
            }
            let got = dbm_exact_log_z(&dbm.params(), Par::All).unwrap();
            assert!(rel_close(got, want, 1e-12), "{sizes:?}: {got} vs {want}");
        }
    }
}

#[test]
fn exact_log_likelihood_matches_brute_force_and_sums_to_one() {
    for sizes in [&[4, 3, 2][..], &[3, 2, 3, 2], &[3, 4, 1, 2]] {
        let dbm = Dbm::random(7, sizes, 1.2, 0.8);
        let nv = sizes[0];
        let all: Vec<f32> = (0..1usize << nv)
            .flat_map(|k| bit_vector(k, nv))
            .map(|x| x as f32)
            .collect();
        let log_z = dbm_exact_log_z(&dbm.params(), Par::Seq).unwrap();
        let mut ll = vec![0.0f64; 1 << nv];
        dbm_log_likelihood(&dbm.params(), &all, log_z, &mut ll, Par::All).unwrap();
        for (k, &got) in ll.iter().enumerate() {
            let want = dbm.brute_log_marginal(&bit_vector(k, nv)) - dbm.brute_log_z();
            assert!(
                rel_close(got, want, 1e-12),
                "{sizes:?} v={k}: {got} vs {want}"
            );
        }
        let total: f64 = ll.iter().map(|l| l.exp()).sum();
        assert!((total - 1.0).abs() < 1e-12, "{sizes:?}: Σ p(v) = {total}");
        let mean = dbm_exact_average_log_likelihood(&dbm.params(), &all, Par::Seq).unwrap();
        let want = ll.iter().sum::<f64>() / ll.len() as f64;
        assert!(rel_close(mean, want, 1e-14), "{mean} vs {want}");
    }
}

#[test]
fn gaussian_exact_log_z_matches_numerical_integration() {
    // One visible unit: ln ∫ Σ_h e^{-E(v, h)} dv by Simpson's rule on a
    // grid wide enough that the tails are below 1e-30 of the mass.
    for (seed, sigma) in [(1u64, 0.7f32), (2, 1.0), (3, 1.6)] {
        let dbm = Dbm::random(seed, &[1, 3, 2], 1.0, 0.8).with_sigma(&[sigma]);
        let (lo, hi, n) = (-40.0f64, 40.0f64, 80_000usize);
        let step = (hi - lo) / n as f64;
        let terms: Vec<f64> = (0..=n)
            .map(|k| {
                let weight = if k == 0 || k == n {
                    1.0
                } else {
                    [2.0, 4.0][k % 2]
                };
                (weight * step / 3.0).ln() + dbm.brute_log_marginal(&[lo + k as f64 * step])
            })
            .collect();
        let want = log_sum_exp(&terms);
        let got = dbm_exact_log_z(&dbm.params(), Par::Seq).unwrap();
        assert!(rel_close(got, want, 1e-10), "σ={sigma}: {got} vs {want}");
    }
}

#[test]
fn gaussian_exact_log_z_and_marginals_match_brute_force() {
    // ln Z = ln Σ_h ∫ e^{-E} dv with the Gaussian integral per visible:
    // ∫ e^{-(v-b)²/(2σ²) + v a/σ} dv = √(2π) σ e^{a b/σ + a²/2}, a = W¹h¹.
    let sigma = [0.5f32, 1.0, 2.0];
    let dbm = Dbm::random(11, &[3, 3, 2, 2], 1.0, 0.8).with_sigma(&sigma);
    let terms: Vec<f64> = dbm
        .hidden_states()
        .iter()
        .map(|h| {
            let mut t = dbm.neg_energy(&[0.0; 3], h) - dbm.visible_term(&[0.0; 3]);
            for i in 0..3 {
                let (b, s) = (dbm.b[0][i] as f64, sigma[i] as f64);
                let a: f64 = (0..3).map(|j| dbm.w(1, i, j) * h[0][j]).sum();
                t += (2.0 * std::f64::consts::PI).sqrt().ln() + s.ln() + a * b / s + 0.5 * a * a;
            }
            t
        })
        .collect();
    let want = log_sum_exp(&terms);
    let got = dbm_exact_log_z(&dbm.params(), Par::All).unwrap();
    assert!(rel_close(got, want, 1e-12), "{got} vs {want}");

    let data = [0.3f32, -1.2, 2.5, -0.4, 0.0, 1.1];
    let mut out = [0.0f64; 2];
    dbm_log_marginal_unnormalised(&dbm.params(), &data, &mut out, Par::Seq).unwrap();
    for r in 0..2 {
        let want = dbm.brute_log_marginal(&f64s(&data[r * 3..r * 3 + 3]));
        assert!(
            rel_close(out[r], want, 1e-12),
            "row {r}: {} vs {want}",
            out[r]
        );
    }
}

#[test]
fn exact_results_are_identical_for_any_thread_count() {
    // 14 odd units: 4 blocks of 2^12 configurations.
    let dbm = Dbm::random(5, &[6, 7, 6, 7], 0.8, 0.5);
    let data = binary_rows(3, 40, 6);
    let run = || {
        let z = dbm_exact_log_z_over(&dbm.params(), DbmExactSide::Odd, Par::All).unwrap();
        let mut ll = vec![0.0f64; 40];
        dbm_log_likelihood(&dbm.params(), &data, z, &mut ll, Par::All).unwrap();
        (
            z.to_bits(),
            ll.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        )
    };
    let seq = dbm_exact_log_z_over(&dbm.params(), DbmExactSide::Odd, Par::Seq).unwrap();
    let one = thread_pool(1).install(run);
    let two = thread_pool(2).install(run);
    assert_eq!(one, two);
    assert_eq!(one.0, seq.to_bits());
    let even = dbm_exact_log_z_over(&dbm.params(), DbmExactSide::Even, Par::All).unwrap();
    assert!(rel_close(even, seq, 1e-12), "{even} vs {seq}");
}

// ---------------------------------------------------------------- errors

#[test]
fn invalid_parameters_are_refused_with_the_shapes() {
    let dbm = Dbm::random(1, &[4, 3, 2], 1.0, 1.0);
    let mut p = dbm.params();
    p.biases.pop();
    p.weights.pop();
    let err = dbm_exact_log_z(&p, Par::Seq).unwrap_err();
    assert!(err.to_string().contains("[4, 3]"), "{err}");

    let mut p = dbm.params();
    p.weights[1] = &dbm.w[1][..5];
    let err = p.validate().unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::Shape {
                expected: 6,
                found: 5,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("W^2 (3 x 2"), "{err}");

    let mut p = dbm.params();
    p.weights.pop();
    assert!(matches!(
        p.validate(),
        Err(ModelError::Shape {
            expected: 2,
            found: 1,
            ..
        })
    ));

    let sigma = [1.0f32, 1.0, 0.0, 1.0];
    let g = dbm.clone().with_sigma(&sigma);
    let err = g.params().validate().unwrap_err();
    assert!(matches!(err, ModelError::InvalidConfig { .. }), "{err:?}");
    let g = dbm.clone().with_sigma(&sigma[..3]);
    assert!(matches!(
        g.params().validate(),
        Err(ModelError::Shape {
            expected: 4,
            found: 3,
            ..
        })
    ));

    let g = dbm.clone().with_sigma(&[1.0; 4]);
    let err = dbm_exact_log_z_over(&g.params(), DbmExactSide::Even, Par::Seq).unwrap_err();
    assert!(matches!(err, ModelError::Unsupported { .. }), "{err:?}");
}

#[test]
fn too_large_models_and_bad_buffers_are_refused() {
    let big = Dbm::random(1, &[30, 25, 30], 0.1, 0.1);
    let err = dbm_exact_log_z(&big.params(), Par::Seq).unwrap_err();
    assert!(matches!(err, ModelError::Unsupported { .. }), "{err:?}");
    assert!(err.to_string().contains("2^25"), "{err}");
    let deep = Dbm::random(1, &[2, 13, 13, 13, 13], 0.1, 0.1);
    let mut out = [0.0f64; 1];
    let err =
        dbm_log_marginal_unnormalised(&deep.params(), &[0.0, 1.0], &mut out, Par::Seq).unwrap_err();
    assert!(err.to_string().contains("2^26"), "{err}");

    let dbm = Dbm::random(1, &[4, 3, 2], 1.0, 1.0);
    let data = binary_rows(1, 3, 4);
    let mut out = [0.0f64; 3];
    let err = dbm_log_likelihood(&dbm.params(), &data[..10], 0.0, &mut out, Par::Seq);
    assert!(matches!(
        err,
        Err(ModelError::Shape {
            expected: 8,
            found: 10,
            ..
        })
    ));
    let err = dbm_log_likelihood(&dbm.params(), &data, 0.0, &mut out[..2], Par::Seq);
    assert!(matches!(
        err,
        Err(ModelError::Shape {
            expected: 3,
            found: 2,
            ..
        })
    ));
    let err = dbm_exact_average_log_likelihood(&dbm.params(), &[], Par::Seq);
    assert!(matches!(
        err,
        Err(ModelError::Shape {
            expected: 1,
            found: 0,
            ..
        })
    ));
}
