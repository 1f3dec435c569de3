"""Direct implicit rules for Beta and Student-t versus the gamma compositions
every peer uses: the same mean (both unbiased) and less variance, because the
direct rule is E[composed gradient | z] (Rao-Blackwellization)."""

import jax
import jax.numpy as jnp
import numpy as np

import irt_jax as irt

N = 200_000


def composed_beta(key, a, b):
  """Beta as Ga / (Ga + Gb) through jax.random.gamma's own gradient."""
  ka, kb = jax.random.split(key)
  ga = jax.random.gamma(ka, a, (N,))
  gb = jax.random.gamma(kb, b, (N,))
  return ga / (ga + gb)


def composed_student_t(key, df):
  """t = eps / sqrt(chi2_df / df), chi2 = 2 Gamma(df/2), via jax.random.gamma."""
  ke, kg = jax.random.split(key)
  eps = jax.random.normal(ke, (N,))
  g = jax.random.gamma(kg, df / 2, (N,))
  return eps / jnp.sqrt(g / (df / 2))


def _compare(per_sample_direct, per_sample_composed, truth):
  d, c = np.asarray(per_sample_direct), np.asarray(per_sample_composed)
  se = np.sqrt(d.var() / N + c.var() / N)
  assert abs(d.mean() - truth) < 5 * np.sqrt(d.var() / N)
  assert abs(c.mean() - truth) < 5 * np.sqrt(c.var() / N)
  assert abs(d.mean() - c.mean()) < 5 * se
  print(f"\nmean direct {d.mean():.5f}, composed {c.mean():.5f}, closed form {truth:.5f}; "
        f"variance direct {d.var():.3g}, composed {c.var():.3g}, ratio {d.var() / c.var():.3f}")
  return d.var() / c.var()


def test_beta_direct_rule_has_lower_variance():
  a, b = 0.5, 2.0
  key = jax.random.key(7)
  full = jnp.full((N,), a)
  direct = jax.jit(jax.grad(lambda x: irt.beta.sample(key, irt.beta.Params(x, b), (N,)).sum()))(full)
  composed = jax.jit(jax.grad(lambda x: composed_beta(key, x, b).sum()))(full)
  ratio = _compare(direct, composed, b / (a + b) ** 2)
  assert ratio < 0.9, ratio  # about 0.67


def test_student_t_direct_rule_has_lower_variance():
  df = 30.0
  key = jax.random.key(8)
  full = jnp.full((N,), df)
  direct = jax.jit(jax.grad(
      lambda d: jnp.sum(irt.student_t.sample(key, irt.student_t.Params(d), (N,)) ** 2)))(full)
  composed = jax.jit(jax.grad(lambda d: jnp.sum(composed_student_t(key, d) ** 2)))(full)
  ratio = _compare(direct, composed, -2 / (df - 2) ** 2)
  assert ratio < 0.8, ratio  # about 0.46
