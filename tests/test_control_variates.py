"""Control variates and explicit-state baselines of irt_jax.estimators.

References are closed forms (normal moments E eps^2k = (2k-1)!!, Dirichlet
and gamma moments) and the definition of the bias-corrected moving average;
Monte-Carlo bounds are 5 standard errors. Delta method, f = z^3 on N(mu, s):
h = mu^3 + 3 mu^2 d + 3 mu d^2 (d = z - mu), f - h = d^3, and with
eps = d/s the per-sample gradients are

  loc:   d^3 * d/s^2 + d/dmu E[h] = s^2 eps^4 + 3 mu^2        Var 96 s^4
  scale: d^3 (d^2 - s^2)/s^3 + 6 mu s = s^2 (eps^5 - eps^3) + 6 mu s
                                                             Var 750 s^4
  (E eps^8 = 105, E eps^10 = 945: 105 - 9 = 96; 945 - 2*105 + 15 = 750).

Pathwise with the same h (a fixed function: f' - h' = 3 d^2 times dz/dphi,
plus grad E[h] = (3 mu^2, 6 mu s) at the expansion point):

  loc:   3 s^2 eps^2 + 3 mu^2                                Var 18 s^4
  scale: 3 s^2 eps^3 + 6 mu s                                Var 135 s^4
  (without it the loc variance is 9 Var((mu + s eps)^2) = 36 mu^2 s^2 + 18 s^4).
"""

import math
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import irt_jax as irt
from irt_jax import estimators as est
from tests.util import mean_ok, var_z

KEY = jax.random.key(11)
F64 = jnp.float64


def normal(loc, scale):
  return irt.normal.Params(jnp.asarray(loc, F64), jnp.asarray(scale, F64))


def test_delta_is_exact_for_a_quadratic():
  """f = (x + 3)^2 on N(1, 1): h = f, so every per-sample gradient is the
  exact (2 (mu + 3), 2 sigma) = (8, 2), for c = 1 and the optimal c alike."""
  f = lambda x: (x + 3.0) ** 2

  @jax.jit   # one compiled program
  def run(p):
    sf = lambda c: est.score_function(f, irt.normal, p, KEY, 64,
                                      control_variate="delta", cv_coefficient=c)
    s = jax.grad(lambda q: est.score_function_surrogate(
        f, irt.normal, q, KEY, 64, control_variate="delta"))(p)
    return sf(1.0), sf("optimal"), s

  *gs, s = run(normal(1.0, 1.0))
  for g in gs:
    np.testing.assert_allclose(g.loc, 8.0, rtol=1e-9)
    np.testing.assert_allclose(g.scale, 2.0, rtol=1e-9, atol=1e-9)
  np.testing.assert_allclose([s.loc, s.scale], [8.0, 2.0], rtol=1e-9)


def test_delta_cubic_closed_form_variances_and_optimal_coefficient():
  mu, s, n = 1.0, 1.0, 100_000
  f = lambda x: x ** 3
  p = normal(mu, s)
  run = lambda coef, base: est.score_function(
      f, irt.normal, p, KEY, n, control_variate="delta", cv_coefficient=coef,
      baseline=base)
  g1, go, gb = jax.jit(lambda: (run(1.0, "none"), run("optimal", "none"),
                                run("optimal", "leave_one_out")))()
  want = np.array([3 * mu ** 2 + 3 * s ** 2, 6 * mu * s])  # d/d(mu, s) (mu^3 + 3 mu s^2)
  ok, m, se = mean_ok(np.stack([g1.loc, g1.scale], 1), want)
  assert ok, (m, se)
  for leaf, var in ((g1.loc, 96 * s ** 4), (g1.scale, 750 * s ** 4)):
    z, v = var_z(leaf, var)
    assert z < 5, (v, var)
  # (Without the control variate the loc variance is E[(1+eps)^6 eps^2] - 36
  # = 1 + 15*3 + 15*15 + 105 + ... = 2148 - 36 = 2112 at mu = s = 1: 22x more.)
  # The optimal coefficient (leave-one-out) keeps the mean, never loses to c = 1.
  ok, m, se = mean_ok(np.stack([go.loc, go.scale], 1), want)
  assert ok, (m, se)
  assert np.var(go.loc) <= 1.01 * np.var(g1.loc)
  assert np.var(go.scale) <= 1.01 * np.var(g1.scale)
  # ... and combined with a leave-one-out baseline (on f - c h) too.
  ok, m, se = mean_ok(np.stack([gb.loc, gb.scale], 1), want)
  assert ok, (m, se)


