"""Shared plumbing: keys, dtypes, shapes and parameter checks.

Every family validates its inputs through these helpers so that errors read the
same everywhere: concrete invalid values raise ``ValueError`` naming the
parameter; traced values cannot be inspected, so the samplers return NaN where a
parameter is invalid instead (see :func:`mask_invalid`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import core as _public_core

from irt_jax._src.special.common import nan_unless

try:  # Reads the primal value through JVP tracers (grad of a concrete call).
  from jax._src.core import to_concrete_value as _to_concrete_value
except ImportError:  # pragma: no cover - older / newer JAX without it.
  _to_concrete_value = None

Shape = tuple[int, ...]


def concrete_value(x: Any) -> np.ndarray | None:
  """Returns ``x`` as a NumPy array if its value is known now, else ``None``."""
  if _to_concrete_value is not None:
    try:
      value = _to_concrete_value(x)
    except Exception:  # pylint: disable=broad-except
      value = None
  else:
    value = None if isinstance(x, _public_core.Tracer) else x
  if value is None or isinstance(value, _public_core.Tracer):
    return None
  try:
    return np.asarray(value)
  except Exception:  # pylint: disable=broad-except
    return None


def check_key(key: Any) -> jax.Array:
  """Accepts a new-style ``jax.random.key`` or a legacy ``uint32[2]`` key."""
  if isinstance(key, (jax.Array, np.ndarray)) or hasattr(key, "dtype"):
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
      if key.ndim != 0:
        raise ValueError(
            f"key: expected a single key (shape ()), got a key array of shape "
            f"{key.shape}; use jax.vmap over keys or jax.random.split first.")
      return key
    if dtype == jnp.uint32 and key.shape == (2,):
      return key
  raise TypeError(
      "key: expected a PRNG key from jax.random.key(seed) or a legacy "
      f"jax.random.PRNGKey(seed), got {type(key).__name__} "
      f"{getattr(key, 'dtype', '')}{list(getattr(key, 'shape', ()))}: {key!r}")


def float_dtype(dtype: Any, *values: Any) -> np.dtype:
  """The floating dtype of a draw: ``dtype`` if given, else the params' own.

  Integer or Python-scalar parameters give JAX's default float type, so the
  result follows ``jax_enable_x64`` exactly as ``jax.random`` does.
  """
  if dtype is not None:
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
      raise ValueError(f"dtype: expected a floating dtype, got {dtype}")
    return jax.dtypes.canonicalize_dtype(dtype)
  # Lists / tuples of numbers are accepted like jnp.asarray accepts them.
  values = [np.asarray(v) if isinstance(v, (list, tuple)) else v for v in values]
  floats = [jnp.result_type(v) for v in values
            if jnp.issubdtype(jnp.result_type(v), jnp.floating)
            and not isinstance(v, (int, float))]
  if floats:
    return jax.dtypes.canonicalize_dtype(jnp.result_type(*floats))
  return jax.dtypes.canonicalize_dtype(jnp.float64)


def compute_dtype(dtype: np.dtype) -> np.dtype:
  """float16 / bfloat16 are computed in float32 (cast back on output)."""
  return np.dtype(jnp.float32) if jnp.finfo(dtype).bits < 32 else dtype


def as_float(name: str, value: Any, dtype: Any) -> jax.Array:
  """Converts a parameter to ``dtype``, rejecting non-numeric input by name."""
  try:
    arr = jnp.asarray(value)
  except TypeError as e:
    raise TypeError(f"{name}: expected an array-like number, got {value!r}") from e
  if not (jnp.issubdtype(arr.dtype, jnp.floating)
          or jnp.issubdtype(arr.dtype, jnp.integer)
          or arr.dtype == jnp.bool_):
    raise TypeError(f"{name}: expected a real number, got dtype {arr.dtype}")
  return arr.astype(dtype)


def _describe(bad: np.ndarray) -> str:
  flat = np.asarray(bad).reshape(-1)
  shown = ", ".join(repr(float(v)) for v in flat[:3])
  return shown + (", ..." if flat.size > 3 else "")


def check_positive(name: str, value: Any, *, allow_inf: bool = False) -> None:
  """Raises ``ValueError`` if a concrete ``value`` is not > 0 (NaN included)."""
  v = concrete_value(value)
  if v is None:
    return
  v = np.asarray(v, dtype=np.float64)
  ok = v > 0
  if not allow_inf:
    ok &= np.isfinite(v)
  if not np.all(ok):
    bad = v[~ok]
    need = "positive" if allow_inf else "positive and finite"
    raise ValueError(f"{name} must be {need}, got {_describe(bad)}")


def check_finite(name: str, value: Any) -> None:
  """Raises ``ValueError`` if a concrete ``value`` has a NaN or infinity."""
  v = concrete_value(value)
  if v is None:
    return
  v = np.asarray(v, dtype=np.float64)
  if not np.all(np.isfinite(v)):
    raise ValueError(f"{name} must be finite, got {_describe(v[~np.isfinite(v)])}")


def resolve_shape(shape: Sequence[int] | int | None, batch_shape: Shape) -> Shape:
  """The output batch shape: ``shape`` if given (params must broadcast to it)."""
  if shape is None:
    return tuple(batch_shape)
  if isinstance(shape, (int, np.integer)):
    shape = (int(shape),)
  try:
    shape = tuple(int(s) for s in shape)
  except TypeError as e:
    raise TypeError(f"shape: expected a tuple of ints, got {shape!r}") from e
  if any(s < 0 for s in shape):
    raise ValueError(f"shape: dimensions must be non-negative, got {shape}")
  try:
    joint = jnp.broadcast_shapes(shape, tuple(batch_shape))
  except ValueError:
    joint = None
  if joint != shape:
    raise ValueError(
        f"shape: {shape} is not compatible with the parameters' batch shape "
        f"{tuple(batch_shape)} (the parameters must broadcast to shape, as in "
        "jax.random)")
  return shape


def broadcast_batch_shape(**params: Any) -> Shape:
  """Broadcast of the parameters' shapes, with an error naming the culprits."""
  shapes = {k: jnp.shape(v) for k, v in params.items()}
  try:
    return tuple(jnp.broadcast_shapes(*shapes.values()))
  except ValueError as e:
    desc = ", ".join(f"{k}{list(s)}" for k, s in shapes.items())
    raise ValueError(f"parameter shapes do not broadcast: {desc}") from e


