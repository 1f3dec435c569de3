"""von Mises–Fisher on S^(d-1): Bessel numerics, the implicit velocity of
w = mu.z against mpmath and closed forms, samples against SciPy, Monte-Carlo
unbiasedness of first and second derivatives, transformations, bad input.

References are independent of irt_jax: mpmath (Bessel functions, quadrature
of dw/dkappa = int (t - A) g(t)/g(w) dt in the variable t), SciPy
(scipy.special.ive, scipy.stats.vonmises, scipy.stats.vonmises_fisher,
scipy.integrate.quad) and the d = 3 closed form w = 1 + log(u + (1-u)
e^{-2k})/k. Run with ``-s`` to print the measured errors.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.integrate as si
import scipy.special as sc
import scipy.stats as st

from irt_jax import von_mises_fisher as vmf
from irt_jax._src.special import vmf as kernel

KEY = jax.random.key(7)
F32, F64 = jnp.float32, jnp.float64


def unit(d, seed=0):
  v = np.random.default_rng(seed).normal(size=d)
  return v / np.linalg.norm(v)


def ratio(d, k):
  """A_d(kappa) and A_d'(kappa) from scipy.special.ive."""
  a = sc.ive(d / 2, k) / sc.ive(d / 2 - 1, k)
  return a, 1 - a * a - (d - 1) * a / k


def ratio_second(d, k):
  a, a1 = ratio(d, k)
  return -2 * a * a1 - (d - 1) * (a1 / k - a / k ** 2)


# ----------------------------------------------------------------------------
# Bessel functions.

@functools.lru_cache(maxsize=None)
def mp_bessel(nu, k):
  with mpmath.workdps(40):
    i0 = mpmath.besseli(nu, k)
    i1 = mpmath.besseli(nu + 1, k)
    r = i1 / i0
    return float(mpmath.log(i0) - k), float(r), float(1 - r)


BESSEL_D = np.array([2, 3, 4, 7, 10, 30, 61, 62, 63, 100, 1000, 2000])
BESSEL_K = np.geomspace(1e-8, 1e8, 23)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_bessel_against_mpmath(dtype):
  d, k = (g.ravel() for g in np.meshgrid(BESSEL_D, BESSEL_K, indexing="ij"))
  k = k.astype(dtype).astype(np.float64)  # exact in both dtypes
  nu = d / 2 - 1
  ref = np.array([mp_bessel(a, b) for a, b in zip(nu, k)])
  log_ive = np.asarray(kernel.log_bessel_ive(nu.astype(dtype), k.astype(dtype)),
                       np.float64)
  a, b = (np.asarray(v, np.float64) for v in
          kernel.bessel_ratio(nu.astype(dtype), k.astype(dtype)))
  err_log = np.max(np.abs(log_ive - ref[:, 0]) / np.maximum(1, np.abs(ref[:, 0])))
  err_a = np.max(np.abs(a / ref[:, 1] - 1))
  err_b = np.max(np.abs(b / ref[:, 2] - 1))
  print(f"\n{dtype.__name__}: log ive {err_log:.1e} (rel. to max(1,|.|)), "
        f"A {err_a:.1e}, 1-A {err_b:.1e}")
  tol = (1e-13, 1e-14, 1e-13) if dtype == F64 else (3e-5, 1e-6, 1e-4)
  assert err_log < tol[0] and err_a < tol[1] and err_b < tol[2]


