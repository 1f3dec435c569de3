r"""Half-normal(scale) with its explicit reparameterization gradient.

``z = scale |eps|``: ``dz/dscale = z / scale``, the implicit rule of
``F = erf(z / (scale sqrt 2))``.
"""

from __future__ import annotations

from typing import NamedTuple
import math

import jax
import jax.numpy as jnp
from jax.scipy.special import erf, erfc
from jax.typing import ArrayLike

from irt_jax._src import explicit as _explicit
from irt_jax._src.special.normal import HALF_LOG_2PI, log_ndtr


class Params(NamedTuple):
  """Parameters of a half-normal distribution (a pytree): ``|N(0, scale)|``.

  Attributes:
    scale: ``> 0``.

  >>> import irt_jax as irt
  >>> irt.half_normal.Params(2.0)
  Params(scale=2.0)
  """
  scale: ArrayLike = 1.0


def _x(p, z):  # z / (scale sqrt 2)
  return z / (p.scale * math.sqrt(2.0))


def _log_cdf(p, z):
  # log erf(x): erf is relatively accurate near 0, erfc in the upper tail.
  x = _x(p, z)
  near = x < 1.0
  return jnp.where(near, jnp.log(erf(jnp.where(near, x, 1.0))),
                   jnp.log1p(-erfc(jnp.where(near, 1.0, x))))


globals().update(_explicit.build(_explicit.Law(
    name="half_normal", title="HalfNormal(scale)", Params=Params,
    positive=("scale",), support=(0.0, float("inf")),
    raw=lambda key, p, shape, dtype: p.scale * jnp.abs(_explicit.draws(
        jax.random.normal, key, shape, dtype)),
    jacobian=lambda p, z: (z / p.scale,),
    log_prob=lambda p, z: (math.log(2.0) - HALF_LOG_2PI - jnp.log(p.scale)
                           - 0.5 * (z / p.scale) ** 2),
    cdf=lambda p, z: erf(_x(p, z)),
    log_cdf=_log_cdf,
    log_sf=lambda p, z: math.log(2.0) + log_ndtr(-z / p.scale),
    mean=lambda p: p.scale * math.sqrt(2.0 / math.pi),
    variance=lambda p: p.scale ** 2 * (1.0 - 2.0 / math.pi),
    docs=dict(
        sample="``z = scale |eps|``, ``eps ~ N(0, 1)``; ``dz/dscale = z/scale``.",
        log_prob="``log 2 - log(2 pi)/2 - log scale - (z/scale)^2/2`` for ``z >= 0``.",
        cdf="``erf(z / (scale sqrt 2))``.",
        log_cdf="``log erf(z / (scale sqrt 2))``, accurate near 0 and in the upper tail.",
        log_sf="``log 2 + log Phi(-z/scale)``, accurate far in the upper tail.",
        mean="``scale sqrt(2/pi)``.",
        variance="``scale^2 (1 - 2/pi)``."),
    good="irt.half_normal.Params(2.0)", z="1.0", z_low="1e-8", z_high="30.0",
    values=dict(log_prob="-1.0439", cdf="0.3829", log_cdf="-19.3396", log_sf="-115.4382",
                mean="1.5958", variance="1.4535"),
    sample_example="""
>>> import jax, irt_jax as irt
>>> key = jax.random.key(0)
>>> z = irt.half_normal.sample(key, irt.half_normal.Params(2.0))
>>> g = jax.grad(lambda s: irt.half_normal.sample(key, irt.half_normal.Params(s)))(2.0)
>>> bool(abs(g - z / 2.0) < 1e-6)
True
""",
    bad="irt.half_normal.Params(-1.0)", error="scale must be positive and finite, got -1.0")))
