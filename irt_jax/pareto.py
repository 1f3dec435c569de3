"""Public API of the pareto family; see :mod:`irt_jax._src.pareto`."""

from irt_jax._src.pareto import *  # noqa: F401,F403  (the names in its __all__)
from irt_jax._src.pareto import __all__ as __all__