def test_bessel_against_scipy_and_closed_forms():
  nu = np.repeat([0.0, 0.5, 1.0, 4.5, 49.0], 40)
  k = np.tile(np.geomspace(1e-3, 600, 40), 5)
  log_ive = jax.jit(kernel.log_bessel_ive)
  np.testing.assert_allclose(log_ive(nu, k), np.log(sc.ive(nu, k)), rtol=1e-13,
                             atol=1e-13)
  # d = 3: A = coth k - 1/k, 1 - A = 1/k - (coth k - 1) exactly.
  k = np.geomspace(1e-2, 1e7, 30)
  _, b = jax.jit(kernel.bessel_ratio)(0.5, k)
  np.testing.assert_allclose(b, 1 / k - 2 / np.expm1(np.minimum(2 * k, 700)),
                             rtol=1e-13)
  # Derivative of log I_nu in kappa (second order goes through it): A + nu/k.
  g = jax.jit(jax.vmap(jax.grad(log_ive, argnums=1), (None, 0)))(3.0, k)
  a, _ = kernel.bessel_ratio(3.0, k)
  np.testing.assert_allclose(g, a + 3.0 / k - 1, rtol=1e-9, atol=1e-14)


# ----------------------------------------------------------------------------
# The velocity kernel dw/dkappa.

@functools.lru_cache(maxsize=None)
def mp_dw_dkappa(d, k, s, c, dps=20):
  """dw/dkappa = int (t - A) g(t)/g(w) dt over the tail without cancellation,
  in the variable x = 1 -+ t, by mpmath.quad with breakpoints near both ends."""
  with mpmath.workdps(dps):
    d, k, s, c = (mpmath.mpf(float(v)) for v in (d, k, s, c))
    nu, alpha = d / 2 - 1, (d - 3) / 2
    a = mpmath.besseli(nu + 1, k) / mpmath.besseli(nu, k)
    b = 1 - a
    if not s <= b:  # lower tail: t -> -t, kappa -> -kappa, A -> -A.
      k, b, s = -k, 1 + a, c
    log_g = lambda x: -k * x + alpha * (mpmath.log(x) + mpmath.log(2 - x))
    top = log_g(s)
    f = lambda x: (b - x) * mpmath.exp(log_g(x) - top)
    near_w = [mpmath.mpf(x) for x in (1e-4, 1e-3, 1e-2, 0.1, 0.3)]
    near_pole = [mpmath.mpf(x) for x in (1e-3, 0.3)]
    pts = sorted(set([mpmath.mpf(0), s] + [s * x for x in near_pole]
                     + [s - s * x for x in near_w]))
    return float(mpmath.quad(f, pts))


def kernel_grid():
  """(d, kappa, 1-w, 1+w) over d in 2..1000, kappa in 1e-3..1e5, w in the
  bulk (mean, +-1 sd) and tails (-6, +4, +12 sd; 1e-4 of the way to the pole),
  all exactly representable in float32."""
  rows = []
  for d in (2, 3, 10, 100, 1000):
    for k in (1e-3, 0.3, 3.0, 30.0, 1e3, 1e5):
      # Only to place the points (mean 1 - b, variance A' = 1 - A^2 - (d-1)A/k).
      a, b = (float(v) for v in kernel.bessel_ratio(d / 2 - 1, k))
      sd = np.sqrt(max(1 - a * a - (d - 1) * a / k, b * b / d)) if k < 1e3 \
          else b / np.sqrt((d - 1) / 2)
      for z in (-6, -1, 0, 1, 4, 12):
        s = b + z * sd
        if 0 < s < 2:
          rows.append((d, k, s))
      rows.append((d, k, 1e-4 * b))
  rows = np.array(rows).astype(np.float32).astype(np.float64)
  return rows[:, 0], rows[:, 1], rows[:, 2], 2 - rows[:, 2]


@pytest.mark.parametrize("dtype", [F32, F64])
def test_w_velocity_against_mpmath(dtype):
  d, k, s, c = kernel_grid()
  ref = np.array([mp_dw_dkappa(*row) for row in zip(d, k, s, c)])
  rho = jax.jit(kernel.w_velocity)(d.astype(dtype), k.astype(dtype),
                                   s.astype(dtype), c.astype(dtype))
  got = np.asarray(rho, np.float64) * s * c
  err = np.abs(got / ref - 1)
  print(f"\n{dtype.__name__}: dw/dkappa max rel. error {err.max():.1e} over "
        f"{len(err)} (d, kappa, w); worst at d={d[err.argmax()]:g}, "
        f"kappa={k[err.argmax()]:g}, 1-w={s[err.argmax()]:.3g}")
  assert err.max() < (1e-9 if dtype == F64 else 1e-4)


