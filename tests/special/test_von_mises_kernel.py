"""Tests of the von Mises CDF / velocity kernel against mpmath.

Reference: ``dx/dkappa = -(dF/dkappa)/f`` by ``mpmath.quad`` (30 digits) of
``f(t)/f(x) * (cos t - A)``, ``A = I1/I0`` from ``mpmath.besseli``, on
``[0, x]`` for ``|x| <= 2 arccos(A)`` and on ``[x, pi]`` beyond (a different
switch from the kernel's); the identity itself is checked against
``mpmath.diff`` of the CDF integral. Run with ``-s`` to print the error table
(max relative error per dtype and region).
"""

import functools

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as st

jax.config.update("jax_enable_x64", True)

from irt_jax._src.special import von_mises as K  # noqa: E402


def _mp_velocity(x, k):
  """-(dF/dkappa)/f at mpf ``x``, ``k`` in the current mpmath precision."""
  if x == 0:
    return mp.mpf(0)
  a = mp.besseli(1, k) / mp.besseli(0, k)
  s, xa = mp.sign(x), abs(x)
  sd = 1 / mp.sqrt(k) if k > 1 else mp.mpf(1)
  g = lambda t: mp.exp(k * (mp.cos(t) - mp.cos(xa))) * (mp.cos(t) - a)
  step = sd / 4
  if xa <= 2 * mp.acos(a):
    pts = [mp.mpf(0)]
    while step < xa:
      pts.append(step)
      step *= 2
    return -s * mp.quad(g, pts + [xa])
  pts = [xa]
  while xa + step < mp.pi:
    pts.append(xa + step)
    step *= 2
  return s * mp.quad(g, pts + [mp.pi])


@functools.lru_cache(maxsize=None)
def mp_velocity(x: float, kappa: float, dps: int = 30) -> float:
  """dx/dkappa at exactly the floats given, by mpmath quadrature."""
  with mp.workdps(dps):
    return float(_mp_velocity(mp.mpf(x), mp.mpf(kappa)))


@functools.lru_cache(maxsize=None)
def mp_cdf(x: float, kappa: float) -> float:
  """F(x; kappa) (x < 0) or the upper tail 1 - F (x > 0), by mpmath.quad."""
  with mp.workdps(30):
    k, xa = mp.mpf(kappa), abs(mp.mpf(x))
    sd = 1 / mp.sqrt(k) if k > 1 else mp.mpf(1)
    pts = [xa] + [xa + sd * 2 ** j for j in range(-2, 12) if xa + sd * 2 ** j < mp.pi]
    tail = mp.quad(lambda t: mp.exp(k * (mp.cos(t) - 1)), pts + [mp.pi])
    return float(tail / (2 * mp.pi * mp.besseli(0, k) * mp.exp(-k)))


def x_grid(kappa):
  """Multiples of the standard deviation, the switch at arccos(A), and +-pi."""
  sd = min(1 / np.sqrt(kappa), 1.0)
  a = sp.ive(1, kappa) / sp.ive(0, kappa)
  t0 = 2 * np.arcsin(np.sqrt((1 - a) / 2))
  xs = [s * sd for s in (1e-6, 0.01, 0.3, 0.9, 1.5, 2, 3, 5, 7, 10)]
  xs += [t0 * (1 - 1e-6), t0 * (1 + 1e-6), np.pi / 2, 2.5, 2.78, 2.97, 3.1,
         np.pi - 1e-6]   # 2.78 / 2.97: hardest tails of a dense scan
  return np.array([x for x in xs if x < np.pi]), sd


def cases(dtype, kappas):
  rows = []
  for k in kappas:
    xs, sd = x_grid(k)
    kf = dtype(k)
    for x in xs:
      xf = dtype(x)
      ref = mp_velocity(float(xf), float(kf))
      rows += [(xf, kf, ref, x / sd), (-xf, kf, -ref, x / sd)]
  r = np.array(rows, dtype=np.float64)
  return r[:, 0].astype(dtype), r[:, 1].astype(dtype), r[:, 2], r[:, 3]


