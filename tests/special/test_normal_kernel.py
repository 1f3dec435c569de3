"""Tests of the standard normal log-CDF kernel against mpmath.

Reference: ``log Phi(x)`` and ``phi(x) / Phi(x)`` by mpmath at 60 digits, at
exactly the float ``x`` given (``log1p(-Phi(-x))`` above 0, where ``Phi`` is
within ``1e-40`` of 1). Errors are relative to the reference; values below the
dtype's smallest normal number are compared in absolute terms. Run with ``-s``
to print the worst error per region.
"""

import functools

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

from irt_jax._src.special.normal import log_ndtr  # noqa: E402

XS = np.concatenate([-np.geomspace(1e-6, 1e4, 600), np.geomspace(1e-6, 40, 600), [0.0]])
# Relative error bounds (log Phi, phi / Phi) for x <= 0 and x > 0. Above 0,
# log Phi ~ -Q carries the relative error of XLA's erfc (measured up to 5e-6
# in float32, 2e-13 in float64 near its underflow); below, phi / Phi =
# exp(log phi - log Phi) turns the absolute error of log Phi ~ -50 into a
# relative one (float32 ~4e-6).
TOL = {np.float32: {"x <= 0": (4e-7, 8e-6), "x > 0": (1e-5, 1e-5)},
       np.float64: {"x <= 0": (2e-15, 1e-13), "x > 0": (5e-13, 2e-13)}}


@functools.lru_cache(maxsize=None)
def _reference(dtype):
  xs = XS.astype(dtype)
  vals, ratios = [], []
  with mp.workdps(60):
    for v in xs.astype(np.float64):
      x = mp.mpf(float(v))
      log_phi = mp.log1p(-mp.ncdf(-x)) if x > 0 else mp.log(mp.ncdf(x))
      vals.append(float(log_phi))
      ratios.append(float(mp.npdf(x) / mp.ncdf(x)))
  return xs, np.array(vals), np.array(ratios)


def _rel(got, want, dtype):
  tiny = np.finfo(dtype).tiny
  got = np.asarray(got, np.float64)
  return np.where(np.abs(want) > tiny, np.abs(got - want) / np.maximum(np.abs(want), tiny),
                  np.abs(got - want) / tiny * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_value_and_derivative_match_mpmath(dtype):
  xs, want, want_ratio = _reference(dtype)
  y, dy = jax.jit(lambda x: jax.jvp(log_ndtr, (x,), (jnp.ones_like(x),)))(jnp.asarray(xs))
  assert y.dtype == dtype and dy.dtype == dtype
  err, derr = _rel(y, want, dtype), _rel(dy, want_ratio, dtype)
  for region, mask in [("x <= 0", xs <= 0), ("x > 0", xs > 0)]:
    print(f"{dtype.__name__} {region}: log Phi {err[mask].max():.2e}, "
          f"phi/Phi {derr[mask].max():.2e}")
    tol, dtol = TOL[dtype][region]
    assert err[mask].max() < tol, (region, xs[mask][np.argmax(err[mask])])
    assert derr[mask].max() < dtol, (region, xs[mask][np.argmax(derr[mask])])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_second_derivative_matches_closed_form(dtype):
  """d2/dx2 log Phi = -r (x + r) with r = phi / Phi (mpmath), through the
  custom_jvp rule differentiated again."""
  xs, _, ratio = _reference(dtype)
  keep = (xs > -300) & (xs < 8)   # r (x + r) cancels for x << 0; tiny for x > 8
  d2 = jax.jit(jax.vmap(jax.grad(jax.grad(log_ndtr))))(jnp.asarray(xs[keep]))
  want = -ratio[keep] * (xs[keep].astype(np.float64) + ratio[keep])
  err = np.abs(np.asarray(d2, np.float64) - want) / np.maximum(np.abs(want), 1e-3)
  assert err.max() < (2e-3 if dtype == np.float32 else 1e-8), xs[keep][np.argmax(err)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_infinities_and_nan(dtype):
  x = jnp.asarray([-np.inf, np.inf, np.nan], dtype)
  y, dy = jax.jvp(log_ndtr, (x,), (jnp.ones_like(x),))
  np.testing.assert_array_equal(np.asarray(y)[:2], [-np.inf, 0.0])
  assert np.isnan(y[2])
  assert dy[0] == np.inf and dy[1] == 0.0
