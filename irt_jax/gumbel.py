"""Public API of the gumbel family; see :mod:`irt_jax._src.gumbel`."""

from irt_jax._src.gumbel import *  # noqa: F401,F403  (the names in its __all__)
from irt_jax._src.gumbel import __all__ as __all__
