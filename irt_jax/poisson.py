"""Public API of the poisson family (discrete); see :mod:`irt_jax._src.poisson`."""

from irt_jax._src.poisson import Params as Params
from irt_jax._src.poisson import sample as sample
from irt_jax._src.poisson import log_prob as log_prob
from irt_jax._src.poisson import cdf as cdf
from irt_jax._src.poisson import mean as mean
from irt_jax._src.poisson import variance as variance
from irt_jax._src.poisson import event_ndims as event_ndims
from irt_jax._src.poisson import discrete as discrete
from irt_jax._src.poisson import REPARAMETERIZED as REPARAMETERIZED
from irt_jax._src.poisson import is_valid as is_valid
from irt_jax._src.poisson import support as support
from irt_jax._src.poisson import validate as validate
from irt_jax._src.poisson import go_velocity as go_velocity
from irt_jax._src.poisson import weak_derivative as weak_derivative
from irt_jax._src.poisson import WEAK_DERIVATIVE_FIELDS as WEAK_DERIVATIVE_FIELDS

__all__ = ["Params", "sample", "log_prob", "cdf", "mean", "variance", "event_ndims", "discrete", "REPARAMETERIZED", "is_valid", "support", "validate", "go_velocity", "weak_derivative", "WEAK_DERIVATIVE_FIELDS"]
