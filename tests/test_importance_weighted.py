"""IWAE bound, DReG and sticking-the-landing objectives (irt_jax.estimators).

Model: p(z) = N(0, 1), p(x | z) = N(z + theta, 1), so p(x) = N(x; theta, 2) and
the posterior is N((x - theta)/2, 1/2). References:

* at q = the posterior every log weight equals log p(x): the bound is
  log N(x; theta, sqrt 2) exactly for every K, and DReG's and STL's
  phi-gradients are 0 for every draw (Roeder et al. 2017; Tucker et al. 2019);
* K = 1 (the ELBO, theta = 0): E_q[log p(x, z) - log q(z)] =
  -log(2 pi) - ((x - mu)^2 + s^2)/2 - (mu^2 + s^2)/2 + log(s) + (1 + log 2 pi)/2,
  so d/dmu = x - 2 mu and d/ds = 1/s - 2 s;
* K > 1: DReG and the plain IWAE gradient are both unbiased for the IWAE
  bound's gradient: their paired difference (same draws) has mean 0.
Monte-Carlo bounds are 5 standard errors; seeds are fixed.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import irt_jax as irt
from irt_jax import estimators as est

KEY = jax.random.key(3)
F64 = jnp.float64
X = 1.0


def log_joint(theta=0.0):
  prior = irt.normal.Params(jnp.asarray(0.0, F64), jnp.asarray(1.0, F64))
  return lambda z: (irt.normal.log_prob(prior, z)
                    + irt.normal.log_prob(irt.normal.Params(z + theta, 1.0), X))


def q_params(mu, s):
  return irt.normal.Params(jnp.asarray(mu, F64), jnp.asarray(s, F64))


OBJECTIVES = {"iwae": est.iwae_bound, "dreg": est.dreg,
              "stl": est.sticking_the_landing}


def grads(k_draws, reps, mu, s, theta=0.0):
  """Per-replicate (value, d/dmu, d/ds, d/dtheta) of each objective, one program."""
  def one(key, p, th):
    out = {}
    for name, obj in OBJECTIVES.items():
      v, (gp, gt) = jax.value_and_grad(
          lambda p, th: obj(log_joint(th), irt.normal, p, key, k_draws), (0, 1))(p, th)
      out[name] = jnp.stack([v, gp.loc, gp.scale, gt])
    return out
  run = jax.jit(jax.vmap(one, (0, None, None)))
  keys = jax.random.split(KEY, reps)
  return {k: np.asarray(v) for k, v in
          run(keys, q_params(mu, s), jnp.asarray(theta, F64)).items()}


def test_exact_posterior_bound_and_zero_variance_gradients():
  theta = 0.4
  mu, s = (X - theta) / 2, np.sqrt(0.5)
  log_px = float(irt.normal.log_prob(irt.normal.Params(theta, np.sqrt(2.0)), X))
  out = grads(5, 4, mu, s, theta)
  for name, g in out.items():
    np.testing.assert_allclose(g[:, 0], log_px, rtol=1e-12, err_msg=name)
  for name in ("dreg", "stl"):
    np.testing.assert_allclose(out[name][:, 1:3], 0.0, atol=1e-12, err_msg=name)
  assert np.abs(out["iwae"][:, 1:3]).max() > 1e-3   # the plain one is noisy there


def test_unbiased_for_the_elbo_and_iwae_gradients():
  """K = 1: DReG and STL against the ELBO's closed-form gradient; K = 8: DReG
  paired with the plain IWAE gradient (mean difference 0; STL's is not); the theta-gradient
  of every objective is the IWAE one, draw for draw."""
  mu, s, reps = 0.1, 0.8, 20_000
  k1 = grads(1, reps, mu, s)
  want = np.array([X - 2 * mu, 1 / s - 2 * s])
  for name in ("iwae", "dreg", "stl"):
    ok, m, se = mean_ok(k1[name][:, 1:3], want)
    assert ok, (name, m, se)
  k8 = grads(8, reps, mu, s, theta=0.3)
  diff = k8["dreg"][:, 1:3] - k8["iwae"][:, 1:3]
  ok, m, se = mean_ok(diff, np.zeros(2))
  assert ok, (m, se)
  # The same paired test has the power to see STL's known bias for K > 1
  # (Tucker et al. 2019, section 4): ~0.35 in d/dmu here, ~100 s.e.
  ok, m_stl, se_stl = mean_ok(k8["stl"][:, 1:3] - k8["iwae"][:, 1:3], np.zeros(2))
  assert np.abs(m_stl).max() > 20 * se_stl.max(), (m_stl, se_stl)
  assert np.all(k8["dreg"][:, 1:3].std(0) < k8["iwae"][:, 1:3].std(0) / 5)
  for name in ("dreg", "stl"):
    np.testing.assert_allclose(k8[name][:, 3], k8["iwae"][:, 3], rtol=1e-10)
    np.testing.assert_allclose(k8[name][:, 0], k8["iwae"][:, 0], rtol=1e-12)
  # K = 8 bound below log p(x) = log N(1; 0.3, sqrt 2) and above the ELBO.
  log_px = float(irt.normal.log_prob(irt.normal.Params(0.3, np.sqrt(2.0)), X))
  assert k8["iwae"][:, 0].mean() < log_px


def mean_ok(g, want, sigmas=5.0):
  g = np.asarray(g, np.float64)
  se = g.std(axis=0) / np.sqrt(g.shape[0])
  return bool(np.all(np.abs(g.mean(axis=0) - want) < sigmas * se + 1e-12)), g.mean(0), se


def test_signal_to_noise_as_k_grows():
  """Rainforth et al. (2018): the plain IWAE gradient's SNR in the inference
  parameters falls like 1/sqrt(K); DReG's does not (here it grows). K = 4 vs
  64 (16x: the plain SNR should fall ~4x). Full figure: benchmarks/iwae_snr.py."""
  snr = {}
  for k in (4, 64):
    out = grads(k, 1000, 0.1, 0.8)
    snr[k] = {n: abs(g[:, 1].mean()) / g[:, 1].std()
              for n, g in out.items()}
  assert snr[64]["iwae"] < 0.5 * snr[4]["iwae"], snr
  assert snr[64]["dreg"] > snr[4]["dreg"], snr


def test_vmap_over_data_points_and_errors():
  xs = jnp.array([0.0, 1.0, 2.5])
  mus = jnp.array([0.0, 0.5, 1.2])

  def bound(x, mu, key):
    f = lambda z: irt.normal.log_prob(irt.normal.Params(0.0, 1.0), z) + \
        irt.normal.log_prob(irt.normal.Params(z, 1.0), x)
    return est.dreg(f, irt.normal, irt.normal.Params(mu, jnp.sqrt(0.5)), key, 4)

  b = jax.jit(jax.vmap(bound, (0, 0, None)))(xs, mus, KEY)
  for i in range(3):
    np.testing.assert_allclose(b[i], bound(xs[i], mus[i], KEY), rtol=1e-12)
  p = q_params(0.0, 1.0)
  with pytest.raises(ValueError, match="num_samples"):
    est.dreg(log_joint(), irt.normal, p, KEY, 0)
  with pytest.raises(ValueError, match="f: expected a callable"):
    est.iwae_bound(1.0, irt.normal, p, KEY, 4)
  with pytest.raises(ValueError, match="f: must map one draw"):
    est.sticking_the_landing(lambda z: jnp.stack([z, z]), irt.normal, p, KEY, 4)
  with pytest.raises(ValueError, match="scale must be positive"):
    est.dreg(log_joint(), irt.normal, irt.normal.Params(0.0, -1.0), KEY, 4)