def test_delta_expectation_is_exact_with_events_and_independent_coordinates():
  """E[h] from delta_control_variate against a Monte-Carlo mean of h(z).

  Dirichlet (one event: the within-event Hessian cross terms must be dropped,
  their covariance -a_i a_j / (A^2 (A+1)) is not zero; draws from
  jax.random.dirichlet, an independent sampler) and a batch of two normals
  (independent coordinates: cross terms kept, of zero covariance).
  """
  n = 200_000
  pd = irt.dirichlet.Params(jnp.array([1.5, 2.0, 3.0]))
  fd = lambda z: z[0] * z[1] + z[2] ** 3
  pn = normal(jnp.array([0.3, -1.0]), jnp.array([0.5, 2.0]))
  fn = lambda z: jnp.sin(z[0]) * z[1] + jnp.exp(-z[0])

  def check(family, p, f, z):
    h, expected_h = est.delta_control_variate(f, family, p)
    return jax.vmap(h)(z), expected_h(p)

  @jax.jit   # one compiled program
  def run(pd, pn):
    zd = jax.random.dirichlet(KEY, pd.concentration, (n,))
    zn = pn.loc + pn.scale * jax.random.normal(KEY, (n, 2), F64)
    return check(irt.dirichlet, pd, fd, zd), check(irt.normal, pn, fn, zn)

  for name, (hz, eh) in zip(("dirichlet", "normal"), run(pd, pn)):
    ok, m, se = mean_ok(hz, float(eh))
    assert ok, (name, m, se, float(eh))
  # Keeping the within-event cross term would shift E[h] by H_01 Cov(z0, z1)
  # = -1.5 * 2 / (6.5^2 * 7.5) = -0.0095, far more than 5 s.e. here:
  hz, _ = run(pd, pn)[0]
  assert 0.0095 > 20 * np.asarray(hz).std() / np.sqrt(n)


def test_surrogate_with_control_variate_and_baseline():
  """The DiCE surrogate with a delta control variate and a baseline: its value
  is the mean of f, its gradient the score_function estimate's mean, and its
  Hessian unbiased (f = z^3: E = mu^3 + 3 mu s^2, Hessian [[6mu, 6s], [6s, 6mu]])."""
  p = normal(0.5, 1.2)
  f = lambda x: x ** 3
  opts = dict(control_variate="delta", baseline="leave_one_out", cv_coefficient=0.7)

  @jax.jit   # one compiled program
  def run(p):
    value, g = jax.value_and_grad(
        lambda q: est.score_function_surrogate(f, irt.normal, q, KEY, 500, **opts))(p)
    s = est.score_function(f, irt.normal, p, KEY, 500, **opts)
    z = jax.vmap(lambda k: irt.normal.sample(k, p))(jax.random.split(KEY, 500))
    hess = jax.vmap(lambda k: jax.hessian(lambda q: est.score_function_surrogate(
        f, irt.normal, q, k, 1000, control_variate="delta"))(p))(
            jax.random.split(KEY, 100))
    return value, g, s, z, hess

  value, g, s, z, hess = run(p)
  np.testing.assert_allclose([g.loc, g.scale], [s.loc.mean(), s.scale.mean()],
                             rtol=1e-10)
  np.testing.assert_allclose(value, np.mean(z ** 3), rtol=1e-12)
  got = np.stack([hess.loc.loc, hess.loc.scale, hess.scale.scale], 1)
  ok, m, se = mean_ok(got, np.array([3.0, 7.2, 3.0]))
  assert ok, (m, se)


