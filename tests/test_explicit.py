"""The everyday explicit families (irt_jax/_src/explicit.py) beyond the battery.

* Their closed-form velocity is the implicit rule: per-draw gradients equal
  those of ``irt.implicit(sampler, cdf)`` over the same draws (the machinery,
  differentiating the CDF, is the reference) to 1e-6 (float64; the battery
  checks that ``mode="jvp"`` gives the same rule).
* Extreme parameters in float32, where the float range bites: no NaN in draws,
  densities and CDFs, finite gradients (draws beyond the float range are
  +-inf with gradient 0; derivatives beyond it saturate).

Two compiled programs per family (the family static, like the battery): the
test time is compile time.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import irt_jax as irt

KEY = jax.random.key(3)
N = 64          # draws compared per family
M = 16          # draws per extreme regime


def _half_t_cdf(p, z):
  # The Student-t family's CDF: its df derivative is the Student-t rule.
  return 2.0 * irt.student_t.cdf(irt.student_t.Params(p.df), z / p.scale) - 1.0


# name -> (family, ordinary params, extreme params (one tuple per regime),
#          reference CDF for irt.implicit, default: the family's own).
FAMILIES = {
    "kumaraswamy": (irt.kumaraswamy, (2.0, 3.0),
                    [(1e-3, 1.0), (1e3, 1.0), (1.0, 1e-3), (1.0, 1e3), (0.1, 0.1)], None),
    "weibull": (irt.weibull, (2.0, 1.5),
                [(1.0, 1e-3), (1.0, 1e3), (1e-30, 1.0), (1e30, 2.0)], None),
    "gumbel": (irt.gumbel, (0.5, 2.0), [(0.0, 1e-30), (0.0, 1e30), (1e30, 1.0)], None),
    "log_normal": (irt.log_normal, (0.3, 0.5),
                   [(0.0, 1e-3), (0.0, 30.0), (50.0, 1.0), (-50.0, 1.0)], None),
    "half_normal": (irt.half_normal, (2.0,), [(1e-30,), (1e30,)], None),
    "half_cauchy": (irt.half_cauchy, (2.0,), [(1e-30,), (1e30,)], None),
    "half_student_t": (irt.half_student_t, (3.0, 2.0),
                       [(1e-2, 1.0), (1e4, 1.0), (0.5, 1e-20)], _half_t_cdf),
    "laplace": (irt.laplace, (0.5, 2.0), [(0.0, 1e-30), (0.0, 1e30)], None),
    "cauchy": (irt.cauchy, (0.5, 2.0), [(0.0, 1e-30), (0.0, 1e30)], None),
    "exponential": (irt.exponential, (2.0,), [(1e-30,), (1e30,)], None),
    "pareto": (irt.pareto, (1.5, 3.0),
               [(1.0, 1e-3), (1.0, 1e3), (1e-20, 1.0), (1e20, 50.0)], None),
}
NAMES = list(FAMILIES)


@functools.lru_cache(maxsize=None)
def _reference(name):
  """``irt.implicit`` over the family's own draws and a CDF."""
  family, _, _, cdf = FAMILIES[name]
  sampler = lambda key, p, shape, dtype: jax.lax.stop_gradient(
      family.sample(key, p, shape, dtype))
  return irt.implicit(sampler, cdf or family.cdf, check=False)


def _params(name, values, dtype, batch):
  family = FAMILIES[name][0]
  return family.Params(*[jnp.broadcast_to(jnp.asarray(v, dtype), batch)
                         for v in np.asarray(values, np.float64).T])


@functools.partial(jax.jit, static_argnums=0)
def _per_draw_gradients(name, p):
  family = FAMILIES[name][0]
  grad = lambda draw: jax.grad(lambda q: jnp.sum(draw(q)))(p)
  return (grad(lambda q: family.sample(KEY, q)), grad(lambda q: _reference(name).sample(KEY, q)),
          family.sample(KEY, p), _reference(name).sample(KEY, p))


@pytest.mark.parametrize("name", NAMES)
def test_velocity_is_the_implicit_rule(name):
  p = _params(name, [FAMILIES[name][1]], jnp.float64, (N,))
  got, want, z, z_ref = _per_draw_gradients(name, p)
  np.testing.assert_array_equal(z, z_ref)
  for field, g, w in zip(p._fields, got, want):
    assert np.all(np.isfinite(g)), (name, field)
    np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-12, err_msg=f"{name}.{field}")


@functools.partial(jax.jit, static_argnums=0)
def _extreme(name, p):
  family = FAMILIES[name][0]
  z = family.sample(KEY, p)
  grads = jax.grad(lambda q: jnp.sum(family.sample(KEY, q)))(p)
  values = [f(p, z) for f in (family.log_prob, family.cdf, family.log_cdf, family.log_sf)]
  return z, grads, values


@pytest.mark.parametrize("name", NAMES)
def test_extreme_parameters_never_nan(name):
  regimes = FAMILIES[name][2]
  p = _params(name, regimes, jnp.float32, (M, len(regimes)))
  z, grads, values = _extreme(name, p)
  assert z.dtype == jnp.float32 and not np.any(np.isnan(z)), name
  assert bool(jnp.all(FAMILIES[name][0].support(p).contains(z)))
  for field, g in zip(p._fields, grads):
    assert np.all(np.isfinite(g)), (name, field, np.asarray(g)[~np.isfinite(g)][:3])
  for what, v in zip(("log_prob", "cdf", "log_cdf", "log_sf"), values):
    assert not np.any(np.isnan(v)), (name, what)


def test_numpyro_and_estimators_take_them():
  """Through the contract only: NumPyro's support from ``support`` (Pareto's
  depends on its scale) and the pathwise estimator's unbiased gradient."""
  from numpyro.distributions import constraints
  from irt_jax.numpyro import Distribution
  d = Distribution(irt.pareto, irt.pareto.Params(2.0, 3.0))
  assert isinstance(d.support, constraints.greater_than)
  assert float(d.support.lower_bound) == 2.0
  assert Distribution(irt.kumaraswamy, irt.kumaraswamy.Params(2.0, 3.0)).support \
      is constraints.unit_interval
  assert irt.estimators.choose(irt.weibull, irt.weibull.Params(2.0, 1.5)) == "pathwise"
  g = irt.estimators.pathwise(lambda z: z, irt.exponential, irt.exponential.Params(2.0),
                              KEY, 4000)
  assert abs(float(g.rate.mean()) + 0.25) < 0.02   # d/drate (1/rate) = -1/4, 5 SE
