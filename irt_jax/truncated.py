"""Public API of truncation; see :mod:`irt_jax._src.truncated`."""

from irt_jax._src.truncated import Params as Params
from irt_jax._src.truncated import Truncated as Truncated
from irt_jax._src.truncated import of as of

__all__ = ["Params", "Truncated", "of"]
