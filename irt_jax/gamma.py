"""Public API of the gamma family; see :mod:`irt_jax._src.gamma`."""

from irt_jax._src.gamma import Params as Params
from irt_jax._src.gamma import sample as sample
from irt_jax._src.gamma import sample_log as sample_log
from irt_jax._src.gamma import cdf as cdf
from irt_jax._src.gamma import log_prob as log_prob
from irt_jax._src.gamma import mean as mean
from irt_jax._src.gamma import variance as variance

__all__ = ["Params", "sample", "sample_log", "cdf", "log_prob", "mean", "variance"]
