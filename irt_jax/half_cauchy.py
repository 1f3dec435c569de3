"""Public API of the half_cauchy family; see :mod:`irt_jax._src.half_cauchy`."""

from irt_jax._src.half_cauchy import *  # noqa: F401,F403  (the names in its __all__)
from irt_jax._src.half_cauchy import __all__ as __all__
