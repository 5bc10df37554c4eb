"""latent.BernoulliRBM against scikit-learn's BernoulliRBM and its own
promises: the same update, statistically equivalent fits, dtypes kept,
float32 read in place, the GIL released, results independent of threads."""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.neural_network import BernoulliRBM as SkBernoulliRBM

from gil import assert_fit_releases_the_gil

import latent
from latent import BernoulliRBM


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's digits, binarised (1797 x 64)."""
    return (load_digits().data > 7).astype(np.float64)


def recon_error(model, X):
    """Mean squared error of the mean-field reconstructions."""
    h = model.transform(X)
    v = sigmoid(h @ model.components_ + model.intercept_visible_)
    return float(((X - v) ** 2).sum(axis=1).mean())


def test_fit_is_statistically_equivalent_to_sklearn(digits):
    # Same parameters and random_state (so the same initial weights and the
    # same flipped bits in score_samples); only the chains' random draws
    # differ. Averaged over 3 seeds, the pseudo-likelihood and the
    # reconstruction error agree within 3 % (measured: ~1 %).
    params = dict(n_components=64, learning_rate=0.1, batch_size=10, n_iter=10)
    ours, theirs = [], []
    for seed in range(3):
        for cls, out in ((BernoulliRBM, ours), (SkBernoulliRBM, theirs)):
            m = cls(random_state=seed, **params).fit(digits)
            out.append((m.score_samples(digits).mean(), recon_error(m, digits)))
    (pll, rec), (sk_pll, sk_rec) = np.mean(ours, axis=0), np.mean(theirs, axis=0)
    assert abs(pll - sk_pll) <= 0.03 * abs(sk_pll), (pll, sk_pll)
    assert abs(rec - sk_rec) <= 0.03 * sk_rec, (rec, sk_rec)
    # Far from an untrained model: the comparison can fail.
    untrained = BernoulliRBM(random_state=0, **{**params, "n_iter": 0}).fit(digits)
    assert untrained.score_samples(digits).mean() < 1.3 * sk_pll


def sklearn_update(X, W, b, c, h_samples, v_neg, lr):
    """scikit-learn's BernoulliRBM._fit in numpy (float64), with the sampled
    visibles v_neg given."""
    h_pos = sigmoid(X @ W.T + c)
    h_neg = sigmoid(v_neg @ W.T + c)
    eta = lr / X.shape[0]
    W = W + eta * (X.T @ h_pos - v_neg.T @ h_neg).T
    c = c + eta * (h_pos.sum(0) - h_neg.sum(0))
    b = b + eta * (X.sum(0) - v_neg.sum(0))
    return W, b, c


def test_partial_fit_step_is_sklearns_update():
    # A state whose visible samples are certain (|b| = 30 makes σ 0 or 1 in
    # float32) while the hidden units are not: one partial_fit step must be
    # scikit-learn's update exactly (to float32 rounding).
    rng = np.random.RandomState(0)
    n, v, h, chains = 7, 12, 5, 4
    X = (rng.rand(n, v) < 0.5).astype(np.float64)
    W = rng.normal(0, 0.3, (h, v))
    b = np.where(rng.rand(v) < 0.5, -30.0, 30.0)
    c = rng.normal(0, 0.5, h)
    hs = (rng.rand(chains, h) < 0.5).astype(np.float64)
    v_neg = np.repeat((b > 0).astype(np.float64)[None, :], chains, axis=0)
    model = BernoulliRBM(n_components=h, batch_size=chains, learning_rate=0.2, random_state=1)
    model.components_, model.intercept_visible_ = W.copy(), b.copy()
    model.intercept_hidden_, model.h_samples_ = c.copy(), hs.copy()
    model.n_features_in_ = v
    model.partial_fit(X)
    W1, b1, c1 = sklearn_update(X, W, b, c, hs, v_neg, 0.2)
    np.testing.assert_allclose(model.components_, W1, atol=2e-6, rtol=0)
    np.testing.assert_allclose(model.intercept_visible_, b1, atol=2e-6, rtol=0)
    np.testing.assert_allclose(model.intercept_hidden_, c1, atol=2e-6, rtol=0)
    assert model.h_samples_.shape == (chains, h)
    assert set(np.unique(model.h_samples_)) <= {0.0, 1.0}
    assert np.abs(W1 - W).max() > 1e-3  # the step moved the weights


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(digits, dtype):
    X = digits[:200].astype(dtype)
    m = BernoulliRBM(n_components=16, n_iter=2, random_state=0).fit(X)
    for out in (
        m.components_,
        m.intercept_hidden_,
        m.intercept_visible_,
        m.h_samples_,
        m.transform(X),
        m.score_samples(X),
        m.gibbs(X),
        m.fit_transform(X),
    ):
        assert out.dtype == dtype
    m.partial_fit(X)
    assert m.components_.dtype == dtype


