//! Likelihood evaluation of RBMs (`latent_models::eval`): free energy,
//! exact `ln Z` against brute force and numerical integration, AIS against
//! the exact value on trained models, pseudo-log-likelihood against its
//! definition, thread-count independence and typed errors.

// The f64 references index `W[i*H + j]` the way the formulas read.
#![allow(clippy::needless_range_loop)]

use latent_testkit as common;

use common::{TestRng, bit_vector, log_sum_exp, sigmoid64, softplus64};
use latent_kernels::Par;
use latent_models::ModelError;
use latent_models::eval::{
    AisConfig, ExactSide, MAX_EXACT_UNITS, RbmParams, ais_log_z, average_log_likelihood,
    base_rate_visible_bias, exact_average_log_likelihood, exact_log_z, exact_log_z_over,
    free_energy, free_energy_f64, piecewise_linear_betas, pll_flip_indices, pseudo_log_likelihood,
    pseudo_log_likelihood_with_flips,
};

mod ais;

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

/// `ln Z` by enumerating the full joint `(v, h)`.
fn brute_log_z(rbm: &Rbm) -> f64 {
    let mut terms = Vec::new();
    for kv in 0..1usize << rbm.v {
        let v = bit_vector(kv, rbm.v);
        for kh in 0..1usize << rbm.h {
            terms.push(rbm.neg_energy(&v, &bit_vector(kh, rbm.h)));
        }
    }
    log_sum_exp(&terms)
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    common::thread_pool(threads).install(f)
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
        let terms: Vec<f64> = (0..8)
            .map(|kh| rbm.neg_energy(&v, &bit_vector(kh, 3)))
            .collect();
        want += log_sum_exp(&terms) - log_z;
    }
    want /= 10.0;
    let got = exact_average_log_likelihood(&rbm.params(), &data, Par::All).unwrap();
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    let with_z = average_log_likelihood(&rbm.params(), &data, log_z, Par::Seq).unwrap();
    assert!((with_z - want).abs() < 1e-12);
    // The probabilities of all 16 visible vectors sum to 1.
    let all: Vec<f32> = (0..16)
        .flat_map(|k| bit_vector(k, 4))
        .map(|x| x as f32)
        .collect();
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
            let hb = bit_vector(kh, h);
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
        let want = log_sum_exp(&terms) + step.iter().map(|d| d.ln()).sum::<f64>();
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
