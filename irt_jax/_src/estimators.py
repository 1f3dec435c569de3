r"""Monte-Carlo gradient estimators with one signature.

Every estimator answers the same question, ``d/dparams E_{z ~ q_params}[f(z)]``,
with the same call::

    grads = estimator(f, family, params, key, num_samples, **options)

``grads`` has the structure of ``params``; each leaf has a leading
``num_samples`` axis holding one *per-sample* gradient per draw, so
``mean(axis=0)`` is the estimate and ``var(axis=0)`` the per-sample variance.
``family`` is a module such as :mod:`irt_jax.normal` or :mod:`irt_jax.gamma`
(anything with ``Params``, ``sample(key, params, shape)`` and
``log_prob(params, z)``); ``f`` maps *one* draw (of the family's batch + event
shape for ``params``) to a scalar. Draw ``i`` uses
``jax.random.split(key, num_samples)[i]`` in every estimator, so estimators
called with the same key see the same draws (paired comparisons).

The estimators are pure functions: ``jax.jit`` them with ``f``, ``family``,
``num_samples`` and the options static, ``jax.vmap`` them over keys or params.
An eager call compiles the whole estimator once per ``(f, family,
num_samples, options)`` (when they are hashable) and reuses it, so pass the
same ``f`` object across calls; inside an enclosing ``jit`` nothing extra is
compiled. Concrete invalid parameters raise the family's ``ValueError``; under
``jit`` they give NaN.

References:
  S. Mohamed, M. Rosca, M. Figurnov, A. Mnih, "Monte Carlo gradient estimation
  in machine learning", JMLR 21(132), 2020 (pathwise, score function,
  measure-valued; their section 3 variance figures are reproduced in the tests).
  M. Figurnov, S. Mohamed, A. Mnih, "Implicit reparameterization gradients",
  NeurIPS 2018.
  J. Foerster, G. Farquhar, M. Al-Shedivat, T. Rocktaeschel, E. Xing,
  S. Whiteson, "DiCE: the infinitely differentiable Monte Carlo estimator",
  ICML 2018.
"""

from __future__ import annotations

from collections.abc import Callable
import functools
from typing import Any

import jax
import jax.extend as jex
import jax.numpy as jnp
import numpy as np

from irt_jax._src import family as _family
from irt_jax._src import utils

PyTree = Any
Cost = Callable[[jax.Array], jax.Array]

BASELINES = ("none", "batch_mean", "leave_one_out", "optimal")


# --------------------------------------------------------------------------
# Shared plumbing.


def _check_num_samples(num_samples: Any, minimum: int = 1) -> int:
  if isinstance(num_samples, (bool, np.bool_)) or not isinstance(
      num_samples, (int, np.integer)):
    raise TypeError("num_samples: expected a Python int (static under jit), "
                    f"got {type(num_samples).__name__} {num_samples!r}")
  if num_samples < minimum:
    raise ValueError(f"num_samples: expected >= {minimum}, got {num_samples}")
  return int(num_samples)


def _check_family(family: Any, *needs: str) -> None:
  _family.check(family, needs=("Params",) + needs)


def _prepare_params(family: Any, params: PyTree) -> PyTree:
  """Floating arrays of one dtype (the params' own, or JAX's default)."""
  _family.check_params(family, params)
  dtype = utils.float_dtype(None, *jax.tree.leaves(params))
  return jax.tree.map(lambda v: utils.as_float("params", v, dtype), params)


def _sample_keys(key: Any, num_samples: int) -> jax.Array:
  return jax.random.split(utils.check_key(key), num_samples)


def _is_concrete(tree: PyTree) -> bool:
  return all(utils.concrete_value(v) is not None for v in jax.tree.leaves(tree))


def _validate(family: Any, params: PyTree) -> None:
  """Eager calls: the family's own ValueError for invalid concrete params (the
  estimators run as one compiled program, where invalid ones give NaN)."""
  if hasattr(family, "validate") and _is_concrete(params):
    family.validate(params)


@functools.lru_cache(maxsize=None)
def _jitted(impl: Callable[..., Any], n_static: int) -> Callable[..., Any]:
  return jax.jit(impl, static_argnums=tuple(range(n_static)))


