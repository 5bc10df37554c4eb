//! [`AnyModel::evaluate`] on DBMs: the exact values against the f64
//! enumeration of `reference`, the variational bound below the exact
//! log-likelihood and tightening with more mean-field sweeps, AIS's ±3σ
//! interval around the exact `ln Z`, and a DBM too large to enumerate.

use latent_engine::Matrix;
use latent_kernels::Par;
use latent_models::dbm::{Dbm, DbmConfig, MeanFieldOptions};
use latent_models::model::{AisOptions, AnyModel, EvalOptions};
use latent_models::rbm::{Rbm, RbmConfig};
use latent_testkit::TestRng;

use super::reference::{exact_log_z, exact_mean_ll, structured_dbm};

fn data(rows: usize, cols: usize, seed: u64) -> Matrix {
    let mut rng = TestRng::new(seed);
    Matrix::from_fn(rows, cols, |_, j| {
        (rng.uniform(0.0, 1.0) < 0.2 + 0.06 * j as f32) as u8 as f32
    })
    .unwrap()
}

fn opts(ais: Option<AisOptions>) -> EvalOptions {
    EvalOptions {
        ais,
        iw_samples: 1,
        seed: 11,
        bound_samples: 10,
    }
}

#[test]
fn exact_values_match_the_enumeration_and_bound_the_likelihood() {
    for (n, sizes) in [vec![8, 6, 5], vec![7, 5, 4, 3]].into_iter().enumerate() {
        let dbm = structured_dbm(&sizes, 1.0, 30 + n as u64);
        let x = data(40, sizes[0], 7 + n as u64);
        let (z, ll) = (exact_log_z(&dbm), exact_mean_ll(&dbm, &x));
        let recon = dbm.reconstruction_error(&x, Par::All).unwrap();
        let model = AnyModel::Dbm(Box::new(dbm));
        let ais = AisOptions {
            runs: 100,
            steps: 2000,
        };
        let e = model.evaluate(&x, &opts(Some(ais)), Par::All).unwrap();
        assert!((e.squared_error - recon).abs() < 1e-9, "{sizes:?}");
        let d = e.dbm.as_ref().unwrap();
        let exact = d.exact.unwrap();
        assert!(
            (exact.log_z - z).abs() < 1e-6 * z.abs().max(1.0),
            "{sizes:?}: ln Z {} vs {z}",
            exact.log_z
        );
        assert!(
            (exact.log_likelihood - ll).abs() < 1e-6 * ll.abs().max(1.0),
            "{sizes:?}: {} vs {ll}",
            exact.log_likelihood
        );
        assert!(
            exact.bound <= ll,
            "{sizes:?}: bound {} above ll {ll}",
            exact.bound
        );
        assert!(
            exact.bound > ll - 5.0,
            "{sizes:?}: bound {} far below {ll}",
            exact.bound
        );
        let a = d.ais.unwrap();
        assert!(
            a.log_z_minus_3sd <= z && z <= a.log_z_plus_3sd,
            "{sizes:?}: {a:?} vs {z}"
        );
        assert!((a.bound - (exact.bound + exact.log_z - a.log_z)).abs() < 1e-9);
        assert_eq!((a.runs, a.temperatures), (100, 2001));
        // One sweep, then 100 sweeps without a tolerance: the bound rises
        // (or stays) and stays below the log-likelihood.
        let bound_at = |sweeps| {
            let mf = MeanFieldOptions {
                max_iters: sweeps,
                tol: 0.0,
            };
            let e = model
                .evaluate_dbm(&x, &opts(None), Some(mf), Par::All)
                .unwrap();
            let d = e.dbm.unwrap();
            assert_eq!(d.mf_sweeps, sweeps);
            d.exact.unwrap().bound
        };
        let (one, many) = (bound_at(1), bound_at(100));
        assert!(
            one <= many + 1e-9 && many <= ll,
            "{sizes:?}: {one}, {many}, {ll}"
        );
    }
}

#[test]
fn a_large_dbm_skips_the_exact_values_and_other_kinds_are_refused() {
    let dbm = Dbm::new(DbmConfig::bernoulli(&[30, 24, 20]), 1).unwrap();
    let x = data(10, 30, 3);
    let model = AnyModel::Dbm(Box::new(dbm));
    let e = model.evaluate(&x, &opts(None), Par::All).unwrap();
    let d = e.dbm.unwrap();
    assert!(d.exact.is_none() && d.ais.is_none());
    assert_eq!(d.exact_skipped, Some(24), "ln Z over h¹, 24 units > 20");
    assert_eq!(d.mf_sweeps, 0, "no ln Z, no bound");
    let ais = AisOptions { runs: 4, steps: 50 };
    let e = model.evaluate(&x, &opts(Some(ais)), Par::All).unwrap();
    let a = e.dbm.unwrap().ais.unwrap();
    assert!(a.bound.is_finite() && a.bound < 0.0, "{a:?}");
    let rbm = AnyModel::Rbm(Box::new(Rbm::new(RbmConfig::bernoulli(30, 4), 0).unwrap()));
    let err = rbm
        .evaluate_dbm(&x, &opts(None), None, Par::All)
        .unwrap_err();
    assert!(err.to_string().contains("not a DBM"), "{err}");
}
