"""scikit-learn's estimator checks on latent.BernoulliRBM."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from latent import BernoulliRBM

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


@parametrize_with_checks(
    [BernoulliRBM(n_iter=5, batch_size=10)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
