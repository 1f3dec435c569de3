"""irt_jax: implicit reparameterization gradients for JAX.

Each family is a module of pure functions over a ``Params`` NamedTuple::

    import irt_jax as irt
    p = irt.gamma.Params(concentration=0.5, rate=1.0)
    z = irt.gamma.sample(key, p, shape=(1000,))   # differentiable in p

``irt.implicit(sampler, cdf)`` turns any sampler plus its CDF into a sampler
with implicit gradients (Figurnov, Mohamed & Mnih, 2018).
"""

from irt_jax import beta as beta
from irt_jax import diagnostics as diagnostics
from irt_jax import dirichlet as dirichlet
from irt_jax import estimators as estimators
from irt_jax import family as family
from irt_jax import gamma as gamma
from irt_jax import mixture as mixture
from irt_jax import normal as normal
from irt_jax import student_t as student_t
from irt_jax import truncated as truncated
from irt_jax import von_mises as von_mises
from irt_jax import von_mises_fisher as von_mises_fisher
from irt_jax._src.implicit import implicit as implicit
from irt_jax._src.implicit import velocity_from_cdf as velocity_from_cdf

__version__ = "0.1.0"

__all__ = [
    "beta",
    "diagnostics",
    "dirichlet",
    "estimators",
    "family",
    "gamma",
    "implicit",
    "mixture",
    "normal",
    "student_t",
    "truncated",
    "velocity_from_cdf",
    "von_mises",
    "von_mises_fisher",
]
