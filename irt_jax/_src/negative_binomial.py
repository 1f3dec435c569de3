r"""NegativeBinomial(total_count, probs | logits): a discrete family (no
pathwise gradient; see :mod:`irt_jax._src.discrete`).

NumPyro's and TFP's convention: the number of successes (probability ``p``)
before ``r = total_count`` failures,

.. math::  q(k) = \frac{\Gamma(k + r)}{k!\,\Gamma(r)}\, p^k (1 - p)^r,
           \qquad E[z] = \frac{r p}{1 - p}, \quad \mathrm{Var}[z] = \frac{r p}{(1-p)^2},

on ``k = 0, 1, ...``; ``total_count`` is any real ``r > 0`` and
differentiable. Draws are the gamma-Poisson mixture ``z ~ Poisson(lambda)``,
``lambda ~ Gamma(r, rate = (1 - p)/p)`` (:func:`jax.random.gamma`,
:func:`jax.random.poisson`), stored as floats.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import betainc, gammaln
from jax.typing import ArrayLike

from irt_jax._src import beta as _beta
from irt_jax._src import discrete as _discrete
from irt_jax._src import utils

event_ndims = 0
discrete = True
REPARAMETERIZED = False


class Params(NamedTuple):
  """Parameters of a negative binomial distribution (a pytree; NumPyro's names).

  Attributes:
    total_count: ``r > 0`` (real), the number of failures.
    probs: success probability in ``[0, 1)``, or ``None``.
    logits: ``log(p / (1 - p))``, or ``None``. Exactly one is set.

  >>> import irt_jax as irt
  >>> irt.negative_binomial.Params(2.0, logits=0.0)
  Params(total_count=2.0, probs=None, logits=0.0)
  """
  total_count: ArrayLike
  probs: ArrayLike | None = None
  logits: ArrayLike | None = None


def _prepare(params: Params, dtype=None) -> tuple[Params, jnp.dtype]:
  if not isinstance(params, Params):
    raise TypeError(f"params: expected irt_jax.negative_binomial.Params, got "
                    f"{type(params).__name__}")
  dtype = _discrete.float_dtype(dtype, params.total_count, params.probs, params.logits)
  r = utils.as_float("total_count", params.total_count, dtype)
  utils.check_positive("total_count", r)
  probs, logits = _discrete.probs_or_logits("negative_binomial", params.probs,
                                            params.logits, dtype)
  v = utils.concrete_value(probs) if probs is not None else None
  if v is not None and (v == 1).any():
    raise ValueError("probs must be < 1 (p = 1 has no finite draws), got 1.0")
  p = Params(r, probs, logits)
  utils.broadcast_batch_shape(**{k: v for k, v in p._asdict().items() if v is not None})
  return p, dtype


def _valid(p: Params) -> jax.Array:
  r = p.total_count
  ok = jnp.isfinite(r) & (r > 0) & _discrete.valid_probs_or_logits(p.probs, p.logits)
  return ok & (p.probs < 1) if p.probs is not None else ok


def _batch_shape(p: Params):
  return jnp.broadcast_shapes(*[jnp.shape(v) for v in p if v is not None])


def _log_odds_parts(p: Params):
  """``(log p, log(1 - p))``."""
  return _discrete.binary_logs(p.probs, p.logits)


def _draw(key, p: Params, shape, dtype):
  ok = _valid(p)
  r = jnp.where(ok, p.total_count, 1.0)
  log_p, log_q = _log_odds_parts(p)
  log_odds = jnp.where(ok, log_p - log_q, 0.0)
  k1, k2 = jax.random.split(key)
  lam = jax.random.gamma(k1, jnp.broadcast_to(r, shape), shape, dtype) * jnp.exp(log_odds)
  k = jax.random.poisson(k2, lam, shape,
                         jnp.int64 if jnp.dtype(dtype).itemsize == 8 else jnp.int32)
  return _discrete.to_float(k, ok, dtype)


def sample(key: ArrayLike, params: Params, shape=None, dtype=None, *,
           mode: str = "vjp") -> jax.Array:
  r"""Draws by the gamma-Poisson mixture, as floats.

  No pathwise gradient: differentiating through the draws gives NaN (use the
  estimators: score function, GO).

  Args:
    key: a ``jax.random.key`` or legacy ``jax.random.PRNGKey``.
    params: :class:`Params`.
    shape: output shape; the parameters must broadcast to it.
    dtype: floating dtype of the draws; default: the parameters'.
    mode: accepted for the contract's signature (no rule to choose).

  Returns:
    Integer-valued draws; NaN where traced parameters are invalid.

  >>> import jax, irt_jax as irt
  >>> p = irt.negative_binomial.Params(3.0, probs=0.4)
  >>> z = irt.negative_binomial.sample(jax.random.key(0), p, (4000,))
  >>> bool(abs(z.mean() - 2.0) < 0.15)     # r p / (1 - p)
  True
  """
  del mode
  key = utils.check_key(key)
  p, dtype = _prepare(params, dtype)
  shape = utils.resolve_shape(shape, _batch_shape(p))
  return _discrete.no_pathwise(_draw(key, p, shape, dtype), p)


def log_prob(params: Params, z: ArrayLike) -> jax.Array:
  r"""``lgamma(k + r) - lgamma(k + 1) - lgamma(r) + k log p + r log(1 - p)``
  at integers ``k >= 0``, ``-inf`` elsewhere.

  >>> import irt_jax as irt
  >>> p = irt.negative_binomial.Params(2.0, probs=0.5)
  >>> round(float(irt.negative_binomial.log_prob(p, 1.0)), 4)    # log(2 / 8)
  -1.3863
  """
  p, dtype = _prepare(params)
  z, integer = _discrete.on_integers(z, dtype)
  inside = integer & (z >= 0)
  k = jnp.where(inside, z, 0.0)
  r = p.total_count
  log_p, log_q = _log_odds_parts(p)
  value = (gammaln(k + r) - gammaln(k + 1.0) - gammaln(r)
           + _discrete.xlogy(k, log_p) + r * log_q)
  return _discrete.mask_log_prob(inside, z, value)


def cdf(params: Params, z: ArrayLike) -> jax.Array:
  r"""``P(Z <= z) = I_{1-p}(r, k + 1)``, ``k = floor(z)``; 0 below 0.

  >>> import irt_jax as irt
  >>> p = irt.negative_binomial.Params(2.0, probs=0.5)
  >>> round(float(irt.negative_binomial.cdf(p, 1.0)), 4)        # 1/4 + 2/8
  0.5
  """
  p, dtype = _prepare(params)
  z = jnp.asarray(z, dtype)
  k = jnp.floor(jnp.where(z >= 0, z, 0.0))
  one_minus_p = jnp.exp(_log_odds_parts(p)[1])
  out = jnp.where(z >= 0, betainc(p.total_count, k + 1.0, one_minus_p), 0.0)
  return utils.mask_invalid(~jnp.isnan(z), out)


def mean(params: Params) -> jax.Array:
  """``r p / (1 - p)`` (``r exp(logits)``).

  >>> import irt_jax as irt
  >>> float(irt.negative_binomial.mean(irt.negative_binomial.Params(3.0, probs=0.4)))
  2.0
  """
  p, _ = _prepare(params)
  log_p, log_q = _log_odds_parts(p)
  return utils.mask_invalid(_valid(p), p.total_count * jnp.exp(log_p - log_q))


def variance(params: Params) -> jax.Array:
  """``r p / (1 - p)^2``.

  >>> import irt_jax as irt
  >>> round(float(irt.negative_binomial.variance(irt.negative_binomial.Params(3.0, probs=0.4))), 4)
  3.3333
  """
  p, _ = _prepare(params)
  log_p, log_q = _log_odds_parts(p)
  return utils.mask_invalid(_valid(p), p.total_count * jnp.exp(log_p - 2.0 * log_q))


def go_velocity(params: Params, z: ArrayLike, params_dot: Params) -> jax.Array:
  r"""The GO rule ``G = -(dF/dphi)(z) / q(z)`` at integers ``z``, times
  ``params_dot`` (linear in it; :func:`irt_jax.estimators.go_gradient`).

  ``F(k) = I_x(r, k + 1)`` at ``x = 1 - p``, with the beta density
  ``beta(x; r, k+1) = x^(r-1) p^k / B(r, k+1)`` and ``q(k) = p^k x^r /
  ((r + k) B(r, k+1))`` (since ``Gamma(k+r)/(k! Gamma(r)) = 1/((r+k) B(r,
  k+1))``), so ``beta(x)/q(k) = (r + k)/(1 - p)`` and

  .. math::  G_p = \frac{r + k}{1 - p}, \qquad G_{logits} = p\,(r + k), \qquad
             G_r = v_a(x; r, k+1)\,\frac{r + k}{1 - p},

  where ``v_a = -(dI_x(a, b)/da)/beta(x; a, b)`` is the beta family's
  implicit rule in its first concentration (:func:`irt_jax.beta.velocity`,
  the contract's ``velocity`` hook): no derivative of the incomplete beta is
  formed here.

  >>> import jax, irt_jax as irt
  >>> p = irt.negative_binomial.Params(2.0, probs=0.5)
  >>> t = irt.negative_binomial.Params(0.0, probs=1.0)
  >>> irt.negative_binomial.go_velocity(p, jax.numpy.array([0.0, 3.0]), t).tolist()
  [4.0, 10.0]
  """
  p, dtype = _prepare(params)
  z = jnp.asarray(z, dtype)
  r = p.total_count
  log_p, log_q = _log_odds_parts(p)
  ratio = (r + z) * jnp.exp(-log_q)                 # (r + k)/(1 - p)
  shape = jnp.broadcast_shapes(z.shape, _batch_shape(p))
  x = jnp.broadcast_to(jnp.exp(log_q), shape)
  a = jnp.broadcast_to(r, shape)
  v_a = _beta.velocity(_beta.Params(a, jnp.broadcast_to(z + 1.0, shape)), x,
                       _beta.Params(jnp.ones(shape, dtype), jnp.zeros(shape, dtype)))
  out = v_a * ratio * jnp.asarray(params_dot.total_count, dtype)
  if p.logits is not None:
    return out + (r + z) * jnp.exp(log_p) * jnp.asarray(params_dot.logits, dtype)
  return out + ratio * jnp.asarray(params_dot.probs, dtype)


validate, is_valid, support = _discrete.members(
    "negative_binomial", _prepare, _valid, lambda p: (0.0, float("inf")),
    good="irt.negative_binomial.Params(3.0, probs=0.4)",
    bad="irt.negative_binomial.Params(0.0, probs=0.4)",
    error="total_count must be positive and finite, got 0.0",
    support="('interval', 0.0, inf)")

__test__ = {"validate": validate, "is_valid": is_valid, "support": support}
