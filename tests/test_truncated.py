"""Truncated families: irt_jax.truncated.of(base).

Samples against SciPy's truncnorm / truncated-gamma and truncated-t CDFs built
from SciPy's cdf and sf (KS); per-sample dz/d(base params, low, high) against
central differences of the truncated CDF in mpmath (40 digits) divided by its
density (normal, gamma, Student-t; float32 and float64); the identity dz/dloc =
1 - dz/dlow - dz/dhigh (normal, Student-t); Monte-Carlo unbiasedness against the
closed-form truncated-normal and truncated-t means (differentiated by mpmath);
bounds 10 and 40 sd (t: up to 1000 scale units) out, one- and two-sided, tiny
and infinite intervals; jit, vmap, grad of vmap, forward mode, second order;
bad input; NumPyro.
"""

import functools

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import scipy.stats as st

import irt_jax as irt
from irt_jax import truncated
from tests.references import student_t_velocity_mp
from tests.util import per_sample_second

KEY = jax.random.key(0)
TN = truncated.of(irt.normal)
TG = truncated.of(irt.gamma)
INF = np.inf

LOC, SCALE = 0.3, 1.2
# Standardized bounds (alpha, beta): bulk, 10 sd one-sided (both tails),
# 10 sd out on both sides, no truncation, [5, inf), 40 sd, a short interval.
STD_BOUNDS = [(-1.0, 2.0), (10.0, INF), (-INF, -10.0), (10.0, 12.0),
              (-INF, INF), (5.0, INF), (40.0, INF), (-3.0, -2.5)]
K = len(STD_BOUNDS)
ALPHA = np.array([b[0] for b in STD_BOUNDS])
BETA = np.array([b[1] for b in STD_BOUNDS])


def normal_params(dtype, alpha=ALPHA, beta=BETA):
  return truncated.Params(
      irt.normal.Params(jnp.asarray(LOC, dtype), jnp.asarray(SCALE, dtype)),
      jnp.asarray(LOC + SCALE * alpha, dtype), jnp.asarray(LOC + SCALE * beta, dtype))


# ------------------------------------------------------- mpmath references

mp.mp.dps = 40


def _normal_cdf_sf(loc, scale):
  c = scale * mp.sqrt(2)
  return (lambda x: mp.erfc(-(x - loc) / c) / 2), (lambda x: mp.erfc((x - loc) / c) / 2)


def _gamma_cdf_sf(a, rate):
  return ((lambda x: mp.gammainc(a, 0, rate * x, regularized=True) if x > 0 else mp.mpf(0)),
          (lambda x: mp.gammainc(a, rate * x, mp.inf, regularized=True) if x > 0 else mp.mpf(1)))


CDF_SF = {"normal": _normal_cdf_sf, "gamma": _gamma_cdf_sf}


def ref_t(name, theta, z):
  """Truncated CDF T(z) in mpmath; theta = base params + [low, high]."""
  cdf, sf = CDF_SF[name](*theta[:-2])
  low, high = theta[-2], theta[-1]
  if low > -mp.inf and cdf(low) > 0.5:   # upper half: differences of S
    sb = sf(high) if high < mp.inf else mp.mpf(0)
    return (sf(low) - sf(z)) / (sf(low) - sb)
  fa = cdf(low) if low > -mp.inf else mp.mpf(0)
  fb = cdf(high) if high < mp.inf else mp.mpf(1)
  return (cdf(z) - fa) / (fb - fa)


def ref_velocity(name, theta, z, h=mp.mpf("1e-15")):
  """dz/dtheta_i = -(dT/dtheta_i) / (dT/dz), central differences in mpmath."""
  theta = [mp.mpf(float(v)) for v in theta]
  z = mp.mpf(float(z))
  hz = h * max(abs(z), 1)
  dtdz = (ref_t(name, theta, z + hz) - ref_t(name, theta, z - hz)) / (2 * hz)
  out = []
  for i, v in enumerate(theta):
    if not mp.isfinite(v):
      out.append(0.0)
      continue
    hi = h * max(abs(v), 1)
    up, dn = list(theta), list(theta)
    up[i] += hi
    dn[i] -= hi
    out.append(float(-(ref_t(name, up, z) - ref_t(name, dn, z)) / (2 * hi) / dtdz))
  return np.array(out)


