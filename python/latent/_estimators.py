"""The estimators of latent's models beyond ``BernoulliRBM``: ``GaussianRBM``,
``DBN``, ``DBM``, ``Autoencoder``, ``VAE`` and ``DeepAutoencoder``, each a
model kind of ``latent train`` (``gaussian-rbm``, ``dbn``, ``dbm``, ``ae``,
``vae``, ``deep-ae``) with its flags as parameters and its defaults
(``latent train``'s, which ``latent._native.defaults(kind)`` gives)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from sklearn.utils.validation import check_is_fitted

from latent._base import (
    LatentEstimator,
    SamplerMixin,
    check_choice,
    check_int,
    check_number,
    choose_loss,
    f32,
    file_line,
    in_unit,
    sizes_of,
    train_words,
)

_ACTIVATIONS = ("identity", "linear", "sigmoid", "relu", "tanh", "softplus")
Sizes = Union[int, Sequence[int]]


def _named(acts: List[str]) -> Union[str, List[str]]:
    """A file's activations as the parameter: one name when they agree."""
    return acts[0] if acts and all(a == acts[0] for a in acts) else acts


def _bool(b: Any) -> str:
    return "true" if b else "false"


def _activations(activation: Union[str, Sequence[str]], depth: int) -> List[str]:
    """One activation for every layer, or one per layer (``--activation``)."""
    acts = [activation] * depth if isinstance(activation, str) else list(activation)
    if len(acts) != depth:
        raise ValueError(f"activation: one name, or one per encoder layer ({depth}), got {activation!r}")
    for a in acts:
        check_choice("activation", a, _ACTIVATIONS)
    return acts


def _rbm_words(cd_k: int, persistent: bool, sparsity: Optional[float]) -> str:
    """An RBM configuration's words (``parse_rbm_config``'s)."""
    check_int("cd_k", cd_k, 1)
    if sparsity is not None:
        check_number("sparsity", sparsity, 0.0, 1.0, open_high=True)
    return f"cd_k={cd_k} persistent={_bool(persistent)}"


def _sparsity_target(words: Dict[str, str]) -> Optional[float]:
    s = words.get("sparsity", "none")
    return None if s == "none" else float(s.split("=", 1)[1])


def _ae_words(sizes: List[int], acts: List[str], loss: str, est: Any) -> str:
    """An ``AeConfig`` spec (``sizes=… activations=… tied=… loss=…
    sparsity=… noise=… contractive=… init_std=none``) with ``est``'s
    regularisers."""
    contractive = "none" if est.contractive is None else repr(float(est.contractive))
    return (
        f"sizes={','.join(map(str, sizes))} activations={','.join(acts)} tied={_bool(est.tied)} "
        f"loss={loss} sparsity={est.sparsity} noise={est.noise} contractive={contractive} init_std=none"
    )


def _regularisers(words: Dict[str, str]) -> Dict[str, Any]:
    """The autoencoder regularisers of a spec's words."""
    c = words.get("contractive", "none")
    return {
        "tied": words.get("tied") == "true",
        "sparsity": words.get("sparsity", "none"),
        "noise": words.get("noise", "none"),
        "contractive": None if c == "none" else float(c),
    }


