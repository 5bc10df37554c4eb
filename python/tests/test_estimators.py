"""GaussianRBM, DBN, Autoencoder, VAE, DeepAutoencoder (and DBM) against numpy
computations from their own parameter arrays, and their promises: latent
train's defaults, dtypes kept, float32 read in place, the same results on
any number of threads, scikit-learn's errors, no files written."""

import os
import tempfile
import tracemalloc

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from gil import assert_fit_releases_the_gil

import latent
from latent import DBM, DBN, VAE, Autoencoder, BernoulliRBM, DeepAutoencoder, GaussianRBM, _native


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softplus(x):
    return np.logaddexp(0.0, x)


@pytest.fixture(scope="module")
def X():
    """200 x 12 values in [0, 1], float64."""
    rng = np.random.RandomState(1)
    return np.where(rng.rand(200, 12) < 0.5, rng.rand(200, 12) < 0.4, rng.rand(200, 12))


SMALL = dict(n_iter=2, batch_size=20, random_state=0)
KINDS = [
    ("gaussian-rbm", lambda **k: GaussianRBM(6, learn_sigma=True, **k)),
    ("dbn", lambda **k: DBN((6, 3), **k)),
    ("ae", lambda **k: Autoencoder((6, 3), contractive=0.1, **k)),
    ("vae", lambda **k: VAE((6,), 2, **k)),
    ("deep-ae", lambda **k: DeepAutoencoder((6, 3), noise="mask:0.1", **k)),
    ("dbm", lambda **k: DBM((6, 3), chains=15, **k)),
]
IDS = [k for k, _ in KINDS]


@pytest.mark.parametrize("kind, make", KINDS, ids=IDS)
def test_defaults_are_latent_trains(kind, make):
    d = _native.defaults(kind)
    est = type(make())()
    assert (est.n_iter, est.batch_size, est.optimizer) == (d["epochs"], d["batch"], d["optimizer"])
    assert np.float32(est.learning_rate) == np.float32(d["lr"])
    assert np.float32(est.weight_decay) == np.float32(d["weight_decay"])
    assert (est.momentum, est.precision) == (d["momentum"], d["precision"])