def test_sparse_input_gives_the_dense_results(digits):
    X = digits[:300]
    dense = BernoulliRBM(n_components=16, n_iter=3, random_state=0).fit(X)
    sparse = BernoulliRBM(n_components=16, n_iter=3, random_state=0).fit(sp.csr_matrix(X))
    np.testing.assert_array_equal(dense.components_, sparse.components_)
    np.testing.assert_array_equal(dense.transform(X), sparse.transform(sp.csr_matrix(X)))
    np.testing.assert_array_equal(dense.score_samples(X), sparse.score_samples(sp.csr_matrix(X)))


def peak_bytes(f):
    """Peak bytes Python allocated (numpy included) while f ran."""
    tracemalloc.start()
    try:
        f()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_float32_input_is_read_in_place():
    rng = np.random.RandomState(0)
    X = (rng.rand(20000, 100) < 0.3).astype(np.float32)  # 8 MB
    m = BernoulliRBM(n_components=4, n_iter=1, batch_size=100, random_state=0)
    assert peak_bytes(lambda: m.fit(X)) < X.nbytes / 10
    assert peak_bytes(lambda: m.score_samples(X)) < X.nbytes / 10
    # A float64 array is converted, once: the measurement sees copies.
    X64 = X.astype(np.float64)
    assert X.nbytes <= peak_bytes(lambda: m.fit(X64)) < 1.5 * X.nbytes


def test_fit_releases_the_gil():
    X = (np.random.RandomState(0).rand(3000, 256) < 0.3).astype(np.float32)
    make = lambda n: BernoulliRBM(n_components=128, n_iter=n, batch_size=10, threads=1, random_state=0)
    assert_fit_releases_the_gil(make, X)


def test_same_results_on_one_and_two_threads(digits):
    runs = [
        BernoulliRBM(n_components=100, n_iter=2, batch_size=64, threads=t, random_state=3).fit(digits)
        for t in (1, 2)
    ]
    for name in ("components_", "intercept_hidden_", "intercept_visible_", "h_samples_"):
        np.testing.assert_array_equal(getattr(runs[0], name), getattr(runs[1], name))
    np.testing.assert_array_equal(runs[0].transform(digits), runs[1].transform(digits))


def test_random_state_decides_the_fit(digits):
    fit = lambda seed: BernoulliRBM(n_components=16, n_iter=2, random_state=seed).fit(digits)
    np.testing.assert_array_equal(fit(5).components_, fit(5).components_)
    assert not np.array_equal(fit(5).components_, fit(6).components_)


def test_verbose_prints_sklearns_lines_and_the_same_fit(digits, capsys):
    quiet = BernoulliRBM(n_components=16, n_iter=2, random_state=0).fit(digits)
    loud = BernoulliRBM(n_components=16, n_iter=2, random_state=0, verbose=1).fit(digits)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "[BernoulliRBM] Iteration 1",
        "[BernoulliRBM] Iteration 2",
    ]
    np.testing.assert_array_equal(quiet.components_, loud.components_)


def test_extras_change_training(digits):
    base = dict(n_components=16, n_iter=2, random_state=0)
    plain = BernoulliRBM(**base).fit(digits).components_
    for extra in ({"cd_k": 2}, {"momentum": 0.5}, {"precision": "bf16"}):
        other = BernoulliRBM(**base, **extra).fit(digits).components_
        assert not np.array_equal(plain, other), extra
        assert np.isfinite(other).all()


@pytest.mark.parametrize(
    "param, error",
    [({"cd_k": 0}, ValueError), ({"momentum": 1.0}, ValueError), ({"precision": "f16"}, ValueError)],
)
def test_bad_parameters_are_errors(digits, param, error):
    with pytest.raises(error):
        BernoulliRBM(**param).fit(digits[:20])


def test_feature_names_out(digits):
    m = BernoulliRBM(n_components=3, n_iter=1).fit(digits[:50])
    assert list(m.get_feature_names_out()) == [
        "bernoullirbm0",
        "bernoullirbm1",
        "bernoullirbm2",
    ]


def test_version():
    assert isinstance(latent.__version__, str)


def test_partial_fit_keeps_the_momentum(digits):
    # With momentum the second step adds the first step's velocity: two
    # partial_fit calls differ from two calls that each start afresh.
    kept = BernoulliRBM(n_components=8, momentum=0.5, random_state=0)
    kept.partial_fit(digits[:50]).partial_fit(digits[50:100])
    fresh = BernoulliRBM(n_components=8, momentum=0.5, random_state=0)
    fresh.partial_fit(digits[:50])
    fresh._velocity = None
    fresh.partial_fit(digits[50:100])
    assert not np.allclose(kept.components_, fresh.components_)
    np.testing.assert_array_equal(kept.h_samples_.shape, (10, 8))
