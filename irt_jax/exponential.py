"""Public API of the exponential family; see :mod:`irt_jax._src.exponential`."""

from irt_jax._src.exponential import *  # noqa: F401,F403  (the names in its __all__)
from irt_jax._src.exponential import __all__ as __all__