def test_gaussian_rbm_against_numpy(X):
    Xs = (X - X.mean(0)) / X.std(0)  # standardised by hand
    m = GaussianRBM(5, learn_sigma=True, standardize=False, n_iter=3, batch_size=20, random_state=0).fit(Xs)
    W, b, c, s = m.components_.T.astype(np.float64), m.intercept_visible_, m.intercept_hidden_, m.sigma_
    assert not np.allclose(s, 1.0)  # σ was learned
    a = c + (Xs / s) @ W
    np.testing.assert_allclose(m.transform(Xs), sigmoid(a), rtol=1e-5, atol=1e-6)
    free_energy = ((Xs - b) ** 2 / (2 * s**2)).sum(1) - softplus(a).sum(1)
    np.testing.assert_allclose(m.score_samples(Xs), -free_energy, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(m.reconstruct(Xs), b + s * (sigmoid(a) @ W.T), rtol=1e-5, atol=1e-5)
    # standardize=True keeps the training data's statistics and applies them.
    st = GaussianRBM(5, n_iter=3, batch_size=20, random_state=0).fit(X)
    a = st.intercept_hidden_ + ((X - X.mean(0)) / X.std(0)) @ st.components_.T
    np.testing.assert_allclose(st.transform(X), sigmoid(a), rtol=1e-4, atol=1e-5)


def test_bernoulli_rbm_file_scores_against_numpy(tmp_path, X):
    m = BernoulliRBM(5, n_iter=3, random_state=0).fit(X)
    m.save(tmp_path / "rbm.latent")
    model = _native.Model.load(str(tmp_path / "rbm.latent"))
    W, b, c = m.components_.T, m.intercept_visible_, m.intercept_hidden_
    free_energy = -X @ b - softplus(c + X @ W).sum(1)
    np.testing.assert_allclose(model.score(X.astype(np.float32)), free_energy, rtol=1e-5, atol=1e-4)
    recon = sigmoid(sigmoid(c + X @ W) @ W.T + b)
    np.testing.assert_allclose(model.reconstruct(X.astype(np.float32)), recon, rtol=1e-5, atol=1e-6)


def test_dbn_against_numpy(X):
    m = DBN((6, 3), n_iter=3, batch_size=20, random_state=0).fit(X)
    (W0, W1), (c0, c1), (b0, b1) = m.components_, m.intercepts_hidden_, m.intercepts_visible_
    h1 = sigmoid(X @ W0.T + c0)
    h2 = sigmoid(h1 @ W1.T + c1)
    np.testing.assert_allclose(m.transform(X), h2, rtol=1e-5, atol=1e-6)
    recon = sigmoid(sigmoid(h2 @ W1 + b1) @ W0 + b0)
    np.testing.assert_allclose(m.reconstruct(X), recon, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.score_samples(X), -((X - recon) ** 2).sum(1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("loss", ["cross-entropy", "squared-error"])
def test_autoencoder_against_numpy(X, loss):
    act = "sigmoid" if loss == "cross-entropy" else "tanh"
    m = Autoencoder((5,), activation=act, loss=loss, n_iter=3, batch_size=20, random_state=0).fit(X)
    p = {k: v.astype(np.float64) for k, v in m.params_.items()}
    h = (np.tanh if act == "tanh" else sigmoid)(X @ p["W1"] + p["c1"])
    np.testing.assert_allclose(m.transform(X), h, rtol=1e-5, atol=1e-6)
    logits = h @ p["Wd1"].T + p["b1"]
    if loss == "cross-entropy":
        recon = sigmoid(logits)
        error = -(X * np.log(recon) + (1 - X) * np.log(1 - recon)).sum(1)
    else:
        recon = logits
        error = 0.5 * ((recon - X) ** 2).sum(1)
    np.testing.assert_allclose(m.reconstruct(X), recon, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(m.score_samples(X), -error, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("kind, make", KINDS, ids=IDS)
def test_same_model_on_one_and_two_threads(X, kind, make):
    one, two = (make(threads=t, **SMALL).fit(X) for t in (1, 2))
    for name, value in one.params_.items():
        np.testing.assert_array_equal(value, two.params_[name], err_msg=name)
    np.testing.assert_array_equal(one.transform(X), two.transform(X))
    np.testing.assert_array_equal(one.score_samples(X), two.score_samples(X))
    other = make(**{**SMALL, "random_state": 1}).fit(X)
    assert not np.array_equal(one.transform(X), other.transform(X))


@pytest.mark.parametrize("kind, make", KINDS, ids=IDS)
def test_dtype_is_kept(X, kind, make):
    for dtype in (np.float32, np.float64):
        x = X.astype(dtype)
        m = make(**SMALL).fit(x)
        for out in (m.transform(x), m.reconstruct(x), m.score_samples(x), m.fit_transform(x)):
            assert out.dtype == dtype, kind


def peak_bytes(f):
    tracemalloc.start()
    try:
        f()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_float32_input_is_read_in_place():
    rng = np.random.RandomState(0)
    X = rng.rand(20000, 100).astype(np.float32)  # 8 MB
    m = Autoencoder((4,), n_iter=1, batch_size=500, random_state=0)
    assert peak_bytes(lambda: m.fit(X)) < X.nbytes / 10
    assert peak_bytes(lambda: m.transform(X)) < X.nbytes / 10
    assert X.nbytes <= peak_bytes(lambda: m.transform(X.astype(np.float64)))


@pytest.mark.parametrize("kind, make", KINDS, ids=IDS)
def test_not_fitted(X, kind, make):
    m = make()
    for call in (lambda: m.transform(X), lambda: m.score_samples(X), lambda: m.save("never.latent")):
        with pytest.raises(NotFittedError):
            call()
    if hasattr(m, "sample"):
        with pytest.raises(NotFittedError):
            m.sample(2)


@pytest.mark.parametrize(
    "est, error, message",
    [
        (Autoencoder(noise="mask:2"), ValueError, "noise"),
        (Autoencoder(sparsity="kl:1.5"), ValueError, "sparsity"),
        (Autoencoder(activation="swish"), ValueError, "activation"),
        (Autoencoder(n_iter="3"), TypeError, "n_iter"),
        (VAE(loss="cross-entropy"), ValueError, r"\[0, 1\]"),
        (DeepAutoencoder(pretrain="rbm"), ValueError, r"\[0, 1\]"),
        (DeepAutoencoder(pretrain="rbm", tied=True), ValueError, "tied"),
        (GaussianRBM(cd_k=0), ValueError, "cd_k"),
        (DBN(momentum=1.5), ValueError, "momentum"),
        (DBN(optimizer="adam", momentum=0.5), ValueError, "momentum"),
    ],
)
def test_errors_are_sklearns_with_latents_message(est, error, message):
    X = np.random.RandomState(0).rand(20, 4) * 3  # outside [0, 1]
    with pytest.raises(error, match=message):
        est.fit(X)


def test_wrong_width_names_the_features(X):
    m = Autoencoder((3,), **SMALL).fit(X)
    with pytest.raises(ValueError, match="features"):
        m.transform(X[:, :5])


def test_verbose_prints_a_line_per_epoch_and_stage(X, capsys):
    quiet = DBN((6, 3), **SMALL).fit(X)
    loud = DBN((6, 3), verbose=1, **SMALL).fit(X)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(", loss")[0] for line in lines] == [
        "[DBN] dbn layer 0 (12-6): Iteration 1",
        "[DBN] dbn layer 0 (12-6): Iteration 2",
        "[DBN] dbn layer 1 (6-3): Iteration 1",
        "[DBN] dbn layer 1 (6-3): Iteration 2",
    ]
    np.testing.assert_array_equal(quiet.transform(X), loud.transform(X))


def test_a_progress_error_stops_training(X):
    def boom(*_):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _native.train("ae", X.astype(np.float32), [12, 3], "sizes=12,3", {**_settings(), "epochs": 50}, progress=boom)


def _settings():
    keys = ("epochs", "optimizer", "lr", "weight_decay", "momentum", "batch", "seed", "precision")
    return dict.fromkeys(keys)


SAMPLERS = [k for k in KINDS if k[0] in ("gaussian-rbm", "dbn", "vae", "dbm")]


@pytest.mark.parametrize("kind, make", SAMPLERS, ids=[k for k, _ in SAMPLERS])
def test_sample(X, kind, make):
    m = make(**SMALL).fit(X)
    s = m.sample(7, n_steps=5, random_state=3)
    assert s.shape == (7, 12) and np.isfinite(s).all()
    np.testing.assert_array_equal(s, m.sample(7, n_steps=5, random_state=3))
    assert not np.array_equal(s, m.sample(7, n_steps=5, random_state=4))


def test_autoencoders_have_no_sample():
    assert not hasattr(Autoencoder(), "sample") and not hasattr(DeepAutoencoder(), "sample")


def test_training_writes_no_file(tmp_path, X, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = set(os.listdir(tempfile.gettempdir()))
    for _, make in KINDS:
        make(**SMALL).fit(X)
    assert os.listdir(tmp_path) == []
    assert set(os.listdir(tempfile.gettempdir())) <= before


def test_pickle_and_clone(X):
    import pickle

    from sklearn.base import clone

    m = DeepAutoencoder((6, 3), **SMALL).fit(X)
    back = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(back.transform(X), m.transform(X))
    assert back.info() == m.info()
    fresh = clone(m)
    assert not hasattr(fresh, "model_") and fresh.get_params() == m.get_params()


@pytest.mark.parametrize("kind, make", KINDS, ids=IDS)
def test_unpickling_touches_no_file(tmp_path, X, monkeypatch, kind, make):
    import pickle

    m = make(**SMALL).fit(X)
    dumped = pickle.dumps(m)
    # No temporary directory (Rust's std::env::temp_dir reads TMPDIR,
    # Python's tempfile its tempdir) and an empty working directory: a
    # loader that wrote the bytes to a scratch file fails or leaves a trace.
    missing = str(tmp_path / "missing")
    monkeypatch.setenv("TMPDIR", missing)
    monkeypatch.setattr(tempfile, "tempdir", missing)
    monkeypatch.chdir(tmp_path)
    back = pickle.loads(dumped)
    assert os.listdir(tmp_path) == []
    assert back.info() == m.info() and back.get_params() == m.get_params()
    np.testing.assert_array_equal(back.transform(X), m.transform(X))
    for name, value in m.params_.items():
        np.testing.assert_array_equal(back.params_[name], value, err_msg=name)
    assert back.model_.to_bytes() == m.model_.to_bytes()
    with pytest.raises(ValueError, match="the model's bytes"):
        _native.Model.from_bytes(b"LATENTCK but not really")


def test_public_names():
    assert set(latent.__all__) >= {"BernoulliRBM", "GaussianRBM", "DBN", "DBM", "Autoencoder", "VAE", "DeepAutoencoder", "load"}


def test_bf16_precision_is_kept_in_the_file(tmp_path, X):
    f32 = Autoencoder((6,), **SMALL).fit(X)
    bf16 = Autoencoder((6,), precision="bf16", **SMALL).fit(X)
    assert (f32.info()["precision"], bf16.info()["precision"]) == ("f32", "bf16")
    assert not np.array_equal(f32.transform(X), bf16.transform(X))
    bf16.save(tmp_path / "bf16.latent")
    back = latent.load(tmp_path / "bf16.latent")
    assert back.precision == "bf16"
    np.testing.assert_array_equal(back.transform(X), bf16.transform(X))


def test_fit_releases_the_gil():
    X = np.random.RandomState(0).rand(3000, 256).astype(np.float32)
    make = lambda n: Autoencoder((128,), n_iter=n, batch_size=10, threads=1, random_state=0)
    assert_fit_releases_the_gil(make, X)
