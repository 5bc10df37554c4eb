//! Tests of the DBN bound against brute force on tiny DBNs: the exact
//! log-likelihood and the exact expectation under `Q` against sums over
//! every configuration of the joint energies (and the log-likelihood summing
//! to one over all visible vectors), the bound below the log-likelihood row
//! by row, the Monte Carlo estimate converging to the exact expectation
//! within its standard errors (which are honest), the one-RBM case equal to
//! the RBM's `ln p(v)`, thread-count independence and typed errors.

// The f64 references index `W[i*n + j]` the way the formulas read.
#![allow(clippy::needless_range_loop)]

use latent_kernels::Par;
use latent_testkit::{TestRng, bit_vector, log_sum_exp, sigmoid64, thread_pool};

use super::*;
use crate::error::ModelError;
use crate::eval::{exact_log_z, free_energy_f64};

/// Owned DBN parameters for the tests: RBM `l` at index `l - 1`.
#[derive(Clone)]
struct Net {
    sizes: Vec<usize>,
    w: Vec<Vec<f32>>,
    /// The visible biases of each RBM.
    b: Vec<Vec<f32>>,
    /// The hidden biases of each RBM.
    c: Vec<Vec<f32>>,
    sigma: Option<Vec<f32>>,
}

impl Net {
    /// Weights uniform in `[-w_scale, w_scale)`, biases in `[-b_scale,
    /// b_scale)`, Bernoulli visibles.
    fn random(seed: u64, sizes: &[usize], w_scale: f32, b_scale: f32) -> Net {
        let mut rng = TestRng::new(seed);
        let mut scaled =
            |n: usize, s: f32| -> Vec<f32> { rng.vec(n).iter().map(|x| x * s).collect() };
        let (mut w, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        for pair in sizes.windows(2) {
            w.push(scaled(pair[0] * pair[1], w_scale));
            b.push(scaled(pair[0], b_scale));
            c.push(scaled(pair[1], b_scale));
        }
        Net {
            sizes: sizes.to_vec(),
            w,
            b,
            c,
            sigma: None,
        }
    }

    fn with_sigma(mut self, sigma: &[f32]) -> Net {
        self.sigma = Some(sigma.to_vec());
        self
    }

    fn params(&self) -> DbnParams<'_> {
        let layers = (0..self.w.len())
            .map(|k| match (&self.sigma, k) {
                (Some(s), 0) => RbmParams::gaussian(&self.w[k], &self.b[k], &self.c[k], s),
                _ => RbmParams::bernoulli(&self.w[k], &self.b[k], &self.c[k]),
            })
            .collect();
        DbnParams::new(layers)
    }

    /// `L`.
    fn top(&self) -> usize {
        self.sizes.len() - 1
    }

    /// `W^l_ij` of RBM `l`.
    fn w(&self, l: usize, i: usize, j: usize) -> f64 {
        self.w[l - 1][i * self.sizes[l] + j] as f64
    }

    /// `-E(x, y)` of RBM `l` for binary `x` (its visibles) and `y`.
    fn neg_energy(&self, l: usize, x: &[f64], y: &[f64]) -> f64 {
        let mut e = 0.0;
        for i in 0..x.len() {
            e += self.b[l - 1][i] as f64 * x[i];
        }
        for j in 0..y.len() {
            e += self.c[l - 1][j] as f64 * y[j];
            for i in 0..x.len() {
                e += x[i] * self.w(l, i, j) * y[j];
            }
        }
        e
    }

    /// Every configuration of a layer of `n` units.
    fn states(n: usize) -> Vec<Vec<f64>> {
        (0..1usize << n).map(|k| bit_vector(k, n)).collect()
    }

    /// `ln Z_L` of the top RBM over both its layers.
    fn brute_log_z_top(&self) -> f64 {
        let l = self.top();
        let mut terms = Vec::new();
        for x in Self::states(self.sizes[l - 1]) {
            for y in Self::states(self.sizes[l]) {
                terms.push(self.neg_energy(l, &x, &y));
            }
        }
        log_sum_exp(&terms)
    }

    /// `ln p*(x)` of the top RBM by summing over its hidden layer.
    fn brute_log_p_star(&self, x: &[f64]) -> f64 {
        let l = self.top();
        let terms: Vec<f64> = Self::states(self.sizes[l])
            .iter()
            .map(|y| self.neg_energy(l, x, y))
            .collect();
        log_sum_exp(&terms)
    }

