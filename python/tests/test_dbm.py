"""DBM: transform, reconstruct and score_samples against a numpy mean-field
computed from the estimator's own parameter arrays (the odd/even schedule
from a doubled bottom-up start), the CLI's defaults, sampling from fresh
and from persistent chains, and the CLI's encode --all-layers and sample
(--from-chains) on a Python model file."""

import numpy as np
import pytest
from test_model_kinds_files import data, run  # noqa: F401 (data: the fixture)

import latent
from latent import DBM


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def mean_field(X, Ws, bs, iters, tol):
    """The posteriors mu^1 … mu^L of the rows of X (float64): mu^l =
    sigma(2 mu^(l-1) W^l + b^l) bottom-up (the top layer: not doubled), then
    sweeps over the odd layers and the even ones, mu^l = sigma(mu^(l-1) W^l +
    mu^(l+1) W^(l+1)' + b^l), until no mu moved by more than tol (tol > 0)
    or after iters sweeps."""
    L = len(Ws)
    mu = [X]
    for l in range(1, L + 1):
        mu.append(sigmoid((2.0 if l < L else 1.0) * mu[l - 1] @ Ws[l - 1] + bs[l]))
    for _ in range(iters):
        change = 0.0
        for parity in (1, 0):
            for l in [l for l in range(1, L + 1) if l % 2 == parity]:
                a = mu[l - 1] @ Ws[l - 1] + bs[l]
                if l < L:
                    a += mu[l + 1] @ Ws[l].T
                new = sigmoid(a)
                change = max(change, float(np.abs(new - mu[l]).max()))
                mu[l] = new
        if tol > 0 and change <= tol:
            break
    return mu[1:]


@pytest.fixture(scope="module")
def X():
    """200 x 12 values in [0, 1] (half of them binary), float64."""
    rng = np.random.RandomState(1)
    return np.where(rng.rand(200, 12) < 0.5, rng.rand(200, 12) < 0.4, rng.rand(200, 12))


