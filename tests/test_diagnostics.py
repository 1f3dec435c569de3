"""irt_jax.diagnostics: variance studies, transport residuals, gradient checks.

References: closed forms (pathwise Var_mu = 4 and score Var_mu = a^4 + 14 a^2 + 15
for N(1, 1), f = (x - k)^2; Mohamed et al. 2020), the linearly transformed
normal's field (seeds/000), a Dirichlet field computed here by quadrature
(scipy's generalised Gauss-Laguerre rule), and deliberately wrong gradients
that must be flagged.
"""

import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
from numpy.polynomial import polynomial as P
import pytest
from scipy import special, stats

import irt_jax as irt
from irt_jax import diagnostics as diag
from tests.util import subprocess_env
from irt_jax._src import gamma as _gamma
from irt_jax import estimators as est

KEY = jax.random.key(11)
F64 = jnp.float64


# --- variance study ----------------------------------------------------------

def _normal_moment(k):
  """E[e^k] for e ~ N(0, 1): 0 for odd k, (k - 1)!! for even k."""
  return 0.0 if k % 2 else (float(special.factorial2(k - 1)) if k else 1.0)


def _poly_moments(coef):
  """Mean, variance and 4th central moment of c0 + c1 e + c2 e^2 + ..., e ~ N(0, 1)."""
  expect = lambda c: sum(ci * _normal_moment(i) for i, ci in enumerate(c))
  mu = expect(coef)
  dev = P.polysub(coef, [mu])
  return mu, expect(P.polypow(dev, 2)), expect(P.polypow(dev, 4))


def test_poly_moments_closed_forms():
  # the reference itself: pathwise Var = 4, score Var = a^4 + 14 a^2 + 15 = 495 (a = -4)
  assert np.allclose(_poly_moments([8.0, 2.0]), (8.0, 4.0, 48.0))  # N(8, 4): mu4 = 3 sigma^4
  assert np.allclose(_poly_moments(P.polymul([16.0, 8.0, 1.0], [0.0, 1.0]))[:2], (8.0, 495.0))
  e = np.random.default_rng(0).standard_normal(2_000_000)  # and a Monte Carlo sanity check
  _, v, m4 = _poly_moments([0.0, 8.0, 2.0])
  assert abs(np.var(2 * e ** 2 + 8 * e) / v - 1) < 0.01
  assert abs(np.mean((2 * e ** 2 + 8 * e - 2) ** 4) / m4 - 1) < 0.1


def test_variance_study_against_closed_forms(tmp_path):
  """N(1, 1), f = (x + 3)^2, x = 1 + e: the per-sample gradients are polynomials in e.

  d/dloc: pathwise 2 (e + 4) (Var 4), score (e + 4)^2 e (Var 495); d/dscale:
  pathwise 2 (e + 4) e (Var 72), score (e + 4)^2 (e^2 - 1) (Var 1546). Their
  moments are exact (normal moments), so the variance of the N-sample mean is
  sigma^2 / N and the standard error of its sample variance over R repetitions is
  sqrt((mu4_N - (R - 3)/(R - 1) sigma_N^4) / R), mu4_N = kappa4 / N^3 + 3 sigma_N^4.
  Every figure must be within 5 of those standard errors of the closed form.
  """
  sizes, reps = (10, 100), 4000
  study = diag.variance_study(
      {"pathwise": est.pathwise, "score": est.score_function},
      lambda x: (x + 3.0) ** 2, irt.normal,
      irt.normal.Params(jnp.asarray(1.0, F64), jnp.asarray(1.0, F64)), KEY,
      sizes, reps, plot=tmp_path / "study.png")
  assert (tmp_path / "study.png").stat().st_size > 1000
  assert study.figure is not None and study.repetitions == reps
  np.testing.assert_array_equal(study.sizes, sizes)
  score_poly = lambda extra: P.polymul([16.0, 8.0, 1.0], extra)   # (e + 4)^2 * extra
  cases = {("pathwise", "loc"): [8.0, 2.0], ("pathwise", "scale"): [0.0, 8.0, 2.0],
           ("score", "loc"): score_poly([0.0, 1.0]), ("score", "scale"): score_poly([-1.0, 0.0, 1.0])}
  n = np.array(sizes, float)
  for (name, leaf), coef in cases.items():
    mu, sigma2, mu4 = _poly_moments(coef)
    kappa4 = mu4 - 3 * sigma2 ** 2
    var_n = sigma2 / n                                    # Var of the N-sample mean
    mu4_n = kappa4 / n ** 3 + 3 * var_n ** 2              # its 4th central moment
    se_var = np.sqrt((mu4_n - (reps - 3) / (reps - 1) * var_n ** 2) / reps)
    v = getattr(study.variance[name], leaf)
    assert v.shape == (2,)
    assert np.all(np.abs(v - var_n) < 5 * se_var), (name, leaf, v, var_n, se_var)
    # stderr against the closed form sqrt(Var / R) (delta method for its spread)
    stderr_true = np.sqrt(var_n / reps)
    se_stderr = se_var / (2 * np.sqrt(var_n * reps))
    se = getattr(study.stderr[name], leaf)
    assert np.all(np.abs(se - stderr_true) < 5 * se_stderr), (name, leaf, se, stderr_true)
    m = getattr(study.mean[name], leaf)
    assert np.all(np.abs(m - mu) < 5 * stderr_true), (name, leaf, m, mu)
    # within-batch variance at N = 100, averaged over R batches
    ps = getattr(study.per_sample_variance[name], leaf)[-1]
    se_ps = np.sqrt((mu4 - (n[-1] - 3) / (n[-1] - 1) * sigma2 ** 2) / n[-1] / reps)
    assert abs(ps - sigma2) < 5 * se_ps, (name, leaf, ps, sigma2, se_ps)


