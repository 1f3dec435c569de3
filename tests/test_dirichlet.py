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
