"""irt_jax.estimators: unbiasedness and per-sample variances against closed forms.

References are closed forms only (Mohamed, Rosca, Figurnov & Mnih, JMLR 2020,
section 3, and moments of the normal / gamma / Rayleigh / Maxwell laws derived
in the comments). Monte-Carlo bounds are 5 standard errors; the standard error
of a variance comes from the sample fourth moment.
"""

import functools
from types import SimpleNamespace
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import irt_jax as irt
from irt_jax import estimators as est
from tests.util import mean_ok, var_z

KEY = jax.random.key(7)
F64 = jnp.float64


def normal_params(loc, scale, dtype=F64):
  return irt.normal.Params(jnp.asarray(loc, dtype), jnp.asarray(scale, dtype))


JIT = functools.partial(jax.jit, static_argnums=(0, 1, 4))

# --- Mohamed et al. (2020) section 3: N(mu=1, sigma=1), f = (x - k)^2 ---------
# With eps ~ N(0,1), x = 1 + eps and a = 1 - k, f = (a + eps)^2:
#  pathwise:        d/dmu = 2(a + eps): Var 4;  d/dsigma = 2(a + eps) eps: Var 4a^2 + 8
#  score, b = 0:    f eps: Var a^4 + 14 a^2 + 15 (495 at k = -3)
#  score, b = E f:  (2a eps + eps^2 - 1) eps: Var 8a^2 + 10
#  score, optimal b* = E[f eps^2]/E[eps^2] = a^2 + 3: (2a eps + eps^2 - 3) eps: Var 8a^2 + 6
#  (leave-one-out estimates of b add O(1/N) to these; ~1e-3 here, far below the s.e.)
#  MVD mu, coupled:   c(f(1+R) - f(1-R)) = 4aR/sqrt(2 pi), Var(R) = 2 - pi/2:
#                     Var (16/pi - 4) a^2;  uncoupled (R, R' independent):
#                     (2a(R + R') + R^2 - R'^2)/sqrt(2 pi): Var (8/pi - 2) a^2 + 4/pi
#  MVD sigma, coupled (x- = mu + M U, M double-sided Maxwell, E M^2 = 3, E M^4 = 15):
#                     2a M (1 - U) + M^2 (1 - U^2): Var 4a^2 + 4; uncoupled
#                     (x- = mu + eps'): 2a(M - eps') + M^2 - eps'^2: Var 16 a^2 + 8
K = -3.0
A = 1.0 - K
N_BIG = 200_000
CLOSED_VAR = {  # name -> (estimator, Var d/dmu, Var d/dsigma or None)
    "pathwise": (est.pathwise, 4.0, 4 * A ** 2 + 8),
    "score": (est.score_function, A ** 4 + 14 * A ** 2 + 15, None),
    "score_loo": (functools.partial(est.score_function, baseline="leave_one_out"),
                  8 * A ** 2 + 10, None),
    "score_optimal": (functools.partial(est.score_function, baseline="optimal"),
                      8 * A ** 2 + 6, None),
    "mvd": (est.measure_valued, (16 / np.pi - 4) * A ** 2, 4 * A ** 2 + 4),
    "mvd_uncoupled": (functools.partial(est.measure_valued, coupling=False),
                      (8 / np.pi - 2) * A ** 2 + 4 / np.pi, 16 * A ** 2 + 8),
}


@pytest.mark.parametrize("name", CLOSED_VAR)
def test_mohamed_closed_form_variances_and_unbiasedness(name):
  estimator, var_mu, var_sigma = CLOSED_VAR[name]
  g = JIT(estimator)(lambda x: (x - K) ** 2, irt.normal, normal_params(1.0, 1.0),
                     KEY, N_BIG)
  assert g.loc.shape == (N_BIG,) and g.loc.dtype == F64
  # d/dmu E[(x-k)^2] = 2 (mu - k) = 2a, d/dsigma = 2 sigma = 2
  ok, m, se = mean_ok(np.stack([g.loc, g.scale], 1), np.array([2 * A, 2.0]))
  assert ok, (name, m, se)
  z, v = var_z(g.loc, var_mu)
  assert z < 5, (name, v, var_mu)
  if var_sigma is not None:
    z, v = var_z(g.scale, var_sigma)
    assert z < 5, (name, v, var_sigma)
  if name == "score":
    assert var_mu == 495.0


