"""Public API of the weibull family; see :mod:`irt_jax._src.weibull`."""

from irt_jax._src.weibull import *  # noqa: F401,F403  (the names in its __all__)
from irt_jax._src.weibull import __all__ as __all__
