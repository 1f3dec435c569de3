"""The family contract battery: every family, built-in, composed or user-defined.

One line in ``CASES`` gives a family the whole battery (see docs/ADDING_A_FAMILY.md):
it meets the contract (irt_jax/_src/family.py) and its generated members' examples
run; draws have the right shape, dtype and support, follow the law (KS against an
independent CDF for 1-D families), are equal eager and under ``jit``
and under ``vmap`` over keys and parameters; ``log_prob`` matches the reference;
per-draw gradients match central differences of the reference CDF (1-D); the
Monte-Carlo gradient of ``E[z]`` matches ``jax.grad`` of the closed-form mean;
reverse-over-reverse equals forward-over-reverse (second order from one rule); and
invalid parameters raise a ``ValueError`` naming them eagerly, give ``is_valid`` false
and NaN draws under ``jit``.

Every reference is independent of irt_jax: SciPy, or a closed form built on SciPy.
Sizes are kept small: the per-family work is a handful of compiled programs.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

import irt_jax as irt
from irt_jax import mixture, truncated
from irt_jax._src import family as fam

KEY = jax.random.key(7)


# ----------------------------------------------------------- user-defined families

def _weibull_sampler(key, p, shape, dtype):
  lam, k = p
  return lam * jax.random.exponential(key, shape, dtype) ** (1 / k)


def _weibull_cdf(p, z):
  lam, k = p
  return -jnp.expm1(-(jnp.maximum(z, 0) / lam) ** k)


WEIBULL = irt.implicit(_weibull_sampler, _weibull_cdf, support=(0.0, float("inf")))


# ------------------------------------------------------------------- references

def _truncated_ref(base, low, high):
  """SciPy law of ``base`` cut to ``[low, high]`` (cdf, logpdf, mean)."""
  mass = base.cdf(high) - base.cdf(low)
  xs = np.linspace(low, high, 20001)
  mean = np.trapezoid(xs * base.pdf(xs), xs) / mass
  return dict(cdf=lambda z: (base.cdf(z) - base.cdf(low)) / mass,
              logpdf=lambda z: base.logpdf(z) - np.log(mass), mean=mean)


def _mixture_ref(logits, comps):
  w = np.exp(logits - np.logaddexp.reduce(logits))
  return dict(cdf=lambda z: sum(wk * c.cdf(z) for wk, c in zip(w, comps)),
              logpdf=lambda z: np.log(sum(wk * c.pdf(z) for wk, c in zip(w, comps))),
              mean=sum(wk * c.mean() for wk, c in zip(w, comps)))


def _frozen(dist):
  return dict(cdf=dist.cdf, logpdf=dist.logpdf, mean=dist.mean())


@dataclasses.dataclass(frozen=True)
class Case:
  family: Any
  params: Callable[[Any], Any]          # dtype -> Params
  ref: Callable[..., dict] | None       # scalar parameter leaves -> reference law
  invalid: Callable[[], Any] | None     # an invalid Params (concrete)
  invalid_name: str = ""                # the parameter the error names


def _n(dt, *v):
  return [jnp.asarray(x, dt) for x in v]


CASES = {
    "normal": Case(
        irt.normal, lambda dt: irt.normal.Params(*_n(dt, 0.3, 1.5)),
        lambda m, s: _frozen(st.norm(m, s)),
        lambda: irt.normal.Params(0.0, -1.0), "scale"),
    "gamma": Case(
        irt.gamma, lambda dt: irt.gamma.Params(*_n(dt, 2.5, 2.0)),
        lambda a, r: _frozen(st.gamma(a, scale=1 / r)),
        lambda: irt.gamma.Params(-1.0), "concentration"),
    "gamma_small": Case(
        irt.gamma, lambda dt: irt.gamma.Params(*_n(dt, 0.3, 1.5)),
        lambda a, r: _frozen(st.gamma(a, scale=1 / r)),
        lambda: irt.gamma.Params(1.0, 0.0), "rate"),
    "beta": Case(
        irt.beta, lambda dt: irt.beta.Params(*_n(dt, 2.0, 3.0)),
        lambda a, b: _frozen(st.beta(a, b)),
        lambda: irt.beta.Params(1.0, np.nan), "concentration0"),
    "beta_small": Case(
        irt.beta, lambda dt: irt.beta.Params(*_n(dt, 0.5, 2.0)),
        lambda a, b: _frozen(st.beta(a, b)),
        lambda: irt.beta.Params(np.inf, 1.0), "concentration1"),
    "beta_large": Case(
        irt.beta, lambda dt: irt.beta.Params(*_n(dt, 40.0, 7.0)),
        lambda a, b: _frozen(st.beta(a, b)),
        lambda: irt.beta.Params(-1.0, 1.0), "concentration1"),
    "student_t": Case(
        irt.student_t, lambda dt: irt.student_t.Params(*_n(dt, 4.0, 0.5, 2.0)),
        lambda df, m, s: _frozen(st.t(df, m, s)),
        lambda: irt.student_t.Params(0.0), "df"),
    "student_t_heavy": Case(
        irt.student_t, lambda dt: irt.student_t.Params(*_n(dt, 0.7, 0.0, 1.0)),
        lambda df, m, s: _frozen(st.t(df, m, s)),
        lambda: irt.student_t.Params(3.0, 0.0, -1.0), "scale"),
    "von_mises": Case(
        irt.von_mises, lambda dt: irt.von_mises.Params(*_n(dt, 0.5, 2.0)),
        lambda m, k: _frozen(st.vonmises(k, loc=m)),
        lambda: irt.von_mises.Params(0.0, -2.0), "concentration"),
    "dirichlet": Case(
        irt.dirichlet, lambda dt: irt.dirichlet.Params(jnp.asarray([1.5, 2.0, 3.0], dt)),
        None, lambda: irt.dirichlet.Params(np.array([1.0, -1.0])), "concentration"),
    "von_mises_fisher": Case(
        irt.von_mises_fisher,
        lambda dt: irt.von_mises_fisher.Params(jnp.asarray([0.0, 0.6, 0.8], dt),
                                               jnp.asarray(3.0, dt)),
        None, lambda: irt.von_mises_fisher.Params(np.array([0.0, 2.0]), 1.0), "mean_direction"),
    "truncated_normal": Case(
        truncated.of(irt.normal),
        lambda dt: truncated.Params(irt.normal.Params(*_n(dt, 0.2, 1.3)), *_n(dt, -0.5, 1.5)),
        lambda m, s, lo, hi: _truncated_ref(st.norm(m, s), lo, hi),
        lambda: truncated.Params(irt.normal.Params(0.0, 1.0), 2.0, 1.0), "low"),
    "truncated_gamma": Case(
        truncated.of(irt.gamma),
        lambda dt: truncated.Params(irt.gamma.Params(*_n(dt, 2.0, 1.0)), *_n(dt, 0.5, 4.0)),
        lambda a, r, lo, hi: _truncated_ref(st.gamma(a, scale=1 / r), lo, hi),
        lambda: truncated.Params(irt.gamma.Params(2.0), -3.0, -1.0), "support"),
    "mixture_normal": Case(
        mixture.of(irt.normal),
        lambda dt: mixture.Params(jnp.asarray([0.2, -0.1], dt),
                                  irt.normal.Params(jnp.asarray([-1.0, 2.0], dt),
                                                    jnp.asarray([0.7, 1.2], dt))),
        None, lambda: mixture.Params(np.zeros(2), irt.normal.Params(np.array([0.0, 1.0]),
                                                                     np.array([1.0, 0.0]))),
        "scale"),
    "mixture_gamma_diag": Case(
        mixture.of(irt.gamma, event_ndims=1),
        lambda dt: mixture.Params(jnp.asarray([0.3, -0.3], dt),
                                  irt.gamma.Params(jnp.asarray([[1.5, 3.0], [4.0, 2.0]], dt),
                                                   jnp.ones((2, 2), dt))),
        None, lambda: mixture.Params(np.array([0.0, np.inf]), irt.gamma.Params(np.array([[1.0], [2.0]]))),
        "logits"),
    "mixture_mvn": Case(
        mixture.multivariate_normal,
        lambda dt: mixture.Params(
            jnp.asarray([0.0, 0.5], dt),
            mixture.MultivariateNormalParams(jnp.asarray([[0.0, 0.0], [2.0, 1.0]], dt),
                                             jnp.asarray([[[1.0, 0.0], [0.5, 1.0]]] * 2, dt))),
        None, lambda: mixture.Params(np.zeros(1), mixture.MultivariateNormalParams(
            np.zeros((1, 2)), np.array([[[1.0, 0.0], [0.0, -1.0]]]))), "scale_tril"),
    "implicit_weibull": Case(
        WEIBULL, lambda dt: tuple(_n(dt, 2.0, 1.5)),
        lambda lam, k: _frozen(st.weibull_min(k, scale=lam)),
        lambda: (2.0, np.nan), "params"),
    # The everyday explicit families (irt_jax/_src/explicit.py).
    "kumaraswamy": Case(
        irt.kumaraswamy, lambda dt: irt.kumaraswamy.Params(*_n(dt, 2.0, 3.0)),
        lambda a, b: dict(   # closed form: F = 1 - (1 - z^a)^b
            cdf=lambda z: -np.expm1(b * np.log1p(-z ** a)),
            logpdf=lambda z: np.log(a * b) + (a - 1) * np.log(z) + (b - 1) * np.log1p(-z ** a)),
        lambda: irt.kumaraswamy.Params(0.0, 1.0), "concentration1"),
    "weibull": Case(
        irt.weibull, lambda dt: irt.weibull.Params(*_n(dt, 2.0, 1.5)),
        lambda lam, k: _frozen(st.weibull_min(k, scale=lam)),
        lambda: irt.weibull.Params(1.0, -1.0), "concentration"),
    "gumbel": Case(
        irt.gumbel, lambda dt: irt.gumbel.Params(*_n(dt, 0.5, 2.0)),
        lambda m, s: _frozen(st.gumbel_r(m, s)),
        lambda: irt.gumbel.Params(np.nan, 1.0), "loc"),
    "log_normal": Case(
        irt.log_normal, lambda dt: irt.log_normal.Params(*_n(dt, 0.3, 0.5)),
        lambda m, s: _frozen(st.lognorm(s, scale=np.exp(m))),
        lambda: irt.log_normal.Params(0.0, -1.0), "scale"),
    "half_normal": Case(
        irt.half_normal, lambda dt: irt.half_normal.Params(*_n(dt, 2.0)),
        lambda s: _frozen(st.halfnorm(scale=s)),
        lambda: irt.half_normal.Params(-1.0), "scale"),
    "half_cauchy": Case(
        irt.half_cauchy, lambda dt: irt.half_cauchy.Params(*_n(dt, 2.0)),
        lambda s: _frozen(st.halfcauchy(scale=s)),
        lambda: irt.half_cauchy.Params(np.inf), "scale"),
    "half_student_t": Case(
        irt.half_student_t, lambda dt: irt.half_student_t.Params(*_n(dt, 3.0, 2.0)),
        lambda df, s: dict(  # |t| of scipy.stats.t: F = 2 F_t - 1, q = 2 q_t
            cdf=lambda z: 2 * st.t(df, scale=s).cdf(z) - 1,
            logpdf=lambda z: np.log(2) + st.t(df, scale=s).logpdf(z)),
        lambda: irt.half_student_t.Params(-1.0), "df"),
    "laplace": Case(
        irt.laplace, lambda dt: irt.laplace.Params(*_n(dt, 0.5, 2.0)),
        lambda m, s: _frozen(st.laplace(m, s)),
        lambda: irt.laplace.Params(0.0, 0.0), "scale"),
    "cauchy": Case(
        irt.cauchy, lambda dt: irt.cauchy.Params(*_n(dt, 0.5, 2.0)),
        lambda m, s: _frozen(st.cauchy(m, s)),
        lambda: irt.cauchy.Params(0.0, -2.0), "scale"),
    "exponential": Case(
        irt.exponential, lambda dt: irt.exponential.Params(*_n(dt, 2.0)),
        lambda r: _frozen(st.expon(scale=1 / r)),
        lambda: irt.exponential.Params(0.0), "rate"),
    "pareto": Case(
        irt.pareto, lambda dt: irt.pareto.Params(*_n(dt, 1.5, 3.0)),
        lambda s, a: _frozen(st.pareto(a, scale=s)),
        lambda: irt.pareto.Params(-1.0, 3.0), "scale"),
}
# The univariate mixture's reference, written once the case exists.
CASES["mixture_normal"] = dataclasses.replace(
    CASES["mixture_normal"],
    ref=lambda l0, l1, m0, m1, s0, s1: _mixture_ref(np.array([l0, l1]),
                                                   [st.norm(m0, s0), st.norm(m1, s1)]))

NAMES = list(CASES)
ONE_D = [n for n in NAMES if CASES[n].family.event_ndims == 0]


def _grouped(names):
  """Cases of one family in one xdist group (``make test`` runs
  ``--dist loadgroup``): parameter regimes of a family build the same XLA
  programs, which the compilation cache then compiles once."""
  group = lambda n: getattr(CASES[n].family, "__name__", repr(CASES[n].family))
  return [pytest.param(n, marks=pytest.mark.xdist_group(group(n))) for n in names]


def _leaves(p):
  return [float(v) for v in np.concatenate([np.ravel(np.asarray(x, np.float64))
                                            for x in jax.tree.leaves(p)])]


def _in_support(case, p, z):
  sup = case.family.support(p)
  if sup.kind == "simplex":
    return bool(jnp.all(z >= 0) & jnp.all(jnp.abs(z.sum(-1) - 1) < 1e-5))
  if sup.kind == "sphere":
    return bool(jnp.all(jnp.abs(jnp.linalg.norm(z, axis=-1) - 1) < 1e-4))
  return bool(jnp.all(sup.contains(z)))


# ---------------------------------------------------------------------- the battery

@pytest.mark.parametrize("name", _grouped(NAMES))
def test_meets_the_contract(name):
  case = CASES[name]
  family = fam.check(case.family, univariate=case.family.event_ndims == 0)
  assert isinstance(family, fam.Family)
  assert isinstance(family.support(case.params(jnp.float64)), fam.Support)
  for member in ("validate", "is_valid", "support", "log_terms", "velocity"):
    fn = getattr(family, member, None)           # generated members' examples
    if fn is not None and fn.__doc__ and "irt." + name in fn.__doc__:
      result = fam.run_examples(fn)
      assert result.attempted and not result.failed, (name, member, result)


@pytest.mark.parametrize("name", _grouped([n for n in ONE_D
                                            if hasattr(CASES[n].family, "log_terms")
                                            or hasattr(CASES[n].family, "velocity")]))
def test_hooks_equal_what_they_fuse(name):
  """``log_terms`` = (log_prob, log_cdf, log_sf), derivatives included;
  ``velocity`` = -(dF/dparams . t) / q (what truncation takes from it)."""
  family = CASES[name].family
  p = CASES[name].params(jnp.float64)
  z = family.sample(KEY, p, (4,))
  t = jax.tree.map(lambda v: jnp.full_like(v, 0.7), p)
  out = _hooks_and_what_they_fuse(family, p, z, t)
  if "fused" in out:
    chex.assert_trees_all_close(out["fused"], out["separate"], rtol=1e-10, atol=1e-12)
  if "velocity" in out:
    np.testing.assert_allclose(out["velocity"], out["rule"], rtol=1e-9)


@functools.partial(jax.jit, static_argnums=0)
def _hooks_and_what_they_fuse(family, p, z, t):
  # Compiled (eagerly, every loop in the kernels would compile anew per call).
  separate = lambda q, x: (family.log_prob(q, x), family.log_cdf(q, x), family.log_sf(q, x))
  out = {}
  if hasattr(family, "log_terms"):
    out["separate"] = jax.jvp(separate, (p, z), (t, jnp.full_like(z, 0.3)))
    out["fused"] = jax.jvp(family.log_terms, (p, z), (t, jnp.full_like(z, 0.3)))
  if hasattr(family, "velocity"):
    _, f_dot = jax.jvp(lambda q: family.cdf(q, z), (p,), (t,))
    out["velocity"] = family.velocity(p, z, t)
    out["rule"] = -f_dot / jnp.exp(family.log_prob(p, z))
  return out


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("name", _grouped(NAMES))
def test_draws_shape_dtype_support_and_law(name, dtype):
  case = CASES[name]
  p = case.params(dtype)
  z = case.family.sample(KEY, p, (4000,))
  event = z.shape[1:]
  assert z.shape == (4000,) + event and len(event) == case.family.event_ndims
  assert z.dtype == dtype and bool(jnp.all(jnp.isfinite(z)))
  assert _in_support(case, p, z)
  if case.ref is not None:
    ref = case.ref(*_leaves(p))
    assert st.kstest(np.asarray(z, np.float64), ref["cdf"]).pvalue > 1e-3
    if dtype == jnp.float64:
      x = np.quantile(np.asarray(z), [0.05, 0.3, 0.6, 0.95])
      np.testing.assert_allclose(case.family.log_prob(p, x), ref["logpdf"](x), rtol=1e-7)


def _draws_by_key_and_param(family, k, ks, q, qs):
  draw = lambda key, r: family.sample(key, r, (6,))
  return (draw(k, q), jax.vmap(draw, in_axes=(0, None))(ks, q),
          jax.vmap(draw, in_axes=(None, 0))(k, qs))


@pytest.mark.parametrize("name", _grouped(NAMES))
def test_jit_eager_and_vmap_agree(name):
  """Under ``jit``, draws and ``vmap`` over keys and over parameters equal the
  eager draws (eager ``vmap`` applies the same batching rules op by op)."""
  family = CASES[name].family
  p = CASES[name].params(jnp.float64)
  keys = jax.random.split(KEY, 3)
  stacked = jax.tree.map(lambda v: jnp.stack([v, v]), p)
  z, by_key, by_param = _jit_draws_by_key_and_param(family, KEY, keys, p, stacked)
  want = family.sample(KEY, p, (6,))     # eager, outside the program
  chex.assert_trees_all_close(z, want, rtol=1e-12)
  chex.assert_shape(by_key, (3,) + want.shape)
  chex.assert_trees_all_close(by_key[1], family.sample(keys[1], p, (6,)), rtol=1e-12)
  chex.assert_trees_all_close(by_param[0], want, rtol=1e-12)


_jit_draws_by_key_and_param = jax.jit(_draws_by_key_and_param, static_argnums=0)


@pytest.mark.parametrize("name", _grouped(NAMES))
def test_gradients_per_draw_and_of_the_mean(name):
  """One program: parameters broadcast to one set per draw, so the gradient of
  the sum of the draws holds every draw's own gradient (a case's parameter
  leaves are written at their full shape, so a leading draw axis broadcasts)."""
  case = CASES[name]
  p = case.params(jnp.float64)
  n = 20_000
  per_draw_params = jax.tree.map(lambda v: jnp.broadcast_to(v, (n,) + jnp.shape(v)), p)
  per_draw = _grad_of_sum(case.family, per_draw_params)
  grads = [np.asarray(v) for v in jax.tree.leaves(per_draw)]
  assert all(np.all(np.isfinite(g)) for g in grads)
  # Unbiased: the mean over draws is d/dp E[sum of one draw] (closed-form mean;
  # none where it does not exist, e.g. Student-t with df <= 1).
  if hasattr(case.family, "mean") and bool(jnp.all(jnp.isfinite(case.family.mean(p)))):
    want = jax.grad(lambda q: jnp.sum(case.family.mean(q)))(p)
    for g, w in zip(grads, jax.tree.leaves(want)):
      se = g.std(axis=0) / np.sqrt(n)
      np.testing.assert_array_less(np.abs(g.mean(axis=0) - np.asarray(w)), 5 * se + 1e-9,
                                   err_msg=name)
  # Per draw against central differences of the reference CDF (1-D families).
  if case.ref is not None:
    leaves = _leaves(p)
    z = np.asarray(case.family.sample(KEY, per_draw_params))[:8]
    got = np.concatenate([g[:8].reshape(8, -1) for g in grads], axis=1)
    dens = np.exp(case.ref(*leaves)["logpdf"](z))
    for i in range(len(leaves)):
      h = 1e-6 * max(1.0, abs(leaves[i]))
      up, down = list(leaves), list(leaves)
      up[i] += h
      down[i] -= h
      d_f = (case.ref(*up)["cdf"](z) - case.ref(*down)["cdf"](z)) / (2 * h)
      np.testing.assert_allclose(got[:, i], -d_f / dens, rtol=2e-4, atol=1e-6,
                                 err_msg=f"{name}: parameter leaf {i}")


@pytest.mark.parametrize("name", _grouped(NAMES))
def test_second_order_from_one_rule(name):
  case = CASES[name]
  p = case.params(jnp.float64)
  rev_rev, fwd_rev = _second_order(case.family, p)
  chex.assert_trees_all_close(rev_rev, fwd_rev, rtol=1e-7, atol=1e-9)
  assert all(bool(jnp.all(jnp.isfinite(v))) for v in jax.tree.leaves(rev_rev))


# The battery's compiled programs take the family as a static argument and the
# parameters as arguments, so a family's parameter regimes (gamma / gamma_small,
# the three betas, ...) share one compilation: the suite is compile-bound.
def _total(tree):
  return sum(jnp.sum(v) for v in jax.tree.leaves(tree))


@functools.partial(jax.jit, static_argnums=0)
def _grad_of_sum(family, q):
  return jax.grad(lambda r: jnp.sum(family.sample(KEY, r)))(q)


@functools.partial(jax.jit, static_argnums=0)
def _second_order(family, q):
  # Both modes in one program: it compiles in ~70% of the time of two
  # (the draws are shared).
  def second(mode):
    f = lambda r: jnp.sum(jnp.sin(family.sample(KEY, r, (5,), mode=mode)))
    return jax.grad(lambda r: _total(jax.grad(f)(r)))(q)
  return second("vjp"), second("jvp")


@functools.partial(jax.jit, static_argnums=0)
def _draws_of(family, q):
  return family.sample(KEY, q, (64,))


@pytest.mark.parametrize("name", _grouped(NAMES))
def test_invalid_parameters(name):
  case = CASES[name]
  bad = case.invalid()
  with pytest.raises(ValueError, match=case.invalid_name):
    case.family.validate(bad)
  with pytest.raises(ValueError, match=case.invalid_name):
    case.family.sample(KEY, bad, (3,))
  assert not bool(jnp.all(case.family.is_valid(bad)))
  good = case.params(jnp.float64)
  assert bool(jnp.all(case.family.is_valid(good)))
  traced = _draws_of(case.family, jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), bad))
  assert bool(jnp.any(jnp.isnan(traced)))
