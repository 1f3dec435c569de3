"""Tests of the Beta implicit-reparameterization kernel against mpmath.

References are computed independently: ``dI_x/da`` by ``mpmath.diff`` of
``mpmath.betainc(..., regularized=True)`` at 50 digits, divided by the density,
at exactly the float ``x`` (and float ``a``, ``b``) given to the kernel.
Run with ``-s`` to see the error table per parameter decade.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sc
import scipy.stats as st

jax.config.update("jax_enable_x64", True)

from irt_jax._src.special.beta import beta_velocity  # noqa: E402
from tests.references import beta_velocity_mp as _mp_velocity  # noqa: E402

GRID = np.geomspace(1e-2, 1e3, 8)
QUANTILES = np.array([1e-6, 1e-4, 1e-2, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99,
                      1 - 1e-4, 1 - 1e-6])
TOL = {np.float32: 1e-4, np.float64: 1e-9}
_jit_velocity = jax.jit(beta_velocity)


@functools.lru_cache(maxsize=None)
def _cases(dtype):
  """Inputs (a, b, x) in ``dtype`` on the grid and their references."""
  rows = []
  for a in GRID:
    for b in GRID:
      for u in QUANTILES:
        x = float(sc.betaincinv(a, b, u))
        af, bf, xf = (float(dtype(v)) for v in (a, b, x))
        rows.append((af, bf, xf) + _mp_velocity(af, bf, xf))
  arr = np.array(rows)
  return (arr[:, 0].astype(dtype), arr[:, 1].astype(dtype),
          arr[:, 2].astype(dtype), arr[:, 3], arr[:, 4])


def _rel_err(v, r):
  v = np.asarray(v, np.float64)
  return np.where(r == 0, np.abs(v), np.abs(v - r) / np.where(r == 0, 1, np.abs(r)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_accuracy_vs_mpmath(dtype):
  a, b, x, ra, rb = _cases(dtype)
  da, db = _jit_velocity(a, b, x)
  ea, eb = _rel_err(da, ra), _rel_err(db, rb)
  # XLA on CPU flushes subnormal inputs to zero: such x are read as x = 0,
  # where the velocity is 0 (the reference there is below 1e-290 / 1e-37).
  sub = x < np.finfo(dtype).tiny
  assert np.all(np.asarray(da)[sub] == 0) and np.all(np.asarray(db)[sub] == 0)
  ea[sub] = 0.0
  eb[sub] = 0.0
  print(f"\nBeta {dtype.__name__}: max relative error by decade "
        f"(rows a, cols b; dx/da | dx/db)")
  dec = lambda v: np.floor(np.log10(v) + 1e-6).astype(int)
  da_dec, db_dec = dec(a), dec(b)
  decades = sorted(set(da_dec))
  print("a\\b   " + " ".join(f"{'1e%d' % d:^19}" for d in decades))
  for i in decades:
    cells = []
    for j in decades:
      m = (da_dec == i) & (db_dec == j)
      cells.append(f"{ea[m].max():8.1e} | {eb[m].max():8.1e}")
    print(f"1e{i:<3} " + " ".join(cells))
  print(f"overall max: dx/da {ea.max():.2e}, dx/db {eb.max():.2e}")
  assert ea.max() <= TOL[dtype], ea.max()
  assert eb.max() <= TOL[dtype], eb.max()


# One (a, b) per call with many draws: the fraction's coefficients are then
# tabulated at the parameters' shape (``_coefficients_hoisted``), as in the
# sampler's gradient. Small and large depths, both sides of the switch.
HOISTED_PARAMS = [(0.5, 0.5), (0.01, 0.01), (0.02, 9.0), (9.0, 0.3), (3.0, 7.0),
                  (0.05, 800.0), (50.0, 20.0), (900.0, 1000.0)]


@functools.lru_cache(maxsize=None)
def _hoisted_cases(dtype, a, b):
  u = np.concatenate([np.geomspace(1e-6, 0.5, 100), 1 - np.geomspace(1e-6, 0.5, 100)[::-1]])
  x = sc.betaincinv(a, b, u).astype(dtype)
  # 200 points (a table of 2 (n_pairs + 1) <= 194 rows is then worth it);
  # x = 1 and x near the smallest normal (read as 0 by XLA on CPU, or with a
  # subnormal velocity) are replaced by the median.
  x[(x < 1e8 * np.finfo(dtype).tiny) | (x >= 1)] = sc.betaincinv(a, b, 0.5)
  af, bf = float(dtype(a)), float(dtype(b))
  # References (mpmath, the slow part) at every 4th point across the range.
  ref = np.array([_mp_velocity(af, bf, float(v)) for v in x[::4]])
  return x, ref[:, 0], ref[:, 1]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_accuracy_hoisted_vs_mpmath(dtype, monkeypatch):
  import irt_jax._src.special.beta as kernel
  calls = []
  hoisted = kernel._coefficients_hoisted
  monkeypatch.setattr(kernel, "_coefficients_hoisted",
                      lambda *args: calls.append(1) or hoisted(*args))
  worst = 0.0
  for a, b in HOISTED_PARAMS:
    x, ra, rb = _hoisted_cases(dtype, a, b)
    da, db = jax.jit(beta_velocity)(dtype(a), dtype(b), x)
    worst = max(worst, _rel_err(da[::4], ra).max(), _rel_err(db[::4], rb).max())
  print(f"\nBeta {dtype.__name__}, scalar parameters: max relative error {worst:.2e}")
  assert calls, "the hoisted coefficients were not used"
  assert worst <= TOL[dtype], worst


def test_hoisted_derivatives_match_finite_differences():
  """grad wrt scalar (a, b) of the velocity summed over many draws."""
  x = np.linspace(0.001, 0.999, 400)
  sums = jax.jit(lambda a, b: jnp.stack([v.sum() for v in beta_velocity(a, b, x)]))
  jac = jax.jit(jax.jacfwd(sums, argnums=(0, 1)))
  for a, b in [(0.5, 0.5), (3.0, 7.0), (40.0, 900.0)]:
    g = np.stack(jac(a, b), axis=1)   # [output, input]
    for k in range(2):
      h = 1e-6 * (a, b)[k]
      step = np.array([h, 0.0] if k == 0 else [0.0, h])
      fd = (sums(*((a, b) + step)) - sums(*((a, b) - step))) / (2 * h)
      np.testing.assert_allclose(g[:, k], fd, rtol=1e-6, err_msg=f"{a, b, k}")


def test_signs_on_grid():
  a, b, x, _, _ = _cases(np.float64)
  da, db = _jit_velocity(a, b, x)
  inner = (x >= np.finfo(np.float64).tiny) & (x < 1)
  assert np.all(np.asarray(da)[inner] > 0)
  assert np.all(np.asarray(db)[inner] < 0)


@pytest.mark.parametrize("s", [0.05, 0.7, 1.0, 4.0, 300.0])
def test_closed_forms(s):
  # I_x(a, 1) = x^a       => dx/da = -x log(x) / a.
  # I_x(1, b) = 1-(1-x)^b => dx/db = (1-x) log(1-x) / b.
  x = np.array([1e-9, 1e-3, 0.2, 0.5, 0.8, 0.999, 1 - 1e-9])
  da, _ = _jit_velocity(s, 1.0, x)
  np.testing.assert_allclose(da, -x * np.log(x) / s, rtol=1e-12)
  _, db = _jit_velocity(1.0, s, x)
  np.testing.assert_allclose(db, (1 - x) * np.log1p(-x) / s, rtol=1e-12)
  # Uniform: Beta(1, 1) at x = u.
  da, db = _jit_velocity(1.0, 1.0, x)
  np.testing.assert_allclose(da, -x * np.log(x), rtol=1e-12)
  np.testing.assert_allclose(db, (1 - x) * np.log1p(-x), rtol=1e-12)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_extreme_inputs_finite(dtype):
  p = jnp.array([1e-30, 1e-10, 1e-2, 0.5, 1.0, 3.0, 1e3, 1e5, 1e8], dtype)
  x = jnp.array([0.0, 1e-30, 1e-6, 0.3, 0.5, 0.7, 1 - 1e-6, 0.99999994, 1.0],
                dtype)
  a, b, xx = (v.ravel() for v in jnp.meshgrid(p, p, x, indexing="ij"))
  da, db = _jit_velocity(a, b, xx)
  assert da.dtype == dtype
  assert bool(jnp.all(jnp.isfinite(da))) and bool(jnp.all(jnp.isfinite(db)))
  # Endpoints do not move.
  ends = (xx == 0) | (xx == 1)
  assert bool(jnp.all(da[ends] == 0)) and bool(jnp.all(db[ends] == 0))
  # Once NaN (one draw per parameter set: the per-draw fraction; and the
  # band's cumulants, whose squares were subnormal in float32 at a + b = 2e10).
  for a, b, x in [(1e8, 0.01, 0.99999994), (1e8, 1e-30, 0.99999994),
                  (1e6, 0.01, 0.999999), (1e10, 1e10, 0.5), (1e-6, 1e4, 1e-4)]:
    v = _jit_velocity(*(jnp.full((1,), t, dtype) for t in (a, b, x)))
    assert all(bool(jnp.isfinite(c[0])) for c in v), (a, b, x, v)
    assert float(v[0][0]) > 0 > float(v[1][0]), (a, b, x, v)


# Large a + b with one concentration small or moderate: the distribution hugs
# x = 0 or 1, the fraction runs next to its switch point, and u = 1 - O(1e-8)
# once made 1 + d_1 round to 0 in float32 (NaN) while the central band's
# expansion, built for min(a, b) large, was 20x-1e5x off in float64.
SKEWED = [(0.01, 1e6), (0.5, 1e8), (3.0, 1e6), (10.0, 1e8), (100.0, 1e5), (300.0, 1e6)]


def _scipy_velocity(a, b, x):
  """``(dx/da, dx/db)`` by central differences of SciPy's ``betainc``
  (relative steps 1e-5 and 1e-6; ``None`` where the two disagree beyond
  1e-5 or a component is below 1e-280)."""
  pdf = np.exp(st.beta(a, b).logpdf(x))
  est = []
  for h in (1e-5, 1e-6):
    est.append([-(sc.betainc(a + s * (k == 0), b + s * (k == 1), x)
                  - sc.betainc(a - s * (k == 0), b - s * (k == 1), x)) / (2 * s) / pdf
                for k, s in ((0, a * h), (1, b * h))])
  (ra, rb), (ra2, rb2) = est
  if (abs(ra - ra2) > 1e-5 * abs(ra) or abs(rb - rb2) > 1e-5 * abs(rb)
      or min(abs(ra), abs(rb)) < 1e-280):
    return None
  return ra, rb


@functools.lru_cache(maxsize=None)
def _skewed_cases(dtype):
  rows = []
  for small, big in SKEWED:
    for a, b in ((small, big), (big, small)):
      for u in (1e-3, 0.03, 0.2, 0.5, 0.8, 0.97, 1 - 1e-3):
        x = float(dtype(sc.betaincinv(a, b, u)))
        af, bf = float(dtype(a)), float(dtype(b))
        # x within a few ulps of 0 or 1 carries no information in dtype.
        if not 1e3 * np.finfo(dtype).tiny < x < 1 - 64 * np.finfo(dtype).eps:
          continue
        ref = _scipy_velocity(af, bf, x)
        if ref is not None:
          rows.append((af, bf, x) + ref)
  arr = np.array(rows)
  return tuple(arr[:, i].astype(dtype if i < 3 else np.float64) for i in range(5))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_skewed_large_concentrations(dtype):
  a, b, x, ra, rb = _skewed_cases(dtype)
  # One draw per parameter set: the per-draw coefficients (no table).
  da, db = _jit_velocity(a, b, x)
  ea, eb = _rel_err(da, ra), _rel_err(db, rb)
  print(f"\nBeta {dtype.__name__}, skewed a + b up to 1e8: {len(a)} points, "
        f"max relative error dx/da {ea.max():.1e}, dx/db {eb.max():.1e}")
  # float32 keeps ~1e-2 relative in the large concentration's component up to
  # 1e6 and ~1e-1 at 1e8 (that component is ~ -x / b there; its bracket and
  # the fraction's tangent carry the loss), the other component ~1e-6.
  tol = (np.full(len(a), 1e-6) if dtype == np.float64
         else np.where(np.maximum(a, b) <= 1e6, 1e-2, 1e-1))
  assert np.all(ea <= tol) and np.all(eb <= tol), (ea.max(), eb.max())


def test_invalid_params_nan():
  da, db = _jit_velocity(jnp.array([0.0, -1.0, jnp.nan, 1.0, 1.0]),
                         jnp.array([1.0, 1.0, 1.0, 0.0, jnp.nan]), 0.5)
  assert bool(jnp.all(jnp.isnan(da))) and bool(jnp.all(jnp.isnan(db)))


def test_low_precision_upcast():
  for dt in (jnp.float16, jnp.bfloat16):
    da, db = _jit_velocity(jnp.asarray(2.0, dt), jnp.asarray(3.0, dt),
                           jnp.asarray(0.4, dt))
    assert da.dtype == dt and db.dtype == dt
    ref_da, ref_db = _jit_velocity(2.0, 3.0, float(jnp.asarray(0.4, dt)))
    np.testing.assert_allclose(float(da), float(ref_da), rtol=1e-2)
    np.testing.assert_allclose(float(db), float(ref_db), rtol=1e-2)


# Points spanning small/large concentrations, both sides of the switch point
# x = (a+1)/(a+b+2), tails, and the large-(a+b) central band.
GRAD_POINTS = [
    (0.5, 0.5, 0.3), (0.05, 2.0, 1e-8), (2.0, 0.05, 0.99), (3.0, 4.0, 0.2),
    (3.0, 4.0, 0.8), (200.0, 300.0, 0.35), (1000.0, 0.5, 0.9995),
    (0.01, 0.01, 0.5), (20000.0, 30000.0, 0.4), (7.0, 900.0, 0.001),
]


def test_first_derivatives_match_finite_differences():
  """grad of each output wrt each input (what Hessians of the library use).

  Batched: the kernel is elementwise, so grad of the sum is elementwise.
  """
  pts = np.array(GRAD_POINTS, np.float64)
  # Steps well inside the distance to the nearest singularity (x = 0 or 1).
  steps = 1e-5 * np.stack([pts[:, 0], pts[:, 1],
                           np.minimum(pts[:, 2], 1 - pts[:, 2])], axis=1)
  grads = jax.jit(lambda a, b, x: [
      jax.grad(lambda *v: beta_velocity(*v)[o].sum(), argnums=(0, 1, 2))(a, b, x)
      for o in range(2)])(*pts.T)
  for out in range(2):
    g = np.stack([np.asarray(v) for v in grads[out]], axis=1)
    assert np.all(np.isfinite(g))
    for k in range(3):
      hi, lo = pts.copy(), pts.copy()
      hi[:, k] += steps[:, k]
      lo[:, k] -= steps[:, k]
      fd = (np.asarray(_jit_velocity(*hi.T)[out])
            - np.asarray(_jit_velocity(*lo.T)[out])) / (2 * steps[:, k])
      np.testing.assert_allclose(g[:, k], fd, rtol=1e-5, atol=0,
                                 err_msg=f"output {out}, input {k}")


def test_jit_matches_eager():
  a, b, x, _, _ = _cases(np.float64)
  eager = beta_velocity(a, b, x)
  jitted = jax.jit(beta_velocity)(a, b, x)
  for e, j in zip(eager, jitted):
    np.testing.assert_allclose(np.asarray(j), np.asarray(e), rtol=1e-13, atol=0)
