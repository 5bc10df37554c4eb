//! Likelihood evaluation of RBMs (`latent::models::eval`): free energy,
//! exact `ln Z` against brute force and numerical integration, AIS against
//! the exact value on trained models, pseudo-log-likelihood against its
//! definition, thread-count independence and typed errors.

// The f64 references index `W[i*H + j]` the way the formulas read.
#![allow(clippy::needless_range_loop)]

use latent_testkit as common;

use common::{TestRng, sigmoid64, softplus64};
use latent::kernels::Par;
use latent::models::ModelError;
use latent::models::eval::{
    AisConfig, ExactSide, MAX_EXACT_UNITS, RbmParams, ais_log_z, average_log_likelihood,
    base_rate_visible_bias, exact_average_log_likelihood, exact_log_z, exact_log_z_over,
    free_energy, free_energy_f64, piecewise_linear_betas, pll_flip_indices, pseudo_log_likelihood,
    pseudo_log_likelihood_with_flips,
};
use std::time::Instant;

/// Owned RBM parameters for the tests.
#[derive(Clone)]
struct Rbm {
    v: usize,
    h: usize,
    w: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
    sigma: Option<Vec<f32>>,
}

impl Rbm {
    fn random(rng: &mut TestRng, v: usize, h: usize, scale: f32) -> Rbm {
        Rbm {
            v,
            h,
            w: rng.vec(v * h).iter().map(|x| x * scale).collect(),
            b: rng.vec(v).iter().map(|x| x * scale).collect(),
            c: rng.vec(h).iter().map(|x| x * scale).collect(),
            sigma: None,
        }
    }

    fn params(&self) -> RbmParams<'_> {
        match &self.sigma {
            None => RbmParams::bernoulli(&self.w, &self.b, &self.c),
            Some(s) => RbmParams::gaussian(&self.w, &self.b, &self.c, s),
        }
    }

    fn w(&self, i: usize, j: usize) -> f64 {
        self.w[i * self.h + j] as f64
    }

    /// `-E(v, h)` in f64 (Bernoulli).
    fn neg_energy(&self, v: &[f64], h: &[f64]) -> f64 {
        let mut e = 0.0;
        for i in 0..self.v {
            e += self.b[i] as f64 * v[i];
            for j in 0..self.h {
                e += v[i] * self.w(i, j) * h[j];
            }
        }
        e + (0..self.h).map(|j| self.c[j] as f64 * h[j]).sum::<f64>()
    }

    /// `F(v)` straight from MODELS.md 2.1 / 2.2, in f64.
    fn free_energy(&self, v: &[f32]) -> f64 {
        let x = |i: usize| match &self.sigma {
            None => v[i] as f64,
            Some(s) => v[i] as f64 / s[i] as f64,
        };
        let hidden: f64 = (0..self.h)
            .map(|j| {
                softplus64(self.c[j] as f64 + (0..self.v).map(|i| x(i) * self.w(i, j)).sum::<f64>())
            })
            .sum();
        let visible: f64 = match &self.sigma {
            None => -(0..self.v)
                .map(|i| self.b[i] as f64 * v[i] as f64)
                .sum::<f64>(),
            Some(s) => (0..self.v)
                .map(|i| {
                    let d = v[i] as f64 - self.b[i] as f64;
                    d * d / (2.0 * s[i] as f64 * s[i] as f64)
                })
                .sum(),
        };
        visible - hidden
    }
}

fn bits(n: usize, k: usize) -> Vec<f64> {
    (0..n).map(|i| ((k >> i) & 1) as f64).collect()
}