def d3_closed_form(k, s):
  """dw/dkappa and d2w/dkappa2 at fixed u = F(w) for d = 3 (mpmath, 40 digits):
  w - 1 = G(k)/k, G = log1p((1-u) expm1(-2k)), 1 - u = expm1(-k s)/expm1(-2k),
  s = 1 - w; G' = N/D, G'' = (-2N D - N^2)/D^2 with N = -2(1-u)e^{-2k},
  D = 1 + (1-u) expm1(-2k)."""
  d1, d2 = [], []
  with mpmath.workdps(40):
    for kk, ss in zip(np.ravel(k), np.ravel(s)):
      kk, ss = mpmath.mpf(float(kk)), mpmath.mpf(float(ss))
      v = mpmath.expm1(-kk * ss) / mpmath.expm1(-2 * kk)
      den = 1 + v * mpmath.expm1(-2 * kk)
      num = -2 * v * mpmath.exp(-2 * kk)
      g0, g1 = mpmath.log(den), num / den
      g2 = (-2 * num * den - num * num) / den ** 2
      d1.append(float(g1 / kk - g0 / kk ** 2))
      d2.append(float(g2 / kk - 2 * g1 / kk ** 2 + 2 * g0 / kk ** 3))
  return np.reshape(d1, np.shape(k)), np.reshape(d2, np.shape(k))


def test_w_velocity_d3_closed_form():
  k = np.repeat(np.geomspace(1e-3, 1e4, 15), 40)
  q = np.tile(np.linspace(1e-4, 1 - 1e-4, 40), 15)   # P(1 - W <= s) = q
  s = -np.log1p(-q * -np.expm1(-2 * k)) / k           # inverse of that CDF
  s = np.minimum(s, 2 - 1e-12)
  d1, _ = d3_closed_form(k, s)
  got = np.asarray(jax.jit(kernel.w_velocity)(3, k, s, 2 - s)) * s * (2 - s)
  err = np.abs(got / d1 - 1)
  print(f"\nd = 3 closed form: max rel. error {err.max():.1e}")
  assert err.max() < 1e-12


# ----------------------------------------------------------------------------
# Samples and per-sample gradients. One compiled sampler + vjp per (d, dtype):
# the parameters are broadcast to [n, K] so that a single pullback returns
# every per-sample derivative.

BATCHES = {  # (d, dtype name) -> (kappas, n)
    (2, "float64"): ((1e-6, 1e-2, 0.3, 2.0, 15.0, 1e3, 1e5), 4000),
    (3, "float64"): ((1e-6, 1e-3, 0.2, 0.5, 2.5, 8.0, 40.0, 2000.0, 1e5), 10_000),
    (3, "float32"): ((1e-6, 1e-3, 0.5, 2.5, 40.0, 1e3, 1e5), 500),
    (10, "float64"): ((0.2, 0.7, 3.0, 8.0, 40.0, 2000.0), 10_000),
    (100, "float64"): ((0.2, 3.0, 40.0, 2000.0), 10_000),
    (1000, "float64"): ((1e-6, 1e-2, 1.0, 1e3, 1e5), 64),
    (1000, "float32"): ((1e-6, 1e-2, 1.0, 1e3, 1e5), 64),
}


def mean_direction(d):
  if d == 2:
    return np.array([np.cos(2.0), np.sin(2.0)])
  return unit(d, d)