def ref_normal_mean(loc, scale, low, high):
  """Closed form loc + scale (phi(a) - phi(b)) / (Phi(b) - Phi(a)), mpmath."""
  a, b = (low - loc) / scale, (high - loc) / scale
  phi = lambda t: mp.npdf(t) if mp.isfinite(t) else mp.mpf(0)
  if a > 0:
    z = mp.ncdf(-a) - mp.ncdf(-b)
  else:
    z = mp.ncdf(b) - mp.ncdf(a)
  return loc + scale * (phi(a) - phi(b)) / z


def ref_mean_derivatives(loc, scale, low, high, h=mp.mpf("1e-12")):
  theta = [mp.mpf(v) for v in (loc, scale, low, high)]
  out = []
  for i in range(4):
    if not mp.isfinite(theta[i]):
      out.append(0.0)
      continue
    up, dn = list(theta), list(theta)
    up[i] += h
    dn[i] -= h
    out.append(float((ref_normal_mean(*up) - ref_normal_mean(*dn)) / (2 * h)))
  return np.array(out)


# ---------------------------------------------------------- compiled helpers


@functools.lru_cache(maxsize=None)
def _sampler(family, shape, dtype, mode="vjp"):
  return jax.jit(lambda key, p: family.sample(key, p, shape, dtype, mode=mode))


@functools.lru_cache(maxsize=None)
def _draws_and_jacobian(family, shape, dtype):
  """Draws and per-sample dz/dparam (params broadcast to shape), one compile."""
  def run(p):
    full = jax.tree.map(lambda v: jnp.broadcast_to(v, shape), p)
    z, pullback = jax.vjp(lambda q: family.sample(KEY, q, shape, dtype), full)
    return z, pullback(jnp.ones_like(z))[0]
  return jax.jit(run)


@functools.lru_cache(maxsize=None)
def _jacobian(family, shape, dtype, mode="vjp"):
  """Per-sample dz/dparam (params broadcast to shape), one compile."""
  if mode == "vjp":
    return lambda p: _draws_and_jacobian(family, shape, dtype)(p)[1]

  def jac(p):
    full = jax.tree.map(lambda v: jnp.broadcast_to(v, shape), p)
    leaves, tree = jax.tree.flatten(full)
    outs = []
    for i in range(len(leaves)):
      tangent = [jnp.ones_like(v) if j == i else jnp.zeros_like(v)
                 for j, v in enumerate(leaves)]
      _, t = jax.jvp(lambda q: family.sample(KEY, q, shape, dtype, mode="jvp"),
                     (full,), (jax.tree.unflatten(tree, tangent),))
      outs.append(t)
    return jax.tree.unflatten(tree, outs)
  return jax.jit(jac)


def trunc_normal_scipy(k):
  return st.truncnorm(ALPHA[k], BETA[k], loc=LOC, scale=SCALE)


# ------------------------------------------------------------------- tests


def test_family_object_is_static_and_hashable():
  assert truncated.of(irt.normal) is TN and TN == truncated.of(irt.normal)
  assert hash(TN) == hash(truncated.of(irt.normal)) and TN != TG
  assert TN.__name__ == "irt_jax.truncated(irt_jax.normal)"
  assert repr(TG) == "irt_jax.truncated.of(irt_jax.gamma)"
  assert TN.event_ndims == 0 and TG.SUPPORT == (0.0, INF)
  assert not hasattr(TG, "mean")
  p = normal_params(jnp.float64)
  f = jax.jit(lambda fam, q: fam.sample(KEY, q, (16, K)), static_argnums=0)
  np.testing.assert_array_equal(f(TN, p), TN.sample(KEY, p, (16, K)))
  with pytest.raises(TypeError, match="base"):
    truncated.of(jnp)


# One compiled draw + gradient per dtype, shared by the tests below.
N = {jnp.float32: 20_000, jnp.float64: 40_000}


def draws_and_jacobian(dtype):
  z, jac = _draws_and_jacobian(TN, (N[dtype], K), dtype)(normal_params(dtype))
  return np.asarray(z, np.float64), jac


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_normal_samples_follow_truncnorm(dtype):
  z, _ = draws_and_jacobian(dtype)
  assert np.all(np.isfinite(z))
  p = normal_params(dtype)
  lo, hi = np.asarray(p.low, np.float64), np.asarray(p.high, np.float64)
  assert np.all((z >= lo) & (z <= hi))
  for k in range(K):
    result = st.kstest(z[:, k], trunc_normal_scipy(k).cdf)
    assert result.pvalue > 1e-3, (STD_BOUNDS[k], result)