def test_baselines_reduce_variance_and_keep_the_mean():
  f = lambda x: (x - K) ** 2
  variances = {}
  for b in est.BASELINES:
    g = est.score_function(f, irt.normal, normal_params(1.0, 1.0), KEY, 20_000,
                           baseline=b)
    variances[b] = np.asarray(g.loc).var()
    if b != "batch_mean":
      ok, m, se = mean_ok(g.loc, 2 * A)
      assert ok, (b, m, se)
  assert variances["leave_one_out"] < variances["none"] / 3
  assert variances["optimal"] < variances["leave_one_out"]


def test_batch_mean_baseline_is_biased_and_leave_one_out_is_not():
  """With N = 4 draws per call, b = mean including draw i scales the mean by 3/4."""
  n, reps, theta = 4, 20_000, 2.0
  keys = jax.random.split(KEY, reps)
  p = normal_params(theta, 1.0)
  run = lambda b: np.asarray(jax.jit(jax.vmap(lambda k: est.score_function(
      lambda x: x ** 2, irt.normal, p, k, n, baseline=b).loc))(keys)).reshape(-1)
  want = 2 * theta
  ok, m, se = mean_ok(run("batch_mean"), (1 - 1 / n) * want)
  assert ok, (m, se)
  assert abs(m - want) > 10 * se               # the bias is detectable
  for b in ("leave_one_out", "optimal", "none"):
    ok, m, se = mean_ok(run(b), want)
    assert ok, (b, m, se)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_every_estimator_unbiased_for_x_squared(dtype):
  """N(theta, 1), f = x^2: d/dtheta = 2 theta, d/dscale = 2 scale."""
  theta, scale = 1.5, 0.7
  p = normal_params(theta, scale, dtype)
  f = lambda x: x ** 2
  for name, fn in (("pathwise", est.pathwise), ("score", est.score_function),
                   ("mvd", est.measure_valued)):
    g = JIT(fn)(f, irt.normal, p, KEY, 40_000)
    assert g.loc.dtype == dtype and g.scale.dtype == dtype, name
    ok, m, se = mean_ok(np.stack([g.loc, g.scale], 1), np.array([2 * theta, 2 * scale]))
    assert ok, (name, dtype, m, se)


def test_measure_valued_gamma_rate():
  """Gamma(a, r): d/dr E[z] = -a/r^2, d/dr E[z^2] = -2a(a+1)/r^3.

  Coupled, f = z: (a/r)(z - (z + E/r)) = -(a/r^2) E, variance a^2/r^4.
  Uncoupled, f = z^2 (z+ ~ Gamma(a, r), z- ~ Gamma(a+1, r) independent):
  variance (a/r)^2 (V(a) + V(a+1)), V(a) = Var z^2 = (a(a+1)(a+2)(a+3) - a^2(a+1)^2)/r^4.
  """
  a, r = 2.5, 1.5
  p = irt.gamma.Params(jnp.asarray(a, F64), jnp.asarray(r, F64))
  n = 100_000
  v4 = lambda s: (s * (s + 1) * (s + 2) * (s + 3) - s ** 2 * (s + 1) ** 2) / r ** 4
  for f, coupling, mean, var in (
      (lambda z: z, True, -a / r ** 2, a ** 2 / r ** 4),
      (lambda z: z ** 2, False, -2 * a * (a + 1) / r ** 3, (a / r) ** 2 * (v4(a) + v4(a + 1)))):
    g = est.measure_valued(f, irt.gamma, p, KEY, n, wrt="rate", coupling=coupling)
    assert np.all(np.isnan(np.asarray(g.concentration)))   # not estimated
    ok, m, se = mean_ok(g.rate, mean)
    assert ok, (coupling, m, se)
    z, v = var_z(g.rate, var)
    assert z < 5, (coupling, v, var)