fn lse(xs: &[f64]) -> f64 {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + xs.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// `ln Z` by enumerating the full joint `(v, h)`.
fn brute_log_z(rbm: &Rbm) -> f64 {
    let mut terms = Vec::new();
    for kv in 0..1usize << rbm.v {
        let v = bits(rbm.v, kv);
        for kh in 0..1usize << rbm.h {
            terms.push(rbm.neg_energy(&v, &bits(rbm.h, kh)));
        }
    }
    lse(&terms)
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

fn binary_data(rng: &mut TestRng, rows: usize, v: usize) -> Vec<f32> {
    (0..rows * v)
        .map(|_| (rng.uniform(0.0, 1.0) < 0.4) as u8 as f32)
        .collect()
}

// ---------------------------------------------------------------- free energy

#[test]
fn free_energy_matches_the_f64_formula() {
    let mut rng = TestRng::new(11);
    for gaussian in [false, true] {
        let mut rbm = Rbm::random(&mut rng, 13, 7, 1.0);
        let rows = 37;
        let data = if gaussian {
            rbm.sigma = Some((0..13).map(|i| 0.5 + 0.1 * i as f32).collect());
            rng.vec(rows * 13).iter().map(|x| 2.0 * x).collect()
        } else {
            binary_data(&mut rng, rows, 13)
        };
        let mut f32_out = vec![f32::NAN; rows];
        let mut f64_out = vec![f64::NAN; rows];
        free_energy(&rbm.params(), &data, &mut f32_out, Par::All).unwrap();
        free_energy_f64(&rbm.params(), &data, &mut f64_out, Par::All).unwrap();
        for r in 0..rows {
            let want = rbm.free_energy(&data[r * 13..(r + 1) * 13]);
            // f32 SGEMM and a sum of 7 f32 softplus terms: a few ulps of
            // values of size ~10.
            assert!(
                (f32_out[r] as f64 - want).abs() <= 1e-5 * want.abs().max(1.0),
                "gaussian={gaussian} row {r}: f32 {} vs {want}",
                f32_out[r]
            );
            assert!(
                (f64_out[r] - want).abs() <= 1e-12 * want.abs().max(1.0),
                "gaussian={gaussian} row {r}: f64 {} vs {want}",
                f64_out[r]
            );
        }
    }
}

// ---------------------------------------------------------------- exact ln Z

#[test]
fn exact_log_z_matches_brute_force_over_both_sides() {
    let mut rng = TestRng::new(1);
    for (v, h) in [(4, 3), (3, 4), (5, 5), (1, 6)] {
        let rbm = Rbm::random(&mut rng, v, h, 1.5);
        let want = brute_log_z(&rbm);
        for side in [ExactSide::Visible, ExactSide::Hidden] {
            let got = exact_log_z_over(&rbm.params(), side, Par::Seq).unwrap();
            assert!(
                (got - want).abs() < 1e-12 * want.abs().max(1.0),
                "{v}x{h} {side:?}: {got} vs {want}"
            );
        }
        let got = exact_log_z(&rbm.params(), Par::All).unwrap();
        assert!((got - want).abs() < 1e-12 * want.abs().max(1.0));
    }
}

#[test]
fn exact_log_z_spans_several_blocks() {
    // 14 enumerated units: 4 blocks of 2^12 configurations. Both sides agree.
    let mut rng = TestRng::new(2);
    let rbm = Rbm::random(&mut rng, 14, 15, 0.8);
    let over_v = exact_log_z_over(&rbm.params(), ExactSide::Visible, Par::All).unwrap();
    let over_h = exact_log_z_over(&rbm.params(), ExactSide::Hidden, Par::All).unwrap();
    assert!(
        (over_v - over_h).abs() < 1e-10 * over_v.abs(),
        "{over_v} vs {over_h}"
    );
}

#[test]
fn exact_average_log_likelihood_matches_brute_force() {
    let mut rng = TestRng::new(3);
    let rbm = Rbm::random(&mut rng, 4, 3, 1.5);
    let data = binary_data(&mut rng, 10, 4);
    let log_z = brute_log_z(&rbm);
    let mut want = 0.0;
    for row in data.chunks_exact(4) {
        let v: Vec<f64> = row.iter().map(|&x| x as f64).collect();
        let terms: Vec<f64> = (0..8).map(|kh| rbm.neg_energy(&v, &bits(3, kh))).collect();
        want += lse(&terms) - log_z;
    }
    want /= 10.0;
    let got = exact_average_log_likelihood(&rbm.params(), &data, Par::All).unwrap();
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    let with_z = average_log_likelihood(&rbm.params(), &data, log_z, Par::Seq).unwrap();
    assert!((with_z - want).abs() < 1e-12);
    // The probabilities of all 16 visible vectors sum to 1.
    let all: Vec<f32> = (0..16).flat_map(|k| bits(4, k)).map(|x| x as f32).collect();
    let mean_ll = exact_average_log_likelihood(&rbm.params(), &all, Par::All).unwrap();
    let mut f = vec![0.0; 16];
    free_energy_f64(&rbm.params(), &all, &mut f, Par::All).unwrap();
    let total: f64 = f.iter().map(|f| (-f - log_z).exp()).sum();
    assert!((total - 1.0).abs() < 1e-12, "{total}");
    assert!(mean_ll < -(16f64.ln()) + 1e-12); // Jensen: mean ln p ≤ ln mean p
}

#[test]
fn gaussian_log_z_matches_numerical_integration() {
    let mut rng = TestRng::new(4);
    for (v, h, n) in [(1usize, 3usize, 40_001usize), (2, 2, 1_601)] {
        let mut rbm = Rbm::random(&mut rng, v, h, 1.0);
        rbm.sigma = Some((0..v).map(|i| 0.7 + 0.6 * i as f32).collect());
        let s = rbm.sigma.clone().unwrap();
        // The density is a mixture of Gaussians with means b + σ W h: cover
        // every mean by 12 σ. The integrand is smooth and decays like a
        // Gaussian, so the trapezoid rule is accurate to far below 1e-9.
        let (mut lo, mut hi) = (vec![f64::MAX; v], vec![f64::MIN; v]);
        for kh in 0..1usize << h {
            let hb = bits(h, kh);
            for i in 0..v {
                let m = rbm.b[i] as f64
                    + s[i] as f64 * (0..h).map(|j| rbm.w(i, j) * hb[j]).sum::<f64>();
                lo[i] = lo[i].min(m - 12.0 * s[i] as f64);
                hi[i] = hi[i].max(m + 12.0 * s[i] as f64);
            }
        }
        let step: Vec<f64> = (0..v).map(|i| (hi[i] - lo[i]) / (n - 1) as f64).collect();
        let mut terms = Vec::with_capacity(n.pow(v as u32));
        let mut point = vec![0.0f32; v];
        for k in 0..n.pow(v as u32) {
            let mut rest = k;
            for i in 0..v {
                point[i] = (lo[i] + step[i] * (rest % n) as f64) as f32;
                rest /= n;
            }
            terms.push(-rbm.free_energy(&point));
        }
        // f32 grid points: F is evaluated exactly where the point lies, and
        // the spacing error (< 1e-7 relative) only moves the nodes.
        let want = lse(&terms) + step.iter().map(|d| d.ln()).sum::<f64>();
        let got = exact_log_z(&rbm.params(), Par::All).unwrap();
        assert!(
            (got - want).abs() < 1e-6,
            "V={v}: exact {got} vs integral {want}"
        );
    }
}

#[test]
fn exact_log_z_is_bitwise_independent_of_threads() {
    let mut rng = TestRng::new(5);
    // 17 enumerated units: 32 blocks, so 2 and 4 threads really split them.
    let rbm = Rbm::random(&mut rng, 30, 17, 0.5);
    let mut gauss = Rbm::random(&mut rng, 9, 16, 0.5);
    gauss.sigma = Some(vec![1.0; 9]);
    for model in [&rbm, &gauss] {
        let seq = exact_log_z(&model.params(), Par::Seq).unwrap();
        for threads in [1, 2, 4] {
            let got = in_pool(threads, || exact_log_z(&model.params(), Par::All).unwrap());
            assert_eq!(
                got.to_bits(),
                seq.to_bits(),
                "{threads} threads: {got} vs {seq}"
            );
        }
    }
}

// ---------------------------------------------------------------- training

/// The 30 distinct 4x4 bars-and-stripes images.
fn bars_and_stripes() -> Vec<f32> {
    let mut set: Vec<Vec<f32>> = Vec::new();
    for mask in 0..16usize {
        for vertical in [false, true] {
            let img: Vec<f32> = (0..16)
                .map(|p| {
                    let (r, c) = (p / 4, p % 4);
                    let line = if vertical { c } else { r };
                    ((mask >> line) & 1) as f32
                })
                .collect();
            if !set.contains(&img) {
                set.push(img);
            }
        }
    }
    assert_eq!(set.len(), 30);
    set.concat()
}

/// Trains a Bernoulli RBM by exact log-likelihood gradient ascent with
/// momentum 0.9 (model statistics by enumerating the `2^H` hidden
/// configurations), in f64.
fn train_exact(data: &[f32], v: usize, h: usize, steps: usize, lr: f64, seed: u64) -> Rbm {
    let mut rng = TestRng::new(seed);
    let n = data.len() / v;
    let mut w: Vec<f64> = (0..v * h).map(|_| rng.uniform(-0.1, 0.1) as f64).collect();
    let mut b = vec![0.0f64; v];
    let mut c = vec![0.0f64; h];
    let hs: Vec<Vec<f64>> = (0..1usize << h).map(|k| bits(h, k)).collect();
    let mut log_p = vec![0.0f64; hs.len()];
    let mut pv = vec![vec![0.0f64; v]; hs.len()];
    let (mut mw, mut mb, mut mc) = (vec![0.0; v * h], vec![0.0; v], vec![0.0; h]);
    for _ in 0..steps {
        let (mut gw, mut gb, mut gc) = (vec![0.0; v * h], vec![0.0; v], vec![0.0; h]);
        // Positive phase: data statistics with p(h|v).
        for row in data.chunks_exact(v) {
            for j in 0..h {
                let a = c[j] + (0..v).map(|i| row[i] as f64 * w[i * h + j]).sum::<f64>();
                let p = sigmoid64(a);
                gc[j] += p / n as f64;
                for i in 0..v {
                    gw[i * h + j] += row[i] as f64 * p / n as f64;
                }
            }
            for i in 0..v {
                gb[i] += row[i] as f64 / n as f64;
            }
        }
        // Negative phase: exact model statistics, p(h) and E[v|h].
        for (k, hb) in hs.iter().enumerate() {
            let mut lp = (0..h).map(|j| c[j] * hb[j]).sum::<f64>();
            for i in 0..v {
                let a = b[i] + (0..h).map(|j| w[i * h + j] * hb[j]).sum::<f64>();
                lp += softplus64(a);
                pv[k][i] = sigmoid64(a);
            }
            log_p[k] = lp;
        }
        let z = lse(&log_p);
        for (k, hb) in hs.iter().enumerate() {
            let p = (log_p[k] - z).exp();
            for i in 0..v {
                gb[i] -= p * pv[k][i];
                for j in (0..h).filter(|&j| hb[j] != 0.0) {
                    gw[i * h + j] -= p * pv[k][i];
                }
            }
            for j in 0..h {
                gc[j] -= p * hb[j];
            }
        }
        for (x, m, g) in [
            (&mut w, &mut mw, &gw),
            (&mut b, &mut mb, &gb),
            (&mut c, &mut mc, &gc),
        ] {
            for ((x, m), g) in x.iter_mut().zip(m.iter_mut()).zip(g) {
                *m = 0.9 * *m + lr * g;
                *x += *m;
            }
        }
    }
    let f = |x: &[f64]| x.iter().map(|&x| x as f32).collect();
    Rbm {
        v,
        h,
        w: f(&w),
        b: f(&b),
        c: f(&c),
        sigma: None,
    }
}

/// Trains a Bernoulli RBM by persistent CD-1 on minibatches (plain SGD),
/// in f64.
fn train_pcd(data: &[f32], v: usize, h: usize, epochs: usize, lr: f64, seed: u64) -> Rbm {
    let mut rng = TestRng::new(seed);
    let n = data.len() / v;
    let batch = 20;
    let chains = 20;
    let mut w: Vec<f64> = (0..v * h)
        .map(|_| rng.uniform(-0.05, 0.05) as f64)
        .collect();
    let mut b = vec![0.0f64; v];
    let mut c = vec![0.0f64; h];
    let mut neg: Vec<f64> = (0..chains * v)
        .map(|_| (rng.uniform(0.0, 1.0) < 0.5) as u8 as f64)
        .collect();
    let up = |w: &[f64], c: &[f64], x: &[f64], j: usize| {
        c[j] + (0..v).map(|i| x[i] * w[i * h + j]).sum::<f64>()
    };
    for _ in 0..epochs {
        for start in (0..n).step_by(batch) {
            let rows = batch.min(n - start);
            let (mut gw, mut gb, mut gc) = (vec![0.0; v * h], vec![0.0; v], vec![0.0; h]);
            for r in 0..rows {
                let x: Vec<f64> = data[(start + r) * v..(start + r + 1) * v]
                    .iter()
                    .map(|&x| x as f64)
                    .collect();
                for j in 0..h {
                    let p = sigmoid64(up(&w, &c, &x, j));
                    gc[j] += p / rows as f64;
                    for i in 0..v {
                        gw[i * h + j] += x[i] * p / rows as f64;
                    }
                }
                for i in 0..v {
                    gb[i] += x[i] / rows as f64;
                }
            }
            for m in 0..chains {
                let x = &mut neg[m * v..(m + 1) * v];
                let hb: Vec<f64> = (0..h)
                    .map(|j| (rng.uniform(0.0, 1.0) as f64) < sigmoid64(up(&w, &c, x, j)))
                    .map(|s| s as u8 as f64)
                    .collect();
                for i in 0..v {
                    let a = b[i] + (0..h).map(|j| w[i * h + j] * hb[j]).sum::<f64>();
                    x[i] = ((rng.uniform(0.0, 1.0) as f64) < sigmoid64(a)) as u8 as f64;
                }
                for j in 0..h {
                    let p = sigmoid64(up(&w, &c, x, j));
                    gc[j] -= p / chains as f64;
                    for i in 0..v {
                        gw[i * h + j] -= x[i] * p / chains as f64;
                    }
                }
                for i in 0..v {
                    gb[i] -= x[i] / chains as f64;
                }
            }
            for (x, g) in [(&mut w, &gw), (&mut b, &gb), (&mut c, &gc)] {
                for (x, g) in x.iter_mut().zip(g) {
                    *x += lr * g;
                }
            }
        }
    }
    let f = |x: &[f64]| x.iter().map(|&x| x as f32).collect();
    Rbm {
        v,
        h,
        w: f(&w),
        b: f(&b),
        c: f(&c),
        sigma: None,
    }
}

/// Trains a Gaussian-Bernoulli RBM with fixed `sigma` by exact
/// log-likelihood gradient ascent with momentum 0.9 (MODELS.md 2.2; model
/// statistics by enumerating the hidden configurations, with `v` integrated
/// in closed form: `ln p*(h) = cᵀh + Σ_i (b_i a_i/σ_i + a_i²/2)`, `a = W h`,
/// `E[v_i | h] = b_i + σ_i a_i`), in f64.
fn train_exact_gaussian(data: &[f32], sigma: &[f32], h: usize, steps: usize, lr: f64) -> Rbm {
    let v = sigma.len();
    let n = data.len() / v;
    let s: Vec<f64> = sigma.iter().map(|&s| s as f64).collect();
    let mut rng = TestRng::new(77);
    let mut w: Vec<f64> = (0..v * h).map(|_| rng.uniform(-0.1, 0.1) as f64).collect();
    let mut b = vec![0.0f64; v];
    let mut c = vec![0.0f64; h];
    let (mut mw, mut mb, mut mc) = (vec![0.0; v * h], vec![0.0; v], vec![0.0; h]);
    let hs: Vec<Vec<f64>> = (0..1usize << h).map(|k| bits(h, k)).collect();
    for _ in 0..steps {
        let (mut gw, mut gb, mut gc) = (vec![0.0; v * h], vec![0.0; v], vec![0.0; h]);
        for row in data.chunks_exact(v) {
            let x: Vec<f64> = (0..v).map(|i| row[i] as f64 / s[i]).collect();
            for j in 0..h {
                let p = sigmoid64(c[j] + (0..v).map(|i| x[i] * w[i * h + j]).sum::<f64>());
                gc[j] += p / n as f64;
                for i in 0..v {
                    gw[i * h + j] += x[i] * p / n as f64;
                }
            }
            for i in 0..v {
                gb[i] += (row[i] as f64 - b[i]) / (s[i] * s[i]) / n as f64;
            }
        }
        let mut log_p = Vec::with_capacity(hs.len());
        let mut acts = Vec::with_capacity(hs.len());
        for hb in &hs {
            let a: Vec<f64> = (0..v)
                .map(|i| (0..h).map(|j| w[i * h + j] * hb[j]).sum::<f64>())
                .collect();
            let lp = (0..h).map(|j| c[j] * hb[j]).sum::<f64>()
                + (0..v)
                    .map(|i| b[i] * a[i] / s[i] + 0.5 * a[i] * a[i])
                    .sum::<f64>();
            log_p.push(lp);
            acts.push(a);
        }
        let z = lse(&log_p);
        for (k, hb) in hs.iter().enumerate() {
            let p = (log_p[k] - z).exp();
            for i in 0..v {
                // E[v_i/σ_i | h] = b_i/σ_i + a_i; E[(v_i - b_i)/σ_i² | h] = a_i/σ_i.
                let ev = b[i] / s[i] + acts[k][i];
                gb[i] -= p * acts[k][i] / s[i];
                for j in 0..h {
                    gw[i * h + j] -= p * ev * hb[j];
                }
            }
            for j in 0..h {
                gc[j] -= p * hb[j];
            }
        }
        for (x, m, g) in [
            (&mut w, &mut mw, &gw),
            (&mut b, &mut mb, &gb),
            (&mut c, &mut mc, &gc),
        ] {
            for ((x, m), g) in x.iter_mut().zip(m.iter_mut()).zip(g) {
                *m = 0.9 * *m + lr * g;
                *x += *m;
            }
        }
    }
    let f = |x: &[f64]| x.iter().map(|&x| x as f32).collect();
    Rbm {
        v,
        h,
        w: f(&w),
        b: f(&b),
        c: f(&c),
        sigma: Some(sigma.to_vec()),
    }
}

/// Noisy copies of 4 random binary prototypes of `v` bits.
fn prototype_mixture(rng: &mut TestRng, rows: usize, v: usize, flip: f32) -> Vec<f32> {
    let protos: Vec<Vec<f32>> = (0..4).map(|_| binary_data(rng, 1, v)).collect();
    (0..rows)
        .flat_map(|r| {
            let p = protos[r % 4].clone();
            p.into_iter()
                .map(|x| {
                    if rng.uniform(0.0, 1.0) < flip {
                        1.0 - x
                    } else {
                        x
                    }
                })
                .collect::<Vec<f32>>()
        })
        .collect()
}

fn max_abs(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

/// AIS with the default schedule and 100 runs against the exact `ln Z`:
/// inside AIS's own ±3σ interval and within 0.1 nats.
fn check_ais_against_exact(name: &str, rbm: &Rbm, data: &[f32]) {
    let params = rbm.params();
    let exact = exact_log_z(&params, Par::All).unwrap();
    let base = base_rate_visible_bias(&params, data).unwrap();
    let t = Instant::now();
    let est = ais_log_z(
        &params,
        &base,
        &AisConfig {
            seed: 7,
            ..AisConfig::default()
        },
        Par::All,
    )
    .unwrap();
    let ll_exact = average_log_likelihood(&params, data, exact, Par::All).unwrap();
    eprintln!(
        "{name}: V={} H={} max|W|={:.2}  exact ln Z {exact:.4}  AIS {:.4} [{:.4}, {:.4}]  \
         diff {:+.4}  ESS {:.1}/100  data ll {ll_exact:.3}  ({:.2?})",
        rbm.v,
        rbm.h,
        max_abs(&rbm.w),
        est.log_z,
        est.log_z_minus_3sd,
        est.log_z_plus_3sd,
        est.log_z - exact,
        est.effective_sample_size,
        t.elapsed()
    );
    assert!(
        est.log_z_minus_3sd <= exact && exact <= est.log_z_plus_3sd,
        "{name}: exact {exact} outside AIS's ±3σ [{}, {}]",
        est.log_z_minus_3sd,
        est.log_z_plus_3sd
    );
    assert!(
        (est.log_z - exact).abs() < 0.1,
        "{name}: AIS {} vs exact {exact}",
        est.log_z
    );
}

#[test]
fn ais_agrees_with_exact_on_bars_and_stripes() {
    let data = bars_and_stripes();
    let t = Instant::now();
    let rbm = train_exact(&data, 16, 10, 400, 0.2, 21);
    eprintln!("trained bars-and-stripes 16x10 in {:.2?}", t.elapsed());
    // The training worked: the exact log-likelihood rose from the uniform
    // model's -16 ln 2 = -11.09 to near its optimum -ln 30 = -3.40 (-3.65
    // observed).
    let ll = exact_average_log_likelihood(&rbm.params(), &data, Par::All).unwrap();
    assert!(ll > -4.0, "exact ll {ll}");
    // The weights are large (max |W| about 10): 30 sharp, well separated
    // modes, the hard case for AIS.
    assert!(max_abs(&rbm.w) > 5.0, "max |W| = {}", max_abs(&rbm.w));
    // Both summation sides agree on a trained model too.
    let over_v = exact_log_z_over(&rbm.params(), ExactSide::Visible, Par::All).unwrap();
    let over_h = exact_log_z_over(&rbm.params(), ExactSide::Hidden, Par::All).unwrap();
    assert!(
        (over_v - over_h).abs() < 1e-9 * over_h.abs().max(1.0),
        "{over_v} vs {over_h}"
    );
    check_ais_against_exact("bars-and-stripes", &rbm, &data);
}

#[test]
fn ais_agrees_with_exact_on_a_pcd_trained_prototype_model() {
    let mut rng = TestRng::new(31);
    let data = prototype_mixture(&mut rng, 400, 24, 0.05);
    let t = Instant::now();
    let rbm = train_pcd(&data, 24, 16, 30, 0.05, 32);
    eprintln!("trained prototypes 24x16 in {:.2?}", t.elapsed());
    let ll = exact_average_log_likelihood(&rbm.params(), &data, Par::All).unwrap();
    // The uniform model scores -24 ln 2 = -16.6; the generating mixture
    // about -(ln 4 + 24 H(0.05)) = -6.8.
    assert!(ll > -12.0, "exact ll {ll}");
    check_ais_against_exact("prototypes (PCD)", &rbm, &data);
}

#[test]
fn ais_agrees_with_exact_on_an_exactly_trained_prototype_model() {
    let mut rng = TestRng::new(35);
    let data = prototype_mixture(&mut rng, 200, 24, 0.02);
    let t = Instant::now();
    let rbm = train_exact(&data, 24, 12, 150, 0.2, 36);
    eprintln!(
        "trained prototypes 24x12 (exact gradient) in {:.2?}",
        t.elapsed()
    );
    let ll = exact_average_log_likelihood(&rbm.params(), &data, Par::All).unwrap();
    // The uniform model scores -24 ln 2 = -16.6; the generating mixture
    // about -(ln 4 + 24 H(0.02)) = -3.7.
    assert!(ll > -6.0, "exact ll {ll}");
    check_ais_against_exact("prototypes (exact gradient)", &rbm, &data);
}

#[test]
fn ais_agrees_with_exact_on_a_trained_gaussian_model() {
    // Three tight clusters in 6 dimensions; σ_i from 0.4 to 0.65.
    let mut rng = TestRng::new(81);
    let centres: Vec<Vec<f32>> = (0..3)
        .map(|_| rng.vec(6).iter().map(|x| 2.0 * x).collect())
        .collect();
    let data: Vec<f32> = (0..150)
        .flat_map(|r| {
            let c = centres[r % 3].clone();
            c.into_iter()
                .map(|x| x + 0.3 * rng.uniform(-1.0, 1.0))
                .collect::<Vec<f32>>()
        })
        .collect();
    let sigma: Vec<f32> = (0..6).map(|i| 0.4 + 0.05 * i as f32).collect();
    let before = {
        let untrained = Rbm {
            v: 6,
            h: 8,
            w: vec![0.0; 48],
            b: vec![0.0; 6],
            c: vec![0.0; 8],
            sigma: Some(sigma.clone()),
        };
        exact_average_log_likelihood(&untrained.params(), &data, Par::All).unwrap()
    };
    let rbm = train_exact_gaussian(&data, &sigma, 8, 300, 0.01);
    let ll = exact_average_log_likelihood(&rbm.params(), &data, Par::All).unwrap();
    eprintln!("gaussian (trained): data ll {before:.3} before training, {ll:.3} after");
    // -20.9 before, -2.9 observed after.
    assert!(ll > -5.0, "exact ll {before} -> {ll}");
    check_ais_against_exact("gaussian (trained)", &rbm, &data);
}

#[test]
fn ais_is_bitwise_independent_of_threads_and_reproducible_by_seed() {
    let mut rng = TestRng::new(51);
    let rbm = Rbm::random(&mut rng, 20, 15, 1.0);
    let data = binary_data(&mut rng, 30, 20);
    let base = base_rate_visible_bias(&rbm.params(), &data).unwrap();
    let config = AisConfig {
        // A short schedule: this test is about reproducibility, not accuracy.
        betas: piecewise_linear_betas(&[(0.5, 50), (1.0, 250)]),
        n_runs: 50,
        seed: 99,
        ..AisConfig::default()
    };
    let seq = ais_log_z(&rbm.params(), &base, &config, Par::Seq).unwrap();
    for threads in [1, 2, 4] {
        let got = in_pool(threads, || {
            ais_log_z(&rbm.params(), &base, &config, Par::All).unwrap()
        });
        assert_eq!(
            got.log_z.to_bits(),
            seq.log_z.to_bits(),
            "{threads} threads"
        );
        assert_eq!(got, seq);
    }
    let other = ais_log_z(
        &rbm.params(),
        &base,
        &AisConfig {
            seed: 100,
            ..config.clone()
        },
        Par::All,
    )
    .unwrap();
    assert_ne!(
        other.log_weights, seq.log_weights,
        "another seed gives other runs"
    );
    // And the Gaussian path.
    let mut g = rbm.clone();
    g.sigma = Some(vec![1.0; 20]);
    let gbase = base_rate_visible_bias(&g.params(), &data).unwrap();
    let seq = ais_log_z(&g.params(), &gbase, &config, Par::Seq).unwrap();
    for threads in [2, 4] {
        let got = in_pool(threads, || {
            ais_log_z(&g.params(), &gbase, &config, Par::All).unwrap()
        });
        assert_eq!(got, seq, "gaussian, {threads} threads");
    }
}

#[test]
fn ais_schedule_and_base_rate() {
    let betas = piecewise_linear_betas(&[(0.5, 500), (0.9, 4000), (1.0, 10000)]);
    assert_eq!(betas.len(), 14_501);
    assert_eq!(
        (betas[0], betas[500], betas[4500], betas[14_500]),
        (0.0, 0.5, 0.9, 1.0)
    );
    assert!(betas.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(AisConfig::default().betas, betas);
    assert_eq!(AisConfig::default().n_runs, 100);

    let rbm = Rbm {
        v: 3,
        h: 1,
        w: vec![0.0; 3],
        b: vec![0.0; 3],
        c: vec![0.0],
        sigma: None,
    };
    let data = [0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0];
    let base = base_rate_visible_bias(&rbm.params(), &data).unwrap();
    // Means 0, 1, 0.5: clipped to [1e-3, 1 - 1e-3], then the logit.
    let logit = |p: f64| (p / (1.0 - p)).ln();
    assert!((base[0] as f64 - logit(1e-3)).abs() < 1e-4);
    assert!((base[1] as f64 - logit(1.0 - 1e-3)).abs() < 1e-4);
    assert_eq!(base[2], 0.0);
    // With W = 0 the target is the base model with its own biases; for a
    // base equal to the target's biases every weight is exactly 1.
    let rbm = Rbm {
        v: 3,
        h: 2,
        w: vec![0.0; 6],
        b: vec![0.3, -0.2, 1.0],
        c: vec![0.0; 2],
        sigma: None,
    };
    let est = ais_log_z(
        &rbm.params(),
        &rbm.b,
        &AisConfig {
            betas: piecewise_linear_betas(&[(1.0, 10)]),
            ..AisConfig::default()
        },
        Par::All,
    )
    .unwrap();
    let exact = exact_log_z(&rbm.params(), Par::All).unwrap();
    assert!(est.log_weights.iter().all(|&l| l.abs() < 1e-12));
    assert!((est.log_z - exact).abs() < 1e-6, "{} vs {exact}", est.log_z);
    assert!((est.effective_sample_size - 100.0).abs() < 1e-9);
}

// ---------------------------------------------------------------- PLL

#[test]
fn pseudo_log_likelihood_matches_its_definition() {
    let mut rng = TestRng::new(61);
    let (v, h, rows) = (10, 6, 50);
    let rbm = Rbm::random(&mut rng, v, h, 2.0);
    let data = binary_data(&mut rng, rows, v);
    let mut out = vec![f32::NAN; rows];
    pseudo_log_likelihood(&rbm.params(), &data, 5, &mut out, Par::All).unwrap();
    let flips = pll_flip_indices(rows, v, 5);
    let mut again = vec![f32::NAN; rows];
    pseudo_log_likelihood_with_flips(&rbm.params(), &data, &flips, &mut again, Par::Seq).unwrap();
    assert_eq!(out, again);
    for r in 0..rows {
        let x = &data[r * v..(r + 1) * v];
        let mut flipped = x.to_vec();
        flipped[flips[r]] = 1.0 - flipped[flips[r]];
        let delta = rbm.free_energy(&flipped) - rbm.free_energy(x);
        let want = v as f64 * sigmoid64(delta).ln();
        assert!(
            (out[r] as f64 - want).abs() <= 1e-5 * want.abs().max(1.0),
            "row {r}: {} vs {want}",
            out[r]
        );
    }
    // The flipped bits really are random: another seed flips others, and
    // every index turns up.
    assert_ne!(flips, pll_flip_indices(rows, v, 6));
    let many = pll_flip_indices(1000, v, 5);
    assert!((0..v).all(|i| many.contains(&i)));
    assert!(many.iter().all(|&i| i < v));
}

// ---------------------------------------------------------------- errors

#[test]
fn bad_inputs_give_typed_errors() {
    let mut rng = TestRng::new(71);
    let rbm = Rbm::random(&mut rng, 4, 3, 1.0);
    let (w, b, c) = (&rbm.w, &rbm.b, &rbm.c);
    let data = binary_data(&mut rng, 5, 4);
    let mut out = vec![0.0f32; 5];
    let mut out64 = [0.0f64; 5];

    // Wrong W length.
    let bad = RbmParams::bernoulli(&w[..11], b, c);
    assert!(matches!(
        bad.validate(),
        Err(ModelError::Shape {
            expected: 12,
            found: 11,
            ..
        })
    ));
    assert!(matches!(
        exact_log_z(&bad, Par::All),
        Err(ModelError::Shape { .. })
    ));
    assert!(matches!(
        free_energy(&bad, &data, &mut out, Par::All),
        Err(ModelError::Shape { .. })
    ));
    // Empty layers.
    assert!(matches!(
        RbmParams::bernoulli(&[], &[], c).validate(),
        Err(ModelError::InvalidConfig { .. })
    ));
    assert!(matches!(
        RbmParams::bernoulli(&[], b, &[]).validate(),
        Err(ModelError::InvalidConfig { .. })
    ));
    // Data not whole rows; output of the wrong length.
    let p = rbm.params();
    assert!(matches!(
        free_energy(&p, &data[..19], &mut out, Par::All),
        Err(ModelError::Shape { .. })
    ));
    assert!(matches!(
        free_energy(&p, &data, &mut out[..4], Par::All),
        Err(ModelError::Shape { .. })
    ));
    assert!(matches!(
        free_energy_f64(&p, &data, &mut out64[..3], Par::All),
        Err(ModelError::Shape { .. })
    ));
    assert!(matches!(
        exact_average_log_likelihood(&p, &data[..3], Par::All),
        Err(ModelError::Shape { .. })
    ));
    assert!(matches!(
        exact_average_log_likelihood(&p, &[], Par::All),
        Err(ModelError::Shape { .. })
    ));
    assert!(matches!(
        base_rate_visible_bias(&p, &[]),
        Err(ModelError::Shape { .. })
    ));
    // Gaussian sigma of the wrong length or not positive.
    let sigma = [1.0f32, 1.0, 1.0];
    assert!(matches!(
        RbmParams::gaussian(w, b, c, &sigma).validate(),
        Err(ModelError::Shape { .. })
    ));
    let sigma = [1.0f32, 0.0, 1.0, 1.0];
    assert!(matches!(
        RbmParams::gaussian(w, b, c, &sigma).validate(),
        Err(ModelError::InvalidConfig { .. })
    ));
    let sigma = [1.0f32, 1.0, f32::NAN, 1.0];
    assert!(matches!(
        RbmParams::gaussian(w, b, c, &sigma).validate(),
        Err(ModelError::InvalidConfig { .. })
    ));

    // Too many units for the exact sum: the error says so.
    let big = Rbm::random(&mut rng, 30, MAX_EXACT_UNITS + 1, 0.1);
    match exact_log_z(&big.params(), Par::All) {
        Err(e @ ModelError::Unsupported { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("2^26") && msg.contains("at most 25"), "{msg}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    assert!(matches!(
        exact_log_z_over(&big.params(), ExactSide::Visible, Par::All),
        Err(ModelError::Unsupported { .. })
    ));
    // 3 x 26 is fine (the sum runs over the 3 visibles), unless the hidden
    // side is asked for.
    let tall = Rbm::random(&mut rng, 3, 26, 0.1);
    assert!(exact_log_z(&tall.params(), Par::All).is_ok());
    assert!(matches!(
        exact_log_z_over(&tall.params(), ExactSide::Hidden, Par::All),
        Err(ModelError::Unsupported { .. })
    ));
    // Gaussian: the hidden side is summed whatever the sizes, so H = 26 is
    // too many even with 2 visibles, and the visible side is refused.
    let mut g = Rbm::random(&mut rng, 2, 26, 0.1);
    g.sigma = Some(vec![1.0; 2]);
    assert!(matches!(
        exact_log_z(&g.params(), Par::All),
        Err(ModelError::Unsupported { .. })
    ));
    let mut g = Rbm::random(&mut rng, 2, 3, 0.1);
    g.sigma = Some(vec![1.0; 2]);
    assert!(matches!(
        exact_log_z_over(&g.params(), ExactSide::Visible, Par::All),
        Err(ModelError::Unsupported { .. })
    ));

    // PLL: Gaussian visibles, flip indices out of range or of the wrong count.
    let g_data = [0.5f32, -0.5];
    let mut g_out = [0.0f32];
    assert!(matches!(
        pseudo_log_likelihood(&g.params(), &g_data, 1, &mut g_out, Par::All),
        Err(ModelError::Unsupported { .. })
    ));
    assert!(matches!(
        pseudo_log_likelihood_with_flips(&p, &data, &[0, 1, 2, 3, 4], &mut out, Par::All),
        Err(ModelError::InvalidConfig { .. })
    ));
    assert!(matches!(
        pseudo_log_likelihood_with_flips(&p, &data, &[0, 1], &mut out, Par::All),
        Err(ModelError::Shape { .. })
    ));
    assert!(matches!(
        pseudo_log_likelihood(&p, &data, 1, &mut out[..2], Par::All),
        Err(ModelError::Shape { .. })
    ));

    // AIS: base of the wrong length or non-finite; bad schedules and counts.
    let base = vec![0.0f32; 4];
    let ok = AisConfig {
        betas: vec![0.0, 0.5, 1.0],
        n_runs: 4,
        ..AisConfig::default()
    };
    assert!(ais_log_z(&p, &base, &ok, Par::All).is_ok());
    assert!(matches!(
        ais_log_z(&p, &base[..3], &ok, Par::All),
        Err(ModelError::Shape { .. })
    ));
    assert!(matches!(
        ais_log_z(&p, &[0.0, f32::INFINITY, 0.0, 0.0], &ok, Par::All),
        Err(ModelError::InvalidConfig { .. })
    ));
    for betas in [
        vec![],
        vec![0.0],
        vec![0.1, 1.0],
        vec![0.0, 0.9],
        vec![0.0, 0.7, 0.5, 1.0],
        vec![0.0, f64::NAN, 1.0],
    ] {
        let cfg = AisConfig {
            betas: betas.clone(),
            ..ok.clone()
        };
        assert!(
            matches!(
                ais_log_z(&p, &base, &cfg, Par::All),
                Err(ModelError::InvalidConfig {
                    what: "AIS betas",
                    ..
                })
            ),
            "{betas:?}"
        );
    }
    assert!(matches!(
        ais_log_z(
            &p,
            &base,
            &AisConfig {
                n_runs: 1,
                ..ok.clone()
            },
            Par::All
        ),
        Err(ModelError::InvalidConfig { .. })
    ));
    assert!(matches!(
        ais_log_z(
            &p,
            &base,
            &AisConfig {
                runs_per_block: 0,
                ..ok.clone()
            },
            Par::All
        ),
        Err(ModelError::InvalidConfig { .. })
    ));
}
