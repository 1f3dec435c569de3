"""The von Mises family: samples, per-sample gradients, unbiasedness, transforms.

References are independent of irt_jax: scipy.stats.vonmises (KS, CDF, log
density), scipy.special.ive (A = I1/I0 and the closed form
d/dkappa E[cos z] = A'(kappa) = 1 - A/kappa - A^2), mpmath quadrature of
dx/dkappa (tests/special/test_von_mises_kernel.py) and mpmath.diff of A for
the second derivative.
"""

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as st

from irt_jax import von_mises as vm
from irt_jax._src.von_mises import _wrap
from tests.special.test_von_mises_kernel import mp_velocity
from tests.util import per_sample_grad, per_sample_second

KEY = jax.random.key(1)


def resultant(kappa):
  return sp.ive(1, kappa) / sp.ive(0, kappa)


def d_mean_cos(kappa):
  """d/dkappa E[cos(z - loc)] = A'(kappa), from the Riccati equation."""
  a = resultant(kappa)
  return 1 - a / kappa - a * a


def d2_mean_cos(kappa):
  """A''(kappa) by mpmath.diff of I1/I0 at 30 digits."""
  with mp.workdps(30):
    return float(mp.diff(lambda k: mp.besseli(1, k) / mp.besseli(0, k), kappa, 2))


def wrap(x):
  return (np.asarray(x, np.float64) + np.pi) % (2 * np.pi) - np.pi


def params(loc, kappa, dtype):
  return vm.Params(jnp.asarray(loc, dtype), jnp.asarray(kappa, dtype))


KS_KAPPAS = np.array([1e-8, 0.05, 0.6, 3.0, 40.0, 1e3])
KS_LOCS = np.array([0.0, 1.0, -2.5, 3.0, 0.4, -0.3])


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_samples_follow_scipy_vonmises(dtype):
  n = 20_000
  p = params(KS_LOCS, KS_KAPPAS, dtype)
  z = vm.sample(KEY, p, (n, KS_KAPPAS.size), dtype)
  assert z.dtype == dtype and z.shape == (n, KS_KAPPAS.size)
  assert bool(jnp.all((z >= -jnp.pi) & (z < jnp.pi)))
  for j, (loc, kappa) in enumerate(zip(KS_LOCS, KS_KAPPAS)):
    x = wrap(np.asarray(z[:, j], np.float64) - float(dtype(loc)))
    result = st.kstest(x, st.vonmises(kappa).cdf)
    assert result.pvalue > 1e-3, (kappa, result)


def test_cdf_log_prob_mean_variance_match_scipy():
  loc, kappa = 0.7, 2.5
  p = params(loc, kappa, jnp.float64)
  z = np.linspace(-np.pi, np.pi, 33, endpoint=False)
  ref = st.vonmises(kappa).cdf(wrap(z - loc))
  fns = jax.jit(lambda q, zz: (vm.cdf(q, zz), vm.log_cdf(q, zz), vm.log_sf(q, zz),
                                vm.log_prob(q, zz)))
  f, log_f, log_s, log_q = (np.asarray(v) for v in fns(p, z))
  np.testing.assert_allclose(f, ref, rtol=1e-10, atol=1e-14)
  np.testing.assert_allclose(log_f[ref > 0], np.log(ref[ref > 0]), rtol=1e-10)
  np.testing.assert_allclose(log_s, np.log1p(-ref), rtol=1e-9, atol=1e-14)
  np.testing.assert_allclose(log_q, st.vonmises(kappa, loc=loc).logpdf(z), rtol=1e-12)
  np.testing.assert_allclose(vm.mean(vm.Params(jnp.array([0.3, 1.0]), 2.0)), [0.3, 1.0])
  # Circular variance 1 - |E e^{iz}| = 1 - A.
  np.testing.assert_allclose(vm.variance(p), 1 - resultant(kappa), rtol=1e-13)
  np.testing.assert_allclose(vm.variance(params(0.0, 1e5, jnp.float32)),
                             1 - resultant(1e5), rtol=1e-6)
  assert vm.SUPPORT == (-np.pi, np.pi)


def test_cdf_is_differentiable_through_the_rule():
  """dF/dkappa = -q v and dF/dloc = -q, with v from mpmath."""
  loc, kappa, z = 0.4, 3.0, 1.3
  p = params(loc, kappa, jnp.float64)
  g = jax.jit(jax.grad(vm.cdf, argnums=(0, 1)))(p, jnp.float64(z))
  q = st.vonmises(kappa, loc=loc).pdf(z)
  np.testing.assert_allclose(g[0].concentration, -q * mp_velocity(z - loc, kappa), rtol=1e-9)
  np.testing.assert_allclose(g[0].loc, -q, rtol=1e-12)
  np.testing.assert_allclose(g[1], q, rtol=1e-12)


GRAD_KAPPAS = np.array([0.05, 0.8, 6.0, 50.0, 500.0, 2e3])