def lift(x: Any, ndim: int) -> jax.Array:
  """``x`` with leading unit axes up to ``ndim`` axes: NumPy's implicit rank
  promotion written out, so the library also runs under
  ``jax.numpy_rank_promotion("raise")``."""
  x = jnp.asarray(x)
  return jnp.reshape(x, (1,) * (ndim - x.ndim) + x.shape) if x.ndim < ndim else x


def lift_all(*trees: Any) -> tuple[Any, ...]:
  """Every leaf of ``trees`` lifted (:func:`lift`) to the largest rank among them."""
  ndim = max([jnp.ndim(v) for v in jax.tree.leaves(trees)], default=0)
  return jax.tree.map(lambda v: lift(v, ndim), trees)


def mask_invalid(valid: jax.Array, z: jax.Array) -> jax.Array:
  """NaN where a (traced) parameter is invalid: never a plausible wrong draw
  (made only there: :func:`irt_jax._src.special.common.nan_unless`)."""
  return nan_unless(valid, z)


def finite_or_saturate(x: jax.Array) -> jax.Array:
  """Clamps +-inf to the largest finite value of the dtype.

  Used on velocities that genuinely exceed the float range (e.g. d log x/da at
  concentration 1e-30 in float32) and are then multiplied by an exact zero
  downstream: ``0 * max`` is the correct 0 where ``0 * inf`` would be NaN.
  """
  big = jnp.finfo(x.dtype).max
  return jnp.clip(x, -big, big)


def materialize(tree: Any) -> Any:
  """``tree`` unchanged, but computed once into memory before its consumers.

  XLA fuses an elementwise producer into each consumer fusion, so a draw
  made of gathers, sines or logs is recomputed by every fusion of a velocity
  that reads it (measured: the mixture's rule spent much of its time
  re-running the sampler). The operands of a conditional are materialized
  buffers; its predicate ``x != x and x == x`` is never true, but XLA cannot
  fold it (so the never-taken branch, which differs, keeps the conditional).
  """
  first = jnp.ravel(jax.tree.leaves(tree)[0])[0]
  never = (first != first) & (first == first)
  return jax.lax.cond(never, lambda t: jax.tree.map(jnp.zeros_like, t),
                      lambda t: t, tree)


@functools.lru_cache(maxsize=None)
def _unbatched(merge):
  @jax.custom_batching.custom_vmap
  def index(i):
    return i

  @index.def_vmap
  def _rule(axis_size, in_batched, i):
    del axis_size
    return index(merge(i) if in_batched[0] else i), False

  return index


def unbatched_index(index: jax.Array, merge: Callable) -> jax.Array:
  """A ``lax.switch`` index that stays unbatched under ``vmap``.

  A batched index turns ``lax.switch`` into a select that runs every
  branch. Where one branch serves the whole batch (the largest node count,
  or the branch that computes every route), ``merge`` maps the index over
  the batch axis (its leading axis) to that one scalar. ``merge`` must be
  a module-level function (it keys a cache).
  """
  return _unbatched(merge)(index)


def multiple_of_8(size: int) -> int:
  """``size`` rounded up to a multiple of 8 (see :func:`padded_draw`)."""
  return 8 * -(-size // 8)


def padded_draw(draw: Callable, key: jax.Array, shape: Sequence[int], dtype,
                **kwargs) -> jax.Array:
  """``draw(key, shape, dtype, **kwargs)`` (``jax.random.normal``, ``uniform``,
  ``exponential``, ...) made as a flat count padded to a multiple of 8.

  XLA:CPU's threefry is an order of magnitude slower when the count is not
  a multiple of 8 (measured, jaxlib 0.10.2: 1e6 normals 6 ms, 1e6 + 1 88 ms,
  1e6 + 2 21 ms). Counts already a multiple of 8 draw exactly as ``draw``.
  Not chosen by backend: the same draws on GPU/TPU (threefry is the same
  function everywhere), where the padding costs at most 7 extra numbers.
  """
  shape = tuple(shape)
  size = int(np.prod(shape, dtype=np.int64))
  padded = multiple_of_8(size)
  if padded == size:
    return draw(key, shape, dtype, **kwargs)
  return jnp.reshape(draw(key, (padded,), dtype, **kwargs)[:size], shape)
