"""Dirichlet: marginals, unbiased gradients, tiny concentrations, shapes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

import irt_jax as irt

KEY = jax.random.key(1)
ALPHA = jnp.array([0.3, 1.0, 2.5, 4.0])


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_marginals_are_beta(dtype):
  z = irt.dirichlet.sample(KEY, irt.dirichlet.Params(ALPHA.astype(dtype)), (20_000,))
  assert z.shape == (20_000, 4) and z.dtype == dtype
  np.testing.assert_allclose(z.sum(-1), 1.0, rtol=1e-5 if dtype == jnp.float32 else 1e-12)
  a0 = float(ALPHA.sum())
  for k, a in enumerate(np.asarray(ALPHA)):
    assert st.kstest(np.asarray(z[:, k], np.float64), st.beta(a, a0 - a).cdf).pvalue > 1e-3


def test_gradient_of_mean_is_unbiased():
  """d/dalpha_j E[z_i] = (delta_ij a0 - alpha_i) / a0^2."""
  n = 100_000
  a0 = ALPHA.sum()
  truth = (jnp.eye(4) * a0 - ALPHA[:, None]) / a0 ** 2
  full = jnp.broadcast_to(ALPHA, (n, 4))
  sample = lambda a: irt.dirichlet.sample(KEY, irt.dirichlet.Params(a), (n,))
  # jac[s, i, j] = d z_si / d alpha_sj: one vjp per event index i, vmapped.
  def jacobian(a):
    _, pullback = jax.vjp(sample, a)
    basis = jnp.broadcast_to(jnp.eye(4)[:, None, :], (4, n, 4))
    return jnp.moveaxis(jax.vmap(lambda c: pullback(c)[0])(basis), 0, 1)
  jac = jax.jit(jacobian)(full)
  mean, se = jac.mean(0), jac.std(0) / np.sqrt(n)
  assert bool(jnp.all(jnp.abs(mean - truth) < 5 * se + 1e-12)), (mean, truth)


def test_second_order_is_unbiased():
  """d^2/dalpha_i^2 E[z_i] = -2 (a0 - alpha_i) / a0^3, reverse-over-reverse and forward."""
  n = 50_000
  a0 = float(ALPHA.sum())
  full = jnp.broadcast_to(ALPHA, (n, 4))
  f = lambda a, mode: irt.dirichlet.sample(KEY, irt.dirichlet.Params(a), (n,), mode=mode)[:, 1]
  # Per-sample d^2 z_1 / d alpha_1^2: reverse-over-reverse, and forward-over-reverse.
  first = lambda a, mode: jax.grad(lambda b: f(b, mode).sum())(a)[:, 1]
  h = jax.jit(jax.grad(lambda a: first(a, "vjp").sum()))(full)[:, 1]
  e1 = jnp.zeros_like(full).at[:, 1].set(1.0)
  hf = jax.jit(lambda a: jax.jvp(lambda b: first(b, "jvp"), (a,), (e1,))[1])(full)
  np.testing.assert_allclose(h, hf, rtol=1e-9, atol=1e-12)
  truth = -2 * (a0 - float(ALPHA[1])) / a0 ** 3
  assert abs(h.mean() - truth) < 5 * h.std() / np.sqrt(n)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("alpha", [1e-30, 1e-4, 1e-2, 1e8])
def test_extreme_concentrations_are_finite(alpha, dtype):
  conc = jnp.full((5,), alpha, dtype)
  sample = lambda c: irt.dirichlet.sample(KEY, irt.dirichlet.Params(c), (64,), dtype)
  z = sample(conc)
  assert bool(jnp.all(jnp.isfinite(z))) and bool(jnp.all(z >= 0))
  np.testing.assert_allclose(z.sum(-1), 1.0, rtol=1e-5)
  g = jax.jit(jax.grad(lambda c: sample(c)[:, 0].sum()))(conc)
  assert bool(jnp.all(jnp.isfinite(g)))


def test_tiny_concentration_is_not_all_equal_split():
  """Beta(1e-3, 1e-3) via Dirichlet: draws sit at the ends, not at 0.5."""
  z = irt.dirichlet.sample(KEY, irt.dirichlet.Params(jnp.array([1e-3, 1e-3])), (10_000,))
  assert float(jnp.mean(jnp.abs(z[:, 0] - 0.5) > 0.49)) > 0.99
  assert abs(float(z[:, 0].mean()) - 0.5) < 0.03


def test_batch_and_event_shapes():
  conc = jnp.ones((2, 3))
  assert irt.dirichlet.sample(KEY, irt.dirichlet.Params(conc)).shape == (2, 3)
  assert irt.dirichlet.sample(KEY, irt.dirichlet.Params(conc), (5, 2)).shape == (5, 2, 3)
  with pytest.raises(ValueError, match="shape"):
    irt.dirichlet.sample(KEY, irt.dirichlet.Params(conc), (5, 3))


def test_log_prob_mean_variance():
  p = irt.dirichlet.Params(ALPHA)
  x = jnp.array([0.1, 0.2, 0.3, 0.4])
  np.testing.assert_allclose(irt.dirichlet.log_prob(p, x), st.dirichlet(np.asarray(ALPHA)).logpdf(x),
                             rtol=1e-10)
  np.testing.assert_allclose(irt.dirichlet.mean(p), st.dirichlet(np.asarray(ALPHA)).mean(), rtol=1e-12)
  np.testing.assert_allclose(irt.dirichlet.variance(p), st.dirichlet(np.asarray(ALPHA)).var(), rtol=1e-12)


# --- Log space (issue 13, item 7): sample_log / log_prob_log.

def test_log_prob_log_matches_scipy():
  """log_prob_log(y) - y_K is the density of (y_1..y_{K-1}) w.r.t. Lebesgue:
  SciPy's Dirichlet logpdf plus log|dz/dy| = sum_{k<K} y_k (float64)."""
  z_tiny = np.array([np.exp(-700.0), 0.0, 0.3])   # z_1 = e^-700: SciPy still finite
  z_tiny[1] = 1 - z_tiny[0] - z_tiny[2]
  cases = [(ALPHA, [0.1, 0.2, 0.3, 0.4]), (ALPHA, [0.7, 0.1, 0.15, 0.05]),
           (jnp.array([1e-3, 0.5, 2.0]), z_tiny)]
  for alpha, z in cases:
    z = np.asarray(z, np.float64)
    y = np.log(z)
    ref = st.dirichlet(np.asarray(alpha, np.float64)).logpdf(z) + y[:-1].sum()
    got = irt.dirichlet.log_prob_log(irt.dirichlet.Params(alpha), jnp.asarray(y)) - y[-1]
    np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_elbo_terms_in_log_space_are_exact():
  """K = 3: E_q[p/q] = 1 and E_q[log q - log p] = KL(Dir(aq) || Dir(ap)) in closed
  form, with draws from sample_log and both densities from log_prob_log."""
  from scipy.special import digamma, gammaln
  aq, ap, n = np.array([0.4, 1.5, 3.0]), np.array([1.0, 0.7, 2.0]), 20_000
  y = irt.dirichlet.sample_log(KEY, irt.dirichlet.Params(jnp.asarray(aq)), (n,))
  log_q = np.asarray(irt.dirichlet.log_prob_log(irt.dirichlet.Params(aq), y))
  log_p = np.asarray(irt.dirichlet.log_prob_log(irt.dirichlet.Params(ap), y))
  w = np.exp(log_p - log_q)
  assert abs(w.mean() - 1) < 5 * w.std() / np.sqrt(n), w.mean()
  kl = (gammaln(aq.sum()) - gammaln(aq).sum() - gammaln(ap.sum()) + gammaln(ap).sum()
        + ((aq - ap) * (digamma(aq) - digamma(aq.sum()))).sum())
  d = log_q - log_p
  assert abs(d.mean() - kl) < 5 * d.std() / np.sqrt(n), (d.mean(), kl)


