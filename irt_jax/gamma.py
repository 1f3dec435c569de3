"""Public API of the gamma family; see :mod:`irt_jax._src.gamma`."""

from irt_jax._src.gamma import Params as Params
from irt_jax._src.gamma import sample as sample
from irt_jax._src.gamma import sample_log as sample_log
from irt_jax._src.gamma import SUPPORT as SUPPORT
from irt_jax._src.gamma import cdf as cdf
from irt_jax._src.gamma import log_cdf as log_cdf
from irt_jax._src.gamma import log_sf as log_sf
from irt_jax._src.gamma import log_prob as log_prob
from irt_jax._src.gamma import log_prob_log as log_prob_log
from irt_jax._src.gamma import velocity as velocity
from irt_jax._src.gamma import log_terms as log_terms
from irt_jax._src.gamma import mean as mean
from irt_jax._src.gamma import variance as variance
from irt_jax._src.gamma import event_ndims as event_ndims
from irt_jax._src.gamma import is_valid as is_valid
from irt_jax._src.gamma import support as support
from irt_jax._src.gamma import validate as validate
from irt_jax._src.gamma import weak_derivative as weak_derivative
from irt_jax._src.gamma import WEAK_DERIVATIVE_FIELDS as WEAK_DERIVATIVE_FIELDS

__all__ = ["Params", "sample", "sample_log", "SUPPORT", "cdf", "log_cdf", "log_sf", "log_prob", "log_prob_log", "velocity", "log_terms", "mean", "variance", "event_ndims", "is_valid", "support", "validate", "weak_derivative", "WEAK_DERIVATIVE_FIELDS"]