_velocity = jax.jit(K.von_mises_velocity)
_cdf = jax.jit(K.von_mises_cdf)
_sf = jax.jit(K.von_mises_sf)

# Includes both sides of every node-count tier bound (float64: 1, 3, 8;
# float32: 2, 5) and of the series thresholds (10, 20).
F64_KAPPAS = [1e-3, 0.03, 0.5, 0.99, 1.01, 2.0, 2.99, 3.01, 7.99, 8.01, 9.99, 10.01,
              19.99, 20.01, 100.0, 1e3, 1e4]
F32_KAPPAS = [50.0, 200.0, 500.0]


def per_kappa(x, k):
  """The kernel called once per kappa value: the node count follows the
  largest kappa of a call, so this is how each tier gets tested."""
  v = np.empty(x.shape, np.float64)
  for kk in np.unique(k):
    m = k == kk
    v[m] = np.asarray(_velocity(x[m], kk), np.float64)
  return v


def test_reference_identity_against_differentiated_cdf():
  """-(dF/dkappa)/f from mpmath.diff of the CDF integral == mp_velocity."""
  with mp.workdps(30):
    for x, k in [(0.3, 0.5), (2.0, 3.0), (-1.0, 2.0), (0.5, 50.0), (3.0, 1e-3)]:
      cdf = lambda kk: (mp.quad(lambda t: mp.exp(kk * mp.cos(t)), [-mp.pi, 0, x])
                        / (2 * mp.pi * mp.besseli(0, kk)))
      pdf = mp.exp(k * mp.cos(x)) / (2 * mp.pi * mp.besseli(0, k))
      ref = -mp.diff(cdf, mp.mpf(k)) / pdf
      assert abs(mp_velocity(x, k) / float(ref) - 1) < 1e-12


def test_float64_velocity_within_1e9_everywhere():
  x, k, ref, _ = cases(np.float64, F64_KAPPAS)
  v = per_kappa(x, k)
  err = np.abs(v - ref) / np.abs(ref)
  print("\nvon Mises dx/dkappa, float64, max relative error vs mpmath:")
  for kk in F64_KAPPAS:
    m = k == kk
    print(f"  kappa={kk:g}: {err[m].max():.2e}")
  assert err.max() <= 1e-9, err.max()


def test_float32_velocity_bulk_and_tails():
  x, k, ref, nsd = cases(np.float32, F32_KAPPAS)
  v = per_kappa(x, k)
  err = np.abs(v - ref) / np.abs(ref)
  bulk, out10 = nsd <= 3, nsd <= 10
  print("\nvon Mises dx/dkappa, float32, max relative error vs mpmath:")
  for kk in F32_KAPPAS:
    m = k == np.float32(kk)
    print(f"  kappa={kk:g}: |x|<=3sd {err[m & bulk].max():.2e}, "
          f"<=10sd {err[m & out10].max():.2e}, all x {err[m].max():.2e}")
  assert err[bulk].max() <= 1e-5
  assert err[out10].max() <= 1e-4
  assert err.max() <= 1e-4


def test_float32_other_kappas():
  kappas = [1e-3, 0.5, 1.99, 2.01, 4.99, 5.01, 8.0, 9.99, 10.01, 1e4]
  x, k, ref, _ = cases(np.float32, kappas)
  v = per_kappa(x, k)
  err = np.abs(v - ref) / np.abs(ref)
  print("\nvon Mises dx/dkappa, float32, max relative error vs mpmath:")
  for kk in kappas:
    print(f"  kappa={kk:g}: {err[k == np.float32(kk)].max():.2e}")
  assert err.max() <= 2e-6, err.max()


