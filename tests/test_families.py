"""What the 1-D built-in families (normal, gamma, beta, student_t) check beyond
the contract battery (tests/test_contract.py, which runs the KS test of their draws
at these parameters in both dtypes).

Per-sample gradients against finite
differences of SciPy's CDF, Monte-Carlo unbiasedness against closed forms,
float32 / float64, eager gradient, grad of vmap, second order, forward mode,
keys, shapes, extreme and bad input.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

import irt_jax as irt
from tests.references import implicit_gradient_fd, scipy_dist
from tests.util import broadcast_params, per_sample_grad, per_sample_second

KEY = jax.random.key(0)

# name -> (family module, params)
CASES = {
    "normal": (irt.normal, (0.5, 2.0)),
    "gamma_small": (irt.gamma, (0.3, 1.5)),
    "gamma": (irt.gamma, (4.0, 0.5)),
    "beta": (irt.beta, (0.5, 2.0)),
    "beta_large": (irt.beta, (40.0, 7.0)),
    "student_t": (irt.student_t, (3.0, 0.5, 2.0)),
    "student_t_heavy": (irt.student_t, (0.7, 0.0, 1.0)),
}


def make(name, dtype=jnp.float64):
  family, values = CASES[name]
  return family, family.Params(*[jnp.asarray(v, dtype) for v in values])


# The costs whose expected gradients have closed forms, module-level objects so
# that a family's parameter regimes share one compiled program (_per_draw_grads).
def _z(z):
  return z


def _z2(z):
  return z ** 2


def _centered_z2(z):   # student_t's loc is 0.5 in the one case that uses it
  return (z - 0.5) ** 2


COSTS = {irt.normal: (_z2,), irt.gamma: (_z, _z2), irt.beta: (_z,),
         irt.student_t: (_z, _centered_z2, jnp.arctan)}


def closed_forms(name):
  """d/dparam E[f(z)] in closed form (or by quadrature): list of (f, field, value)."""
  family, v = CASES[name]
  if family is irt.normal:
    loc, scale = v
    return [(_z2, "loc", 2 * loc), (_z2, "scale", 2 * scale)]
  if family is irt.gamma:
    a, r = v
    return [(_z, "concentration", 1 / r), (_z, "rate", -a / r ** 2),
            (_z2, "concentration", (2 * a + 1) / r ** 2)]
  if family is irt.beta:
    a, b = v
    return [(_z, "concentration1", b / (a + b) ** 2),
            (_z, "concentration0", -a / (a + b) ** 2)]
  if family is irt.student_t:
    df, loc, scale = v
    # d/dloc E[arctan z] = E[1/(1 + z^2)], by SciPy's quadrature (any df).
    arctan_loc = st.t(df, loc, scale).expect(lambda z: 1 / (1 + z ** 2))
    if df <= 2:
      return [(jnp.arctan, "loc", arctan_loc)]
    assert loc == 0.5
    return [(_z, "loc", 1.0), (jnp.arctan, "loc", arctan_loc),
            (_centered_z2, "df", -2 * scale ** 2 / (df - 2) ** 2),
            (_centered_z2, "scale", 2 * scale * df / (df - 2))]
  raise ValueError(name)


@pytest.mark.parametrize("name", CASES)
def test_cdf_and_log_prob_match_scipy(name):
  family, p = make(name)
  dist = scipy_dist(family, p)
  z = dist.ppf(np.linspace(0.01, 0.99, 33))
  np.testing.assert_allclose(family.cdf(p, z), dist.cdf(z), rtol=1e-9, atol=1e-12)
  np.testing.assert_allclose(family.log_prob(p, z), dist.logpdf(z), rtol=1e-9, atol=1e-12)
  m, v = dist.stats()
  # Undefined moments: SciPy says inf or nan, irt_jax NaN (mean) / inf (variance).
  if np.isfinite(m):
    np.testing.assert_allclose(family.mean(p), m, rtol=1e-12)
  else:
    assert np.isnan(family.mean(p))
  if np.isfinite(v):
    np.testing.assert_allclose(family.variance(p), v, rtol=1e-12)
  else:
    assert not np.isfinite(family.variance(p))


def _per_draw_grads(family, costs, n, p):
  """``(draws, {f: d f(z_i)/dparams_i for every draw})``: parameters broadcast to
  one set per draw, one sample and one transposed rule per cost, one program.
  The family, costs and ``n`` are static, so parameter regimes share it."""
  z, grads = _per_draw_grads_program(family, costs, n, p)
  return z, dict(zip(costs, grads))


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _per_draw_grads_program(family, costs, n, p):
  z, pullback = jax.vjp(lambda q: family.sample(KEY, q, (n,)), broadcast_params(p, (n,)))
  return z, tuple(pullback(jax.grad(lambda x: jnp.sum(f(x)))(z))[0] for f in costs)


@pytest.mark.parametrize("dtype,rtol", [(jnp.float64, 1e-6), (jnp.float32, 1e-4)])
@pytest.mark.parametrize("name", CASES)
def test_per_sample_gradient_matches_scipy_finite_differences(name, dtype, rtol):
  family, p = make(name, dtype)
  z, grads = _per_draw_grads(family, (_z,), 200, p)
  jac = grads[_z]
  dist = scipy_dist(family, p)
  # Stay where the float64 finite-difference reference itself is reliable.
  u = dist.cdf(np.asarray(z, np.float64))
  keep = (u > 1e-10) & (u < 1 - 1e-10)
  for field in family.Params._fields:
    ref = implicit_gradient_fd(family, p, field, np.asarray(z, np.float64))
    got = np.asarray(getattr(jac, field), np.float64)
    scale = np.maximum(np.abs(ref), 1e-3 * np.abs(ref).max())
    err = np.abs(got - ref)[keep] / scale[keep]
    assert err.max() < rtol, (field, err.max())


@pytest.mark.parametrize("name", CASES)
def test_monte_carlo_gradient_is_unbiased(name):
  family, p = make(name)
  n = 100_000
  _, grads = _per_draw_grads(family, COSTS[family], n, p)
  for f, field, truth in closed_forms(name):
    g = np.asarray(getattr(grads[f], field))
    se = g.std() / np.sqrt(n)
    assert abs(g.mean() - truth) < 5 * se + 1e-12, (field, g.mean(), truth, se)


# jit = eager and vmap over keys / params are the contract battery's; here the
# eager gradient and the gradient of a vmapped loss, for one rejection family.

def test_eager_gradient_equals_jit():
  """Eager jax.grad (linearized op by op around the compiled draw) == jit."""
  family, p = make("gamma_small")
  g = lambda q: jax.grad(lambda r: family.sample(KEY, r, (64,)).sum())(q)
  for a, b in zip(jax.jit(g)(p), g(p)):
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_grad_of_vmap_equals_per_parameter_grads():
  family, p = make("gamma")
  stacked = jax.tree.map(lambda v: jnp.stack([v, v * 1.5]), p)
  loss = lambda q: family.sample(KEY, q, (16,)).mean()
  g_v = jax.grad(lambda s: jax.vmap(loss)(s).sum())(stacked)
  g_1 = jax.grad(loss)(jax.tree.map(lambda v: v * 1.5, p))
  for a, b in zip(g_v, g_1):
    np.testing.assert_allclose(a[1], b, rtol=1e-12)


@pytest.mark.parametrize("name", ["normal", "gamma", "beta", "student_t"])
def test_forward_mode_matches_reverse_mode(name):
  family, p = make(name)
  rev = _per_draw_grads(family, (_z,), 200, p)[1][_z]    # the program above
  sample = lambda q: family.sample(KEY, q, (200,), mode="jvp")
  # One tangent per field (a one-hot Params), all in one program.
  tangents = [type(p)(*[jnp.full_like(v, f == field) for f, v in zip(p._fields, p)])
              for field in p._fields]
  fwd = jax.jit(lambda q, ts: [jax.jvp(sample, (q,), (t,))[1] for t in ts])(p, tangents)
  for i in range(len(p)):
    np.testing.assert_allclose(rev[i], fwd[i], rtol=1e-12, atol=1e-300)


def test_gamma_second_order_is_exact():
  """d^2/da^2 E[z^2] = d^2/da^2 a(a+1) = 2: per-sample reverse-over-reverse
  (custom_vjp) and jax.hessian of the mean (mode="jvp") agree with it."""
  n = 50_000
  p = irt.gamma.Params(jnp.float64(3.0), jnp.float64(1.0))
  h_rev = per_sample_second(lambda q: irt.gamma.sample(KEY, q, (n,)), p, (n,),
                            "concentration", lambda z: z ** 2)
  se = np.std(h_rev) / np.sqrt(n)
  assert abs(np.mean(h_rev) - 2.0) < 5 * se, (np.mean(h_rev), se)
  g = lambda a: jnp.mean(irt.gamma.sample(KEY, irt.gamma.Params(a), (n,), mode="jvp") ** 2)
  h_fwd = jax.jit(jax.hessian(g))(3.0)
  np.testing.assert_allclose(h_fwd, np.mean(h_rev), rtol=1e-9)


@pytest.mark.parametrize("name", ["beta", "student_t"])
def test_second_order_unbiased(name):
  """Beta: d^2/da^2 E[x] = -2b/(a+b)^3. Student-t: d^2/ddf^2 E[t^2] = 4/(df-2)^3."""
  n = 50_000
  family, p = make(name)
  sample = lambda q: family.sample(KEY, q, (n,))
  if name == "beta":
    a, b = CASES[name][1]
    h = per_sample_second(sample, p, (n,), "concentration1")
    truth = -2 * b / (a + b) ** 3
  else:
    df, loc, scale = CASES[name][1]
    h = per_sample_second(sample, p, (n,), "df", lambda z: ((z - loc) / scale) ** 2)
    truth = 4 / (df - 2) ** 3
  h = np.asarray(h)
  se = h.std() / np.sqrt(n)
  assert abs(h.mean() - truth) < 5 * se, (h.mean(), truth, se)


def test_normal_implicit_equals_explicit():
  for dtype in (jnp.float32, jnp.float64):
    p = irt.normal.Params(jnp.asarray(0.3, dtype), jnp.asarray(1.7, dtype))
    z, grads = _per_draw_grads(irt.normal, (_z,), 200, p)
    jac = grads[_z]
    np.testing.assert_allclose(jac.loc, 1.0, rtol=1e-6)
    np.testing.assert_allclose(jac.scale, (z - p.loc) / p.scale, rtol=1e-6, atol=1e-6)


def test_shapes_follow_jax_random():
  a = jnp.array([0.5, 1.0, 2.0])
  assert irt.gamma.sample(KEY, irt.gamma.Params(a)).shape == (3,)
  assert irt.gamma.sample(KEY, irt.gamma.Params(a, jnp.ones((2, 1)))).shape == (2, 3)
  assert irt.gamma.sample(KEY, irt.gamma.Params(a), (4, 3)).shape == (4, 3)
  assert irt.beta.sample(KEY, irt.beta.Params(1.0, 2.0), (5,)).shape == (5,)
  assert irt.student_t.sample(KEY, irt.student_t.Params(3.0), 7).shape == (7,)
  with pytest.raises(ValueError, match="shape"):
    irt.gamma.sample(KEY, irt.gamma.Params(a), (4, 2))
  with pytest.raises(ValueError, match="broadcast"):
    irt.beta.sample(KEY, irt.beta.Params(jnp.ones(3), jnp.ones(2)))


def test_default_dtypes():
  assert irt.gamma.sample(KEY, irt.gamma.Params(jnp.float32(2.0))).dtype == jnp.float32
  assert irt.gamma.sample(KEY, irt.gamma.Params(2.0), dtype=jnp.float16).dtype == jnp.float16
  z = irt.beta.sample(KEY, irt.beta.Params(0.5, 0.5), (100,), jnp.bfloat16)
  assert z.dtype == jnp.bfloat16 and bool(jnp.all((z >= 0) & (z <= 1)))


BAD = [
    (irt.gamma, irt.gamma.Params(-1.0), "concentration"),
    (irt.gamma, irt.gamma.Params(float("nan")), "concentration"),
    (irt.gamma, irt.gamma.Params(1.0, 0.0), "rate"),
    (irt.beta, irt.beta.Params(1.0, -2.0), "concentration0"),
    (irt.beta, irt.beta.Params(0.0, 2.0), "concentration1"),
    (irt.student_t, irt.student_t.Params(0.0), "df"),
    (irt.student_t, irt.student_t.Params(3.0, 0.0, -1.0), "scale"),
    (irt.student_t, irt.student_t.Params(3.0, float("inf"), 1.0), "loc"),
    (irt.normal, irt.normal.Params(0.0, 0.0), "scale"),
    (irt.dirichlet, irt.dirichlet.Params(jnp.array([1.0, -1.0])), "concentration"),
    (irt.dirichlet, irt.dirichlet.Params(jnp.float64(2.0)), "event axis"),
    (irt.dirichlet, irt.dirichlet.Params(jnp.array([2.0])), "event axis"),
]


@pytest.mark.parametrize("family,params,name", BAD)
def test_bad_parameters_raise_naming_the_parameter(family, params, name):
  with pytest.raises(ValueError, match=name) as info:
    family.sample(KEY, params, None if family is irt.dirichlet else (3,))
  if name != "event axis":
    assert any(s in str(info.value) for s in ("-1.0", "-2.0", "nan", "0.0", "inf"))


def test_bad_parameters_raise_under_grad_too():
  with pytest.raises(ValueError, match="concentration"):
    jax.grad(lambda a: irt.gamma.sample(KEY, irt.gamma.Params(a), (3,)).sum())(-1.0)


@pytest.mark.parametrize("family,params,name", BAD[:9])
def test_bad_parameters_under_jit_give_nan(family, params, name):
  z = jax.jit(lambda q: family.sample(KEY, q, (3,)))(params)
  assert bool(jnp.all(jnp.isnan(z)))


def test_bad_key_and_params_type():
  with pytest.raises(TypeError, match="key"):
    irt.gamma.sample(1.0, irt.gamma.Params(1.0))
  with pytest.raises(TypeError, match="params"):
    irt.gamma.sample(KEY, (1.0, 1.0))
  with pytest.raises(ValueError, match="mode"):
    irt.gamma.sample(KEY, irt.gamma.Params(1.0), mode="fwd")


EXTREME_CONCENTRATIONS = [1e-30, 1e-10, 1e-3, 1.0, 1e4, 1e8]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_extreme_gamma_is_finite(dtype):
  """Concentration 1e-30 .. 1e8: finite draws, log-draws and gradients."""
  a = jnp.asarray(EXTREME_CONCENTRATIONS, dtype)
  p = irt.gamma.Params(a, jnp.ones_like(a))
  shape = (256, a.size)
  z = irt.gamma.sample(KEY, p, shape, dtype)
  assert bool(jnp.all(jnp.isfinite(z) & (z >= 0)))
  assert bool(jnp.all(jnp.isfinite(irt.gamma.sample_log(KEY, p, shape, dtype))))
  g = per_sample_grad(lambda q: irt.gamma.sample(KEY, q, shape, dtype), p, shape)
  assert all(bool(jnp.all(jnp.isfinite(v))) for v in g)
  g_log = per_sample_grad(lambda q: irt.gamma.sample_log(KEY, q, shape, dtype), p, shape)
  assert all(bool(jnp.all(jnp.isfinite(v))) for v in g_log)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_extreme_beta_is_finite(dtype):
  """Every pair of concentrations in 1e-30 .. 1e8: draws in [0, 1], finite gradients."""
  a, b = np.meshgrid(EXTREME_CONCENTRATIONS, EXTREME_CONCENTRATIONS)
  p = irt.beta.Params(jnp.asarray(a.ravel(), dtype), jnp.asarray(b.ravel(), dtype))
  shape = (128, a.size)
  x = irt.beta.sample(KEY, p, shape, dtype)
  assert bool(jnp.all((x >= 0) & (x <= 1)))
  g = per_sample_grad(lambda q: irt.beta.sample(KEY, q, shape, dtype), p, shape)
  for field, v in zip(p._fields, g):
    bad = ~jnp.isfinite(v)
    assert not bool(jnp.any(bad)), (field, np.asarray(a.ravel())[np.asarray(bad.any(0))],
                                    np.asarray(b.ravel())[np.asarray(bad.any(0))])


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("df", [0.05, 0.5, 50.0, 1e6])
def test_student_t_sampler_law_at_extreme_df(df, dtype):
  """Bailey's polar sampler against SciPy's CDF far from df = 3: very heavy
  tails (the power W^(-2/df) in log space) and the near-normal limit."""
  z = irt.student_t.sample(KEY, irt.student_t.Params(df), (20_000,), dtype)
  z = np.asarray(z, np.float64)
  assert not np.any(np.isnan(z))
  result = st.kstest(z, st.t(df).cdf)   # +-inf draws are the far tails
  assert result.pvalue > 1e-3, result


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_extreme_student_t_is_finite_or_overflows_cleanly(dtype):
  """df 1e-2 .. 1e7: no NaN; draws beyond the float range are +-inf (df < 1)."""
  df = jnp.asarray([1e-2, 0.1, 1.0, 1e3, 1e7], dtype)
  p = irt.student_t.Params(df, jnp.zeros_like(df), jnp.ones_like(df))
  shape = (256, df.size)
  z = irt.student_t.sample(KEY, p, shape, dtype)
  assert not bool(jnp.any(jnp.isnan(z)))
  assert bool(jnp.all(jnp.isfinite(z[:, 2:])))
  g = per_sample_grad(lambda q: irt.student_t.sample(KEY, q, shape, dtype), p, shape)
  assert bool(jnp.all(jnp.isfinite(g.df))) and bool(jnp.all(jnp.isfinite(g.loc)))
  assert bool(jnp.all(jnp.isfinite(jnp.where(jnp.isfinite(z), g.scale, 0.0))))


# --- Unconstrained-space pairs (issue 13, item 7): beta.sample_logit /
# log_prob_logit and gamma.sample_log / log_prob_log.

def _beta_logit_mp(a, b, y):
  """log density of y = logit x, x ~ Beta(a, b), at 50 digits (mpmath)."""
  import mpmath as mp
  with mp.workdps(50):
    a, b, y = mp.mpf(a), mp.mpf(b), mp.mpf(y)
    x, one_minus_x = 1 / (1 + mp.exp(-y)), 1 / (1 + mp.exp(y))
    return float(a * mp.log(x) + b * mp.log(one_minus_x) - mp.log(mp.beta(a, b)))


def test_unconstrained_log_densities_match_references():
  """float64: SciPy's logpdf plus the log-Jacobian at moderate y; mpmath in the tails."""
  from scipy.special import expit, log_expit
  y = np.linspace(-8.0, 8.0, 33)
  for a, b in [(0.5, 2.0), (40.0, 7.0), (0.05, 0.05)]:
    ref = st.beta(a, b).logpdf(expit(y)) + log_expit(y) + log_expit(-y)
    got = irt.beta.log_prob_logit(irt.beta.Params(a, b), jnp.asarray(y))
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
  # Far out (expit rounds to 1 in float64 beyond y ~ 37) and tiny concentrations.
  for a, b in [(1e-3, 1e-3), (1e-3, 0.5), (2.0, 1e-2)]:
    ys = [-800.0, -200.0, -30.0, 30.0, 200.0, 800.0]
    ref = [_beta_logit_mp(a, b, v) for v in ys]
    got = irt.beta.log_prob_logit(irt.beta.Params(a, b), jnp.asarray(ys))
    np.testing.assert_allclose(got, ref, rtol=1e-12)
  # Gamma: log p(y) = logpdf(e^y) + y; SciPy holds down to y = -700 in float64.
  y = np.concatenate([np.linspace(-700.0, -20.0, 8), np.linspace(-6.0, 4.0, 21)])
  for a, r in [(1e-3, 1.0), (0.3, 1.5), (4.0, 0.5)]:
    ref = st.gamma(a, scale=1 / r).logpdf(np.exp(y)) + y
    got = irt.gamma.log_prob_log(irt.gamma.Params(a, r), jnp.asarray(y))
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


