"""``latent.load``: a fitted estimator from a ``latent`` model file of any
kind, the estimator of its kind with the parameters read from the file."""

from __future__ import annotations

import os
from typing import Dict, Type, Union

from latent import _native, _rbm
from latent._classifier import Classifier
from latent._base import LatentEstimator, file_line
from latent._estimators import DBM, DBN, VAE, Autoencoder, DeepAutoencoder, GaussianRBM

ESTIMATORS: Dict[str, Type[LatentEstimator]] = {
    "gaussian-rbm": GaussianRBM,
    "dbn": DBN,
    "ae": Autoencoder,
    "vae": VAE,
    "deep-ae": DeepAutoencoder,
    "dbm": DBM,
    "classifier": Classifier,
}


def load(path: Union[str, "os.PathLike[str]"]) -> Union[_rbm.BernoulliRBM, LatentEstimator]:
    """A fitted estimator from a ``latent`` model file (written by ``latent
    train`` or an estimator's ``save``): ``BernoulliRBM`` for kind ``rbm``
    (a file without preprocessing), ``GaussianRBM``, ``DBN``, ``DBM``,
    ``Autoencoder``, ``VAE``, ``DeepAutoencoder``, ``Classifier`` for the others
    (a classifier file's ``classes_`` are 0..K-1: files store no label values), with the
    constructor's parameters read from the file (its configuration and
    ``train:`` line) and the model as fitted. A file's preprocessing
    (``latent train``'s scaling or standardisation) is applied to every
    input, as ``latent encode`` does."""
    path = os.fspath(path)
    model = _native.Model.load(path)
    if model.kind == "rbm":
        return _rbm.load(path)
    cls = ESTIMATORS.get(model.kind)
    if cls is None:
        raise ValueError(
            f"{path}: a {model.kind} model file has no estimator in latent's Python package "
            "(use it with the latent command: latent predict, latent eval --labels)"
        )
    est = cls()
    est.set_params(**est._settings_from_file(file_line(model.config, "train")))
    est._from_file(model)
    return est
