//! [`HiddenPcd`] against a direct f64 transcription of scikit-learn's
//! `BernoulliRBM._fit`, drawing the same uniforms (from the kernels'
//! per-row streams), and its determinism across thread counts.

use latent_engine::{Matrix, Rng};
use latent_kernels::Par;
use latent_kernels::random::Streams;

use super::{FIT_STREAM, FitPlan, HiddenPcd, HiddenPcdConfig};
use crate::rbm::{Rbm, RbmConfig};

/// The uniforms the samplers draw for a `rows x cols` matrix at `streams`.
fn uniforms(streams: Streams, rows: usize, cols: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        let mut lanes: Vec<_> = (0..16).map(|l| streams.lane(r as u64, l)).collect();
        for j in 0..cols {
            out.push(lanes[j % 16].next_uniform() as f64);
        }
    }
    out
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The state scikit-learn keeps, in f64: `W` (`V x H`), `b`, `c`, the
/// hidden chains and the velocities.
#[derive(Clone)]
struct Reference {
    v: usize,
    h: usize,
    w: Vec<f64>,
    b: Vec<f64>,
    c: Vec<f64>,
    chains: Vec<f64>,
    vel: [Vec<f64>; 3],
}

impl Reference {
    /// `self.up(rows)`: `σ(rows W + c)`.
    fn up(&self, rows: &[f64]) -> Vec<f64> {
        let n = rows.len() / self.v;
        let mut p = vec![0.0; n * self.h];
        for r in 0..n {
            for j in 0..self.h {
                let s: f64 = (0..self.v)
                    .map(|i| rows[r * self.v + i] * self.w[i * self.h + j])
                    .sum();
                p[r * self.h + j] = sigmoid(s + self.c[j]);
            }
        }
        p
    }

    /// `σ(h Wᵀ + b)`.
    fn down(&self, h: &[f64]) -> Vec<f64> {
        let n = h.len() / self.h;
        let mut p = vec![0.0; n * self.v];
        for r in 0..n {
            for i in 0..self.v {
                let s: f64 = (0..self.h)
                    .map(|j| h[r * self.h + j] * self.w[i * self.h + j])
                    .sum();
                p[r * self.v + i] = sigmoid(s + self.b[i]);
            }
        }
        p
    }

    /// scikit-learn's `_fit(x)` (k Gibbs steps, momentum `mu`), drawing
    /// the uniforms of `streams` in the trainer's order.
    fn step(&mut self, x: &[f64], lr: f64, k: usize, mu: f64, streams: Streams) {
        let (v, h, n, c_n) = (self.v, self.h, x.len() / self.v, self.chains.len() / self.h);
        let sample = |p: &[f64], step: u64, cols: usize| -> Vec<f64> {
            let u = uniforms(streams.at_step(step), p.len() / cols, cols);
            p.iter()
                .zip(u)
                .map(|(&p, u)| if u < p { 1.0 } else { 0.0 })
                .collect()
        };
        let p_pos = self.up(x);
        let mut hs = self.chains.clone();
        let (mut v_neg, mut p_neg) = (Vec::new(), Vec::new());
        for t in 1..=k {
            v_neg = sample(&self.down(&hs), 2 * t as u64 - 2, v);
            p_neg = self.up(&v_neg);
            hs = sample(&p_neg, 2 * t as u64 - 1, h);
        }
        let eta = lr / n as f64;
        let mut dw = vec![0.0; v * h];
        for i in 0..v {
            for j in 0..h {
                let pos: f64 = (0..n).map(|r| x[r * v + i] * p_pos[r * h + j]).sum();
                let neg: f64 = (0..c_n).map(|q| v_neg[q * v + i] * p_neg[q * h + j]).sum();
                dw[i * h + j] = eta * (pos - neg);
            }
        }
        let col = |m: &[f64], cols: usize, j: usize| -> f64 { m.chunks(cols).map(|r| r[j]).sum() };
        let db: Vec<f64> = (0..v)
            .map(|i| eta * (col(x, v, i) - col(&v_neg, v, i)))
            .collect();
        let dc: Vec<f64> = (0..h)
            .map(|j| eta * (col(&p_pos, h, j) - col(&p_neg, h, j)))
            .collect();
        for (t, d) in [dw, db, dc].into_iter().enumerate() {
            let param = match t {
                0 => &mut self.w,
                1 => &mut self.b,
                _ => &mut self.c,
            };
            let vel = &mut self.vel[t];
            vel.resize(d.len(), 0.0);
            for ((p, u), d) in param.iter_mut().zip(vel.iter_mut()).zip(d) {
                *u = mu * *u + d;
                *p += *u;
            }
        }
        self.chains = hs;
    }
}