def test_measure_valued_batched_and_broadcast_params():
  """loc scalar, scale (2,): draws of shape (2,), f = z0^2 + 3 z1^2.

  d/dloc = 2 loc + 6 loc (the scalar loc feeds both coordinates), d/dscale_j =
  2 scale_j * (1, 3)_j.
  """
  loc, scale = 0.8, jnp.array([0.5, 1.5])
  p = irt.normal.Params(jnp.asarray(loc, F64), scale)
  f = lambda z: z[0] ** 2 + 3 * z[1] ** 2
  for fn in (est.measure_valued, est.score_function):
    g = fn(f, irt.normal, p, KEY, 60_000)
    assert g.loc.shape == (60_000,) and g.scale.shape == (60_000, 2)
    ok, m, se = mean_ok(np.column_stack([g.loc, g.scale]),
                        np.array([8 * loc, 2 * 0.5, 6 * 1.5]))
    assert ok, (fn.__name__, m, se)


def test_same_key_same_draws_across_estimators():
  """Pathwise and score see the same z: f = z gives pathwise 1 and score z - loc."""
  p = normal_params(0.3, 2.0)
  pw = est.pathwise(lambda z: z, irt.normal, p, KEY, 10)
  sf = est.score_function(lambda z: z, irt.normal, p, KEY, 10)
  np.testing.assert_allclose(pw.loc, 1.0)
  z = 0.3 + 2.0 * pw.scale        # dz/dscale = (z - loc)/scale
  np.testing.assert_allclose(sf.loc, z * (z - 0.3) / 4.0, rtol=1e-12)


# --- DiCE surrogate -------------------------------------------------------------

def test_surrogate_gradient_is_the_score_estimate():
  p = normal_params(0.5, 1.2)
  f = lambda x: jnp.sin(x) + x ** 2
  g = jax.grad(lambda q: est.score_function_surrogate(f, irt.normal, q, KEY, 500))(p)
  s = est.score_function(f, irt.normal, p, KEY, 500)
  np.testing.assert_allclose(g.loc, s.loc.mean(), rtol=1e-12)
  np.testing.assert_allclose(g.scale, s.scale.mean(), rtol=1e-12)
  value = est.score_function_surrogate(f, irt.normal, p, KEY, 500)
  z = jax.vmap(lambda k: irt.normal.sample(k, p))(jax.random.split(KEY, 500))
  np.testing.assert_allclose(value, np.mean(np.sin(z) + z ** 2), rtol=1e-12)


def _hessians(family, params, f, reps=200, n=2000):
  keys = jax.random.split(KEY, reps)
  hess = jax.jit(jax.vmap(lambda k: jax.hessian(
      lambda q: est.score_function_surrogate(f, family, q, k, n))(params)))(keys)
  return jax.tree.map(np.asarray, hess)


def test_surrogate_hessian_normal_closed_form():
  """E[x^2] = loc^2 + scale^2: Hessian diag(2, 2) in (loc, scale)."""
  p = normal_params(0.5, 1.2)
  h = _hessians(irt.normal, p, lambda x: x ** 2)
  got = np.stack([h.loc.loc, h.loc.scale, h.scale.loc, h.scale.scale], 1)
  ok, m, se = mean_ok(got, np.array([2.0, 0.0, 0.0, 2.0]))
  assert ok, (m, se)
  # The naive surrogate mean(log q * stop_gradient(f)) misses the s s^T term:
  # its d2/dloc2 has mean -E[f]/scale^2 = -(loc^2 + scale^2)/scale^2.
  def naive(q, k):
    z = irt.normal.sample(k, jax.lax.stop_gradient(q), (2000,))
    return jnp.mean(irt.normal.log_prob(q, z) * jax.lax.stop_gradient(z ** 2))
  keys = jax.random.split(KEY, 200)
  bad = np.asarray(jax.jit(jax.vmap(lambda k: jax.hessian(naive)(p, k).loc.loc))(keys))
  ok, m, se = mean_ok(bad, -(0.25 + 1.44) / 1.44)
  assert ok and abs(m - 2.0) > 50 * se, (m, se)


