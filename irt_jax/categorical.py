"""Public API of the categorical family (discrete); see :mod:`irt_jax._src.categorical`."""

from irt_jax._src.categorical import Params as Params
from irt_jax._src.categorical import sample as sample
from irt_jax._src.categorical import log_prob as log_prob
from irt_jax._src.categorical import event_ndims as event_ndims
from irt_jax._src.categorical import discrete as discrete
from irt_jax._src.categorical import REPARAMETERIZED as REPARAMETERIZED
from irt_jax._src.categorical import is_valid as is_valid
from irt_jax._src.categorical import support as support
from irt_jax._src.categorical import validate as validate

__all__ = ["Params", "sample", "log_prob", "event_ndims", "discrete", "REPARAMETERIZED", "is_valid", "support", "validate"]
