"""Public API of the dirichlet family; see :mod:`irt_jax._src.dirichlet`."""

from irt_jax._src.dirichlet import Params as Params
from irt_jax._src.dirichlet import sample as sample
from irt_jax._src.dirichlet import sample_log as sample_log
from irt_jax._src.dirichlet import log_prob as log_prob
from irt_jax._src.dirichlet import log_prob_log as log_prob_log
from irt_jax._src.dirichlet import mean as mean
from irt_jax._src.dirichlet import variance as variance
from irt_jax._src.dirichlet import event_ndims as event_ndims
from irt_jax._src.dirichlet import is_valid as is_valid
from irt_jax._src.dirichlet import support as support
from irt_jax._src.dirichlet import validate as validate

__all__ = ["Params", "sample", "sample_log", "log_prob", "log_prob_log", "mean", "variance", "event_ndims", "is_valid", "support", "validate"]
