//! The mean-field bound against its definition, below the exact
//! log-likelihood, tightening with mean-field sweeps, tight when the
//! posterior factorises.

use super::*;

/// The posteriors of every row of `data` after `sweeps` mean-field sweeps,
/// as the `B x n_l` f32 matrices the bound takes.
fn batch_mean_field(dbm: &Dbm, data: &[f32], sweeps: usize) -> Vec<Vec<f32>> {
    let nv = dbm.sizes[0];
    let mut mu: Vec<Vec<f32>> = vec![Vec::new(); dbm.top()];
    for row in data.chunks_exact(nv) {
        for (m, layer) in mu.iter_mut().zip(dbm.mean_field(&f64s(row), sweeps)) {
            m.extend(layer.iter().map(|&x| x as f32));
        }
    }
    mu
}

fn bound(dbm: &Dbm, data: &[f32], mu: &[Vec<f32>], log_z: f64, par: Par) -> Vec<f64> {
    let mu: Vec<&[f32]> = mu.iter().map(|m| &m[..]).collect();
    let mut out = vec![0.0f64; data.len() / dbm.sizes[0]];
    dbm_variational_bound_with_log_z(&dbm.params(), data, &mu, log_z, &mut out, par).unwrap();
    out
}

fn exact_ll(dbm: &Dbm, data: &[f32]) -> Vec<f64> {
    let log_z = dbm_exact_log_z(&dbm.params(), Par::Seq).unwrap();
    let mut out = vec![0.0f64; data.len() / dbm.sizes[0]];
    dbm_log_likelihood(&dbm.params(), data, log_z, &mut out, Par::Seq).unwrap();
    out
}

fn gaussian_rows(seed: u64, rows: usize, n: usize) -> Vec<f32> {
    let mut rng = TestRng::new(seed);
    (0..rows * n).map(|_| rng.uniform(-2.0, 2.0)).collect()
}

#[test]
fn bound_matches_its_definition() {
    let sigma = [0.5f32, 1.0, 1.5, 2.0, 0.8];
    let models = [
        Dbm::random(1, &[4, 3, 2], 1.5, 1.0),
        Dbm::random(2, &[5, 4, 3, 2], 1.0, 1.0),
        Dbm::random(3, &[5, 4, 3], 1.0, 1.0).with_sigma(&sigma),
    ];
    for dbm in &models {
        let nv = dbm.sizes[0];
        let data = match dbm.sigma {
            None => binary_rows(4, 9, nv),
            Some(_) => gaussian_rows(4, 9, nv),
        };
        // Arbitrary posteriors, some exactly 0 or 1 (0 ln 0 = 0).
        let mut rng = TestRng::new(9);
        let mu: Vec<Vec<f32>> = dbm.sizes[1..]
            .iter()
            .map(|&n| {
                (0..9 * n)
                    .map(|k| match k % 7 {
                        0 => 0.0,
                        1 => 1.0,
                        _ => rng.uniform(0.0, 1.0),
                    })
                    .collect()
            })
            .collect();
        let got = bound(dbm, &data, &mu, 0.0, Par::Seq);
        for r in 0..9 {
            let mu_r: Vec<Vec<f64>> = (1..=dbm.top())
                .map(|l| f64s(&mu[l - 1][r * dbm.sizes[l]..(r + 1) * dbm.sizes[l]]))
                .collect();
            let want = dbm.bound_f64(&f64s(&data[r * nv..(r + 1) * nv]), &mu_r);
            assert!(
                rel_close(got[r], want, 1e-5),
                "row {r}: {} vs {want}",
                got[r]
            );
        }
        let with_z = bound(dbm, &data, &mu, 2.5, Par::Seq);
        for (a, b) in with_z.iter().zip(&got) {
            assert_eq!(*a, b - 2.5);
        }
    }
}

