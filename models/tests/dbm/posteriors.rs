//! Mean-field posteriors and the training gradient against direct f64
//! computations on tiny models.

use latent_engine::Matrix;
use latent_engine::train::Model;
use latent_kernels::{Par, Precision};
use latent_models::dbm::{Dbm, DbmScratch, MeanFieldOptions};
use latent_testkit::{TestRng, sigmoid64};

use super::reference::{mean_field64, params64, structured_dbm, total_input};

/// Binary rows of `cols` units, each on with probability 0.4.
fn binary_rows(rows: usize, cols: usize, seed: u64) -> Matrix {
    let mut rng = TestRng::new(seed);
    Matrix::from_fn(rows, cols, |_, _| {
        (rng.uniform(0.0, 1.0) < 0.4) as u8 as f32
    })
    .unwrap()
}

fn row64(m: &[f32], r: usize, n: usize) -> Vec<Vec<f64>> {
    vec![m[r * n..(r + 1) * n].iter().map(|&x| x as f64).collect()]
}

#[test]
fn mean_field_reaches_the_fixed_point_of_the_f64_updates() {
    for sizes in [vec![5, 4, 3], vec![6, 5, 4, 3]] {
        let dbm = structured_dbm(&sizes, 1.5, 7);
        let x = binary_rows(9, sizes[0], 3);
        let mut scratch = DbmScratch::new();
        let opts = MeanFieldOptions {
            max_iters: 300,
            tol: 0.0,
        };
        let stats = dbm
            .mean_field_with(x.view(), opts, &mut scratch, Par::Seq)
            .unwrap();
        assert_eq!(stats.iterations, 300);
        for r in 0..x.rows() {
            let v = &row64(x.as_slice(), r, sizes[0])[0];
            let want = mean_field64(&dbm, v, 300);
            // The library's posteriors as f64 states, to check the fixed point.
            let got: Vec<Vec<f64>> = (0..sizes.len())
                .map(|l| {
                    let n = sizes[l];
                    let p = scratch.posterior(l).unwrap();
                    p[r * n..(r + 1) * n].iter().map(|&x| x as f64).collect()
                })
                .collect();
            for l in 1..sizes.len() {
                let fixed: Vec<f64> = total_input(&dbm, &got, l, 1.0)
                    .into_iter()
                    .map(sigmoid64)
                    .collect();
                for j in 0..sizes[l] {
                    let (g, w, f) = (got[l][j], want[l][j], fixed[j]);
                    assert!(
                        (g - w).abs() < 2e-6,
                        "{sizes:?} row {r} layer {l} unit {j}: {g} vs f64 {w}"
                    );
                    assert!(
                        (g - f).abs() < 2e-6,
                        "{sizes:?} row {r} layer {l} unit {j}: not a fixed point ({g} vs {f})"
                    );
                }
            }
        }
        assert!(scratch.posterior(sizes.len()).is_none());
    }
}

#[test]
fn the_tolerance_stops_mean_field_early_and_follows_the_f64_sweeps() {
    let dbm = structured_dbm(&[5, 4, 3], 1.0, 11);
    let x = binary_rows(6, 5, 4);
    let mut scratch = DbmScratch::new();
    let loose = MeanFieldOptions {
        max_iters: 200,
        tol: 1e-3,
    };
    let stats = dbm
        .mean_field_with(x.view(), loose, &mut scratch, Par::Seq)
        .unwrap();
    assert!(
        stats.iterations < 200 && stats.max_change <= 1e-3,
        "{stats:?}"
    );
    // Sweep by sweep, the same values as the f64 updates.
    for sweeps in [1, 2, 5] {
        let opts = MeanFieldOptions {
            max_iters: sweeps,
            tol: 0.0,
        };
        dbm.mean_field_with(x.view(), opts, &mut scratch, Par::Seq)
            .unwrap();
        for r in 0..x.rows() {
            let want = mean_field64(&dbm, &row64(x.as_slice(), r, 5)[0], sweeps);
            for l in 1..3 {
                let n = dbm.sizes()[l];
                let got = &scratch.posterior(l).unwrap()[r * n..(r + 1) * n];
                for j in 0..n {
                    assert!(
                        (got[j] as f64 - want[l][j]).abs() < 2e-6,
                        "{sweeps} sweeps, row {r} layer {l}"
                    );
                }
            }
        }
    }
    let zero = MeanFieldOptions {
        max_iters: 0,
        tol: 0.0,
    };
    assert!(
        dbm.mean_field_with(x.view(), zero, &mut scratch, Par::Seq)
            .is_err()
    );
    let narrow = binary_rows(2, 4, 1);
    assert!(
        dbm.mean_field(narrow.view(), &mut scratch, Par::Seq)
            .is_err()
    );
}