def test_surrogate_hessian_gamma_closed_form():
  """E[z] = a/r: d2/da2 = 0, d2/dadr = -1/r^2, d2/dr2 = 2a/r^3."""
  a, r = 2.0, 1.5
  p = irt.gamma.Params(jnp.asarray(a, F64), jnp.asarray(r, F64))
  h = _hessians(irt.gamma, p, lambda z: z, reps=100)
  got = np.stack([h.concentration.concentration, h.concentration.rate,
                  h.rate.concentration, h.rate.rate], 1)
  ok, m, se = mean_ok(got, np.array([0.0, -1 / r ** 2, -1 / r ** 2, 2 * a / r ** 3]))
  assert ok, (m, se)


# --- best / choose ----------------------------------------------------------------

class CoinParams(NamedTuple):
  probs: float


def _coin_sample(key, params, shape=None, dtype=None, *, mode="vjp"):
  p = jnp.asarray(params.probs)
  return jax.random.bernoulli(key, p, shape).astype(p.dtype)


COIN = SimpleNamespace(  # a discrete family: draws carry no gradient
    __name__="coin", Params=CoinParams, sample=_coin_sample,
    log_prob=lambda params, z: z * jnp.log(params.probs)
    + (1 - z) * jnp.log1p(-params.probs))

STOPPED = SimpleNamespace(  # a continuous sampler whose gradient is cut
    __name__="stopped", Params=irt.normal.Params,
    sample=lambda key, p, shape=None: jax.lax.stop_gradient(irt.normal.sample(key, p, shape)),
    log_prob=irt.normal.log_prob)


def test_choose_and_best():
  assert est.choose(irt.normal, normal_params(0.0, 1.0)) == "pathwise"
  assert est.choose(irt.gamma, irt.gamma.Params(2.0, 1.0)) == "pathwise"
  assert est.choose(irt.dirichlet, irt.dirichlet.Params(jnp.ones(3))) == "pathwise"
  assert est.choose(irt.beta, irt.beta.Params(2.0, 3.0)) == "pathwise"
  assert est.choose(irt.student_t, irt.student_t.Params(3.0, 0.0, 1.0)) == "pathwise"
  assert est.choose(COIN, CoinParams(0.3)) == "score_function"
  assert est.choose(STOPPED, irt.normal.Params(0.0, 1.0)) == "score_function"
  forced = SimpleNamespace(**vars(STOPPED), REPARAMETERIZED=True)
  assert est.choose(forced, irt.normal.Params(0.0, 1.0)) == "pathwise"
  p = normal_params(0.4, 1.0)
  np.testing.assert_array_equal(est.best(jnp.sin, irt.normal, p, KEY, 50).loc,
                                est.pathwise(jnp.sin, irt.normal, p, KEY, 50).loc)
  g = est.best(lambda z: z, COIN, CoinParams(jnp.asarray(0.3, F64)), KEY, 40_000)
  ok, m, se = mean_ok(g.probs, 1.0)     # d/dp E[z] = 1
  assert ok, (m, se)
  g = est.best(lambda z: z ** 3, STOPPED, p, KEY, 40_000)
  ok, m, se = mean_ok(g.loc, 3 * (0.4 ** 2 + 1))   # d/dmu E[z^3] = 3(mu^2 + s^2)
  assert ok, (m, se)


def test_score_function_with_an_event_axis():
  """Dirichlet(alpha): d/dalpha_1 E[z_1] = (a0 - a1)/a0^2, d/dalpha_j = -a1/a0^2."""
  alpha = jnp.array([1.5, 2.0, 3.0])
  a0 = float(alpha.sum())
  want = np.array([(a0 - 1.5) / a0 ** 2, -1.5 / a0 ** 2, -1.5 / a0 ** 2])
  g = est.score_function(lambda z: z[0], irt.dirichlet, irt.dirichlet.Params(alpha), KEY,
                         20_000, baseline="optimal")
  assert g.concentration.shape == (20_000, 3)
  ok, m, se = mean_ok(g.concentration, want)
  assert ok, (m, se)


# --- jit, vmap, modes -------------------------------------------------------------