def test_gamma_samples_follow_truncated_gamma():
  # (a, low, high): bulk, tail one-sided, small shape near zero.
  cases = np.array([(2.0, 1.0, 3.0), (5.0, 20.0, INF), (0.3, 1e-3, 0.5)])
  p = truncated.Params(irt.gamma.Params(jnp.asarray(cases[:, 0]), 1.5),
                       jnp.asarray(cases[:, 1]), jnp.asarray(cases[:, 2]))
  z = np.asarray(_sampler(TG, (4000, 3), jnp.float64)(KEY, p))
  for k, (a, low, high) in enumerate(cases):
    d = st.gamma(a, scale=1 / 1.5)
    if d.cdf(low) > 0.5:
      ref = lambda x: (d.sf(low) - d.sf(x)) / (d.sf(low) - d.sf(high))
    else:
      ref = lambda x: (d.cdf(x) - d.cdf(low)) / (d.cdf(high) - d.cdf(low))
    assert np.all((z[:, k] >= low) & (z[:, k] <= high))
    assert st.kstest(z[:, k], ref).pvalue > 1e-3, cases[k]


def _gradient_errors(dtype, n):
  p = normal_params(dtype)
  z, jac = draws_and_jacobian(dtype)
  got = np.stack([jac.base.loc, jac.base.scale, jac.low, jac.high], -1).astype(np.float64)[:n]
  lo, hi = np.asarray(p.low, np.float64), np.asarray(p.high, np.float64)
  ref = np.empty_like(got)
  for i in range(n):
    for k in range(K):
      ref[i, k] = ref_velocity("normal", (LOC, SCALE, lo[k], hi[k]), z[i, k])
  # dz/dloc, dz/dscale are differences of O(1) terms where the bounds pull
  # hard (1 - dz/dlow - dz/dhigh): relative to those terms, not to the result.
  bound_terms = np.abs(ref[..., 2:]).sum(-1, keepdims=True)
  scale = np.maximum(np.abs(ref), np.concatenate(
      [np.broadcast_to(1e-2 * bound_terms, ref[..., :2].shape),
       np.zeros_like(ref[..., 2:])], -1))
  err = np.where(scale > 0, np.abs(got - ref) / np.where(scale > 0, scale, 1), np.abs(got))
  return err.max(0), got   # (K, 4)


def test_per_sample_gradients_match_mpmath_float64():
  err, _ = _gradient_errors(jnp.float64, 6)
  assert err.max() < 1e-8, dict(zip(STD_BOUNDS, err.tolist()))


def test_per_sample_gradients_match_mpmath_float32():
  err, _ = _gradient_errors(jnp.float32, 6)
  # Bounds within 5 sd (40 sd in float32: log S ~ -800 carries 6e-5 absolute
  # rounding, so only dz/dlow, dz/dhigh keep 1e-4 there).
  ends = np.stack([ALPHA, BETA])
  moderate = np.max(np.where(np.isfinite(ends), np.abs(ends), 0), 0) <= 5
  assert err[moderate].max() < 1e-4, dict(zip(STD_BOUNDS, err.tolist()))
  assert err[:, 2:].max() < 1e-3, err


@pytest.mark.parametrize("dtype,atol", [(jnp.float64, 1e-14), (jnp.float32, 1e-6)])
def test_normal_dz_dloc_is_one_minus_bound_gradients(dtype, atol):
  _, jac = draws_and_jacobian(dtype)
  ident = np.asarray(jac.base.loc) - (1 - np.asarray(jac.low) - np.asarray(jac.high))
  assert np.abs(ident).max() < atol
  # and the bound gradients are genuinely there (TensorFlow sets them to 0).
  assert np.asarray(jac.low)[:, 0].mean() > 0.1 and np.asarray(jac.high)[:, 0].mean() > 0.1


