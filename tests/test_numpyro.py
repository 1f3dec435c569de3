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


def test_support_comes_from_the_contract_with_its_parameters():
  """A truncation's support is its interval (NUTS must not step outside
  [low, high]): NumPyro's bijection maps the real line into it."""
  from numpyro.distributions import constraints
  from numpyro.distributions.transforms import biject_to
  tn = irt.truncated.of(irt.normal)
  d = Distribution(tn, irt.truncated.Params(irt.normal.Params(0.0, 1.0), low=0.5, high=2.0))
  assert isinstance(d.support, constraints.interval)
  inside = biject_to(d.support)(jnp.linspace(-30.0, 30.0, 61))
  assert bool(jnp.all((inside >= 0.5) & (inside <= 2.0)))
  one_sided = Distribution(tn, irt.truncated.Params(irt.normal.Params(0.0, 1.0), low=1.0))
  assert isinstance(one_sided.support, constraints.greater_than)
  assert float(one_sided.support.lower_bound) == 1.0
  # A mixture of bounded components: the joined interval.
  comps = irt.truncated.Params(irt.normal.Params(0.0, 1.0), jnp.array([0.0, 1.0]),
                               jnp.array([2.0, 3.0]))
  mix = Distribution(irt.mixture.of(tn), irt.mixture.Params(jnp.zeros(2), comps))
  assert (float(mix.support.lower_bound), float(mix.support.upper_bound)) == (0.0, 3.0)
  # Event families and a user's implicit family.
  assert Distribution(irt.dirichlet, irt.dirichlet.Params(jnp.ones(3))).support is constraints.simplex
  assert Distribution(irt.von_mises, irt.von_mises.Params(0.0, 1.0)).support is constraints.circular
  expo = irt.implicit(lambda k, r, shape, dtype: jax.random.exponential(k, shape, dtype) / r,
                      lambda r, z: -jnp.expm1(-r * z), support=(0.0, float("inf")))
  assert Distribution(expo, 2.0).support is constraints.positive
  with pytest.raises(TypeError, match="family"):
    Distribution(object(), irt.normal.Params(0.0, 1.0))
  with pytest.raises(TypeError, match="discrete"):   # no rsample for count variables
    Distribution(irt.poisson, irt.poisson.Params(3.0))
