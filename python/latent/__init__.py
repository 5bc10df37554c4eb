"""latent: representation learning on multicore CPUs, from Python.

``latent.BernoulliRBM`` is a drop-in for ``sklearn.neural_network.BernoulliRBM``
trained by latent's engine (multithreaded, the GIL released);
``latent.load`` reads the model files the ``latent`` command writes.
"""

from latent._native import __version__
from latent._rbm import BernoulliRBM, load

__all__ = ["BernoulliRBM", "load", "__version__"]
