"""``BernoulliRBM``: scikit-learn's estimator on latent's engine.

The state lives in the fitted attributes, as in scikit-learn (so cloning,
pickling and setting them work as there); every call hands them to the
extension (``latent._native``), which computes without the GIL in float32.
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, Optional, Union

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from latent import _native

_FLOATS = (np.float64, np.float32)
_SEED_HIGH = np.iinfo(np.int64).max


def _f32(a: Any) -> np.ndarray:
    """``a`` as a C-contiguous float32 array: itself when it is one
    (no copy), else converted once (scipy sparse input densified)."""
    if sp.issparse(a):
        a = a.toarray()
    return np.ascontiguousarray(a, dtype=np.float32)


def _seed(rng: np.random.RandomState) -> int:
    """A seed for latent's streams, drawn from ``rng``."""
    return int(rng.randint(_SEED_HIGH, dtype=np.int64))


class BernoulliRBM(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Bernoulli Restricted Boltzmann Machine, scikit-learn's estimator on
    latent's engine.

    The same parameters, defaults, fitted attributes, methods and training
    algorithm as ``sklearn.neural_network.BernoulliRBM``: persistent
    contrastive divergence whose ``batch_size`` persistent chains are hidden
    states (``h_samples_``), plain SGD at ``learning_rate / batch rows``,
    weights initialised ``N(0, 0.01)`` from ``random_state``, minibatches
    that are consecutive slices of ``batch_size`` rows. The random draws of
    the chains come from latent's generators (seeded from ``random_state``),
    so a fit is statistically equivalent to scikit-learn's, not the same
    numbers. Computes in float32; float32 input gives float32 output and
    float64 input float64.

    Parameters
    ----------
    n_components, learning_rate, batch_size, n_iter, verbose, random_state
        As in scikit-learn.
    threads : int or None, default=None
        Threads for training and inference (None: one per core). Results do
        not depend on it.
    precision : {"f32", "bf16"}, default="f32"
        The precision of the matrix products (bf16 operands, f32
        accumulation and parameters).
    cd_k : int, default=1
        Gibbs steps per update (scikit-learn: 1).
    momentum : float, default=0.0
        Momentum of the SGD updates (scikit-learn: none).
    """

    def __init__(
        self,
        n_components: int = 256,
        *,
        learning_rate: float = 0.1,
        batch_size: int = 10,
        n_iter: int = 10,
        verbose: int = 0,
        random_state: Any = None,
        threads: Optional[int] = None,
        precision: str = "f32",
        cd_k: int = 1,
        momentum: float = 0.0,
    ) -> None:
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.verbose = verbose
        self.random_state = random_state
        self.threads = threads
        self.precision = precision
        self.cd_k = cd_k
        self.momentum = momentum

    # -- parameters ----------------------------------------------------

    def _check_params(self) -> None:
        """``ValueError``/``TypeError`` for a parameter outside its domain."""
        ints = {"n_components": 1, "batch_size": 1, "n_iter": 0, "cd_k": 1}
        for name, low in ints.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{name} must be an int, got {value!r}")
            if value < low:
                raise ValueError(f"{name} must be at least {low}, got {value}")
        if not isinstance(self.learning_rate, (float, int, np.number)) or not (
            np.isfinite(self.learning_rate) and self.learning_rate > 0
        ):
            raise ValueError(f"learning_rate must be a positive number, got {self.learning_rate!r}")
        if not (0.0 <= float(self.momentum) < 1.0):
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if self.threads is not None and (
            not isinstance(self.threads, (int, np.integer)) or self.threads < 1
        ):
            raise ValueError(f"threads must be None or a positive int, got {self.threads!r}")
        if self.precision not in ("f32", "bf16"):
            raise ValueError(f"precision must be 'f32' or 'bf16', got {self.precision!r}")

    # -- the state, to and from the extension --------------------------

    def _native(self) -> _native.Rbm:
        """The extension's RBM with the fitted parameters."""
        return _native.Rbm(
            _f32(self.components_),
            _f32(self.intercept_visible_),
            _f32(self.intercept_hidden_),
            self.precision,
        )

    def _trainer(self, rbm: _native.Rbm) -> _native.HiddenPcd:
        """The extension's trainer continuing ``h_samples_`` (and the
        velocities of an earlier run with momentum)."""
        pcd = _native.HiddenPcd(
            _f32(self.h_samples_),
            float(self.learning_rate),
            int(self.cd_k),
            float(self.momentum),
        )
        velocity = getattr(self, "_velocity", None)
        if velocity is not None and self.momentum > 0:
            pcd.set_velocity(rbm, velocity)
        return pcd

    def _store(self, rbm: _native.Rbm, pcd: _native.HiddenPcd, dtype: np.dtype) -> None:
        """The fitted attributes from the extension's state, in ``dtype``."""
        self.components_ = rbm.components().astype(dtype, copy=False)
        self.intercept_visible_ = rbm.intercept_visible().astype(dtype, copy=False)
        self.intercept_hidden_ = rbm.intercept_hidden().astype(dtype, copy=False)
        self.h_samples_ = pcd.h_samples().astype(dtype, copy=False)
        self._n_features_out = self.components_.shape[0]
        self._velocity = pcd.velocity() if self.momentum > 0 else None

    def _init_params(self, rng: np.random.RandomState, n_features: int, dtype: Any) -> None:
        """scikit-learn's initial state: ``N(0, 0.01)`` weights drawn from
        ``rng`` as scikit-learn draws them, zero biases and chains."""
        self.components_ = np.asarray(
            rng.normal(0, 0.01, (self.n_components, n_features)), dtype=dtype
        )
        self._n_features_out = self.components_.shape[0]
        self.intercept_hidden_ = np.zeros(self.n_components, dtype=dtype)
        self.intercept_visible_ = np.zeros(n_features, dtype=dtype)
        self.h_samples_ = np.zeros((self.batch_size, self.n_components), dtype=dtype)
        self._velocity = None
        self._epochs_done = 0

    # -- training --------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> "BernoulliRBM":
        """Fit the model to the data X (scikit-learn's ``fit``)."""
        self._check_params()
        X = validate_data(self, X, accept_sparse="csr", dtype=_FLOATS)
        rng = check_random_state(self.random_state)
        self._init_params(rng, X.shape[1], X.dtype)
        x32 = _f32(X)
        rbm = self._native()
        pcd = self._trainer(rbm)
        seed = _seed(rng)
        if not self.verbose:
            pcd.fit(rbm, x32, (self.batch_size, 0, self.n_iter, seed), self.threads)
        begin = time.time()
        for epoch in range(self.n_iter if self.verbose else 0):
            pcd.fit(rbm, x32, (self.batch_size, epoch, 1, seed), self.threads)
            self._store(rbm, pcd, X.dtype)
            end = time.time()
            print(
                "[%s] Iteration %d, pseudo-likelihood = %.2f, time = %.2fs"
                % (type(self).__name__, epoch + 1, self.score_samples(X).mean(), end - begin)
            )
            begin = end
        self._store(rbm, pcd, X.dtype)
        self._epochs_done = self.n_iter
        return self

    def partial_fit(self, X: Any, y: Any = None) -> "BernoulliRBM":
        """One update on all of X (scikit-learn's ``partial_fit``)."""
        self._check_params()
        first_pass = not hasattr(self, "components_")
        X = validate_data(self, X, accept_sparse="csr", dtype=_FLOATS, reset=first_pass)
        if not hasattr(self, "random_state_"):
            self.random_state_ = check_random_state(self.random_state)
        dtype = X.dtype if first_pass else self.components_.dtype
        if first_pass:
            self._init_params(self.random_state_, X.shape[1], dtype)
        rbm = self._native()
        pcd = self._trainer(rbm)
        pcd.step(rbm, _f32(X), _seed(self.random_state_), self.threads)
        self._store(rbm, pcd, dtype)
        return self

    # -- inference -------------------------------------------------------

    def transform(self, X: Any) -> np.ndarray:
        """The hidden units' probabilities ``P(h=1|v=X)``."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", dtype=_FLOATS, reset=False)
        out = self._native().transform(_f32(X), self.threads)
        return out.astype(X.dtype, copy=False)

    def score_samples(self, X: Any) -> np.ndarray:
        """scikit-learn's pseudo-likelihood of each row: one visible unit per
        row, drawn from ``random_state``, flipped."""
        check_is_fitted(self)
        v = validate_data(self, X, accept_sparse="csr", dtype=_FLOATS, reset=False)
        rng = check_random_state(self.random_state)
        flips = rng.randint(0, v.shape[1], v.shape[0]).astype(np.int64)
        out = self._native().pseudo_likelihood(_f32(v), flips, self.threads)
        return out.astype(v.dtype, copy=False)

    def gibbs(self, v: Any) -> np.ndarray:
        """One Gibbs step ``v → h → v`` (both sampled)."""
        check_is_fitted(self)
        if not hasattr(self, "random_state_"):
            self.random_state_ = check_random_state(self.random_state)
        v = validate_data(self, v, accept_sparse="csr", dtype=_FLOATS, reset=False)
        out = self._native().gibbs(_f32(v), _seed(self.random_state_), self.threads)
        return out.astype(v.dtype, copy=False)

    # -- model files -----------------------------------------------------

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Write the model as a ``latent`` model file of kind ``rbm`` (what
        ``latent train rbm`` writes; ``latent encode``, ``score`` and
        ``info`` read it)."""
        check_is_fitted(self)
        seed = self.random_state if isinstance(self.random_state, (int, np.integer)) else 0
        settings = (
            int(getattr(self, "_epochs_done", 0)),
            float(self.learning_rate),
            int(self.batch_size),
            int(self.cd_k),
            float(self.momentum),
            int(seed),
        )
        self._native().save(os.fspath(path), settings)

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _train_settings(line: str) -> Dict[str, str]:
    """The ``key=value`` pairs of a model file's ``train:`` line."""
    return dict(p.split("=", 1) for p in line.split() if "=" in p)


def load(path: Union[str, "os.PathLike[str]"]) -> BernoulliRBM:
    """A fitted ``BernoulliRBM`` from a ``latent`` model file of kind ``rbm``
    (written by ``latent train rbm --preprocess none`` or
    ``BernoulliRBM.save``); its parameters are float32."""
    rbm, train = _native.load_rbm(os.fspath(path))
    s = _train_settings(train)
    kwargs: Dict[str, Any] = {}
    for key, name, kind in (
        ("lr", "learning_rate", float),
        ("batch", "batch_size", int),
        ("epochs", "n_iter", int),
        ("momentum", "momentum", float),
    ):
        try:
            kwargs[name] = kind(s[key])
        except (KeyError, ValueError):
            pass  # absent, or e.g. momentum=hinton: the default
    components = rbm.components()
    est = BernoulliRBM(components.shape[0], precision=rbm.precision, **kwargs)
    if not (0.0 <= est.momentum < 1.0):
        est.momentum = 0.0
    est.components_ = components
    est.intercept_visible_ = rbm.intercept_visible()
    est.intercept_hidden_ = rbm.intercept_hidden()
    est.h_samples_ = np.zeros((est.batch_size, components.shape[0]), dtype=np.float32)
    est.n_features_in_ = components.shape[1]
    est._n_features_out = components.shape[0]
    est._velocity = None
    est._epochs_done = est.n_iter
    return est

