r"""Bernoulli(probs | logits): a discrete family (no pathwise gradient; see
:mod:`irt_jax._src.discrete`).

``q(1) = p``, ``q(0) = 1 - p``; the probability given as ``probs`` or
``logits`` (exactly one, as NumPyro's ``Bernoulli``). Draws are 0.0 / 1.0.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from irt_jax._src import discrete as _discrete
from irt_jax._src import utils

event_ndims = 0
discrete = True
REPARAMETERIZED = False
WEAK_DERIVATIVE_FIELDS = ("probs", "logits")


class Params(NamedTuple):
  """Parameters of a Bernoulli distribution (a pytree; NumPyro's field names).

  Attributes:
    probs: ``p = P(z = 1)`` in ``[0, 1]``, or ``None``.
    logits: ``log(p / (1 - p))``, or ``None``. Exactly one is set.

  >>> import irt_jax as irt
  >>> irt.bernoulli.Params(logits=0.0)
  Params(probs=None, logits=0.0)
  """
  probs: ArrayLike | None = None
  logits: ArrayLike | None = None


def _prepare(params: Params, dtype=None) -> tuple[Params, jnp.dtype]:
  if not isinstance(params, Params):
    raise TypeError(f"params: expected irt_jax.bernoulli.Params, got "
                    f"{type(params).__name__}")
  dtype = _discrete.float_dtype(dtype, params.probs, params.logits)
  return Params(*_discrete.probs_or_logits("bernoulli", params.probs, params.logits,
                                           dtype)), dtype


def _valid(p: Params) -> jax.Array:
  return _discrete.valid_probs_or_logits(p.probs, p.logits)


def _field(p: Params):
  return p.probs if p.probs is not None else p.logits


def _draw(key, p: Params, shape, dtype):
  ok = _valid(p)
  u = jax.random.uniform(key, shape, dtype)
  return _discrete.to_float(u < _discrete.prob(p.probs, p.logits), ok, dtype)


def sample(key: ArrayLike, params: Params, shape=None, dtype=None, *,
           mode: str = "vjp") -> jax.Array:
  r"""Draws ``z = 1[U < p]``, ``U ~ Uniform(0, 1)``, as floats.

  No pathwise gradient: differentiating through the draws gives NaN (use the
  estimators: score function, measure-valued, GO).

  Args:
    key: a ``jax.random.key`` or legacy ``jax.random.PRNGKey``.
    params: :class:`Params`.
    shape: output shape; the parameters must broadcast to it.
    dtype: floating dtype of the draws; default: the parameters'.
    mode: accepted for the contract's signature (no rule to choose).

  Returns:
    Draws of 0.0 and 1.0; NaN where traced parameters are invalid.

  >>> import jax, irt_jax as irt
  >>> z = irt.bernoulli.sample(jax.random.key(0), irt.bernoulli.Params(probs=0.3), (4000,))
  >>> bool(abs(z.mean() - 0.3) < 0.03)
  True
  """
  del mode
  key = utils.check_key(key)
  p, dtype = _prepare(params, dtype)
  shape = utils.resolve_shape(shape, jnp.shape(_field(p)))
  return _discrete.no_pathwise(_draw(key, p, shape, dtype), p)


def log_prob(params: Params, z: ArrayLike) -> jax.Array:
  r"""``log p`` at 1, ``log(1 - p)`` at 0 (``-softplus(-+logits)``), ``-inf``
  elsewhere.

  >>> import irt_jax as irt
  >>> round(float(irt.bernoulli.log_prob(irt.bernoulli.Params(logits=0.0), 1.0)), 4)
  -0.6931
  """
  p, dtype = _prepare(params)
  z = jnp.asarray(z, dtype)
  log_p, log_q = _discrete.binary_logs(p.probs, p.logits)
  one, zero = z == 1, z == 0
  # where-safe: the branch not taken never sees log 0 in its derivative.
  value = jnp.where(one, jnp.where(one, log_p, 0.0), jnp.where(zero, log_q, 0.0))
  return _discrete.mask_log_prob(one | zero, z, value)


def cdf(params: Params, z: ArrayLike) -> jax.Array:
  """``0`` below 0, ``1 - p`` on ``[0, 1)``, ``1`` from 1.

  >>> import irt_jax as irt
  >>> float(irt.bernoulli.cdf(irt.bernoulli.Params(probs=0.25), 0.0))
  0.75
  """
  p, dtype = _prepare(params)
  z = jnp.asarray(z, dtype)
  prob = _discrete.prob(p.probs, p.logits)
  out = jnp.where(z < 0, 0.0, jnp.where(z < 1, 1.0 - prob, 1.0))
  return utils.mask_invalid(~jnp.isnan(z), out)


def mean(params: Params) -> jax.Array:
  """``p``.

  >>> import irt_jax as irt
  >>> float(irt.bernoulli.mean(irt.bernoulli.Params(probs=0.25)))
  0.25
  """
  p, _ = _prepare(params)
  return utils.mask_invalid(_valid(p), _discrete.prob(p.probs, p.logits))


def variance(params: Params) -> jax.Array:
  """``p (1 - p)``.

  >>> import irt_jax as irt
  >>> float(irt.bernoulli.variance(irt.bernoulli.Params(probs=0.25)))
  0.1875
  """
  m = mean(params)
  return m * (1.0 - m)


def go_velocity(params: Params, z: ArrayLike, params_dot: Params) -> jax.Array:
  r"""The GO rule ``G = -(dF/dphi)(z) / q(z)`` at ``z`` in ``{0, 1}``, times
  ``params_dot`` (:func:`irt_jax.estimators.go_gradient`).

  ``F(0) = 1 - p``, ``F(1) = 1``: ``G_p = (1 - z)/(1 - p)``, ``G_logits =
  p (1 - z)`` (the binomial's rule with ``n = 1``). The GO estimate
  ``G (f(z+1) - f(z))`` has mean ``f(1) - f(0)``; the measure-valued one is
  that exactly, so prefer :func:`weak_derivative` for a Bernoulli.

  >>> import jax, irt_jax as irt
  >>> p, t = irt.bernoulli.Params(probs=0.2), irt.bernoulli.Params(probs=1.0)
  >>> irt.bernoulli.go_velocity(p, jax.numpy.array([0.0, 1.0]), t).tolist()
  [1.25, 0.0]
  """
  p, dtype = _prepare(params)
  z = jnp.asarray(z, dtype)
  rest = jnp.maximum(1.0 - z, 0.0)
  prob = _discrete.prob(p.probs, p.logits)
  if p.logits is not None:
    return rest * prob * jnp.asarray(params_dot.logits, dtype)
  top = rest == 0
  return jnp.where(top, 0.0, rest / jnp.where(top, 1.0, 1.0 - prob)) * jnp.asarray(
      params_dot.probs, dtype)


def weak_derivative(params: Params, key: jax.Array, fields, coupling: bool):
  r"""Weak derivative of Bernoulli(p) (for measure-valued gradients; see
  :func:`irt_jax.normal.weak_derivative` for the format).

  ``q(z) = p^z (1 - p)^(1 - z)``: ``dq/dp = delta_1(z) - delta_0(z)``, so
  ``c = 1``, ``q+ = delta_1``, ``q- = delta_0`` (both arms are constants, so
  coupling changes nothing) and the estimate is ``f(1) - f(0)`` exactly, with
  no variance for one coordinate. For the logits ``c = p (1 - p)``.

  >>> import jax, irt_jax as irt
  >>> z, parts = irt.bernoulli.weak_derivative(irt.bernoulli.Params(probs=0.3),
  ...                                          jax.random.key(0), ("probs",), True)
  >>> c, plus, minus = parts["probs"]
  >>> float(c), float(plus), float(minus)
  (1.0, 1.0, 0.0)
  """
  del fields, coupling
  p, dtype = _prepare(params)
  shape = jnp.shape(_field(p))
  z = jax.lax.stop_gradient(_draw(key, p, shape, dtype))
  prob = _discrete.prob(p.probs, p.logits)
  c = jnp.ones(shape, dtype) if p.logits is None else prob * (1.0 - prob)
  name = "logits" if p.logits is not None else "probs"
  return z, {name: (c, jnp.ones(shape, dtype), jnp.zeros(shape, dtype))}


validate, is_valid, support = _discrete.members(
    "bernoulli", _prepare, _valid, lambda p: (0.0, 1.0),
    good="irt.bernoulli.Params(probs=0.3)", bad="irt.bernoulli.Params(probs=1.5)",
    error="probs must be in [0, 1], got [1.5]",
    support="('interval', 0.0, 1.0)")

__test__ = {"validate": validate, "is_valid": is_valid, "support": support}
