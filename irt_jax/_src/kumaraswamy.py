r"""Kumaraswamy(concentration1, concentration0) with its explicit
reparameterization gradient.

With ``a = concentration1``, ``b = concentration0``: ``F(z) = 1 - (1 -
z^a)^b`` on ``[0, 1]`` inverts in closed form, ``z = (1 - exp(-E/b))^(1/a)``
with ``E ~ Exponential(1)``. Holding ``E`` fixed, with ``w = z^a``:
``dz/da = -z log(z) / a`` and ``dz/db = z (1 - w) log(1 - w) / (a b w)``,
exactly ``-(dF/d(a, b)) / q`` (Kumaraswamy 1980; Jones 2009, "Kumaraswamy's
distribution: a beta-type distribution with some tractability advantages").
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln, xlog1py, xlogy
from jax.typing import ArrayLike

from irt_jax._src import explicit as _explicit


class Params(NamedTuple):
  """Parameters of a Kumaraswamy distribution (a pytree; fields as NumPyro's).

  Attributes:
    concentration1: ``a > 0``, the exponent of ``z``.
    concentration0: ``b > 0``, the exponent of ``1 - z^a``.

  >>> import irt_jax as irt
  >>> irt.kumaraswamy.Params(2.0, 3.0)
  Params(concentration1=2.0, concentration0=3.0)
  """
  concentration1: ArrayLike
  concentration0: ArrayLike


def _raw(key, p, shape, dtype):
  e = _explicit.draws(jax.random.exponential, key, shape, dtype)
  return jnp.exp(jnp.log(-jnp.expm1(-e / p.concentration0)) / p.concentration1)


def _log_w(p, z):  # log z^a
  return p.concentration1 * jnp.log(z)


def _jacobian(p, z):
  a, b = p
  log_w = a * jnp.log(jnp.where(z > 0, z, 1.0))
  w, one_minus_w = jnp.exp(log_w), -jnp.expm1(log_w)
  log_one_minus_w = jnp.where(w < 0.5, jnp.log1p(-w), jnp.log(jnp.where(w < 0.5, 1.0, one_minus_w)))
  # (1 - w) log(1 - w) / w: -1 as w -> 0, 0 at w = 1.
  g = jnp.where(w > 0, one_minus_w * jnp.where(one_minus_w > 0, log_one_minus_w, 0.0)
                / jnp.where(w > 0, w, 1.0), -1.0)
  return -xlogy(z, z) / a, z * g / (a * b)


def _log_cdf(p, z):
  log_w = _log_w(p, z)
  w = jnp.exp(jnp.minimum(log_w, -20.0))
  tiny = log_w < -20.0
  # log(-log(1 - w)): log w + w/2 where w is tiny.
  inner = jnp.where(tiny, log_w + 0.5 * w,
                    jnp.log(-jnp.log1p(-jnp.exp(jnp.where(tiny, -20.0, log_w)))))
  return _explicit.log1mexp_neg_exp(jnp.log(p.concentration0) + inner)


def _mean(p):
  a, b = p
  return jnp.exp(jnp.log(b) + gammaln(1.0 + 1.0 / a) + gammaln(b) - gammaln(1.0 + 1.0 / a + b))


def _variance(p):
  a, b = p
  second = jnp.exp(jnp.log(b) + gammaln(1.0 + 2.0 / a) + gammaln(b) - gammaln(1.0 + 2.0 / a + b))
  return second - _mean(p) ** 2


globals().update(_explicit.build(_explicit.Law(
    name="kumaraswamy", title="Kumaraswamy(concentration1, concentration0)", Params=Params,
    positive=("concentration1", "concentration0"), support=(0.0, 1.0), raw=_raw,
    jacobian=_jacobian,
    log_prob=lambda p, z: (jnp.log(p.concentration1) + jnp.log(p.concentration0)
                           + xlogy(p.concentration1 - 1.0, z)
                           + xlog1py(p.concentration0 - 1.0, -jnp.exp(_log_w(p, z)))),
    cdf=lambda p, z: -jnp.expm1(p.concentration0 * jnp.log1p(-jnp.exp(_log_w(p, z)))),
    log_cdf=_log_cdf,
    log_sf=lambda p, z: p.concentration0 * jnp.log1p(-jnp.exp(_log_w(p, z))),
    mean=_mean, variance=_variance,
    docs=dict(
        sample="``z = (1 - exp(-E/b))^(1/a)``, ``E ~ Exponential(1)``; "
               "``dz/da = -z log(z)/a``, ``dz/db = z (1-w) log(1-w)/(a b w)``, ``w = z^a``.",
        log_prob="``log a + log b + (a-1) log z + (b-1) log(1 - z^a)`` on ``[0, 1]``.",
        cdf="``1 - (1 - z^a)^b``.",
        log_cdf="``log(1 - (1 - z^a)^b)``, accurate where ``z^a`` is tiny.",
        log_sf="``b log(1 - z^a)``.",
        mean="``b B(1 + 1/a, b)``.",
        variance="``b B(1 + 2/a, b) - (b B(1 + 1/a, b))^2``."),
    good="irt.kumaraswamy.Params(2.0, 3.0)", z="0.5", z_low="1e-5", z_high="0.75",
    values=dict(log_prob="0.5232", cdf="0.5781", log_cdf="-21.9272", log_sf="-2.48",
                mean="0.4571", variance="0.041"),
    sample_example="""
>>> import jax, jax.numpy as jnp, irt_jax as irt
>>> key = jax.random.key(0)
>>> z = irt.kumaraswamy.sample(key, irt.kumaraswamy.Params(2.0, 3.0))
>>> g = jax.grad(lambda a: irt.kumaraswamy.sample(key, irt.kumaraswamy.Params(a, 3.0)))(2.0)
>>> bool(abs(g + z * jnp.log(z) / 2.0) < 1e-6)
True
""",
    bad="irt.kumaraswamy.Params(0.0, 1.0)",
    error="concentration1 must be positive and finite, got 0.0")))
