"""The rule machinery on user-defined families with closed-form inverse CDFs.

Kumaraswamy(a, b) and Weibull(lam, k) have explicit inverse CDFs, so the
explicit reparameterization z = F^-1(u; phi) is an independent reference for the
implicit gradient, its Hessian, and its forward-mode derivatives.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import irt_jax as irt

KEY = jax.random.key(42)
N = 64


# --- Kumaraswamy: F(z) = 1 - (1 - z^a)^b, z = (1 - (1 - u)^(1/b))^(1/a) -------
def kuma_inverse(p, u):
  a, b = p
  return (-jnp.expm1(jnp.log1p(-u) / b)) ** (1 / a)


def kuma_sampler(key, p, shape, dtype):
  return kuma_inverse(p, jax.random.uniform(key, shape, dtype))


def kuma_cdf(p, z):
  a, b = p
  return -jnp.expm1(b * jnp.log1p(-(z ** a)))


# --- Weibull: F(z) = 1 - exp(-(z/lam)^k), z = lam (-log(1-u))^(1/k) ----------
def weibull_inverse(p, u):
  lam, k = p
  return lam * (-jnp.log1p(-u)) ** (1 / k)


def weibull_sampler(key, p, shape, dtype):
  return weibull_inverse(p, jax.random.uniform(key, shape, dtype))


def weibull_cdf(p, z):
  lam, k = p
  return -jnp.expm1(-((z / lam) ** k))


# --- Gumbel: F(z) = exp(-exp(-(z-loc)/scale)), z = loc - scale log(-log u) ----
def gumbel_inverse(p, u):
  loc, scale = p
  return loc - scale * jnp.log(-jnp.log(u))


def gumbel_sampler(key, p, shape, dtype):
  return gumbel_inverse(p, jax.random.uniform(key, shape, dtype))


def gumbel_cdf(p, z):
  loc, scale = p
  return jnp.exp(-jnp.exp(-(z - loc) / scale))


kumaraswamy = irt.implicit(kuma_sampler, kuma_cdf)
weibull = irt.implicit(weibull_sampler, weibull_cdf)
gumbel = irt.implicit(gumbel_sampler, gumbel_cdf)

CASES = {
    "kumaraswamy": (kumaraswamy, kuma_inverse, (jnp.float64(0.7), jnp.float64(2.5))),
    "weibull": (weibull, weibull_inverse, (jnp.float64(2.0), jnp.float64(1.5))),
    "gumbel": (gumbel, gumbel_inverse, (jnp.float64(-0.4), jnp.float64(1.3))),
}


def explicit(inverse, key, shape=(N,)):
  def draw(p):
    return inverse(p, jax.random.uniform(key, shape, jnp.float64))
  return draw


@pytest.mark.parametrize("name", CASES)
def test_samples_equal_inverse_cdf_draws(name):
  sampler, inverse, p = CASES[name]
  np.testing.assert_allclose(sampler(KEY, p, (N,)), explicit(inverse, KEY)(p),
                             rtol=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_per_sample_jacobian_matches_inverse_cdf(name):
  sampler, inverse, p = CASES[name]
  got = jax.jacrev(lambda q: sampler(KEY, q, (N,)))(p)
  want = jax.jacrev(explicit(inverse, KEY))(p)
  for g, w in zip(got, want):
    np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", CASES)
def test_second_order_reverse_over_reverse(name):
  """jacrev(jacrev) through the custom_vjp equals the inverse-CDF Hessian."""
  sampler, inverse, p = CASES[name]
  f = lambda q: jnp.mean(jnp.sin(3 * sampler(KEY, q, (N,))) + sampler(KEY, q, (N,)) ** 2)
  g = lambda q: jnp.mean(jnp.sin(3 * explicit(inverse, KEY)(q)) + explicit(inverse, KEY)(q) ** 2)
  got = np.array(jax.jit(jax.jacrev(jax.jacrev(f)))(p))
  want = np.array(jax.jit(jax.jacrev(jax.jacrev(g)))(p))
  np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-12)
  # The per-sample second derivative too (not only a mean).
  got2 = jax.jit(jax.jacrev(jax.jacrev(lambda q: sampler(KEY, q, (N,)))))(p)
  want2 = jax.jacrev(jax.jacrev(explicit(inverse, KEY)))(p)
  np.testing.assert_allclose(np.array(got2), np.array(want2), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_forward_mode_and_hessian_with_jvp_mode(name):
  sampler, inverse, p = CASES[name]
  f = lambda q: jnp.mean(jnp.cos(sampler(KEY, q, (N,), mode="jvp")))
  g = lambda q: jnp.mean(jnp.cos(explicit(inverse, KEY)(q)))
  np.testing.assert_allclose(np.array(jax.jit(jax.hessian(f))(p)), np.array(jax.hessian(g)(p)),
                             rtol=1e-8, atol=1e-12)
  tangent = (jnp.float64(0.3), jnp.float64(-1.1))
  _, zdot = jax.jvp(lambda q: sampler(KEY, q, (N,), mode="jvp"), (p,), (tangent,))
  _, zdot_ref = jax.jvp(explicit(inverse, KEY), (p,), (tangent,))
  np.testing.assert_allclose(zdot, zdot_ref, rtol=1e-10, atol=1e-14)
  # jvp mode also serves reverse mode (JAX transposes the linear rule).
  np.testing.assert_allclose(np.array(jax.grad(f)(p)), np.array(jax.grad(g)(p)), rtol=1e-10)


def test_vjp_mode_refuses_forward_mode_clearly():
  f = lambda q: jnp.sum(weibull(KEY, q, (4,)))
  with pytest.raises(TypeError, match="custom_vjp"):
    jax.jvp(f, ((2.0, 1.5),), ((1.0, 0.0),))


def test_unknown_mode_is_rejected():
  with pytest.raises(ValueError, match="mode"):
    weibull(KEY, (2.0, 1.5), (4,), mode="forward")


def test_jit_vmap_and_grad_of_vmap():
  p = (jnp.float64(2.0), jnp.float64(1.5))
  eager = weibull(KEY, p, (N,))
  np.testing.assert_array_equal(jax.jit(lambda k, q: weibull(k, q, (N,)))(KEY, p), eager)
  keys = jax.random.split(KEY, 3)
  batched = jax.vmap(lambda k: weibull(k, p, (N,)))(keys)
  for i in range(3):
    np.testing.assert_array_equal(batched[i], weibull(keys[i], p, (N,)))
  lams = jnp.array([1.0, 2.0, 3.0])
  g = jax.grad(lambda l: jnp.sum(jax.vmap(lambda li: weibull(KEY, (li, 1.5), (N,)).mean())(l)))(lams)
  ref = jax.vmap(jax.grad(lambda li: explicit(weibull_inverse, KEY)((li, 1.5)).mean()))(lams)
  np.testing.assert_allclose(g, ref, rtol=1e-10)


def test_shapes_and_dtypes_follow_jax_random():
  lam = jnp.array([1.0, 2.0, 3.0], jnp.float32)
  z = weibull(KEY, (lam, 1.5), (5, 3))
  assert z.shape == (5, 3) and z.dtype == jnp.float32
  assert weibull(KEY, (lam, 1.5)).shape == (3,)
  assert weibull(KEY, (1.0, 1.5), (2,), jnp.float64).dtype == jnp.float64
  assert weibull(KEY, (1.0, 1.5), (2,), jnp.bfloat16).dtype == jnp.bfloat16
  with pytest.raises(ValueError, match="shape"):
    weibull(KEY, (lam, 1.5), (5, 4))


def test_legacy_and_new_keys_give_the_same_draws():
  p = (jnp.float64(2.0), jnp.float64(1.5))
  legacy = jax.random.PRNGKey(3)
  new = jax.random.wrap_key_data(legacy)
  np.testing.assert_array_equal(weibull(legacy, p, (8,)), weibull(new, p, (8,)))


@pytest.mark.parametrize("bad", [3, 1.5, jnp.zeros(3), "key", jnp.zeros(2, jnp.int32)])
def test_non_key_is_rejected(bad):
  with pytest.raises(TypeError, match="key"):
    weibull(bad, (2.0, 1.5), (4,))


def test_monte_carlo_gradient_is_unbiased():
  # E[z] = lam Gamma(1 + 1/k), so d/dlam E[z] = Gamma(1 + 1/k).
  from scipy.special import gamma as gamma_fn
  k = 1.5
  g = jax.grad(lambda lam: jnp.mean(weibull(KEY, (lam, k), (200_000,))))(2.0)
  assert abs(g - gamma_fn(1 + 1 / k)) < 4 * 0.6 / np.sqrt(200_000) * 2


# --- autoregressive standardization: a chain of conditional CDFs -----------
def _chain_sampler(key, p, shape, dtype):
  mu, a = p
  e = jax.random.normal(key, shape, dtype)
  z1 = mu + e[..., 0]
  return jnp.stack([z1, a * z1 + e[..., 1]], axis=-1)


def _chain_cdfs(p, z):
  # T_1 = Phi(z1 - mu), T_2 = Phi(z2 - a z1): lower triangular in z.
  mu, a = p
  ndtr = jax.scipy.special.ndtr
  return jnp.stack([ndtr(z[..., 0] - mu), ndtr(z[..., 1] - a * z[..., 0])], axis=-1)


def test_autoregressive_chain_matches_explicit_reparameterization():
  chain = irt.implicit(_chain_sampler, _chain_cdfs, autoregressive=True)
  key = jax.random.key(3)
  p = (jnp.float64(0.3), jnp.float64(-1.7))
  z = chain(key, p, (50, 2))
  jac = jax.jacrev(lambda q: chain(key, q, (50, 2)))(p)
  # Explicit: z1 = mu + e1, z2 = a z1 + e2 -> dz1/dmu = 1, dz2/dmu = a,
  # dz1/da = 0, dz2/da = z1.
  np.testing.assert_allclose(jac[0][:, 0], 1.0, rtol=1e-12)
  np.testing.assert_allclose(jac[0][:, 1], p[1], rtol=1e-12)
  np.testing.assert_allclose(jac[1][:, 0], 0.0, atol=1e-12)
  np.testing.assert_allclose(jac[1][:, 1], z[:, 0], rtol=1e-12)
  # Forward mode from the same rule, and second order: d^2 z2/(dmu da) = 1.
  jf = jax.jacfwd(lambda q: chain(key, q, (50, 2), mode="jvp"))(p)
  np.testing.assert_allclose(jf[1], jac[1], rtol=1e-12, atol=1e-12)
  h = jax.grad(lambda q: jax.grad(lambda r: chain(key, r, (50, 2))[:, 1].sum())(q)[0])(p)
  np.testing.assert_allclose(h[1], 50.0, rtol=1e-10)


def test_autoregressive_needs_a_shape():
  chain = irt.implicit(_chain_sampler, _chain_cdfs, autoregressive=True)
  with pytest.raises(ValueError, match="shape"):
    chain(jax.random.key(0), (0.0, 1.0))


# --- a hand-written CDF with no closed-form inverse ----------------------------
# F(z; a) = (z + a z^3) / (1 + a) on [0, 1], sampled by bisection. By hand:
# dz/da = -(dF/da) / F'(z) = (z - z^3) / ((1 + a)(1 + 3 a z^2)).
def cubic_cdf(a, z):
  return (z + a * z ** 3) / (1 + a)


def cubic_sampler(key, a, shape, dtype):
  u = jax.random.uniform(key, shape, dtype)
  lo, hi = jnp.zeros(shape, dtype), jnp.ones(shape, dtype)
  for _ in range(60):  # Bisection: 2^-60 < float64 resolution on [0, 1].
    mid = 0.5 * (lo + hi)
    below = cubic_cdf(a, mid) < u
    lo, hi = jnp.where(below, mid, lo), jnp.where(below, hi, mid)
  return 0.5 * (lo + hi)


def test_hand_written_cdf_without_inverse():
  cubic = irt.implicit(cubic_sampler, cubic_cdf)
  a = jnp.float64(1.7)
  z = cubic(KEY, a, (N,))
  got = jax.jacrev(lambda q: cubic(KEY, q, (N,)))(a)
  want = (z - z ** 3) / ((1 + a) * (1 + 3 * a * z ** 2))
  np.testing.assert_allclose(got, want, rtol=1e-12)


def test_cdf_not_differentiable_in_params_is_reported():
  def beta_sampler(key, p, shape, dtype):
    return jax.random.beta(key, p[0], p[1], shape, dtype)

  def beta_cdf(p, z):  # jax's betainc has no derivative in a, b.
    return jax.scipy.special.betainc(p[0], p[1], z)

  bad = irt.implicit(beta_sampler, beta_cdf)
  bad(KEY, (2.0, 3.0), (4,))  # Drawing alone is fine.
  with pytest.raises(ValueError, match="cdf: JAX cannot differentiate it in the parameters"):
    jax.grad(lambda a: bad(KEY, (a, 3.0), (4,)).sum())(2.0)


def test_cdf_that_decreases_is_reported():
  wrong = irt.implicit(weibull_sampler, lambda p, z: 1 - weibull_cdf(p, z))
  with pytest.raises(ValueError, match="cdf: not increasing in z"):
    wrong(KEY, (2.0, 1.5), (4,))
  with pytest.raises(ValueError, match="cdf: not increasing in z"):
    jax.grad(lambda lam: wrong(KEY, (lam, 1.5), (4,)).sum())(2.0)
  # Under jit the check is skipped (values unknown), so it costs nothing there.
  assert jnp.all(jnp.isfinite(jax.jit(lambda: wrong(KEY, (2.0, 1.5), (4,)))()))
