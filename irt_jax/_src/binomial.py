r"""Binomial(total_count, probs | logits): a discrete family (no pathwise
gradient; see :mod:`irt_jax._src.discrete`).

``q(k) = C(n, k) p^k (1 - p)^(n - k)`` on ``k = 0..n``; draws by
:func:`jax.random.binomial`, stored as floats. ``total_count`` ``n`` is a
count: the family holds it fixed (``log_prob`` stops its gradient, so every
estimator returns 0 for it; there is no derivative of ``E[f(z)]`` in an
integer). The probability is differentiable through ``probs`` or
``logits`` (exactly one is set, as NumPyro's ``Binomial``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betainc, gammaln
from jax.typing import ArrayLike

from irt_jax._src import discrete as _discrete
from irt_jax._src import utils

event_ndims = 0
discrete = True
REPARAMETERIZED = False
WEAK_DERIVATIVE_FIELDS = ("probs", "logits")


class Params(NamedTuple):
  """Parameters of a binomial distribution (a pytree; NumPyro's field names).

  Attributes:
    total_count: number of trials ``n``, a non-negative integer (as a float
      or int array). Not differentiated.
    probs: success probability in ``[0, 1]``, or ``None``.
    logits: ``log(p / (1 - p))``, or ``None``. Exactly one of ``probs`` and
      ``logits`` is set.

  >>> import irt_jax as irt
  >>> irt.binomial.Params(10, logits=0.5)
  Params(total_count=10, probs=None, logits=0.5)
  """
  total_count: ArrayLike = 1
  probs: ArrayLike | None = None
  logits: ArrayLike | None = None


def _prepare(params: Params, dtype=None) -> tuple[Params, jnp.dtype]:
  if not isinstance(params, Params):
    raise TypeError(f"params: expected irt_jax.binomial.Params, got "
                    f"{type(params).__name__}")
  dtype = _discrete.float_dtype(dtype, params.probs, params.logits)
  n = utils.as_float("total_count", params.total_count, dtype)
  v = utils.concrete_value(n)
  ok = None if v is None else (v >= 0) & (v == np.floor(v))
  if ok is not None and not ok.all():
    bad = v[~ok]
    raise ValueError(f"total_count must be a non-negative integer, got "
                     f"{bad.reshape(-1)[:3].tolist()}")
  probs, logits = _discrete.probs_or_logits("binomial", params.probs, params.logits,
                                            dtype)
  p = Params(n, probs, logits)
  utils.broadcast_batch_shape(**{k: v for k, v in p._asdict().items() if v is not None})
  return p, dtype


def _valid(p: Params) -> jax.Array:
  n = p.total_count
  return (jnp.isfinite(n) & (n >= 0) & (n == jnp.floor(n))
          & _discrete.valid_probs_or_logits(p.probs, p.logits))


def _batch_shape(p: Params):
  return jnp.broadcast_shapes(*[jnp.shape(v) for v in p if v is not None])


def _draw(key, p: Params, shape, dtype):
  ok = _valid(p)
  n = jnp.where(ok, p.total_count, 0.0)
  prob = jnp.where(ok, _discrete.prob(p.probs, p.logits), 0.5)
  k = jax.random.binomial(key, n, prob, shape, dtype)
  return _discrete.to_float(k, ok, dtype)


def sample(key: ArrayLike, params: Params, shape=None, dtype=None, *,
           mode: str = "vjp") -> jax.Array:
  r"""Draws from Binomial(n, p) (:func:`jax.random.binomial`), as floats.

  No pathwise gradient: differentiating through the draws gives NaN (use the
  estimators: score function, measure-valued, GO).

  Args:
    key: a ``jax.random.key`` or legacy ``jax.random.PRNGKey``.
    params: :class:`Params`.
    shape: output shape; the parameters must broadcast to it.
    dtype: floating dtype of the draws; default: the parameters'.
    mode: accepted for the contract's signature (no rule to choose).

  Returns:
    Integer-valued draws in ``[0, n]``; NaN where traced parameters are invalid.

  >>> import jax, irt_jax as irt
  >>> z = irt.binomial.sample(jax.random.key(0), irt.binomial.Params(5, probs=0.3), (1000,))
  >>> bool((z >= 0).all() & (z <= 5).all()), bool(abs(z.mean() - 1.5) < 0.15)
  (True, True)
  """
  del mode
  key = utils.check_key(key)
  p, dtype = _prepare(params, dtype)
  shape = utils.resolve_shape(shape, _batch_shape(p))
  return _discrete.no_pathwise(_draw(key, p, shape, dtype), p)


def log_prob(params: Params, z: ArrayLike) -> jax.Array:
  r"""``log C(n, k) + k log p + (n - k) log(1 - p)`` at integers ``0 <= k <=
  n``, ``-inf`` elsewhere; ``log p``, ``log(1 - p)`` from the logits without
  rounding. ``n`` is held fixed (no gradient).

  >>> import irt_jax as irt
  >>> round(float(irt.binomial.log_prob(irt.binomial.Params(4, probs=0.5), 2.0)), 4)  # log 6/16
  -0.9808
  """
  p, dtype = _prepare(params)
  z, integer = _discrete.on_integers(z, dtype)
  n = jax.lax.stop_gradient(p.total_count)
  inside = integer & (z >= 0) & (z <= n)
  k = jnp.where(inside, z, 0.0)
  m = jnp.where(inside, n - k, 0.0)
  log_p, log_q = _discrete.binary_logs(p.probs, p.logits)
  value = (gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(m + 1.0)
           + _discrete.xlogy(k, log_p) + _discrete.xlogy(m, log_q))
  return _discrete.mask_log_prob(inside, z, value)


def cdf(params: Params, z: ArrayLike) -> jax.Array:
  r"""``P(Z <= z) = I_{1-p}(n - k, k + 1)``, ``k = floor(z)`` (regularized
  incomplete beta; 1 for ``k >= n``, 0 below 0).

  >>> import irt_jax as irt
  >>> round(float(irt.binomial.cdf(irt.binomial.Params(4, probs=0.5), 1.0)), 4)   # 5/16
  0.3125
  """
  p, dtype = _prepare(params)
  z = jnp.asarray(z, dtype)
  n = p.total_count
  k = jnp.floor(z)
  mid = (k >= 0) & (k < n)
  prob = _discrete.prob(p.probs, p.logits)
  value = betainc(jnp.where(mid, n - k, 1.0), jnp.where(mid, k + 1.0, 1.0), 1.0 - prob)
  out = jnp.where(k < 0, 0.0, jnp.where(k >= n, 1.0, value))
  return utils.mask_invalid(~jnp.isnan(z), out)


def mean(params: Params) -> jax.Array:
  """``n p``.

  >>> import irt_jax as irt
  >>> float(irt.binomial.mean(irt.binomial.Params(4, probs=0.25)))
  1.0
  """
  p, _ = _prepare(params)
  return utils.mask_invalid(_valid(p), p.total_count * _discrete.prob(p.probs, p.logits))


def variance(params: Params) -> jax.Array:
  """``n p (1 - p)``.

  >>> import irt_jax as irt
  >>> float(irt.binomial.variance(irt.binomial.Params(4, probs=0.25)))
  0.75
  """
  p, _ = _prepare(params)
  prob = _discrete.prob(p.probs, p.logits)
  return utils.mask_invalid(_valid(p), p.total_count * prob * (1.0 - prob))


def go_velocity(params: Params, z: ArrayLike, params_dot: Params) -> jax.Array:
  r"""The GO rule ``G = -(dF/dphi)(z) / q(z)`` at integers ``z``, times
  ``params_dot`` (:func:`irt_jax.estimators.go_gradient`).

  With ``F(k) = I_{1-p}(n-k, k+1)``, ``dF/dp = -(1-p)^(n-k-1) p^k /
  B(n-k, k+1)`` and ``1/B(n-k, k+1) = (n-k) C(n, k)``, so

  .. math::  G_p = \frac{n - k}{1 - p}, \qquad
             G_{logits} = G_p \frac{dp}{dlogits} = p\,(n - k)

  (0 at ``k = n``, where ``F = 1``); ``total_count``'s component is 0.

  >>> import jax, irt_jax as irt
  >>> p, t = irt.binomial.Params(4, probs=0.2), irt.binomial.Params(0.0, probs=1.0)
  >>> irt.binomial.go_velocity(p, jax.numpy.array([1.0, 4.0]), t).tolist()   # 3/0.8, 0
  [3.75, 0.0]
  """
  p, dtype = _prepare(params)
  z = jnp.asarray(z, dtype)
  rest = jnp.maximum(p.total_count - z, 0.0)
  prob = _discrete.prob(p.probs, p.logits)
  if p.logits is not None:
    return rest * prob * jnp.asarray(params_dot.logits, dtype)
  top = rest == 0
  return jnp.where(top, 0.0, rest / jnp.where(top, 1.0, 1.0 - prob)) * jnp.asarray(
      params_dot.probs, dtype)


def weak_derivative(params: Params, key: jax.Array, fields, coupling: bool):
  r"""Weak derivative of Binomial(n, p) in ``probs`` or ``logits`` (for
  measure-valued gradients; see :func:`irt_jax.normal.weak_derivative`).

  With ``b_n(k) = C(n, k) p^k (1-p)^(n-k)``, ``k C(n, k) = n C(n-1, k-1)``
  and ``(n - k) C(n, k) = n C(n-1, k)``:

  .. math::  \partial_p b_n(k) = n\,\big(b_{n-1}(k-1) - b_{n-1}(k)\big),

  so ``c = n``, ``q+`` the law of ``1 + Y``, ``q-`` that of ``Y``, ``Y ~
  Binomial(n-1, p)``; for the logits ``c = n p (1 - p)`` (chain rule). The
  common draw is ``z = Y + B``, ``B ~ Bernoulli(p)``. Coupling: ``z+ = Y +
  1``, ``z- = Y`` (one ``Y``: the estimate is ``c (f(Y+1) - f(Y))``);
  uncoupled: ``z+ = Y' + 1`` with an independent ``Y'``.

  >>> import jax, irt_jax as irt
  >>> z, parts = irt.binomial.weak_derivative(irt.binomial.Params(3, probs=0.4),
  ...                                         jax.random.key(0), ("probs",), True)
  >>> c, plus, minus = parts["probs"]
  >>> float(c), bool(plus == minus + 1), bool((z == plus) | (z == minus))
  (3.0, True, True)
  """
  del fields  # the probability is the only one, in whichever field is set
  p, dtype = _prepare(params)
  k0, k1, k2 = jax.random.split(key, 3)
  shape = _batch_shape(p)
  prob = _discrete.prob(p.probs, p.logits)
  n = jnp.broadcast_to(p.total_count, shape)
  fewer = Params(jnp.maximum(n - 1.0, 0.0), p.probs, p.logits)
  y = jax.lax.stop_gradient(_draw(k0, fewer, shape, dtype))
  b = jax.random.bernoulli(k1, jnp.broadcast_to(prob, shape)).astype(dtype)
  z = jnp.where(n > 0, y + b, 0.0)
  y_plus = y if coupling else jax.lax.stop_gradient(_draw(k2, fewer, shape, dtype))
  c = n if p.logits is None else n * prob * (1.0 - prob)
  name = "logits" if p.logits is not None else "probs"
  return z, {name: (jnp.broadcast_to(c, shape), y_plus + 1.0, y)}


validate, is_valid, support = _discrete.members(
    "binomial", _prepare, _valid, lambda p: (0.0, p.total_count),
    good="irt.binomial.Params(4, probs=0.5)", bad="irt.binomial.Params(2.5, probs=0.5)",
    error="total_count must be a non-negative integer, got [2.5]",
    support="('interval', 0.0, 4.0)")

__test__ = {"validate": validate, "is_valid": is_valid, "support": support}
