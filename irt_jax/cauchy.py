"""Public API of the cauchy family; see :mod:`irt_jax._src.cauchy`."""

from irt_jax._src.cauchy import *  # noqa: F401,F403  (the names in its __all__)
from irt_jax._src.cauchy import __all__ as __all__