    /// `ln p(x | y)` of RBM `l`'s downward conditional.
    fn log_p_down(&self, l: usize, x: &[f64], y: &[f64]) -> f64 {
        (0..x.len())
            .map(|i| {
                let mut a = self.b[l - 1][i] as f64;
                let s = match (&self.sigma, l) {
                    (Some(s), 1) => s[i] as f64,
                    _ => 1.0,
                };
                for j in 0..y.len() {
                    a += self.w(l, i, j) * y[j];
                }
                if l == 1 && self.sigma.is_some() {
                    // a = b + W h; the mean is b + σ W h.
                    let mean = self.b[0][i] as f64 + s * (a - self.b[0][i] as f64);
                    let z = (x[i] - mean) / s;
                    -0.5 * z * z - (s * (2.0 * std::f64::consts::PI).sqrt()).ln()
                } else {
                    let p = sigmoid64(a);
                    if x[i] == 1.0 { p.ln() } else { (1.0 - p).ln() }
                }
            })
            .sum()
    }

    /// `ln Q(y | x)` of RBM `l`'s upward conditional (`x` already scaled by
    /// `1/σ` for a Gaussian bottom).
    fn log_q_up(&self, l: usize, x: &[f64], y: &[f64]) -> f64 {
        (0..y.len())
            .map(|j| {
                let mut a = self.c[l - 1][j] as f64;
                for i in 0..x.len() {
                    a += x[i] * self.w(l, i, j);
                }
                let p = sigmoid64(a);
                if y[j] == 1.0 { p.ln() } else { (1.0 - p).ln() }
            })
            .sum()
    }

    /// `(ln p(v), E_Q[ln p(v, h) - ln Q(h | v)])` of one row by brute force,
    /// both with `ln Z_L` subtracted.
    fn brute(&self, v: &[f64]) -> (f64, f64) {
        let top = self.top();
        let x0: Vec<f64> = match &self.sigma {
            None => v.to_vec(),
            Some(s) => v.iter().zip(s).map(|(v, &s)| v / s as f64).collect(),
        };
        let units: usize = self.sizes[1..top].iter().sum();
        let log_z = self.brute_log_z_top();
        let (mut joint, mut expected) = (Vec::new(), 0.0);
        for k in 0..1usize << units {
            let bits = bit_vector(k, units);
            let mut at = 0;
            let h: Vec<Vec<f64>> = self.sizes[1..top]
                .iter()
                .map(|&n| {
                    at += n;
                    bits[at - n..at].to_vec()
                })
                .collect();
            let mut log_joint = self.log_p_down(1, v, &h[0]);
            let mut log_q = self.log_q_up(1, &x0, &h[0]);
            for l in 2..top {
                log_joint += self.log_p_down(l, &h[l - 2], &h[l - 1]);
                log_q += self.log_q_up(l, &h[l - 2], &h[l - 1]);
            }
            log_joint += self.brute_log_p_star(&h[top - 2]) - log_z;
            joint.push(log_joint);
            expected += log_q.exp() * (log_joint - log_q);
        }
        (log_sum_exp(&joint), expected)
    }
}

/// `rows` binary rows of `n` values, each 1 with probability 0.4.
fn binary_rows(seed: u64, rows: usize, n: usize) -> Vec<f32> {
    let mut rng = TestRng::new(seed);
    (0..rows * n)
        .map(|_| (rng.uniform(0.0, 1.0) < 0.4) as u8 as f32)
        .collect()
}

fn gaussian_rows(seed: u64, rows: usize, n: usize) -> Vec<f32> {
    let mut rng = TestRng::new(seed);
    (0..rows * n).map(|_| rng.uniform(-2.0, 2.0)).collect()
}

fn rows_for(net: &Net, seed: u64, rows: usize) -> Vec<f32> {
    match net.sigma {
        None => binary_rows(seed, rows, net.sizes[0]),
        Some(_) => gaussian_rows(seed, rows, net.sizes[0]),
    }
}

fn f64s(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&x| x as f64).collect()
}

/// The tiny DBNs of the tests: 6-5-4, 5-4-3-3, 4-3-3-2-2 (Bernoulli), and
/// 5-4-3 with Gaussian visibles.
fn nets() -> Vec<Net> {
    vec![
        Net::random(1, &[6, 5, 4], 2.0, 1.0),
        Net::random(2, &[5, 4, 3, 3], 1.5, 1.0),
        Net::random(3, &[4, 3, 3, 2, 2], 1.5, 1.0),
        Net::random(4, &[5, 4, 3], 1.0, 1.0).with_sigma(&[0.5, 1.0, 1.5, 2.0, 0.8]),
    ]
}

