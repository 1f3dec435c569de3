"""Public API of the von Mises–Fisher family; see :mod:`irt_jax._src.von_mises_fisher`."""

from irt_jax._src.von_mises_fisher import Params as Params
from irt_jax._src.von_mises_fisher import sample as sample
from irt_jax._src.von_mises_fisher import log_prob as log_prob
from irt_jax._src.von_mises_fisher import mean as mean
from irt_jax._src.von_mises_fisher import event_ndims as event_ndims
from irt_jax._src.von_mises_fisher import is_valid as is_valid
from irt_jax._src.von_mises_fisher import support as support
from irt_jax._src.von_mises_fisher import validate as validate

__all__ = ["Params", "sample", "log_prob", "mean", "event_ndims", "is_valid", "support", "validate"]