@pytest.mark.parametrize("dtype,rtol", [(jnp.float64, 1e-8), (jnp.float32, 5e-5)])
def test_gamma_per_sample_gradients_match_mpmath(dtype, rtol):
  # The reference is taken at the parameters as rounded to dtype.
  theta = [float(np.asarray(v, dtype)) for v in (0.7, 1.5, 0.2, 2.5)]
  p = truncated.Params(irt.gamma.Params(*[jnp.asarray(v, dtype) for v in theta[:2]]),
                       *[jnp.asarray(v, dtype) for v in theta[2:]])
  n = 8
  z, jac = _draws_and_jacobian(TG, (n,), dtype)(p)
  got = np.stack([jac.base.concentration, jac.base.rate, jac.low, jac.high],
                 -1).astype(np.float64)
  ref = np.stack([ref_velocity("gamma", theta, zi) for zi in np.asarray(z, np.float64)])
  err = np.abs(got - ref) / np.abs(ref)
  print(f"truncated gamma {jnp.dtype(dtype).name}: max relative error per (a, rate, "
        f"low, high) {np.array2string(err.max(0), precision=1)}")
  assert np.all((z >= theta[2]) & (z <= theta[3]))
  np.testing.assert_allclose(got, ref, rtol=rtol, atol=1e-12)


def test_monte_carlo_gradient_of_mean_is_unbiased():
  n = N[jnp.float64]
  p = normal_params(jnp.float64)
  _, jac = draws_and_jacobian(jnp.float64)
  got = np.stack([jac.base.loc, jac.base.scale, jac.low, jac.high], -1)
  lo, hi = np.asarray(p.low), np.asarray(p.high)
  # (10, 12) is left out: E[dz/dhigh] ~ 5e-9 there comes from draws within
  # ~1e-9 of high, too rare for a Monte-Carlo check.
  for k in (0, 1, 5, 7):
    truth = ref_mean_derivatives(LOC, SCALE, lo[k], hi[k])
    mean, se = got[:, k].mean(0), got[:, k].std(0) / np.sqrt(n)
    assert np.all(np.abs(mean - truth) < 5 * se + 1e-12), (STD_BOUNDS[k], mean, truth, se)


def test_second_order_is_unbiased():
  # d^2/dloc^2 E[z] by reverse over reverse, per draw, against mpmath.
  n = 20_000
  low, high = LOC - SCALE, LOC + 2 * SCALE
  p = truncated.Params(irt.normal.Params(jnp.float64(LOC), jnp.float64(SCALE)),
                       jnp.float64(low), jnp.float64(high))
  sample = lambda q: TN.sample(KEY, q, (n,), jnp.float64)
  # Forward-over-reverse (mode="jvp", jax.hessian) and reverse over reverse on
  # 64 draws too: one program (compiles faster than three).
  f = lambda lo_: TN.sample(KEY, p._replace(low=lo_), (64,), jnp.float64, mode="jvp").sum()
  g = lambda lo_: TN.sample(KEY, p._replace(low=lo_), (64,), jnp.float64).sum()
  second, fwd_rev, rev_rev = jax.jit(lambda q: (
      per_sample_second(sample, q, (n,), "low"), jax.hessian(f)(q.low),
      jax.grad(jax.grad(g))(q.low)))(p)
  second = np.asarray(second)
  h = mp.mpf("1e-8")
  m = lambda lo_: ref_normal_mean(mp.mpf(LOC), mp.mpf(SCALE), lo_, mp.mpf(high))
  truth = float((m(low + h) - 2 * m(mp.mpf(low)) + m(low - h)) / h ** 2)
  se = second.std() / np.sqrt(n)
  assert np.all(np.isfinite(second))
  assert abs(second.mean() - truth) < 5 * se, (second.mean(), truth, se)
  np.testing.assert_allclose(fwd_rev, rev_rev, rtol=1e-10)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_extreme_and_tiny_intervals(dtype):
  eps = float(jnp.finfo(dtype).eps)
  low = jnp.asarray([40.0, 1.0, -30.0, 5.0], dtype)
  high = jnp.asarray([INF, 1.0 + 64 * eps, -29.0, INF], dtype)
  p = truncated.Params(irt.normal.Params(jnp.asarray(0.0, dtype), jnp.asarray(1.0, dtype)),
                       low, high)
  n = 2000
  z = _sampler(TN, (n, 4), dtype)(KEY, p)
  jac = _jacobian(TN, (n, 4), dtype)(p)
  assert np.all(np.isfinite(np.asarray(z)))
  assert np.all((z >= low) & (z <= high))
  for leaf in jax.tree.leaves(jac):
    assert np.all(np.isfinite(np.asarray(leaf)))
  z64 = np.asarray(z, np.float64)
  # [40, inf): z - 40 ~ Exp(40) to first order.
  assert abs((z64[:, 0] - 40).mean() * 40.025 - 1) < 5 / np.sqrt(n)
  # Tiny interval: nearly uniform; dz/dlow ~ 1 - T, dz/dhigh ~ T.
  t = (z64[:, 1] - float(low[1])) / (float(high[1]) - float(low[1]))
  assert abs(t.mean() - 0.5) < 0.05
  np.testing.assert_allclose(np.asarray(jac.low)[:, 1] + np.asarray(jac.high)[:, 1], 1, atol=1e-3)
  # [-30, -29], 30 sd into the lower tail: -29 - z ~ Exp(29.03) to first order.
  assert abs((-29 - z64[:, 2]).mean() * 29.034 - 1) < 5 / np.sqrt(n)
  # [5, inf) against scipy's truncnorm quantiles.
  ref = st.truncnorm(5, np.inf)
  assert st.kstest(z64[:, 3], ref.cdf).pvalue > 1e-3


