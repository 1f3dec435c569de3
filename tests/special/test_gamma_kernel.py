"""Tests of the gamma implicit-reparameterization kernel against mpmath.

The reference is ``d log x / da = -(dP(a, x)/da) / (x p(x; a))`` computed with
mpmath at 50 significant digits: ``dP/da`` by ``mpmath.diff`` of the
regularized incomplete gamma function (of ``P`` or ``Q``, whichever is below
1/2, so nothing cancels), at exactly the float ``x`` (or ``exp(log_x)``) that is
passed to the kernel. Run with ``-s`` to see the per-decade error table.
"""

from __future__ import annotations

import doctest
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special as sc

jax.config.update("jax_enable_x64", True)

from irt_jax._src.special import gamma as gk
from tests.references import gamma_log_velocity_mp as reference

F32, F64 = np.float32, np.float64
A_VALUES = np.geomspace(1e-3, 1e4, 22).astype(F32).astype(F64)  # exact in f32
QUANTILES = np.array([
    1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.03, 0.06, 0.1, 0.17, 0.25, 0.33, 0.42, 0.5,
    0.58, 0.67, 0.75, 0.83, 0.9, 0.94, 0.97, 0.99, 0.999, 1 - 1e-4, 1 - 1e-5,
    1 - 1e-6])
# Goals of the brief (hard limits are 10x / 100x looser).
TOL = {F32: 1e-5, F64: 1e-12}
# Errors below this are rounding noise; "at least as good as jax" is only
# asserted above it.
NOISE = {F32: 4 * np.finfo(F32).eps, F64: 40 * np.finfo(F64).eps}


def _log_quantile(a: float, q: float) -> float:
  x = sc.gammaincinv(a, q)
  if x > 1e-280:
    return float(np.log(x))
  return float((np.log(q) + sc.gammaln(a + 1)) / a)  # P ~ x^a / Gamma(a+1)


@pytest.fixture(scope="module")
def grid():
  """Points (a, log_x, x) with log_x exact in float32 and x = exp(log_x)
  rounded to float32 (None where it underflows), plus mpmath references."""
  rows = []
  for a in A_VALUES:
    for q in QUANTILES:
      log_x = float(F32(_log_quantile(a, q)))
      x = float(F32(np.exp(log_x)))
      x = x if x >= np.finfo(F32).tiny else None
      ref_log = reference(a, log_x=log_x)
      ref_x = None if x is None else reference(a, x=x)
      rows.append((a, log_x, x, ref_log, ref_x))
  return rows


_PAD = 512


@functools.partial(jax.jit, static_argnums=0)
def _jitted(name, a, b):
  return getattr(gk, name)(a, b)


@functools.partial(jax.jit, static_argnums=0)
def _jitted_grad(name, a, b):
  return jax.vmap(jax.grad(getattr(gk, name), argnums=(0, 1)))(a, b)


