"""What the estimators on a model file share: the training settings of
``latent train`` as scikit-learn parameters, fitting through
``latent._native.train``, inference through ``latent._native.Model``.

A fitted estimator holds its model as ``model_`` (a ``latent._native.Model``,
the contents of the model file ``latent train`` would write: it pickles as
those bytes, ``save`` writes them); the parameter arrays are read from it.
Computation is float32 and releases the GIL; outputs take the input's dtype
(float32 or float64).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from latent import _native

FLOATS = (np.float64, np.float32)
_SEED_HIGH = np.iinfo(np.int64).max


def f32(a: Any) -> np.ndarray:
    """``a`` as a C-contiguous float32 array: itself when it is one (no
    copy), else converted once."""
    return np.ascontiguousarray(a, dtype=np.float32)


def seed_of(random_state: Any) -> int:
    """latent's seed for ``random_state``: an int is the seed itself (the
    ``--seed`` of ``latent train``), otherwise one drawn from it."""
    rng = check_random_state(random_state)  # validates it
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return int(random_state)
    return int(rng.randint(_SEED_HIGH, dtype=np.int64))


def check_int(name: str, value: Any, low: int) -> None:
    """``TypeError`` unless ``value`` is an int, ``ValueError`` below ``low``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be at least {low}, got {value}")


def check_number(name: str, value: Any, low: float, high: float = np.inf, open_high=False) -> None:
    """``TypeError`` unless a real number, ``ValueError`` outside
    ``[low, high]`` (``[low, high)`` with ``open_high``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    ok = np.isfinite(value) and low <= value and (value < high if open_high else value <= high)
    if not ok:
        bracket = ")" if open_high else "]"
        raise ValueError(f"{name} must be in [{low}, {high}{bracket}, got {value!r}")


def check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    """``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def sizes_of(name: str, sizes: Any) -> List[int]:
    """A tuple of layer sizes as a list of positive ints."""
    if isinstance(sizes, (int, np.integer)):
        sizes = (sizes,)
    sizes = list(sizes)
    if not sizes:
        raise ValueError(f"{name} must name at least one layer")
    for s in sizes:
        check_int(name, s, 1)
    return [int(s) for s in sizes]


def in_unit(X: np.ndarray) -> bool:
    """Whether every value of ``X`` lies in ``[0, 1]``."""
    return X.size == 0 or (float(X.min()) >= 0.0 and float(X.max()) <= 1.0)


def choose_loss(loss: str, X: np.ndarray) -> str:
    """``latent train``'s loss: ``"auto"`` is cross-entropy for data in
    ``[0, 1]`` and squared error otherwise; cross-entropy needs targets in
    ``[0, 1]``."""
    check_choice("loss", loss, ("auto", "cross-entropy", "squared-error", "bce", "mse"))
    unit = in_unit(X)
    if loss == "auto":
        return "cross-entropy" if unit else "squared-error"
    loss = {"bce": "cross-entropy", "mse": "squared-error"}.get(loss, loss)
    if loss == "cross-entropy" and not unit:
        raise ValueError(
            f"X: value range for a cross-entropy loss (targets in [0, 1]): expected [0, 1] "
            f"(scale the data, or loss='squared-error'), found [{X.min()}, {X.max()}]"
        )
    return loss


def train_words(line: str) -> Dict[str, str]:
    """The ``key=value`` words of a model file's line."""
    return dict(w.split("=", 1) for w in line.split() if "=" in w)


def file_line(config: str, name: str) -> str:
    """The rest of the line of ``config`` that starts with ``name:``."""
    for line in config.splitlines():
        if line.startswith(name + ":"):
            return line[len(name) + 1 :].strip()
    return ""


class Progress:
    """scikit-learn's verbose lines, one per epoch:
    ``[Autoencoder] Iteration 3, loss = 0.123456, time = 0.05s`` (with the
    stage of a staged run, e.g. ``dbn layer 1 (32-16)``, in front)."""

    def __init__(self, name: str, kind: str) -> None:
        self.name, self.kind, self.stage, self.count = name, kind, None, 0

    def __call__(self, stage: str, epoch: int, loss: float, seconds: float) -> None:
        if stage != self.stage:
            self.stage, self.count = stage, 0
        self.count += 1
        where = "" if stage == self.kind else f" {stage}:"
        print(
            "[%s]%s Iteration %d, loss = %.6f, time = %.2fs"
            % (self.name, where, self.count, loss, seconds)
        )
        sys.stdout.flush()