def test_quantile_solver_accuracy_in_ulps():
  # White box: the raw solver at given u against mpmath's root of T(z) = u,
  # in ulps of max(|z|, scale) (T itself is known to a few eps, so near
  # z = 0 the absolute error is what is meaningful).
  u = np.array([1e-12, 1e-3, 0.1, 0.3, 0.5 - 1e-9])
  dtype = jnp.float64
  quantile = jax.jit(TN._quantile)
  for alpha, beta in [(-1.0, 2.0), (5.0, INF), (-INF, INF), (40.0, INF)]:
    p, _ = TN._prepare(normal_params(dtype, np.array(alpha), np.array(beta)))
    for upper in (False, True):
      z, _ = quantile(p, jnp.log(jnp.asarray(u)), jnp.full(u.shape, upper))
      theta = [mp.mpf(LOC), mp.mpf(SCALE), mp.mpf(float(p.low)), mp.mpf(float(p.high))]
      for ui, zi in zip(u, np.asarray(z)):
        target = mp.mpf(1) - ui if upper else mp.mpf(ui)
        fn = (lambda x: (1 - ref_t("normal", theta, x)) - ui) if upper else (
            lambda x: ref_t("normal", theta, x) - ui)
        root = mp.findroot(fn, mp.mpf(float(zi)), tol=mp.mpf(10) ** -35)
        ulps = abs(float(zi) - float(root)) / np.spacing(max(abs(float(root)), SCALE))
        assert ulps <= 16, (alpha, beta, upper, ui, zi, float(root), ulps, target)
      # T = 1e-300 lies within rounding of a bound: the draw sits at it (to
      # the resolution of the log CDF there), never outside, never NaN.
      z, _ = quantile(p, jnp.log(jnp.full((1,), 1e-300)), jnp.full((1,), upper))
      end = float(p.high if upper else p.low)
      if np.isfinite(end):
        assert abs(float(z[0]) - end) <= 1e-12 * SCALE, (alpha, beta, upper, z)


def test_grad_of_vmap_over_low_values():
  """(jit = eager and vmap over keys / params: the contract battery.)"""
  p = normal_params(jnp.float64)
  lows = jnp.asarray([-1.0, 0.0, 5.0])
  one = lambda lo_: TN.sample(KEY, p._replace(low=lo_, high=jnp.inf), (8,), jnp.float64).sum()
  gv = jax.grad(lambda ls: jax.vmap(one)(ls).sum())(lows)
  np.testing.assert_allclose(gv, [jax.grad(one)(v) for v in lows], rtol=1e-12)


def test_forward_mode_equals_reverse_mode():
  p = normal_params(jnp.float64)
  rev = _jacobian(TN, (32, K), jnp.float64, "vjp")(p)
  fwd = _jacobian(TN, (32, K), jnp.float64, "jvp")(p)
  for a, b in zip(jax.tree.leaves(rev), jax.tree.leaves(fwd)):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_densities_and_moments_match_scipy():
  p = normal_params(jnp.float64)
  for k in (0, 1, 3, 5, 6, 7):
    ref = trunc_normal_scipy(k)
    q = jax.tree.map(lambda v: v[k] if jnp.ndim(v) else v, p)
    z = ref.ppf(np.array([1e-9, 0.1, 0.5, 0.9, 1 - 1e-9]))
    np.testing.assert_allclose(TN.log_prob(q, z), ref.logpdf(z), rtol=1e-9)
    # SciPy's truncnorm cdf / logcdf / logsf lose digits next to a bound
    # (differences of Phi): mpmath instead.
    theta = [mp.mpf(v) for v in (LOC, SCALE, float(q.low), float(q.high))]
    t = [ref_t("normal", theta, mp.mpf(zi)) for zi in z]
    np.testing.assert_allclose(TN.cdf(q, z), [float(v) for v in t], rtol=1e-10)
    np.testing.assert_allclose(TN.log_cdf(q, z), [float(mp.log(v)) for v in t], rtol=1e-10)
    np.testing.assert_allclose(TN.log_sf(q, z), [float(mp.log(1 - v)) for v in t], rtol=1e-10)
    # 40 sd out the ratio phi/Z is exp of a difference of logs ~ -800.
    np.testing.assert_allclose(TN.mean(q), float(ref_normal_mean(
        mp.mpf(LOC), mp.mpf(SCALE), mp.mpf(float(q.low)), mp.mpf(float(q.high)))),
        rtol=1e-10 if k == 6 else 1e-12)
    if k in (0, 5, 7):
      np.testing.assert_allclose(TN.variance(q), ref.var(), rtol=1e-8)
  assert TN.log_prob(jax.tree.map(lambda v: v[0] if jnp.ndim(v) else v, p), 10.0) == -np.inf


