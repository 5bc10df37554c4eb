"""Model files of every kind both ways: `latent train` ↔ latent.load, and
an estimator's fit and save ↔ `latent encode/score/info`. A fit with an int
random_state is `latent train --seed` with the estimator's parameters as
flags: the same parameters, bit for bit."""

import subprocess

import numpy as np
import pytest
from test_model_files import cli

import latent

# (kind, `latent train` flags, the estimator with the same settings)
CASES = [
    (
        "gaussian-rbm",
        ["--hidden", "6", "--learn-sigma", "--epochs", "2", "--batch", "20", "--seed", "3"],
        latent.GaussianRBM(6, learn_sigma=True, n_iter=2, batch_size=20, random_state=3),
    ),
    (
        "dbn",
        ["--layers", "16,8,4", "--cd-k", "2", "--epochs", "2", "--batch", "20", "--seed", "3"],
        latent.DBN((8, 4), cd_k=2, n_iter=2, batch_size=20, random_state=3),
    ),
    (
        "ae",
        ["--hidden", "8", "--tied", "--noise", "mask:0.2", "--epochs", "2", "--batch", "20", "--seed", "3"],
        latent.Autoencoder((8,), tied=True, noise="mask:0.2", n_iter=2, batch_size=20, random_state=3),
    ),
    (
        "vae",
        ["--hidden", "8", "--latent", "3", "--epochs", "2", "--batch", "20", "--seed", "3"],
        latent.VAE((8,), 3, n_iter=2, batch_size=20, random_state=3),
    ),
    (
        "deep-ae",
        ["--layers", "16,8,4", "--pretrain", "rbm", "--pretrain-epochs", "1", "--epochs", "2", "--batch", "20", "--seed", "3"],
        latent.DeepAutoencoder((8, 4), pretrain="rbm", pretrain_iter=1, n_iter=2, batch_size=20, random_state=3),
    ),
    (
        "dbm",
        ["--layers", "16,8,4", "--cd-k", "2", "--chains", "30", "--mf-iters", "5", "--mf-tol", "0.001", "--epochs", "2", "--batch", "20", "--seed", "3"],
        latent.DBM((8, 4), cd_k=2, chains=30, mf_iters=5, mf_tol=0.001, n_iter=2, batch_size=20, random_state=3),
    ),
]
IDS = [c[0] for c in CASES]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """300 x 16 values in [0, 1] (half of them binary), as an NPY file."""
    rng = np.random.RandomState(0)
    X = np.where(rng.rand(300, 16) < 0.5, rng.rand(300, 16) < 0.3, rng.rand(300, 16)).astype(np.float32)
    path = tmp_path_factory.mktemp("data") / "x.npy"
    np.save(path, X)
    return X, str(path)


def run(*args, quiet=True):
    flags = ["-q"] if quiet else []
    return subprocess.run([cli(), *flags, *map(str, args)], check=True, capture_output=True, text=True)


def cli_output(command, model, x_path, out):
    run(command, model, "--data", x_path, "--out", out)
    return np.load(out)


@pytest.mark.parametrize("kind, flags, est", CASES, ids=IDS)
def test_cli_file_loads_as_its_estimator(tmp_path, data, kind, flags, est):
    X, x_path = data
    model = tmp_path / "cli.latent"
    run("train", kind, "--data", x_path, "--out", model, *flags)
    loaded = latent.load(model)
    assert type(loaded) is type(est)
    # The parameters read back from the file are the estimator's (the
    # file says which loss "auto" chose: cross-entropy, data in [0, 1]).
    expected = est.get_params()
    if expected.get("loss") == "auto":
        expected["loss"] = "cross-entropy"
    assert loaded.get_params() == expected, (loaded.get_params(), expected)
    codes = cli_output("encode", model, x_path, tmp_path / "codes.npy")
    np.testing.assert_allclose(loaded.transform(X), codes, atol=1e-6, rtol=0)
    if kind != "vae":  # the VAE's score draws latent samples
        scores = cli_output("score", model, x_path, tmp_path / "scores.npy")
        np.testing.assert_allclose(loaded.score_samples(X), -scores.ravel(), rtol=1e-6, atol=1e-5)
    # Python's fit is `latent train` with the same flags: the same bits.
    fitted = est.fit(X)
    for name, value in loaded.params_.items():
        np.testing.assert_array_equal(fitted.params_[name], value, err_msg=f"{kind} {name}")
    assert fitted.info()["config"] == loaded.info()["config"]


@pytest.mark.parametrize("kind, flags, est", CASES, ids=IDS)
def test_python_file_read_by_the_cli(tmp_path, data, kind, flags, est):
    X, x_path = data
    model = tmp_path / "py.latent"
    fitted = est.fit(X)
    fitted.save(model)
    info = run("info", model, quiet=False).stdout
    assert f"kind:       {kind}" in info and "unfinished" not in info, info
    codes = cli_output("encode", model, x_path, tmp_path / "codes.npy")
    np.testing.assert_allclose(codes, fitted.transform(X), atol=1e-6, rtol=0)
    back = latent.load(model)
    params = back.get_params()
    assert params == {**fitted.get_params(), **({"loss": params["loss"]} if "loss" in params else {})}
    np.testing.assert_array_equal(back.transform(X), fitted.transform(X))
    np.testing.assert_array_equal(back.reconstruct(X), fitted.reconstruct(X))
    # Training resumes from a Python file with `latent train --resume`.
    run("train", kind, "--data", x_path, "--resume", model, "--out", tmp_path / "more.latent", "--epochs", "3")
    assert latent.load(tmp_path / "more.latent").n_iter_ >= 3


def test_load_refuses_what_is_not_a_model(tmp_path):
    bad = tmp_path / "bad.latent"
    bad.write_bytes(b"LATENTCK but not really")
    with pytest.raises(ValueError, match="bad.latent"):
        latent.load(bad)