def _padded(fun, name, a, b, dt):
  """Evaluates a jitted kernel on inputs padded to a multiple of _PAD, so each
  (function, dtype) is compiled once for the whole module."""
  a, b = np.broadcast_arrays(np.asarray(a, F64), np.asarray(b, F64))
  shape, n = a.shape, a.size
  size = -(-n // _PAD) * _PAD
  pad = lambda v, fill: jnp.asarray(np.concatenate([v.ravel(), np.full(size - n, fill)]), dt)
  out = fun(name, pad(a, 1.0), pad(b, 1.0))
  if isinstance(out, tuple):
    return tuple(np.asarray(o)[:n].reshape(shape) for o in out)
  return np.asarray(out)[:n].reshape(shape)


def velocity(a, x, dt):
  return _padded(_jitted, "gamma_velocity", a, x, dt)


def log_velocity(a, log_x, dt):
  return _padded(_jitted, "gamma_log_velocity", a, log_x, dt)


def grads(name, a, b, dt):
  return _padded(_jitted_grad, name, a, b, dt)


def _rel_err(got, ref):
  got = np.asarray(got, F64)
  return np.abs(got - ref) / np.abs(ref)


def _decades(a):
  return np.floor(np.log10(a) + 1e-9).astype(int)


def test_log_velocity_accuracy(grid):
  a = np.array([r[0] for r in grid])
  log_x = np.array([r[1] for r in grid])
  ref = np.array([r[3] for r in grid])
  for dt in (F32, F64):
    err = _rel_err(log_velocity(a, log_x, dt), ref)
    worst = np.argmax(err)
    assert err.max() <= TOL[dt], (dt, err.max(), a[worst], log_x[worst])


def test_velocity_accuracy_and_jax_comparison(grid):
  rows = [r for r in grid if r[2] is not None]
  a = np.array([r[0] for r in rows])
  x = np.array([r[2] for r in rows])
  ref = np.array([r[4] for r in rows]) * x  # dx/da
  dec = _decades(a)
  lines = ["", "max relative error of dx/da per decade of a (quantiles 1e-6 .. 1-1e-6)",
           f"{'a decade':>9} | {'ours f32':>9} {'jax f32':>9} | {'ours f64':>9} {'jax f64':>9}"]
  table = {}
  for dt in (F32, F64):
    aa, xx = jnp.asarray(a, dt), jnp.asarray(x, dt)
    ours = _rel_err(velocity(a, x, dt), ref)
    theirs = _rel_err(jax.lax.random_gamma_grad(aa, xx), ref)
    assert ours.max() <= TOL[dt], (dt, ours.max(), a[np.argmax(ours)], x[np.argmax(ours)])
    for d in np.unique(dec):
      m = dec == d
      table[d, dt] = ours[m].max(), theirs[m].max()
      assert ours[m].max() <= max(theirs[m].max(), NOISE[dt]), (d, dt, table[d, dt])
  for d in np.unique(dec):
    (o32, j32), (o64, j64) = table[d, F32], table[d, F64]
    lines.append(f"{'1e%+d' % d:>9} | {o32:9.2e} {j32:9.2e} | {o64:9.2e} {j64:9.2e}")
  print("\n".join(lines))


@pytest.mark.parametrize("dt", [F32, F64])
def test_region_boundaries(dt):
  """Points straddling each switch between algorithms (both dtypes' switches)."""
  pts = []
  for a in (1e-3, 0.05, 0.7, 1.6, 2.4, 4.2, 4.9, 5.1, 7.9, 8.1):
    for xc in (1.0, 2.0, a - 0.5):
      if xc > 0:
        pts += [(a, xc * 0.995), (a, xc * 1.005)]
  for a in (5.0, 8.0, 30.0, 1e3):
    for lam in (0.3, 1.5):
      pts += [(a, a * lam * 0.995), (a, a * lam * 1.005)]
  a = np.array([F32(p[0]) for p in pts], F64)
  x = np.array([F32(p[1]) for p in pts], F64)
  ref = np.array([reference(float(ai), x=float(xi)) for ai, xi in zip(a, x)])
  err = _rel_err(log_velocity(a, np.log(x.astype(dt)).astype(F64), dt), ref)
  assert err.max() <= TOL[dt], (err.max(), a[np.argmax(err)], x[np.argmax(err)])


@pytest.mark.parametrize("dt", [F32, F64])
def test_extreme_inputs(dt):
  fi = np.finfo(dt)
  a = np.array([1e-30, 1e-20, 1e-10, 1e-5, 1e-3, 0.1, 1, 4.99, 5, 7.99, 8, 30, 1e3, 1e5, 1e8])
  x = np.array([0, fi.tiny, 1e-30, 1e-10, 1e-3, 0.1, 1, 2, 3, 10, 1e2, 1e4, 1e8, 1.5e8,
                1e12, 1e30, fi.max, np.inf])
  log_x = np.array([-np.inf, -1e30, -1e10, -1e4, -1e3, -100, -1, 0, 1, 5, 18, 30, 80,
                    88, 700, np.inf])
  v = velocity(a[:, None], x, dt)
  assert np.all(np.isfinite(v)) and np.all(v >= 0)
  assert np.all(v[:, 0] == 0) and np.all(v[:, -1] == 0)  # x = 0 and x = inf
  w = log_velocity(a[:, None], log_x, dt)
  assert np.all(np.isfinite(w)) and np.all(w >= 0)
  assert np.all(w[:, 0] == fi.max) and np.all(w[:, -1] == 0)
  # a = 1e-30 with log x of a typical draw (-1e30 is beyond float32's
  # d log x / da range, so float32 checks a smaller |log x|).
  lx = -1e30 if dt == F64 else -1e4
  got = float(log_velocity(1e-30, lx, dt))
  expected = (-lx - np.euler_gamma) / 1e-30
  assert abs(got - expected) <= 1e-6 * expected
  bad = velocity([-1.0, 0.0, np.nan, 1.0, 1.0], [1.0, 1.0, 1.0, np.nan, -1.0], dt)
  assert np.all(np.isnan(bad))


# (a, x) spanning the series, continued fraction, Temme and far-field regions
# of both dtypes.
GRAD_POINTS = np.array([
    (1e-2, 1e-5), (0.01, 0.3), (0.3, 0.5), (0.3, 3.0), (1.0, 1.5), (2.5, 1.7), (3.0, 6.0),
    (6.0, 5.0), (7.0, 9.0), (20.0, 4.0), (20.0, 18.0), (20.0, 35.0), (500.0, 480.0),
    (1e4, 1.02e4), (2.0, 1e20)])


def test_second_order_gradients_vs_finite_differences():
  """d/da and d/dlog_x of the kernel (what Hessians of the sampler need)."""
  a, x = GRAD_POINTS[:, 0], GRAD_POINTS[:, 1]
  lx = np.log(x)
  g_a, g_l = grads("gamma_log_velocity", a, lx, F64)
  h_a = 1e-5 * a
  fd_a = (log_velocity(a + h_a, lx, F64) - log_velocity(a - h_a, lx, F64)) / (2 * h_a)
  h_l = 1e-5
  fd_l = (log_velocity(a, lx + h_l, F64) - log_velocity(a, lx - h_l, F64)) / (2 * h_l)
  np.testing.assert_allclose(g_a, fd_a, rtol=1e-5, atol=0)
  np.testing.assert_allclose(g_l, fd_l, rtol=1e-5, atol=1e-12)
  # float32 derivatives agree with float64 to float32 accuracy.
  g32_a, g32_l = grads("gamma_log_velocity", a, lx.astype(F32), F32)
  np.testing.assert_allclose(g32_a, g_a, rtol=2e-3)
  np.testing.assert_allclose(g32_l, g_l, rtol=2e-3, atol=1e-6)
  # The x-space entry point (float32): d/da (x v) = x dv/da at fixed x, and
  # d/dx (x v) = v + dv/dlog x.
  x32 = x.astype(F32).astype(F64)
  gx_a, gx_x = grads("gamma_velocity", a, x32, F32)
  ga_at, gl_at = grads("gamma_log_velocity", a, np.log(x32), F64)
  v_at = log_velocity(a, np.log(x32), F64)
  np.testing.assert_allclose(gx_a, x32 * ga_at, rtol=2e-3)
  np.testing.assert_allclose(gx_x, v_at + gl_at, rtol=2e-3, atol=1e-6)


def test_gradients_finite_at_extremes():
  # Only the (function, dtype) pairs compiled above: each reverse-mode compile
  # of the kernel takes seconds.
  a = np.array([1e-10, 1e-3, 0.5, 5.0, 8.0, 1e3, 1e8])[:, None]
  lx = np.array([-1e3, -50.0, 0.0, 3.0, 50.0, 1e3])
  x = np.array([0.0, 1e-20, 1.0, 1e6, np.inf])
  for g in (grads("gamma_log_velocity", a, lx, F64) + grads("gamma_log_velocity", a, lx, F32)
            + grads("gamma_velocity", a, x, F32)):
    assert np.all(np.isfinite(g))


def test_jit_matches_eager():
  rng = np.random.default_rng(0)
  a = np.exp(rng.uniform(np.log(1e-3), np.log(1e5), 40))
  x = rng.gamma(a) + 1e-30
  for dt, name, b in ((F32, "gamma_velocity", x), (F64, "gamma_log_velocity", np.log(x))):
    eager = np.asarray(getattr(gk, name)(jnp.asarray(a, dt), jnp.asarray(b, dt)))
    np.testing.assert_allclose(_padded(_jitted, name, a, b.astype(dt), dt), eager,
                               rtol=8 * np.finfo(dt).eps)


def test_dtypes_and_broadcasting():
  a = jnp.asarray([[0.5], [20.0]], jnp.float32)
  x = jnp.asarray([0.3, 1.0, 40.0], jnp.float32)
  f = jax.jit(gk.gamma_velocity)
  out = f(a, x)
  assert out.shape == (2, 3) and out.dtype == jnp.float32
  out = jax.eval_shape(gk.gamma_log_velocity, a.astype(F64), jnp.log(x))
  assert out.shape == (2, 3) and out.dtype == jnp.float64
  for low in (jnp.float16, jnp.bfloat16):
    got = f(a.astype(low), x.astype(low))
    assert got.dtype == low
    ref = f(a.astype(low).astype(F32), x.astype(low).astype(F32))
    np.testing.assert_allclose(np.asarray(got, F32), np.asarray(ref), rtol=1e-2)
  assert jax.eval_shape(gk.gamma_velocity, 2, 3).dtype == jnp.result_type(float)


def test_docstring_examples():
  result = doctest.testmod(gk, verbose=False)
  assert result.attempted >= 2 and result.failed == 0
