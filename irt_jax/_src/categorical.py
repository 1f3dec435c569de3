r"""Categorical(probs | logits): a discrete family over ``{0, ..., K-1}`` (no
pathwise gradient; see :mod:`irt_jax._src.discrete`).

The categories are the last axis of ``probs`` / ``logits`` (NumPyro's
names; ``probs`` need not be normalized: ``q(k) = probs_k / sum probs``);
one draw is a scalar index, so ``event_ndims = 0`` and the batch shape is
the parameters' shape without its last axis. Gradients: the score function
(``d log q(k)/d logits_j = 1[j = k] - q(j)``) with its baselines. There is
no closed-form mean or variance of an index worth a Taylor expansion (the
delta control variate refuses the family), no measure-valued form over the
batch coordinates and no GO rule (the categories have no order).
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


class Params(NamedTuple):
  """Parameters of a categorical distribution (a pytree; NumPyro's names).

  Attributes:
    probs: ``[..., K]`` non-negative weights (normalized by their sum), or ``None``.
    logits: ``[..., K]`` unnormalized log-probabilities (``-inf``: never
      drawn), or ``None``. Exactly one is set.

  >>> import irt_jax as irt
  >>> irt.categorical.Params(logits=[0.0, 1.0, 2.0]).logits
  [0.0, 1.0, 2.0]
  """
  probs: ArrayLike | None = None
  logits: ArrayLike | None = None


def _prepare(params: Params, dtype=None) -> tuple[Params, jnp.dtype]:
  if not isinstance(params, Params):
    raise TypeError(f"params: expected irt_jax.categorical.Params, got "
                    f"{type(params).__name__}")
  dtype = _discrete.float_dtype(dtype, params.probs, params.logits)
  return Params(*_discrete.probs_or_logits("categorical", params.probs, params.logits,
                                           dtype, event=True)), dtype


def _valid(p: Params) -> jax.Array:
  if p.probs is not None:
    w = p.probs
    return jnp.all((w >= 0) & jnp.isfinite(w), -1) & (jnp.sum(w, -1) > 0)
  l = p.logits
  return jnp.all((l < jnp.inf) & ~jnp.isnan(l), -1) & jnp.any(l > -jnp.inf, -1)


def _log_probs(p: Params) -> jax.Array:
  """Normalized log-probabilities ``[..., K]``."""
  if p.logits is not None:
    return jax.nn.log_softmax(p.logits, axis=-1)
  return jnp.log(p.probs) - jnp.log(jnp.sum(p.probs, -1, keepdims=True))


def _field(p: Params):
  return p.probs if p.probs is not None else p.logits


def _draw(key, p: Params, shape, dtype):
  ok = _valid(p)
  logits = jnp.where(ok[..., None], _log_probs(p), 0.0)
  k = jax.random.categorical(key, logits, axis=-1, shape=shape)
  return _discrete.to_float(k, ok, dtype)


def sample(key: ArrayLike, params: Params, shape=None, dtype=None, *,
           mode: str = "vjp") -> jax.Array:
  r"""Draws indices (:func:`jax.random.categorical`), as floats.

  No pathwise gradient: differentiating through the draws gives NaN (use
  :func:`irt_jax.estimators.score_function`).

  Args:
    key: a ``jax.random.key`` or legacy ``jax.random.PRNGKey``.
    params: :class:`Params` (categories on the last axis).
    shape: output batch shape; the parameters' batch shape must broadcast to it.
    dtype: floating dtype of the draws; default: the parameters'.
    mode: accepted for the contract's signature (no rule to choose).

  Returns:
    Indices in ``[0, K-1]`` of shape ``shape``; NaN where traced parameters
    are invalid.

  >>> import jax, irt_jax as irt
  >>> z = irt.categorical.sample(jax.random.key(0), irt.categorical.Params(probs=[0.0, 1.0]), (3,))
  >>> z.tolist()
  [1.0, 1.0, 1.0]
  """
  del mode
  key = utils.check_key(key)
  p, dtype = _prepare(params, dtype)
  shape = utils.resolve_shape(shape, jnp.shape(_field(p))[:-1])
  return _discrete.no_pathwise(_draw(key, p, shape, dtype), p)


def log_prob(params: Params, z: ArrayLike) -> jax.Array:
  r"""``log q(k) = logits_k - logsumexp(logits)`` (or ``log(probs_k / sum
  probs)``) at integers ``0 <= k < K``; ``-inf`` elsewhere.

  >>> import irt_jax as irt
  >>> round(float(irt.categorical.log_prob(irt.categorical.Params(probs=[1.0, 3.0]), 1.0)), 4)
  -0.2877
  """
  p, dtype = _prepare(params)
  z, integer = _discrete.on_integers(z, dtype)
  log_q = _log_probs(p)
  num = log_q.shape[-1]
  inside = integer & (z >= 0) & (z < num)
  k = jnp.where(inside, z, 0.0).astype(jnp.int32)
  shape = jnp.broadcast_shapes(k.shape, log_q.shape[:-1])
  table = jnp.broadcast_to(log_q, shape + (num,))
  value = jnp.take_along_axis(table, jnp.broadcast_to(k, shape)[..., None], -1)[..., 0]
  return _discrete.mask_log_prob(inside, z, value)


validate, is_valid, support = _discrete.members(
    "categorical", _prepare, _valid, lambda p: (0.0, float(jnp.shape(_field(p))[-1] - 1)),
    good="irt.categorical.Params(logits=[0.0, 1.0, 2.0])",
    bad="irt.categorical.Params(probs=[0.5, -0.5])",
    error="probs must be non-negative and finite, got [-0.5]",
    support="('interval', 0.0, 2.0)")

__test__ = {"validate": validate, "is_valid": is_valid, "support": support}
