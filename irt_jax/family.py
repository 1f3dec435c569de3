"""The family contract; see :mod:`irt_jax._src.family`."""

from irt_jax._src.family import CIRCULAR as CIRCULAR
from irt_jax._src.family import Family as Family
from irt_jax._src.family import REAL as REAL
from irt_jax._src.family import SIMPLEX as SIMPLEX
from irt_jax._src.family import SPHERE as SPHERE
from irt_jax._src.family import Support as Support
from irt_jax._src.family import check as check
from irt_jax._src.family import interval as interval

__all__ = ["CIRCULAR", "Family", "REAL", "SIMPLEX", "SPHERE", "Support", "check", "interval"]
