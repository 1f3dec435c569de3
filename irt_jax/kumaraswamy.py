"""Public API of the kumaraswamy family; see :mod:`irt_jax._src.kumaraswamy`."""

from irt_jax._src.kumaraswamy import *  # noqa: F401,F403  (the names in its __all__)
from irt_jax._src.kumaraswamy import __all__ as __all__