@functools.lru_cache(maxsize=None)
def batch(d, dtype_name):
  """(kappas [K], mu [d], z [n, K, d], dw/dkappa [n, K], d z_last/dmu [n, K, d]),
  per-sample derivatives from one vjp per cotangent (mu for w = mu.z, e_d)."""
  kappas, n = BATCHES[(d, dtype_name)]
  dtype = jnp.dtype(dtype_name)
  kappas = np.asarray(kappas, dtype).astype(np.float64)  # exact in dtype
  mu = mean_direction(d)
  mu_full = jnp.broadcast_to(jnp.asarray(mu, dtype), (n, len(kappas), d))
  k_full = jnp.broadcast_to(jnp.asarray(kappas, dtype), (n, len(kappas)))
  z, dk, dmu = _draws_and_grads(KEY, mu_full, k_full)
  return kappas, mu, np.asarray(z), np.asarray(dk), np.asarray(dmu)


@jax.jit
def _draws_and_grads(key, mu_full, k_full):
  def f(m, k):
    return vmf.sample(key, vmf.Params(m, k))
  z, pullback = jax.vjp(f, mu_full, k_full)
  d = z.shape[-1]
  _, dk = pullback(jnp.broadcast_to(mu_full[0, 0], z.shape))
  dmu, _ = pullback(jnp.broadcast_to(jax.nn.one_hot(d - 1, d, dtype=z.dtype), z.shape))
  return z, dk, dmu


def mc_check(samples, truth, label):
  samples = np.asarray(samples, np.float64)
  mean = samples.mean(0)
  se = samples.std(0) / np.sqrt(samples.shape[0])
  z = np.abs(mean - truth) / np.maximum(se, 1e-300)
  print(f"\n{label}: max |mean - truth| / se = {np.max(z):.2f}")
  assert np.all(np.abs(mean - truth) < 5 * se + 1e-12), (label, mean, truth, se)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_d3_per_sample_gradient_is_the_closed_form(dtype):
  kappas, mu, z, dk, _ = batch(3, jnp.dtype(dtype).name)
  z, dk = z[:500], dk[:500]
  # 1 - w of the draw as represented: z and m = mu/|mu| in the working dtype.
  z64 = np.asarray(z, np.float64)
  m = jnp.asarray(mu, dtype)
  m = np.asarray(m / jnp.linalg.norm(m), np.float64)
  # Each side from the difference that keeps its digits (|z| is 1 only to
  # rounding, so 2 - s and 1 + w disagree by eps / (1 + w) near -mu).
  s = 0.5 * np.sum((z64 - m) ** 2, -1)
  s = np.where(s < 1, s, 2 - 0.5 * np.sum((z64 + m) ** 2, -1))
  d1, _ = d3_closed_form(np.broadcast_to(kappas, s.shape), s)
  err = np.abs(np.asarray(dk, np.float64) - d1)
  rel = err / np.abs(d1)
  print(f"\n{dtype.__name__}: d = 3 per-sample dw/dkappa vs closed form "
        f"(kappa 1e-6..1e5): max rel. error {rel.max():.1e}")
  if dtype == F64:
    assert rel.max() < 1e-10
  else:
    # Reading dw = mu.dz back in float32 loses eps |dz|, and near the pole the
    # tangential part |dz| = |dw| / sqrt(1 - w^2) dominates.
    eps = np.finfo(np.float32).eps
    assert np.all(err < np.abs(d1) * (1e-4 + 8 * eps / np.sqrt(s * (2 - s))))
  np.testing.assert_allclose(np.linalg.norm(z64, axis=-1), 1,
                             atol=1e-6 if dtype == F32 else 1e-13)