def test_mixed_kappas_and_vmap_use_the_largest_tier():
  """One call with small and large kappa, or a vmap over kappa, takes the
  node count of the largest (still one branch under vmap) and agrees with
  per-kappa calls."""
  x = np.linspace(-3.1, 3.1, 101)
  kappas = np.array([0.5, 4.0, 50.0])
  ref = np.stack([np.asarray(_velocity(x, kk)) for kk in kappas])
  mixed = np.asarray(_velocity(x[None], kappas[:, None]))
  mapped = jax.vmap(K.von_mises_velocity, in_axes=(None, 0))
  np.testing.assert_allclose(mixed, ref, rtol=1e-13, atol=1e-15)
  np.testing.assert_allclose(np.asarray(mapped(x, kappas)), ref, rtol=1e-13, atol=1e-15)
  jaxpr = str(jax.make_jaxpr(mapped)(x, kappas))
  assert "cond[" in jaxpr and jaxpr.count("exp ") < 200


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
def test_continuous_across_every_switch(dtype, tol):
  # Quadrature switch at x = arccos(A): both sides agree to rounding.
  for kappa in (0.01, 1.0, 10.0, 300.0, 1e4):
    a = sp.ive(1, kappa) / sp.ive(0, kappa)
    t0 = 2 * np.arcsin(np.sqrt((1 - a) / 2))
    eps = 4 * np.finfo(dtype).eps
    lo, hi = _velocity(dtype(t0 * (1 - eps)), dtype(kappa)), _velocity(
        dtype(t0 * (1 + eps)), dtype(kappa))
    assert abs(float(hi) / float(lo) - 1) < tol + 10 * eps, kappa
  # Tail interval cut at L = L_cut (20 / 40) or not, which happens at
  # cos^2(x/2) = L_cut / (2 kappa); and the form of sin((t + x)/2) at pi/2.
  l_cut = 20.0 if dtype == np.float32 else 40.0
  for kappa, x0 in ((50.0, 2 * np.arccos(np.sqrt(l_cut / 100.0))), (300.0, np.pi / 2)):
    xs = np.array([x0 * (1 - 1e-6), x0 * (1 + 1e-6)], dtype)
    v = np.asarray(_velocity(xs, dtype(kappa)), np.float64)
    ref = [mp_velocity(float(x), float(dtype(kappa))) for x in xs]
    np.testing.assert_allclose(v, ref, rtol=tol)
  # Series switch of 1 - A in kappa (10 in float32, 20 in float64); the tail
  # interval is never cut below the same kappa.
  k0 = 10.0 if dtype == np.float32 else 20.0
  ks = np.array([np.nextafter(dtype(k0), dtype(0)), dtype(k0)], dtype)
  c = np.asarray(K.circular_variance(ks), np.float64)
  ref = [1 - float(mp.besseli(1, float(kk)) / mp.besseli(0, float(kk))) for kk in ks]
  np.testing.assert_allclose(c, ref, rtol=tol)
  v = np.asarray(_velocity(np.full(2, dtype(0.2)), ks), np.float64)
  np.testing.assert_allclose(v, [mp_velocity(float(dtype(0.2)), float(kk)) for kk in ks],
                             rtol=tol)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-13), (np.float32, 2e-6)])
def test_resultant_length_and_circular_variance(dtype, tol):
  ks = np.concatenate([np.geomspace(1e-6, 1e7, 27), [7.99, 8.0, 8.01]]).astype(dtype)
  a = np.asarray(K.mean_resultant_length(ks), np.float64)
  c = np.asarray(K.circular_variance(ks), np.float64)
  k64 = ks.astype(np.float64)
  np.testing.assert_allclose(a, sp.ive(1, k64) / sp.ive(0, k64), rtol=tol)
  with mp.workdps(40):
    ref_c = [float(1 - mp.besseli(1, float(k)) / mp.besseli(0, float(k))) for k in ks]
  # c is relatively accurate even where 1 - i1e/i0e would cancel (float32
  # i1e is 1e-6 off near kappa = 8, which made that difference 1.2e-5 off).
  np.testing.assert_allclose(c, ref_c, rtol=tol / 4)


