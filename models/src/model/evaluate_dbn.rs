//! A DBN's part of [`AnyModel::evaluate`](super::AnyModel::evaluate): with
//! AIS asked for, the standard lower bound on the log-likelihood (`MODELS.md`
//! 2.5; Salakhutdinov & Murray 2008, section 4): `ln Z` of the top RBM by
//! AIS from the base rate of the data passed up the stack, and the bound's
//! expectation by samples from the recognition model.

use latent_engine::Matrix;
use latent_kernels::Par;

use super::evaluate::{AisOptions, ais_config};
use crate::dbn::Dbn;
use crate::error::{ModelError, Result};
use crate::eval::{
    DbnBoundConfig, DbnParams, RbmParams, ais_log_z, dbn_top_base_rate_visible_bias,
    dbn_variational_bound,
};
use crate::rbm::{DoubledInput, VisibleUnits};

/// A DBN's lower bound on the average log-likelihood, with the AIS
/// estimate of its top RBM's `ln Z`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DbnBoundResult {
    /// `ln Ẑ` of the top RBM.
    pub log_z: f64,
    /// The lower end of the ±3σ interval of `ln Ẑ`.
    pub log_z_minus_3sd: f64,
    /// The upper end.
    pub log_z_plus_3sd: f64,
    /// The bound per sample: the mean over rows of its Monte Carlo
    /// expectation, minus `ln Ẑ`.
    pub bound: f64,
    /// The Monte Carlo standard error of `bound` (the rows fixed):
    /// `√(Σ_r se_r²) / B`.
    pub std_error: f64,
    /// `bound - 3·std_error` with the upper end of `ln Ẑ`.
    pub bound_low: f64,
    /// `bound + 3·std_error` with the lower end of `ln Ẑ`.
    pub bound_high: f64,
    /// Samples from the recognition model per row.
    pub samples: usize,
    /// The RBMs of the DBN.
    pub layers: usize,
    /// AIS runs.
    pub runs: usize,
    /// AIS temperatures, both ends included.
    pub temperatures: usize,
}

/// The bound of `dbn` on the rows of `x` with `samples` samples per row,
/// AIS as in `ais`, and `seed` for both.
///
/// Errors if a layer is a doubled-input RBM of DBM pretraining (it has no
/// likelihood of its own), `x` has no rows, or as the estimators do.
pub(super) fn dbn_bound(
    dbn: &Dbn,
    x: &Matrix,
    ais: AisOptions,
    samples: usize,
    seed: u64,
    par: Par,
) -> Result<DbnBoundResult> {
    if let Some(l) = dbn
        .layers()
        .iter()
        .position(|r| r.config().doubled != DoubledInput::None)
    {
        return Err(ModelError::Unsupported {
            what: "the DBN bound",
            why: format!(
                "layer {} is a doubled-input RBM of DBM pretraining, which has no likelihood of its own",
                l + 1
            ),
        });
    }
    if x.rows() == 0 {
        return Err(ModelError::Shape {
            what: "DBN bound: data rows (at least one)".into(),
            expected: 1,
            found: 0,
        });
    }
    let sigma = dbn.layers()[0].sigma();
    let params = eval_params(dbn, &sigma);
    let data = x.as_slice();
    // One Gaussian RBM: AIS from its own visible biases, as for an RBM.
    let base = match (params.layers.len(), params.top().visible) {
        (1, crate::eval::VisibleUnits::Gaussian { .. }) => params.top().visible_bias.to_vec(),
        _ => dbn_top_base_rate_visible_bias(&params, data, par)?,
    };
    let cfg = ais_config(ais, seed);
    let est = ais_log_z(params.top(), &base, &cfg, par)?;
    let config = DbnBoundConfig {
        samples,
        seed,
        ..DbnBoundConfig::default()
    };
    let rows = x.rows();
    let (mut mean, mut se) = (vec![0.0f64; rows], vec![0.0f64; rows]);
    dbn_variational_bound(&params, data, &config, &mut mean, &mut se, par)?;
    let n = rows as f64;
    let expected = mean.iter().sum::<f64>() / n;
    let std_error = se.iter().map(|s| s * s).sum::<f64>().sqrt() / n;
    Ok(DbnBoundResult {
        log_z: est.log_z,
        log_z_minus_3sd: est.log_z_minus_3sd,
        log_z_plus_3sd: est.log_z_plus_3sd,
        bound: expected - est.log_z,
        std_error,
        bound_low: expected - 3.0 * std_error - est.log_z_plus_3sd,
        bound_high: expected + 3.0 * std_error - est.log_z_minus_3sd,
        samples,
        layers: params.layers.len(),
        runs: cfg.n_runs,
        temperatures: cfg.betas.len(),
    })
}