fn exact_ll(net: &Net, data: &[f32]) -> Vec<f64> {
    let p = net.params();
    let log_z = exact_log_z(p.top(), Par::Seq).unwrap();
    let mut out = vec![0.0; data.len() / net.sizes[0]];
    dbn_log_likelihood(&p, data, log_z, &mut out, Par::Seq).unwrap();
    out
}

fn exact_expectation(net: &Net, data: &[f32]) -> Vec<f64> {
    let mut out = vec![0.0; data.len() / net.sizes[0]];
    dbn_exact_variational_bound(&net.params(), data, &mut out, Par::Seq).unwrap();
    out
}

fn monte_carlo(net: &Net, data: &[f32], config: &DbnBoundConfig, par: Par) -> (Vec<f64>, Vec<f64>) {
    let rows = data.len() / net.sizes[0];
    let (mut mean, mut se) = (vec![0.0; rows], vec![0.0; rows]);
    dbn_variational_bound(&net.params(), data, config, &mut mean, &mut se, par).unwrap();
    (mean, se)
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0)
}

#[test]
fn exact_values_match_brute_force_over_the_joint_energies() {
    for net in nets() {
        let data = rows_for(&net, 5, 7);
        let log_z = exact_log_z(net.params().top(), Par::Seq).unwrap();
        let (ll, expectation) = (exact_ll(&net, &data), exact_expectation(&net, &data));
        for (r, v) in data.chunks_exact(net.sizes[0]).enumerate() {
            let (want_ll, want_bound) = net.brute(&f64s(v));
            assert!(
                close(ll[r], want_ll, 1e-10),
                "{:?} row {r}: {} vs {want_ll}",
                net.sizes,
                ll[r]
            );
            let bound = expectation[r] - log_z;
            assert!(
                close(bound, want_bound, 1e-10),
                "{:?} row {r}: {bound} vs {want_bound}",
                net.sizes
            );
        }
    }
}

#[test]
fn exact_log_likelihood_sums_to_one_over_every_visible_vector() {
    for net in nets().into_iter().filter(|n| n.sigma.is_none()) {
        let n0 = net.sizes[0];
        let data: Vec<f32> = (0..1usize << n0)
            .flat_map(|k| bit_vector(k, n0).into_iter().map(|x| x as f32))
            .collect();
        let total: f64 = exact_ll(&net, &data).iter().map(|l| l.exp()).sum();
        assert!(
            (total - 1.0).abs() < 1e-10,
            "{:?}: Σ p(v) = {total}",
            net.sizes
        );
    }
}

#[test]
fn exact_bound_is_below_the_log_likelihood_row_by_row() {
    for net in nets() {
        let data = rows_for(&net, 6, 20);
        let log_z = exact_log_z(net.params().top(), Par::Seq).unwrap();
        let ll = exact_ll(&net, &data);
        let bound = exact_expectation(&net, &data);
        let mut widest = 0.0f64;
        for (r, (&l, &b)) in ll.iter().zip(&bound).enumerate() {
            let gap = l - (b - log_z);
            assert!(
                gap >= -1e-12,
                "{:?} row {r}: bound {} above ln p(v) {l}",
                net.sizes,
                b - log_z
            );
            widest = widest.max(gap);
        }
        // Weights this large make the posterior far from Q's: a real gap.
        assert!(widest > 1e-3, "{:?}: widest gap {widest}", net.sizes);
    }
}

#[test]
fn monte_carlo_converges_to_the_exact_expectation() {
    for net in nets() {
        let data = rows_for(&net, 7, 8);
        let exact = exact_expectation(&net, &data);
        for samples in [200, 200_000] {
            let config = DbnBoundConfig {
                samples,
                seed: 11,
                ..DbnBoundConfig::default()
            };
            let (mean, se) = monte_carlo(&net, &data, &config, Par::All);
            for r in 0..exact.len() {
                assert!(se[r] > 0.0, "{:?} row {r}: no spread", net.sizes);
                let z = (mean[r] - exact[r]) / se[r];
                assert!(
                    z.abs() < 4.0,
                    "{:?} S={samples} row {r}: {} vs {} (se {})",
                    net.sizes,
                    mean[r],
                    exact[r],
                    se[r]
                );
            }
            if samples == 200_000 {
                // The error shrinks as 1/√S (about 2 nats a sample here):
                // within 0.015 nats of the truth.
                for r in 0..exact.len() {
                    assert!(
                        (mean[r] - exact[r]).abs() < 0.015 && se[r] < 0.005,
                        "{:?} row {r}",
                        net.sizes
                    );
                }
            }
        }
    }
}