@pytest.mark.parametrize("dtype,rtol", [(jnp.float64, 1e-9), (jnp.float32, 2e-5)])
def test_per_sample_gradient_matches_mpmath(dtype, rtol):
  n, m = 12, GRAD_KAPPAS.size
  locs = np.linspace(-3.0, 3.0, m)
  p = params(locs, GRAD_KAPPAS, dtype)
  shape = (n, m)
  sample = lambda q: vm.sample(KEY, q, shape, dtype)
  z = np.asarray(sample(p), np.float64)
  jac = per_sample_grad(sample, p, shape)
  np.testing.assert_array_equal(np.asarray(jac.loc), 1.0)
  got = np.asarray(jac.concentration, np.float64)
  # The reference at exactly the centered draw (a float of dtype) the rule saw.
  x = np.asarray(jax.jit(lambda zz, l: _wrap(zz - l))(jnp.asarray(z, dtype), p.loc),
                 np.float64)
  ref = np.array([[mp_velocity(float(x[i, j]), float(dtype(GRAD_KAPPAS[j])))
                   for j in range(m)] for i in range(n)])
  err = np.abs(got - ref) / np.abs(ref)
  assert err.max() < rtol, err.max()


def test_monte_carlo_gradient_is_unbiased():
  """d/dkappa E[cos(z - loc)] = 1 - A/kappa - A^2 and d/dloc E[sin z] =
  A cos(loc), at three concentrations at once, within 5 standard errors."""
  n = 100_000
  kappas, locs = np.array([0.5, 2.0, 40.0]), np.array([0.7, -2.0, 2.9])
  p = params(locs, kappas, jnp.float64)
  sample = lambda q: vm.sample(KEY, q, (n, 3))
  gk = np.asarray(per_sample_grad(sample, p, (n, 3),
                                  lambda z: jnp.cos(z - locs)).concentration)
  gl = np.asarray(per_sample_grad(sample, p, (n, 3), jnp.sin).loc)
  for g, truth in ((gk, d_mean_cos(kappas)), (gl, resultant(kappas) * np.cos(locs))):
    se = g.std(0) / np.sqrt(n)
    assert np.all(np.abs(g.mean(0) - truth) < 5 * se), (g.mean(0), truth, se)


def test_second_order_unbiased_and_modes_agree():
  """d^2/dkappa^2 E[cos z] = A''(kappa): per-sample reverse-over-reverse is
  unbiased, and jax.hessian of the mean with mode="jvp" equals its mean."""
  n, kappa = 50_000, 1.5
  p = params(0.0, kappa, jnp.float64)
  f = lambda k: jnp.mean(jnp.cos(vm.sample(KEY, vm.Params(0.0, k), (n,), mode="jvp")))
  # One program for both (compiles faster than two).
  h, h_fwd = jax.jit(lambda q: (
      per_sample_second(lambda r: vm.sample(KEY, r, (n,)), q, (n,), "concentration", jnp.cos),
      jax.hessian(f)(q.concentration)))(p)
  h = np.asarray(h)
  se = h.std() / np.sqrt(n)
  truth = d2_mean_cos(kappa)
  np.testing.assert_allclose(truth, -2 * d_mean_cos(kappa) * resultant(kappa)
                             - d_mean_cos(kappa) / kappa + resultant(kappa) / kappa ** 2,
                             rtol=1e-9)   # the closed form A'' agrees with mpmath
  assert abs(h.mean() - truth) < 5 * se, (h.mean(), truth, se)
  np.testing.assert_allclose(h_fwd, h.mean(), rtol=1e-9)


def test_forward_mode_matches_reverse_mode():
  p = params([0.3, -2.0, 3.0], [0.2, 5.0, 300.0], jnp.float64)
  shape = (8, 3)
  rev = per_sample_grad(lambda q: vm.sample(KEY, q, shape), p, shape)
  full = jax.tree.map(lambda v: jnp.broadcast_to(v, shape), p)
  sample = lambda q: vm.sample(KEY, q, shape, mode="jvp")
  tangents = [jax.tree.map(jnp.zeros_like, full)._replace(**{field: jnp.ones(shape)})
              for field in p._fields]
  fwd = jax.jit(lambda q, ts: [jax.jvp(sample, (q,), (t,))[1] for t in ts])(full, tangents)
  for field, col in zip(p._fields, fwd):   # one program for every field
    np.testing.assert_allclose(getattr(rev, field), col, rtol=1e-12, atol=1e-300)


def test_grad_of_vmap_equals_per_parameter_grads():
  """(jit = eager and vmap over keys / params: the contract battery.)"""
  stacked = params([0.5, -1.0], [2.0, 30.0], jnp.float64)
  loss = lambda q: jnp.cos(vm.sample(KEY, q, (16,))).mean()
  g_v = jax.grad(lambda s: jax.vmap(loss)(s).sum())(stacked)
  g_1 = jax.grad(loss)(params(-1.0, 30.0, jnp.float64))
  for a, b in zip(g_v, g_1):
    np.testing.assert_allclose(a[1], b, rtol=1e-12)