def test_bad_input():
  base = irt.normal.Params(0.0, 1.0)
  with pytest.raises(ValueError, match="low must be < high"):
    TN.sample(KEY, truncated.Params(base, 2.0, 1.0))
  with pytest.raises(ValueError, match="low must not be NaN"):
    TN.sample(KEY, truncated.Params(base, jnp.nan, 1.0))
  with pytest.raises(ValueError, match="high must not be NaN"):
    TN.log_prob(truncated.Params(base, 0.0, jnp.nan), 0.5)
  with pytest.raises(ValueError, match="scale"):
    TN.sample(KEY, truncated.Params(irt.normal.Params(0.0, -1.0), 0.0, 1.0))
  with pytest.raises(ValueError, match="concentration"):
    TG.sample(KEY, truncated.Params(irt.gamma.Params(-1.0), 0.0, 1.0))
  with pytest.raises(ValueError, match="support"):
    TG.sample(KEY, truncated.Params(irt.gamma.Params(1.0), -2.0, -1.0))
  with pytest.raises(TypeError, match="params.base"):
    TN.sample(KEY, truncated.Params(irt.gamma.Params(1.0), 0.0, 1.0))
  # Under jit: NaN, never a plausible number.
  f = jax.jit(lambda lo_, hi_, s: TN.sample(KEY, truncated.Params(
      irt.normal.Params(0.0, s), lo_, hi_), (4,)))
  assert np.all(np.isnan(f(2.0, 1.0, 1.0)))
  assert np.all(np.isnan(f(jnp.nan, 1.0, 1.0)))
  assert np.all(np.isnan(f(0.0, 1.0, -1.0)))
  assert np.all(np.isfinite(f(0.0, 1.0, 1.0)))


def test_numpyro_distribution():
  from irt_jax.numpyro import Distribution
  p = truncated.Params(irt.normal.Params(0.0, 1.0), jnp.asarray([0.0, -1.0]), 2.0)
  d = Distribution(TN, p)
  assert d.has_rsample and d.batch_shape == (2,) and d.event_shape == ()
  z = d.sample(KEY, (5,))
  assert z.shape == (5, 2)
  assert np.all(np.isfinite(np.asarray(d.log_prob(z))))
  np.testing.assert_allclose(d.mean, TN.mean(p))


# ------------------------------------------------------------ Student-t base

TT = truncated.of(irt.student_t)
T_LOC, T_SCALE = 0.5, 1.5
# (df, alpha, beta), bounds in scale units from loc: bulk; 10 out one-sided in
# either tail; 10..12 out with near-normal tails (df 30); no truncation with
# tails too heavy for a variance (df 1.5); 40 out (df 30: S(low) ~ 1e-25);
# 1000 out (df 3: draws ~ 1e3..1e6).
T_CASES = [(3.0, -1.0, 2.0), (3.0, 10.0, INF), (5.0, -INF, -10.0), (30.0, 10.0, 12.0),
           (1.5, -INF, INF), (30.0, 40.0, INF), (3.0, 1e3, INF)]
KT = len(T_CASES)
T_DF = np.array([c[0] for c in T_CASES])
T_LOW = T_LOC + T_SCALE * np.array([c[1] for c in T_CASES])
T_HIGH = T_LOC + T_SCALE * np.array([c[2] for c in T_CASES])
# float64 draws cost ~6x float32 ones (the t CDF's continued fraction).
NT = {jnp.float32: 5000, jnp.float64: 1200}


