"""irt_jax families as NumPyro distributions: SVI with implicit gradients
converges to known conjugate posteriors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

numpyro = pytest.importorskip("numpyro")
import numpyro.distributions as nd  # noqa: E402
from numpyro.infer import SVI, Trace_ELBO  # noqa: E402
import optax  # noqa: E402

import irt_jax as irt  # noqa: E402
from irt_jax.numpyro import Distribution  # noqa: E402


def _fit(model, guide, data, steps, lr, seed=0):
  # A decaying step size: Adam at a constant rate hovers off the optimum.
  schedule = optax.exponential_decay(lr, steps // 4, 0.3)
  svi = SVI(model, guide, optax.adam(schedule), Trace_ELBO(num_particles=8))
  result = svi.run(jax.random.key(seed), steps, data, progress_bar=False)
  return result.params


def test_gamma_guide_recovers_the_poisson_gamma_posterior():
  # lam ~ Gamma(2, 1), x_i ~ Poisson(lam): posterior Gamma(2 + sum x, 1 + n).
  data = jnp.array([3.0, 5.0, 4.0, 6.0, 2.0, 4.0, 5.0, 3.0])

  def model(x):
    lam = numpyro.sample("lam", nd.Gamma(2.0, 1.0))
    numpyro.sample("x", nd.Poisson(lam), obs=x)

  def guide(x):
    a = numpyro.param("a", 3.0, constraint=nd.constraints.positive)
    b = numpyro.param("b", 1.0, constraint=nd.constraints.positive)
    numpyro.sample("lam", Distribution(irt.gamma, irt.gamma.Params(a, b)))

  params = _fit(model, guide, data, 4000, 0.1)
  np.testing.assert_allclose(params["a"], 2 + data.sum(), rtol=0.05)
  np.testing.assert_allclose(params["b"], 1 + data.size, rtol=0.05)
  np.testing.assert_allclose(params["a"] / params["b"], (2 + data.sum()) / (1 + data.size),
                             rtol=0.015)


def test_distribution_shapes_support_and_pytree():
  d = Distribution(irt.beta, irt.beta.Params(jnp.ones(3), 2.0))
  assert d.batch_shape == (3,) and d.event_shape == ()
  assert d.support is nd.constraints.unit_interval
  z = d.sample(jax.random.key(1), (5,))
  assert z.shape == (5, 3) and d.log_prob(z).shape == (5, 3)
  dd = Distribution(irt.dirichlet, irt.dirichlet.Params(jnp.ones((2, 4))))
  assert dd.batch_shape == (2,) and dd.event_shape == (4,)
  assert dd.support is nd.constraints.simplex
  leaves, tree = jax.tree.flatten(d)
  assert len(leaves) == 2
  back = jax.tree.unflatten(tree, leaves)
  np.testing.assert_allclose(back.mean, d.mean)
  # Gradients flow through sample (rsample).
  g = jax.grad(lambda a: Distribution(irt.gamma, irt.gamma.Params(a, 1.0))
               .sample(jax.random.key(2), (4000,)).mean())(3.0)
  assert abs(g - 1.0) < 0.05
  with pytest.raises(TypeError, match="params"):
    Distribution(irt.gamma, irt.beta.Params(1.0, 1.0))


def test_von_mises_guide_recovers_the_conjugate_posterior():
  # theta ~ VonMises(mu0, k0), x_i ~ VonMises(theta, k): the posterior is von Mises
  # with natural parameter k0 (cos mu0, sin mu0) + k sum_i (cos x_i, sin x_i).
  # NumPyro cannot reparameterize a von Mises guide; irt_jax's implicit rule can.
  mu0, k0, k = 0.3, 1.0, 2.0
  data = jnp.array([0.9, 1.4, 0.6, 1.1, 1.8, 0.7, 1.2, 1.0])

  def model(x):
    theta = numpyro.sample("theta", nd.VonMises(mu0, k0))
    numpyro.sample("x", nd.VonMises(theta, k), obs=x)

  def guide(x):
    loc = numpyro.param("loc", 0.0)
    conc = numpyro.param("conc", 1.0, constraint=nd.constraints.positive)
    numpyro.sample("theta", Distribution(irt.von_mises, irt.von_mises.Params(loc, conc)))

  params = _fit(model, guide, data, 3000, 0.05)
  eta = k0 * np.array([np.cos(mu0), np.sin(mu0)]) + k * np.array(
      [np.cos(data).sum(), np.sin(data).sum()])
  want_loc, want_conc = np.arctan2(eta[1], eta[0]), np.hypot(*eta)
  assert abs(np.angle(np.exp(1j * (params["loc"] - want_loc)))) < 0.03, (params, want_loc)
  np.testing.assert_allclose(params["conc"], want_conc, rtol=0.05)