def test_jit_matches_eager_and_vmap_over_keys_and_params():
  f = lambda x: jnp.cos(x)
  p = normal_params(0.2, 0.9)
  keys = jax.random.split(KEY, 3)
  for fn in (est.pathwise, est.measure_valued):
    eager = fn(f, irt.normal, p, KEY, 64)
    jitted = JIT(fn)(f, irt.normal, p, KEY, 64)
    np.testing.assert_allclose(eager.loc, jitted.loc, rtol=1e-12)
    by_key = jax.vmap(lambda k: fn(f, irt.normal, p, k, 64))(keys)
    np.testing.assert_allclose(by_key.scale[1], fn(f, irt.normal, p, keys[1], 64).scale,
                               rtol=1e-12)
  locs = jnp.array([0.0, 0.5, 1.0])
  by_param = jax.vmap(lambda m: est.pathwise(f, irt.normal, irt.normal.Params(m, p.scale),
                                             KEY, 64))(locs)
  assert by_param.loc.shape == (3, 64)
  np.testing.assert_allclose(
      by_param.loc[2], est.pathwise(f, irt.normal, irt.normal.Params(locs[2], p.scale),
                                    KEY, 64).loc, rtol=1e-12)
  g_jvp = est.pathwise(f, irt.normal, p, KEY, 64, mode="jvp")
  np.testing.assert_allclose(est.pathwise(f, irt.normal, p, KEY, 64).scale,
                             g_jvp.scale, rtol=1e-12)


# --- bad input ------------------------------------------------------------------

def test_bad_input_errors():
  p = normal_params(0.0, 1.0)
  f = lambda x: x
  for n in (0, -3):
    with pytest.raises(ValueError, match="num_samples"):
      est.pathwise(f, irt.normal, p, KEY, n)
  for n in (2.0, True, jnp.asarray(3)):
    with pytest.raises(TypeError, match="num_samples"):
      est.score_function(f, irt.normal, p, KEY, n)
  with pytest.raises(ValueError, match="num_samples"):
    est.score_function(f, irt.normal, p, KEY, 1, baseline="leave_one_out")
  with pytest.raises(ValueError, match="baseline"):
    est.score_function(f, irt.normal, p, KEY, 10, baseline="mean")
  with pytest.raises(ValueError, match="f: must map one draw"):
    est.pathwise(lambda x: jnp.stack([x, x]), irt.normal, p, KEY, 10)
  with pytest.raises(TypeError, match="params"):
    est.pathwise(f, irt.normal, irt.gamma.Params(1.0, 1.0), KEY, 10)
  with pytest.raises(TypeError, match="family"):
    est.score_function(f, SimpleNamespace(Params=CoinParams), CoinParams(0.5), KEY, 10)
  with pytest.raises(TypeError, match="key"):
    est.pathwise(f, irt.normal, p, 0, 10)
  with pytest.raises(ValueError, match="scale must be positive"):
    est.pathwise(f, irt.normal, irt.normal.Params(0.0, -1.0), KEY, 10)
  # measure-valued: parameters without a weak derivative are named
  with pytest.raises(ValueError, match="'concentration'"):
    est.measure_valued(f, irt.gamma, irt.gamma.Params(2.0, 1.0), KEY, 10)
  with pytest.raises(ValueError, match="'concentration'"):
    est.measure_valued(f, irt.gamma, irt.gamma.Params(2.0, 1.0), KEY, 10,
                       wrt=("rate", "concentration"))
  with pytest.raises(ValueError, match="'sigma' is not a parameter"):
    est.measure_valued(f, irt.normal, p, KEY, 10, wrt="sigma")
  with pytest.raises(ValueError, match="irt_jax.beta"):
    est.measure_valued(f, irt.beta, irt.beta.Params(1.0, 2.0), KEY, 10)


def test_invalid_traced_params_give_nan_not_numbers():
  bad = jax.jit(lambda s: est.pathwise(jnp.sin, irt.normal, irt.normal.Params(0.0, s),
                                       KEY, 8).loc)(-1.0)
  assert np.all(np.isnan(np.asarray(bad)))
