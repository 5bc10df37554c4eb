"""Type stubs of the extension module ``latent._native`` (python/src)."""

from os import PathLike
from typing import Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

F32 = npt.NDArray[np.float32]

class Rbm:
    """A Bernoulli RBM; parameters in scikit-learn's layout."""

    def __init__(
        self,
        components: F32,
        intercept_visible: F32,
        intercept_hidden: F32,
        precision: str = "f32",
    ) -> None: ...
    @property
    def precision(self) -> str: ...
    def components(self) -> F32: ...
    def intercept_visible(self) -> F32: ...
    def intercept_hidden(self) -> F32: ...
    def transform(self, x: F32, threads: Optional[int] = None) -> F32: ...
    def gibbs(self, x: F32, seed: int, threads: Optional[int] = None) -> F32: ...
    def pseudo_likelihood(
        self, x: F32, flips: npt.NDArray[np.int64], threads: Optional[int] = None
    ) -> F32: ...
    def save(
        self,
        path: Union[str, PathLike[str]],
        settings: Tuple[int, float, int, int, float, int],
    ) -> None: ...

class HiddenPcd:
    """scikit-learn's PCD with hidden persistent chains."""

    def __init__(
        self,
        h_samples: F32,
        learning_rate: float = 0.1,
        cd_k: int = 1,
        momentum: float = 0.0,
    ) -> None: ...
    def h_samples(self) -> F32: ...
    def velocity(self) -> Tuple[F32, F32, F32]: ...
    def set_velocity(self, rbm: Rbm, velocity: Tuple[F32, F32, F32]) -> None: ...
    def fit(
        self,
        rbm: Rbm,
        x: F32,
        plan: Tuple[int, int, int, int],
        threads: Optional[int] = None,
    ) -> None: ...
    def step(self, rbm: Rbm, x: F32, seed: int, threads: Optional[int] = None) -> None: ...

def load_rbm(path: Union[str, PathLike[str]]) -> Tuple[Rbm, str]: ...