/// A random `V x H` RBM, its f64 reference, binary data (`n x V`) and
/// random binary chains (`c_n x H`).
fn problem(
    v: usize,
    h: usize,
    n: usize,
    c_n: usize,
    seed: u64,
) -> (Rbm, Reference, Matrix, Matrix) {
    let mut rng = Rng::new(seed);
    let w: Vec<f32> = (0..v * h).map(|_| (rng.normal() * 0.5) as f32).collect();
    let b: Vec<f32> = (0..v).map(|_| (rng.normal() * 0.3) as f32).collect();
    let c: Vec<f32> = (0..h).map(|_| (rng.normal() * 0.3) as f32).collect();
    let bits = |rng: &mut Rng, r: usize, k: usize| {
        Matrix::from_fn(r, k, |_, _| (rng.uniform_f64() < 0.4) as u8 as f32).unwrap()
    };
    let x = bits(&mut rng, n, v);
    let chains = bits(&mut rng, c_n, h);
    let rbm = Rbm::from_params(RbmConfig::bernoulli(v, h), &w, &b, &c).unwrap();
    let f64s = |s: &[f32]| s.iter().map(|&a| a as f64).collect::<Vec<_>>();
    let reference = Reference {
        v,
        h,
        w: f64s(&w),
        b: f64s(&b),
        c: f64s(&c),
        chains: f64s(chains.as_slice()),
        vel: Default::default(),
    };
    (rbm, reference, x, chains)
}

fn assert_close(what: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= tol,
            "{what}[{i}]: {g} vs reference {w}"
        );
    }
}

fn assert_matches(what: &str, rbm: &Rbm, pcd: &HiddenPcd, r: &Reference) {
    assert_close(&format!("{what}: W"), rbm.weights().as_slice(), &r.w, 2e-5);
    assert_close(&format!("{what}: b"), rbm.visible_bias(), &r.b, 2e-5);
    assert_close(&format!("{what}: c"), rbm.hidden_bias(), &r.c, 2e-5);
    assert_close(
        &format!("{what}: chains"),
        pcd.chains().as_slice(),
        &r.chains,
        0.0,
    );
}

fn f64_rows(x: &Matrix, r0: usize, r1: usize) -> Vec<f64> {
    let v = x.cols();
    x.as_slice()[r0 * v..r1 * v]
        .iter()
        .map(|&a| a as f64)
        .collect()
}

#[test]
fn steps_match_scikit_learns_update() {
    // Fewer data rows than chains, and more: the two phases' row counts
    // differ, as in scikit-learn's partial_fit and last minibatch.
    for (n, c_n, k, mu) in [
        (3, 4, 1, 0.0),
        (6, 2, 1, 0.0),
        (5, 3, 2, 0.0),
        (4, 4, 1, 0.5),
    ] {
        let (mut rbm, mut r, x, chains) = problem(7, 5, n, c_n, 17 + n as u64);
        let config = HiddenPcdConfig {
            learning_rate: 0.3,
            cd_k: k,
            momentum: mu,
        };
        let mut pcd = HiddenPcd::new(config, chains).unwrap();
        for s in 0..3u64 {
            let streams = Streams::new(1000 + s);
            pcd.step(&mut rbm, x.view(), streams, Par::Seq).unwrap();
            r.step(&f64_rows(&x, 0, n), 0.3, k, mu as f64, streams);
            assert_matches(
                &format!("n={n} C={c_n} k={k} mu={mu} step {s}"),
                &rbm,
                &pcd,
                &r,
            );
        }
    }
}

