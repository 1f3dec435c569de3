r"""``log Phi(x)``, the standard normal log CDF, in one pass with a cheap derivative.

Used by the normal family's ``log_cdf`` / ``log_sf`` (``log_sf(x) = log_ndtr(-x)``)
and the normal mixtures. Three regions, each accurate to a few ulp of
``log Phi`` (tests: against mpmath over ``x`` in ``[-1e4, 40]``):

* ``x > 0``: ``log1p(-Q)`` with ``Q = erfc(x / sqrt 2) / 2``, so the upper tail
  keeps the relative precision of ``log Phi ~ -Q`` (``log(Phi)`` would round
  it to 0 from ``x ~ 5.5`` in float32);
* ``lower < x <= 0``: ``log(erfc(-x / sqrt 2) / 2)`` (``erfc`` of a positive
  argument is relatively accurate until it underflows);
* ``x <= lower`` (``-10`` float32, ``-20`` float64): the asymptotic expansion
  ``Phi(x) = phi(x) / (-x) * (1 + sum_n (-1)^n (2n-1)!! / x^(2n))``
  (A&S 26.2.12), truncated where its terms fall below the precision.

JAX's ``log_ndtr`` computes ``ndtr`` (itself both ``erf`` and ``erfc``) and
takes ``log(ndtr)`` above 0, losing the upper tail; this kernel evaluates one
``erfc``. Its derivative is a ``jax.custom_jvp``: ``d/dx log Phi = phi / Phi``,
formed as ``exp(log phi - log Phi)``, or ``-x / (1 + sum)`` in the asymptotic
region (finite as ``x -> -inf``), so the tangent costs one ``exp``, not the
derivative of every branch.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
# Where the asymptotic series takes over, and its number of terms: the first
# omitted term (2n+1)!! / x^(2n+2) at x = lower is below the dtype's epsilon.
_LOWER = {np.dtype(np.float32): (-10.0, 6), np.dtype(np.float64): (-20.0, 10)}


def _settings(dtype):
  return _LOWER[np.dtype(dtype)] if np.dtype(dtype) in _LOWER else _LOWER[np.dtype(np.float32)]


def _series(x, terms):
  """``sum_(n=1..terms) (-1)^n (2n-1)!! / x^(2n)`` by Horner's rule in ``1/x^2``."""
  r = 1.0 / (x * x)
  acc = jnp.zeros_like(x)
  for n in range(terms, 0, -1):
    acc = r * ((-1.0) ** n * float(np.prod(np.arange(2 * n - 1, 0, -2))) + acc)
  return acc


def _parts(x):
  """``(log Phi(x), in_tail, x clipped into the tail, series sum there)``."""
  lower, terms = _settings(x.dtype)
  upper = x > 0
  # erfc of |x| / sqrt 2 (clipped into the tail; no abs: its derivative at 0 is 0)
  q = 0.5 * jax.lax.erfc(jnp.where(upper, x, -jnp.maximum(x, lower)) * (1.0 / math.sqrt(2.0)))
  body = jnp.where(upper, jnp.log1p(-q), jnp.log(q))
  in_tail = x <= lower
  xt = jnp.minimum(x, lower)
  s = _series(xt, terms)
  tail = -0.5 * xt * xt - jnp.log(-xt) - HALF_LOG_2PI + jnp.log1p(s)
  return jnp.where(in_tail, tail, body), in_tail, xt, s


@jax.custom_jvp
def log_ndtr(x: jax.Array) -> jax.Array:
  r"""``log Phi(x)`` elementwise for a float array ``x`` (``-inf`` at ``-inf``).

  >>> import jax.numpy as jnp
  >>> from irt_jax._src.special.normal import log_ndtr
  >>> [round(float(v), 4) for v in log_ndtr(jnp.array([-20.0, 0.0, 6.0]))]
  [-203.9172, -0.6931, -0.0]
  """
  return _parts(x)[0]


@log_ndtr.defjvp
def _log_ndtr_jvp(primals, tangents):
  (x,), (t,) = primals, tangents
  y, in_tail, xt, s = _parts(x)
  # phi / Phi: exp(log phi - log Phi), or -x / (1 + sum) where the series
  # holds (no -inf - -inf at x = -inf).
  ratio = jnp.where(in_tail, -xt / (1.0 + s),
                    jnp.exp(jnp.where(in_tail, 0.0, -0.5 * x * x - HALF_LOG_2PI - y)))
  return y, t * ratio


def log_ndtri_lower(lp: jax.Array) -> jax.Array:
  """``x <= 0`` with ``log Phi(x) ~= lp`` (``lp <= log 1/2``): ``ndtri(exp(lp))``,
  or below ``lp = -40`` the leading terms of the tail expansion
  ``x^2 ~= t - log t``, ``t = -2 lp - log 2 pi``. A first guess for solvers
  (relative error ~1e-2 in the far tail), not a quantile function.

  >>> import jax.numpy as jnp
  >>> from irt_jax._src.special.normal import log_ndtri_lower
  >>> round(float(log_ndtri_lower(jnp.log(0.025))), 4)
  -1.96
  """
  deep = lp < -40.0
  direct = jax.scipy.special.ndtri(jnp.exp(jnp.where(deep, -1.0, lp)))
  t = -2.0 * jnp.where(deep, lp, -50.0) - math.log(2 * math.pi)
  x2 = t - jnp.log(t)
  asym = -jnp.sqrt(jnp.maximum(x2, 1.0))
  return jnp.where(deep, asym, direct)