def test_unconstrained_densities_integrate_to_one():
  """Trapezoid over y (spectrally accurate for these smooth, decaying densities)."""
  y = np.linspace(-200.0, 200.0, 400_001)
  for a, b in [(0.5, 0.5), (0.3, 2.0), (5.0, 1.0)]:
    mass = np.trapezoid(np.exp(irt.beta.log_prob_logit(irt.beta.Params(a, b), y)), y)
    assert abs(mass - 1) < 1e-8, (a, b, mass)
  y = np.linspace(-300.0, 6.0, 400_001)
  for a, r in [(0.3, 1.5), (4.0, 0.5)]:
    mass = np.trapezoid(np.exp(irt.gamma.log_prob_log(irt.gamma.Params(a, r), y)), y)
    assert abs(mass - 1) < 1e-8, (a, r, mass)


def test_beta_logit_is_finite_in_float32_where_the_draws_round():
  """Concentrations 1e-3 .. 1e3: float32 x rounds to 0 / 1 and log_prob(x) is
  infinite; y = logit x, its density and the ELBO term's gradients stay finite."""
  c = [1e-3, 1e-2, 0.05, 0.5, 1.0, 1e3]
  a, b = np.meshgrid(c, c)
  p = irt.beta.Params(jnp.asarray(a.ravel(), jnp.float32), jnp.asarray(b.ravel(), jnp.float32))
  shape = (512, a.size)

  def kl_term(q):   # the ELBO's log p_prior(y) - log q(y), both in y-space
    y = irt.beta.sample_logit(KEY, q, shape)
    per_draw = (irt.beta.log_prob_logit(irt.beta.Params(1.0, 1.0), y)
                - irt.beta.log_prob_logit(q, y))
    return per_draw.sum(), (y, per_draw)

  # One compiled program: draws, per-draw terms and gradients.
  (_, (y, per_draw)), g = jax.jit(jax.value_and_grad(kl_term, has_aux=True))(p)
  assert y.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(y)))
  assert bool(jnp.all(jnp.isfinite(per_draw)))
  assert all(bool(jnp.all(jnp.isfinite(v))) for v in g)
  # sigmoid(y) is beta.sample's draw (same key): what this fixes.
  assert not bool(jnp.all(jnp.isfinite(irt.beta.log_prob(p, jax.nn.sigmoid(y)))))
  # Gamma(1e-3) puts log z near -700 (z underflows in float32); log_prob_log stays finite.
  lg = irt.gamma.log_prob_log(irt.gamma.Params(jnp.float32(1e-3)),
                              jnp.array([-1e4, -700.0, -50.0, 0.0, 4.0], jnp.float32))
  assert lg.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(lg)))


