"""scikit-learn's estimator checks on every latent estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from latent import DBM, DBN, VAE, Autoencoder, BernoulliRBM, Classifier, DeepAutoencoder, GaussianRBM

# Checks expected to fail, each with the reason: the two scikit-learn lists
# for its own BernoulliRBM (sklearn/utils/_test_common/instance_generator.py),
# which fails them the same way here (measured with scikit-learn 1.9.1).
EXPECTED_FAILED = {
    # score_samples flips one random visible unit per row, drawn from
    # random_state in row order: a row's score depends on its position, so
    # a subset or a permutation of the rows gets other flips.
    "check_methods_subset_invariance": "score_samples flips a random unit per row position",
    "check_methods_sample_order_invariance": "score_samples flips a random unit per row position",
}

# Small models and few epochs: the checks fit dozens of times.
ESTIMATORS = [
    BernoulliRBM(n_iter=5, batch_size=10),
    GaussianRBM(8, n_iter=3, batch_size=10, random_state=0),
    GaussianRBM(8, learn_sigma=True, n_iter=3, batch_size=10, random_state=0),
    DBN((8, 4), n_iter=3, batch_size=10, random_state=0),
    Autoencoder((8,), n_iter=3, batch_size=10, random_state=0),
    Autoencoder((8, 4), tied=True, noise="mask:0.2", sparsity="l1:0.01", n_iter=3, batch_size=10, random_state=0),
    VAE((8,), 3, n_iter=3, batch_size=10, random_state=0),
    DeepAutoencoder((8, 4), n_iter=3, batch_size=10, random_state=0),
    DBM((8, 4), n_iter=3, batch_size=10, random_state=0),
    DBM((8, 4, 3), mf_tol=0.0, chains=7, n_iter=3, batch_size=10, random_state=0),
    # The checks' data is not in [0, 1]: autoencoder pretraining, or none.
    Classifier((8,), pretrain="ae", n_iter=20, learning_rate=0.01, batch_size=10, random_state=0),
    Classifier((8, 4), pretrain="none", n_iter=20, learning_rate=0.01, batch_size=10, random_state=0,
               validation_fraction=0.2, patience=5),
]


# The VAE's score_samples is the ELBO with one latent sample per row, drawn
# from the streams of random_state in row order (latent score's neg-elbo): a
# row's sample depends on its position, as in BernoulliRBM above.
VAE_EXPECTED_FAILED = {
    "check_methods_subset_invariance": "the ELBO draws a latent sample per row position",
    "check_methods_sample_order_invariance": "the ELBO draws a latent sample per row position",
}


# A DBM's mean-field stops for a block of rows as a whole, after the sweep
# in which no posterior of any of its rows moved by more than mf_tol, so a
# row's features may depend on the rows it comes with, by about mf_tol
# (test_dbm.py shows it on a trained model). On the checks' data the DBM at
# its default mf_tol still passes every check, measured with scikit-learn
# 1.9.1 (check_methods_subset_invariance and
# check_methods_sample_order_invariance included: were they to fail, this
# is why); with mf_tol=0 (a fixed count of sweeps) no row depends on others.


def expected_failed(est):
    if isinstance(est, BernoulliRBM):
        return EXPECTED_FAILED
    return VAE_EXPECTED_FAILED if isinstance(est, VAE) else {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed)
def test_sklearn_compatible(estimator, check):
    check(estimator)