def test_sample_log_gradient_is_unbiased():
  """E[y_k] = psi(alpha_k) - psi(a0), so d/dalpha_j E[sum_k w_k y_k] =
  w_j psi1(alpha_j) - sum(w) psi1(a0)."""
  from scipy.special import polygamma
  n, w = 20_000, jnp.array([1.0, -2.0, 0.5, 3.0])
  alpha = np.asarray(ALPHA)
  truth = np.asarray(w) * polygamma(1, alpha) - float(w.sum()) * polygamma(1, alpha.sum())
  full = jnp.broadcast_to(ALPHA, (n, 4))
  f = lambda a: jnp.sum(irt.dirichlet.sample_log(KEY, irt.dirichlet.Params(a), (n,)) @ w)
  g = np.asarray(jax.jit(jax.grad(f))(full))
  assert np.all(np.abs(g.mean(0) - truth) < 5 * g.std(0) / np.sqrt(n)), (g.mean(0), truth)


def test_sample_log_is_finite_in_float32():
  """alpha down to 1e-3 in float32: z_k underflows to 0 (log_prob infinite);
  y, log_prob_log(y) and the ELBO term's gradient stay finite."""
  alpha = jnp.array([1e-3, 1e-3, 0.05, 1.0, 1e3], jnp.float32)

  def kl_term(a):   # log p_prior(y) - log q(y), both in log space
    y = irt.dirichlet.sample_log(KEY, irt.dirichlet.Params(a), (512,))
    per_draw = (irt.dirichlet.log_prob_log(irt.dirichlet.Params(jnp.ones(5, jnp.float32)), y)
                - irt.dirichlet.log_prob_log(irt.dirichlet.Params(a), y))
    return per_draw.sum(), (y, per_draw)

  (_, (y, per_draw)), g = jax.jit(jax.value_and_grad(kl_term, has_aux=True))(alpha)
  assert y.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(y)))
  assert bool(jnp.all(jnp.isfinite(per_draw))) and bool(jnp.all(jnp.isfinite(g)))
  z = jnp.exp(y)   # what sample returns (same key; checked below): what this fixes
  assert not bool(jnp.all(jnp.isfinite(irt.dirichlet.log_prob(irt.dirichlet.Params(alpha), z))))


def test_sample_log_jit_vmap_and_bad_input():
  p = irt.dirichlet.Params(jnp.array([0.5, 1.0, 2.0]))
  keys = jax.random.split(KEY, 3)
  many = jax.jit(jax.vmap(lambda k: irt.dirichlet.sample_log(k, p, (2,))))(keys)
  assert many.shape == (3, 2, 3)
  np.testing.assert_allclose(many, np.stack([irt.dirichlet.sample_log(k, p, (2,)) for k in keys]),
                             rtol=1e-12)
  np.testing.assert_allclose(jax.nn.logsumexp(many, -1), 0.0, atol=1e-12)
  # Same key, same log-gamma draws (and the same compiled draw) as sample.
  np.testing.assert_allclose(jnp.exp(many[0]), irt.dirichlet.sample(keys[0], p, (2,)),
                             rtol=1e-12)
  with pytest.raises(ValueError, match="concentration"):
    irt.dirichlet.sample_log(KEY, irt.dirichlet.Params(jnp.array([1.0, -1.0])))
  with pytest.raises(ValueError, match="event axis"):
    irt.dirichlet.log_prob_log(irt.dirichlet.Params(jnp.array([2.0])), jnp.zeros(1))
