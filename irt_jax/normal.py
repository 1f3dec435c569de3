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
from irt_jax._src.normal import event_ndims as event_ndims
from irt_jax._src.normal import is_valid as is_valid
from irt_jax._src.normal import support as support
from irt_jax._src.normal import validate as validate
from irt_jax._src.normal import log_terms as log_terms
from irt_jax._src.normal import velocity as velocity
from irt_jax._src.normal import approx_quantile as approx_quantile
from irt_jax._src.normal import moments_between as moments_between
from irt_jax._src.normal import weak_derivative as weak_derivative
from irt_jax._src.normal import WEAK_DERIVATIVE_FIELDS as WEAK_DERIVATIVE_FIELDS

__all__ = ["Params", "sample", "SUPPORT", "cdf", "log_cdf", "log_sf", "log_prob", "mean", "variance", "event_ndims", "is_valid", "support", "validate", "log_terms", "velocity", "approx_quantile", "moments_between", "weak_derivative", "WEAK_DERIVATIVE_FIELDS"]