class GaussianRBM(SamplerMixin, LatentEstimator):
    """Gaussian-Bernoulli RBM (``latent train gaussian-rbm``): real-valued
    visible units, binary hidden units, trained by CD-k (PCD-k with
    ``persistent``).

    Parameters
    ----------
    n_components : int, default=256
        Hidden units.
    learn_sigma : bool, default=False
        Learn a standard deviation per visible unit (``sigma_``) instead of
        σ = 1 on standardised data.
    standardize : bool, default=True
        Standardise each feature (the mean and deviation of the training
        data, kept in the model and applied to every input), as ``latent
        train`` does unless ``--no-standardize``.
    cd_k, persistent, sparsity
        Gibbs steps per update, persistent chains, a target mean hidden
        activation (``--cd-k``, ``--persistent``, ``--sparsity``).
    n_iter, batch_size, learning_rate, optimizer, weight_decay, momentum
        Epochs, minibatch rows, the optimiser (``momentum=None``: 0.5 for 5
        epochs then 0.9).
    random_state
        An int is ``latent train``'s ``--seed`` (the same model); None or a
        ``RandomState`` draws one.
    verbose, threads, precision
        Progress lines per epoch; threads (None: one per core; results do
        not depend on it); ``"f32"`` or ``"bf16"`` products.
    """

    _kind = "gaussian-rbm"

    def __init__(
        self, n_components: int = 256, *, learn_sigma: bool = False, standardize: bool = True,
        cd_k: int = 1, persistent: bool = False, sparsity: Optional[float] = None,
        n_iter: int = 10, batch_size: int = 100, learning_rate: float = 0.001,
        optimizer: str = "sgd", weight_decay: float = 1e-4, momentum: Optional[float] = None,
        random_state: Any = None, verbose: int = 0, threads: Optional[int] = None,
        precision: str = "f32",
    ) -> None:  # fmt: skip
        self.n_components = n_components
        self.learn_sigma = learn_sigma
        self.standardize = standardize
        self.cd_k = cd_k
        self.persistent = persistent
        self.sparsity = sparsity
        self.n_iter = n_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.random_state = random_state
        self.verbose = verbose
        self.threads = threads
        self.precision = precision

    def _spec(self, X: np.ndarray) -> Tuple[List[int], str, Dict[str, Any]]:
        check_int("n_components", self.n_components, 1)
        words = _rbm_words(self.cd_k, self.persistent, self.sparsity)
        spec = f"{words} learn_sigma={_bool(self.learn_sigma)}"
        extra = {"sparsity": self.sparsity, "standardize": bool(self.standardize)}
        return [X.shape[1], int(self.n_components)], spec, extra

    @property
    def components_(self) -> np.ndarray:
        """The weights as ``n_components x n_features`` (scikit-learn's
        layout; latent's ``W`` transposed)."""
        return self.params_["W"].T.copy()

    @property
    def intercept_visible_(self) -> np.ndarray:
        """The visible biases ``b``."""
        return self.params_["b"].ravel()

    @property
    def intercept_hidden_(self) -> np.ndarray:
        """The hidden biases ``c``."""
        return self.params_["c"].ravel()

    @property
    def sigma_(self) -> np.ndarray:
        """The visible units' standard deviations (ones unless learned)."""
        p = self.params_
        return np.exp(p["log_sigma"].ravel()) if "log_sigma" in p else np.ones_like(p["b"].ravel())

    def _from_file(self, model: Any) -> None:
        super()._from_file(model)
        w = train_words(model.config.splitlines()[0])
        self.set_params(
            n_components=int(w["n_hidden"]), cd_k=int(w.get("cd_k", 1)),
            persistent=w.get("persistent") == "true", learn_sigma=w.get("learn_sigma") == "true",
            sparsity=_sparsity_target(w), standardize=file_line(model.config, "preprocess") == "standardize",
        )  # fmt: skip


class DBN(SamplerMixin, LatentEstimator):
    """Deep belief net (``latent train dbn``): Bernoulli RBMs trained
    greedily, layer by layer, each on the hidden probabilities of the one
    below. ``transform`` is the up-pass to the top layer.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(256, 64)
        Hidden units per layer, bottom first (``--layers`` without the
        visible size).
    cd_k, persistent, sparsity
        As in ``GaussianRBM``, for every layer.
    n_iter, batch_size, learning_rate, optimizer, weight_decay, momentum, random_state, verbose, threads, precision
        As in ``GaussianRBM`` (``n_iter`` epochs per layer; learning rate
        0.1).
    """

    _kind = "dbn"

    def __init__(
        self, hidden_layer_sizes: Sizes = (256, 64), *, cd_k: int = 1, persistent: bool = False,
        sparsity: Optional[float] = None, n_iter: int = 10, batch_size: int = 100,
        learning_rate: float = 0.1, optimizer: str = "sgd", weight_decay: float = 1e-4,
        momentum: Optional[float] = None, random_state: Any = None, verbose: int = 0,
        threads: Optional[int] = None, precision: str = "f32",
    ) -> None:  # fmt: skip
        self.hidden_layer_sizes = hidden_layer_sizes
        self.cd_k = cd_k
        self.persistent = persistent
        self.sparsity = sparsity
        self.n_iter = n_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.random_state = random_state
        self.verbose = verbose
        self.threads = threads
        self.precision = precision

    def _spec(self, X: np.ndarray) -> Tuple[List[int], str, Dict[str, Any]]:
        sizes = [X.shape[1]] + sizes_of("hidden_layer_sizes", self.hidden_layer_sizes)
        return sizes, _rbm_words(self.cd_k, self.persistent, self.sparsity), {"sparsity": self.sparsity}

    @property
    def components_(self) -> List[np.ndarray]:
        """Each layer's weights, ``hidden x visible``, bottom first."""
        p = self.params_
        return [p[f"layer{i}.W"].T.copy() for i in range(len(self.model_.sizes) - 1)]

    @property
    def intercepts_hidden_(self) -> List[np.ndarray]:
        """Each layer's hidden biases, bottom first."""
        p = self.params_
        return [p[f"layer{i}.c"].ravel() for i in range(len(self.model_.sizes) - 1)]

    @property
    def intercepts_visible_(self) -> List[np.ndarray]:
        """Each layer's visible biases, bottom first."""
        p = self.params_
        return [p[f"layer{i}.b"].ravel() for i in range(len(self.model_.sizes) - 1)]

    def _from_file(self, model: Any) -> None:
        super()._from_file(model)
        w = train_words(file_line(model.config, "layer0"))
        self.set_params(
            hidden_layer_sizes=tuple(model.sizes[1:]), cd_k=int(w.get("cd_k", 1)),
            persistent=w.get("persistent") == "true", sparsity=_sparsity_target(w),
        )  # fmt: skip


