r"""Shared scaffolding of the discrete families (Bernoulli, categorical,
Poisson, binomial, negative binomial).

Discrete families meet the family contract (:mod:`irt_jax._src.family`) with
``discrete = True`` and ``REPARAMETERIZED = False``:

* Draws are integers stored in a floating dtype (the parameters', as every
  family's ``sample``), so ``f(z)`` composes with continuous code and the
  estimators' finite differences ``f(z + 1) - f(z)`` need no casts; float32
  holds every integer up to ``2^24`` exactly. ``z.astype(int)`` indexes.
* A discrete draw has no pathwise derivative. Differentiating *through* a
  draw (``jax.grad(lambda p: f(sample(key, p)))``) gives NaN, never a
  plausible zero; :func:`irt_jax.estimators.pathwise` raises a ``ValueError``
  for a discrete family. Use :func:`irt_jax.estimators.score_function`,
  :func:`~irt_jax.estimators.measure_valued` or
  :func:`~irt_jax.estimators.go_gradient`. A draw that is only *data*
  (``stop_gradient`` of it, or a draw from stopped parameters) is fine.
* Probabilities are given as ``probs`` or ``logits`` (NumPyro's names):
  ``Params`` has both fields, exactly one of them is set and the other is
  ``None`` (an empty pytree node), so gradients come back in the field the
  caller used and the other stays ``None``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from irt_jax._src import family as _family
from irt_jax._src import utils


def float_dtype(dtype: Any, *values: Any):
  """:func:`irt_jax._src.utils.float_dtype` over the fields that are set."""
  return utils.float_dtype(dtype, *[v for v in values if v is not None])


def probs_or_logits(name: str, probs: Any, logits: Any, dtype: Any,
                    event: bool = False) -> tuple[Any, Any]:
  """``(probs, logits)`` as floating arrays, exactly one of them not ``None``.

  ``probs`` must lie in ``[0, 1]`` (for ``event=True``, a categorical: be
  non-negative with a positive sum over the last axis); ``logits`` must be
  finite (categorical: ``-inf`` allowed, a category that is never drawn).
  """
  check_one_of(name, probs, logits)
  if probs is not None:
    probs = utils.as_float("probs", probs, dtype)
    v = utils.concrete_value(probs)
    if v is not None:
      bad = ~((v >= 0) & (v <= 1)) if not event else ~((v >= 0) & np.isfinite(v))
      if bad.any():
        need = "in [0, 1]" if not event else "non-negative and finite"
        raise ValueError(f"probs must be {need}, got {v[bad].reshape(-1)[:3].tolist()}")
      if event and (v.ndim == 0 or not (v.sum(-1) > 0).all()):
        raise ValueError("probs: expected a last axis of categories with a positive "
                         f"sum, got shape {v.shape}")
    return probs, None
  logits = utils.as_float("logits", logits, dtype)
  if event:
    v = utils.concrete_value(logits)
    if v is not None and (v.ndim == 0 or (v == np.inf).any() or np.isnan(v).any()
                          or not (v > -np.inf).any(-1).all()):
      raise ValueError("logits must be < inf, not NaN, with a last axis of "
                       f"categories not all -inf, got {v.reshape(-1)[:3].tolist()} "
                       f"(shape {v.shape})")
  else:
    utils.check_finite("logits", logits)
  return None, logits


def check_one_of(name: str, probs: Any, logits: Any) -> None:
  """A ``ValueError`` naming the fields unless exactly one of ``probs`` and
  ``logits`` is set (a question of structure: static, also under ``jit``)."""
  if (probs is None) == (logits is None):
    got = "both" if probs is not None else "neither"
    raise ValueError(f"params: {name} takes exactly one of probs and logits "
                     f"(as NumPyro), got {got}")


def valid_probs_or_logits(probs: Any, logits: Any) -> jax.Array:
  """Traced validity of a binary probability given either way."""
  if probs is not None:
    return (probs >= 0) & (probs <= 1)
  return jnp.isfinite(logits)


def binary_logs(probs: Any, logits: Any) -> tuple[jax.Array, jax.Array]:
  """``(log p, log(1 - p))``, differentiable in the field given; from logits
  ``-softplus(-l)`` and ``-softplus(l)`` (no rounding of ``p`` to 0 or 1)."""
  if logits is not None:
    return -jax.nn.softplus(-logits), -jax.nn.softplus(logits)
  return jnp.log(probs), jnp.log1p(-probs)


def prob(probs: Any, logits: Any) -> jax.Array:
  """``p`` from whichever field is set."""
  return probs if probs is not None else jax.nn.sigmoid(logits)


def xlogy(x: jax.Array, log_y: jax.Array) -> jax.Array:
  """``x log y`` from ``log y``, 0 where ``x == 0`` (also when ``log y =
  -inf``), with a NaN-free derivative there."""
  zero = x == 0
  return jnp.where(zero, 0.0, x * jnp.where(zero, 0.0, log_y))


def on_integers(z: Any, dtype: Any) -> tuple[jax.Array, jax.Array]:
  """``(z, is an integer)`` with ``z`` in ``dtype`` (NaN is not an integer)."""
  z = jnp.asarray(z, dtype)
  return z, jnp.isfinite(z) & (z == jnp.floor(z))


def mask_log_prob(inside: jax.Array, z: jax.Array, value: jax.Array) -> jax.Array:
  """``value`` where ``z`` is in the support, ``-inf`` elsewhere, NaN at NaN ``z``."""
  return utils.mask_invalid(~jnp.isnan(z), jnp.where(inside, value, -jnp.inf))


@jax.custom_jvp
def _no_pathwise(z, params):
  del params
  return z


@_no_pathwise.defjvp
def _no_pathwise_jvp(primals, tangents):
  z, _ = primals
  _, params_dot = tangents
  # NaN times the parameters' tangent: linear in it, so reverse mode also
  # gives NaN (a constant NaN tangent would transpose to a silent 0), and a
  # stop_gradient on the draw downstream still cuts it.
  total = sum((jnp.sum(t) for t in jax.tree.leaves(params_dot)), jnp.zeros((), z.dtype))
  nan = jnp.asarray(jnp.inf, z.dtype) - jnp.inf
  return z, jnp.broadcast_to(nan * total.astype(z.dtype), z.shape)


def no_pathwise(z: jax.Array, params: Any) -> jax.Array:
  """``z`` (a discrete draw) whose derivative in ``params`` is NaN: there is
  no pathwise derivative of an integer draw, and a silent 0 would look like
  one. The draw itself carries no gradient (``stop_gradient``)."""
  return _no_pathwise(jax.lax.stop_gradient(z), params)


def to_float(z: jax.Array, valid: jax.Array, dtype: Any) -> jax.Array:
  """Integer draws as ``dtype``, NaN where the (traced) parameters are invalid."""
  return utils.mask_invalid(valid, z.astype(dtype))


_DOCS = {
    "validate": '''Checks ``params`` and returns them as floating arrays of one dtype.

Raises ``TypeError`` for a wrong type and ``ValueError`` naming the parameter
and the value for a concrete invalid one (traced values pass: under ``jit``
the draws are NaN where a parameter is invalid).

Args:
  params: the family's ``Params``.
  dtype: floating dtype to convert to; default the parameters' own.

Returns:
  ``Params`` of floating arrays (a field that is ``None`` stays ``None``).

>>> import irt_jax as irt
>>> irt.{name}.validate({bad})
Traceback (most recent call last):
...
ValueError: {error}
''',
    "is_valid": '''``True`` where the (possibly traced) parameters are valid, batch-shaped.

A ``Params`` with both or neither of ``probs`` and ``logits`` (the families
that take either) is not a question of values: it raises ``ValueError``
naming the fields, as ``validate`` does.

>>> import irt_jax as irt
>>> irt.{name}.is_valid({good}).tolist()
True
''',
    "support": '''Where the draws live: the integers of an interval
(:class:`irt_jax.family.Support` of kind ``"interval"``; the family's
``discrete = True`` says the draws are integers).

>>> import irt_jax as irt
>>> s = irt.{name}.support({good})
>>> s.kind, float(s.low), float(s.high)
{support}
''',
}


def members(name: str, prepare: Callable, valid: Callable, ends: Callable, *,
            good: str, bad: str, error: str, support: str
            ) -> tuple[Callable, Callable, Callable]:
  """``validate``, ``is_valid`` and ``support`` of a discrete family module.

  Args:
    name: the public module name.
    prepare: ``_prepare(params, dtype) -> (params, dtype)``.
    valid: ``_valid(params) -> bool array`` on prepared (floating) params.
    ends: ``ends(params) -> (low, high)`` on prepared params.
    good, bad, error, support: sources for the examples (``support``: the
      ``repr`` of ``support(good)``).

  >>> from irt_jax._src import discrete, poisson
  >>> v, ok, s = discrete.members("poisson", poisson._prepare, poisson._valid,
  ...                             lambda p: (0.0, float("inf")), good="", bad="",
  ...                             error="", support="")
  >>> s(poisson.Params(2.0))
  Support(kind='interval', low=0.0, high=inf)
  """

  def validate(params, dtype=None):
    return prepare(params, dtype)[0]

  def is_valid(params):
    if "probs" in getattr(params, "_fields", ()):   # not a question of values
      check_one_of(name, params.probs, params.logits)
    return jnp.asarray(valid(_family.as_arrays(params)))

  def support_fn(params):
    p, _ = prepare(params)
    return _family.interval(*ends(p))

  out = (validate, is_valid, support_fn)
  for fn, key in zip(out, ("validate", "is_valid", "support")):
    fn.__name__ = fn.__qualname__ = key
    fn.__module__ = f"irt_jax._src.{name}"
    fn.__doc__ = _DOCS[key].format(name=name, good=good, bad=bad, error=error,
                                   support=support)
  return out
