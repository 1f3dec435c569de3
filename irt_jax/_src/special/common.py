"""Helpers shared by the numeric kernels (one place each)."""

from __future__ import annotations

import functools

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


def horner(coeffs, x, rolled=False):
  """``sum_k coeffs[k] x^k`` by Horner's rule (``coeffs`` low order first);
  ``rolled``: as a loop over the coefficients (see :func:`fold`).

  >>> import jax.numpy as jnp
  >>> float(horner((1.0, 2.0, 3.0), jnp.asarray(2.0)))   # 1 + 4 + 12
  17.0
  >>> float(horner((1.0, 2.0, 3.0), jnp.asarray(2.0), rolled=True))
  17.0
  """
  return fold(lambda acc, c: acc * x + c, jnp.full_like(x, coeffs[-1]),
              np.asarray(coeffs[-2::-1]), rolled)


def fold(body, carry, steps, rolled=False):
  """``carry = body(carry, step)`` for each ``step`` of the constant table
  ``steps`` (a 1-D NumPy array, or a tuple of them read in parallel):
  unrolled (each ``step`` a Python float), or ``rolled`` as one ``lax.scan``.

  >>> import jax.numpy as jnp, numpy as np
  >>> x = jnp.asarray(3.0)
  >>> [float(fold(lambda c, k: c * x + k, x, np.arange(4.0), r)) for r in (False, True)]
  [261.0, 261.0]
  """
  if not rolled:
    rows = zip(*steps) if isinstance(steps, tuple) else steps
    for step in rows:
      carry = body(carry, tuple(map(float, step)) if isinstance(steps, tuple)
                   else float(step))
    return carry
  dtype = jax.tree.leaves(carry)[0].dtype
  table = jax.tree.map(lambda v: np.asarray(v, dtype), steps)
  return jax.lax.scan(lambda c, step: (body(c, step), None), carry, table)[0]


def elementwise_derivatives(kernel, differentiable=None):
  """``kernel`` with its derivatives from ``differentiable`` (default: itself)
  as partial derivatives by forward mode.

  For kernels elementwise in their array arguments (after broadcasting). The
  partials in every argument come from one forward pass (a ``vmap`` over
  the tangent directions) and the tangent is their elementwise combination:
  reverse mode transposes only that, keeping no per-step residuals of the
  kernel's loops. ``differentiable``: the same arithmetic written to be cheap
  to differentiate (loops rolled): unrolled code runs fastest, but each
  derivative of it is as long again (the float64 gamma kernel's second
  derivative took minutes to compile).

  >>> import jax, jax.numpy as jnp, numpy as np
  >>> def k(x, rolled=False):
  ...   return fold(lambda c, _: c * x + 1.0, jnp.zeros_like(x), np.zeros(3), rolled)
  >>> f = elementwise_derivatives(k, functools.partial(k, rolled=True))
  >>> float(f(jnp.asarray(2.0))), float(jax.grad(f)(jnp.asarray(2.0)))   # 1 + x + x^2
  (7.0, 5.0)
  """
  differentiable = differentiable or kernel
  fast = jax.custom_jvp(lambda *args: kernel(*args))  # no keyword defaults as primals

  @fast.defjvp
  def _jvp(primals, tangents):
    leaves, tree = jax.tree.flatten(primals)
    eye = np.eye(len(leaves))
    basis = tree.unflatten([jnp.broadcast_to(jnp.asarray(eye[i], v.dtype).reshape(
        (-1,) + (1,) * v.ndim), (len(leaves),) + v.shape) for i, v in enumerate(leaves)])
    y, partials = jax.vmap(lambda t: jax.jvp(differentiable, primals, tuple(t)),
                           out_axes=(None, 0))(basis)
    moves = jax.tree.leaves(tangents)

    def combine(p, y):
      if not jnp.issubdtype(p.dtype, jnp.inexact):   # integer / bool outputs
        return np.zeros(jnp.shape(y), jax.dtypes.float0)
      return sum(p[i] * t for i, t in enumerate(moves) if t.dtype != jax.dtypes.float0)

    return y, jax.tree.map(combine, partials, y)

  return fast


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
