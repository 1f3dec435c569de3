r"""Weibull(scale, concentration) with its explicit reparameterization gradient.

``z = scale E^(1/k)``, ``E ~ Exponential(1)``, drawn as ``exp(log scale +
log(E)/k)``: ``dz/dscale = z / scale`` and ``dz/dk = -(z/k) log(z/scale)``,
what the implicit rule gives for ``F = 1 - exp(-(z/scale)^k)``. For tiny ``k``
(1e-3) most draws leave the float range: they are ``0`` or ``+inf``, with
gradient 0, never NaN.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln, xlogy
from jax.typing import ArrayLike

from irt_jax._src import explicit as _explicit


class Params(NamedTuple):
  """Parameters of a Weibull distribution (a pytree; fields as NumPyro's).

  Attributes:
    scale: ``lambda > 0``.
    concentration: shape ``k > 0``.

  >>> import irt_jax as irt
  >>> irt.weibull.Params(2.0, 1.5)
  Params(scale=2.0, concentration=1.5)
  """
  scale: ArrayLike
  concentration: ArrayLike


def _raw(key, p, shape, dtype):
  e = _explicit.draws(jax.random.exponential, key, shape, dtype)
  return jnp.exp(jnp.log(p.scale) + jnp.log(e) / p.concentration)


def _jacobian(p, z):
  # (z/scale, -(z/k) log(z/scale)); z log z -> 0 where z underflows.
  return (z / p.scale, -(xlogy(z, z) - z * jnp.log(p.scale)) / p.concentration)


def _log_w(p, z):  # log (z/scale)^k
  return p.concentration * (jnp.log(z) - jnp.log(p.scale))


def _log_prob(p, z):
  k, lam = p.concentration, p.scale
  return (jnp.log(k) - jnp.log(lam) + xlogy(k - 1.0, z / lam)
          - jnp.exp(_log_w(p, z)))


def _variance(p):
  k = p.concentration
  g1 = gammaln(1.0 + 1.0 / k)
  return p.scale ** 2 * jnp.exp(2.0 * g1) * jnp.expm1(gammaln(1.0 + 2.0 / k) - 2.0 * g1)


globals().update(_explicit.build(_explicit.Law(
    name="weibull", title="Weibull(scale, concentration)", Params=Params,
    positive=("scale", "concentration"), support=(0.0, float("inf")), raw=_raw,
    jacobian=_jacobian, log_prob=_log_prob,
    cdf=lambda p, z: -jnp.expm1(-jnp.exp(_log_w(p, z))),
    log_cdf=lambda p, z: _explicit.log1mexp_neg_exp(_log_w(p, z)),
    log_sf=lambda p, z: -jnp.exp(_log_w(p, z)),
    mean=lambda p: p.scale * jnp.exp(gammaln(1.0 + 1.0 / p.concentration)),
    variance=_variance,
    docs=dict(
        sample="``z = scale E^(1/k)``, ``E ~ Exponential(1)``; ``dz/dscale = z/scale``, "
               "``dz/dk = -(z/k) log(z/scale)``.",
        log_prob="``log k - log scale + (k-1) log(z/scale) - (z/scale)^k``.",
        cdf="``1 - exp(-(z/scale)^k)``.",
        log_cdf="``log(1 - exp(-(z/scale)^k))`` from ``k log(z/scale)``: finite "
                "where ``(z/scale)^k`` underflows.",
        log_sf="``-(z/scale)^k``.",
        mean="``scale Gamma(1 + 1/k)`` (``inf`` where it exceeds the float range).",
        variance="``scale^2 (Gamma(1 + 2/k) - Gamma(1 + 1/k)^2)``."),
    good="irt.weibull.Params(2.0, 1.5)", z="1.0", z_low="1e-8", z_high="20.0",
    values=dict(log_prob="-0.9878", cdf="0.2978", log_cdf="-28.6707", log_sf="-31.6228",
                mean="1.8055", variance="1.5028"),
    sample_example="""
>>> import jax, irt_jax as irt
>>> key = jax.random.key(0)
>>> z = irt.weibull.sample(key, irt.weibull.Params(2.0, 1.5))
>>> g = jax.grad(lambda s: irt.weibull.sample(key, irt.weibull.Params(s, 1.5)))(2.0)
>>> bool(abs(g - z / 2.0) < 1e-6)
True
""",
    bad="irt.weibull.Params(1.0, -1.0)",
    error="concentration must be positive and finite, got -1.0")))


WEAK_DERIVATIVE_FIELDS = ("scale",)


def weak_derivative(params: Params, key: jax.Array, fields, coupling: bool):
  r"""Weak derivative of Weibull(scale, k) in the scale (for measure-valued
  gradients; see :func:`irt_jax.normal.weak_derivative` for the format).

  With ``w = (z/scale)^k`` (``w ~ Exp(1)`` under ``q``),
  ``log q = log k - log scale + (k - 1) log(z/scale) - w`` gives

  .. math::  \partial_{scale}\, q(z) = \frac{k}{scale}\,(w - 1)\, q(z)
             = \frac{k}{scale}\,\big(w\,q(z) - q(z)\big),

  and ``w q(z)`` is the density of ``z = scale W^(1/k)`` with ``W ~
  Gamma(2, 1)`` (the map ``z -> w`` carries ``w e^(-w) dw``): ``c =
  k/scale``, ``q+ = scale Gamma(2, 1)^(1/k)``, ``q- = q`` itself (``None``).
  Coupling: ``z = scale E^(1/k)`` and ``z+ = scale (E + E')^(1/k)`` (one
  ``E``); uncoupled: ``z+ = scale (E1 + E2)^(1/k)``, independent of ``z``.
  Check: ``d E[z]/d scale = k (Gamma(2 + 1/k) - Gamma(1 + 1/k)) = Gamma(1 +
  1/k)``. The concentration has no such decomposition here.

  >>> import jax, irt_jax as irt
  >>> z, parts = irt.weibull.weak_derivative(irt.weibull.Params(2.0, 1.5),
  ...                                        jax.random.key(0), ("scale",), True)
  >>> c, plus, minus = parts["scale"]
  >>> float(c), bool(plus > z), minus is None
  (0.75, True, True)
  """
  del fields  # the scale is the only one
  p, dtype = _prepare(params)
  k0, k1, k2 = jax.random.split(key, 3)
  shape = jnp.broadcast_shapes(jnp.shape(p.scale), jnp.shape(p.concentration))
  e = lambda k: jax.random.exponential(k, shape, dtype)
  at = lambda w: jnp.exp(jnp.log(p.scale) + jnp.log(w) / p.concentration)
  e0 = e(k0)
  w_plus = e0 + e(k1) if coupling else e(k1) + e(k2)
  z, z_plus = jax.lax.stop_gradient((at(e0), at(w_plus)))
  return z, {"scale": (jnp.broadcast_to(p.concentration / p.scale, shape), z_plus, None)}


__all__ = __all__ + ["weak_derivative", "WEAK_DERIVATIVE_FIELDS"]