def test_d2_is_von_mises():
  """Angle of z w.r.t. mu ~ vonmises(kappa); dw/dkappa against finite
  differences of scipy's von Mises CDF."""
  kappas, mu, z, dk, _ = batch(2, "float64")
  phi = np.arctan2(mu[1], mu[0])
  theta = np.angle(np.exp(1j * (np.arctan2(z[..., 1], z[..., 0]) - phi)))
  for j in (2, 3, 4):
    k = kappas[j]
    assert st.kstest(theta[:, j], st.vonmises(k).cdf).pvalue > 1e-3
    a = np.abs(theta[:200, j])
    h = 1e-3 * k
    cdf = lambda kk: st.vonmises(kk).cdf(a)
    dfdk = (8 * (cdf(k + h) - cdf(k - h)) - (cdf(k + 2 * h) - cdf(k - 2 * h))) / (12 * h)
    ref = np.sin(a) * dfdk / st.vonmises(k).pdf(a)    # w = cos|theta|
    err = np.abs(dk[:200, j] - ref) / (np.abs(ref) + 1e-8)
    print(f"\nd = 2, kappa = {k}: dw/dkappa vs scipy vonmises FD: {err.max():.1e}")
    assert err.max() < 1e-6


def w_cdf(d, k, w):
  """P(mu.z <= w) by scipy quad of exp(k (t-1)) (1-t^2)^((d-3)/2)."""
  alpha = (d - 3) / 2
  f = lambda t: np.exp(k * (t - 1)) * (1 - t * t) ** alpha
  total = si.quad(f, -1, 1, epsabs=0, epsrel=1e-12, limit=200)[0]
  return np.array([si.quad(f, -1, x, epsabs=0, epsrel=1e-10, limit=200)[0]
                   for x in np.atleast_1d(w)]) / total


@pytest.mark.parametrize("d", [3, 10])
def test_w_marginal_ks_and_moments(d):
  kappas, mu, z, _, _ = batch(d, "float64")
  for j, k in enumerate(kappas):
    if k not in (0.5, 0.7, 8.0):
      continue
    w = z[:1000, j] @ mu
    p = st.kstest(w, lambda x: w_cdf(d, k, x)).pvalue
    assert p > 1e-3, (d, k, p)
    # E[z z^T] = (A/k) I + (1 - d A/k) mu mu^T: the direction v is uniform.
    a, _ = ratio(d, k)
    truth = (a / k) * np.eye(d) + (1 - d * a / k) * np.outer(mu, mu)
    outer = z[:, j, :, None] * z[:, j, None, :]
    mc_check(outer.reshape(len(z), -1), truth.ravel(), f"E[zz^T] d={d} k={k}")
    mc_check(z[:, j], a * mu, f"E[z] d={d} k={k}")


@pytest.mark.parametrize("d", [3, 10, 100])
def test_gradient_of_mean_resultant_length_is_unbiased(d):
  """d/dkappa E[mu.z] = A_d'(kappa) (from scipy.special.ive), 5 s.e."""
  kappas, _, _, dk, _ = batch(d, "float64")
  use = kappas >= 1e-3
  truth = np.array([ratio(d, k)[1] for k in kappas[use]])
  mc_check(dk[:, use], truth, f"dE[mu.z]/dkappa d={d}, kappa={kappas[use]}")


def test_gradient_wrt_mean_direction_is_unbiased():
  """d/dmu E[c.z] = A (I - m m^T) c / |mu| (E[z] = A mu/|mu|), c = e_d."""
  kappas, mu, _, _, dmu = batch(10, "float64")
  c = np.eye(10)[-1]
  for j, k in enumerate(kappas):
    a, _ = ratio(10, k)
    mc_check(dmu[:, j], a * (c - mu * (mu @ c)), f"dE[c.z]/dmu k={k}")


@pytest.mark.parametrize("d, dtype", [(2, F64), (3, F32), (1000, F32), (1000, F64)])
def test_extremes_are_finite(d, dtype):
  """kappa 1e-6 .. 1e5 and d = 1000: finite draws and gradients (both
  parameters), unit norm, w increasing in kappa, E[w] near A_d."""
  kappas, mu, z, dk, dmu = batch(d, jnp.dtype(dtype).name)
  for arr in (z, dk, dmu):
    assert np.all(np.isfinite(arr)), (d, dtype)
  assert np.all(dk >= 0)  # w increases with kappa at a fixed CDF value
  np.testing.assert_allclose(np.linalg.norm(z, axis=-1), 1, atol=1e-5)
  w = np.asarray(z[:, -1], np.float64) @ mu
  assert abs(w.mean() - mp_bessel(d / 2 - 1, kappas[-1])[1]) < 1e-3


