"""latent.Classifier: `latent train classifier` as a scikit-learn
classifier. A fit with an int random_state is `latent train classifier
--seed` with the estimator's parameters as flags (the same bits); its
probabilities are a forward pass of its own weights; any label values
survive a fit and a pickle."""

import gzip
import json
import os
import pickle
import subprocess
import time

import numpy as np
import pytest
from gil import assert_fit_releases_the_gil
from test_model_files import cli

import latent

NAMES = np.array(["cat", "dog", "emu"])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """300 x 16 values in [0, 1] and three classes (0, 1, 2) that depend on
    them, as NPY files."""
    rng = np.random.RandomState(0)
    X = rng.rand(300, 16).astype(np.float32)
    y = (X[:, 0] > 0.5).astype(np.int64) + (X[:, 1] > 0.7)
    d = tmp_path_factory.mktemp("data")
    np.save(d / "x.npy", X)
    np.save(d / "y.npy", y)
    return X, y, str(d / "x.npy"), str(d / "y.npy")


def run(*args):
    return subprocess.run([cli(), "-q", *map(str, args)], check=True, capture_output=True, text=True)


def train_json(*args):
    """`latent train classifier` with its JSON report."""
    return json.loads(run("--json", "train", "classifier", *args).stdout)


# (pretrain, `latent train classifier` flags, the estimator with the same settings)
CASES = [
    (
        "rbm",
        ["--layers", "16,8,4", "--pretrain-epochs", "1", "--cd-k", "2", "--epochs", "3", "--batch", "20",
         "--seed", "3", "--validation-fraction", "0.2", "--patience", "2"],
        dict(hidden_layer_sizes=(8, 4), pretrain_epochs=1, cd_k=2, n_iter=3, batch_size=20, random_state=3,
             validation_fraction=0.2, patience=2),
    ),
    (
        "ae",
        ["--layers", "16,8", "--pretrain", "ae", "--pretrain-lr", "0.01", "--epochs", "2", "--batch", "20",
         "--lr", "0.01", "--seed", "5"],
        dict(hidden_layer_sizes=(8,), pretrain="ae", pretrain_learning_rate=0.01, n_iter=2, batch_size=20,
             learning_rate=0.01, random_state=5),
    ),
    (
        "none",
        ["--layers", "16", "--pretrain", "none", "--epochs", "2", "--batch", "30", "--optimizer", "sgd",
         "--seed", "7", "--validation-fraction", "0.1"],
        dict(hidden_layer_sizes=(), pretrain="none", n_iter=2, batch_size=30, optimizer="sgd", random_state=7,
             validation_fraction=0.1),
    ),
]  # fmt: skip
IDS = [c[0] for c in CASES]


def forward(est, X):
    """The class probabilities by numpy, from the estimator's weights."""
    h = X.astype(np.float64)
    coefs, intercepts = est.coefs_, est.intercepts_
    for W, c in zip(coefs[:-1], intercepts[:-1]):
        h = 1.0 / (1.0 + np.exp(-(h @ W + c)))
    a = h @ coefs[-1] + intercepts[-1]
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("pretrain, flags, params", CASES, ids=IDS)
def test_fit_is_latent_train_classifier(tmp_path, data, pretrain, flags, params):
    X, y, x_path, y_path = data
    model = tmp_path / "cli.latent"
    report = train_json("--data", x_path, "--labels", y_path, "--out", model, *flags)
    # String labels: classes_ sorts them as the integers, the same model.
    fitted = latent.Classifier(**params).fit(X, NAMES[y])
    loaded = latent.load(model)
    assert type(loaded) is latent.Classifier
    assert loaded.get_params() == fitted.get_params()
    assert fitted.info()["config"] == loaded.info()["config"]
    assert fitted.n_iter_ == loaded.n_iter_ == report["finetune_epochs_total"]
    assert set(fitted.params_) == set(loaded.params_)
    for name, value in loaded.params_.items():
        np.testing.assert_array_equal(fitted.params_[name], value, err_msg=f"{pretrain} {name}")
    proba = tmp_path / "proba.npy"
    run("predict", model, "--data", x_path, "--out", proba, "--proba")
    np.testing.assert_array_equal(fitted.predict_proba(X), np.load(proba))
    classes = tmp_path / "classes.npy"
    run("predict", model, "--data", x_path, "--out", classes)
    np.testing.assert_array_equal(fitted.predict(X), NAMES[np.load(classes)])
    # A loaded CLI file's classes are the indices 0..K-1.
    np.testing.assert_array_equal(loaded.classes_, [0, 1, 2])
    np.testing.assert_array_equal(loaded.predict(X), np.load(classes))


