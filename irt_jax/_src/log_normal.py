r"""Log-normal(loc, scale) with its explicit reparameterization gradient.

``z = exp(loc + scale eps)``: ``dz/dloc = z``, ``dz/dscale = z t`` with ``t =
(log z - loc)/scale``, the implicit rule of ``F = Phi(t)``. Draws beyond the
float range are ``0`` / ``+inf`` with gradient 0.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from irt_jax._src import explicit as _explicit
from irt_jax._src import normal as _normal
from irt_jax._src.special.normal import HALF_LOG_2PI, log_ndtr


class Params(NamedTuple):
  """Parameters of a log-normal distribution (a pytree): ``log z ~ N(loc, scale)``.

  Attributes:
    loc: mean of ``log z``, any real.
    scale: standard deviation of ``log z``, ``> 0``.

  >>> import irt_jax as irt
  >>> irt.log_normal.Params(scale=0.5)
  Params(loc=0.0, scale=0.5)
  """
  loc: ArrayLike = 0.0
  scale: ArrayLike = 1.0


def _t(p, z):
  return (jnp.log(z) - p.loc) / p.scale


def _jacobian(p, z):
  # (z, z t); z t is 0 where z underflowed to 0 (t = -inf there).
  t = _t(p, jnp.where(z > 0, z, 1.0))
  return z, jnp.where(z > 0, z * t, 0.0)


globals().update(_explicit.build(_explicit.Law(
    name="log_normal", title="LogNormal(loc, scale)", Params=Params,
    positive=("scale",), support=(0.0, float("inf")),
    raw=lambda key, p, shape, dtype: jnp.exp(p.loc + p.scale * _explicit.draws(
        jax.random.normal, key, shape, dtype)),
    jacobian=_jacobian,
    log_prob=lambda p, z: (-jnp.log(z) - jnp.log(p.scale) - HALF_LOG_2PI
                           - 0.5 * _t(p, z) ** 2),
    cdf=lambda p, z: jax.scipy.special.ndtr(_t(p, z)),
    log_cdf=lambda p, z: log_ndtr(_t(p, z)),
    log_sf=lambda p, z: log_ndtr(-_t(p, z)),
    mean=lambda p: jnp.exp(p.loc + 0.5 * p.scale ** 2),
    variance=lambda p: jnp.expm1(p.scale ** 2) * jnp.exp(2.0 * p.loc + p.scale ** 2),
    docs=dict(
        sample="``z = exp(loc + scale eps)``, ``eps ~ N(0, 1)``; ``dz/dloc = z``, "
               "``dz/dscale = z (log z - loc)/scale``.",
        log_prob="``-log z - log scale - log(2 pi)/2 - t^2/2``, ``t = (log z - loc)/scale``.",
        cdf="``Phi(t)``.",
        log_cdf="``log Phi(t)``, accurate far in the lower tail.",
        log_sf="``log Phi(-t)``, accurate far in the upper tail.",
        mean="``exp(loc + scale^2/2)``.",
        variance="``(exp(scale^2) - 1) exp(2 loc + scale^2)``."),
    good="irt.log_normal.Params(0.0, 0.5)", z="1.5", z_low="0.01", z_high="100.0",
    values=dict(log_prob="-0.9601", cdf="0.7913", log_cdf="-45.5659", log_sf="-45.5659",
                mean="1.1331", variance="0.3647"),
    sample_example="""
>>> import jax, irt_jax as irt
>>> key = jax.random.key(0)
>>> z = irt.log_normal.sample(key, irt.log_normal.Params(0.3, 0.5))
>>> g = jax.grad(lambda m: irt.log_normal.sample(key, irt.log_normal.Params(m, 0.5)))(0.3)
>>> bool(abs(g - z) < 1e-6)
True
""",
    bad="irt.log_normal.Params(0.0, -1.0)", error="scale must be positive and finite, got -1.0")))


WEAK_DERIVATIVE_FIELDS = ("loc", "scale")


def weak_derivative(params: Params, key: jax.Array, fields, coupling: bool):
  r"""Weak derivatives of LogNormal(loc, scale) (for measure-valued gradients;
  see :func:`irt_jax.normal.weak_derivative` for the format).

  ``z = exp(x)``, ``x ~ N(loc, scale)``, so ``E[f(z)] = E_N[f(exp x)]`` and
  every decomposition of the normal's ``dq/dphi = c (q+ - q-)`` carries over
  through ``exp`` with the same ``c`` (a change of variables does not touch
  the parameters):

  * ``loc``: ``c = 1/(scale sqrt(2 pi))``, ``q+- = exp(loc +- scale R)``,
    ``R ~ Rayleigh(1)``; coupling: one ``R``.
  * ``scale``: ``c = 1/scale``, ``q+ = exp(loc + scale M)`` (``M`` the
    double-sided Maxwell), ``q- = LogNormal(loc, scale)``; coupling:
    ``q- = exp(loc + scale M U)``, ``U ~ Uniform(0, 1)``.

  Computed by :func:`irt_jax.normal.weak_derivative` and mapped through ``exp``.

  >>> import jax, irt_jax as irt
  >>> z, parts = irt.log_normal.weak_derivative(irt.log_normal.Params(0.0, 1.0),
  ...                                           jax.random.key(0), ("loc",), True)
  >>> c, plus, minus = parts["loc"]
  >>> bool((plus >= 1) & (minus <= 1) & (z > 0))
  True
  """
  p, _ = _prepare(params)
  x, parts = _normal.weak_derivative(_normal.Params(p.loc, p.scale), key, fields,
                                     coupling)
  ex = lambda v: None if v is None else jnp.exp(v)
  return ex(x), {n: (c, ex(plus), ex(minus)) for n, (c, plus, minus) in parts.items()}


__all__ = __all__ + ["weak_derivative", "WEAK_DERIVATIVE_FIELDS"]