def test_pathwise_and_measure_valued_control_variates_normal():
  """f = exp on N(0.5, 0.5): d/d(loc, scale) E[e^z] = (1, s) e^(mu + s^2/2).
  The delta control variate (c = 1 and the leave-one-out optimal c) keeps
  both estimators unbiased and lowers their variance (measured about 8x for
  the pathwise loc and scale, 11x / 13x for the measure-valued ones); a
  callable h(z) = z with E[h] = loc keeps pathwise unbiased. c = 0 is the
  estimator without control variate (c is traced: one program for both).
  f = z^3: the pathwise closed-form variances of the module docstring."""
  mu, s, n = 0.5, 0.5, 20_000
  p = normal(mu, s)
  mean_z = lambda f, fam, q: (lambda z: z, lambda r: r.loc)

  @jax.jit   # one compiled program
  def run(p):
    out = {}
    for name, fn in (("pathwise", est.pathwise), ("measure_valued", est.measure_valued)):
      by_c = jax.vmap(lambda c, fn=fn: fn(jnp.exp, irt.normal, p, KEY, n,
                                          control_variate="delta", cv_coefficient=c))
      out[name, "none"], out[name, "delta"] = _unstack(by_c(jnp.array([0.0, 1.0])), 2)
      out[name, "optimal"] = fn(jnp.exp, irt.normal, p, KEY, n,
                                control_variate="delta", cv_coefficient="optimal")
    out["pathwise", "callable"] = est.pathwise(jnp.exp, irt.normal, p, KEY, n,
                                               control_variate=mean_z)
    cubic = est.pathwise(lambda x: x ** 3, irt.normal, normal(1.0, 1.0), KEY, n,
                         control_variate="delta")
    return out, cubic

  out, cubic = run(p)
  e = np.exp(mu + s * s / 2)
  want = np.array([e, s * e])
  for k, g in out.items():
    ok, m, se = mean_ok(np.stack([g.loc, g.scale], 1), want)
    assert ok, (k, m, se, want)
  for name in ("pathwise", "measure_valued"):
    for field in ("loc", "scale"):
      v0, v1, v2 = (np.var(getattr(out[name, k], field))
                    for k in ("none", "delta", "optimal"))
      assert v1 < v0 / 5, (name, field, v0, v1)
      assert v2 <= 1.01 * v1, (name, field, v1, v2)
  ok, m, se = mean_ok(np.stack([cubic.loc, cubic.scale], 1), np.array([6.0, 6.0]))
  assert ok, (m, se)
  for leaf, var in ((cubic.loc, 18.0), (cubic.scale, 135.0)):
    z, v = var_z(leaf, var)
    assert z < 5, (v, var)


def _unstack(tree, k):
  return [jax.tree.map(lambda v, i=i: v[i], tree) for i in range(k)]


