r"""Pareto(scale, alpha) with its explicit reparameterization gradient.

``z = scale exp(E/alpha)``, ``E ~ Exponential(1)``: ``dz/dscale = z/scale``,
``dz/dalpha = -(z/alpha) log(z/scale)``, the implicit rule of ``F = 1 -
(scale/z)^alpha``. Everything is formed from ``log(z/scale)`` (log space), so
tiny and large ``alpha`` stay finite; for tiny ``alpha`` draws beyond the
float range are ``+inf`` with gradient 0. The support ``[scale, inf)``
depends on the parameters. Mean ``inf`` for ``alpha <= 1``, variance ``inf``
for ``alpha <= 2`` (as SciPy).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from irt_jax._src import explicit as _explicit


class Params(NamedTuple):
  """Parameters of a Pareto (type I) distribution (a pytree; fields as NumPyro's).

  Attributes:
    scale: the lower end of the support, ``> 0``.
    alpha: tail index, ``> 0``.

  >>> import irt_jax as irt
  >>> irt.pareto.Params(1.0, 3.0)
  Params(scale=1.0, alpha=3.0)
  """
  scale: ArrayLike
  alpha: ArrayLike


def _log_ratio(p, z):  # log(z/scale) >= 0, exact near z = scale
  return jnp.log1p((z - p.scale) / p.scale)


def _mean(p):
  a = jnp.where(p.alpha > 1, p.alpha, 2.0)
  return jnp.where(p.alpha > 1, a * p.scale / (a - 1.0), jnp.inf)


def _variance(p):
  a = jnp.where(p.alpha > 2, p.alpha, 3.0)
  return jnp.where(p.alpha > 2, p.scale ** 2 * a / ((a - 1.0) ** 2 * (a - 2.0)), jnp.inf)


globals().update(_explicit.build(_explicit.Law(
    name="pareto", title="Pareto(scale, alpha)", Params=Params,
    positive=("scale", "alpha"), support=lambda p: (p.scale, float("inf")),
    raw=lambda key, p, shape, dtype: jnp.exp(
        jnp.log(p.scale) + _explicit.draws(jax.random.exponential, key, shape, dtype) / p.alpha),
    jacobian=lambda p, z: (z / p.scale, -z * _log_ratio(p, z) / p.alpha),
    log_prob=lambda p, z: (jnp.log(p.alpha) - jnp.log(p.scale)
                           - (p.alpha + 1.0) * _log_ratio(p, z)),
    cdf=lambda p, z: -jnp.expm1(-p.alpha * _log_ratio(p, z)),
    log_cdf=lambda p, z: _explicit.log1mexp_neg_exp(jnp.log(p.alpha)
                                                    + jnp.log(_log_ratio(p, z))),
    log_sf=lambda p, z: -p.alpha * _log_ratio(p, z),
    mean=_mean, variance=_variance,
    docs=dict(
        sample="``z = scale exp(E/alpha)``, ``E ~ Exponential(1)``; ``dz/dscale = z/scale``, "
               "``dz/dalpha = -(z/alpha) log(z/scale)``.",
        log_prob="``log alpha - log scale - (alpha + 1) log(z/scale)`` for ``z >= scale``.",
        cdf="``1 - (scale/z)^alpha``.",
        log_cdf="``log(1 - exp(-alpha log(z/scale)))``, accurate just above ``scale``.",
        log_sf="``-alpha log(z/scale)``.",
        mean="``alpha scale / (alpha - 1)`` for ``alpha > 1``, else ``inf``.",
        variance="``scale^2 alpha / ((alpha-1)^2 (alpha-2))`` for ``alpha > 2``, else ``inf``."),
    good="irt.pareto.Params(1.0, 3.0)", z="2.0", z_low="1.0078125", z_high="1e6",
    values=dict(log_prob="-1.674", cdf="0.875", log_cdf="-3.769", log_sf="-41.4465",
                mean="1.5", variance="0.75"),
    sample_example="""
>>> import jax, jax.numpy as jnp, irt_jax as irt
>>> key = jax.random.key(0)
>>> z = irt.pareto.sample(key, irt.pareto.Params(1.0, 3.0))
>>> g = jax.grad(lambda a: irt.pareto.sample(key, irt.pareto.Params(1.0, a)))(3.0)
>>> bool(abs(g + z * jnp.log(z) / 3.0) < 1e-6)
True
""",
    bad="irt.pareto.Params(1.0, -2.0)", error="alpha must be positive and finite, got -2.0")))
