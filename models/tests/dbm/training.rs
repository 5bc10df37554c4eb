//! The Gibbs sampler against the exact marginals of a tiny DBM, and
//! training on bars and stripes against the exact log-likelihood.

use latent_engine::train::{Silent, Threads, TrainConfig, Trainer};
use latent_engine::{Dataset, LrSchedule, Matrix};
use latent_kernels::Par;
use latent_models::dbm::{Dbm, DbmConfig};
use latent_models::model::{Inference, SampleRequest, Score};
use latent_models::train::{Settings, SettingsOverrides};

use super::reference::{
    bars_and_stripes, exact_gaussian_visible_means, exact_mean_ll, exact_visible_means,
    structured_dbm,
};

/// Trains `dbm` on `x` for `epochs` epochs of batches of `batch` with SGD
/// at `lr` (the run settings' momentum and weight decay), on `threads`.
pub(super) fn train(
    dbm: Dbm,
    x: &Matrix,
    epochs: usize,
    batch: usize,
    lr: f32,
    threads: usize,
) -> Trainer<Dbm> {
    let flags = SettingsOverrides {
        lr: Some(lr),
        ..Default::default()
    };
    let settings = Settings::resolve(latent_models::persist::Kind::Dbm, &flags, None).unwrap();
    let mut optimizer = settings.optimizer_config();
    optimizer.lr = LrSchedule::constant(lr);
    let mut config = TrainConfig::new(optimizer);
    config.epochs = epochs;
    config.batch_size = batch;
    config.seed = 5;
    config.threads = Threads::Count(threads);
    let mut trainer = Trainer::new(dbm, config).unwrap();
    let ds = Dataset::new(x.clone(), None).unwrap();
    trainer.fit(&ds, None, &mut Silent).unwrap();
    trainer
}

#[test]
fn sampled_chains_match_the_exact_visible_marginals() {
    let dbm = structured_dbm(&[4, 3, 3], 1.2, 21);
    let want = exact_visible_means(&dbm);
    // 4000 chains, 30 sweeps each: the mean of E[v | h¹] over the chains
    // estimates E[v] with a standard error below 0.25/√4000 ≈ 0.004.
    let n = 4000;
    let s = dbm
        .samples(n, SampleRequest { steps: 30, seed: 3 }, Par::All)
        .unwrap();
    for i in 0..4 {
        let mean: f64 = (0..n).map(|r| s.as_slice()[r * 4 + i] as f64).sum::<f64>() / n as f64;
        assert!(
            (mean - want[i]).abs() < 0.02,
            "E[v{i}]: chains {mean}, exact {}",
            want[i]
        );
    }
    // Far from uniform, so the check means something.
    assert!(want.iter().any(|&m| (m - 0.5).abs() > 0.1), "{want:?}");
}

#[test]
fn gaussian_visible_chains_match_the_exact_visible_means() {
    let sizes = [3, 3, 2];
    let bernoulli = structured_dbm(&sizes, 0.8, 31);
    let weights: Vec<Matrix> = bernoulli.weights().into_iter().cloned().collect();
    let biases: Vec<Vec<f32>> = bernoulli.biases().iter().map(|b| b.to_vec()).collect();
    let dbm = Dbm::from_params(DbmConfig::gaussian(&sizes), &weights, &biases).unwrap();
    let want = exact_gaussian_visible_means(&dbm);
    let n = 6000;
    let s = dbm
        .samples(n, SampleRequest { steps: 40, seed: 8 }, Par::All)
        .unwrap();
    for i in 0..3 {
        let col: Vec<f64> = (0..n).map(|r| s.as_slice()[r * 3 + i] as f64).collect();
        let mean = col.iter().sum::<f64>() / n as f64;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let se = (var / n as f64).sqrt();
        assert!(
            (mean - want[i]).abs() < 5.0 * se + 1e-3,
            "E[v{i}]: chains {mean} ± {se}, exact {}",
            want[i]
        );
    }
    // Away from the biases alone, so the hidden layers' part is checked.
    let off = (0..3)
        .map(|i| (want[i] - biases[0][i] as f64).abs())
        .fold(0.0, f64::max);
    assert!(off > 0.1, "{want:?} vs biases {:?}", biases[0]);
}

#[test]
fn training_on_bars_and_stripes_raises_the_exact_log_likelihood() {
    let x = bars_and_stripes(4);
    let config = DbmConfig {
        chains: Some(50),
        cd_k: 3,
        ..DbmConfig::bernoulli(&[16, 8, 6])
    };
    let dbm = Dbm::new(config, 1).unwrap();
    let before = exact_mean_ll(&dbm, &x);
    let recon_before = dbm.reconstruction_error(&x, Par::All).unwrap();
    let trainer = train(dbm, &x, 300, 10, 0.02, 1);
    let dbm = trainer.model();
    let after = exact_mean_ll(dbm, &x);
    let recon_after = dbm.reconstruction_error(&x, Par::All).unwrap();
    // Uniform is 16 ln 2 ≈ 11.09 nats a pattern; 30 patterns are ln 30 ≈ 3.4.
    assert!(
        after > before + 3.5,
        "exact mean log-likelihood {before} -> {after}"
    );
    assert!(
        recon_after < 0.3 * recon_before,
        "reconstruction error {recon_before} -> {recon_after}"
    );
    // The trainer's loss is the reconstruction error, falling too.
    let h = trainer.history();
    assert!(
        h.last().unwrap().train_loss < h[0].train_loss,
        "{:?}",
        h.iter().map(|r| r.train_loss).collect::<Vec<_>>()
    );
    assert!(
        h[0].metrics
            .iter()
            .any(|(k, v)| k == "mf_iters" && *v >= 1.0),
        "{:?}",
        h[0].metrics
    );
}

#[test]
fn inference_shapes_scores_and_errors() {
    let dbm = structured_dbm(&[6, 5, 4, 3], 0.8, 4);
    let x = Matrix::from_fn(7, 6, |i, j| ((i + j) % 3 == 0) as u8 as f32).unwrap();
    assert_eq!((dbm.n_visible(), dbm.n_features()), (6, 3));
    assert_eq!(dbm.features(&x, Par::All).unwrap().shape(), (7, 3));
    let r = dbm.reconstructions(&x, Par::All).unwrap();
    assert_eq!(r.shape(), (7, 6));
    assert!(r.as_slice().iter().all(|&v| v > 0.0 && v < 1.0));
    let scores = dbm.scores(&x, Score::Reconstruction, 0, Par::All).unwrap();
    let want: Vec<f32> = (0..7)
        .map(|i| {
            (0..6)
                .map(|j| (x.as_slice()[i * 6 + j] - r.as_slice()[i * 6 + j]).powi(2))
                .sum()
        })
        .collect();
    assert_eq!(scores, want);
    assert!(dbm.scores(&x, Score::FreeEnergy, 0, Par::All).is_err());
    let s = dbm
        .samples(5, SampleRequest { steps: 3, seed: 1 }, Par::All)
        .unwrap();
    assert_eq!(s.shape(), (5, 6));
    assert!(
        dbm.features(&Matrix::zeros(2, 5).unwrap(), Par::All)
            .is_err()
    );
}
