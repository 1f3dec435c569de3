"""Tests of the Student-t implicit-reparameterization kernel.

References: ``dF/dnu`` by ``mpmath.diff`` of the tail
``I_{nu/(nu+t^2)}(nu/2, 1/2) / 2`` (50 digits) divided by the density, at
exactly the float ``t`` and ``df`` given to the kernel; and, independently,
scipy quadrature of the closed-form densities of df = 1 (Cauchy) and df = 2.
Run with ``-s`` to see the error table per df decade.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate as si
import scipy.stats as st

jax.config.update("jax_enable_x64", True)

from irt_jax._src.special.student_t import student_t_velocity  # noqa: E402
from tests.references import student_t_velocity_mp as _mp_velocity  # noqa: E402

DFS = np.geomspace(0.5, 1e3, 15)
QUANTILES = np.array([1e-6, 1e-4, 1e-2, 0.1, 0.3, 0.45, 0.5 + 1e-6, 0.55, 0.7,
                      0.9, 0.99, 1 - 1e-4, 1 - 1e-6])
TOL = {np.float32: 1e-4, np.float64: 1e-9}


@functools.lru_cache(maxsize=None)
def _cases(dtype):
  rows = []
  for nu in DFS:
    for u in QUANTILES:
      t = float(st.t.ppf(u, nu))
      nuf, tf = float(dtype(nu)), float(dtype(t))
      rows.append((nuf, tf, _mp_velocity(nuf, tf)))
  arr = np.array(rows)
  return arr[:, 0].astype(dtype), arr[:, 1].astype(dtype), arr[:, 2]


_velocity = jax.jit(student_t_velocity)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_accuracy_vs_mpmath(dtype):
  nu, t, ref = _cases(dtype)
  v = np.asarray(_velocity(nu, t), np.float64)
  err = np.abs(v - ref) / np.abs(ref)
  print(f"\nStudent-t {dtype.__name__}: max relative error by df decade")
  dec = np.floor(np.log10(nu) + 1e-6).astype(int)
  for d in sorted(set(dec)):
    m = dec == d
    print(f"  df in [{10.0 ** d:g}, {10.0 ** (d + 1):g}): {err[m].max():.2e}"
          f"  (max |t| {np.abs(t[m]).max():.3g})")
  print(f"  overall max: {err.max():.2e}")
  assert err.max() <= TOL[dtype], err.max()


def _quad_velocity(nu, t, log_f, c0):
  """-(1/f(t)) int_0^t f(s) g(s) ds with g = d log f / d nu in closed form."""
  f = lambda s: math.exp(log_f(s))
  g = lambda s: (c0 - 0.5 * math.log1p(s * s / nu)
                 + (nu + 1) * s * s / (2 * nu * (nu + s * s)))
  val, _ = si.quad(lambda s: f(s) * g(s), 0.0, t, epsabs=0, epsrel=1e-12,
                   limit=200)
  return -val / f(t)


@pytest.mark.parametrize("t", [1e-3, 0.3, 1.0, 2.5, 7.0, 40.0])
def test_closed_form_densities(t):
  # df = 1 (Cauchy): f = 1/(pi (1 + t^2)); c0 = [psi(1) - psi(1/2)]/2 - 1/2.
  ref1 = _quad_velocity(1.0, t, lambda s: -math.log(math.pi * (1 + s * s)),
                        math.log(2.0) - 0.5)
  # df = 2: f = (2 + t^2)^(-3/2), F = 1/2 + t / (2 sqrt(2 + t^2));
  # c0 = [psi(3/2) - psi(1)]/2 - 1/4 = 3/4 - log 2.
  ref2 = _quad_velocity(2.0, t, lambda s: -1.5 * math.log(2 + s * s),
                        0.75 - math.log(2.0))
  np.testing.assert_allclose(float(_velocity(1.0, t)), ref1, rtol=1e-10)
  np.testing.assert_allclose(float(_velocity(2.0, t)), ref2, rtol=1e-10)
  # Odd in t.
  assert float(_velocity(2.0, -t)) == -float(_velocity(2.0, t))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nu", [0.7, 5.0, 50.0, 1e4])
def test_small_t_relative_accuracy(dtype, nu):
  # dt/dnu is odd and linear near 0: v(t)/t tends to a constant.
  t = np.array([1e-25, 1e-12, 1e-6], dtype)
  v = np.asarray(_velocity(np.full(3, nu, dtype), t), np.float64)
  slope_ref = _mp_velocity(nu, 1e-6) / 1e-6
  np.testing.assert_allclose(v / t.astype(np.float64), slope_ref,
                             rtol=TOL[dtype])


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_extreme_inputs_finite(dtype):
  nu = jnp.array([1e-2, 0.1, 0.5, 1.0, 3.0, 19.9, 20.0, 21.0, 100.0, 1e3, 1e5,
                  1e7], dtype)[:, None]
  t = jnp.array([0.0, 1e-30, 1e-10, 0.5, 2.0, 2.0001, 10.0, 1e5, 1e20, 1e38,
                 -1e38, jnp.inf, -jnp.inf], dtype)[None, :]
  v = _velocity(nu, t)
  assert v.dtype == dtype
  assert bool(jnp.all(jnp.isfinite(v)))
  # The kernel is elementwise, so the gradient of the sum is elementwise.
  grad = jax.jit(jax.grad(lambda n, s: student_t_velocity(n, s).sum(),
                          argnums=(0, 1)))
  gn, gt = grad(*jnp.broadcast_arrays(nu, t))
  assert bool(jnp.all(jnp.isfinite(gn))) and bool(jnp.all(jnp.isfinite(gt)))


def test_invalid_and_low_precision():
  v = _velocity(jnp.array([0.0, -1.0, jnp.nan, 1.0]),
                         jnp.array([1.0, 1.0, 1.0, jnp.nan]))
  assert bool(jnp.all(jnp.isnan(v)))
  for dt in (jnp.float16, jnp.bfloat16):
    v = _velocity(jnp.asarray(3.0, dt), jnp.asarray(1.5, dt))
    assert v.dtype == dt
    ref = float(_velocity(3.0, float(jnp.asarray(1.5, dt))))
    np.testing.assert_allclose(float(v), ref, rtol=1e-2)


GRAD_POINTS = np.array([(0.5, 3e4), (0.7, 0.2), (3.0, -1.5), (19.0, 2.5),
                        (25.0, 1.0), (25.0, 4.0), (400.0, -3.0), (1e5, 2.2),
                        (8.0, 1e-4), (0.05, 7.0)])


def test_first_derivatives_match_finite_differences():
  """grad wrt df and t (what Hessians of the library use) vs central FD.

  Batched: the kernel is elementwise, so grad of the sum is elementwise.
  """
  nu, t = GRAD_POINTS[:, 0], GRAD_POINTS[:, 1]
  g_nu, g_t = jax.jit(jax.grad(lambda n, s: student_t_velocity(n, s).sum(),
                               argnums=(0, 1)))(nu, t)
  h_nu, h_t = 1e-5 * nu, 1e-5 * np.abs(t)
  f = lambda n, s: np.asarray(_velocity(n, s))
  fd_nu = (f(nu + h_nu, t) - f(nu - h_nu, t)) / (2 * h_nu)
  fd_t = (f(nu, t + h_t) - f(nu, t - h_t)) / (2 * h_t)
  np.testing.assert_allclose(np.asarray(g_nu), fd_nu, rtol=1e-5)
  np.testing.assert_allclose(np.asarray(g_t), fd_t, rtol=1e-5)


def test_jit_matches_eager():
  nu, t, _ = _cases(np.float64)
  np.testing.assert_allclose(np.asarray(_velocity(nu, t)),
                             np.asarray(student_t_velocity(nu, t)),
                             rtol=1e-13, atol=0)


@pytest.mark.parametrize("dfs", [(2.0, 3.0), (2.0, 50.0), (30.0, 50.0)])
def test_vmap_over_df_runs_one_branch(dfs):
  """Under vmap over df the route choice stays one branch (a batch that mixes
  the continued-fraction and quadrature routes takes the branch with both)
  and equals per-df calls."""
  t = np.linspace(-30.0, 30.0, 41)
  mapped = jax.vmap(student_t_velocity, in_axes=(0, None))
  ref = np.stack([np.asarray(_velocity(d, t)) for d in dfs])
  np.testing.assert_allclose(np.asarray(mapped(jnp.asarray(dfs), t)), ref,
                             rtol=1e-13, atol=1e-300)
  assert "cond[" in str(jax.make_jaxpr(mapped)(jnp.asarray(dfs), t))
