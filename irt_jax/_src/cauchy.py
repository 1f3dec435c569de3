r"""Cauchy(loc, scale) with its explicit reparameterization gradient.

``z = loc + scale c``, ``c`` a standard Cauchy draw: ``dz/dloc = 1``,
``dz/dscale = (z - loc)/scale``, the implicit rule of ``F = 1/2 + atan(t)/pi``.
The CDFs are ``atan2(1, -t)/pi`` and ``atan2(1, t)/pi``, so both tails keep
their relative precision. The mean and variance do not exist: NaN.
"""

from __future__ import annotations

from typing import NamedTuple
import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from irt_jax._src import explicit as _explicit


class Params(NamedTuple):
  """Parameters of a Cauchy distribution (a pytree).

  Attributes:
    loc: median, any real.
    scale: half width at half maximum, ``> 0``.

  >>> import irt_jax as irt
  >>> irt.cauchy.Params(scale=2.0)
  Params(loc=0.0, scale=2.0)
  """
  loc: ArrayLike = 0.0
  scale: ArrayLike = 1.0


def _t(p, z):
  return (z - p.loc) / p.scale


def _undefined(p):
  return jnp.full(jnp.broadcast_shapes(jnp.shape(p.loc), jnp.shape(p.scale)), jnp.nan,
                  p.scale.dtype)


globals().update(_explicit.build(_explicit.Law(
    name="cauchy", title="Cauchy(loc, scale)", Params=Params,
    positive=("scale",), support=(-float("inf"), float("inf")),
    raw=lambda key, p, shape, dtype: p.loc + p.scale * _explicit.draws(
        jax.random.cauchy, key, shape, dtype),
    jacobian=lambda p, z: (jnp.ones_like(z), _t(p, z)),
    log_prob=lambda p, z: -math.log(math.pi) - jnp.log(p.scale) - _explicit.log1p_square(_t(p, z)),
    cdf=lambda p, z: jnp.arctan2(1.0, -_t(p, z)) / math.pi,
    log_cdf=lambda p, z: jnp.log(jnp.arctan2(1.0, -_t(p, z))) - math.log(math.pi),
    log_sf=lambda p, z: jnp.log(jnp.arctan2(1.0, _t(p, z))) - math.log(math.pi),
    mean=_undefined, variance=_undefined,
    docs=dict(
        sample="``z = loc + scale tan(pi (u - 1/2))``; ``dz/dloc = 1``, "
               "``dz/dscale = (z - loc)/scale``.",
        log_prob="``-log(pi scale) - log(1 + t^2)``, ``t = (z - loc)/scale``.",
        cdf="``1/2 + atan(t)/pi``, as ``atan2(1, -t)/pi``.",
        log_cdf="``log(atan2(1, -t)/pi)``, accurate far in the lower tail.",
        log_sf="``log(atan2(1, t)/pi)``, accurate far in the upper tail.",
        mean="Undefined: NaN.",
        variance="Undefined: NaN."),
    good="irt.cauchy.Params(0.5, 2.0)", z="1.0", z_low="-1e10", z_high="1e10",
    values=dict(log_prob="-1.8985", cdf="0.578", log_cdf="-23.4774", log_sf="-23.4774",
                mean="nan", variance="nan"),
    sample_example="""
>>> import jax, irt_jax as irt
>>> key = jax.random.key(0)
>>> z = irt.cauchy.sample(key, irt.cauchy.Params(0.5, 2.0))
>>> g = jax.grad(lambda s: irt.cauchy.sample(key, irt.cauchy.Params(0.5, s)))(2.0)
>>> bool(abs(g - (z - 0.5) / 2.0) < 1e-6)
True
""",
    bad="irt.cauchy.Params(0.0, 0.0)", error="scale must be positive and finite, got 0.0")))