class DBM(SamplerMixin, LatentEstimator):
    """Deep Boltzmann machine (``latent train dbm``): binary visible and
    hidden layers trained jointly (Salakhutdinov & Hinton 2009), a
    mean-field positive phase and persistent chains moved by ``cd_k``
    odd/even Gibbs sweeps for the negative phase. ``transform`` is the top
    layer's mean-field posterior (``all_layers=True``: every hidden
    layer's, side by side), ``reconstruct`` the visible means of the first
    hidden layer's posterior, ``score_samples`` minus their squared error,
    ``sample`` fresh Gibbs chains (``from_chains=True``: the training's
    persistent chains).

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(256, 64)
        Hidden units per layer, bottom first, two layers or more
        (``--layers`` without the visible size).
    cd_k : int, default=1
        Odd/even Gibbs sweeps of the persistent chains per update.
    chains : int or None, default=None
        Persistent chains (``--chains``); None: one per minibatch row.
    mf_iters : int, default=10
        The most mean-field sweeps per posterior (``--mf-iters``).
    mf_tol : float, default=1e-4
        Mean-field stops once no posterior of a block of rows (up to 1000)
        moved by more than this in a sweep (``--mf-tol``; 0: always
        ``mf_iters`` sweeps). The block stops as a whole, so a row's
        features may differ by about ``mf_tol`` with the rows it comes with.
    n_iter, batch_size, learning_rate, optimizer, weight_decay, momentum, random_state, verbose, threads, precision
        As in ``GaussianRBM`` (learning rate 0.01: 0.1 diverges).
    """

    _kind = "dbm"

    def __init__(
        self, hidden_layer_sizes: Sizes = (256, 64), *, cd_k: int = 1, chains: Optional[int] = None,
        mf_iters: int = 10, mf_tol: float = 1e-4, n_iter: int = 10, batch_size: int = 100,
        learning_rate: float = 0.01, optimizer: str = "sgd", weight_decay: float = 1e-4,
        momentum: Optional[float] = None, random_state: Any = None, verbose: int = 0,
        threads: Optional[int] = None, precision: str = "f32",
    ) -> None:  # fmt: skip
        self.hidden_layer_sizes = hidden_layer_sizes
        self.cd_k = cd_k
        self.chains = chains
        self.mf_iters = mf_iters
        self.mf_tol = mf_tol
        self.n_iter = n_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.random_state = random_state
        self.verbose = verbose
        self.threads = threads
        self.precision = precision

    def _spec(self, X: np.ndarray) -> Tuple[List[int], str, Dict[str, Any]]:
        hidden = sizes_of("hidden_layer_sizes", self.hidden_layer_sizes)
        if len(hidden) < 2:
            got = self.hidden_layer_sizes
            raise ValueError(f"hidden_layer_sizes: two hidden layers or more for a DBM, got {got!r}")
        check_int("cd_k", self.cd_k, 1)
        if self.chains is not None:
            check_int("chains", self.chains, 1)
        check_int("mf_iters", self.mf_iters, 1)
        check_number("mf_tol", self.mf_tol, 0.0)
        sizes = [X.shape[1]] + hidden
        chains = "batch" if self.chains is None else int(self.chains)
        spec = (
            f"sizes={','.join(map(str, sizes))} mf_iters={int(self.mf_iters)} "
            f"mf_tol={float(self.mf_tol)!r} chains={chains} cd_k={int(self.cd_k)}"
        )
        return sizes, spec, {}

    def transform(self, X: Any, *, all_layers: bool = False) -> np.ndarray:
        """The top layer's mean-field posterior of the rows of X (``latent
        encode``); with ``all_layers``, every hidden layer's side by side,
        the bottom first (``latent encode --all-layers``)."""
        X = self._input(X)
        return self.model_.encode(f32(X), self.threads, bool(all_layers)).astype(X.dtype, copy=False)

    def sample(
        self, n_samples: int = 1, *, n_steps: int = 1000, random_state: Any = None, from_chains: bool = False
    ) -> np.ndarray:
        """``n_samples`` samples (visible means, float32) after ``n_steps``
        odd/even Gibbs sweeps of fresh chains seeded by ``random_state``
        (``latent sample``); with ``from_chains``, those of the first
        ``n_samples`` persistent chains as training left them, at most
        ``n_chains_`` (``latent sample --from-chains``; ``n_steps`` and
        ``random_state`` unused)."""
        if not from_chains:
            return super().sample(n_samples, n_steps=n_steps, random_state=random_state)
        check_int("n_samples", n_samples, 1)
        if n_samples > self.n_chains_:
            raise ValueError(f"n_samples: at most n_chains_ ({self.n_chains_}) with from_chains, got {n_samples}")
        return self.model_.chain_samples(int(n_samples), self.threads)

    @property
    def n_chains_(self) -> int:
        """The persistent chains the model holds."""
        check_is_fitted(self)
        return int(self.model_.info()["chains"])

    @property
    def components_(self) -> List[np.ndarray]:
        """Each layer's weights, ``n_l x n_{l-1}`` (``W_l`` transposed),
        bottom first."""
        p = self.params_
        return [p[f"W{l}"].T.copy() for l in range(1, len(self.model_.sizes))]

    @property
    def intercepts_(self) -> List[np.ndarray]:
        """Each layer's biases, the visible layer's first (``b0 … bL``)."""
        p = self.params_
        return [p[f"b{l}"].ravel() for l in range(len(self.model_.sizes))]

    def _from_file(self, model: Any) -> None:
        super()._from_file(model)
        w = train_words(model.config.splitlines()[0])  # DbmConfig::to_text: every key
        self.set_params(
            hidden_layer_sizes=tuple(model.sizes[1:]), cd_k=int(w["cd_k"]),
            chains=None if w["chains"] == "batch" else int(w["chains"]), mf_iters=int(w["mf_iters"]),
            mf_tol=float(w["mf_tol"]),
        )  # fmt: skip