@pytest.mark.parametrize("mf_iters, mf_tol", [(1, 0.0), (2, 0.0), (10, 1e-4)])
def test_against_a_numpy_mean_field(X, mf_iters, mf_tol):
    # Three hidden layers (the odd/even schedule differs from a bottom-up
    # one), trained long enough for posteriors far from 1/2.
    m = DBM((6, 5, 3), mf_iters=mf_iters, mf_tol=mf_tol, chains=15, learning_rate=0.05, n_iter=30, batch_size=20,
            random_state=0).fit(X)  # fmt: skip
    Ws = [W.T.astype(np.float64) for W in m.components_]
    bs = [b.astype(np.float64) for b in m.intercepts_]
    assert [W.shape for W in Ws] == [(12, 6), (6, 5), (5, 3)]
    np.testing.assert_array_equal(Ws[1], m.params_["W2"])  # components_[l-1] is W_l'
    np.testing.assert_array_equal(bs[2], m.params_["b2"].ravel())
    mu = mean_field(X, Ws, bs, mf_iters, mf_tol)
    features = m.transform(X, all_layers=True)
    np.testing.assert_allclose(features, np.hstack(mu), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.transform(X), mu[-1], rtol=1e-5, atol=1e-6)
    recon = sigmoid(mu[0] @ Ws[0].T + bs[0])
    np.testing.assert_allclose(m.reconstruct(X), recon, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.score_samples(X), -((X - recon) ** 2).sum(1), rtol=1e-5, atol=1e-5)
    if mf_tol == 0:  # one sweep fewer or more is told apart at these tolerances
        for other in (mf_iters - 1, mf_iters + 1):
            assert not np.allclose(features, np.hstack(mean_field(X, Ws, bs, other, 0.0)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mf_tol", [1e-4, 0.0])
def test_a_rows_features_and_the_rows_it_comes_with(X, mf_tol):
    # Mean-field stops for a block of rows as a whole (the largest change of
    # any row at most mf_tol): a row alone may stop at another sweep, by
    # about mf_tol. With mf_tol=0 (a fixed count of sweeps), no row depends
    # on the others.
    m = DBM((6, 5, 3), chains=15, mf_tol=mf_tol, learning_rate=0.05, n_iter=30, batch_size=20, random_state=0).fit(X)
    together = m.transform(X, all_layers=True)
    alone = np.vstack([m.transform(X[i : i + 1], all_layers=True) for i in range(len(X))])
    if mf_tol == 0:
        np.testing.assert_array_equal(alone, together)
    else:
        assert not np.array_equal(alone, together)
        np.testing.assert_allclose(alone, together, rtol=0, atol=10 * mf_tol)


def test_settings_reach_the_file(X):
    m = DBM((6, 3), cd_k=3, chains=7, mf_iters=4, mf_tol=0.01, n_iter=2, batch_size=20, random_state=0).fit(X)
    config = m.info()["config"].splitlines()[0]
    assert config == "visible=bernoulli sizes=12,6,3 mf_iters=4 mf_tol=0.01 chains=7 cd_k=3 init_std=0.01"
    assert m.n_chains_ == 7
    assert DBM((6, 3), n_iter=1, batch_size=25, random_state=0).fit(X).n_chains_ == 25  # one per batch row


def test_samples_from_fresh_and_persistent_chains(X):
    m = DBM((6, 3), chains=9, n_iter=2, batch_size=20, random_state=0).fit(X)
    chains = m.sample(9, from_chains=True)
    assert chains.shape == (9, 12) and chains.dtype == np.float32
    np.testing.assert_array_equal(m.sample(4, from_chains=True), chains[:4])
    fresh = m.sample(5, n_steps=3, random_state=2)
    np.testing.assert_array_equal(fresh, m.sample(5, n_steps=3, random_state=2))
    assert not np.array_equal(fresh, m.sample(5, n_steps=3, random_state=3))
    with pytest.raises(ValueError, match="n_chains_"):
        m.sample(10, from_chains=True)
    # The persistent chains' samples are the visible means of their h1: the
    # same on any number of threads.
    two = DBM((6, 3), chains=9, n_iter=2, batch_size=20, random_state=0, threads=2).fit(X)
    np.testing.assert_array_equal(two.sample(9, from_chains=True), chains)


def test_a_dbm_has_two_hidden_layers_or_more(X):
    with pytest.raises(ValueError, match="two hidden layers"):
        DBM((6,)).fit(X)
    for bad, error in [({"chains": 0}, ValueError), ({"mf_iters": 0}, ValueError), ({"mf_tol": -1.0}, ValueError),
                       ({"cd_k": 1.5}, TypeError), ({"mf_tol": "x"}, TypeError)]:  # fmt: skip
        with pytest.raises(error, match=next(iter(bad))):
            DBM((6, 3), **bad).fit(X)


def test_all_layers_is_for_a_dbm(X):
    ae = latent.Autoencoder((4,), n_iter=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match="only a DBM"):
        ae.model_.encode(X.astype(np.float32), None, True)
    with pytest.raises(ValueError, match="only a DBM"):
        ae.model_.chain_samples(2)


def test_cli_defaults_are_the_estimators(tmp_path, data):  # noqa: F811
    X, x_path = data
    run("train", "dbm", "--data", x_path, "--out", tmp_path / "cli.latent", "--layers", "16,8,4", "--epochs", "2")
    cli = latent.load(tmp_path / "cli.latent")
    assert cli.get_params() == DBM((8, 4), n_iter=2, random_state=0).get_params()
    fitted = DBM((8, 4), n_iter=2, random_state=0).fit(X)
    assert fitted.info()["config"] == cli.info()["config"]
    for name, value in cli.params_.items():
        np.testing.assert_array_equal(fitted.params_[name], value, err_msg=name)


def test_cli_encodes_all_layers_and_samples_a_python_file(tmp_path, data):  # noqa: F811
    X, x_path = data
    m = DBM((8, 4), chains=12, n_iter=2, batch_size=20, random_state=3).fit(X)
    model = tmp_path / "py.latent"
    m.save(model)
    run("encode", model, "--data", x_path, "--all-layers", "--out", tmp_path / "all.npy")
    all_layers = np.load(tmp_path / "all.npy")
    np.testing.assert_allclose(all_layers, m.transform(X, all_layers=True), atol=1e-6, rtol=0)
    run("sample", model, "-n", "12", "--from-chains", "--out", tmp_path / "chains.npy")
    np.testing.assert_allclose(np.load(tmp_path / "chains.npy"), m.sample(12, from_chains=True), atol=1e-6, rtol=0)
    run("sample", model, "-n", "5", "--steps", "7", "--seed", "4", "--out", tmp_path / "fresh.npy")
    fresh = m.sample(5, n_steps=7, random_state=4)
    np.testing.assert_allclose(np.load(tmp_path / "fresh.npy"), fresh, atol=1e-6, rtol=0)