def test_wrapping_and_loc_gradient():
  """Draws stay in [-pi, pi) for any loc; dz/dloc = 1; the same centered draw."""
  locs = jnp.array([0.0, 2 * np.pi, -7.0, 100.0])
  p = vm.Params(locs, jnp.full(4, 3.0))
  z = vm.sample(KEY, p, (64, 4))
  assert bool(jnp.all((z >= -jnp.pi) & (z < jnp.pi)))
  z0 = vm.sample(KEY, p._replace(loc=jnp.zeros(4)), (64, 4))
  np.testing.assert_allclose(wrap(np.asarray(z) - np.asarray(locs)), z0, atol=1e-12)
  g = per_sample_grad(lambda q: vm.sample(KEY, q, (64, 4)), p, (64, 4))
  np.testing.assert_array_equal(np.asarray(g.loc), 1.0)


def test_shapes_and_dtypes():
  assert vm.sample(KEY, vm.Params(jnp.zeros((3, 1)), jnp.ones(2))).shape == (3, 2)
  assert vm.sample(KEY, vm.Params(0.0, jnp.float32(1.0)), 5).dtype == jnp.float32
  z = vm.sample(KEY, vm.Params(0.0, 4.0), (100,), jnp.bfloat16)
  assert z.dtype == jnp.bfloat16 and bool(jnp.all(jnp.abs(z) <= np.pi))
  with pytest.raises(ValueError, match="shape"):
    vm.sample(KEY, vm.Params(0.0, jnp.ones(3)), (4, 2))
  with pytest.raises(ValueError, match="broadcast"):
    vm.sample(KEY, vm.Params(jnp.zeros(2), jnp.ones(3)))
  with pytest.raises(TypeError, match="params"):
    vm.sample(KEY, (0.0, 1.0))
  with pytest.raises(ValueError, match="mode"):
    vm.sample(KEY, vm.Params(0.0, 1.0), mode="fwd")


BAD = [
    (vm.Params(0.0, -1.0), "concentration", "-1.0"),
    (vm.Params(0.0, float("nan")), "concentration", "nan"),
    (vm.Params(0.0, float("inf")), "concentration", "inf"),
    (vm.Params(float("inf"), 1.0), "loc", "inf"),
    (vm.Params(float("nan"), 1.0), "loc", "nan"),
]


@pytest.mark.parametrize("p,name,value", BAD)
def test_bad_parameters_raise_naming_them(p, name, value):
  with pytest.raises(ValueError, match=name) as info:
    vm.sample(KEY, p, (3,))
  assert value in str(info.value)
  with pytest.raises(ValueError, match=name):
    vm.log_prob(p, 0.0)


def test_bad_parameters_raise_under_grad_and_give_nan_under_jit():
  with pytest.raises(ValueError, match="concentration"):
    jax.grad(lambda k: vm.sample(KEY, vm.Params(0.0, k), (3,)).sum())(-1.0)
  draw = jax.jit(lambda q: vm.sample(KEY, q, (3, len(BAD))))
  stacked = vm.Params(jnp.array([b[0].loc for b in BAD]),
                      jnp.array([b[0].concentration for b in BAD]))
  assert bool(jnp.all(jnp.isnan(draw(stacked))))
  # Zero concentration is valid: the uniform distribution, velocity -sin(x).
  g = per_sample_grad(lambda q: vm.sample(KEY, q, (64,)), params(0.0, 0.0, jnp.float64), (64,))
  z = vm.sample(KEY, params(0.0, 0.0, jnp.float64), (64,))
  np.testing.assert_allclose(g.concentration, -np.sin(z), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_extreme_concentrations_are_finite(dtype):
  """kappa 1e-8 .. 1e7: finite draws in [-pi, pi) and gradients; at 1e7 the
  draws still have the normal sd 1/sqrt(kappa). (Finite derivatives of the
  velocity, which second order uses, are checked in the kernel tests.)"""
  kappa = jnp.asarray([1e-8, 1e-3, 1.0, 1e3, 1e5, 1e7], dtype)
  p = vm.Params(jnp.full_like(kappa, 0.5), kappa)
  shape = (512, kappa.size)
  sample = lambda q: vm.sample(KEY, q, shape, dtype)
  z = sample(p)
  assert bool(jnp.all(jnp.isfinite(z) & (z >= -jnp.pi) & (z < jnp.pi)))
  g = per_sample_grad(sample, p, shape)
  assert all(bool(jnp.all(jnp.isfinite(v))) for v in g)
  x = np.asarray(z[:, -1], np.float64) - float(dtype(0.5))
  assert 0.9 < np.std(x) * np.sqrt(1e7) < 1.1