def _student_t_cdf_sf(df, loc, scale):
  """Student-t CDF and SF in mpmath: F(x) = I_{df/(df+t^2)}(df/2, 1/2) / 2 for
  x <= loc, and the symmetric complement above."""
  def tail(t):   # P(T <= -|t|)
    return mp.betainc(df / 2, mp.mpf(1) / 2, 0, df / (df + t * t), regularized=True) / 2
  def cdf(x):
    t = (x - loc) / scale
    return tail(t) if t <= 0 else 1 - tail(t)
  def sf(x):
    t = (x - loc) / scale
    return tail(t) if t >= 0 else 1 - tail(t)
  return cdf, sf


CDF_SF["student_t"] = _student_t_cdf_sf


def ref_t_mean(df, loc, scale, low, high):
  """E[z] of the truncated t in closed form (mpmath): with f the standard t
  density, d/dt[(df + t^2) f(t)] = -(df - 1) t f(t), so
  E[z] = loc + scale ((df + a^2) f(a) - (df + b^2) f(b)) / ((df - 1) Z)."""
  a, b = (low - loc) / scale, (high - loc) / scale
  log_c = mp.loggamma((df + 1) / 2) - mp.loggamma(df / 2) - mp.log(df * mp.pi) / 2
  g = lambda t: ((df + t * t) * mp.exp(log_c - (df + 1) / 2 * mp.log1p(t * t / df))
                 if mp.isfinite(t) else mp.mpf(0))
  cdf, sf = _student_t_cdf_sf(df, loc, scale)
  if a > 0:
    z = sf(low) - (sf(high) if mp.isfinite(high) else 0)
  else:
    z = (cdf(high) if mp.isfinite(high) else 1) - (cdf(low) if mp.isfinite(low) else 0)
  return loc + scale * (g(a) - g(b)) / ((df - 1) * z)


def ref_t_mean_derivatives(theta, h=mp.mpf("1e-12")):
  """d/d(df, loc, scale, low, high) of ref_t_mean by central differences."""
  theta = [mp.mpf(float(v)) for v in theta]
  out = []
  for i in range(5):
    if not mp.isfinite(theta[i]):
      out.append(0.0)
      continue
    hi = h * max(abs(theta[i]), 1)
    up, dn = list(theta), list(theta)
    up[i] += hi
    dn[i] -= hi
    out.append(float((ref_t_mean(*up) - ref_t_mean(*dn)) / (2 * hi)))
  return np.array(out)


def t_params(dtype):
  return truncated.Params(
      irt.student_t.Params(jnp.asarray(T_DF, dtype), jnp.asarray(T_LOC, dtype),
                           jnp.asarray(T_SCALE, dtype)),
      jnp.asarray(T_LOW, dtype), jnp.asarray(T_HIGH, dtype))


@functools.lru_cache(maxsize=None)
def t_draws_and_jacobian(dtype):
  """Draws [NT, KT] and per-draw dz/d(df, loc, scale, low, high) [NT, KT, 5]:
  one compile and one run per dtype, shared by the Student-t tests."""
  z, jac = _draws_and_jacobian(TT, (NT[dtype], KT), dtype)(t_params(dtype))
  got = np.stack([jac.base.df, jac.base.loc, jac.base.scale, jac.low, jac.high], -1)
  return np.asarray(z, np.float64), got.astype(np.float64)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_student_t_samples_follow_truncated_t(dtype):
  z, jac = t_draws_and_jacobian(dtype)
  p = t_params(dtype)
  lo, hi = np.asarray(p.low, np.float64), np.asarray(p.high, np.float64)
  # Finite draws and gradients, inside the bounds, also 1000 scale units out.
  assert np.all(np.isfinite(z)) and np.all(np.isfinite(jac))
  assert np.all((z >= lo) & (z <= hi))
  for k, (df, low, high) in enumerate(zip(T_DF, T_LOW, T_HIGH)):
    d = st.t(df, loc=T_LOC, scale=T_SCALE)
    if d.cdf(low) > 0.5:   # upper tail: differences of the SF keep the digits
      ref = lambda x: (d.sf(low) - d.sf(x)) / (d.sf(low) - d.sf(high))
    else:
      ref = lambda x: (d.cdf(x) - d.cdf(low)) / (d.cdf(high) - d.cdf(low))
    result = st.kstest(z[:, k], ref)
    assert result.pvalue > 1e-3, (T_CASES[k], result)


