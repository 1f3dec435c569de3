"""Public API of the von Mises family; see :mod:`irt_jax._src.von_mises`."""

from irt_jax._src.von_mises import Params as Params
from irt_jax._src.von_mises import sample as sample
from irt_jax._src.von_mises import SUPPORT as SUPPORT
from irt_jax._src.von_mises import cdf as cdf
from irt_jax._src.von_mises import log_cdf as log_cdf
from irt_jax._src.von_mises import log_sf as log_sf
from irt_jax._src.von_mises import log_prob as log_prob
from irt_jax._src.von_mises import velocity as velocity
from irt_jax._src.von_mises import log_terms as log_terms
from irt_jax._src.von_mises import mean as mean
from irt_jax._src.von_mises import variance as variance
from irt_jax._src.von_mises import event_ndims as event_ndims
from irt_jax._src.von_mises import is_valid as is_valid
from irt_jax._src.von_mises import support as support
from irt_jax._src.von_mises import validate as validate

__all__ = ["Params", "sample", "SUPPORT", "cdf", "log_cdf", "log_sf", "log_prob", "velocity", "log_terms", "mean", "variance", "event_ndims", "is_valid", "support", "validate"]