#[test]
fn standard_errors_are_honest_across_seeds() {
    let net = Net::random(8, &[6, 5, 4], 2.0, 1.0);
    let data = rows_for(&net, 9, 1);
    let exact = exact_expectation(&net, &data)[0];
    let seeds = 400;
    let covered = (0..seeds)
        .filter(|&seed| {
            let config = DbnBoundConfig {
                samples: 50,
                seed,
                ..DbnBoundConfig::default()
            };
            let (m, s) = monte_carlo(&net, &data, &config, Par::Seq);
            (m[0] - exact).abs() <= 2.0 * s[0]
        })
        .count();
    // ±2 standard errors cover about 95 % of the runs (t with 49 degrees of
    // freedom: 94.9 %); 0.90..0.99 is more than 3 binomial sds either side.
    let rate = covered as f64 / seeds as f64;
    assert!((0.90..=0.99).contains(&rate), "coverage {rate}");
}

#[test]
fn one_rbm_gives_the_rbm_log_likelihood() {
    for net in [
        Net::random(10, &[7, 5], 1.5, 1.0),
        Net::random(11, &[5, 4], 1.0, 1.0).with_sigma(&[0.5, 1.0, 1.5, 2.0, 0.8]),
    ] {
        let data = rows_for(&net, 12, 9);
        let p = net.params();
        let mut f = vec![0.0; 9];
        free_energy_f64(&p.layers[0], &data, &mut f, Par::Seq).unwrap();
        let (mean, se) = monte_carlo(&net, &data, &DbnBoundConfig::default(), Par::All);
        let exact = exact_expectation(&net, &data);
        let log_z = exact_log_z(p.top(), Par::Seq).unwrap();
        let ll = exact_ll(&net, &data);
        for r in 0..9 {
            assert_eq!(mean[r].to_bits(), (-f[r]).to_bits());
            assert_eq!(exact[r].to_bits(), (-f[r]).to_bits());
            assert_eq!(ll[r].to_bits(), (-f[r] - log_z).to_bits());
            assert_eq!(se[r], 0.0);
        }
    }
}

#[test]
fn the_estimate_is_the_same_for_any_thread_count() {
    let net = Net::random(13, &[12, 9, 7, 5], 1.0, 0.5);
    let data = binary_rows(14, 100, 12);
    let config = DbnBoundConfig {
        samples: 7,
        seed: 3,
        samples_per_block: 24,
    };
    let bits = |(m, s): (Vec<f64>, Vec<f64>)| -> Vec<u64> {
        m.iter().chain(&s).map(|x| x.to_bits()).collect()
    };
    let seq = bits(monte_carlo(&net, &data, &config, Par::Seq));
    for threads in [1, 2, 3, 4] {
        let got =
            thread_pool(threads).install(|| bits(monte_carlo(&net, &data, &config, Par::All)));
        assert_eq!(got, seq, "{threads} threads");
    }
    // Another seed draws other samples.
    let other = DbnBoundConfig { seed: 4, ..config };
    assert_ne!(bits(monte_carlo(&net, &data, &other, Par::Seq)), seq);
}

