"""Plumbing shared by the Monte-Carlo estimators (:mod:`irt_jax._src.estimators`
and :mod:`irt_jax._src.importance_weighted`): argument checks, the draws' keys,
and one compiled program per static configuration.

Package-internal: the public names are those of :mod:`irt_jax.estimators`.

>>> import jax
>>> from irt_jax._src import montecarlo
>>> montecarlo.sample_keys(jax.random.key(0), 3).shape
(3,)
"""

from __future__ import annotations

from collections.abc import Callable
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from irt_jax._src import family as _family
from irt_jax._src import utils

PyTree = Any
Cost = Callable[[jax.Array], jax.Array]


def check_num_samples(num_samples: Any, minimum: int = 1) -> int:
  """``num_samples`` as a Python int ``>= minimum`` (static under ``jit``)."""
  if isinstance(num_samples, (bool, np.bool_)) or not isinstance(
      num_samples, (int, np.integer)):
    raise TypeError("num_samples: expected a Python int (static under jit), "
                    f"got {type(num_samples).__name__} {num_samples!r}")
  if num_samples < minimum:
    raise ValueError(f"num_samples: expected >= {minimum}, got {num_samples}")
  return int(num_samples)


def check_family(family: Any, *needs: str) -> None:
  _family.check(family, needs=("Params",) + needs)


def prepare_params(family: Any, params: PyTree) -> PyTree:
  """Floating arrays of one dtype (the params' own, or JAX's default)."""
  _family.check_params(family, params)
  dtype = utils.float_dtype(None, *jax.tree.leaves(params))
  return jax.tree.map(lambda v: utils.as_float("params", v, dtype), params)


def sample_keys(key: Any, num_samples: int) -> jax.Array:
  """Draw ``i``'s key: ``split(key, num_samples)[i]`` in every estimator."""
  return jax.random.split(utils.check_key(key), num_samples)


def is_concrete(tree: PyTree) -> bool:
  return all(utils.concrete_value(v) is not None for v in jax.tree.leaves(tree))


def validate(family: Any, params: PyTree) -> None:
  """Eager calls: the family's own ValueError for invalid concrete params (the
  estimators run as one compiled program, where invalid ones give NaN)."""
  if hasattr(family, "validate") and is_concrete(params):
    family.validate(params)


@functools.lru_cache(maxsize=None)
def _jitted(impl: Callable[..., Any], n_static: int) -> Callable[..., Any]:
  return jax.jit(impl, static_argnums=tuple(range(n_static)))


def call(impl: Callable[..., Any], static: tuple[Any, ...], *args: Any) -> Any:
  """``impl(*static, *args)``, compiled once per static arguments if hashable."""
  try:
    hash(static)
  except TypeError:  # e.g. a SimpleNamespace family: run it traced op by op.
    return impl(*static, *args)
  return _jitted(impl, len(static))(*static, *args)


def scalar_cost(f: Cost, z: jax.Array) -> jax.Array:
  """``f(z)``, refused unless a scalar (one draw, one cost)."""
  out = f(z)
  if jnp.shape(out) != ():
    raise ValueError(
        f"f: must map one draw (shape {jnp.shape(z)}) to a scalar, got an "
        f"output of shape {jnp.shape(out)}; sum or index it inside f")
  return out