class Autoencoder(LatentEstimator):
    """Autoencoder (``latent train ae``): plain, tied, sparse (L1 or KL),
    denoising or contractive, one or more layers. ``transform`` is the code
    (the top encoder layer), ``reconstruct`` ``g(f(x))``.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(256,)
        Encoder layer sizes, the code last (``--layers`` without the
        visible size).
    activation : str or list of str, default="sigmoid"
        Encoder activation, one for every layer or one per layer
        (identity, sigmoid, relu, tanh, softplus).
    loss : {"auto", "cross-entropy", "squared-error"}, default="auto"
        Reconstruction loss; "auto": cross-entropy for data in [0, 1],
        else squared error.
    tied : bool, default=False
        The decoder uses the encoder's weights transposed.
    sparsity : str, default="none"
        ``"l1:LAMBDA"`` (λ Σ|h|) or ``"kl:RHO[:BETA]"`` (β Σ KL(ρ‖ρ̂)).
    noise : str, default="none"
        Denoising corruption: ``"mask:NU"``, ``"gaussian:STD"`` or
        ``"salt-pepper:NU"``.
    contractive : float or None, default=None
        The contractive penalty's weight λ.
    n_iter, batch_size, learning_rate, optimizer, weight_decay, momentum, random_state, verbose, threads, precision
        As in ``GaussianRBM`` (Adam at 0.001, no weight decay).
    """

    _kind = "ae"

    def __init__(
        self, hidden_layer_sizes: Sizes = (256,), *, activation: Union[str, Sequence[str]] = "sigmoid",
        loss: str = "auto", tied: bool = False, sparsity: str = "none", noise: str = "none",
        contractive: Optional[float] = None, n_iter: int = 10, batch_size: int = 100,
        learning_rate: float = 0.001, optimizer: str = "adam", weight_decay: float = 0.0,
        momentum: Optional[float] = None, random_state: Any = None, verbose: int = 0,
        threads: Optional[int] = None, precision: str = "f32",
    ) -> None:  # fmt: skip
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
        self.tied = tied
        self.sparsity = sparsity
        self.noise = noise
        self.contractive = contractive
        self.n_iter = n_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.random_state = random_state
        self.verbose = verbose
        self.threads = threads
        self.precision = precision

    def _spec(self, X: np.ndarray) -> Tuple[List[int], str, Dict[str, Any]]:
        sizes = [X.shape[1]] + sizes_of("hidden_layer_sizes", self.hidden_layer_sizes)
        acts = _activations(self.activation, len(sizes) - 1)
        return sizes, _ae_words(sizes, acts, choose_loss(self.loss, X), self), {}

    def _from_file(self, model: Any) -> None:
        super()._from_file(model)
        w = train_words(model.config.splitlines()[0])
        self.set_params(
            hidden_layer_sizes=tuple(model.sizes[1:]), activation=_named(w["activations"].split(",")),
            loss=w["loss"], **_regularisers(w),
        )  # fmt: skip


