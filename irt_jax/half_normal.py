"""Public API of the half_normal family; see :mod:`irt_jax._src.half_normal`."""

from irt_jax._src.half_normal import *  # noqa: F401,F403  (the names in its __all__)
from irt_jax._src.half_normal import __all__ as __all__
