r"""Exponential(rate) with its explicit reparameterization gradient.

``z = E / rate``, ``E ~ Exponential(1)``: ``dz/drate = -z / rate``, which is
``-(dF/drate) / q`` for ``F = 1 - exp(-rate z)``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from irt_jax._src import explicit as _explicit


class Params(NamedTuple):
  """Parameters of an exponential distribution (a pytree).

  Attributes:
    rate: inverse scale, ``> 0``.

  >>> import irt_jax as irt
  >>> irt.exponential.Params()
  Params(rate=1.0)
  """
  rate: ArrayLike = 1.0


def _raw(key, p, shape, dtype):
  return _explicit.draws(jax.random.exponential, key, shape, dtype) / p.rate


globals().update(_explicit.build(_explicit.Law(
    name="exponential", title="Exponential(rate)", Params=Params,
    positive=("rate",), support=(0.0, float("inf")), raw=_raw,
    jacobian=lambda p, z: (-z / p.rate,),
    log_prob=lambda p, z: jnp.log(p.rate) - p.rate * z,
    cdf=lambda p, z: -jnp.expm1(-p.rate * z),
    log_cdf=lambda p, z: _explicit.log1mexp_neg_exp(jnp.log(p.rate) + jnp.log(z)),
    log_sf=lambda p, z: -p.rate * z,
    mean=lambda p: 1.0 / p.rate,
    variance=lambda p: 1.0 / p.rate ** 2,
    docs=dict(
        sample="``z = E / rate`` with ``E ~ Exponential(1)``; ``dz/drate = -z/rate``.",
        log_prob="``log rate - rate z`` for ``z >= 0``, ``-inf`` below.",
        cdf="``1 - exp(-rate z)`` (``-expm1``).",
        log_cdf="``log(1 - exp(-rate z))``, accurate for tiny ``rate z``.",
        log_sf="``-rate z``.",
        mean="``1 / rate``.",
        variance="``1 / rate^2``."),
    good="irt.exponential.Params(2.0)", z="0.5", z_low="1e-10", z_high="30.0",
    values=dict(log_prob="-0.3069", cdf="0.6321", log_cdf="-22.3327", log_sf="-60.0",
                mean="0.5", variance="0.25"),
    sample_example="""
>>> import jax, irt_jax as irt
>>> key = jax.random.key(0)
>>> z = irt.exponential.sample(key, irt.exponential.Params(2.0))
>>> g = jax.grad(lambda r: irt.exponential.sample(key, irt.exponential.Params(r)))(2.0)
>>> bool(abs(g + z / 2.0) < 1e-6)
True
""",
    bad="irt.exponential.Params(0.0)", error="rate must be positive and finite, got 0.0")))


WEAK_DERIVATIVE_FIELDS = ("rate",)


def weak_derivative(params: Params, key: jax.Array, fields, coupling: bool):
  r"""Weak derivative of Exponential(rate) (for measure-valued gradients; see
  :func:`irt_jax.normal.weak_derivative` for the format).

  .. math::  \partial_\lambda (\lambda e^{-\lambda z}) = (1/\lambda - z)\,
             \lambda e^{-\lambda z}
             = \frac{1}{\lambda}\big(q(z) - \lambda^2 z e^{-\lambda z}\big),

  and ``lambda^2 z e^(-lambda z)`` is the Gamma(2, rate) (Erlang) density: ``c
  = 1/rate``, ``q+ = q`` itself (``z_plus`` is ``None``: the common draw),
  ``q- = Gamma(2, rate)``. Coupling: ``z- = z + E/rate``, ``E ~ Exp(1)`` (a
  sum of two exponentials); uncoupled: ``z- = (E1 + E2)/rate``, independent
  of ``z``. (The gamma family's rule with ``a = 1``.)

  >>> import jax, irt_jax as irt
  >>> z, parts = irt.exponential.weak_derivative(irt.exponential.Params(2.0),
  ...                                            jax.random.key(0), ("rate",), True)
  >>> c, plus, minus = parts["rate"]
  >>> float(c), plus is None, bool(minus > z)
  (0.5, True, True)
  """
  del fields  # the rate is the only one
  p, dtype = _prepare(params)
  k0, k1, k2 = jax.random.split(key, 3)
  shape = jnp.shape(p.rate)
  e = lambda k: jax.random.exponential(k, shape, dtype)
  z = e(k0) / p.rate
  z_minus = z + e(k1) / p.rate if coupling else (e(k1) + e(k2)) / p.rate
  return jax.lax.stop_gradient(z), {"rate": (1.0 / p.rate, None,
                                             jax.lax.stop_gradient(z_minus))}


__all__ = __all__ + ["weak_derivative", "WEAK_DERIVATIVE_FIELDS"]
