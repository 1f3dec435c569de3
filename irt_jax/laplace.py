"""Public API of the laplace family; see :mod:`irt_jax._src.laplace`."""

from irt_jax._src.laplace import *  # noqa: F401,F403  (the names in its __all__)
from irt_jax._src.laplace import __all__ as __all__
