r"""Poisson(rate): a discrete family (no pathwise gradient; see
:mod:`irt_jax._src.discrete`).

``q(k) = rate^k e^(-rate) / k!`` on ``k = 0, 1, 2, ...``; draws by
:func:`jax.random.poisson`, stored as floats. Gradients of ``E[f(z)]`` come
from the estimators: the score function (``d log q/d rate = k/rate - 1``), the
measure-valued derivative (:func:`weak_derivative`) and the GO gradient
(:func:`go_velocity`), which for the Poisson rate coincide:
``d/d rate E[f(z)] = E[f(z + 1) - f(z)]``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaincc, gammaln
from jax.typing import ArrayLike

from irt_jax._src import discrete as _discrete
from irt_jax._src import utils

event_ndims = 0
discrete = True
REPARAMETERIZED = False
WEAK_DERIVATIVE_FIELDS = ("rate",)


class Params(NamedTuple):
  """Parameters of a Poisson distribution (a pytree; NumPyro's field name).

  Attributes:
    rate: the mean ``rate > 0``.

  >>> import irt_jax as irt
  >>> irt.poisson.Params(3.0)
  Params(rate=3.0)
  """
  rate: ArrayLike


def _prepare(params: Params, dtype=None) -> tuple[Params, jnp.dtype]:
  if not isinstance(params, Params):
    raise TypeError(f"params: expected irt_jax.poisson.Params, got {type(params).__name__}")
  dtype = utils.float_dtype(dtype, params.rate)
  rate = utils.as_float("rate", params.rate, dtype)
  utils.check_positive("rate", rate)
  return Params(rate), dtype


def _valid(p: Params) -> jax.Array:
  return jnp.isfinite(p.rate) & (p.rate > 0)


def _int_dtype(dtype):
  return jnp.int64 if jnp.dtype(dtype).itemsize == 8 else jnp.int32


def _draw(key, rate, shape, dtype):
  ok = _valid(Params(rate))
  safe = jnp.where(ok, rate, 1.0)
  k = jax.random.poisson(key, safe, shape, _int_dtype(dtype))
  return _discrete.to_float(k, ok, dtype)


def sample(key: ArrayLike, params: Params, shape=None, dtype=None, *,
           mode: str = "vjp") -> jax.Array:
  r"""Draws from Poisson(rate) (:func:`jax.random.poisson`), as floats.

  No pathwise gradient: differentiating through the draws gives NaN (use
  :func:`irt_jax.estimators.score_function`,
  :func:`~irt_jax.estimators.measure_valued` or
  :func:`~irt_jax.estimators.go_gradient`). Counts are exact integers up to
  ``2^24`` in float32 and ``2^31`` (int32 draws) for float32 rates.

  Args:
    key: a ``jax.random.key`` or legacy ``jax.random.PRNGKey``.
    params: :class:`Params`.
    shape: output shape; the parameters must broadcast to it.
    dtype: floating dtype of the draws; default: the parameters'.
    mode: accepted for the contract's signature (no rule to choose).

  Returns:
    Integer-valued draws of shape ``shape``; NaN where a traced rate is invalid.

  >>> import jax, irt_jax as irt
  >>> z = irt.poisson.sample(jax.random.key(0), irt.poisson.Params(3.0))
  >>> z.dtype in (jax.numpy.float32, jax.numpy.float64), bool(z == z.round()), bool(z >= 0)
  (True, True, True)
  """
  del mode
  key = utils.check_key(key)
  p, dtype = _prepare(params, dtype)
  shape = utils.resolve_shape(shape, jnp.shape(p.rate))
  return _discrete.no_pathwise(_draw(key, p.rate, shape, dtype), p)


def log_prob(params: Params, z: ArrayLike) -> jax.Array:
  r"""Log-mass ``k log(rate) - rate - log k!`` at integers ``k >= 0``; ``-inf``
  elsewhere (non-integers included).

  >>> import irt_jax as irt
  >>> round(float(irt.poisson.log_prob(irt.poisson.Params(3.0), 2.0)), 4)   # log(9 e^-3 / 2)
  -1.4959
  """
  p, dtype = _prepare(params)
  z, integer = _discrete.on_integers(z, dtype)
  inside = integer & (z >= 0)
  k = jnp.where(inside, z, 0.0)
  value = _discrete.xlogy(k, jnp.log(p.rate)) - p.rate - gammaln(k + 1.0)
  return _discrete.mask_log_prob(inside, z, value)


def cdf(params: Params, z: ArrayLike) -> jax.Array:
  r"""``P(Z <= z) = Q(floor(z) + 1, rate)`` (regularized upper incomplete gamma),
  0 below 0.

  >>> import irt_jax as irt
  >>> round(float(irt.poisson.cdf(irt.poisson.Params(3.0), 1.5)), 4)   # 4 e^-3
  0.1991
  """
  p, dtype = _prepare(params)
  z = jnp.asarray(z, dtype)
  k = jnp.floor(jnp.where(z >= 0, z, 0.0))
  return utils.mask_invalid(~jnp.isnan(z),
                            jnp.where(z >= 0, gammaincc(k + 1.0, p.rate), 0.0))


def mean(params: Params) -> jax.Array:
  """``rate``.

  >>> import irt_jax as irt
  >>> float(irt.poisson.mean(irt.poisson.Params(3.0)))
  3.0
  """
  p, _ = _prepare(params)
  return utils.mask_invalid(_valid(p), p.rate)


def variance(params: Params) -> jax.Array:
  """``rate``.

  >>> import irt_jax as irt
  >>> float(irt.poisson.variance(irt.poisson.Params(3.0)))
  3.0
  """
  return mean(params)


def go_velocity(params: Params, z: ArrayLike, params_dot: Params) -> jax.Array:
  r"""The GO rule ``G = -(dF/d rate)(z) / q(z)`` at integers ``z``, times
  ``params_dot`` (linear in it; :func:`irt_jax.estimators.go_gradient`).

  ``F(k) = Q(k + 1, rate)`` and ``dQ(k + 1, x)/dx = -x^k e^(-x)/k! = -q(k)``,
  so ``G = 1`` for every ``k``: the GO gradient of the rate is
  ``f(z + 1) - f(z)`` (Cong, Zhao, Bai & Carin, ICLR 2019).

  >>> import jax, irt_jax as irt
  >>> p = irt.poisson.Params(3.0)
  >>> irt.poisson.go_velocity(p, jax.numpy.array([0.0, 5.0]), irt.poisson.Params(2.0)).tolist()
  [2.0, 2.0]
  """
  p, dtype = _prepare(params)
  z = jnp.asarray(z, dtype)
  return jnp.broadcast_to(jnp.asarray(params_dot.rate, dtype) * jnp.ones_like(p.rate),
                          jnp.broadcast_shapes(z.shape, jnp.shape(p.rate)))


def weak_derivative(params: Params, key: jax.Array, fields, coupling: bool):
  r"""Weak derivative of Poisson(rate) in the rate (for measure-valued
  gradients; see :func:`irt_jax.normal.weak_derivative` for the format).

  .. math::  \partial_\lambda \frac{\lambda^k e^{-\lambda}}{k!}
             = \frac{\lambda^{k-1} e^{-\lambda}}{(k-1)!}
             - \frac{\lambda^k e^{-\lambda}}{k!} = q(k-1) - q(k)

  (``q(-1) = 0``): ``c = 1``, ``q+`` the law of ``z + 1``, ``q- = q``
  itself (``z_minus`` is ``None``: the common draw). Coupling: ``z+ = z + 1``
  with the common ``z`` (then the estimate ``f(z + 1) - f(z)`` is the GO
  gradient's); uncoupled: ``z+ = z' + 1``, ``z'`` an independent draw.

  >>> import jax, irt_jax as irt
  >>> z, parts = irt.poisson.weak_derivative(irt.poisson.Params(3.0),
  ...                                        jax.random.key(0), ("rate",), True)
  >>> c, plus, minus = parts["rate"]
  >>> float(c), bool(plus == z + 1), minus is None
  (1.0, True, True)
  """
  del fields  # the rate is the only one
  p, dtype = _prepare(params)
  k0, k1 = jax.random.split(key)
  z = jax.lax.stop_gradient(_draw(k0, p.rate, jnp.shape(p.rate), dtype))
  other = z if coupling else jax.lax.stop_gradient(_draw(k1, p.rate, z.shape, dtype))
  return z, {"rate": (jnp.ones_like(z), other + 1.0, None)}


validate, is_valid, support = _discrete.members(
    "poisson", _prepare, _valid, lambda p: (0.0, float("inf")),
    good="irt.poisson.Params(3.0)", bad="irt.poisson.Params(-1.0)",
    error="rate must be positive and finite, got -1.0",
    support="('interval', 0.0, inf)")

__test__ = {"validate": validate, "is_valid": is_valid, "support": support}
