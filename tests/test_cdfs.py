"""CDF, log CDF and log survival function of every 1-D family: values and
derivatives in z and in every parameter against SciPy (float64 finite
differences of SciPy's CDF / SF), including far tails where only the log
forms keep precision. Truncation and mixtures are built on these.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import irt_jax as irt
from tests.references import scipy_dist

CASES = {
    "normal": (irt.normal, (0.5, 2.0)),
    "gamma": (irt.gamma, (0.7, 1.5)),
    "gamma_large": (irt.gamma, (300.0, 2.0)),
    "beta": (irt.beta, (0.5, 2.0)),
    "beta_large": (irt.beta, (40.0, 7.0)),
    "student_t": (irt.student_t, (3.0, 0.5, 2.0)),
    "student_t_large_df": (irt.student_t, (45.0, 0.0, 1.0)),
}

# Quantiles of the evaluation points: bulk and both tails.
QUANTILES = np.array([1e-12, 1e-6, 1e-3, 0.1, 0.5, 0.9, 1 - 1e-3, 1 - 1e-6])


def _fd(name, field, z, which, rel=1e-6):
  """d(which)/d field by central differences of SciPy in float64."""
  family, values = CASES[name]
  values = list(map(float, values))
  i = family.Params._fields.index(field)
  h = rel * max(abs(values[i]), 1.0)
  upper = scipy_dist(family, family.Params(*values)).cdf(z) > 0.5
  out = []
  for delta in (h, -h):
    v = list(values)
    v[i] += delta
    dist = scipy_dist(family, family.Params(*v))
    if which == "cdf":  # F = 1 - S differenced on the side where it is small.
      out.append(np.where(upper, -dist.sf(z), dist.cdf(z)))
    else:
      out.append({"log_cdf": dist.logcdf, "log_sf": dist.logsf}[which](z))
  return (out[0] - out[1]) / (2 * h)


@pytest.mark.parametrize("name", CASES)
def test_values_and_derivatives_match_scipy(name):
  family, values = CASES[name]
  p = family.Params(*[jnp.float64(v) for v in values])
  dist = scipy_dist(family, p)
  z = dist.ppf(QUANTILES)
  fns = {"cdf": family.cdf, "log_cdf": family.log_cdf, "log_sf": family.log_sf}
  refs = {"cdf": dist.cdf, "log_cdf": dist.logcdf, "log_sf": dist.logsf}
  for which, fn in fns.items():
    np.testing.assert_allclose(fn(p, z), refs[which](z), rtol=1e-9, atol=1e-300,
                               err_msg=which)
    # d/dz is the density divided by F or -S (or the density itself).
    dz = jax.vmap(jax.grad(lambda zz: fn(p, zz)))(jnp.asarray(z))
    pdf = dist.pdf(z)
    ref_dz = {"cdf": pdf, "log_cdf": pdf / dist.cdf(z), "log_sf": -pdf / dist.sf(z)}[which]
    np.testing.assert_allclose(dz, ref_dz, rtol=1e-8, err_msg=which)
    grads = jax.vmap(jax.grad(lambda q, zz: fn(q, zz)), (None, 0))(p, jnp.asarray(z))
    for field in family.Params._fields:
      got = np.asarray(getattr(grads, field))
      ref = _fd(name, field, z, which)
      # Finite differences of the value lose ~1e-10 of its magnitude.
      scale = np.abs(ref) + 1e-9 * (1 + np.abs(refs[which](z)))
      err = np.abs(got - ref) / scale
      assert err.max() < 1e-5, (which, field, err, got, ref)


def test_log_forms_stay_finite_far_in_the_tails():
  p = irt.normal.Params(0.0, 1.0)
  z = jnp.array([-30.0, 30.0])
  lc, ls = irt.normal.log_cdf(p, z), irt.normal.log_sf(p, z)
  assert np.all(np.isfinite(lc)) and np.all(np.isfinite(ls))
  np.testing.assert_allclose(lc[0], ls[1], rtol=1e-14)
  t = irt.student_t.Params(3.0, 0.0, 1.0)
  np.testing.assert_allclose(irt.student_t.log_sf(t, 1e6),
                             scipy_dist(irt.student_t, t).logsf(1e6), rtol=1e-10)
  g = irt.gamma.Params(2.0, 1.0)
  np.testing.assert_allclose(irt.gamma.log_sf(g, 200.0),
                             scipy_dist(irt.gamma, g).logsf(200.0), rtol=1e-10)
  d = jax.grad(lambda a: irt.gamma.log_sf(irt.gamma.Params(a, 1.0), 200.0))(2.0)
  # d/da log Q(a, x) for x >> a: d/da log(x^(a-1) e^-x / Gamma(a) * (1 + (a-1)/x + ...)).
  ref = (scipy_dist(irt.gamma, irt.gamma.Params(2.0 + 1e-6, 1.0)).logsf(200.0)
         - scipy_dist(irt.gamma, irt.gamma.Params(2.0 - 1e-6, 1.0)).logsf(200.0)) / 2e-6
  np.testing.assert_allclose(d, ref, rtol=1e-7)


def test_cdf_has_second_derivatives():
  # d^2 I_x(a, b)/da^2 by grad-of-grad through the rule vs SciPy differences.
  x, a, b, h = 0.3, 2.0, 3.0, 1e-4
  got = jax.grad(jax.grad(lambda a: irt.beta.cdf(irt.beta.Params(a, b), x)))(a)
  cdf = lambda a: scipy_dist(irt.beta, irt.beta.Params(a, b)).cdf(x)
  ref = (cdf(a + h) - 2 * cdf(a) + cdf(a - h)) / h ** 2
  np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_student_t_float32_far_tails_in_log_space():
  """float32 log S / log F of Student-t where the tail mass is below the
  float range (1e-38), against mpmath; log_prob at |t| whose square
  overflows, against SciPy; a truncated t 100 scale units out samples above
  its bound with finite gradients."""
  import mpmath as mp
  import scipy.stats as st
  mp.mp.dps = 40
  cases = [(30.0, 100.0), (3.0, 1e10), (0.5, 1e30), (100.0, 30.0), (1e3, 70.0), (1.0, 2.5)]
  df = jnp.asarray([c[0] for c in cases], jnp.float32)
  t = jnp.asarray([c[1] for c in cases], jnp.float32)
  p = irt.student_t.Params(df)
  log_s = np.asarray(irt.student_t.log_sf(p, t), np.float64)
  log_f = np.asarray(irt.student_t.log_cdf(p, -t), np.float64)
  ref = np.array([float(mp.log(mp.betainc(d / 2, 0.5, 0, d / (d + mp.mpf(float(x)) ** 2),
                                          regularized=True) / 2))
                  for d, x in zip(np.asarray(df, np.float64), np.asarray(t, np.float64))])
  assert ref.min() < np.log(1e-38)            # beyond float32's range as a probability
  np.testing.assert_allclose(log_s, ref, rtol=2e-6)
  np.testing.assert_allclose(log_f, ref, rtol=2e-6)
  grads = jax.vmap(jax.grad(lambda d, x: irt.student_t.log_sf(irt.student_t.Params(d), x)))(df, t)
  assert np.all(np.isfinite(np.asarray(grads))) and np.all(np.asarray(grads) < 0)
  big = jnp.asarray([1e5, 1e25], jnp.float32)
  np.testing.assert_allclose(np.asarray(irt.student_t.log_prob(irt.student_t.Params(jnp.float32(0.5)), big)),
                             st.t(0.5).logpdf(np.asarray(big, np.float64)), rtol=1e-6)
  tt = irt.truncated.of(irt.student_t)
  params = tt.Params(irt.student_t.Params(jnp.float32(30.0)), jnp.float32(100.0), jnp.float32(jnp.inf))
  z, grad = jax.vmap(jax.value_and_grad(
      lambda low, k: tt.sample(k, params._replace(low=low))), (None, 0))(
          jnp.float32(100.0), jax.random.split(jax.random.key(0), 256))
  assert np.all(np.asarray(z) >= 100.0) and np.all(np.isfinite(np.asarray(z)))
  assert np.all(np.isfinite(np.asarray(grad)))
  # Far out the t tail is Pareto with index df (to O(df / t^2) = 0.3%):
  # median 100 * 2^(1/30); the sample median's sd is ~0.3% at 256 draws.
  assert abs(float(np.median(np.asarray(z))) / (100.0 * 2 ** (1 / 30)) - 1) < 0.015
