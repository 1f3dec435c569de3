"""Public API of the beta family; see :mod:`irt_jax._src.beta`."""

from irt_jax._src.beta import Params as Params
from irt_jax._src.beta import sample as sample
from irt_jax._src.beta import sample_logit as sample_logit
from irt_jax._src.beta import SUPPORT as SUPPORT
from irt_jax._src.beta import cdf as cdf
from irt_jax._src.beta import log_cdf as log_cdf
from irt_jax._src.beta import log_sf as log_sf
from irt_jax._src.beta import log_prob as log_prob
from irt_jax._src.beta import log_prob_logit as log_prob_logit
from irt_jax._src.beta import velocity as velocity
from irt_jax._src.beta import log_terms as log_terms
from irt_jax._src.beta import mean as mean
from irt_jax._src.beta import variance as variance
from irt_jax._src.beta import event_ndims as event_ndims
from irt_jax._src.beta import is_valid as is_valid
from irt_jax._src.beta import support as support
from irt_jax._src.beta import validate as validate

__all__ = ["Params", "sample", "sample_logit", "SUPPORT", "cdf", "log_cdf", "log_sf", "log_prob", "log_prob_logit", "velocity", "log_terms", "mean", "variance", "event_ndims", "is_valid", "support", "validate"]