#[test]
fn fit_slices_like_gen_even_slices() {
    // 7 rows in batches of 3: [0, 3), [3, 6), [6, 7), twice.
    let (mut rbm, mut r, x, _) = problem(6, 4, 7, 3, 5);
    let chains = Matrix::zeros(3, 4).unwrap();
    r.chains = vec![0.0; 12];
    let mut pcd = HiddenPcd::new(HiddenPcdConfig::default(), chains).unwrap();
    let plan = FitPlan {
        batch_size: 3,
        first_epoch: 0,
        epochs: 2,
        seed: 99,
    };
    pcd.fit(&mut rbm, x.view(), plan, Par::Seq).unwrap();
    for e in 0..2 {
        let mut rng = Rng::substream(99, FIT_STREAM, e);
        for (r0, r1) in [(0, 3), (3, 6), (6, 7)] {
            let streams = Streams::new(rng.next_u64());
            r.step(&f64_rows(&x, r0, r1), 0.1, 1, 0.0, streams);
        }
    }
    assert_matches("fit", &rbm, &pcd, &r);
}

/// The weights, biases and chains as bits.
fn state_bits(rbm: &Rbm, pcd: &HiddenPcd) -> Vec<u32> {
    let params = [
        rbm.weights().as_slice(),
        rbm.visible_bias(),
        rbm.hidden_bias(),
    ];
    let all = params.into_iter().chain([pcd.chains().as_slice()]);
    all.flat_map(|s| s.iter().map(|v| v.to_bits())).collect()
}

#[test]
fn epochs_one_call_at_a_time_give_the_same_bits() {
    let run = |pieces: &[(usize, usize)]| {
        let (mut rbm, _, x, _) = problem(9, 6, 25, 4, 11);
        let chains = Matrix::zeros(4, 6).unwrap();
        let mut pcd = HiddenPcd::new(HiddenPcdConfig::default(), chains).unwrap();
        for &(first_epoch, epochs) in pieces {
            let plan = FitPlan {
                batch_size: 4,
                first_epoch,
                epochs,
                seed: 21,
            };
            pcd.fit(&mut rbm, x.view(), plan, Par::Seq).unwrap();
        }
        state_bits(&rbm, &pcd)
    };
    assert_eq!(run(&[(0, 3)]), run(&[(0, 1), (1, 1), (2, 1)]));
    assert_ne!(run(&[(0, 3)]), run(&[(0, 1), (0, 1), (0, 1)]));
}

#[test]
fn same_bits_on_one_and_two_threads() {
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let (mut rbm, _, x, _) = problem(96, 80, 300, 50, 3);
            let chains = Matrix::zeros(50, 80).unwrap();
            let mut pcd = HiddenPcd::new(HiddenPcdConfig::default(), chains).unwrap();
            let plan = FitPlan {
                batch_size: 50,
                first_epoch: 0,
                epochs: 2,
                seed: 7,
            };
            pcd.fit(&mut rbm, x.view(), plan, Par::All).unwrap();
            state_bits(&rbm, &pcd)
        })
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn bad_settings_and_shapes_are_errors() {
    let chains = || Matrix::zeros(2, 4).unwrap();
    for config in [
        HiddenPcdConfig {
            cd_k: 0,
            ..HiddenPcdConfig::default()
        },
        HiddenPcdConfig {
            momentum: 1.0,
            ..HiddenPcdConfig::default()
        },
        HiddenPcdConfig {
            learning_rate: f32::NAN,
            ..HiddenPcdConfig::default()
        },
    ] {
        assert!(HiddenPcd::new(config, chains()).is_err(), "{config:?}");
    }
    let (mut rbm, _, x, _) = problem(6, 4, 3, 2, 1);
    let mut wrong =
        HiddenPcd::new(HiddenPcdConfig::default(), Matrix::zeros(2, 5).unwrap()).unwrap();
    let err = wrong
        .step(&mut rbm, x.view(), Streams::new(0), Par::Seq)
        .unwrap_err();
    assert!(err.to_string().contains("hidden chains"), "{err}");
    let mut pcd = HiddenPcd::new(HiddenPcdConfig::default(), chains()).unwrap();
    let narrow = Matrix::zeros(3, 5).unwrap();
    assert!(
        pcd.step(&mut rbm, narrow.view(), Streams::new(0), Par::Seq)
            .is_err()
    );
    let mut g = Rbm::new(RbmConfig::gaussian(6, 4), 0).unwrap();
    assert!(
        pcd.step(&mut g, x.view(), Streams::new(0), Par::Seq)
            .is_err()
    );
}
