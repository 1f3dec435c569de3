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
"""

import functools
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
