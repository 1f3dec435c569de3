"""Discrete families (irt.bernoulli, categorical, poisson, binomial,
negative_binomial) and their estimators: score function, measure-valued, GO.

References are closed forms (SciPy's pmf / cdf as the reference mass
functions; moments of the Poisson, binomial and negative binomial laws;
finite sums over a pmf for exact variances), never values produced by the
code under test. Monte-Carlo bounds are 5 standard errors, fixed seeds. Each
test compiles one program (the estimators of a family together), because the
compilations, not the draws, are the cost.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import irt_jax as irt
from irt_jax import estimators as est
from irt_jax._src import family as _family
from tests.util import mean_ok, var_z

KEY = jax.random.key(2019)
F64 = jnp.float64
N = 40_000


def exact_var(values, pmf):
  """Variance of values(k) under a finite pmf (exact sum)."""
  m = np.sum(values * pmf)
  return float(np.sum((values - m) ** 2 * pmf))


# --- the families themselves --------------------------------------------------------

def test_mass_functions_and_cdfs_match_scipy():
  k = np.arange(0.0, 9.0)
  lp = np.log(0.3 / 0.7)
  cases = [  # even index: with the CDF
      (irt.binomial, irt.binomial.Params(6, probs=0.3), stats.binom(6, 0.3)),
      (irt.binomial, irt.binomial.Params(6, logits=lp), stats.binom(6, 0.3)),
      # NumPyro's negative binomial counts successes (prob p) before r failures:
      # SciPy's nbinom(r, 1 - p).
      (irt.negative_binomial, irt.negative_binomial.Params(2.5, probs=0.3),
       stats.nbinom(2.5, 0.7)),
      (irt.negative_binomial, irt.negative_binomial.Params(2.5, logits=lp),
       stats.nbinom(2.5, 0.7)),
      (irt.bernoulli, irt.bernoulli.Params(probs=0.3), stats.bernoulli(0.3)),
      (irt.bernoulli, irt.bernoulli.Params(logits=lp), stats.bernoulli(0.3)),
      (irt.poisson, irt.poisson.Params(2.5), stats.poisson(2.5)),
  ]

  @jax.jit
  def evaluate(params):
    # the CDFs (incomplete beta / gamma: the compile cost) once per family
    return [(fam.log_prob(p, k), fam.cdf(p, k + 0.5) if i % 2 == 0 else fam.cdf(p, -1.0),
             fam.mean(p), fam.variance(p), fam.log_prob(p, jnp.array([-1.0, 0.5])))
            for i, ((fam, _, _), p) in enumerate(zip(cases, params))]

  values = evaluate([fam.validate(p, F64) for fam, p, _ in cases])
  for i, ((_, p, ref), (lp, cdf, m, v, off)) in enumerate(zip(cases, values)):
    np.testing.assert_allclose(lp, ref.logpmf(k), rtol=1e-10, err_msg=str(p))
    np.testing.assert_allclose(cdf, ref.cdf(k) if i % 2 == 0 else 0.0, rtol=1e-9,
                               atol=1e-14, err_msg=str(p))
    np.testing.assert_allclose([m, v], [ref.mean(), ref.var()], rtol=1e-10)
    assert np.all(np.asarray(off) == -np.inf)     # off the support: -inf, never NaN
  cat = irt.categorical.Params(probs=jnp.array([1.0, 2.0, 5.0], F64))
  np.testing.assert_allclose(irt.categorical.log_prob(cat, jnp.array([0.0, 1.0, 2.0])),
                             np.log([1 / 8, 2 / 8, 5 / 8]), rtol=1e-12)
  logits = irt.categorical.Params(logits=jnp.log(jnp.array([1.0, 2.0, 5.0], F64)))
  np.testing.assert_allclose(irt.categorical.log_prob(logits, 2.0), np.log(5 / 8),
                             rtol=1e-12)
  assert float(irt.categorical.log_prob(cat, 3.0)) == -np.inf
  # degenerate probabilities are valid: finite where the mass is 1
  assert float(irt.bernoulli.log_prob(irt.bernoulli.Params(probs=1.0), 1.0)) == 0.0
  assert float(irt.binomial.log_prob(irt.binomial.Params(3, probs=0.0), 0.0)) == 0.0


def test_no_pathwise_gradient_and_clear_errors():
  p = irt.poisson.Params(3.0)
  draw = lambda r: irt.poisson.sample(KEY, irt.poisson.Params(r))
  assert np.isnan(jax.grad(draw)(3.0))                  # NaN, never a silent 0
  assert np.isfinite(jax.grad(lambda r: jax.lax.stop_gradient(draw(r)) * r)(3.0))
  with pytest.raises(ValueError, match="discrete"):
    est.pathwise(lambda z: z, irt.poisson, p, KEY, 4)
  assert est.choose(irt.binomial, irt.binomial.Params(3, probs=0.5)) == "score_function"
  with pytest.raises(_family.NotAFamilyError, match="discrete"):
    irt.truncated.of(irt.poisson)
  # parameters, by name
  for fam, bad, match in (
      (irt.bernoulli, irt.bernoulli.Params(probs=0.5, logits=0.0), "exactly one"),
      (irt.bernoulli, irt.bernoulli.Params(), "exactly one"),
      (irt.categorical, irt.categorical.Params(), "exactly one"),
      (irt.negative_binomial, irt.negative_binomial.Params(2.0), "exactly one"),
      (irt.bernoulli, irt.bernoulli.Params(probs=1.5), "probs must be in"),
      (irt.binomial, irt.binomial.Params(2.5, probs=0.5), "total_count must be"),
      (irt.negative_binomial, irt.negative_binomial.Params(2.0, probs=1.0), "probs must be < 1"),
      (irt.negative_binomial, irt.negative_binomial.Params(-2.0, logits=0.0), "total_count"),
      (irt.poisson, irt.poisson.Params(float("nan")), "rate"),
      (irt.categorical, irt.categorical.Params(logits=[np.inf, 0.0]), "logits"),
      (irt.bernoulli, irt.bernoulli.Params(logits=np.nan), "logits")):
    with pytest.raises(ValueError, match=match):
      fam.sample(KEY, bad)
    if match != "exactly one":
      assert not bool(np.all(fam.is_valid(bad))), bad
    else:   # a question of structure, not of values: named, also from is_valid
      with pytest.raises(ValueError, match="exactly one of probs and logits"):
        fam.is_valid(bad)
      with pytest.raises(ValueError, match="exactly one of probs and logits"):
        fam.validate(bad)
  # under jit an invalid parameter gives NaN draws
  bad = jax.jit(lambda q: irt.bernoulli.sample(KEY, irt.bernoulli.Params(probs=q)))
  assert np.isnan(bad(1.5))


# --- estimators ---------------------------------------------------------------------

def test_poisson_go_score_measure_valued_and_delta():
  """f = z^2 on Poisson(l): d/dl E f = 1 + 2 l. vmap over two rates.

  GO = coupled MVD per draw: (z+1)^2 - z^2 = 2 z + 1, Var 4 l. Uncoupled MVD:
  (z'+1)^2 - z^2 with independent z', z: Var (z^2) = 4l^3 + 6l^2 + l, Var((z+1)^2)
  = 4l^3 + 14l^2 + 9l (Poisson moments), total 8l^3 + 20l^2 + 10l. Delta
  control variate: h = f (quadratic), every per-sample value is exact.
  """
  f = lambda z: z ** 2

  @jax.jit
  def run(rates):
    def one(r):
      p = irt.poisson.Params(r)
      return (est.go_gradient(f, irt.poisson, p, KEY, N).rate,
              est.measure_valued(f, irt.poisson, p, KEY, N).rate,
              est.measure_valued(f, irt.poisson, p, KEY, N, coupling=False).rate,
              est.score_function(f, irt.poisson, p, KEY, N, baseline="optimal").rate,
              est.score_function(f, irt.poisson, p, KEY, 64, control_variate="delta").rate)
    return jax.vmap(one)(rates)

  rates = np.array([0.7, 3.0])
  out = run(jnp.asarray(rates, F64))
  for i, lam in enumerate(rates):
    go, mvd, mvd_u, sf, delta = (np.asarray(o[i]) for o in out)
    for name, g in (("go", go), ("mvd", mvd), ("mvd_uncoupled", mvd_u), ("sf", sf)):
      ok, m, se = mean_ok(g, 1 + 2 * lam)
      assert ok, (name, lam, m, se)
    for name, g, v in (("go", go, 4 * lam), ("mvd", mvd, 4 * lam),
                       ("mvd_uncoupled", mvd_u, 8 * lam ** 3 + 20 * lam ** 2 + 10 * lam)):
      z, got = var_z(g, v)
      assert z < 5, (name, lam, got, v)
    np.testing.assert_allclose(delta, 1 + 2 * lam, rtol=1e-9)
    assert go.var() < sf.var() / 5


def test_negative_binomial_go_gradient():
  """f = z on NB(r, p): E z = r p/(1-p); d/dr = p/(1-p), d/dlogits = r p/(1-p)
  (= d/dp r/(1-p)^2 times p(1-p)). GO's logits part per draw is
  G_logits = p (r + z): Var = p^2 Var(z) = r p^3/(1-p)^2. The probs rule
  (r + z)/(1 - p) is checked in go_velocity's example; the score function on
  the negative binomial in benchmarks/discrete_variance.py (its compile, the
  gamma-Poisson sampler's, is what this file can least afford)."""
  r, q = 2.5, 0.4

  @jax.jit
  def run(r, q):
    pl = irt.negative_binomial.Params(r, logits=jnp.log(q) - jnp.log1p(-q))
    return est.go_gradient(lambda z: z, irt.negative_binomial, pl, KEY, N)

  go = run(jnp.asarray(r, F64), jnp.asarray(q, F64))
  assert go.probs is None
  z = np.asarray(go.logits) / q - r        # the draws, recovered from G_logits
  assert np.allclose(z, np.round(z), atol=1e-9) and np.all(z > -1e-9)
  ok, m, se = mean_ok(np.stack([go.total_count, go.logits], 1),
                      np.array([q / (1 - q), r * q / (1 - q)]))
  assert ok, (m, se)
  z, v = var_z(go.logits, r * q ** 3 / (1 - q) ** 2)
  assert z < 5, v


def test_binomial_and_bernoulli_estimators():
  """Binomial(6, p = 0.3), f = z^2: d/dp E f = n(1 - 2p) + 2 n^2 p.

  Coupled MVD per draw n((Y+1)^2 - Y^2) = n(2Y + 1), Y ~ Bin(n-1, p): Var
  4 n^2 (n-1) p (1-p); GO per draw (n - z)/(1-p) (2z + 1), its variance an
  exact finite sum over the Bin(n, p) pmf. Bernoulli: MVD is f(1) - f(0)
  exactly; logits scale everything by p(1-p).
  """
  n, q = 6, 0.3
  f = lambda z: z ** 2
  g_bern = lambda z: jnp.cos(3.0 * z)    # not a polynomial; f(1) - f(0) = cos 3 - 1

  @jax.jit
  def run(q, logit):
    p = irt.binomial.Params(n, probs=q)
    pl = irt.binomial.Params(n, logits=logit)
    b = irt.bernoulli.Params(logits=logit)
    return (est.go_gradient(f, irt.binomial, p, KEY, N),
            est.measure_valued(f, irt.binomial, p, KEY, N, wrt="probs"),
            est.measure_valued(f, irt.binomial, pl, KEY, N, wrt="logits", coupling=False),
            est.score_function(f, irt.binomial, p, KEY, N, baseline="leave_one_out"),
            est.go_gradient(g_bern, irt.bernoulli, b, KEY, N),
            est.measure_valued(g_bern, irt.bernoulli, b, KEY, 16),
            est.score_function(g_bern, irt.bernoulli, b, KEY, N))

  logit = np.log(q / (1 - q))
  go, mvd, mvd_l, sf, b_go, b_mvd, b_sf = run(jnp.asarray(q, F64), jnp.asarray(logit, F64))
  want = n * (1 - 2 * q) + 2 * n * n * q
  for name, g in (("go", go.probs), ("mvd", mvd.probs), ("sf", sf.probs),
                  ("mvd_logits", mvd_l.logits / (q * (1 - q)))):
    ok, m, se = mean_ok(g, want)
    assert ok, (name, m, se)
  np.testing.assert_array_equal(go.total_count, 0.0)         # a count: not differentiated
  assert np.all(np.isnan(np.asarray(mvd.total_count)))        # not estimated
  k = np.arange(n + 1.0)
  go_var = exact_var((n - k) / (1 - q) * (2 * k + 1), stats.binom(n, q).pmf(k))
  for name, g, v in (("go", go.probs, go_var),
                     ("mvd", mvd.probs, 4 * n ** 2 * (n - 1) * q * (1 - q))):
    z, got = var_z(g, v)
    assert z < 5, (name, got, v)
  b_want = (np.cos(3.0) - 1.0) * q * (1 - q)
  np.testing.assert_allclose(b_mvd.logits, b_want, rtol=1e-12)   # exact, no variance
  for name, g in (("go", b_go.logits), ("sf", b_sf.logits)):
    ok, m, se = mean_ok(g, b_want)
    assert ok, (name, m, se)


def test_categorical_score_function_and_float32():
  """d/dlogits_j E[t_z] = p_j (t_j - p.t); Poisson GO in float32."""
  logits = jnp.array([0.1, -0.4, 0.8])
  table = jnp.array([1.0, 3.0, -2.0])
  f = lambda z: table[z.astype(jnp.int32)]

  @jax.jit
  def run(logits, rate):
    p = irt.categorical.Params(logits=logits)
    return (est.score_function(f, irt.categorical, p, KEY, N, baseline="leave_one_out"),
            est.go_gradient(jnp.sqrt, irt.poisson, irt.poisson.Params(rate), KEY, N))

  sf, go32 = run(logits, jnp.float32(2.0))
  prob = np.exp(logits) / np.exp(logits).sum()
  ok, m, se = mean_ok(sf.logits, prob * (np.asarray(table) - prob @ np.asarray(table)))
  assert ok, (m, se)
  assert sf.probs is None and go32.rate.dtype == jnp.float32
  k = np.arange(60.0)      # d/dl E sqrt z = E[sqrt(z+1) - sqrt z], exact sum
  ok, m, se = mean_ok(go32.rate, np.sum((np.sqrt(k + 1) - np.sqrt(k)) * stats.poisson(2.0).pmf(k)))
  assert ok, (m, se)
  with pytest.raises(ValueError, match="no closed-form mean and variance"):
    est.score_function(f, irt.categorical, irt.categorical.Params(logits=logits), KEY, 8,
                       control_variate="delta")


# --- measure-valued derivatives of the explicit families -----------------------------

def test_measure_valued_explicit_families():
  """Exponential(l), f = z^2: d/dl 2/l^2 = -4/l^3. Coupled per draw
  -(2 E0 E1 + E1^2)/l^3: Var 48/l^6; uncoupled (E0^2 - G2^2)/l^3: Var
  (20 + 84)/l^6. Weibull(scale, k), f = z^2: d/dscale = 2 scale Gamma(1 + 2/k).
  Log-normal, f = z: d/dloc = e^(m + s^2/2), d/dscale = s e^(m + s^2/2)."""
  from scipy.special import gamma as gamma_fn
  f = lambda z: z ** 2
  lam, scale, k, m, s = 2.0, 1.3, 1.5, 0.2, 0.5

  @jax.jit
  def run(lam, scale, k, m, s):
    e = irt.exponential.Params(lam)
    w = irt.weibull.Params(scale, k)
    ln = irt.log_normal.Params(m, s)
    return (est.measure_valued(f, irt.exponential, e, KEY, N),
            est.measure_valued(f, irt.exponential, e, KEY, N, coupling=False),
            est.measure_valued(f, irt.weibull, w, KEY, N, wrt="scale"),
            est.measure_valued(f, irt.weibull, w, KEY, N, wrt="scale", coupling=False),
            est.measure_valued(lambda z: z, irt.log_normal, ln, KEY, N),
            est.measure_valued(lambda z: z, irt.log_normal, ln, KEY, N, coupling=False))

  e_c, e_u, w_c, w_u, l_c, l_u = run(*[jnp.asarray(v, F64) for v in (lam, scale, k, m, s)])
  for name, g, v in (("coupled", e_c.rate, 48 / lam ** 6),
                     ("uncoupled", e_u.rate, 104 / lam ** 6)):
    ok, mu, se = mean_ok(g, -4 / lam ** 3)
    assert ok, (name, mu, se)
    z, got = var_z(g, v)
    assert z < 5, (name, got, v)
  for name, g in (("coupled", w_c), ("uncoupled", w_u)):
    ok, mu, se = mean_ok(g.scale, 2 * scale * gamma_fn(1 + 2 / k))
    assert ok, (name, mu, se)
    assert np.all(np.isnan(np.asarray(g.concentration)))
  assert np.var(w_c.scale) < np.var(w_u.scale)
  ev = np.exp(m + s * s / 2)
  for name, g in (("coupled", l_c), ("uncoupled", l_u)):
    ok, mu, se = mean_ok(np.stack([g.loc, g.scale], 1), np.array([ev, s * ev]))
    assert ok, (name, mu, se)


def test_measure_valued_and_go_errors_name_what_is_available():
  f = lambda z: z
  with pytest.raises(ValueError, match=r"'concentration'.*available for irt_jax.weibull: \('scale',\)"):
    est.measure_valued(f, irt.weibull, irt.weibull.Params(1.0, 2.0), KEY, 4)
  with pytest.raises(ValueError, match="'total_count'"):
    est.measure_valued(f, irt.binomial, irt.binomial.Params(3, probs=0.5), KEY, 4)
  with pytest.raises(ValueError, match="'probs' is not a parameter"):
    est.measure_valued(f, irt.binomial, irt.binomial.Params(3, logits=0.5), KEY, 4,
                       wrt="probs")
  with pytest.raises(ValueError) as e:
    est.measure_valued(f, irt.negative_binomial,
                       irt.negative_binomial.Params(2.0, probs=0.5), KEY, 4)
  msg = str(e.value)
  assert "irt_jax.negative_binomial" in msg
  for offered in ("irt_jax.normal (loc, scale)", "irt_jax.gamma (rate)",
                  "irt_jax.exponential (rate)", "irt_jax.weibull (scale)",
                  "irt_jax.log_normal (loc, scale)", "irt_jax.poisson (rate)",
                  "irt_jax.bernoulli (probs, logits)", "irt_jax.binomial (probs, logits)"):
    assert offered in msg, (offered, msg)
  with pytest.raises(ValueError, match=r"irt_jax.normal'? is not discrete.*irt_jax.poisson"):
    est.go_gradient(f, irt.normal, irt.normal.Params(0.0, 1.0), KEY, 4)
  with pytest.raises(ValueError, match="no GO rule"):
    est.go_gradient(f, irt.categorical, irt.categorical.Params(logits=[0.0, 1.0]), KEY, 4)
