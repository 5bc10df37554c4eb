"""Model files both ways: BernoulliRBM.save ↔ latent.load ↔ the `latent`
command (`train rbm`, `encode`, `info`)."""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import latent
from latent import BernoulliRBM

ROOT = Path(__file__).resolve().parents[2]


def cli():
    """The `latent` command: $LATENT_CLI, else a built one under target/."""
    env = os.environ.get("LATENT_CLI")
    candidates = [Path(env)] if env else [ROOT / "target" / p / "latent" for p in ("ci", "release", "debug")]
    for c in candidates:
        if c.is_file():
            return str(c)
    pytest.skip("no latent command built (set LATENT_CLI or run cargo build)")


@pytest.fixture
def data(tmp_path):
    rng = np.random.RandomState(0)
    X = (rng.rand(300, 24) < 0.3).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    return X


def test_save_then_load_gives_the_same_model(tmp_path, data):
    m = BernoulliRBM(n_components=8, n_iter=3, learning_rate=0.05, batch_size=20, random_state=1).fit(data)
    m.save(tmp_path / "m.model")
    back = latent.load(tmp_path / "m.model")
    for name in ("components_", "intercept_visible_", "intercept_hidden_"):
        np.testing.assert_array_equal(getattr(back, name), getattr(m, name).astype(np.float32))
    assert (back.n_components, back.learning_rate, back.batch_size, back.n_iter) == (8, 0.05, 20, 3)
    np.testing.assert_array_equal(back.transform(data), m.transform(data))


def test_python_file_read_by_the_cli(tmp_path, data):
    m = BernoulliRBM(n_components=8, n_iter=2, random_state=1).fit(data)
    m.save(tmp_path / "py.model")
    info = subprocess.run([cli(), "info", str(tmp_path / "py.model")], capture_output=True, text=True, check=True)
    assert "kind:       rbm" in info.stdout and "unfinished" not in info.stdout, info.stdout
    out = tmp_path / "codes.npy"
    subprocess.run(
        [cli(), "-q", "encode", str(tmp_path / "py.model"), "--data", str(tmp_path / "x.npy"), "--out", str(out)],
        check=True,
    )
    np.testing.assert_allclose(np.load(out), m.transform(data), atol=1e-6, rtol=0)


def test_cli_file_read_by_python(tmp_path, data):
    model, codes = tmp_path / "cli.model", tmp_path / "codes.npy"
    x = str(tmp_path / "x.npy")
    subprocess.run([cli(), "-q", "train", "rbm", "--data", x, "--out", str(model), "--hidden", "8", "--epochs", "2"], check=True)
    subprocess.run([cli(), "-q", "encode", str(model), "--data", x, "--out", str(codes)], check=True)
    m = latent.load(model)
    assert (m.n_components, m.n_features_in_, m.n_iter, m.batch_size) == (8, 24, 2, 100)
    np.testing.assert_allclose(m.transform(data), np.load(codes), atol=1e-6, rtol=0)
    m.partial_fit(data)  # a loaded model trains on


def test_load_errors_name_the_file(tmp_path):
    bad = tmp_path / "not-a-model"
    bad.write_bytes(b"hello")
    with pytest.raises(ValueError, match="not-a-model"):
        latent.load(bad)
    with pytest.raises(ValueError, match="missing"):
        latent.load(tmp_path / "missing")


def test_precision_and_momentum_survive_the_file(tmp_path, data):
    m = BernoulliRBM(n_components=6, n_iter=1, precision="bf16", momentum=0.5, random_state=0).fit(data)
    m.save(tmp_path / "bf16.model")
    back = latent.load(tmp_path / "bf16.model")
    assert (back.precision, back.momentum) == ("bf16", 0.5)
    np.testing.assert_array_equal(back.transform(data), m.transform(data))