#[test]
fn bad_inputs_are_typed_errors() {
    let net = Net::random(15, &[6, 5, 4], 1.0, 1.0);
    let data = binary_rows(16, 3, 6);
    let p = net.params();
    let (mut m, mut s) = (vec![0.0; 3], vec![0.0; 3]);
    let run = |p: &DbnParams<'_>, data: &[f32], c: DbnBoundConfig, m: &mut [f64], s: &mut [f64]| {
        dbn_variational_bound(p, data, &c, m, s, Par::Seq)
    };
    let c = DbnBoundConfig::default();
    let one = DbnBoundConfig { samples: 1, ..c };
    assert!(
        matches!(run(&p, &data, one, &mut m, &mut s), Err(ModelError::InvalidConfig { what, .. }) if what.contains("samples"))
    );
    let empty_block = DbnBoundConfig {
        samples_per_block: 0,
        ..c
    };
    assert!(matches!(
        run(&p, &data, empty_block, &mut m, &mut s),
        Err(ModelError::InvalidConfig { .. })
    ));
    assert!(matches!(
        run(&p, &data[..17], c, &mut m, &mut s),
        Err(ModelError::Shape { .. })
    ));
    assert!(matches!(
        run(&p, &data, c, &mut m[..2], &mut s),
        Err(ModelError::Shape { .. })
    ));
    assert!(matches!(
        run(&p, &data, c, &mut m, &mut s[..2]),
        Err(ModelError::Shape { .. })
    ));
    // Sizes that do not chain, a Gaussian layer above the bottom, no layers.
    let short = DbnParams::new(vec![
        p.layers[0],
        RbmParams::bernoulli(&net.w[1][..16], &net.b[1][..4], &net.c[1]),
    ]);
    assert!(matches!(
        run(&short, &data, c, &mut m, &mut s),
        Err(ModelError::Shape { .. })
    ));
    let sigma = [1.0f32; 5];
    let gaussian_top = DbnParams::new(vec![
        p.layers[0],
        RbmParams::gaussian(&net.w[1], &net.b[1], &net.c[1], &sigma),
    ]);
    assert!(matches!(
        run(&gaussian_top, &data, c, &mut m, &mut s),
        Err(ModelError::InvalidConfig { .. })
    ));
    assert!(matches!(
        run(&DbnParams::new(vec![]), &data, c, &mut m, &mut s),
        Err(ModelError::InvalidConfig { .. })
    ));
    // Too many units to enumerate below the top.
    let big = Net::random(17, &[3, 11, 10, 2], 0.1, 0.1);
    let mut out = vec![0.0; 1];
    let e = dbn_log_likelihood(&big.params(), &[0.0, 1.0, 0.0], 0.0, &mut out, Par::Seq);
    assert!(matches!(e, Err(ModelError::Unsupported { .. })), "{e:?}");
    let e = dbn_exact_variational_bound(&big.params(), &[0.0, 1.0, 0.0], &mut out, Par::Seq);
    assert!(matches!(e, Err(ModelError::Unsupported { .. })), "{e:?}");
}

#[test]
fn top_base_rate_comes_from_the_up_pass_means() {
    let sigma = [0.5f32, 1.0, 1.5, 2.0, 0.8];
    for net in [
        Net::random(18, &[6, 5, 4], 2.0, 1.0),
        Net::random(19, &[5, 4, 3, 3], 1.5, 1.0).with_sigma(&sigma),
    ] {
        let data = rows_for(&net, 20, 30);
        let got = dbn_top_base_rate_visible_bias(&net.params(), &data, Par::All).unwrap();
        let top = net.top();
        let mut sums = vec![0.0f64; net.sizes[top - 1]];
        for v in data.chunks_exact(net.sizes[0]) {
            let mut x: Vec<f64> = match &net.sigma {
                None => f64s(v),
                Some(s) => v
                    .iter()
                    .zip(s)
                    .map(|(&v, &s)| v as f64 / s as f64)
                    .collect(),
            };
            for l in 1..top {
                x = (0..net.sizes[l])
                    .map(|j| {
                        let a: f64 = (0..x.len()).map(|i| x[i] * net.w(l, i, j)).sum();
                        sigmoid64(net.c[l - 1][j] as f64 + a)
                    })
                    .collect();
            }
            sums.iter_mut().zip(&x).for_each(|(s, x)| *s += x);
        }
        for (j, (&g, s)) in got.iter().zip(&sums).enumerate() {
            let p = (s / 30.0).clamp(1e-3, 1.0 - 1e-3);
            let want = (p / (1.0 - p)).ln();
            assert!(
                (g as f64 - want).abs() < 1e-4,
                "{:?} unit {j}: {g} vs {want}",
                net.sizes
            );
        }
    }
    // One RBM: the data's own base rate.
    let net = Net::random(21, &[6, 4], 1.0, 1.0);
    let data = binary_rows(22, 10, 6);
    let p = net.params();
    let want = crate::eval::base_rate_visible_bias(&p.layers[0], &data).unwrap();
    assert_eq!(
        dbn_top_base_rate_visible_bias(&p, &data, Par::Seq).unwrap(),
        want
    );
}