class LatentEstimator(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """The base of the estimators on a ``latent`` model file (not for direct
    use). Subclasses set ``_kind`` and define ``_spec``."""

    _kind = ""

    # -- parameters ----------------------------------------------------

    def _check_settings(self) -> None:
        """``TypeError``/``ValueError`` for a training setting outside its
        domain (the rest are checked by latent's parsers)."""
        check_int("n_iter", self.n_iter, 1)
        check_int("batch_size", self.batch_size, 1)
        check_number("learning_rate", self.learning_rate, 0.0)
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")
        check_number("weight_decay", self.weight_decay, 0.0)
        check_choice("optimizer", self.optimizer, ("sgd", "adam"))
        if self.momentum is not None:
            check_number("momentum", self.momentum, 0.0, 1.0, open_high=True)
        if self.threads is not None:
            check_int("threads", self.threads, 1)
        check_choice("precision", self.precision, ("f32", "bf16"))
        check_int("verbose", self.verbose, 0)

    def _settings(self, seed: int) -> Dict[str, Any]:
        """The settings ``latent._native.train`` takes (``latent train``'s
        flags)."""
        return {
            "epochs": int(self.n_iter),
            "optimizer": self.optimizer,
            "lr": float(self.learning_rate),
            "weight_decay": float(self.weight_decay),
            "momentum": None if self.momentum is None else float(self.momentum),
            "batch": int(self.batch_size),
            "seed": seed,
            "precision": self.precision,
        }

    def _spec(self, X: np.ndarray) -> Tuple[List[int], str, Dict[str, Any]]:
        """The layer sizes, the model's text form and the extra keywords of
        ``latent._native.train`` for data ``X``."""
        raise NotImplementedError

    # -- training ------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> "LatentEstimator":
        """Train the model on the rows of X (``latent train`` with this
        estimator's parameters as flags; the data used as it is)."""
        self._check_settings()
        X = validate_data(self, X, dtype=FLOATS)
        sizes, spec, extra = self._spec(X)
        progress = Progress(type(self).__name__, self._kind) if self.verbose else None
        settings = self._settings(seed_of(self.random_state))
        self.model_ = _native.train(
            self._kind, f32(X), sizes, spec, settings,
            threads=self.threads, progress=progress, **extra,
        )  # fmt: skip
        self.n_iter_ = int(self.n_iter)
        return self

    # -- inference -----------------------------------------------------

    def _input(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, dtype=FLOATS, reset=False)

    def transform(self, X: Any) -> np.ndarray:
        """The features of the rows of X (``latent encode``)."""
        X = self._input(X)
        return self.model_.encode(f32(X), self.threads).astype(X.dtype, copy=False)

    def reconstruct(self, X: Any) -> np.ndarray:
        """Deterministic reconstructions of the rows of X (mean-field for
        the RBMs, DBNs and DBMs, ``g(f(x))`` for the autoencoders, the
        decoder's mean at the posterior mean for a VAE), on the scale the
        model sees (a standardised Gaussian RBM: standardised)."""
        X = self._input(X)
        return self.model_.reconstruct(f32(X), self.threads).astype(X.dtype, copy=False)

    def score_samples(self, X: Any, metric: Optional[str] = None) -> np.ndarray:
        """The NEGATED anomaly score of each row (``-(latent score)``), so
        that higher means more like the training data: minus the free
        energy for the RBMs, minus the reconstruction error for the
        autoencoders, DBNs and DBMs, the ELBO (one latent sample per row) for a
        VAE. ``metric`` picks another of the model's scores (``latent score
        --metric`` names: ``model_.scores``)."""
        X = self._input(X)
        seed = seed_of(self.random_state) if self._kind == "vae" else 0
        out = self.model_.score(f32(X), metric, seed, self.threads)
        return (-out).astype(X.dtype, copy=False)

    def score(self, X: Any, y: Any = None) -> float:
        """The mean of ``score_samples`` over the rows of X."""
        return float(np.mean(self.score_samples(X)))

    # -- model files ---------------------------------------------------

    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Write the model file ``latent train`` would have written
        (``latent encode``, ``score``, ``sample`` and ``info`` read it;
        ``latent.load`` reads it back)."""
        check_is_fitted(self)
        self.model_.save(os.fspath(path))

    def info(self) -> Dict[str, Any]:
        """What ``latent info`` says of the model: kind, sizes, the train
        line, the configuration text, the preprocessing, epochs, precision."""
        check_is_fitted(self)
        return dict(self.model_.info())

    @property
    def params_(self) -> Dict[str, np.ndarray]:
        """The model's parameter tensors by their model-file names
        (float32 copies; e.g. ``W``, ``b``, ``c`` of an RBM)."""
        check_is_fitted(self)
        return dict(self.model_.params())

    @property
    def _n_features_out(self) -> int:
        return int(self.model_.n_features)

    def _from_file(self, model: "_native.Model") -> None:
        """Becomes the fitted estimator of the model file ``model``."""
        self.model_ = model
        self.n_features_in_ = int(model.n_visible)
        self.n_iter_ = int(model.info()["epochs"])

    def _settings_from_file(self, train: str) -> Dict[str, Any]:
        """The constructor's settings from a file's ``train:`` line."""
        w = train_words(train)
        out: Dict[str, Any] = {}
        for key, name, kind in (
            ("epochs", "n_iter", int),
            ("batch", "batch_size", int),
            ("lr", "learning_rate", float),
            ("weight_decay", "weight_decay", float),
            ("optimizer", "optimizer", str),
            ("seed", "random_state", int),
            ("precision", "precision", str),
        ):
            if key in w:
                out[name] = kind(w[key])
        momentum = w.get("momentum", "hinton")
        out["momentum"] = None if momentum == "hinton" else float(momentum)
        return out

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class SamplerMixin:
    """``sample`` for the models with a prior (RBMs, DBNs, DBMs, VAEs)."""

    model_: "_native.Model"
    threads: Optional[int]

    def sample(self, n_samples: int = 1, *, n_steps: int = 1000, random_state: Any = None) -> np.ndarray:
        """``n_samples`` samples (visible means, float32) after ``n_steps``
        Gibbs steps from random chains (``latent sample``; a VAE decodes
        ``z ~ N(0, I)``); ``random_state`` seeds the chains."""
        check_is_fitted(self)
        check_int("n_samples", n_samples, 1)
        check_int("n_steps", n_steps, 1)
        seed = seed_of(random_state)
        return self.model_.sample(int(n_samples), int(n_steps), seed, getattr(self, "threads", None))


ProgressFn = Callable[[str, int, float, float], None]