def householder(m, y):
  """The documented map z = Q(m) y, Q = -sigma (I - 2uu^T/u.u), u = m + sigma e1."""
  sigma = 1.0 if m[0] >= 0 else -1.0
  u = m.copy()
  u[0] += sigma
  return -sigma * (y - 2 * u * (u @ y) / (u @ u))


@functools.lru_cache(maxsize=None)
def _jacobians(mode):
  f = lambda m, k: vmf.sample(KEY, vmf.Params(m, k), (6,), F64, mode=mode)
  aux = lambda m, k: (f(m, k), f(m, k))
  jac = jax.jacrev if mode == "vjp" else jax.jacfwd
  return jax.jit(jac(aux, argnums=(0, 1), has_aux=True))


@pytest.mark.parametrize("mu", [unit(5, 4), -unit(5, 4), np.eye(5)[0], -np.eye(5)[0]])
def test_per_sample_gradient_wrt_mean_direction_matches_explicit_formula(mu):
  """Jacobian dz/dmu against central differences of z = Q(mu/|mu|) y at fixed
  y = Q(m) z (numpy, float64); radial changes of mu do not move z; forward
  mode (mode="jvp") equals reverse mode for both parameters."""
  (jac, jac_k), z = _jacobians("vjp")(jnp.asarray(mu), 3.0)
  (jac_f, jac_kf), _ = _jacobians("jvp")(jnp.asarray(mu), 3.0)
  np.testing.assert_allclose(jac, jac_f, atol=1e-14)
  np.testing.assert_allclose(jac_k, jac_kf, atol=1e-14)
  z, jac = np.asarray(z), np.asarray(jac)
  h = 1e-6
  for i in range(len(z)):
    y = householder(mu, z[i])
    for j in range(5):
      e = np.eye(5)[j] * h
      plus, minus = mu + e, mu - e
      fd = (householder(plus / np.linalg.norm(plus), y)
            - householder(minus / np.linalg.norm(minus), y)) / (2 * h)
      np.testing.assert_allclose(jac[i, :, j], fd, atol=1e-8)
  np.testing.assert_allclose(jac @ mu, 0, atol=1e-13)


# ----------------------------------------------------------------------------
# Second order.

def test_second_order_d3_per_sample_and_unbiased():
  """d2w/dkappa2 per sample equals the d = 3 closed form, reverse-over-reverse
  equals forward-over-reverse, and the mean matches A''(kappa)."""
  mu = unit(3, 5)
  kappas = jnp.array([0.5, 4.0, 60.0])
  n = 10_000
  k_full = jnp.broadcast_to(kappas, (n, 3))

  def first(k, mode):
    return jax.grad(lambda kk: jnp.sum(
        vmf.sample(KEY, vmf.Params(mu, kk), dtype=F64, mode=mode) @ mu))(k)

  @jax.jit
  def both(k):
    h_rr = jax.grad(lambda kk: jnp.sum(first(kk, "vjp")))(k)
    h_fr = jax.jvp(lambda kk: first(kk, "jvp"), (k,), (jnp.ones_like(k),))[1]
    z = vmf.sample(KEY, vmf.Params(mu, k), dtype=F64)
    return z, h_rr, h_fr

  z, h_rr, h_fr = both(k_full)
  np.testing.assert_allclose(h_rr, h_fr, rtol=1e-10, atol=1e-14)
  s = 0.5 * np.sum((np.asarray(z[:300]) - mu) ** 2, -1)
  _, d2 = d3_closed_form(np.asarray(k_full[:300]), s)
  err = np.abs(np.asarray(h_rr[:300]) - d2) / np.abs(d2)
  print(f"\nd = 3 per-sample d2w/dkappa2 vs closed form: max rel. error {err.max():.1e}")
  assert err.max() < 1e-8
  mc_check(h_rr, np.array([ratio_second(3, float(k)) for k in kappas]),
           "d2E[mu.z]/dkappa2 d=3")


