"""Public API of the half_student_t family; see :mod:`irt_jax._src.half_student_t`."""

from irt_jax._src.half_student_t import *  # noqa: F401,F403  (the names in its __all__)
from irt_jax._src.half_student_t import __all__ as __all__
