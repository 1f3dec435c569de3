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
import numpy as np

from irt_jax._src import family as _family
from irt_jax._src import utils

try:
  import numpyro.distributions as _dist
  from numpyro.distributions import constraints as _constraints
except ImportError as e:  # pragma: no cover - depends on the environment.
  raise ImportError(
      "irt_jax.numpyro needs NumPyro: pip install numpyro") from e

__all__ = ["Distribution"]

def _interval_constraint(low, high):
  """NumPyro's constraint for ``[low, high]`` (floats or arrays of ends).

  Ends are inspected when concrete, so that an unbounded side maps to
  ``positive`` / ``greater_than`` / ``less_than`` / ``real`` (NumPyro's
  ``interval`` with an infinite end would give NaN in its bijection).
  Traced ends (a ``Distribution`` built under ``jit``) are taken as finite.
  """
  lo_c, hi_c = utils.concrete_value(low), utils.concrete_value(high)
  if lo_c is None or hi_c is None:
    return _constraints.interval(low, high)
  lo_inf, hi_inf = np.isneginf(lo_c), np.isposinf(hi_c)
  if np.any(lo_inf != lo_inf.flat[0]) or np.any(hi_inf != hi_inf.flat[0]):
    raise ValueError(
        "support: the ends are finite for some parameters and infinite for "
        f"others (low={lo_c.tolist()!r}, high={hi_c.tolist()!r}); NumPyro has "
        "no constraint for that: split the batch")
  lo_inf, hi_inf = bool(lo_inf.flat[0]), bool(hi_inf.flat[0])
  scalar = lambda v, x: v.ndim == 0 and float(v) == x
  if lo_inf and hi_inf:
    return _constraints.real
  if hi_inf:
    return (_constraints.positive if scalar(lo_c, 0.0)
            else _constraints.greater_than(low))
  if lo_inf:
    return _constraints.less_than(high)
  if scalar(lo_c, 0.0) and scalar(hi_c, 1.0):
    return _constraints.unit_interval
  return _constraints.interval(low, high)


def _support(family, params):
  """NumPyro's constraint for the family's :class:`Support` at ``params``."""
  sup = family.support(params)
  if sup.kind == "circular":
    return _constraints.circular
  if sup.kind == "simplex":
    return _constraints.simplex
  if sup.kind == "sphere":
    return _constraints.sphere
  constraint = _interval_constraint(sup.low, sup.high)
  if family.event_ndims:
    return _constraints.independent(constraint, family.event_ndims)
  return constraint


class Distribution(_dist.Distribution):
  """An irt_jax family as a NumPyro distribution with implicit ``rsample``.

  Args:
    family: an irt_jax family (module or family object; the contract of
      :mod:`irt_jax._src.family`); ``mean`` / ``variance`` are used if present.
      A discrete family (Poisson, ...) raises ``NotAFamilyError`` (a
      ``TypeError``): its draws have no ``rsample``.
    params: the family's ``Params``.
    mode: ``"vjp"`` (default) or ``"jvp"``, passed to ``family.sample``.
    validate_args: NumPyro's flag (irt_jax validates concrete params anyway).

  The batch and event shapes are those of one draw ``family.sample(key,
  params)``; the event has ``family.event_ndims`` axes. The support is the
  family's ``support(params)``: a truncation's interval, a mixture's joined
  components, the simplex, the sphere, the circle.

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
    _family.check(family)
    if getattr(family, "discrete", False):   # rsample and an interval support would lie
      raise _family.NotAFamilyError(
          f"family: {_family.name_of(family)} is discrete (no reparameterized draws); "
          "use NumPyro's own distribution of it")
    _family.check_params(family, params)
    self.family, self.params, self.rule_mode = family, params, mode
    shape = jax.eval_shape(lambda: family.sample(jax.random.key(0), params)).shape
    split = len(shape) - family.event_ndims
    super().__init__(batch_shape=tuple(shape[:split]),
                     event_shape=tuple(shape[split:]),
                     validate_args=validate_args)

  @property
  def support(self):
    return _support(self.family, self.params)

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
