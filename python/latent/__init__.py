"""latent: representation learning on multicore CPUs, from Python.

scikit-learn estimators trained by latent's engine (multithreaded, the GIL
released): ``BernoulliRBM`` (a drop-in for
``sklearn.neural_network.BernoulliRBM``), ``GaussianRBM``, ``DBN``, ``DBM``,
``Autoencoder``, ``VAE``, ``DeepAutoencoder`` and ``Classifier``. ``latent.load`` reads the
model files the ``latent`` command writes, of any kind; every estimator's
``save`` writes them.
"""

from latent._classifier import Classifier
from latent._estimators import DBM, DBN, VAE, Autoencoder, DeepAutoencoder, GaussianRBM
from latent._load import load
from latent._native import __version__
from latent._rbm import BernoulliRBM

__all__ = [
    "BernoulliRBM",
    "GaussianRBM",
    "DBN",
    "DBM",
    "Autoencoder",
    "VAE",
    "DeepAutoencoder",
    "Classifier",
    "load",
    "__version__",
]