def test_hessian_jvp_mode_runs_and_is_finite():
  mu = jnp.asarray(unit(4, 6))
  f = lambda p: jnp.sum(vmf.sample(KEY, vmf.Params(p[:4], p[4]), (64,), F64,
                                   mode="jvp") @ jnp.arange(4.0))
  hess = jax.jit(jax.hessian(f))(jnp.concatenate([mu, jnp.array([2.0])]))
  assert hess.shape == (5, 5) and bool(jnp.all(jnp.isfinite(hess)))
  np.testing.assert_allclose(hess, hess.T, atol=1e-9)


# ----------------------------------------------------------------------------
# Transformations, shapes, log_prob, bad input.

def test_grad_of_vmap_over_keys_and_concentrations():
  """(jit = eager and vmap over keys / params: the contract battery.)"""
  mu = jnp.asarray(unit(4, 8))
  ks = jnp.array([0.5, 5.0, 50.0])
  keys = jax.random.split(KEY, 3)
  one = lambda key, k: vmf.sample(key, vmf.Params(mu, k), (16,), F64)
  g_vmap = jax.jit(jax.grad(lambda k: jnp.sum(jax.vmap(one)(keys, k) @ mu)))(ks)
  g_one = jax.grad(lambda k, key: jnp.sum(one(key, k) @ mu))
  g_loop = jnp.stack([g_one(ks[i], keys[i]) for i in range(3)])
  np.testing.assert_allclose(g_vmap, g_loop, rtol=1e-12)


def test_shapes_broadcasting_and_dtypes():
  shape_of = lambda *a, **k: jax.eval_shape(lambda: vmf.sample(*a, **k))
  mus = jnp.asarray(np.stack([unit(3, 0), unit(3, 1)]))      # batch (2,)
  p = vmf.Params(mus, jnp.array([[1.0], [2.0], [3.0]]))     # batch (3, 2)
  assert shape_of(KEY, p).shape == (3, 2, 3)
  assert shape_of(KEY, p, (5, 3, 2)).shape == (5, 3, 2, 3)
  with pytest.raises(ValueError, match="shape"):
    vmf.sample(KEY, p, (5, 2))
  assert shape_of(KEY, p, dtype=F32).dtype == F32
  assert shape_of(KEY, vmf.Params(mus.astype(F32), 1.0)).dtype == F32
  assert shape_of(jax.random.PRNGKey(0), vmf.Params(unit(2), 1.0), (3,)).shape == (3, 2)
  assert vmf.mean(p).shape == (3, 2, 3)
  assert vmf.log_prob(p, jnp.ones((4, 1, 1, 3)) / np.sqrt(3)).shape == (4, 3, 2)
  assert vmf.event_ndims == 1


@functools.lru_cache(maxsize=None)
def mp_log_normalizer(d, k):
  with mpmath.workdps(40):
    nu = mpmath.mpf(d) / 2 - 1
    k = mpmath.mpf(k)
    return float(nu * mpmath.log(k) - mpmath.mpf(d) / 2 * mpmath.log(2 * mpmath.pi)
                 - mpmath.log(mpmath.besseli(nu, k)))


