"""``Classifier``: ``latent train classifier`` as a scikit-learn classifier.
The hidden layers are pretrained without the labels (as a DBN's RBMs, as
one-layer autoencoders, or not at all), topped with a softmax, and the
whole stack is fine-tuned with the labels."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d, validate_data

from latent import _native
from latent._base import (
    FLOATS,
    LatentEstimator,
    Progress,
    check_choice,
    check_int,
    check_number,
    f32,
    file_line,
    in_unit,
    seed_of,
    sizes_of,
    train_words,
)

Sizes = Union[int, Sequence[int]]


def _never(_: Any) -> bool:
    """Hides the methods of the base a classifier does not have."""
    return False


class Classifier(ClassifierMixin, LatentEstimator):
    """Classifier (``latent train classifier``): sigmoid hidden layers
    pretrained greedily without the labels (``pretrain="rbm"``: as a DBN,
    Bernoulli RBMs by CD-k, data in [0, 1]; ``"ae"``: one-layer
    autoencoders; ``"none"``: random weights), a softmax on top, then the
    whole stack fine-tuned by backpropagation of the labels' cross-entropy.
    With ``validation_fraction`` fine-tuning validates its error rate every
    epoch on that fraction of the rows (held out by the seed), keeps the
    best epoch's parameters, and with ``patience`` stops after that many
    epochs without a better one.

    Any label values are taken (``classes_``: the sorted distinct values,
    the model's classes 0..K-1 in that order). ``transform`` gives the top
    hidden layer's activations, ``predict_proba`` the softmax's
    probabilities (``latent predict --proba``), ``score`` the accuracy.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(500, 500)
        Hidden units per layer, bottom first (``--layers`` without the
        visible size); ``()``: softmax regression on the input (with
        ``pretrain="none"``).
    pretrain : {"rbm", "ae", "none"}, default="rbm"
        How the hidden layers are pretrained (``--pretrain``).
    pretrain_epochs : int or None, default=None
        Pretraining epochs per layer (None: ``n_iter``).
    pretrain_learning_rate : float or None, default=None
        Pretraining's learning rate (None: 0.1 for RBMs, SGD with Hinton's
        momentum; 0.001 for autoencoders, Adam).
    validation_fraction : float or None, default=None
        The fraction of the rows held out to validate fine-tuning (None:
        no validation, the last epoch's parameters are kept).
    patience : int or None, default=None
        Stop fine-tuning after this many epochs without a better
        validation error (None: train every epoch).
    cd_k, persistent
        The pretraining RBMs' Gibbs steps and persistent chains.
    n_iter : int, default=10
        Fine-tuning epochs (``n_iter_``: those run, fewer when
        ``patience`` stopped it early).
    learning_rate : float or None, default=None
        Fine-tuning's learning rate (None: 0.001 with Adam, 0.1 with SGD).
    batch_size, optimizer, weight_decay, momentum, random_state, verbose, threads, precision
        As in ``GaussianRBM``, for fine-tuning (Adam, no weight decay).
    """

    _kind = "classifier"

    def __init__(
        self, hidden_layer_sizes: Sizes = (500, 500), *, pretrain: str = "rbm",
        pretrain_epochs: Optional[int] = None, pretrain_learning_rate: Optional[float] = None,
        validation_fraction: Optional[float] = None, patience: Optional[int] = None,
        cd_k: int = 1, persistent: bool = False, n_iter: int = 10,
        learning_rate: Optional[float] = None, batch_size: int = 100, optimizer: str = "adam",
        weight_decay: float = 0.0, momentum: Optional[float] = None, random_state: Any = None,
        verbose: int = 0, threads: Optional[int] = None, precision: str = "f32",
    ) -> None:  # fmt: skip
        self.hidden_layer_sizes = hidden_layer_sizes
        self.pretrain = pretrain
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_learning_rate = pretrain_learning_rate
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.cd_k = cd_k
        self.persistent = persistent
        self.n_iter = n_iter
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.random_state = random_state
        self.verbose = verbose
        self.threads = threads
        self.precision = precision

    # -- parameters ----------------------------------------------------

    def _check_settings(self) -> None:
        lr = self.learning_rate
        try:
            self.learning_rate = 1.0 if lr is None else lr  # None: the optimiser's default
            super()._check_settings()
        finally:
            self.learning_rate = lr

    def _settings(self, seed: int) -> Dict[str, Any]:
        lr = self.learning_rate
        try:
            self.learning_rate = 1.0 if lr is None else lr
            s = super()._settings(seed)
        finally:
            self.learning_rate = lr
        s["lr"] = None if lr is None else float(lr)
        return s

    def _options(self, n_classes: int) -> Dict[str, Any]:
        """``latent._native.train``'s classifier options (``latent train
        classifier``'s flags)."""
        check_choice("pretrain", self.pretrain, ("rbm", "ae", "none"))
        if self.pretrain_epochs is not None:
            check_int("pretrain_epochs", self.pretrain_epochs, 1)
        lr = self.pretrain_learning_rate
        if lr is not None:
            check_number("pretrain_learning_rate", lr, 0.0)
            if lr <= 0:
                raise ValueError(f"pretrain_learning_rate must be positive, got {lr!r}")
        f = self.validation_fraction
        if f is not None:
            check_number("validation_fraction", f, 0.0, 1.0, open_high=True)
            if f <= 0:
                raise ValueError(f"validation_fraction must be in (0, 1), got {f!r}")
        if self.patience is not None:
            check_int("patience", self.patience, 1)
            if f is None:
                raise ValueError("patience: needs validation_fraction (early stopping validates)")
        check_int("cd_k", self.cd_k, 1)
        rbm = self.pretrain == "rbm"
        if not rbm and (self.cd_k != 1 or self.persistent):
            raise ValueError(f"cd_k and persistent apply to pretrain='rbm', got pretrain={self.pretrain!r}")
        return {
            "classes": n_classes,
            "pretrain": self.pretrain,
            "pretrain_epochs": None if self.pretrain_epochs is None else int(self.pretrain_epochs),
            "pretrain_lr": None if lr is None else float(lr),
            "validation_fraction": None if f is None else float(f),
            "patience": None if self.patience is None else int(self.patience),
            "cd_k": int(self.cd_k) if rbm else None,
            "persistent": bool(self.persistent),
            "sparsity": None,
        }

    def _hidden(self) -> List[int]:
        h = self.hidden_layer_sizes
        return [] if h in ((), []) else sizes_of("hidden_layer_sizes", h)

    # -- training ------------------------------------------------------

    def fit(self, X: Any, y: Any) -> "Classifier":  # type: ignore[override]
        """Train on the rows of X with their labels y (``latent train
        classifier`` with this estimator's parameters as flags; the data
        used as it is)."""
        self._check_settings()
        X, y = validate_data(self, X, y, dtype=FLOATS)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        classes, codes = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(
                f"y: a classifier needs 2 classes or more, got 1 class ({classes[0]!r} for every sample)"
            )
        hidden = self._hidden()
        if self.pretrain == "rbm" and hidden and not in_unit(X):
            raise ValueError(
                "X: value range for pretrain='rbm' (Bernoulli visibles): expected [0, 1] "
                f"(scale the data, or pretrain='ae' or 'none'), found [{X.min()}, {X.max()}]"
            )
        options = self._options(len(classes))
        progress = Progress(type(self).__name__, self._kind) if self.verbose else None
        settings = self._settings(seed_of(self.random_state))
        labels = np.ascontiguousarray(codes.ravel(), dtype=np.uint32)
        self.model_ = _native.train(
            self._kind, f32(X), [X.shape[1]] + hidden, "", settings, threads=self.threads,
            progress=progress, labels=labels, classifier=options,
        )  # fmt: skip
        self.classes_ = classes
        self.n_iter_ = self._finetune_epochs()
        return self

    def _finetune_epochs(self) -> int:
        """The fine-tuning epochs in the model's history (after every
        pretrained layer's): ``n_iter`` unless it stopped early."""
        config = self.model_.config
        pre = file_line(config, "pretrain").split()
        epochs = int(train_words(" ".join(pre[1:])).get("epochs", 0))
        pretraining = 0 if not pre or pre[0] == "none" else epochs * (len(self.model_.sizes) - 1)
        return len(self.model_.history()) - pretraining

    # -- inference -----------------------------------------------------

    def predict_proba(self, X: Any) -> np.ndarray:
        """The class probabilities of the rows of X (``n x len(classes_)``,
        columns in the order of ``classes_``)."""
        X = self._input(X)
        return self.model_.predict_proba(f32(X), self.threads).astype(X.dtype, copy=False)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """The logarithms of ``predict_proba``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row of X (the first of equals),
        as a value of ``classes_``."""
        proba = self.predict_proba(X)  # checks that it is fitted first
        return self.classes_[np.argmax(proba, axis=1)]

    # A classifier has no decoder and no anomaly score (score is the accuracy).
    reconstruct = available_if(_never)(LatentEstimator.reconstruct)
    score_samples = available_if(_never)(LatentEstimator.score_samples)

    @property
    def coefs_(self) -> List[np.ndarray]:
        """The weights of every layer, the softmax's last, each ``n_in x
        n_out`` (``W1 … WL``, ``V``; scikit-learn's MLP layout)."""
        p = self.params_
        return [p[f"W{l}"] for l in range(1, len(self.model_.sizes))] + [p["V"]]

    @property
    def intercepts_(self) -> List[np.ndarray]:
        """The biases of every layer, the softmax's last (``c1 … cL``,
        ``d``)."""
        p = self.params_
        return [p[f"c{l}"].ravel() for l in range(1, len(self.model_.sizes))] + [p["d"].ravel()]

    # -- model files ---------------------------------------------------

    def _from_file(self, model: "_native.Model") -> None:
        """Becomes the classifier of the file: its classes are 0..K-1 (a
        model file stores no label values). Values equal to the defaults
        they follow read as None (pretraining epochs equal to ``n_iter``, a
        learning rate equal to the optimiser's default)."""
        super()._from_file(model)
        config = model.config
        first = train_words(config.splitlines()[0])
        pre = file_line(config, "pretrain").split()
        pre_words = train_words(" ".join(pre[1:]))
        pretrain = pre[0] if pre else "none"
        valid = file_line(config, "validation").split()
        valid_words = train_words(" ".join(valid))
        layer = train_words(file_line(config, "pretrain-layer"))
        default_lr = 0.001 if pretrain == "ae" else 0.1
        lr = float(pre_words.get("lr", default_lr))
        patience = valid_words.get("patience", "none")
        epochs = int(pre_words.get("epochs", self.n_iter))
        params: Dict[str, Any] = {
            "hidden_layer_sizes": tuple(model.sizes[1:]), "pretrain": pretrain,
            "pretrain_epochs": epochs if epochs != self.n_iter else None,  # None: n_iter
            "pretrain_learning_rate": None if np.float32(lr) == np.float32(default_lr) else lr,
            "validation_fraction": float(valid_words["fraction"]) if "fraction" in valid_words else None,
            "patience": None if patience == "none" else int(patience),
        }  # fmt: skip
        if pretrain == "rbm":
            params.update(cd_k=int(layer.get("cd_k", 1)), persistent=layer.get("persistent") == "true")
        self.set_params(**params)
        self.classes_ = np.arange(int(first["classes"]))
        self.n_iter_ = self._finetune_epochs()

    def _settings_from_file(self, train: str) -> Dict[str, Any]:
        out = super()._settings_from_file(train)
        defaults = _native.defaults("classifier")
        optimizer = out.get("optimizer", defaults["optimizer"])
        default_lr = 0.001 if optimizer == "adam" else 0.1
        if "learning_rate" in out and np.float32(out["learning_rate"]) == np.float32(default_lr):
            out["learning_rate"] = None
        return out

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.classifier_tags.poor_score = False
        return tags