def _call(impl: Callable[..., Any], static: tuple[Any, ...], *args: Any) -> Any:
  """``impl(*static, *args)``, compiled once per static arguments if hashable."""
  try:
    hash(static)
  except TypeError:  # e.g. a SimpleNamespace family: run it traced op by op.
    return impl(*static, *args)
  return _jitted(impl, len(static))(*static, *args)


def _scalar_cost(f: Cost, z: jax.Array) -> jax.Array:
  out = f(z)
  if jnp.shape(out) != ():
    raise ValueError(
        f"f: must map one draw (shape {jnp.shape(z)}) to a scalar, got an "
        f"output of shape {jnp.shape(out)}; sum or index it inside f")
  return out


def _draw(family, key, params, **kw):
  return family.sample(key, params, **kw)


# --------------------------------------------------------------------------
# Pathwise.


def pathwise(f: Cost, family: Any, params: PyTree, key: Any, num_samples: int,
             *, mode: str = "vjp") -> PyTree:
  r"""Pathwise (reparameterization) per-sample gradients ``d f(z(params))/dparams``.

  .. math::  \nabla_\phi E_{q_\phi}[f(z)] = E\big[f'(z)\,\partial z/\partial\phi\big]

  with ``dz/dphi`` from the family's sampler: the explicit rule for the
  normal (``dz/dloc = 1``, ``dz/dscale = (z - loc)/scale``) and the implicit
  rule ``-(dF/dphi)/q(z)`` (Figurnov et al. 2018) everywhere else; both come
  from the same ``family.sample`` call. ``f`` must be differentiable.

  Args:
    f: ``f(z) -> scalar`` for one draw ``z``.
    family: a family module (``Params``, ``sample``).
    params: ``family.Params``.
    key: a PRNG key.
    num_samples: number of draws (static).
    mode: passed to ``family.sample`` (``"vjp"`` or ``"jvp"``).

  Returns:
    Per-sample gradients: ``params``' structure, leaves ``[num_samples, ...]``.

  >>> import jax, irt_jax as irt
  >>> from irt_jax import estimators
  >>> p = irt.normal.Params(2.0, 1.0)
  >>> g = estimators.pathwise(lambda z: z ** 2, irt.normal, p, jax.random.key(0), 4000)
  >>> bool(abs(g.loc.mean() - 4.0) < 0.2), g.loc.shape   # d/dloc E[z^2] = 2 loc
  (True, (4000,))
  """
  _check_family(family, "sample")
  num_samples = _check_num_samples(num_samples)
  params = _prepare_params(family, params)
  key = utils.check_key(key)
  _validate(family, params)
  return _call(_pathwise, (f, family, num_samples, mode), params, key)


def _pathwise(f, family, num_samples, mode, params, key):
  def one(k):
    return jax.grad(lambda p: _scalar_cost(f, _draw(family, k, p, mode=mode)))(
        params)

  return jax.vmap(one)(_sample_keys(key, num_samples))


# --------------------------------------------------------------------------
# Score function (REINFORCE) and the DiCE surrogate.


def _magic_box(log_q: jax.Array) -> jax.Array:
  """DiCE's ``exp(l - stop_gradient(l))``: value 1, derivative ``l' * box``."""
  return jnp.exp(log_q - jax.lax.stop_gradient(log_q))


def _draws_and_costs(f, family, params, keys):
  def one(k):
    z = jax.lax.stop_gradient(_draw(family, k, params))
    return z, _scalar_cost(f, z)
  return jax.vmap(one)(keys)


def _baseline(kind: str, fz: jax.Array, scores: PyTree) -> PyTree:
  """The baseline of every draw, per parameter coordinate (``fz``: [N])."""
  n = fz.shape[0]
  expand = lambda b, leaf: jnp.broadcast_to(
      jnp.reshape(b, b.shape + (1,) * (leaf.ndim - 1)), leaf.shape)
  if kind == "none":
    return jax.tree.map(jnp.zeros_like, scores)
  if kind == "batch_mean":
    b = jnp.broadcast_to(jnp.mean(fz), fz.shape)
    return jax.tree.map(lambda s: expand(b, s), scores)
  if kind == "leave_one_out":
    b = (jnp.sum(fz) - fz) / (n - 1)
    return jax.tree.map(lambda s: expand(b, s), scores)
  # optimal: b_c = E[f s_c^2] / E[s_c^2], from the other draws only.
  def optimal(s):
    fe = jnp.reshape(fz, fz.shape + (1,) * (s.ndim - 1))
    s2 = s * s
    num = jnp.sum(fe * s2, axis=0) - fe * s2
    den = jnp.sum(s2, axis=0) - s2
    ok = den > 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), 0.0)
  return jax.tree.map(optimal, scores)


