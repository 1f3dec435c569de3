"""Public API of the gradient estimators; see :mod:`irt_jax._src.estimators`."""

from irt_jax._src.estimators import BASELINES as BASELINES
from irt_jax._src.estimators import best as best
from irt_jax._src.estimators import choose as choose
from irt_jax._src.estimators import measure_valued as measure_valued
from irt_jax._src.estimators import pathwise as pathwise
from irt_jax._src.estimators import score_function as score_function
from irt_jax._src.estimators import score_function_surrogate as score_function_surrogate

__all__ = ["BASELINES", "best", "choose", "measure_valued", "pathwise", "score_function",
           "score_function_surrogate"]
