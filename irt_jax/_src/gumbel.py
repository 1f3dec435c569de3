r"""Gumbel(loc, scale) with its explicit reparameterization gradient.

``z = loc + scale g``, ``g`` a standard Gumbel draw (``-log E``): ``dz/dloc =
1``, ``dz/dscale = (z - loc)/scale``, the implicit rule of
``F = exp(-exp(-(z - loc)/scale))``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from irt_jax._src import explicit as _explicit


class Params(NamedTuple):
  """Parameters of a Gumbel (maximum) distribution (a pytree).

  Attributes:
    loc: mode, any real.
    scale: ``> 0``.

  >>> import irt_jax as irt
  >>> irt.gumbel.Params(scale=2.0)
  Params(loc=0.0, scale=2.0)
  """
  loc: ArrayLike = 0.0
  scale: ArrayLike = 1.0


def _t(p, z):
  return (z - p.loc) / p.scale


globals().update(_explicit.build(_explicit.Law(
    name="gumbel", title="Gumbel(loc, scale)", Params=Params,
    positive=("scale",), support=(-float("inf"), float("inf")),
    raw=lambda key, p, shape, dtype: p.loc + p.scale * _explicit.draws(
        jax.random.gumbel, key, shape, dtype),
    jacobian=lambda p, z: (jnp.ones_like(z), _t(p, z)),
    log_prob=lambda p, z: -jnp.log(p.scale) - _t(p, z) - jnp.exp(-_t(p, z)),
    cdf=lambda p, z: jnp.exp(-jnp.exp(-_t(p, z))),
    log_cdf=lambda p, z: -jnp.exp(-_t(p, z)),
    log_sf=lambda p, z: _explicit.log1mexp_neg_exp(-_t(p, z)),
    mean=lambda p: p.loc + np.euler_gamma * p.scale,
    variance=lambda p: (np.pi ** 2 / 6) * p.scale ** 2,
    docs=dict(
        sample="``z = loc - scale log E``, ``E ~ Exponential(1)``; ``dz/dloc = 1``, "
               "``dz/dscale = (z - loc)/scale``.",
        log_prob="``-log scale - t - exp(-t)``, ``t = (z - loc)/scale``.",
        cdf="``exp(-exp(-t))``.",
        log_cdf="``-exp(-t)``.",
        log_sf="``log(1 - exp(-exp(-t)))``, accurate far in the upper tail.",
        mean="``loc + euler_gamma scale``.",
        variance="``pi^2 scale^2 / 6``."),
    good="irt.gumbel.Params(0.5, 2.0)", z="1.0", z_low="-10.0", z_high="60.0",
    values=dict(log_prob="-1.7219", cdf="0.459", log_cdf="-190.5663", log_sf="-29.75",
                mean="1.6544", variance="6.5797"),
    sample_example="""
>>> import jax, irt_jax as irt
>>> key = jax.random.key(0)
>>> z = irt.gumbel.sample(key, irt.gumbel.Params(0.5, 2.0))
>>> g = jax.grad(lambda s: irt.gumbel.sample(key, irt.gumbel.Params(0.5, s)))(2.0)
>>> bool(abs(g - (z - 0.5) / 2.0) < 1e-6)
True
""",
    bad="irt.gumbel.Params(0.0, -1.0)", error="scale must be positive and finite, got -1.0")))
