"""Public API of the negative binomial family (discrete); see :mod:`irt_jax._src.negative_binomial`."""

from irt_jax._src.negative_binomial import Params as Params
from irt_jax._src.negative_binomial import sample as sample
from irt_jax._src.negative_binomial import log_prob as log_prob
from irt_jax._src.negative_binomial import cdf as cdf
from irt_jax._src.negative_binomial import mean as mean
from irt_jax._src.negative_binomial import variance as variance
from irt_jax._src.negative_binomial import event_ndims as event_ndims
from irt_jax._src.negative_binomial import discrete as discrete
from irt_jax._src.negative_binomial import REPARAMETERIZED as REPARAMETERIZED
from irt_jax._src.negative_binomial import is_valid as is_valid
from irt_jax._src.negative_binomial import support as support
from irt_jax._src.negative_binomial import validate as validate
from irt_jax._src.negative_binomial import go_velocity as go_velocity

__all__ = ["Params", "sample", "log_prob", "cdf", "mean", "variance", "event_ndims", "discrete", "REPARAMETERIZED", "is_valid", "support", "validate", "go_velocity"]