def score_function(f: Cost, family: Any, params: PyTree, key: Any,
                   num_samples: int, *, baseline: str = "none") -> PyTree:
  r"""Score-function (REINFORCE, likelihood-ratio) per-sample gradients.

  .. math::  \nabla_\phi E_{q_\phi}[f(z)] = E\big[(f(z) - b)\,
             \nabla_\phi \log q_\phi(z)\big]

  (Williams 1992; Mohamed et al. 2020, section 4). ``f`` need not be
  differentiable, and ``z`` is not differentiated. Baselines ``b``:

  * ``"none"``: ``b = 0``; unbiased.
  * ``"batch_mean"``: ``b = mean_j f(z_j)`` over the batch *including* draw
    ``i``; **biased**: its mean is ``(1 - 1/N)`` times the gradient (draw
    ``i``'s own ``f`` correlates with its score). Use ``"leave_one_out"``,
    which equals ``N/(N-1)`` times this one and is unbiased.
  * ``"leave_one_out"``: ``b_i = mean_{j != i} f(z_j)``; unbiased (``b_i`` is
    independent of draw ``i`` and ``E[score] = 0``).
  * ``"optimal"``: per parameter coordinate ``c`` the variance-minimising
    constant ``b_c = E[f s_c^2] / E[s_c^2]`` (``s = d log q/dphi``), each
    expectation estimated from the *other* draws
    (``sum_{j != i} f_j s_jc^2 / sum_{j != i} s_jc^2``), so it stays unbiased.

  Leave-one-out baselines need ``num_samples >= 2``; they couple the draws of
  one call (the per-sample values are then slightly dependent, by ``O(1/N)``).

  Args:
    f: ``f(z) -> scalar`` for one draw ``z``.
    family: a family module (``Params``, ``sample``, ``log_prob``).
    params: ``family.Params``.
    key: a PRNG key.
    num_samples: number of draws (static).
    baseline: one of ``"none"``, ``"batch_mean"``, ``"leave_one_out"``,
      ``"optimal"``.

  Returns:
    Per-sample gradients: ``params``' structure, leaves ``[num_samples, ...]``.

  >>> import jax, irt_jax as irt
  >>> from irt_jax import estimators
  >>> p = irt.normal.Params(2.0, 1.0)
  >>> g = estimators.score_function(lambda z: z ** 2, irt.normal, p,
  ...                               jax.random.key(0), 20000, baseline="optimal")
  >>> bool(abs(g.loc.mean() - 4.0) < 0.3)
  True
  """
  _check_family(family, "sample", "log_prob")
  if baseline not in BASELINES:
    raise ValueError(f"baseline: expected one of {BASELINES}, got {baseline!r}")
  num_samples = _check_num_samples(
      num_samples, 2 if baseline in ("leave_one_out", "optimal") else 1)
  params = _prepare_params(family, params)
  key = utils.check_key(key)
  _validate(family, params)
  return _call(_score_function, (f, family, num_samples, baseline), params, key)


def _score_function(f, family, num_samples, baseline, params, key):
  z, fz = _draws_and_costs(f, family, params, _sample_keys(key, num_samples))
  scores = jax.vmap(lambda zi: jax.grad(
      lambda p: jnp.sum(family.log_prob(p, zi)))(params))(z)
  b = _baseline(baseline, fz, scores)

  def weigh(s, bb):
    fe = jnp.reshape(fz, fz.shape + (1,) * (s.ndim - 1))
    return (fe - bb) * s

  return jax.tree.map(weigh, scores, b)