def test_beta_logit_gradient_is_unbiased():
  """y = log Ga - log Gb: E[y] = psi(a) - psi(b), Var y = psi1(a) + psi1(b), so
  d/da E[y^2] = 2 (psi(a) - psi(b)) psi1(a) + psi2(a) (and -... for b)."""
  from scipy.special import polygamma, digamma
  a, b, n = 0.4, 2.0, 50_000
  m = digamma(a) - digamma(b)
  truth = {"concentration1": 2 * m * polygamma(1, a) + polygamma(2, a),
           "concentration0": -2 * m * polygamma(1, b) + polygamma(2, b)}
  g = per_sample_grad(lambda q: irt.beta.sample_logit(KEY, q, (n,)),
                      irt.beta.Params(jnp.float64(a), jnp.float64(b)), (n,), lambda y: y ** 2)
  for field, t in truth.items():
    v = np.asarray(getattr(g, field))
    assert abs(v.mean() - t) < 5 * v.std() / np.sqrt(n), (field, v.mean(), t)


def test_beta_logit_jit_vmap_same_draws_and_bad_input():
  """jit(vmap over keys) == one eager call per key; sigmoid(sample_logit) ==
  sample for the same key (the same two gamma draws)."""
  p = irt.beta.Params(0.7, 1.3)
  keys = jax.random.split(KEY, 3)
  many = jax.jit(jax.vmap(lambda k: irt.beta.sample_logit(k, p, (4,))))(keys)
  np.testing.assert_allclose(many, np.stack([irt.beta.sample_logit(k, p, (4,)) for k in keys]),
                             rtol=1e-12)
  np.testing.assert_allclose(jax.nn.sigmoid(many[0]), irt.beta.sample(keys[0], p, (4,)),
                             rtol=1e-12)
  with pytest.raises(ValueError, match="concentration0"):
    irt.beta.sample_logit(KEY, irt.beta.Params(1.0, -2.0), (3,))
  with pytest.raises(ValueError, match="concentration1"):
    irt.beta.log_prob_logit(irt.beta.Params(0.0, 2.0), 0.5)
  with pytest.raises(ValueError, match="rate"):
    irt.gamma.log_prob_log(irt.gamma.Params(1.0, -1.0), 0.5)