#[test]
fn the_gradient_is_the_data_term_minus_the_chains_term() {
    for (sizes, chains) in [(vec![5, 4, 3], None), (vec![6, 5, 4, 3], Some(7))] {
        let mut dbm = structured_dbm(&sizes, 1.0, 5);
        let mut config = dbm.config().clone();
        config.mf_iters = 300;
        config.mf_tol = 0.0;
        config.chains = chains;
        config.cd_k = 2;
        let weights: Vec<Matrix> = dbm.weights().into_iter().cloned().collect();
        let biases: Vec<Vec<f32>> = dbm.biases().iter().map(|b| b.to_vec()).collect();
        dbm = Dbm::from_params(config, &weights, &biases).unwrap();
        let x = binary_rows(10, sizes[0], 9);
        let mut grads = dbm.params().zeros_like().unwrap();
        for seed in [1, 2] {
            dbm.pcd_gradient(x.view(), &mut grads, seed, Par::Seq)
                .unwrap();
        }
        let (b_rows, c) = (x.rows(), dbm.chain_count());
        assert_eq!(c, chains.unwrap_or(b_rows));
        let depth = sizes.len() - 1;
        let mu: Vec<Vec<Vec<f64>>> = (0..b_rows)
            .map(|r| mean_field64(&dbm, &row64(x.as_slice(), r, sizes[0])[0], 300))
            .collect();
        let h =
            |l: usize, k: usize, i: usize| dbm.chain_states(l).unwrap()[k * sizes[l] + i] as f64;
        let (w, _) = params64(&dbm);
        for l in 1..=depth {
            let (a, b) = (sizes[l - 1], sizes[l]);
            let g = grads.value(l - 1).as_slice();
            assert_eq!(g.len(), w[l - 1].len());
            for i in 0..a {
                for j in 0..b {
                    let data: f64 =
                        mu.iter().map(|m| m[l - 1][i] * m[l][j]).sum::<f64>() / b_rows as f64;
                    let model: f64 =
                        (0..c).map(|k| h(l - 1, k, i) * h(l, k, j)).sum::<f64>() / c as f64;
                    let want = -(data - model);
                    let got = g[i * b + j] as f64;
                    assert!(
                        (got - want).abs() < 1e-5,
                        "{sizes:?} W{l}[{i},{j}]: {got} vs {want}"
                    );
                }
            }
        }
        for l in 0..=depth {
            let g = grads.value(depth + l).as_slice();
            for j in 0..sizes[l] {
                let data: f64 = mu.iter().map(|m| m[l][j]).sum::<f64>() / b_rows as f64;
                let model: f64 = (0..c).map(|k| h(l, k, j)).sum::<f64>() / c as f64;
                let want = -(data - model);
                assert!(
                    (g[j] as f64 - want).abs() < 1e-5,
                    "{sizes:?} b{l}[{j}]: {} vs {want}",
                    g[j]
                );
            }
        }
        // The chains hold binary states.
        for l in 0..=depth {
            assert!(
                dbm.chain_states(l)
                    .unwrap()
                    .iter()
                    .all(|&s| s == 0.0 || s == 1.0)
            );
        }
    }
}

#[test]
fn bf16_mean_field_stays_near_f32() {
    let mut dbm = structured_dbm(&[40, 30, 20], 0.3, 2);
    let x = binary_rows(16, 40, 8);
    let mut scratch = DbmScratch::new();
    dbm.mean_field(x.view(), &mut scratch, Par::Seq).unwrap();
    let f32_top = scratch.posterior(2).unwrap().to_vec();
    dbm.set_precision(Precision::Bf16);
    dbm.mean_field(x.view(), &mut scratch, Par::Seq).unwrap();
    let bf16_top = scratch.posterior(2).unwrap();
    let worst = f32_top
        .iter()
        .zip(bf16_top)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst > 0.0 && worst < 0.02, "bf16 vs f32: {worst}");
}
