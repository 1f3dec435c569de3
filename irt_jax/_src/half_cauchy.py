r"""Half-Cauchy(scale) with its explicit reparameterization gradient.

``z = scale |c|``, ``c`` a standard Cauchy draw: ``dz/dscale = z / scale``,
the implicit rule of ``F = (2/pi) atan(z/scale)``. The mean and variance
diverge: ``inf`` (as SciPy).
"""

from __future__ import annotations

from typing import NamedTuple
import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from irt_jax._src import explicit as _explicit


class Params(NamedTuple):
  """Parameters of a half-Cauchy distribution (a pytree): ``|Cauchy(0, scale)|``.

  Attributes:
    scale: ``> 0``.

  >>> import irt_jax as irt
  >>> irt.half_cauchy.Params(2.0)
  Params(scale=2.0)
  """
  scale: ArrayLike = 1.0


def _diverges(p):
  return jnp.full(jnp.shape(p.scale), jnp.inf, p.scale.dtype)


_LOG_2_PI = math.log(2.0 / math.pi)

globals().update(_explicit.build(_explicit.Law(
    name="half_cauchy", title="HalfCauchy(scale)", Params=Params,
    positive=("scale",), support=(0.0, float("inf")),
    raw=lambda key, p, shape, dtype: p.scale * jnp.abs(_explicit.draws(
        jax.random.cauchy, key, shape, dtype)),
    jacobian=lambda p, z: (z / p.scale,),
    log_prob=lambda p, z: _LOG_2_PI - jnp.log(p.scale) - _explicit.log1p_square(z / p.scale),
    cdf=lambda p, z: jnp.arctan(z / p.scale) * (2.0 / math.pi),
    log_cdf=lambda p, z: _LOG_2_PI + jnp.log(jnp.arctan(z / p.scale)),
    log_sf=lambda p, z: _LOG_2_PI + jnp.log(jnp.arctan2(1.0, z / p.scale)),
    mean=_diverges, variance=_diverges,
    docs=dict(
        sample="``z = scale |tan(pi (u - 1/2))|``; ``dz/dscale = z/scale``.",
        log_prob="``log(2/pi) - log scale - log(1 + (z/scale)^2)`` for ``z >= 0``.",
        cdf="``(2/pi) atan(z/scale)``.",
        log_cdf="``log((2/pi) atan(z/scale))``, accurate near 0.",
        log_sf="``log((2/pi) atan2(1, z/scale))``, accurate far in the upper tail.",
        mean="Diverges: ``inf``.",
        variance="Diverges: ``inf``."),
    good="irt.half_cauchy.Params(2.0)", z="1.0", z_low="1e-8", z_high="1e10",
    values=dict(log_prob="-1.3679", cdf="0.2952", log_cdf="-19.5654", log_sf="-22.7843",
                mean="inf", variance="inf"),
    sample_example="""
>>> import jax, irt_jax as irt
>>> key = jax.random.key(0)
>>> z = irt.half_cauchy.sample(key, irt.half_cauchy.Params(2.0))
>>> g = jax.grad(lambda s: irt.half_cauchy.sample(key, irt.half_cauchy.Params(s)))(2.0)
>>> bool(abs(g - z / 2.0) < 1e-6)
True
""",
    bad="irt.half_cauchy.Params(-1.0)", error="scale must be positive and finite, got -1.0")))