def _t_gradient_errors(dtype, m):
  """Errors of the first m draws' dz/d(df, loc, scale, low, high) per case
  against mpmath (central differences of the truncated-t CDF, 40 digits).

  dz/ddf, dz/dloc and dz/dscale are sums of terms that cancel when a bound
  pulls hard (dz/dloc = 1 - dz/dlow - dz/dhigh; scale dz/dscale = (z - loc) -
  (low - loc) dz/dlow - (high - loc) dz/dhigh; dz/ddf = v(z) - dz/dlow v(low)
  - dz/dhigh v(high), v the base's df velocity): errors relative to the sum of
  the terms' magnitudes there, relative to the value for dz/dlow, dz/dhigh.
  """
  z, got = t_draws_and_jacobian(dtype)
  p = t_params(dtype)
  lo, hi = np.asarray(p.low, np.float64), np.asarray(p.high, np.float64)
  err = np.zeros((KT, 5))
  for k in range(KT):
    df = T_DF[k]
    theta = (df, T_LOC, T_SCALE, lo[k], hi[k])
    v_df = lambda x: (T_SCALE * student_t_velocity_mp(df, (x - T_LOC) / T_SCALE)
                      if np.isfinite(x) else 0.0)
    for i in range(m):
      ref = ref_velocity("student_t", theta, z[i, k])
      d_lo, d_hi = abs(ref[3]), abs(ref[4])
      ends = [abs(e - T_LOC) if np.isfinite(e) else 0.0 for e in (lo[k], hi[k])]
      terms = np.array([
          abs(v_df(z[i, k])) + d_lo * abs(v_df(lo[k])) + d_hi * abs(v_df(hi[k])),
          1 + d_lo + d_hi,
          (abs(z[i, k] - T_LOC) + ends[0] * d_lo + ends[1] * d_hi) / T_SCALE,
          0.0, 0.0])
      scale = np.maximum(np.abs(ref), terms)
      e = np.where(scale > 0, np.abs(got[i, k] - ref) / np.where(scale > 0, scale, 1),
                   np.abs(got[i, k]))
      err[k] = np.maximum(err[k], e)
  return err


@pytest.mark.parametrize("dtype,tol", [(jnp.float64, 1e-11), (jnp.float32, 1e-4)])
def test_student_t_per_sample_gradients_match_mpmath(dtype, tol):
  err = _t_gradient_errors(dtype, 6)
  print(f"truncated t {jnp.dtype(dtype).name}: max error per (df, loc, scale, low, "
        f"high) {np.array2string(err.max(0), precision=1)}")
  assert err.max() < tol, dict(zip(T_CASES, err.tolist()))


def test_student_t_location_identity():
  # Shifting loc, low, high and z together leaves T(z) unchanged:
  # dz/dloc = 1 - dz/dlow - dz/dhigh per draw, at every bound (TensorFlow's
  # truncated normal has dz/dloc = 1; here the bounds genuinely pull).
  # Relative to the terms' size 1 + dz/dlow + dz/dhigh.
  for dtype, tol in [(jnp.float64, 1e-14), (jnp.float32, 1e-6)]:
    _, got = t_draws_and_jacobian(dtype)
    ident = got[..., 1] - (1 - got[..., 3] - got[..., 4])
    rel = np.abs(ident) / (1 + np.abs(got[..., 3]) + np.abs(got[..., 4]))
    assert rel.max() < tol, (dtype, rel.max(0))
    assert got[:, 0, 3].mean() > 0.1 and got[:, 0, 4].mean() > 0.1


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_student_t_monte_carlo_gradient_of_mean_is_unbiased(dtype):
  """d/d(df, loc, scale, low, high) E[z] against the closed-form truncated-t
  mean differentiated in mpmath, within 4 standard errors (cases with a
  finite variance of the per-draw gradients: df > 2)."""
  _, got = t_draws_and_jacobian(dtype)
  n = got.shape[0]
  for k in (0, 1, 2, 3, 5):
    truth = ref_t_mean_derivatives((T_DF[k], T_LOC, T_SCALE, T_LOW[k], T_HIGH[k]))
    mean, se = got[:, k].mean(0), got[:, k].std(0) / np.sqrt(n)
    assert np.all(np.abs(mean - truth) < 4 * se + 1e-12), (T_CASES[k], mean, truth, se)
