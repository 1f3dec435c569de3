"""Public API of mixture families; see :mod:`irt_jax._src.mixture`."""

from irt_jax._src.mixture import Mixture as Mixture
from irt_jax._src.mixture import Params as Params
from irt_jax._src.mixture import of as of
from irt_jax._src.mixture_mvn import MultivariateNormalMixture as MultivariateNormalMixture
from irt_jax._src.mixture_mvn import MultivariateNormalParams as MultivariateNormalParams
from irt_jax._src.mixture_mvn import multivariate_normal as multivariate_normal

__all__ = ["Mixture", "MultivariateNormalMixture", "MultivariateNormalParams",
           "Params", "multivariate_normal", "of"]
