"""Public API of the diagnostics; see :mod:`irt_jax._src.diagnostics`."""

from irt_jax._src.diagnostics import GradientCheck as GradientCheck
from irt_jax._src.diagnostics import TransportCheck as TransportCheck
from irt_jax._src.diagnostics import VarianceStudy as VarianceStudy
from irt_jax._src.diagnostics import gradient_check as gradient_check
from irt_jax._src.diagnostics import transport_residual as transport_residual
from irt_jax._src.diagnostics import variance_study as variance_study

__all__ = ["GradientCheck", "TransportCheck", "VarianceStudy", "gradient_check",
           "transport_residual", "variance_study"]
