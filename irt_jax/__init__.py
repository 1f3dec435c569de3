"""irt_jax: implicit reparameterization gradients for JAX.

Each family is a module of pure functions over a ``Params`` NamedTuple::

    import irt_jax as irt
    p = irt.gamma.Params(concentration=0.5, rate=1.0)
    z = irt.gamma.sample(key, p, shape=(1000,))   # differentiable in p

``irt.implicit(sampler, cdf)`` turns any sampler plus its CDF into a sampler
with implicit gradients (Figurnov, Mohamed & Mnih, 2018). The discrete
families (``bernoulli``, ``categorical``, ``poisson``, ``binomial``,
``negative_binomial``) have no pathwise gradient; ``irt.estimators`` gives
theirs (score function, measure-valued, GO).
"""

from irt_jax import bernoulli as bernoulli
from irt_jax import beta as beta
from irt_jax import binomial as binomial
from irt_jax import categorical as categorical
from irt_jax import cauchy as cauchy
from irt_jax import diagnostics as diagnostics
from irt_jax import dirichlet as dirichlet
from irt_jax import estimators as estimators
from irt_jax import exponential as exponential
from irt_jax import family as family
from irt_jax import gamma as gamma
from irt_jax import gumbel as gumbel
from irt_jax import half_cauchy as half_cauchy
from irt_jax import half_normal as half_normal
from irt_jax import half_student_t as half_student_t
from irt_jax import kumaraswamy as kumaraswamy
from irt_jax import laplace as laplace
from irt_jax import log_normal as log_normal
from irt_jax import mixture as mixture
from irt_jax import negative_binomial as negative_binomial
from irt_jax import normal as normal
from irt_jax import pareto as pareto
from irt_jax import poisson as poisson
from irt_jax import student_t as student_t
from irt_jax import truncated as truncated
from irt_jax import von_mises as von_mises
from irt_jax import von_mises_fisher as von_mises_fisher
from irt_jax import weibull as weibull
from irt_jax._src.implicit import implicit as implicit
from irt_jax._src.implicit import velocity_from_cdf as velocity_from_cdf

__version__ = "0.1.0"

__all__ = [
    "bernoulli",
    "beta",
    "binomial",
    "categorical",
    "cauchy",
    "diagnostics",
    "dirichlet",
    "estimators",
    "exponential",
    "family",
    "gamma",
    "gumbel",
    "half_cauchy",
    "half_normal",
    "half_student_t",
    "implicit",
    "kumaraswamy",
    "laplace",
    "log_normal",
    "mixture",
    "negative_binomial",
    "normal",
    "pareto",
    "poisson",
    "student_t",
    "truncated",
    "velocity_from_cdf",
    "von_mises",
    "von_mises_fisher",
    "weibull",
]