def test_variance_study_plot_true_and_bad_input():
  ests = {"pathwise": est.pathwise}
  p = irt.normal.Params(0.0, 1.0)
  study = diag.variance_study(ests, jnp.sin, irt.normal, p, KEY, (1, 4), 4, plot=True)
  assert study.figure.axes and np.all(np.isnan(study.per_sample_variance["pathwise"].loc[0]))
  with pytest.raises(ValueError, match="sizes"):
    diag.variance_study(ests, jnp.sin, irt.normal, p, KEY, (), 4)
  with pytest.raises(ValueError, match="sizes"):
    diag.variance_study(ests, jnp.sin, irt.normal, p, KEY, (0, 3), 4)
  with pytest.raises(ValueError, match="repetitions"):
    diag.variance_study(ests, jnp.sin, irt.normal, p, KEY, (3,), 1)
  with pytest.raises(ValueError, match="estimators"):
    diag.variance_study({}, jnp.sin, irt.normal, p, KEY, (3,), 4)
  with pytest.raises(TypeError, match="estimators"):
    diag.variance_study({"x": 3}, jnp.sin, irt.normal, p, KEY, (3,), 4)
  with pytest.raises(ValueError, match="devices"):
    diag.variance_study(ests, jnp.sin, irt.normal, p, KEY, (3,), 4, devices="gpu")
  for bad in ((0, 1), (3, 6), (-1, 2), (0,), "ab"):
    with pytest.raises(ValueError, match="repetition_range"):
      diag.variance_study(ests, jnp.sin, irt.normal, p, KEY, (3,), 4, repetition_range=bad)


SHARDED = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    import irt_jax as irt
    from irt_jax import diagnostics, estimators
    assert jax.device_count() == 8, jax.devices()
    seen = []   # sharding of the keys as the compiled program sees them

    def pathwise(f, family, p, k, n):
        jax.debug.inspect_array_sharding(k, callback=seen.append)
        return estimators.pathwise(f, family, p, k, n)

    args = ({"pathwise": pathwise},
            lambda x: jnp.cos(x), irt.normal, irt.normal.Params(0.5, 1.5),
            jax.random.key(3), (5, 20), 16)
    one = diagnostics.variance_study(*args)
    assert [len(s.device_set) for s in seen] == [1, 1], seen
    seen.clear()
    two = diagnostics.variance_study(*args, devices="all")
    assert [len(s.device_set) for s in seen] == [8, 8], seen   # one program per size
    assert all(s.device_set == set(jax.devices()) for s in seen), seen
    for field in ("mean", "variance", "stderr", "per_sample_variance"):
        for name in ("pathwise",):
            for a, b in zip(getattr(one, field)[name], getattr(two, field)[name]):
                np.testing.assert_allclose(a, b, rtol=1e-12)
    try:
        diagnostics.variance_study(*args[:-1], 12, devices=8)
    except ValueError as e:
        assert "divisible" in str(e)
    else:
        raise AssertionError("12 repetitions over 8 devices accepted")
    print("SHARDED_OK")