@pytest.mark.parametrize("pretrain, flags, params", CASES, ids=IDS)
def test_probabilities_are_a_forward_pass_of_its_weights(data, pretrain, flags, params):
    X, y, _, _ = data
    est = latent.Classifier(**params).fit(X, y)
    p = est.predict_proba(X)
    assert p.dtype == np.float32 and p.shape == (len(X), 3)
    np.testing.assert_allclose(p, forward(est, X), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(est.predict_log_proba(X), np.log(p))
    np.testing.assert_array_equal(est.predict(X), est.classes_[np.argmax(p, axis=1)])
    assert est.score(X, y) == np.mean(est.predict(X) == y)
    np.testing.assert_allclose(est.predict_proba(X.astype(np.float64)), p, rtol=0, atol=0)
    # transform: the top hidden layer (the input without hidden layers).
    top = est.transform(X)
    assert top.shape == (len(X), params["hidden_layer_sizes"][-1] if params["hidden_layer_sizes"] else 16)


def test_early_stopping_keeps_the_best_epoch(tmp_path, data):
    X, y, x_path, y_path = data
    flags = ["--layers", "16,4", "--epochs", "8", "--validation-fraction", "0.2", "--patience", "1", "--seed", "2"]
    report = train_json("--data", x_path, "--labels", y_path, "--out", tmp_path / "m.latent", *flags)
    assert report["stopped_early"], report
    est = latent.Classifier((4,), n_iter=8, validation_fraction=0.2, patience=1, random_state=2).fit(X, y)
    assert est.n_iter_ == report["finetune_epochs_total"] < 8
    loaded = latent.load(tmp_path / "m.latent")
    for name, value in loaded.params_.items():
        np.testing.assert_array_equal(est.params_[name], value, err_msg=name)


def test_string_labels_round_trip_a_pickle_and_a_file(tmp_path, data):
    X, y, x_path, _ = data
    labels = np.array(["zebra", "ant", "moth"])[y]
    est = latent.Classifier((8,), pretrain_epochs=1, n_iter=3, batch_size=20, random_state=1).fit(X, labels)
    np.testing.assert_array_equal(est.classes_, ["ant", "moth", "zebra"])
    assert set(est.predict(X)) <= set(labels)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(back.classes_, est.classes_)
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
    # A file keeps the model, not the label values: classes 0..K-1, same order.
    est.save(tmp_path / "py.latent")
    loaded = latent.load(tmp_path / "py.latent")
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(est.classes_[loaded.predict(X)], est.predict(X))
    assert loaded.get_params() == est.get_params()
    classes = tmp_path / "classes.npy"
    run("predict", tmp_path / "py.latent", "--data", x_path, "--out", classes)
    np.testing.assert_array_equal(est.classes_[np.load(classes)], est.predict(X))


def test_bad_labels_and_parameters_are_refused_naming_them(data):
    X, y, _, _ = data
    est = latent.Classifier((4,), n_iter=1, random_state=0)
    with pytest.raises(ValueError, match="2 classes or more, got 1 class"):
        est.fit(X, np.full(len(X), "only"))
    with pytest.raises(ValueError, match="Unknown label type"):
        est.fit(X, X[:, 0])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        est.fit(X, y[:-1])
    with pytest.raises(ValueError, match="pretrain='rbm'"):
        est.fit(X - 0.5, y)
    with pytest.raises(ValueError, match="pretrain must be one of"):
        latent.Classifier(pretrain="pca").fit(X, y)
    with pytest.raises(ValueError, match="validation_fraction must be in"):
        latent.Classifier(validation_fraction=1.0).fit(X, y)
    with pytest.raises(ValueError, match="patience: needs validation_fraction"):
        latent.Classifier(patience=3).fit(X, y)
    with pytest.raises(ValueError, match="cd_k and persistent apply to pretrain='rbm'"):
        latent.Classifier(pretrain="ae", cd_k=2).fit(X, y)
    # The library's own checks reach Python as ValueErrors too.
    with pytest.raises(ValueError, match="none for a classifier without hidden layers|'none' for a classifier"):
        latent.Classifier((), pretrain="ae").fit(X, y)


def test_defaults_are_the_commands():
    d = latent._native.defaults("classifier")
    est = latent.Classifier()
    assert est.hidden_layer_sizes == (500, 500) and est.pretrain == "rbm"
    assert (est.n_iter, est.batch_size, est.optimizer) == (d["epochs"], d["batch"], d["optimizer"])
    assert (est.weight_decay, est.momentum) == (d["weight_decay"], d["momentum"])
    assert est.learning_rate is None and est.pretrain_epochs is None and est.validation_fraction is None


class _Labelled:
    """A classifier fitted on fixed labels through ``fit(X)`` (what the
    GIL check calls)."""

    def __init__(self, n_iter, y):
        self.est = latent.Classifier((64, 32), pretrain="none", n_iter=n_iter, batch_size=50, random_state=0)
        self.y = y

    def fit(self, X):
        return self.est.fit(X, self.y)


def test_fit_releases_the_gil():
    rng = np.random.RandomState(0)
    X = rng.rand(2000, 64).astype(np.float32)
    y = (X[:, 0] > 0.5).astype(int)
    assert_fit_releases_the_gil(lambda n: _Labelled(n, y), X)


MNIST = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "mnist")


def _idx(name, header):
    with gzip.open(os.path.join(MNIST, name)) as f:
        return np.frombuffer(f.read(), dtype=np.uint8)[header:]


@pytest.mark.skipif(
    not os.path.exists(os.path.join(MNIST, "t10k-images-idx3-ubyte.gz")), reason="no MNIST images in ../shared/data"
)
def test_mnist_accuracy_sanity():
    X = _idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255
    y = _idx("t10k-labels-idx1-ubyte.gz", 8)
    start = time.perf_counter()
    est = latent.Classifier((128,), pretrain_epochs=1, n_iter=5, learning_rate=0.002, random_state=0)
    est.fit(X[:3000], y[:3000])
    accuracy = est.score(X[5000:7000], y[5000:7000])
    took = time.perf_counter() - start
    assert accuracy > 0.85, (accuracy, took)
