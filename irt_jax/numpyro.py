"""NumPyro distributions backed by irt_jax families (implicit ``rsample``).

``irt_jax.numpyro.Distribution(family, params)`` wraps any irt_jax family —
a module such as ``irt.von_mises`` or a family object such as
``irt.truncated.of(irt.normal)`` or ``irt.mixture.of(irt.normal)`` — as a
``numpyro.distributions.Distribution`` with ``has_rsample = True``: its
``sample`` is the irt_jax sampler, so NumPyro's ELBOs differentiate through
the implicit reparameterization gradient. That covers families NumPyro cannot
reparameterize itself (von Mises, mixtures, truncations with correct bound
gradients).

Requires ``numpyro`` (``pip install numpyro``); ``import irt_jax`` does not
import this module.

>>> import jax, irt_jax as irt
>>> from irt_jax.numpyro import Distribution
>>> d = Distribution(irt.gamma, irt.gamma.Params(2.0, 1.0))
>>> d.has_rsample, d.batch_shape, d.event_shape
(True, (), ())
>>> bool(d.log_prob(d.sample(jax.random.key(0), (3,))).shape == (3,))
True
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

try:
  import numpyro.distributions as _dist
  from numpyro.distributions import constraints as _constraints
except ImportError as e:  # pragma: no cover - depends on the environment.
  raise ImportError(
      "irt_jax.numpyro needs NumPyro: pip install numpyro") from e

__all__ = ["Distribution"]

_KNOWN_SUPPORTS = {
    "irt_jax.von_mises": _constraints.circular,
    "irt_jax.dirichlet": _constraints.simplex,
    "irt_jax.von_mises_fisher": _constraints.sphere,
}
_EVENT_NDIMS = {"irt_jax.dirichlet": 1, "irt_jax.von_mises_fisher": 1}


def _name(family) -> str:
  return getattr(family, "__name__", type(family).__name__)


def _support(family):
  if _name(family) in _KNOWN_SUPPORTS:
    return _KNOWN_SUPPORTS[_name(family)]
  lo, hi = getattr(family, "SUPPORT", (-jnp.inf, jnp.inf))
  if lo == -jnp.inf and hi == jnp.inf:
    return _constraints.real
  if lo == 0 and hi == jnp.inf:
    return _constraints.positive
  if lo == 0 and hi == 1:
    return _constraints.unit_interval
  return _constraints.interval(lo, hi)


class Distribution(_dist.Distribution):
  """An irt_jax family as a NumPyro distribution with implicit ``rsample``.

  Args:
    family: an irt_jax family (module or family object) with ``Params``,
      ``sample`` and ``log_prob``; ``mean`` / ``variance`` are used if present.
    params: the family's ``Params``.
    mode: ``"vjp"`` (default) or ``"jvp"``, passed to ``family.sample``.
    validate_args: NumPyro's flag (irt_jax validates concrete params anyway).

  The batch and event shapes are those of one draw ``family.sample(key,
  params)``; the event has ``family.event_ndims`` axes (1 for Dirichlet and
  von Mises–Fisher, 0 otherwise unless the family says so).

  >>> import jax, irt_jax as irt
  >>> from irt_jax.numpyro import Distribution
  >>> d = Distribution(irt.beta, irt.beta.Params(2.0, [1.0, 3.0]))
  >>> d.batch_shape, d.support
  ((2,), UnitInterval(lower_bound=0.0, upper_bound=1.0))
  """

  has_rsample = True
  pytree_data_fields = ("params",)
  pytree_aux_fields = ("family", "rule_mode")

  def __init__(self, family: Any, params: Any, *, mode: str = "vjp",
               validate_args: bool | None = None):
    if not isinstance(params, family.Params):
      raise TypeError(f"params: expected {_name(family)}.Params, got "
                      f"{type(params).__name__}")
    self.family, self.params, self.rule_mode = family, params, mode
    shape = jax.eval_shape(lambda: family.sample(jax.random.key(0), params)).shape
    ndims = getattr(family, "event_ndims", _EVENT_NDIMS.get(_name(family), 0))
    split = len(shape) - ndims
    super().__init__(batch_shape=tuple(shape[:split]),
                     event_shape=tuple(shape[split:]),
                     validate_args=validate_args)

  @property
  def support(self):
    return _support(self.family)

  def rsample(self, key, sample_shape=()):
    shape = tuple(sample_shape) + self.batch_shape
    return self.family.sample(key, self.params, shape, mode=self.rule_mode)

  def sample(self, key, sample_shape=()):
    return self.rsample(key, sample_shape)

  def log_prob(self, value):
    return self.family.log_prob(self.params, value)

  @property
  def mean(self):
    return self.family.mean(self.params)

  @property
  def variance(self):
    return self.family.variance(self.params)