""")


def test_variance_study_sharded_over_eight_devices_matches_one():
  env = subprocess_env(device_count=8)
  out = subprocess.run([sys.executable, "-c", SHARDED], env=env, capture_output=True,
                       text=True, timeout=600)
  assert out.returncode == 0 and "SHARDED_OK" in out.stdout, out.stderr[-3000:]


# --- transport residual: linearly transformed normal (seeds/000) ---------------

J = jnp.array([[0.0, 1.0], [-1.0, 0.0]])


def transform(a):
  return a * (jnp.eye(2) + a * J)


def tn_log_q(a, x):
  m = transform(a)
  return jax.scipy.stats.multivariate_normal.logpdf(x, jnp.zeros(2), m @ m.T)


def tn_velocity(a, x, a_dot):   # dx/da at the eps that produced x: M'(a) M(a)^-1 x
  eps = jnp.linalg.solve(transform(a), x)
  return jax.jvp(lambda t: transform(t) @ eps, (a,), (a_dot,))[1]


def test_transformed_normal_field_has_curl_and_zero_residual():
  """x = a (I + a J) eps at a = 1: v = D x, D = [[1.5, .5], [-.5, 1.5]]: curl .5."""
  eps = jax.random.normal(KEY, (500, 2), F64)
  x = eps @ transform(1.0).T
  out = diag.transport_residual(tn_log_q, tn_velocity, jnp.asarray(1.0, F64), x,
                                event_ndims=1)
  assert out.residual.shape == (500,) and out.curl.shape == (500, 2, 2)
  scale = np.abs(np.asarray(out.d_log_q)).mean()
  assert np.abs(np.asarray(out.residual)).max() < 1e-10 * max(scale, 1.0)
  np.testing.assert_allclose(out.curl, np.broadcast_to([[0.0, 0.5], [-0.5, 0.0]], (500, 2, 2)),
                             atol=1e-12)
  np.testing.assert_allclose(out.divergence, 3.0, atol=1e-12)
  # the curl-free field sym(D) x solves it as well; a scaled field does not
  sym = lambda a, y, a_dot: 1.5 * y * a_dot
  assert np.abs(np.asarray(diag.transport_residual(
      tn_log_q, sym, 1.0, x, event_ndims=1).residual)).max() < 1e-10
  wrong = lambda a, y, a_dot: 1.2 * tn_velocity(a, y, a_dot)
  bad = np.abs(np.asarray(diag.transport_residual(tn_log_q, wrong, 1.0, x,
                                                  event_ndims=1).residual))
  assert np.median(bad) > 0.1


# --- transport residual: Dirichlet through Gammas -------------------------------
# z = g / S, g_j ~ Gamma(alpha_j), S = sum g ~ Gamma(alpha_0) independent of z.
# Per draw dz_i/dalpha_1 = (delta_i1 - z_i) u(S z_1) / S with u the gamma's
# implicit velocity; its conditional mean given z (the field on the simplex) is
# v_i(z) = (delta_i1 - z_i) E_S[u(S z_1) / S], one quadrature over S.

ALPHA = np.array([1.5, 2.0, 3.0])
NODES, WEIGHTS = special.roots_genlaguerre(80, ALPHA.sum() - 1)
WEIGHTS = WEIGHTS / special.gamma(ALPHA.sum())
# The gamma family's own fused velocity kernel (same rule as
# irt.velocity_from_cdf(irt.gamma.cdf), checked in test_families; compiles faster).
GAMMA_VELOCITY = _gamma._velocity


def _mean_speed(alpha1, z1):
  p = irt.gamma.Params(alpha1, jnp.asarray(1.0, F64))
  tangent = irt.gamma.Params(jnp.asarray(1.0, F64), jnp.asarray(0.0, F64))
  s = jnp.asarray(NODES)
  return jnp.sum(jnp.asarray(WEIGHTS) * GAMMA_VELOCITY(p, s * z1, tangent) / s)


def dirichlet_field(alpha1, y, a_dot):      # y = (z1, z2)
  m = _mean_speed(alpha1, y[0])
  return a_dot * jnp.stack([(1 - y[0]) * m, -y[1] * m])


def dirichlet_field_wrong(alpha1, y, a_dot):   # forgets the -z_i of the normalisation
  m = _mean_speed(alpha1, y[0])
  return a_dot * jnp.stack([m, 0.0 * m])


def dirichlet_log_q(alpha1, y):
  conc = jnp.stack([alpha1, ALPHA[1], ALPHA[2]])
  return irt.dirichlet.log_prob(irt.dirichlet.Params(conc),
                                jnp.stack([y[0], y[1], 1 - y[0] - y[1]]))


def test_dirichlet_conditional_mean_field():
  z = np.asarray(irt.dirichlet.sample(KEY, irt.dirichlet.Params(jnp.asarray(ALPHA)), (300,)))
  assert abs(float(dirichlet_log_q(jnp.asarray(1.5), jnp.asarray(z[0, :2])))
             - stats.dirichlet.logpdf(z[0], ALPHA)) < 1e-10
  y = jnp.asarray(z[:, :2])
  good, bad = jax.jit(lambda: [diag.transport_residual(
      dirichlet_log_q, field, jnp.asarray(ALPHA[0]), y, event_ndims=1)
      for field in (dirichlet_field, dirichlet_field_wrong)])()
  scale = np.abs(np.asarray(good.d_log_q)).mean()
  assert np.abs(np.asarray(good.residual)).max() < 1e-6 * scale    # quadrature-limited
  assert np.median(np.abs(np.asarray(bad.residual))) > 1e-2 * scale
  curl = np.asarray(good.curl[:, 1, 0])
  assert np.abs(curl).mean() > 1e3 * np.abs(np.asarray(good.residual)).max()


# --- transport residual: every 1-D irt_jax family's implicit field ------------

FAMILIES = {
    "normal": (irt.normal, (0.5, 2.0)),
    "gamma": (irt.gamma, (0.7, 1.5)),
    "beta": (irt.beta, (0.8, 2.5)),
    "student_t": (irt.student_t, (3.5, 0.5, 2.0)),
}


@pytest.mark.parametrize("name", FAMILIES)
def test_implicit_field_of_each_1d_family_solves_the_continuity_equation(name):
  family, values = FAMILIES[name]
  p = family.Params(*[jnp.asarray(v, F64) for v in values])
  z = family.sample(KEY, p, (32,), F64)
  velocity = irt.velocity_from_cdf(family.cdf)
  fields = family.Params._fields
  eye = jnp.eye(len(fields), dtype=F64)
  directions = family.Params(*[eye[:, i] for i in range(len(fields))])  # one row each
  out = jax.jit(jax.vmap(lambda d: diag.transport_residual(
      family.log_prob, velocity, p, z, direction=d)))(directions)
  r = np.abs(np.asarray(out.residual))
  size = (np.abs(np.asarray(out.d_log_q)) + np.abs(np.asarray(out.divergence))
          + np.abs(np.asarray(out.v_dot_grad)))
  assert r.shape == (len(fields), 32)
  assert np.all(r <= 1e-8 * size + 1e-12), (name, (r / size).max(axis=1))
  assert np.all(np.asarray(out.curl) == 0)


def test_wrong_1d_field_is_flagged():
  """Normal(0.5, 2): dz/dscale = (z - loc)/scale; forgetting the 1/scale is flagged."""
  p = irt.normal.Params(jnp.asarray(0.5, F64), jnp.asarray(2.0, F64))
  z = irt.normal.sample(KEY, p, (200,), F64)
  d = irt.normal.Params(jnp.asarray(0.0, F64), jnp.asarray(1.0, F64))
  right = lambda q, x, t: (x - q.loc) / q.scale * t.scale + t.loc
  wrong = lambda q, x, t: (x - q.loc) * t.scale + t.loc
  good = diag.transport_residual(irt.normal.log_prob, right, p, z, direction=d)
  bad = diag.transport_residual(irt.normal.log_prob, wrong, p, z, direction=d)
  assert np.abs(np.asarray(good.residual)).max() < 1e-12
  assert np.median(np.abs(np.asarray(bad.residual))) > 0.1


def test_transport_bad_input():
  lq = lambda p, x: irt.normal.log_prob(p, x)
  v = irt.velocity_from_cdf(irt.normal.cdf)
  p = irt.normal.Params(0.0, 1.0)
  with pytest.raises(ValueError, match="direction"):
    diag.transport_residual(lq, v, p, jnp.ones(3))
  with pytest.raises(ValueError, match="direction"):
    diag.transport_residual(lq, v, p, jnp.ones(3), direction=(1.0, 0.0))
  with pytest.raises(ValueError, match="event_ndims"):
    diag.transport_residual(lq, v, p, jnp.ones(3), direction=p, event_ndims=2)
  with pytest.raises(ValueError, match="log_prob"):
    diag.transport_residual(lambda a, x: jnp.stack([x, x]), lambda a, x, d: x * d, 1.0,
                            jnp.ones(3))
  with pytest.raises(ValueError, match="velocity_field"):
    diag.transport_residual(lambda a, x: -x @ x, lambda a, x, d: x[0] * d, 1.0,
                            jnp.ones((3, 2)), event_ndims=1)


# --- gradient check -------------------------------------------------------------

def weibull_sampler(key, p, shape, dtype=None):
  lam, k = p
  e = jax.random.exponential(key, shape, jnp.result_type(lam))
  return lam * e ** (1 / k)


def weibull_cdf(p, z):
  lam, k = p
  return -jnp.expm1(-(z / lam) ** k)


def weibull_sf(p, z):
  lam, k = p
  return jnp.exp(-(z / lam) ** k)


def test_gradient_check_correct_weibull():
  weibull = irt.implicit(weibull_sampler, weibull_cdf)
  params = (jnp.asarray(2.0, F64), jnp.asarray(1.5, F64))
  check = diag.gradient_check(weibull, weibull_cdf, params, KEY, 2000, sf=weibull_sf)
  assert check.max_rel_error < 1e-6, check
  assert check.rel_error[0].shape == (2000,)
  # the plain autodiff Weibull (inverse CDF) is right too, and so is irt.normal
  check = diag.gradient_check(weibull_sampler, weibull_cdf, params, KEY, 2000, sf=weibull_sf)
  assert check.max_rel_error < 1e-6, check
  check = diag.gradient_check(lambda k, p, s: irt.normal.sample(k, p, s), irt.normal.cdf,
                              irt.normal.Params(0.5, 2.0), KEY, 1000)
  assert check.max_rel_error < 1e-6 and check.parameter in ("loc", "scale"), check


def test_gradient_check_flags_wrong_weibulls():
  params = (jnp.asarray(2.0, F64), jnp.asarray(1.5, F64))

  def wrong_velocity(p, z, p_dot):    # true dz/dk = -z log(z/lam)/k: sign and a 1/k wrong
    lam, k = p
    lam_dot, k_dot = p_dot
    return z / lam * lam_dot + z * jnp.log(z / lam) / k ** 2 * k_dot

  weibull = irt.implicit(weibull_sampler, weibull_cdf, velocity=wrong_velocity)
  check = diag.gradient_check(weibull, weibull_cdf, params, KEY, 500)
  assert check.max_rel_error > 0.5 and check.parameter == "[1]", check
  assert abs(check.autodiff + check.reference / 1.5) < 1e-6 * abs(check.reference) + 1e-9
  assert check.max_rel_error == float(np.max(check.rel_error[1]))
  assert np.all(np.asarray(check.rel_error[0]) < 1e-6)     # lam is right

  def stopped(key, p, shape, dtype=None):    # gradient in k cut by a stop_gradient
    lam, k = p
    e = jax.random.exponential(key, shape, jnp.result_type(lam))
    return lam * jax.lax.stop_gradient(e ** (1 / k))

  check = diag.gradient_check(stopped, weibull_cdf, params, KEY, 500)
  assert check.max_rel_error > 0.5 and check.parameter == "[1]", check


def test_gradient_check_bad_input():
  with pytest.raises(ValueError, match="num_samples"):
    diag.gradient_check(weibull_sampler, weibull_cdf, (2.0, 1.5), KEY, 0)
  with pytest.raises(ValueError, match="scalar"):
    diag.gradient_check(weibull_sampler, weibull_cdf, (jnp.ones(2), 1.5), KEY, 10)
  with pytest.raises(ValueError, match="sampler"):
    diag.gradient_check(lambda k, p, s: weibull_sampler(k, p, s).sum(), weibull_cdf,
                        (2.0, 1.5), KEY, 10)
  with pytest.raises(TypeError, match="key"):
    diag.gradient_check(weibull_sampler, weibull_cdf, (2.0, 1.5), 3, 10)