#[test]
fn bound_is_below_the_exact_log_likelihood_and_tightens_with_mean_field() {
    let sigma = [0.7f32, 1.0, 1.3, 0.9, 1.1];
    let models = [
        Dbm::random(21, &[6, 5, 4], 1.5, 1.0),
        Dbm::random(22, &[5, 4, 3, 3], 1.5, 1.0),
        Dbm::random(23, &[5, 4, 3], 1.5, 1.0).with_sigma(&sigma),
    ];
    for dbm in &models {
        let nv = dbm.sizes[0];
        let data = match dbm.sigma {
            None => binary_rows(5, 30, nv),
            Some(_) => gaussian_rows(5, 30, nv),
        };
        let log_z = dbm_exact_log_z(&dbm.params(), Par::Seq).unwrap();
        let ll = exact_ll(dbm, &data);
        let one = bound(
            dbm,
            &data,
            &batch_mean_field(dbm, &data, 1),
            log_z,
            Par::Seq,
        );
        let conv = bound(
            dbm,
            &data,
            &batch_mean_field(dbm, &data, 200),
            log_z,
            Par::Seq,
        );
        let mut gained = 0.0;
        for r in 0..30 {
            assert!(
                conv[r] <= ll[r],
                "{:?} row {r}: bound {} > ll {}",
                dbm.sizes,
                conv[r],
                ll[r]
            );
            assert!(
                one[r] <= conv[r],
                "{:?} row {r}: {} > {}",
                dbm.sizes,
                one[r],
                conv[r]
            );
            gained += conv[r] - one[r];
        }
        // The sweeps tighten the bound by a visible amount on average
        // (measured when written: 0.086, 0.093 and 0.013 nats; converged
        // bounds 0.14 to 0.22 nats below ln p(v) on average).
        assert!(
            gained / 30.0 > 1e-2,
            "{:?}: mean gain {}",
            dbm.sizes,
            gained / 30.0
        );
        // And monotonically, sweep by sweep (coordinate ascent, in f64).
        let v = f64s(&data[..nv]);
        let mut last = f64::NEG_INFINITY;
        for sweeps in 1..30 {
            let b = dbm.bound_f64(&v, &dbm.mean_field(&v, sweeps));
            assert!(b >= last - 1e-12 * b.abs(), "sweep {sweeps}: {b} < {last}");
            last = b;
        }
    }
}

#[test]
fn bound_is_tight_when_the_posterior_factorises() {
    // With W^2 = … = W^L = 0 the layers above 1 are independent of v and of
    // h¹, and h¹ is factorial given v: converged mean field is the exact
    // posterior and the bound is ln p(v) itself.
    let sigma = [0.7f32, 1.0, 1.3, 0.9];
    for dbm in [
        Dbm::random(31, &[4, 3, 2, 2], 1.5, 1.0),
        Dbm::random(32, &[4, 3, 3], 1.5, 1.0).with_sigma(&sigma),
    ] {
        let mut dbm = dbm;
        for w in &mut dbm.w[1..] {
            w.iter_mut().for_each(|x| *x = 0.0);
        }
        let data = match dbm.sigma {
            None => binary_rows(6, 16, 4),
            Some(_) => gaussian_rows(6, 16, 4),
        };
        let log_z = dbm_exact_log_z(&dbm.params(), Par::Seq).unwrap();
        let ll = exact_ll(&dbm, &data);
        let b = bound(
            &dbm,
            &data,
            &batch_mean_field(&dbm, &data, 5),
            log_z,
            Par::Seq,
        );
        for r in 0..16 {
            assert!(
                rel_close(b[r], ll[r], 1e-5),
                "row {r}: {} vs {}",
                b[r],
                ll[r]
            );
        }
    }
}

#[test]
fn bound_is_identical_for_any_thread_count() {
    let dbm = Dbm::random(41, &[20, 16, 12], 0.5, 0.5);
    let data = binary_rows(7, 150, 20);
    let mu = batch_mean_field(&dbm, &data, 10);
    let bits = |x: Vec<f64>| x.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let one = thread_pool(1).install(|| bits(bound(&dbm, &data, &mu, 1.0, Par::All)));
    let two = thread_pool(2).install(|| bits(bound(&dbm, &data, &mu, 1.0, Par::All)));
    assert_eq!(one, two);
    assert_eq!(one, bits(bound(&dbm, &data, &mu, 1.0, Par::Seq)));
}

#[test]
fn bad_posteriors_are_refused() {
    let dbm = Dbm::random(1, &[4, 3, 2], 1.0, 1.0);
    let data = binary_rows(1, 2, 4);
    let (m1, m2) = (vec![0.5f32; 6], vec![0.5f32; 4]);
    let mut out = [0.0f64; 2];
    let p = dbm.params();
    let err = dbm_variational_bound(&p, &data, &[&m1], &mut out, Par::Seq).unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::Shape {
                expected: 2,
                found: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let err = dbm_variational_bound(&p, &data, &[&m1, &m2[..3]], &mut out, Par::Seq).unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::Shape {
                expected: 4,
                found: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("μ^2 (2 rows x 2 units"), "{err}");
    let mut bad = m2.clone();
    bad[1] = 1.5;
    let err = dbm_variational_bound(&p, &data, &[&m1, &bad], &mut out, Par::Seq).unwrap_err();
    assert!(matches!(err, ModelError::InvalidConfig { .. }), "{err:?}");
    bad[1] = f32::NAN;
    assert!(dbm_variational_bound(&p, &data, &[&m1, &bad], &mut out, Par::Seq).is_err());
    let err = dbm_variational_bound(&p, &data, &[&m1, &m2], &mut out[..1], Par::Seq);
    assert!(matches!(
        err,
        Err(ModelError::Shape {
            expected: 2,
            found: 1,
            ..
        })
    ));
}
