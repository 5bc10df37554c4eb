//! AIS (`ais_log_z`) against the exact `ln Z` of trained models (bars and
//! stripes, prototype mixtures, a Gaussian model), its thread independence
//! and reproducibility, its schedule and base rate.

// The f64 references index `W[i*H + j]` the way the formulas read.
#![allow(clippy::needless_range_loop)]

use super::*;
use std::time::Instant;

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
    let hs: Vec<Vec<f64>> = (0..1usize << h).map(|k| bit_vector(k, h)).collect();
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
        let z = log_sum_exp(&log_p);
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
    let hs: Vec<Vec<f64>> = (0..1usize << h).map(|k| bit_vector(k, h)).collect();
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
        let z = log_sum_exp(&log_p);
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