def score_function_surrogate(f: Cost, family: Any, params: PyTree, key: Any,
                             num_samples: int) -> jax.Array:
  r"""DiCE surrogate whose derivatives of every order are score-function estimates.

  .. math::  L(\phi) = \frac1N \sum_i \boxdot(\log q_\phi(z_i))\, f(z_i),
             \qquad \boxdot(l) = \exp(l - \bot(l)),

  with ``z_i`` drawn once and held fixed (``\bot`` = stop-gradient). ``L``
  equals the plain Monte-Carlo average of ``f``; ``jax.grad(L)`` is
  ``mean f s`` (``s = grad log q``), and ``jax.hessian(L)`` is
  ``mean f (s s^T + grad^2 log q)``, an unbiased estimate of
  ``grad^2 E[f]`` because ``grad^2 q = q (s s^T + grad^2 log q)``. A plain
  ``mean(log q * stop_gradient(f))`` surrogate has the right gradient but
  a Hessian missing the ``s s^T`` term (Foerster et al., ICML 2018).

  Args:
    f: ``f(z) -> scalar`` for one draw ``z``.
    family: a family module (``Params``, ``sample``, ``log_prob``).
    params: ``family.Params`` (differentiate the surrogate with respect to it).
    key: a PRNG key (same draws as the other estimators).
    num_samples: number of draws (static).

  Returns:
    The scalar surrogate.

  >>> import jax, irt_jax as irt
  >>> from irt_jax import estimators
  >>> L = lambda m: estimators.score_function_surrogate(
  ...     lambda z: z ** 2, irt.normal, irt.normal.Params(m, 1.0),
  ...     jax.random.key(1), 50000)
  >>> bool(abs(jax.grad(jax.grad(L))(0.5) - 2.0) < 0.3)   # d2/dm2 E[z^2] = 2
  True
  """
  _check_family(family, "sample", "log_prob")
  num_samples = _check_num_samples(num_samples)
  params = _prepare_params(family, params)   # differentiable conversion
  key = utils.check_key(key)
  _validate(family, params)
  return _call(_surrogate, (f, family, num_samples), params, key)


def _surrogate(f, family, num_samples, params, key):
  # The draws do not depend on params (their derivative is the score's job).
  fixed = jax.lax.stop_gradient(params)
  z, fz = _draws_and_costs(f, family, fixed, _sample_keys(key, num_samples))
  log_q = jax.vmap(lambda zi: jnp.sum(family.log_prob(params, zi)))(z)
  return jnp.mean(_magic_box(log_q) * fz)


# --------------------------------------------------------------------------
# Measure-valued (weak-derivative) gradients.


