"""Helpers shared by the numeric kernels (one place each)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# B_{2k} / (2k), k = 1..7: psi(z) ~ log z - 1/(2z) - sum_k c_k z^(-2k) and the
# Stirling series of log Gamma (Abramowitz & Stegun 6.1.40, 6.3.18).
STIRLING = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)


def nan_unless(ok, x):
  """``where(ok, x, NaN)``, the NaN made only where ``ok`` is false (``inf - inf``
  there): a NaN constant in a discarded branch would trip ``jax.debug_nans``.

  >>> import jax.numpy as jnp
  >>> nan_unless(jnp.array([True, False]), jnp.array([1.0, 2.0])).tolist()
  [1.0, nan]
  """
  x = jnp.asarray(x)
  inf = jnp.where(ok, 0.0, jnp.inf).astype(x.dtype)
  return jnp.where(ok, x, inf - inf)


def horner(coeffs, x):
  """``sum_k coeffs[k] x^k`` by Horner's rule (``coeffs`` low order first).

  >>> import jax.numpy as jnp
  >>> float(horner((1.0, 2.0, 3.0), jnp.asarray(2.0)))   # 1 + 4 + 12
  17.0
  """
  acc = jnp.full_like(x, coeffs[-1])
  for c in coeffs[-2::-1]:
    acc = acc * x + c
  return acc


def out_dtype(*args):
  """The floating result type of the arguments (integers: JAX's default float)."""
  args = [np.asarray(a) if isinstance(a, (list, tuple)) else a for a in args]
  dtype = jnp.result_type(*args)
  if not jnp.issubdtype(dtype, jnp.floating):
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)
  return dtype


def compute_dtype(*args):
  """:func:`out_dtype`, with float16 / bfloat16 computed in float32."""
  dtype = out_dtype(*args)
  return jnp.float32 if jnp.finfo(dtype).bits < 32 else dtype