class VAE(SamplerMixin, LatentEstimator):
    """Variational autoencoder (``latent train vae``): a Gaussian posterior
    of ``n_components`` latent units, a Bernoulli (data in [0, 1]) or unit
    Gaussian decoder. ``transform`` is the posterior mean,
    ``score_samples`` the ELBO (one latent sample per row, drawn from
    ``random_state``), ``sample`` decodes ``z ~ N(0, I)``.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(256,)
        Hidden layers of the encoder (the decoder mirrors them).
    n_components : int, default=20
        Latent units (``--latent``).
    activation : str or list of str, default="relu"
        Hidden activations.
    loss : {"auto", "cross-entropy", "squared-error"}, default="auto"
        Cross-entropy is a Bernoulli decoder, squared error a unit Gaussian.
    n_iter, batch_size, learning_rate, optimizer, weight_decay, momentum, random_state, verbose, threads, precision
        As in ``Autoencoder``.
    """

    _kind = "vae"

    def __init__(
        self, hidden_layer_sizes: Sizes = (256,), n_components: int = 20, *,
        activation: Union[str, Sequence[str]] = "relu", loss: str = "auto", n_iter: int = 10,
        batch_size: int = 100, learning_rate: float = 0.001, optimizer: str = "adam",
        weight_decay: float = 0.0, momentum: Optional[float] = None, random_state: Any = None,
        verbose: int = 0, threads: Optional[int] = None, precision: str = "f32",
    ) -> None:  # fmt: skip
        self.hidden_layer_sizes = hidden_layer_sizes
        self.n_components = n_components
        self.activation = activation
        self.loss = loss
        self.n_iter = n_iter
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.random_state = random_state
        self.verbose = verbose
        self.threads = threads
        self.precision = precision

    def _spec(self, X: np.ndarray) -> Tuple[List[int], str, Dict[str, Any]]:
        hidden = self.hidden_layer_sizes
        hidden = [] if hidden in ((), []) else sizes_of("hidden_layer_sizes", hidden)
        check_int("n_components", self.n_components, 1)
        sizes = [X.shape[1]] + hidden
        acts = ",".join(_activations(self.activation, len(hidden))) if hidden else "none"
        output = "bernoulli" if choose_loss(self.loss, X) == "cross-entropy" else "gaussian"
        spec = (
            f"sizes={','.join(map(str, sizes))} activations={acts} latent={int(self.n_components)} "
            f"output={output} init_std=none"
        )
        return sizes, spec, {}

    def _from_file(self, model: Any) -> None:
        super()._from_file(model)
        w = train_words(model.config.splitlines()[0])
        acts = w.get("activations", "none")
        self.set_params(
            hidden_layer_sizes=tuple(model.sizes[1:-1]), n_components=int(w["latent"]),
            activation="relu" if acts == "none" else _named(acts.split(",")),
            loss="cross-entropy" if w.get("output") == "bernoulli" else "squared-error",
        )  # fmt: skip