def test_log_prob_and_mean_against_mpmath_and_scipy():
  rng = np.random.default_rng(0)
  kappas = np.array([1e-3, 0.7, 30.0, 3000.0])
  for d in (2, 3, 5, 50, 300):
    mu = unit(d, d)
    x = rng.normal(size=(4, d))
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    x[0] = mu
    got = vmf.log_prob(vmf.Params(mu, kappas[:, None]), x)     # [kappa, point]
    means = vmf.mean(vmf.Params(mu, kappas))
    for i, k in enumerate(kappas):
      ref = mp_log_normalizer(d, k) + k * (x @ mu)
      np.testing.assert_allclose(got[i], ref, rtol=1e-12, atol=1e-12)
      with np.errstate(divide="ignore"):
        scipy_ref = st.vonmises_fisher(mu, k).logpdf(x)
      if np.all(np.isfinite(scipy_ref)):   # scipy underflows at d=300, k=1e-3
        np.testing.assert_allclose(got[i], scipy_ref, rtol=1e-10)
      a = mp_bessel(d / 2 - 1, k)[1]
      np.testing.assert_allclose(means[i], a * mu, rtol=1e-13, atol=1e-300)
  # d = 2 is the von Mises density of the angle.
  np.testing.assert_allclose(
      vmf.log_prob(vmf.Params([1.0, 0.0], 2.5), [np.cos(1.0), np.sin(1.0)]),
      st.vonmises(2.5).logpdf(1.0), rtol=1e-12)
  # Gradient of log_prob in kappa at z = mu: 1 - A (the score).
  g = jax.grad(lambda kk: vmf.log_prob(vmf.Params(unit(7), kk), unit(7)))(4.0)
  np.testing.assert_allclose(g, 1 - ratio(7, 4.0)[0], rtol=1e-12)


def test_bad_input():
  mu = unit(3)
  with pytest.raises(ValueError, match="mean_direction"):
    vmf.sample(KEY, vmf.Params(2 * mu, 1.0))
  with pytest.raises(ValueError, match="mean_direction"):
    vmf.sample(KEY, vmf.Params(np.zeros(3), 1.0))
  with pytest.raises(ValueError, match="mean_direction"):
    vmf.sample(KEY, vmf.Params([np.nan, 0.0, 1.0], 1.0))
  with pytest.raises(ValueError, match="mean_direction"):
    vmf.sample(KEY, vmf.Params([1.0], 1.0))      # d = 1
  with pytest.raises(ValueError, match="mean_direction"):
    vmf.log_prob(vmf.Params(3 * mu, 1.0), mu)
  with pytest.raises(ValueError, match="mean_direction"):
    vmf.mean(vmf.Params(3 * mu, 1.0))
  for bad in (0.0, -1.0, np.nan, np.inf):
    with pytest.raises(ValueError, match="concentration"):
      vmf.sample(KEY, vmf.Params(mu, bad))
  with pytest.raises(ValueError, match="event axis"):
    vmf.log_prob(vmf.Params(mu, 1.0), np.ones(4) / 2)
  with pytest.raises(ValueError, match="mode"):
    vmf.sample(KEY, vmf.Params(mu, 1.0), mode="fwd")
  with pytest.raises(TypeError, match="params"):
    vmf.sample(KEY, (mu, 1.0))
  with pytest.raises(TypeError, match="key"):
    vmf.sample(0, vmf.Params(mu, 1.0))
  with pytest.raises(ValueError, match="parameter shapes"):
    vmf.sample(KEY, vmf.Params(np.stack([mu, mu]), np.ones(3)))
  # Under jit the values cannot be checked: NaN where a parameter is invalid.
  f = jax.jit(lambda m, k: vmf.sample(KEY, vmf.Params(m, k), (2, 2), F64))
  good = jnp.asarray(mu)
  z = f(jnp.stack([good, 2 * good]), jnp.array([1.0, 1.0]))
  assert bool(jnp.all(jnp.isfinite(z[:, 0]))) and bool(jnp.all(jnp.isnan(z[:, 1])))
  z = f(jnp.stack([good, good]), jnp.array([1.0, -1.0]))
  assert bool(jnp.all(jnp.isfinite(z[:, 0]))) and bool(jnp.all(jnp.isnan(z[:, 1])))
  lp = jax.jit(lambda m: vmf.log_prob(vmf.Params(m, 1.0), mu))(2 * good)
  assert bool(jnp.isnan(lp))
