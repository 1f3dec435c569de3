"""Public API of the dirichlet family; see :mod:`irt_jax._src.dirichlet`."""

from irt_jax._src.dirichlet import Params as Params
from irt_jax._src.dirichlet import sample as sample
from irt_jax._src.dirichlet import log_prob as log_prob
from irt_jax._src.dirichlet import mean as mean
from irt_jax._src.dirichlet import variance as variance

__all__ = ["Params", "sample", "log_prob", "mean", "variance"]
