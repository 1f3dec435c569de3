"""Public API of the student-t family; see :mod:`irt_jax._src.student_t`."""

from irt_jax._src.student_t import Params as Params
from irt_jax._src.student_t import sample as sample
from irt_jax._src.student_t import SUPPORT as SUPPORT
from irt_jax._src.student_t import cdf as cdf
from irt_jax._src.student_t import log_cdf as log_cdf
from irt_jax._src.student_t import log_sf as log_sf
from irt_jax._src.student_t import log_prob as log_prob
from irt_jax._src.student_t import velocity as velocity
from irt_jax._src.student_t import log_terms as log_terms
from irt_jax._src.student_t import mean as mean
from irt_jax._src.student_t import variance as variance
from irt_jax._src.student_t import event_ndims as event_ndims
from irt_jax._src.student_t import is_valid as is_valid
from irt_jax._src.student_t import support as support
from irt_jax._src.student_t import validate as validate

__all__ = ["Params", "sample", "SUPPORT", "cdf", "log_cdf", "log_sf", "log_prob", "velocity", "log_terms", "mean", "variance", "event_ndims", "is_valid", "support", "validate"]