def test_measure_valued_control_variate_gamma_and_exponential_rate():
  """Weak derivatives of the rate with the delta control variate.

  f = sqrt on Gamma(5, 2), coupled: d/drate E[z^(1/2)] = -(1/2) Gamma(a +
  1/2) / (Gamma(a) rate^(3/2)); the variance falls 32x (measured). f = z^3
  on Exponential(2), uncoupled arms: d/drate 6/rate^3 = -18/rate^4; 2.3x
  with c = 1, 13x with the optimal c (measured).
  """
  a, rate, n = 5.0, 2.0, 20_000
  p = irt.gamma.Params(jnp.asarray(a, F64), jnp.asarray(rate, F64))
  pe = irt.exponential.Params(jnp.asarray(rate, F64))
  cube = lambda x: x ** 3

  @jax.jit   # one compiled program (c traced: c = 0 is no control variate)
  def run(p, pe):
    gam = jax.vmap(lambda c: est.measure_valued(
        jnp.sqrt, irt.gamma, p, KEY, n, wrt="rate", control_variate="delta",
        cv_coefficient=c))(jnp.array([0.0, 1.0]))
    exp = {str(c): est.measure_valued(cube, irt.exponential, pe, KEY, n,
                                      coupling=False, control_variate="delta",
                                      cv_coefficient=c)
           for c in (0.0, 1.0, "optimal")}
    return gam, exp

  gam, exp = run(p, pe)
  want = -0.5 * math.exp(math.lgamma(a + 0.5) - math.lgamma(a)) * rate ** -1.5
  for g in _unstack(gam, 2):
    ok, m, se = mean_ok(g.rate, want)
    assert ok, (m, se, want)
    assert np.all(np.isnan(np.asarray(g.concentration)))   # not asked for
  v0, v1 = np.var(gam.rate, axis=1)
  assert v1 < v0 / 10, (v0, v1)
  for k, g in exp.items():
    ok, m, se = mean_ok(g.rate, -18.0 / rate ** 4)
    assert ok, (k, m, se)
  v0, v1, v2 = (np.var(exp[k].rate) for k in ("0.0", "1.0", "optimal"))
  assert v1 < v0 / 1.5 and v2 < v0 / 5, (v0, v1, v2)


def test_pathwise_and_measure_valued_control_variate_errors():
  p = normal(0.0, 1.0)
  f = lambda x: x ** 2
  for fn in (est.pathwise, est.measure_valued):
    with pytest.raises(ValueError, match="control_variate"):
      fn(f, irt.normal, p, KEY, 10, control_variate="taylor")
    with pytest.raises(ValueError, match="cv_coefficient"):
      fn(f, irt.normal, p, KEY, 10, control_variate="delta", cv_coefficient="best")
    with pytest.raises(ValueError, match="num_samples"):
      fn(f, irt.normal, p, KEY, 1, control_variate="delta", cv_coefficient="optimal")
  with pytest.raises(ValueError, match="irt_jax.von_mises.*circular"):
    est.pathwise(f, irt.von_mises, irt.von_mises.Params(0.0, 2.0), KEY, 10,
                 control_variate="delta")
  with pytest.raises(ValueError, match="variance of irt_jax.student_t is not finite"):
    est.pathwise(f, irt.student_t, irt.student_t.Params(1.5, 0.0, 1.0), KEY, 10,
                 control_variate="delta")
  with pytest.raises(ValueError, match="wrt"):
    est.measure_valued(f, irt.normal, p, KEY, 10, wrt="rate", control_variate="delta")
  # (Under jit an infinite variance gives NaN: _cv_terms, shared with
  # score_function, checked in test_errors_name_the_argument_or_family.)


def test_moving_average_baseline_state_and_use():
  """Bias-corrected EMA against its definition, under jit and lax.scan; then
  used as a traced array baseline: f = (x + 3)^2 on N(1, 1), a = 4, the score
  estimate with constant b has mean 2a and variance c0^2 + 6 c0 + 8a^2 + 15,
  c0 = a^2 - b (expand (c0 eps + 2a eps^2 + eps^3)^2 with E eps^2k = (2k-1)!!)."""
  decay = 0.8
  ema = est.moving_average_baseline(decay)
  batches = jnp.asarray(np.random.default_rng(0).normal(17.0, 3.0, (6, 5)))
  means = np.asarray(batches).mean(1)

  def want(t):   # the baseline before batch t, from the definition
    if t == 0:
      return 0.0
    w = (1 - decay) * decay ** (t - 1 - np.arange(t))
    return float(np.sum(w * means[:t]) / (1 - decay ** t))

  def step(state, fz):
    b, state = ema.update(state, fz)
    return state, b

  state, bs = jax.jit(lambda s, x: jax.lax.scan(step, s, x))(ema.init(), batches)
  np.testing.assert_allclose(bs, [want(t) for t in range(6)], rtol=1e-12)
  np.testing.assert_allclose(state.baseline, want(6), rtol=1e-12)
  assert ema.init((3,), jnp.float32).total.shape == (3,)

  a, n = 4.0, 100_000
  f = lambda x: (x + 3.0) ** 2
  b = state.baseline
  g = jax.jit(lambda bb: est.score_function(f, irt.normal, normal(1.0, 1.0), KEY, n,
                                            baseline=bb))(b)
  ok, m, se = mean_ok(g.loc, 2 * a)
  assert ok, (m, se)
  c0 = a * a - float(b)
  z, v = var_z(g.loc, c0 ** 2 + 6 * c0 + 8 * a * a + 15)
  assert z < 5, (v, float(b))
  # One traced baseline per draw is accepted too, and the surrogate takes it.
  per_draw = jnp.full((n,), b)
  np.testing.assert_allclose(
      est.score_function(f, irt.normal, normal(1.0, 1.0), KEY, n, baseline=per_draw).loc,
      g.loc, rtol=1e-12)