class DeepAutoencoder(Autoencoder):
    """Deep autoencoder (``latent train deep-ae``): each layer pretrained
    greedily (a one-layer autoencoder, or an RBM), the stack unrolled, then
    fine-tuned end to end.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(256, 64)
        Encoder layer sizes, the code last.
    pretrain : {"ae", "rbm"}, default="ae"
        What pretrains each layer (RBMs: sigmoid layers, data in [0, 1]).
    pretrain_iter : int or None, default=None
        Pretraining epochs per layer (None: ``n_iter``).
    tied, sparsity, noise, contractive
        The pretraining autoencoders' regularisers (``pretrain="ae"``).
    cd_k, persistent
        The pretraining RBMs' (``pretrain="rbm"``).
    activation, loss, n_iter, batch_size, learning_rate, optimizer, weight_decay, momentum, random_state, verbose, threads, precision
        As in ``Autoencoder``.
    """

    _kind = "deep-ae"

    def __init__(
        self, hidden_layer_sizes: Sizes = (256, 64), *, pretrain: str = "ae",
        pretrain_iter: Optional[int] = None, activation: Union[str, Sequence[str]] = "sigmoid",
        loss: str = "auto", tied: bool = False, sparsity: str = "none", noise: str = "none",
        contractive: Optional[float] = None, cd_k: int = 1, persistent: bool = False,
        n_iter: int = 10, batch_size: int = 100, learning_rate: float = 0.001,
        optimizer: str = "adam", weight_decay: float = 0.0, momentum: Optional[float] = None,
        random_state: Any = None, verbose: int = 0, threads: Optional[int] = None,
        precision: str = "f32",
    ) -> None:  # fmt: skip
        super().__init__(
            hidden_layer_sizes, activation=activation, loss=loss, tied=tied, sparsity=sparsity,
            noise=noise, contractive=contractive, n_iter=n_iter, batch_size=batch_size,
            learning_rate=learning_rate, optimizer=optimizer, weight_decay=weight_decay,
            momentum=momentum, random_state=random_state, verbose=verbose, threads=threads,
            precision=precision,
        )  # fmt: skip
        self.pretrain = pretrain
        self.pretrain_iter = pretrain_iter
        self.cd_k = cd_k
        self.persistent = persistent

    def _spec(self, X: np.ndarray) -> Tuple[List[int], str, Dict[str, Any]]:
        check_choice("pretrain", self.pretrain, ("ae", "rbm"))
        epochs = self.n_iter if self.pretrain_iter is None else self.pretrain_iter
        check_int("pretrain_iter", epochs, 1)
        sizes = [X.shape[1]] + sizes_of("hidden_layer_sizes", self.hidden_layer_sizes)
        acts = _activations(self.activation, len(sizes) - 1)
        loss = choose_loss(self.loss, X)
        deep = _ae_words(sizes, acts, loss, Autoencoder())  # the unrolled model: plain
        if self.pretrain == "ae":
            layer = _ae_words(sizes[:2], acts[:1], loss, self)
        else:
            self._check_rbm_pretraining(acts, X)
            layer = f"visible=bernoulli n_visible={sizes[0]} n_hidden={sizes[1]} " + _rbm_words(
                self.cd_k, self.persistent, None
            )
        spec = f"{deep}\npretrain: {self.pretrain} epochs={int(epochs)} phase=pretrain\npretrain-layer: {layer}"
        return sizes, spec, {}

    def _check_rbm_pretraining(self, acts: List[str], X: np.ndarray) -> None:
        """``latent train deep-ae --pretrain rbm``'s checks."""
        given = [n for n in ("tied", "contractive") if getattr(self, n)]
        given += [n for n in ("sparsity", "noise") if getattr(self, n) != "none"]
        if given:
            raise ValueError(f"{given[0]} with pretrain='rbm': it applies to pretrain='ae'")
        if any(a != "sigmoid" for a in acts):
            raise ValueError(
                "activation: sigmoid on every layer with pretrain='rbm' (an RBM's hidden units are sigmoid)"
            )
        if not in_unit(X):
            raise ValueError(
                "X: value range for pretrain='rbm' (Bernoulli visibles): expected [0, 1], "
                f"found [{X.min()}, {X.max()}]"
            )

    def _from_file(self, model: Any) -> None:
        LatentEstimator._from_file(self, model)
        config = model.config
        w = train_words(config.splitlines()[0])
        pre = file_line(config, "pretrain").split()
        layer = train_words(file_line(config, "pretrain-layer"))
        params: Dict[str, Any] = {
            "hidden_layer_sizes": tuple(model.sizes[1:]), "activation": _named(w["activations"].split(",")),
            "loss": w["loss"], "pretrain": pre[0] if pre else "ae",
            "pretrain_iter": int(train_words(" ".join(pre[1:])).get("epochs", 1)),
        }  # fmt: skip
        if params["pretrain"] == "ae":
            params.update(_regularisers(layer))
        else:
            params.update(cd_k=int(layer.get("cd_k", 1)), persistent=layer.get("persistent") == "true")
        self.set_params(**params)
