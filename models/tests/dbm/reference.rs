//! The f64 references of the DBM tests: mean-field by the same schedule,
//! the gradient from given posteriors and chain states, and exact `ln Z`,
//! `ln p(v)` and `E[v]` of tiny Bernoulli DBMs by enumerating the odd
//! layers (the even ones summed out analytically).

use latent_engine::Matrix;
use latent_models::dbm::{Dbm, DbmConfig};
use latent_testkit::{TestRng, bit_vector, log_sum_exp, sigmoid64, softplus64};

/// A Bernoulli DBM of `sizes` with weights of standard deviation `std` and
/// biases of 0.3, so that its distribution is far from uniform.
pub(super) fn structured_dbm(sizes: &[usize], std: f32, seed: u64) -> Dbm {
    let mut rng = TestRng::new(seed);
    let weights: Vec<Matrix> = sizes
        .windows(2)
        .map(|p| {
            let w: Vec<f32> = (0..p[0] * p[1]).map(|_| rng.uniform(-std, std)).collect();
            Matrix::from_slice(p[0], p[1], &w).unwrap()
        })
        .collect();
    let biases: Vec<Vec<f32>> = sizes
        .iter()
        .map(|&n| (0..n).map(|_| rng.uniform(-0.3, 0.3)).collect())
        .collect();
    Dbm::from_params(DbmConfig::bernoulli(sizes), &weights, &biases).unwrap()
}

/// `Wˡ` (index `l − 1`) and `bˡ` in f64.
pub(super) fn params64(dbm: &Dbm) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let w = dbm
        .weights()
        .iter()
        .map(|m| m.as_slice().iter().map(|&v| v as f64).collect())
        .collect();
    let b = dbm
        .biases()
        .iter()
        .map(|b| b.iter().map(|&v| v as f64).collect())
        .collect();
    (w, b)
}

/// The total input to layer `l` from the states `h` of its neighbours
/// (the one below times `scale`), plus its bias.
pub(super) fn total_input(dbm: &Dbm, h: &[Vec<f64>], l: usize, scale: f64) -> Vec<f64> {
    let (w, b) = params64(dbm);
    let s = dbm.sizes();
    let mut a = b[l].clone();
    for j in 0..s[l] {
        if l > 0 {
            a[j] += scale
                * (0..s[l - 1])
                    .map(|i| h[l - 1][i] * w[l - 1][i * s[l] + j])
                    .sum::<f64>();
        }
        if l < s.len() - 1 {
            let up = s[l + 1];
            a[j] += (0..up).map(|m| h[l + 1][m] * w[l][j * up + m]).sum::<f64>();
        }
    }
    a
}

/// Mean-field for one visible vector by the library's schedule (doubled
/// bottom-up start, then odd/even sweeps), `sweeps` times.
pub(super) fn mean_field64(dbm: &Dbm, v: &[f64], sweeps: usize) -> Vec<Vec<f64>> {
    let s = dbm.sizes();
    let depth = s.len() - 1;
    let mut mu: Vec<Vec<f64>> = s.iter().map(|&n| vec![0.0; n]).collect();
    mu[0] = v.to_vec();
    for l in 1..=depth {
        let scale = if l < depth { 2.0 } else { 1.0 };
        let below_only: Vec<Vec<f64>> = (0..=depth)
            .map(|k| {
                if k <= l {
                    mu[k].clone()
                } else {
                    vec![0.0; s[k]]
                }
            })
            .collect();
        mu[l] = total_input(dbm, &below_only, l, scale)
            .into_iter()
            .map(sigmoid64)
            .collect();
    }
    for _ in 0..sweeps {
        for parity in [1, 0] {
            for l in (1..=depth).filter(|l| l % 2 == parity) {
                mu[l] = total_input(dbm, &mu, l, 1.0)
                    .into_iter()
                    .map(sigmoid64)
                    .collect();
            }
        }
    }
    mu
}

/// One configuration of the odd layers (every layer's states, the even
/// ones zero) and its log-weight.
type OddTerm = (Vec<Vec<f64>>, f64);

/// `ln Σ` over the odd layers' states of `exp(−E)` summed over the even
/// layers, the visible layer fixed at `v` when given; with each odd
/// configuration's term when asked.
fn sum_over_odd(dbm: &Dbm, v: Option<&[f64]>) -> (f64, Vec<OddTerm>) {
    let s = dbm.sizes();
    let (_, b) = params64(dbm);
    let odd: Vec<usize> = (1..s.len()).step_by(2).collect();
    let bits: usize = odd.iter().map(|&l| s[l]).sum();
    assert!(bits <= 20, "too many odd units to enumerate");
    let mut terms = Vec::with_capacity(1 << bits);
    for code in 0..1usize << bits {
        let mut h: Vec<Vec<f64>> = s.iter().map(|&n| vec![0.0; n]).collect();
        let mut shift = 0;
        for &l in &odd {
            h[l] = bit_vector(code >> shift, s[l]);
            shift += s[l];
        }
        let mut t: f64 = odd
            .iter()
            .map(|&l| (0..s[l]).map(|j| b[l][j] * h[l][j]).sum::<f64>())
            .sum();
        for l in (0..s.len()).step_by(2) {
            let a = total_input(dbm, &h, l, 1.0);
            t += match (l, v) {
                (0, Some(v)) => (0..s[0]).map(|i| v[i] * a[i]).sum::<f64>(),
                _ => a.iter().map(|&x| softplus64(x)).sum::<f64>(),
            };
        }
        terms.push((h, t));
    }
    let all: Vec<f64> = terms.iter().map(|t| t.1).collect();
    (log_sum_exp(&all), terms)
}