def test_derivatives_of_the_velocity():
  """dv/dx = kappa sin(x) v - (cos x - A) (transport equation), and dv/dkappa
  against mpmath.diff of the reference: second order rests on these."""
  grads = jax.jit(jax.vmap(jax.grad(K.von_mises_velocity, (0, 1))))
  xs = np.array([0.05, 0.3, -1.0, 2.0, 3.0])
  for kappa in (0.5, 5.0, 60.0):
    a = sp.ive(1, kappa) / sp.ive(0, kappa)
    v = np.asarray(_velocity(xs, kappa))
    dv_dx, dv_dk = (np.asarray(g) for g in grads(xs, np.full(5, kappa)))
    np.testing.assert_allclose(dv_dx, kappa * np.sin(xs) * v - (np.cos(xs) - a),
                               rtol=1e-10, atol=1e-14)
    with mp.workdps(25):
      ref = [float(mp.diff(lambda kk: _mp_velocity(mp.mpf(x), kk), kappa))
             for x in xs[[0, 2, 4]]]
    np.testing.assert_allclose(dv_dk[[0, 2, 4]], ref, rtol=1e-8)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_cdf_relative_accuracy_in_both_tails(dtype, tol):
  for kappa in (1e-3, 2.0, 4.0, 500.0):   # one per node tier
    xs, _ = x_grid(kappa)
    xs = xs[::2].astype(np.float32)   # the same points in both dtypes
    ref = np.array([mp_cdf(float(x), kappa) for x in xs])
    keep = ref > 1e-30     # float32 underflow below that
    lower = np.asarray(_cdf(-xs.astype(dtype), dtype(kappa)), np.float64)
    upper = np.asarray(_sf(xs.astype(dtype), dtype(kappa)), np.float64)
    np.testing.assert_allclose(lower[keep], ref[keep], rtol=tol)
    np.testing.assert_allclose(upper[keep], ref[keep], rtol=tol)


def test_cdf_matches_scipy():
  x = np.linspace(-np.pi, np.pi, 33)
  kappa = np.array([1e-3, 0.5, 3.0, 10.0])[:, None]
  np.testing.assert_allclose(_cdf(x, kappa), st.vonmises(kappa).cdf(x),
                             rtol=1e-12, atol=1e-14)
  assert 0.0 <= float(_cdf(-np.pi, 2.0)) < 1e-17   # float(pi) < pi
  assert float(_cdf(np.pi, 2.0)) == 1.0


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_extreme_inputs_finite(dtype):
  kappa = jnp.array([0.0, 1e-30, 1e-8, 1e-3, 1.0, 1e3, 1e5, 1e7, 1e20], dtype)[:, None]
  x = jnp.array([-jnp.pi, -3.0, -1e-3, -1e-30, 0.0, 1e-30, 1e-4, 0.5, 3.14159,
                 jnp.pi], dtype)[None, :]
  kb, xb = jnp.broadcast_arrays(kappa, x)
  v = _velocity(xb, kb)
  f = _cdf(xb, kb)
  assert v.dtype == dtype and f.dtype == dtype
  assert bool(jnp.all(jnp.isfinite(v)))
  assert bool(jnp.all((f >= 0) & (f <= 1)))
  # Second order needs finite derivatives of the velocity in both arguments.
  gx, gk = jax.jit(jax.vmap(jax.grad(K.von_mises_velocity, (0, 1))))(
      xb.ravel(), kb.ravel())
  assert bool(jnp.all(jnp.isfinite(gx))) and bool(jnp.all(jnp.isfinite(gk)))
  # dx/dkappa -> -sin x as kappa -> 0; zero at 0 and +-pi.
  np.testing.assert_allclose(v[0], -np.sin(np.asarray(x[0], np.float64)), atol=1e-6)
  assert float(v[4, 4]) == 0.0


def test_invalid_inputs_give_nan():
  v = _velocity(jnp.array([0.5, 0.5, jnp.nan]), jnp.array([-1.0, jnp.inf, 1.0]))
  f = _cdf(jnp.array([0.5, 0.5, jnp.nan]), jnp.array([-1.0, jnp.nan, 1.0]))
  assert bool(jnp.all(jnp.isnan(v))) and bool(jnp.all(jnp.isnan(f)))
  assert bool(jnp.isnan(K.circular_variance(-2.0)))