def test_errors_name_the_argument_or_family():
  p = normal(0.0, 1.0)
  f = lambda x: x ** 2
  with pytest.raises(ValueError, match="irt_jax.von_mises.*circular"):
    est.score_function(f, irt.von_mises, irt.von_mises.Params(0.0, 2.0), KEY, 10,
                       control_variate="delta")
  with pytest.raises(ValueError, match="irt_jax.von_mises_fisher.*variance"):
    est.delta_control_variate(lambda z: z[0], irt.von_mises_fisher,
                              irt.von_mises_fisher.Params(jnp.array([0.0, 1.0]), 2.0))
  no_moments = SimpleNamespace(**{k: getattr(irt.normal, k) for k in
                                  ("Params", "sample", "log_prob", "event_ndims",
                                   "support", "validate", "is_valid")},
                               __name__="plain")
  with pytest.raises(ValueError, match="'plain' has no closed-form mean and variance"):
    est.score_function(f, no_moments, p, KEY, 10, control_variate="delta")
  with pytest.raises(ValueError, match="variance of irt_jax.student_t is not finite"):
    est.score_function(f, irt.student_t, irt.student_t.Params(1.5, 0.0, 1.0), KEY, 10,
                       control_variate="delta")
  with pytest.raises(ValueError, match="control_variate"):
    est.score_function(f, irt.normal, p, KEY, 10, control_variate="taylor")
  with pytest.raises(ValueError, match="cv_coefficient"):
    est.score_function(f, irt.normal, p, KEY, 10, control_variate="delta",
                       cv_coefficient="best")
  with pytest.raises(ValueError, match="cv_coefficient"):
    est.score_function_surrogate(f, irt.normal, p, KEY, 10, control_variate="delta",
                                 cv_coefficient="optimal")
  with pytest.raises(ValueError, match="baseline"):
    est.score_function_surrogate(f, irt.normal, p, KEY, 10, baseline="optimal")
  with pytest.raises(ValueError, match=r"baseline: an array baseline must have shape"):
    est.score_function(f, irt.normal, p, KEY, 10, baseline=jnp.zeros(3))
  with pytest.raises(ValueError, match="num_samples"):
    est.score_function(f, irt.normal, p, KEY, 1, control_variate="delta",
                       cv_coefficient="optimal")
  for decay in (1.0, -0.1, "0.9", True):
    with pytest.raises(ValueError, match="decay"):
      est.moving_average_baseline(decay)
  ema = est.moving_average_baseline(0.9)
  with pytest.raises(ValueError, match="fz"):
    ema.update(ema.init(), jnp.zeros((2, 3)))
  # Under jit an infinite variance gives NaN, not a number.
  bad = jax.jit(lambda df: est.score_function(
      f, irt.student_t, irt.student_t.Params(df, 0.0, 1.0), KEY, 8,
      control_variate="delta").df)(1.5)
  assert np.all(np.isnan(np.asarray(bad)))