def _unbroadcast(g: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """Sums ``g`` (batch shape) down to a parameter leaf of ``shape``."""
  lead = g.ndim - len(shape)
  g = jnp.sum(g, axis=tuple(range(lead))) if lead else g
  axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
  return jnp.sum(g, axis=axes, keepdims=True) if axes else g


def _replace_each(f, z, values):
  """``f(z with coordinate j replaced by values[j])`` for every coordinate j."""
  flat, vals = jnp.reshape(z, -1), jnp.reshape(values, -1)
  out = jax.vmap(lambda j: _scalar_cost(
      f, jnp.reshape(flat.at[j].set(vals[j]), z.shape)))(jnp.arange(flat.size))
  return jnp.reshape(out, z.shape)


def measure_valued(f: Cost, family: Any, params: PyTree, key: Any,
                   num_samples: int, *, wrt: str | tuple[str, ...] | None = None,
                   coupling: bool = True) -> PyTree:
  r"""Measure-valued (weak-derivative) per-sample gradients.

  A weak derivative writes ``d q_phi(z)/dphi = c_phi (q+(z) - q-(z))`` with
  densities ``q+``, ``q-`` and a constant ``c``, so that

  .. math::  \nabla_\phi E_{q_\phi}[f] = c_\phi\,(E_{q^+}[f] - E_{q^-}[f])

  (Pflug 1989; Mohamed, Rosca, Figurnov & Mnih, JMLR 2020, section 6, table 1).
  ``f`` need not be differentiable. For a batch of parameters each
  coordinate ``j`` is perturbed on its own: ``z_j`` is replaced by draws of
  ``q+`` and ``q-`` while the other coordinates keep the common draw ``z``
  (2 evaluations of ``f`` per coordinate per draw).

  * Normal ``loc``: ``c = 1/(scale sqrt(2 pi))``,
    ``q+- = loc +- scale R`` with ``R ~ Weibull(2, sqrt 2)`` (Rayleigh): the
    paper's Weibull decomposition of ``(z - loc)/scale^2 N(z)``.
  * Normal ``scale``: ``c = 1/scale``, ``q+`` the double-sided Maxwell
    ``loc + scale M`` (``M = +-chi_3``), ``q- = N(loc, scale^2)``.
  * Gamma ``rate``: with ``q(z) = rate^a z^(a-1) e^(-rate z) / Gamma(a)``,

    .. math::  \partial_{rate} q = (a/rate - z)\, q(z), \qquad
               z\,q(z; a, rate) = (a/rate)\, q(z; a+1, rate),

    because ``z * rate^a z^(a-1) e^(-rate z)/Gamma(a) =
    (Gamma(a+1)/(rate Gamma(a))) rate^(a+1) z^a e^(-rate z)/Gamma(a+1)``.
    Hence ``d q/d rate = (a/rate) (Gamma(a, rate) - Gamma(a+1, rate))``:
    ``c = a/rate``, ``q+ = q`` itself, ``q- = Gamma(a+1, rate)`` (check:
    ``d E[z]/d rate = (a/rate)(a/rate - (a+1)/rate) = -a/rate^2``).

  Coupling (common random numbers, ``coupling=True``, the default): the
  normal loc uses one ``R`` for both arms; the normal scale uses
  ``x- = loc + scale M U`` with ``U ~ Uniform(0, 1)`` (``M U ~ N(0, 1)``);
  the gamma rate uses ``x- = x+ + E/rate``, ``E ~ Exp(1)`` (a sum of
  gammas). ``coupling=False`` draws the two arms independently. Either way the
  estimator is unbiased; coupling lowers the variance when ``f`` is smooth.

  Args:
    f: ``f(z) -> scalar`` for one draw ``z``.
    family: :mod:`irt_jax.normal` or :mod:`irt_jax.gamma`.
    params: ``family.Params``.
    key: a PRNG key.
    num_samples: number of draws (static).
    wrt: the parameter names to estimate (default: all of them). Leaves not
      asked for are NaN (not estimated), never a plausible zero.
    coupling: couple the positive and negative parts (see above).

  Returns:
    Per-sample gradients: ``params``' structure, leaves ``[num_samples, ...]``.

  Raises:
    ValueError: a parameter (asked for, or by default) has no measure-valued
      form here, e.g. the gamma concentration; the message names it.

  >>> import jax, irt_jax as irt
  >>> from irt_jax import estimators
  >>> p = irt.gamma.Params(3.0, 2.0)
  >>> g = estimators.measure_valued(lambda z: z, irt.gamma, p, jax.random.key(0),
  ...                               20000, wrt="rate")
  >>> bool(abs(g.rate.mean() + 3.0 / 4.0) < 0.05)   # d/drate E[z] = -a/rate^2
  True
  """
  _check_family(family, "sample")
  num_samples = _check_num_samples(num_samples)
  name = _family.name_of(family)
  if not hasattr(family, "weak_derivative"):
    raise ValueError(
        f"measure_valued: no weak derivative is implemented for family "
        f"{name!r} (available: irt_jax.normal loc and scale, irt_jax.gamma "
        "rate); use pathwise or score_function")
  known = tuple(family.WEAK_DERIVATIVE_FIELDS)
  params = _prepare_params(family, params)
  fields = params._fields
  if wrt is None:
    wrt = fields
  elif isinstance(wrt, str):
    wrt = (wrt,)
  wrt = tuple(wrt)
  for w in wrt:
    if w not in fields:
      raise ValueError(f"wrt: {w!r} is not a parameter of {name} "
                       f"(parameters: {fields})")
    if w not in known:
      raise ValueError(
          f"measure_valued: parameter {w!r} of {name} has no measure-valued "
          f"derivative here (available for {name}: {known}); pass "
          f"wrt={tuple(k for k in known)!r} or use pathwise/score_function")
  key = utils.check_key(key)
  _validate(family, params)
  return _call(_measure_valued, (f, family, num_samples, wrt, bool(coupling)), params,
               key)


def _measure_valued(f, family, num_samples, wrt, coupling, params, key):
  fields = params._fields

  def one(k):
    z, parts = family.weak_derivative(params, k, wrt, coupling)
    f_z = jnp.broadcast_to(_scalar_cost(f, z), z.shape)
    arm = lambda v: f_z if v is None else _replace_each(f, z, v)
    g = {n: c * (arm(plus) - arm(minus)) for n, (c, plus, minus) in parts.items()}
    return type(params)(*[
        _unbroadcast(g[n], jnp.shape(v)) if n in g
        else jnp.full(jnp.shape(v), jnp.nan, v.dtype)
        for n, v in zip(fields, params)])

  return jax.vmap(one)(_sample_keys(key, num_samples))


# --------------------------------------------------------------------------
# Best available.


def _depends_on(jaxpr, n_skip: int) -> bool:
  """Whether any output of ``jaxpr`` depends on its inputs after ``n_skip``.

  Conservative: a call (jit, custom rule, loop) depends on all its inputs.
  """
  dep = set(jaxpr.invars[n_skip:])
  is_var = lambda v: not isinstance(v, jex.core.Literal)
  for eqn in jaxpr.eqns:
    if any(is_var(v) and v in dep for v in eqn.invars):
      dep.update(eqn.outvars)
  return any(is_var(v) and v in dep for v in jaxpr.outvars)


def choose(family: Any, params: PyTree) -> str:
  """The estimator :func:`best` uses: ``"pathwise"`` or ``"score_function"``.

  Pathwise when the family's ``sample`` returns floating draws through which
  the gradient reaches ``params`` (checked on the traced reverse pass: the
  cotangent of the draws must flow into the parameters, so a sampler with a
  ``stop_gradient`` or a discrete one is recognised). A family may force the
  choice with a boolean attribute ``REPARAMETERIZED``.

  >>> import irt_jax as irt
  >>> from irt_jax import estimators
  >>> estimators.choose(irt.gamma, irt.gamma.Params(2.0, 1.0))
  'pathwise'
  """
  _check_family(family, "sample")
  flag = getattr(family, "REPARAMETERIZED", None)
  if flag is not None:
    return "pathwise" if flag else "score_function"
  params = _prepare_params(family, params)
  key = jax.random.key(0)
  draw = lambda p: family.sample(key, p)
  try:
    out = jax.eval_shape(draw, params)
    if not jnp.issubdtype(out.dtype, jnp.floating):
      return "score_function"
    closed = jax.make_jaxpr(lambda p, ct: jax.vjp(draw, p)[1](ct))(
        params, jnp.zeros(out.shape, out.dtype))
  except Exception:  # pylint: disable=broad-except  # not differentiable
    return "score_function"
  n_params = len(jax.tree.leaves(params))
  return "pathwise" if _depends_on(closed.jaxpr, n_params) else "score_function"


def best(f: Cost, family: Any, params: PyTree, key: Any, num_samples: int,
         **options: Any) -> PyTree:
  """The best available estimator: pathwise if the sampler has a gradient.

  Every irt_jax family has one (explicit or implicit reparameterization, the
  lowest-variance general choice for smooth ``f``; Mohamed et al. 2020,
  section 8). Otherwise (discrete draws, a sampler without gradient) the
  score function with the ``"leave_one_out"`` baseline is used; ``options``
  go to the chosen estimator. See :func:`choose`. For a non-differentiable
  ``f`` call :func:`score_function` or :func:`measure_valued` directly.

  >>> import jax, irt_jax as irt
  >>> from irt_jax import estimators
  >>> g = estimators.best(lambda z: z ** 2, irt.normal, irt.normal.Params(1.0, 2.0),
  ...                     jax.random.key(0), 4000)
  >>> bool(abs(g.scale.mean() - 4.0) < 0.4)   # d/dscale E[z^2] = 2 scale
  True
  """
  if choose(family, params) == "pathwise":
    return pathwise(f, family, params, key, num_samples, **options)
  options.setdefault("baseline", "leave_one_out")
  return score_function(f, family, params, key, num_samples, **options)

