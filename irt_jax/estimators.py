"""Public API of the gradient estimators; see :mod:`irt_jax._src.estimators`
and :mod:`irt_jax._src.importance_weighted`."""

from irt_jax._src.estimators import BASELINES as BASELINES
from irt_jax._src.estimators import CONTROL_VARIATES as CONTROL_VARIATES
from irt_jax._src.estimators import MovingAverageBaseline as MovingAverageBaseline
from irt_jax._src.estimators import MovingAverageState as MovingAverageState
from irt_jax._src.estimators import best as best
from irt_jax._src.estimators import choose as choose
from irt_jax._src.estimators import delta_control_variate as delta_control_variate
from irt_jax._src.estimators import go_gradient as go_gradient
from irt_jax._src.estimators import measure_valued as measure_valued
from irt_jax._src.estimators import moving_average_baseline as moving_average_baseline
from irt_jax._src.estimators import pathwise as pathwise
from irt_jax._src.estimators import score_function as score_function
from irt_jax._src.estimators import score_function_surrogate as score_function_surrogate
from irt_jax._src.importance_weighted import dreg as dreg
from irt_jax._src.importance_weighted import iwae_bound as iwae_bound
from irt_jax._src.importance_weighted import sticking_the_landing as sticking_the_landing

__all__ = ["BASELINES", "CONTROL_VARIATES", "MovingAverageBaseline", "MovingAverageState",
           "best", "choose", "delta_control_variate", "dreg", "go_gradient", "iwae_bound",
           "measure_valued", "moving_average_baseline", "pathwise", "score_function",
           "score_function_surrogate", "sticking_the_landing"]
