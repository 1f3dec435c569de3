r"""Laplace(loc, scale) with its explicit reparameterization gradient.

``z = loc + scale l``, ``l`` a standard Laplace draw: ``dz/dloc = 1``,
``dz/dscale = (z - loc)/scale``, the implicit rule of its CDF.
"""

from __future__ import annotations

from typing import NamedTuple
import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from irt_jax._src import explicit as _explicit


class Params(NamedTuple):
  """Parameters of a Laplace (double exponential) distribution (a pytree).

  Attributes:
    loc: mean and median, any real.
    scale: ``> 0`` (variance ``2 scale^2``).

  >>> import irt_jax as irt
  >>> irt.laplace.Params(scale=2.0)
  Params(loc=0.0, scale=2.0)
  """
  loc: ArrayLike = 0.0
  scale: ArrayLike = 1.0


def _t(p, z):
  return (z - p.loc) / p.scale


def _log_tail(t):
  """``(log F, log S)`` of the standard Laplace at ``t``: the small side is
  ``-|t| - log 2``, the other ``log1p(-exp(-|t|)/2)``."""
  small = -jnp.abs(t) - math.log(2.0)
  big = jnp.log1p(-0.5 * jnp.exp(-jnp.abs(t)))
  return jnp.where(t < 0, small, big), jnp.where(t < 0, big, small)


globals().update(_explicit.build(_explicit.Law(
    name="laplace", title="Laplace(loc, scale)", Params=Params,
    positive=("scale",), support=(-float("inf"), float("inf")),
    raw=lambda key, p, shape, dtype: p.loc + p.scale * _explicit.draws(
        jax.random.laplace, key, shape, dtype),
    jacobian=lambda p, z: (jnp.ones_like(z), _t(p, z)),
    log_prob=lambda p, z: -math.log(2.0) - jnp.log(p.scale) - jnp.abs(_t(p, z)),
    cdf=lambda p, z: jnp.exp(_log_tail(_t(p, z))[0]),
    log_cdf=lambda p, z: _log_tail(_t(p, z))[0],
    log_sf=lambda p, z: _log_tail(_t(p, z))[1],
    mean=lambda p: p.loc + 0.0 * p.scale,
    variance=lambda p: 2.0 * p.scale ** 2 + 0.0 * p.loc,
    docs=dict(
        sample="``z = loc + scale l``, ``l`` standard Laplace; ``dz/dloc = 1``, "
               "``dz/dscale = (z - loc)/scale``.",
        log_prob="``-log(2 scale) - |z - loc|/scale``.",
        cdf="``exp(t)/2`` for ``t = (z - loc)/scale < 0``, else ``1 - exp(-t)/2``.",
        log_cdf="``t - log 2`` below ``loc``, ``log1p(-exp(-t)/2)`` above.",
        log_sf="``-t - log 2`` above ``loc``, ``log1p(-exp(t)/2)`` below.",
        mean="``loc``.",
        variance="``2 scale^2``."),
    good="irt.laplace.Params(0.5, 2.0)", z="1.0", z_low="-60.0", z_high="60.0",
    values=dict(log_prob="-1.6363", cdf="0.6106", log_cdf="-30.9431", log_sf="-30.4431",
                mean="0.5", variance="8.0"),
    sample_example="""
>>> import jax, irt_jax as irt
>>> key = jax.random.key(0)
>>> z = irt.laplace.sample(key, irt.laplace.Params(0.5, 2.0))
>>> g = jax.grad(lambda s: irt.laplace.sample(key, irt.laplace.Params(0.5, s)))(2.0)
>>> bool(abs(g - (z - 0.5) / 2.0) < 1e-6)
True
""",
    bad="irt.laplace.Params(0.0, -1.0)", error="scale must be positive and finite, got -1.0")))