/// The DBN's f32 parameters as [`DbnParams`], with `sigma` the bottom
/// RBM's standard deviations ([`Rbm::sigma`](crate::rbm::Rbm::sigma)).
fn eval_params<'a>(dbn: &'a Dbn, sigma: &'a [f32]) -> DbnParams<'a> {
    DbnParams::new(
        dbn.layers()
            .iter()
            .map(|r| {
                let (w, b, c) = (r.weights().as_slice(), r.visible_bias(), r.hidden_bias());
                match r.config().visible {
                    VisibleUnits::Bernoulli => RbmParams::bernoulli(w, b, c),
                    VisibleUnits::Gaussian => RbmParams::gaussian(w, b, c, sigma),
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use latent_testkit::TestRng;

    use super::*;
    use crate::eval::{dbn_exact_variational_bound, dbn_log_likelihood, exact_log_z};
    use crate::model::{AnyModel, EvalOptions};
    use crate::rbm::{Rbm, RbmConfig};

    /// An RBM with weights uniform in `[-w, w)` and biases in `[-1, 1)`.
    fn rbm(rng: &mut TestRng, config: RbmConfig, w: f32) -> Rbm {
        let (v, h) = (config.n_visible, config.n_hidden);
        let weights: Vec<f32> = rng.vec(v * h).iter().map(|x| x * w).collect();
        Rbm::from_params(config, &weights, &rng.vec(v), &rng.vec(h)).unwrap()
    }

    fn binary(rng: &mut TestRng, rows: usize, cols: usize) -> Matrix {
        let data: Vec<f32> = (0..rows * cols)
            .map(|_| (rng.uniform(0.0, 1.0) < 0.4) as u8 as f32)
            .collect();
        Matrix::from_slice(rows, cols, &data).unwrap()
    }

    fn options(runs: usize, steps: usize) -> EvalOptions {
        EvalOptions {
            ais: Some(AisOptions { runs, steps }),
            bound_samples: 10,
            iw_samples: 1,
            seed: 5,
        }
    }

    #[test]
    fn one_rbm_dbn_reports_the_rbm_ais_log_likelihood() {
        let mut rng = TestRng::new(1);
        for config in [
            RbmConfig::bernoulli(8, 30),
            RbmConfig {
                visible: VisibleUnits::Gaussian,
                ..RbmConfig::bernoulli(6, 30)
            },
        ] {
            let r = rbm(&mut rng, config, 1.0);
            let (w, b, c) = (r.weights().as_slice(), r.visible_bias(), r.hidden_bias());
            let twin = Rbm::from_params(config, w, b, c).unwrap();
            let x = binary(&mut rng, 25, config.n_visible);
            let opts = options(20, 300);
            let as_rbm = AnyModel::Rbm(Box::new(twin))
                .evaluate(&x, &opts, Par::All)
                .unwrap();
            let dbn = AnyModel::Dbn(Dbn::from_rbms(vec![r]).unwrap());
            let e = dbn.evaluate(&x, &opts, Par::All).unwrap();
            let (a, d) = (as_rbm.ais.unwrap(), e.dbn_bound.unwrap());
            assert_eq!(d.log_z.to_bits(), a.log_z.to_bits());
            assert_eq!(d.log_z_plus_3sd.to_bits(), a.log_z_plus_3sd.to_bits());
            assert_eq!(d.bound.to_bits(), a.log_likelihood.to_bits());
            assert_eq!(d.bound_low.to_bits(), a.log_likelihood_low.to_bits());
            assert_eq!(d.bound_high.to_bits(), a.log_likelihood_high.to_bits());
            assert_eq!((d.std_error, d.layers, d.runs), (0.0, 1, 20));
        }
    }

    #[test]
    fn two_layer_bound_agrees_with_exact_values() {
        let mut rng = TestRng::new(2);
        let r1 = rbm(&mut rng, RbmConfig::bernoulli(8, 6), 1.5);
        let r2 = rbm(&mut rng, RbmConfig::bernoulli(6, 5), 1.5);
        let dbn = Dbn::from_rbms(vec![r1, r2]).unwrap();
        let x = binary(&mut rng, 40, 8);
        let mut opts = options(50, 2000);
        opts.bound_samples = 400;
        // Exact ln Z of the top RBM, exact ln p(v) and the exact bound.
        let params = eval_params(&dbn, &[]);
        let log_z = exact_log_z(params.top(), Par::Seq).unwrap();
        let mut per_row = vec![0.0; 40];
        dbn_log_likelihood(&params, x.as_slice(), log_z, &mut per_row, Par::Seq).unwrap();
        let ll = per_row.iter().sum::<f64>() / 40.0;
        dbn_exact_variational_bound(&params, x.as_slice(), &mut per_row, Par::Seq).unwrap();
        let exact_bound = per_row.iter().sum::<f64>() / 40.0 - log_z;
        assert!(exact_bound < ll - 1e-3, "{exact_bound} vs {ll}");

        let d = AnyModel::Dbn(dbn).evaluate(&x, &opts, Par::All).unwrap();
        let d = d.dbn_bound.unwrap();
        assert!(
            d.log_z_minus_3sd <= log_z && log_z <= d.log_z_plus_3sd,
            "{d:?} vs {log_z}"
        );
        let slack = 4.0 * d.std_error + (d.log_z - log_z).abs();
        assert!(
            (d.bound - exact_bound).abs() <= slack,
            "{d:?} vs {exact_bound}"
        );
        assert!(
            d.bound_low <= exact_bound && exact_bound <= d.bound_high,
            "{d:?}"
        );
        assert!(
            d.std_error > 0.0 && (d.samples, d.layers, d.runs) == (400, 2, 50),
            "{d:?}"
        );
    }

    #[test]
    fn doubled_input_layers_are_refused() {
        let mut rng = TestRng::new(3);
        let config = RbmConfig {
            doubled: DoubledInput::BottomUp,
            ..RbmConfig::bernoulli(8, 6)
        };
        let r1 = rbm(&mut rng, config, 1.0);
        let r2 = rbm(&mut rng, RbmConfig::bernoulli(6, 5), 1.0);
        let x = binary(&mut rng, 4, 8);
        let dbn = AnyModel::Dbn(Dbn::from_rbms(vec![r1, r2]).unwrap());
        let e = dbn.evaluate(&x, &options(4, 10), Par::Seq);
        assert!(
            matches!(&e, Err(ModelError::Unsupported { why, .. }) if why.contains("layer 1")),
            "{e:?}"
        );
    }
}