/// Exact `ln Z`.
pub(super) fn exact_log_z(dbm: &Dbm) -> f64 {
    sum_over_odd(dbm, None).0
}

/// Exact mean `ln p(v)` over the rows of `data`.
pub(super) fn exact_mean_ll(dbm: &Dbm, data: &Matrix) -> f64 {
    let log_z = exact_log_z(dbm);
    let n0 = dbm.sizes()[0];
    let total: f64 = (0..data.rows())
        .map(|r| {
            let v: Vec<f64> = data.as_slice()[r * n0..(r + 1) * n0]
                .iter()
                .map(|&x| x as f64)
                .collect();
            sum_over_odd(dbm, Some(&v)).0 - log_z
        })
        .sum();
    total / data.rows() as f64
}

/// Exact `E[v_i]` under the model: `Σ_odd p(odd)·σ(input to v)`.
pub(super) fn exact_visible_means(dbm: &Dbm) -> Vec<f64> {
    let (log_z, terms) = sum_over_odd(dbm, None);
    let n0 = dbm.sizes()[0];
    let mut means = vec![0.0; n0];
    for (h, t) in terms {
        let p = (t - log_z).exp();
        for (m, a) in means.iter_mut().zip(total_input(dbm, &h, 0, 1.0)) {
            *m += p * sigmoid64(a);
        }
    }
    means
}

/// The 4x4 (or `side x side`) bars-and-stripes images, each once.
pub(super) fn bars_and_stripes(side: usize) -> Matrix {
    let mut rows: Vec<Vec<f32>> = Vec::new();
    for mask in 0..1usize << side {
        let mut bars = vec![0.0f32; side * side];
        let mut stripes = vec![0.0f32; side * side];
        for r in 0..side {
            for c in 0..side {
                bars[r * side + c] = ((mask >> c) & 1) as f32;
                stripes[r * side + c] = ((mask >> r) & 1) as f32;
            }
        }
        for p in [bars, stripes] {
            if !rows.contains(&p) {
                rows.push(p);
            }
        }
    }
    Matrix::from_slice(rows.len(), side * side, &rows.concat()).unwrap()
}

/// Exact `E[v]` of a tiny DBM with unit-variance Gaussian visibles:
/// integrating `v` out leaves `p(h) ∝ exp(Σ_{l≥1} bˡ·hˡ + Σ_{l≥2} hˡ⁻¹ᵀWˡhˡ +
/// Σ_i a_i²/2)` with `a = b⁰ + W¹h¹` the visibles' mean given `h¹`, and
/// `E[v] = Σ_h p(h)·a(h)`; every hidden layer enumerated.
pub(super) fn exact_gaussian_visible_means(dbm: &Dbm) -> Vec<f64> {
    let s = dbm.sizes();
    let (_, b) = params64(dbm);
    let bits: usize = s[1..].iter().sum();
    assert!(bits <= 16, "too many hidden units to enumerate");
    let mut terms = Vec::with_capacity(1 << bits);
    for code in 0..1usize << bits {
        let mut h: Vec<Vec<f64>> = s.iter().map(|&n| vec![0.0; n]).collect();
        let mut shift = 0;
        for l in 1..s.len() {
            h[l] = bit_vector(code >> shift, s[l]);
            shift += s[l];
        }
        // The visibles' mean given h¹ (layer 0's input, its bias included).
        let a = total_input(dbm, &h, 0, 1.0);
        let mut t: f64 = a.iter().map(|&x| x * x / 2.0).sum();
        for l in 1..s.len() {
            t += (0..s[l]).map(|j| b[l][j] * h[l][j]).sum::<f64>();
            if l >= 2 {
                // hˡ⁻¹ᵀWˡhˡ: the input to layer l from below, less its bias.
                let below: Vec<Vec<f64>> = (0..s.len())
                    .map(|k| {
                        if k == l - 1 {
                            h[k].clone()
                        } else {
                            vec![0.0; s[k]]
                        }
                    })
                    .collect();
                let input = total_input(dbm, &below, l, 1.0);
                t += (0..s[l])
                    .map(|j| (input[j] - b[l][j]) * h[l][j])
                    .sum::<f64>();
            }
        }
        terms.push((a, t));
    }
    let log_z = log_sum_exp(&terms.iter().map(|t| t.1).collect::<Vec<_>>());
    let mut means = vec![0.0; s[0]];
    for (a, t) in terms {
        let p = (t - log_z).exp();
        for (m, x) in means.iter_mut().zip(a) {
            *m += p * x;
        }
    }
    means
}
