"""Public API of the normal family; see :mod:`irt_jax._src.normal`."""

from irt_jax._src.normal import Params as Params
from irt_jax._src.normal import sample as sample
from irt_jax._src.normal import SUPPORT as SUPPORT
from irt_jax._src.normal import cdf as cdf
from irt_jax._src.normal import log_cdf as log_cdf
from irt_jax._src.normal import log_sf as log_sf
from irt_jax._src.normal import log_prob as log_prob
from irt_jax._src.normal import mean as mean
from irt_jax._src.normal import variance as variance

__all__ = ["Params", "sample", "SUPPORT", "cdf", "log_cdf", "log_sf", "log_prob", "mean", "variance"]
