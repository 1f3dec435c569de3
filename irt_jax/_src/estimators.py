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
  J. Paisley, D. Blei, M. Jordan, "Variational Bayesian inference with
  stochastic search", ICML 2012 (the delta-method control variate).
  Y. Cong, M. Zhao, K. Bai, L. Carin, "GO gradient for expectation-based
  objectives", ICLR 2019 (the GO gradient of the discrete families).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.extend as jex
import jax.numpy as jnp
import numpy as np

from irt_jax._src import family as _family
from irt_jax._src import montecarlo as _mc
from irt_jax._src import utils

PyTree = Any
Cost = _mc.Cost

BASELINES = ("none", "batch_mean", "leave_one_out", "optimal")
CONTROL_VARIATES = ("delta",)


# --------------------------------------------------------------------------
# Shared plumbing (checks, keys, compiled programs: irt_jax._src.montecarlo).


def _draw(family, key, params, **kw):
  return family.sample(key, params, **kw)


# --------------------------------------------------------------------------
# Pathwise.


def pathwise(f: Cost, family: Any, params: PyTree, key: Any, num_samples: int,
             *, mode: str = "vjp", control_variate: Any = None,
             cv_coefficient: Any = 1.0) -> PyTree:
  r"""Pathwise (reparameterization) per-sample gradients ``d f(z(params))/dparams``.

  .. math::  \nabla_\phi E_{q_\phi}[f(z)] = E\big[f'(z)\,\partial z/\partial\phi\big]

  with ``dz/dphi`` from the family's sampler: the explicit rule for the
  normal (``dz/dloc = 1``, ``dz/dscale = (z - loc)/scale``) and the implicit
  rule ``-(dF/dphi)/q(z)`` (Figurnov et al. 2018) everywhere else; both come
  from the same ``family.sample`` call. ``f`` must be differentiable.

  With a control variate ``h`` (``control_variate``: ``"delta"`` or a
  callable, as in :func:`score_function`) and coefficient ``c``, the
  per-sample gradient is that of ``f - c h`` plus the exact gradient of
  ``c E[h]``:

  .. math::  \nabla_\phi \big[f(z(\phi)) - c\,h(z(\phi))\big]
             + c\,\nabla_\phi E_{q_\phi}[h],

  unbiased because ``h`` is a fixed function (the delta method's expansion
  point and Taylor coefficients do not move with ``phi``) whose expectation
  is differentiated in closed form (Mohamed et al. 2020, section 7.1: for
  the delta method the pathwise term of ``h`` is ``f``'s linear and
  quadratic part, so what remains is the third-order remainder's). ``c`` is
  a number (default 1) or ``"optimal"``: per parameter coordinate the
  variance-minimising ``Cov(g_f, g_h) / Var(g_h)`` of the per-sample
  gradients ``g_f`` of ``f`` and ``g_h`` of ``h``, estimated for draw ``i``
  from the other draws (leave-one-out), so it stays unbiased.

  Args:
    f: ``f(z) -> scalar`` for one draw ``z``.
    family: a family module (``Params``, ``sample``).
    params: ``family.Params``.
    key: a PRNG key.
    num_samples: number of draws (static; ``>= 2`` for ``"optimal"``).
    mode: passed to ``family.sample`` (``"vjp"`` or ``"jvp"``).
    control_variate: ``None``, ``"delta"`` or a callable ``(f, family,
      params) -> (h, expected_h)`` (see :func:`delta_control_variate`).
    cv_coefficient: ``c``: a number (may be traced) or ``"optimal"``.

  Returns:
    Per-sample gradients: ``params``' structure, leaves ``[num_samples, ...]``.

  Raises:
    ValueError: ``family`` is discrete (``family.discrete``: Bernoulli,
      categorical, Poisson, binomial, negative binomial), whose draws have no
      pathwise derivative; a bad ``control_variate`` or ``cv_coefficient``
      (named), or ``"delta"`` for a family without closed-form mean and
      variance.

  >>> import jax, irt_jax as irt
  >>> from irt_jax import estimators
  >>> p = irt.normal.Params(2.0, 1.0)
  >>> g = estimators.pathwise(lambda z: z ** 2, irt.normal, p, jax.random.key(0), 4000)
  >>> bool(abs(g.loc.mean() - 4.0) < 0.2), g.loc.shape   # d/dloc E[z^2] = 2 loc
  (True, (4000,))
  >>> g = estimators.pathwise(lambda z: z ** 2, irt.normal, p, jax.random.key(0), 10,
  ...                         control_variate="delta")   # h = f: exact per sample
  >>> round(float(g.loc.std()), 9), round(float(g.scale.mean()), 9)
  (0.0, 2.0)
  """
  _mc.check_family(family, "sample")
  if getattr(family, "discrete", False):
    raise ValueError(
        f"pathwise: family {_family.name_of(family)!r} is discrete: its draws have "
        "no pathwise derivative; use score_function, measure_valued or go_gradient")
  cv, coef_kind, coef = _check_cv_options(control_variate, cv_coefficient)
  num_samples = _mc.check_num_samples(num_samples, 2 if coef_kind else 1)
  params = _mc.prepare_params(family, params)
  key = utils.check_key(key)
  _mc.validate(family, params)
  if cv is delta_control_variate:   # its errors, eagerly (concrete variance)
    _check_delta(family, params)
  return _mc.call(_pathwise, (f, family, num_samples, mode, cv, coef_kind),
                  params, key, coef)


def _pathwise(f, family, num_samples, mode, cv, coef_kind, params, key, coef):
  keys = _mc.sample_keys(key, num_samples)
  if cv is None:
    def one(k):
      return jax.grad(lambda p: _mc.scalar_cost(f, _draw(family, k, p, mode=mode)))(
          params)
    return jax.vmap(one)(keys)

  h, grad_eh = _cv_terms(cv, f, family, params)

  def both(k):   # one draw, pulled back twice: d f(z)/dparams and d h(z)/dparams
    z, pull = jax.vjp(lambda p: _draw(family, k, p, mode=mode), params)
    g_f = jax.grad(lambda v: _mc.scalar_cost(f, v))(z)
    g_h = jax.grad(lambda v: _mc.scalar_cost(h, v))(z)
    return pull(g_f)[0], pull(g_h)[0]

  g_f, g_h = jax.vmap(both)(keys)
  return _subtract_cv(g_f, g_h, grad_eh, coef_kind, coef)


# --------------------------------------------------------------------------
# Control variates and baselines as explicit state.


def _flat_hessian(f, m):
  """``f(m)``, the gradient and the Hessian of ``f`` at ``m``, flattened."""
  shape = m.shape
  g = lambda v: _mc.scalar_cost(f, jnp.reshape(v, shape))
  v = jnp.reshape(m, -1)
  return g(v), jax.grad(g)(v), jax.hessian(g)(v)


def delta_control_variate(f: Cost, family: Any, params: PyTree
                          ) -> tuple[Cost, Callable[[PyTree], jax.Array]]:
  r"""The delta-method control variate: ``f``'s second-order Taylor polynomial.

  Around the family mean ``m = E_q[z]`` (held fixed: a constant of the
  returned functions, so ``h`` does not depend on the parameters),

  .. math::  h(z) = f(m) + \nabla f(m)^\top (z - m)
             + \tfrac12 (z - m)^\top (M \circ \nabla^2 f(m)) (z - m),

  .. math::  E_{q_\phi}[h] = f(m) + \nabla f(m)^\top d
             + \tfrac12\, d^\top (M \circ \nabla^2 f(m))\, d
             + \tfrac12 \sum_i \partial_{ii} f(m)\, \mathrm{Var}_{q_\phi}[z_i],
             \qquad d = E_{q_\phi}[z] - m,

  exact for every ``phi`` and differentiable in closed form through the
  family's ``mean`` and ``variance`` (Mohamed, Rosca, Figurnov & Mnih, JMLR
  2020, section 7.1; Paisley, Blei & Jordan, ICML 2012). ``M`` keeps the
  Hessian's diagonal and its entries between *independent* coordinates (the
  batch axes of the draw); it drops the cross terms inside one event
  (Dirichlet), whose covariance the family contract does not provide, so
  per-coordinate variances suffice. At ``phi`` itself ``d = 0`` and
  ``grad E[h] = grad f(m) . dm/dphi + 1/2 sum_i f_ii(m) dVar_i/dphi``
  (no third derivative of ``f``). For a quadratic ``f`` (no event cross
  terms) ``h = f``. Cost: one Hessian of ``f`` (``d x d`` for a draw of
  ``d`` coordinates), computed once per call.

  Used by :func:`pathwise`, :func:`score_function`,
  :func:`score_function_surrogate` and :func:`measure_valued` with
  ``control_variate="delta"``; any callable with this signature and return
  value can be passed there instead (the estimators call it with stopped
  params, so ``h`` is a fixed function of ``z``).

  Args:
    f: ``f(z) -> scalar`` for one draw ``z``, twice differentiable at the mean.
    family: a family with closed-form ``mean(params)`` and
      ``variance(params)`` (per coordinate) on a real support.
    params: ``family.Params`` (the expansion point is their mean).

  Returns:
    ``(h, expected_h)``: ``h(z) -> scalar`` and ``expected_h(params) ->
    E_{q_params}[h]``, differentiable with respect to ``params``.

  Raises:
    ValueError: the family has no closed-form mean and variance, or its
      draws are circular or on a sphere (von Mises, von Mises-Fisher: a
      circular mean is not a Taylor centre); concrete parameters whose
      variance is infinite (Student-t with ``df <= 2``). The message names
      the family. Under ``jit`` an infinite variance gives NaN.

  >>> import jax, irt_jax as irt
  >>> from irt_jax import estimators
  >>> p = irt.normal.Params(2.0, 1.0)
  >>> h, expected_h = estimators.delta_control_variate(jax.numpy.exp, irt.normal, p)
  >>> round(float(h(3.0)), 4)                  # e^2 (1 + 1 + 1/2)
  18.4726
  >>> round(float(expected_h(p)), 4)           # e^2 (1 + 1/2): E[exp z] = e^2.5 = 12.18
  11.0836
  """
  params = _check_delta(family, params)

  def moments(p):
    m, v = family.mean(p), family.variance(p)
    shape = jnp.broadcast_shapes(jnp.shape(m), jnp.shape(v))
    return jnp.broadcast_to(m, shape), jnp.broadcast_to(v, shape)

  centre, _ = moments(jax.lax.stop_gradient(params))
  centre = jax.lax.stop_gradient(centre)
  f0, g, hess = jax.tree.map(jax.lax.stop_gradient, _flat_hessian(f, centre))
  ev = getattr(family, "event_ndims", 0)
  size = int(np.prod(centre.shape[centre.ndim - ev:], dtype=np.int64)) if ev else 1
  event = np.arange(g.shape[0]) // size
  keep = (event[:, None] != event[None, :]) | np.eye(g.shape[0], dtype=bool)
  hess_kept = jnp.where(keep, hess, 0.0)
  diag = jnp.diagonal(hess)

  def quad(d):
    return f0 + g @ d + 0.5 * d @ (hess_kept @ d)

  def h(z):
    return quad(jnp.reshape(z, -1) - jnp.reshape(centre, -1))

  def expected_h(p):
    m, v = moments(p)
    return quad(jnp.reshape(m - centre, -1)) + 0.5 * diag @ jnp.reshape(v, -1)

  return h, expected_h


def _check_delta(family: Any, params: PyTree) -> PyTree:
  """The delta method's family checks; returns the prepared params."""
  name = _family.name_of(family)
  missing = [m for m in ("mean", "variance") if not callable(getattr(family, m, None))]
  if missing:
    raise ValueError(
        f"control_variate='delta': family {name!r} has no closed-form "
        f"{' and '.join(missing)} (the delta method needs E[z] and Var[z] per "
        "coordinate); use a baseline, or pass your own control_variate callable")
  params = _mc.prepare_params(family, params)
  kind = getattr(family.support(params), "kind", "interval")
  if kind in ("circular", "sphere"):
    raise ValueError(
        f"control_variate='delta': family {name!r} has {kind} draws, whose "
        "mean and variance are not those of a Taylor expansion; use a baseline "
        "or pass your own control_variate callable")
  if _mc.is_concrete(params):
    v = utils.concrete_value(family.variance(params))   # None inside a trace
    if v is not None and not np.all(np.isfinite(v)):
      raise ValueError(
          f"control_variate='delta': the variance of {name} is not finite at "
          f"these params ({v}); the delta method needs a finite variance")
  return params


class MovingAverageState(NamedTuple):
  """State of :func:`moving_average_baseline` (a pytree: keep it in a train state).

  Attributes:
    total: the exponentially weighted sum ``sum_t (1 - decay) decay^(T-t) x_t``.
    weight: ``sum_t (1 - decay) decay^(T-t) = 1 - decay^T`` (0 before any update).

  >>> from irt_jax import estimators
  >>> s = estimators.MovingAverageState(total=0.0, weight=0.0)
  >>> float(s.baseline), float(s._replace(total=0.3, weight=0.1).baseline)
  (0.0, 3.0)
  """
  total: jax.Array
  weight: jax.Array

  @property
  def baseline(self) -> jax.Array:
    """``total / weight``: the bias-corrected average (0 before any update)."""
    total, weight = jnp.asarray(self.total), jnp.asarray(self.weight)
    ok = weight > 0
    return jnp.where(ok, total / jnp.where(ok, weight, 1.0), 0.0)


class MovingAverageBaseline(NamedTuple):
  """An optax-style pair ``(init, update)``; see :func:`moving_average_baseline`.

  >>> from irt_jax import estimators
  >>> init, update = estimators.moving_average_baseline(0.9)
  >>> b, state = update(init(), 2.0)
  >>> float(b), float(update(state, 4.0)[0])    # nothing seen yet: 0; then 2
  (0.0, 2.0)
  """
  init: Callable[..., MovingAverageState]
  update: Callable[[MovingAverageState, Any], tuple[jax.Array, MovingAverageState]]


def moving_average_baseline(decay: float) -> MovingAverageBaseline:
  r"""A moving-average baseline kept as explicit state, optax style.

  .. math::  b_T = \frac{\sum_{t<T} (1-\beta)\,\beta^{T-1-t}\, \bar f_t}
                        {1 - \beta^{T}}, \qquad \beta = \text{decay},

  the exponential moving average of the past batches' mean cost ``\bar f_t``,
  with Adam's bias correction (Kingma & Ba, ICLR 2015) so that the first
  batches are not pulled towards 0; ``b = 0`` before the first update.
  ``b_T`` depends on past batches only, so it is independent of the current
  draws and the score-function estimate stays unbiased (Williams 1992;
  Mohamed et al. 2020, section 7.4).

  * ``init(shape=(), dtype=None) -> state``: a :class:`MovingAverageState` of
    zeros (``shape``: one baseline, or one per data point / output).
  * ``update(state, fz) -> (baseline, new_state)``: ``baseline`` is the
    average *before* ``fz`` (use it for the batch whose costs are ``fz``);
    ``new_state`` folds in ``fz`` (of shape ``shape``, or ``(N,) + shape``:
    averaged over the leading draw axis).

  Pass ``baseline=`` to :func:`score_function` or
  :func:`score_function_surrogate`. When ``fz`` is only known after the
  gradient (the surrogate's value *is* the batch mean of ``f``), read the
  baseline first from ``state.baseline``, then update::

      fbar, g = jax.value_and_grad(lambda p: score_function_surrogate(
          f, family, p, key, n, baseline=state.baseline))(params)
      _, state = ema.update(state, fbar)

  Both functions are pure and jit/vmap-compatible; there is no hidden state.

  Args:
    decay: ``beta`` in ``[0, 1)`` (a Python number); 0 uses the last batch.

  Returns:
    A :class:`MovingAverageBaseline` ``(init, update)``.

  Raises:
    ValueError: ``decay`` outside ``[0, 1)`` or not a number.

  >>> import jax, irt_jax as irt
  >>> from irt_jax import estimators
  >>> ema = estimators.moving_average_baseline(0.5)
  >>> state = ema.init()
  >>> for fz in ([1.0, 3.0], [4.0, 4.0]):        # batch means 2, then 4
  ...     b, state = ema.update(state, jax.numpy.array(fz))
  >>> float(b), float(state.baseline)  # (0.5*2 + 4) * 0.5 / 0.75
  (2.0, 3.333333)
  """
  if isinstance(decay, (bool, np.bool_)) or not isinstance(
      decay, (int, float, np.integer, np.floating)):
    raise ValueError(f"decay: expected a Python number in [0, 1), got {decay!r}")
  decay = float(decay)
  if not 0.0 <= decay < 1.0:
    raise ValueError(f"decay: expected a number in [0, 1), got {decay}")

  def init(shape: tuple[int, ...] = (), dtype: Any = None) -> MovingAverageState:
    zeros = jnp.zeros(shape, utils.float_dtype(dtype))
    return MovingAverageState(zeros, zeros)

  def update(state: MovingAverageState, fz: Any
             ) -> tuple[jax.Array, MovingAverageState]:
    total, weight = state
    total, weight = jnp.asarray(total), jnp.asarray(weight)
    x = jnp.asarray(fz, total.dtype)
    if x.ndim == total.ndim + 1:
      x = jnp.mean(x, axis=0)
    elif x.ndim != total.ndim:
      raise ValueError(
          f"fz: expected shape {total.shape} or (num_samples,) + "
          f"{total.shape}, got {x.shape}")
    baseline = MovingAverageState(total, weight).baseline
    new = MovingAverageState(decay * total + (1.0 - decay) * x,
                             decay * weight + (1.0 - decay))
    return baseline, new

  return MovingAverageBaseline(init, update)


# --------------------------------------------------------------------------
# Score function (REINFORCE) and the DiCE surrogate.


def _magic_box(log_q: jax.Array) -> jax.Array:
  """DiCE's ``exp(l - stop_gradient(l))``: value 1, derivative ``l' * box``."""
  return jnp.exp(log_q - jax.lax.stop_gradient(log_q))


def _draws_and_costs(f, family, params, keys):
  def one(k):
    z = jax.lax.stop_gradient(_draw(family, k, params))
    return z, _mc.scalar_cost(f, z)
  return jax.vmap(one)(keys)


def _expand(v: jax.Array, leaf: jax.Array) -> jax.Array:
  """``v`` ([N]) with singleton axes to broadcast against ``leaf`` ([N, ...])."""
  return jnp.reshape(v, v.shape + (1,) * (leaf.ndim - 1))


def _baseline(kind: str, fz: jax.Array, scores: PyTree) -> PyTree:
  """The baseline of every draw, per parameter coordinate (``fz``: [N])."""
  n = fz.shape[0]
  expand = lambda b, leaf: jnp.broadcast_to(_expand(b, leaf), leaf.shape)
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
    fe = _expand(fz, s)
    s2 = s * s
    num = jnp.sum(fe * s2, axis=0) - fe * s2
    den = jnp.sum(s2, axis=0) - s2
    ok = den > 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), 0.0)
  return jax.tree.map(optimal, scores)


def _optimal_coefficient(a: jax.Array, b: jax.Array) -> jax.Array:
  """Leave-one-out ``c_i = Cov(a, b) / Var(b)`` over the draws ``j != i``
  (``a = f s``, ``b = h s`` per coordinate, [N, ...]); 0 where Var is 0."""
  n1 = a.shape[0] - 1
  loo = lambda x: jnp.sum(x, axis=0) - x
  sa, sb = loo(a), loo(b)
  cov = loo(a * b) - sa * sb / n1
  var = loo(b * b) - sb * sb / n1
  ok = var > 0
  return jnp.where(ok, cov / jnp.where(ok, var, 1.0), 0.0)


def _check_baseline(baseline: Any, num_samples: int, allowed: tuple[str, ...]
                    ) -> tuple[str | None, jax.Array | None]:
  """``(kind, None)`` for a named baseline, ``(None, value)`` for an array."""
  if isinstance(baseline, str):
    if baseline not in allowed:
      raise ValueError(f"baseline: expected one of {allowed} or an array, "
                       f"got {baseline!r}")
    return baseline, None
  try:
    value = jnp.asarray(baseline)
  except TypeError as e:
    raise ValueError(f"baseline: expected one of {allowed} or an array, got "
                     f"{baseline!r}") from e
  if not (jnp.issubdtype(value.dtype, jnp.floating)
          or jnp.issubdtype(value.dtype, jnp.integer)):
    raise ValueError(f"baseline: expected a real number or array, got dtype "
                     f"{value.dtype}")
  if value.shape not in ((), (num_samples,)):
    raise ValueError(f"baseline: an array baseline must have shape () or "
                     f"(num_samples,) = ({num_samples},), got {value.shape}")
  return None, value


def _check_control_variate(control_variate: Any) -> Any:
  if control_variate is None or callable(control_variate):
    return control_variate
  if control_variate == "delta":
    return delta_control_variate
  raise ValueError(f"control_variate: expected None, one of {CONTROL_VARIATES} "
                   f"or a callable (f, family, params) -> (h, expected_h), got "
                   f"{control_variate!r}")


def _check_coefficient(coefficient: Any, allow_optimal: bool
                       ) -> tuple[str | None, jax.Array | None]:
  if isinstance(coefficient, str):
    if coefficient != "optimal" or not allow_optimal:
      allowed = "a number or 'optimal'" if allow_optimal else "a number"
      raise ValueError(f"cv_coefficient: expected {allowed}, got {coefficient!r}")
    return "optimal", None
  try:
    value = jnp.asarray(coefficient)
  except TypeError as e:
    raise ValueError(f"cv_coefficient: expected a number, got {coefficient!r}") from e
  if value.shape != () or not (jnp.issubdtype(value.dtype, jnp.floating)
                               or jnp.issubdtype(value.dtype, jnp.integer)):
    raise ValueError(f"cv_coefficient: expected a real scalar, got "
                     f"{coefficient!r}")
  return None, value


def _check_cv_options(control_variate: Any, cv_coefficient: Any,
                      allow_optimal: bool = True
                      ) -> tuple[Any, str | None, jax.Array | None]:
  """``(cv, coefficient kind, coefficient)``; the kind is ``None`` (a number)
  or ``"optimal"``, and ``None`` without a control variate."""
  cv = _check_control_variate(control_variate)
  coef_kind, coef = _check_coefficient(cv_coefficient, allow_optimal)
  return cv, (coef_kind if cv is not None else None), coef


def _cv_terms(cv: Callable[..., Any], f: Cost, family: Any, params: PyTree
              ) -> tuple[Cost, PyTree]:
  """``h`` and ``grad E_params[h]`` of a control variate.

  ``h`` is built at stopped params, so it is a fixed function of ``z``; the
  gradient is NaN where ``E[h]`` is not finite (e.g. traced Student-t params
  with ``df <= 2``: an infinite variance), never a finite wrong number.
  """
  h, expected_h = cv(f, family, jax.lax.stop_gradient(params))
  eh, grad_eh = jax.value_and_grad(expected_h)(params)
  ok = jnp.isfinite(eh)
  return h, jax.tree.map(lambda v: utils.mask_invalid(ok, v), grad_eh)


def _coefficient(coef_kind: str | None, coef: Any, a: jax.Array, b: jax.Array
                 ) -> jax.Array:
  """The fixed ``c``, or the leave-one-out optimal one for ``a - c b``."""
  if coef_kind == "optimal":
    return _optimal_coefficient(a, b)
  return jnp.asarray(coef, a.dtype)


def _subtract_cv(g_f: PyTree, g_h: PyTree, grad_eh: PyTree,
                 coef_kind: str | None, coef: Any) -> PyTree:
  """Per-sample ``g_f - c (g_h - grad E[h])`` (leaves ``[N, ...]``): for the
  estimators that are linear in ``f`` (pathwise, measure-valued)."""
  def one(a, b, ge):
    return a - _coefficient(coef_kind, coef, a, b) * (b - ge)
  return jax.tree.map(one, g_f, g_h, grad_eh)


def score_function(f: Cost, family: Any, params: PyTree, key: Any,
                   num_samples: int, *, baseline: Any = "none",
                   control_variate: Any = None, cv_coefficient: Any = 1.0) -> PyTree:
  r"""Score-function (REINFORCE, likelihood-ratio) per-sample gradients.

  .. math::  \nabla_\phi E_{q_\phi}[f(z)] = E\big[(f(z) - c\,h(z) - b)\,
             \nabla_\phi \log q_\phi(z)\big] + c\,\nabla_\phi E_{q_\phi}[h]

  (Williams 1992; Mohamed et al. 2020, sections 4 and 7). ``f`` need not be
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
  * an array of shape ``()`` or ``(num_samples,)``: a baseline computed
    elsewhere, e.g. by :func:`moving_average_baseline` from past batches;
    unbiased when it does not depend on the current draws.

  Control variates (``control_variate``, ``h`` above, default none):
  ``"delta"`` (:func:`delta_control_variate`: ``f``'s second-order Taylor
  polynomial at the mean, ``E[h]`` in closed form from the family's mean and
  variance), or a callable ``(f, family, params) -> (h, expected_h)`` with
  ``expected_h(params) = E_{q_params}[h]`` exactly (``h`` must not depend on
  ``params``). The coefficient ``c`` (``cv_coefficient``): a number
  (default 1), or ``"optimal"``: per parameter coordinate the
  variance-minimising ``c = Cov(f s, h s) / Var(h s)``, estimated for draw
  ``i`` from the other draws only (leave-one-out), so it stays unbiased. The
  baselines then apply to ``f - c h`` (named baselines are computed with
  draw ``i``'s own ``c``, so they stay independent of draw ``i``; an array
  baseline is subtracted as given: with the delta method ``f - h`` has mean
  near 0, so the plain baseline is rarely needed).

  Leave-one-out baselines and the ``"optimal"`` coefficient need
  ``num_samples >= 2``; they couple the draws of one call (the per-sample
  values are then slightly dependent, by ``O(1/N)``).

  Args:
    f: ``f(z) -> scalar`` for one draw ``z``.
    family: a family module (``Params``, ``sample``, ``log_prob``).
    params: ``family.Params``.
    key: a PRNG key.
    num_samples: number of draws (static).
    baseline: one of ``"none"``, ``"batch_mean"``, ``"leave_one_out"``,
      ``"optimal"``, or an array (traced under ``jit``).
    control_variate: ``None``, ``"delta"`` or a callable (see above).
    cv_coefficient: ``c``: a number (may be traced) or ``"optimal"``.

  Returns:
    Per-sample gradients: ``params``' structure, leaves ``[num_samples, ...]``.

  Raises:
    ValueError: a bad ``baseline``, ``control_variate`` or
      ``cv_coefficient`` (named), too few draws, invalid concrete params, or
      ``"delta"`` for a family without closed-form mean and variance.

  >>> import jax, irt_jax as irt
  >>> from irt_jax import estimators
  >>> p = irt.normal.Params(2.0, 1.0)
  >>> g = estimators.score_function(lambda z: z ** 2, irt.normal, p,
  ...                               jax.random.key(0), 20000, baseline="optimal")
  >>> bool(abs(g.loc.mean() - 4.0) < 0.3)
  True
  >>> g = estimators.score_function(lambda z: z ** 2, irt.normal, p, jax.random.key(0),
  ...                               100, control_variate="delta")
  >>> round(float(g.loc.std()), 9), round(float(g.loc.mean()), 9)   # h = f: exact
  (0.0, 4.0)
  """
  _mc.check_family(family, "sample", "log_prob")
  kind, value = _check_baseline(baseline, num_samples, BASELINES)
  cv, coef_kind, coef = _check_cv_options(control_variate, cv_coefficient)
  loo = kind in ("leave_one_out", "optimal") or coef_kind is not None
  num_samples = _mc.check_num_samples(num_samples, 2 if loo else 1)
  params = _mc.prepare_params(family, params)
  key = utils.check_key(key)
  _mc.validate(family, params)
  if cv is delta_control_variate:   # its errors, eagerly (concrete variance)
    _check_delta(family, params)
  return _mc.call(_score_function, (f, family, num_samples, kind, cv, coef_kind),
               params, key, value, coef)


def _score_function(f, family, num_samples, kind, cv, coef_kind, params, key,
                    value, coef):
  z, fz = _draws_and_costs(f, family, params, _mc.sample_keys(key, num_samples))
  scores = jax.vmap(lambda zi: jax.grad(
      lambda p: jnp.sum(family.log_prob(p, zi)))(params))(z)
  if kind is None:   # an array baseline, subtracted as given
    b = jnp.broadcast_to(jnp.asarray(value, fz.dtype), fz.shape)
    base_f = jax.tree.map(lambda s: _expand(b, s), scores)
    base_h = jax.tree.map(jnp.zeros_like, base_f)
  else:
    base_f = _baseline(kind, fz, scores)
  if cv is None:
    return jax.tree.map(lambda s, bb: (_expand(fz, s) - bb) * s, scores, base_f)

  h, grad_eh = _cv_terms(cv, f, family, params)
  hz = jax.vmap(h)(z)
  if kind is not None:
    base_h = _baseline(kind, hz, scores)

  def weigh(s, bf, bh, ge):
    fe, he = _expand(fz, s), _expand(hz, s)
    c = _coefficient(coef_kind, coef, fe * s, he * s)
    return (fe - c * he - (bf - c * bh)) * s + c * ge

  return jax.tree.map(weigh, scores, base_f, base_h, grad_eh)


def score_function_surrogate(f: Cost, family: Any, params: PyTree, key: Any,
                             num_samples: int, *, baseline: Any = "none",
                             control_variate: Any = None,
                             cv_coefficient: Any = 1.0) -> jax.Array:
  r"""DiCE surrogate whose derivatives of every order are score-function estimates.

  .. math::  L(\phi) = \frac1N \sum_i \Big[\boxdot(\log q_\phi(z_i))\,
             \big(f(z_i) - c\,h(z_i) - b_i\big) + b_i\Big]
             + c\,\big(E_{q_\phi}[h] - \bot(E_{q_\phi}[h]) + \bot(\bar h)\big),
             \qquad \boxdot(l) = \exp(l - \bot(l)),

  with ``z_i`` drawn once and held fixed (``\bot`` = stop-gradient, ``\bar h``
  the batch mean of ``h``). ``L`` equals the plain Monte-Carlo average of
  ``f``; without baseline or control variate ``jax.grad(L)`` is ``mean f s``
  (``s = grad log q``), and ``jax.hessian(L)`` is
  ``mean f (s s^T + grad^2 log q)``, an unbiased estimate of
  ``grad^2 E[f]`` because ``grad^2 q = q (s s^T + grad^2 log q)``. A plain
  ``mean(log q * stop_gradient(f))`` surrogate has the right gradient but
  a Hessian missing the ``s s^T`` term (Foerster et al., ICML 2018).

  A baseline ``b_i`` that does not depend on draw ``i`` keeps every order
  unbiased (``E[grad^k q / q] = 0``; the "loaded DiCE" form, Farquhar et al.
  2019): ``"none"``, ``"leave_one_out"``, ``"batch_mean"`` (biased by
  ``1/N``, see :func:`score_function`), or an array of shape ``()`` or
  ``(num_samples,)``, e.g. from :func:`moving_average_baseline` (may be
  traced). A control variate (``"delta"`` or a callable, see
  :func:`score_function`) with a fixed coefficient ``c`` keeps every order
  unbiased too, since ``E_{q_phi}[h]`` is exact as a function of ``phi``.

  Args:
    f: ``f(z) -> scalar`` for one draw ``z``.
    family: a family module (``Params``, ``sample``, ``log_prob``).
    params: ``family.Params`` (differentiate the surrogate with respect to it).
    key: a PRNG key (same draws as the other estimators).
    num_samples: number of draws (static).
    baseline: ``"none"``, ``"batch_mean"``, ``"leave_one_out"`` or an array
      (the per-coordinate ``"optimal"`` one is not a scalar surrogate: use
      :func:`score_function`).
    control_variate: ``None``, ``"delta"`` or a callable.
    cv_coefficient: ``c``, a number (may be traced).

  Returns:
    The scalar surrogate.

  Raises:
    ValueError: as :func:`score_function` (``"optimal"`` is refused here).

  >>> import jax, irt_jax as irt
  >>> from irt_jax import estimators
  >>> L = lambda m: estimators.score_function_surrogate(
  ...     lambda z: z ** 2, irt.normal, irt.normal.Params(m, 1.0),
  ...     jax.random.key(1), 50000)
  >>> bool(abs(jax.grad(jax.grad(L))(0.5) - 2.0) < 0.3)   # d2/dm2 E[z^2] = 2
  True
  >>> ema = estimators.moving_average_baseline(0.9)        # a baseline as state
  >>> b, state = ema.update(ema.init(), 1.2)
  >>> L = lambda m: estimators.score_function_surrogate(
  ...     jax.numpy.sin, irt.normal, irt.normal.Params(m, 1.0), jax.random.key(1),
  ...     100, baseline=b, control_variate="delta")
  >>> float(jax.grad(L)(0.5)) != 0.0
  True
  """
  _mc.check_family(family, "sample", "log_prob")
  kind, value = _check_baseline(baseline, num_samples,
                                ("none", "batch_mean", "leave_one_out"))
  cv, _, coef = _check_cv_options(control_variate, cv_coefficient, allow_optimal=False)
  num_samples = _mc.check_num_samples(num_samples, 2 if kind == "leave_one_out" else 1)
  params = _mc.prepare_params(family, params)   # differentiable conversion
  key = utils.check_key(key)
  _mc.validate(family, params)
  if cv is delta_control_variate:
    _check_delta(family, params)
  return _mc.call(_surrogate, (f, family, num_samples, kind, cv), params, key, value,
               coef)


def _surrogate(f, family, num_samples, kind, cv, params, key, value, coef):
  # The draws do not depend on params (their derivative is the score's job).
  fixed = jax.lax.stop_gradient(params)
  z, fz = _draws_and_costs(f, family, fixed, _mc.sample_keys(key, num_samples))
  log_q = jax.vmap(lambda zi: jnp.sum(family.log_prob(params, zi)))(z)
  out = fz
  extra = 0.0
  if cv is not None:
    h, expected_h = cv(f, family, fixed)
    hz = jax.lax.stop_gradient(jax.vmap(h)(z))
    c = jnp.asarray(coef, fz.dtype)
    eh = expected_h(params)
    out = fz - c * hz
    extra = c * (eh - jax.lax.stop_gradient(eh) + jnp.mean(hz))
    # Value and gradient NaN where E[h] is not finite (a traced invalid case).
    poison = jax.lax.stop_gradient(utils.mask_invalid(jnp.isfinite(eh), 0.0))
    extra = extra + sum(jnp.sum(v) for v in jax.tree.leaves(params)) * poison
  if kind is None:
    b = jnp.broadcast_to(jnp.asarray(value, fz.dtype), fz.shape)
  elif kind == "none":
    b = jnp.zeros_like(fz)
  elif kind == "batch_mean":
    b = jnp.broadcast_to(jnp.mean(out), fz.shape)
  else:
    b = (jnp.sum(out) - out) / (num_samples - 1)
  b = jax.lax.stop_gradient(b)
  return jnp.mean(_magic_box(log_q) * (out - b) + b) + extra


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
  out = jax.vmap(lambda j: _mc.scalar_cost(
      f, jnp.reshape(flat.at[j].set(vals[j]), z.shape)))(jnp.arange(flat.size))
  return jnp.reshape(out, z.shape)


def measure_valued(f: Cost, family: Any, params: PyTree, key: Any,
                   num_samples: int, *, wrt: str | tuple[str, ...] | None = None,
                   coupling: bool = True, control_variate: Any = None,
                   cv_coefficient: Any = 1.0) -> PyTree:
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

  * Exponential ``rate``: ``c = 1/rate``, ``q+ = q``, ``q- = Gamma(2, rate)``.
  * Weibull ``scale``: ``c = k/scale``, ``q+ = scale Gamma(2, 1)^(1/k)``,
    ``q- = q``.
  * Log-normal ``loc``, ``scale``: the normal's, mapped through ``exp``.
  * Poisson ``rate``: ``c = 1``, ``q+`` the law of ``z + 1``, ``q- = q``.
  * Bernoulli ``probs``: ``c = 1``, ``q+ = delta_1``, ``q- = delta_0``.
  * Binomial ``probs``: ``c = n``, ``q+- = 1 + Bin(n-1, p)``, ``Bin(n-1, p)``.
  * Bernoulli and binomial ``logits``: the same with ``c`` times ``p (1 - p)``.

  Each family's ``weak_derivative`` docstring derives its decomposition; a
  family offers one by the contract's ``weak_derivative`` hook and
  ``WEAK_DERIVATIVE_FIELDS`` (:mod:`irt_jax._src.family`), so this function
  has no table of families.

  Coupling (common random numbers, ``coupling=True``, the default): the
  normal loc uses one ``R`` for both arms; the normal scale uses
  ``x- = loc + scale M U`` with ``U ~ Uniform(0, 1)`` (``M U ~ N(0, 1)``);
  the gamma and exponential rates use ``x- = x+ + E/rate``, ``E ~ Exp(1)``
  (a sum of gammas); the Weibull scale ``z+ = scale (E + E')^(1/k)`` with the
  common draw's ``E``; the Poisson ``z+ = z + 1``; the binomial one
  ``Bin(n-1, p)`` draw for both arms. ``coupling=False`` draws the two arms
  independently (the Bernoulli's arms are constants: no difference). Either
  way the estimator is unbiased; coupling lowers the variance when ``f`` is
  smooth.

  A control variate ``h`` (``control_variate``: ``"delta"`` or a callable,
  as in :func:`score_function`) with coefficient ``c``: the estimator is
  linear in ``f``, so it is applied to ``f - c h`` and the exact gradient of
  ``c E[h]`` is added back,

  .. math::  c_\phi\big((f - c h)(z^+) - (f - c h)(z^-)\big)
             + c\,\nabla_\phi E_{q_\phi}[h],

  unbiased for a fixed ``h`` with ``E[h]`` in closed form (Mohamed et al.
  2020, section 7). ``c``: a number (default 1) or ``"optimal"``, per
  parameter coordinate the leave-one-out ``Cov(g_f, g_h) / Var(g_h)`` of
  the per-sample estimates of ``f`` and ``h`` (see :func:`pathwise`).

  Args:
    f: ``f(z) -> scalar`` for one draw ``z``.
    family: a family with the ``weak_derivative`` hook (the list above).
    params: ``family.Params``.
    key: a PRNG key.
    num_samples: number of draws (static).
    wrt: the parameter names to estimate (default: all of them). Leaves not
      asked for are NaN (not estimated), never a plausible zero.
    coupling: couple the positive and negative parts (see above).
    control_variate: ``None``, ``"delta"`` or a callable ``(f, family,
      params) -> (h, expected_h)`` (see :func:`delta_control_variate`).
    cv_coefficient: ``c``: a number (may be traced) or ``"optimal"``
      (``num_samples >= 2``).

  Returns:
    Per-sample gradients: ``params``' structure, leaves ``[num_samples, ...]``.

  Raises:
    ValueError: a parameter (asked for, or by default) has no measure-valued
      form here, e.g. the gamma concentration; the message names it and lists
      those available. A family without the hook: the message lists the
      families that have one. A bad ``control_variate`` or
      ``cv_coefficient`` (named), or ``"delta"`` for a family without
      closed-form mean and variance.

  >>> import jax, irt_jax as irt
  >>> from irt_jax import estimators
  >>> p = irt.gamma.Params(3.0, 2.0)
  >>> g = estimators.measure_valued(lambda z: z, irt.gamma, p, jax.random.key(0),
  ...                               20000, wrt="rate")
  >>> bool(abs(g.rate.mean() + 3.0 / 4.0) < 0.05)   # d/drate E[z] = -a/rate^2
  True
  >>> g = estimators.measure_valued(lambda z: z ** 2, irt.normal, irt.normal.Params(
  ...     2.0, 1.0), jax.random.key(0), 10, control_variate="delta")   # h = f: exact
  >>> round(float(g.loc.std()), 9), round(float(g.loc.mean()), 9), round(float(g.scale.mean()), 9)
  (0.0, 4.0, 2.0)
  """
  _mc.check_family(family, "sample")
  cv, coef_kind, coef = _check_cv_options(control_variate, cv_coefficient)
  num_samples = _mc.check_num_samples(num_samples, 2 if coef_kind else 1)
  name = _family.name_of(family)
  if not hasattr(family, "weak_derivative"):
    raise ValueError(
        f"measure_valued: no weak derivative is implemented for family "
        f"{name!r} (available: {_offering('WEAK_DERIVATIVE_FIELDS')}); use "
        "pathwise or score_function")
  params = _mc.prepare_params(family, params)
  fields = _set_fields(params)
  known = tuple(k for k in family.WEAK_DERIVATIVE_FIELDS if k in fields)
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
  _mc.validate(family, params)
  if cv is delta_control_variate:   # its errors, eagerly (concrete variance)
    _check_delta(family, params)
  return _mc.call(_measure_valued,
                  (f, family, num_samples, wrt, bool(coupling), cv, coef_kind),
                  params, key, coef)


def _set_fields(params: PyTree) -> tuple[str, ...]:
  """The fields of a ``Params`` that are set (``probs`` or ``logits`` may be
  ``None``: the discrete families take either)."""
  return tuple(n for n, v in zip(params._fields, params) if v is not None)


def _offering(attr: str) -> str:
  """The public families that have ``attr``, for messages (derived, not listed
  by hand): ``irt_jax.normal (loc, scale), irt_jax.gamma (rate), ...``."""
  import irt_jax  # pylint: disable=import-outside-toplevel  # the package imports us
  found = []
  for name in irt_jax.__all__:
    value = getattr(getattr(irt_jax, name, None), attr, None)
    if value is None:
      continue
    extra = f" ({', '.join(value)})" if isinstance(value, tuple) else ""
    found.append(f"irt_jax.{name}{extra}")
  return ", ".join(found)


def _measure_valued(f, family, num_samples, wrt, coupling, cv, coef_kind, params,
                    key, coef):
  costs = (f,)
  if cv is not None:
    h, grad_eh = _cv_terms(cv, f, family, params)
    costs = (f, h)

  def one(k):   # one draw and its arms, shared by f and h
    z, parts = family.weak_derivative(params, k, wrt, coupling)
    return tuple(_weak_estimate(cost, params, z, parts) for cost in costs)

  out = jax.vmap(one)(_mc.sample_keys(key, num_samples))
  if cv is None:
    return out[0]
  return _subtract_cv(out[0], out[1], grad_eh, coef_kind, coef)


def _weak_estimate(f, params, z, parts):
  """``c (f(z+) - f(z-))`` per field in ``parts``, NaN in the others."""
  f_z = jnp.broadcast_to(_mc.scalar_cost(f, z), z.shape)
  arm = lambda v: f_z if v is None else _replace_each(f, z, v)
  g = {n: c * (arm(plus) - arm(minus)) for n, (c, plus, minus) in parts.items()}
  return type(params)(*[
      None if v is None
      else _unbroadcast(g[n], jnp.shape(v)) if n in g
      else jnp.full(jnp.shape(v), jnp.nan, v.dtype)
      for n, v in zip(params._fields, params)])


# --------------------------------------------------------------------------
# GO gradient (discrete families).


def go_gradient(f: Cost, family: Any, params: PyTree, key: Any,
                num_samples: int) -> PyTree:
  r"""GO (General and One-sample) per-sample gradients for discrete draws.

  For an integer variable with mass ``q_phi`` and CDF ``F_phi(k) = sum_{j <=
  k} q_phi(j)``, summation by parts (``q(k) = F(k) - F(k-1)``, ``F(-1) = 0``,
  ``dF(k)/dphi -> 0`` at the top of the support) gives

  .. math::  
abla_\phi E_{q_\phi}[f(z)]
             = \sum_k f(k)\,ig(
abla F(k) - 
abla F(k-1)ig)
             = \sum_k 
abla F(k)\,ig(f(k) - f(k+1)ig)
             = E_{q_\phi}\Big[G_\phi(z)\,ig(f(z+1) - f(z)ig)\Big],
             \qquad G_\phi(z) = -rac{
abla_\phi F_\phi(z)}{q_\phi(z)}

  (Cong, Zhao, Bai & Carin, "GO gradient for expectation-based objectives",
  ICLR 2019, theorem 1): the continuous implicit rule ``dz/dphi = -(dF/dphi)
  / q`` with ``f'(z)`` replaced by the forward difference. For independent
  coordinates (a batch of parameters) the sum runs over the coordinates
  ``j``: ``G_j (f(z + e_j) - f(z))``, one extra evaluation of ``f`` per
  coordinate; where ``z_j`` is at the top of a finite support (binomial
  ``n``, Bernoulli 1) ``G_j = 0`` and ``f`` is not used there.

  ``G`` comes from the family's ``go_velocity(params, z, params_dot)`` hook
  (linear in ``params_dot``); the per-sample gradient is its transpose at the
  differences (one ``jax.vjp``, which also sums broadcast parameters). In
  closed form: Poisson ``G_rate = 1`` (so the estimate is ``f(z+1) -
  f(z)``); negative binomial ``G_p = (r + z)/(1 - p)``, ``G_logits = p (r +
  z)``, ``G_r`` through the beta family's implicit rule; binomial ``G_p = (n
  - z)/(1 - p)``; Bernoulli ``n = 1``. ``f`` need not be differentiable;
  it must accept integer-valued floats one step beyond a draw.

  Args:
    f: ``f(z) -> scalar`` for one draw ``z``.
    family: a discrete family with ``go_velocity`` (``irt_jax.poisson``,
      ``irt_jax.negative_binomial``, ``irt_jax.binomial``,
      ``irt_jax.bernoulli``).
    params: ``family.Params``.
    key: a PRNG key (draw ``i`` as in the other estimators: same draws as
      :func:`score_function` with the same key).
    num_samples: number of draws (static).

  Returns:
    Per-sample gradients: ``params``' structure, leaves ``[num_samples, ...]``
    (a ``None`` field, the unused one of ``probs`` / ``logits``, stays ``None``;
    the binomial ``total_count``, a count, gets 0).

  Raises:
    ValueError: ``family`` is not discrete or has no GO rule (the message
      lists the families that have one), or invalid concrete ``params``.

  >>> import jax, irt_jax as irt
  >>> from irt_jax import estimators
  >>> p = irt.poisson.Params(3.0)        # f(z + 1) - f(z) = 2 z + 1 for f = z^2
  >>> g = estimators.go_gradient(lambda z: z ** 2, irt.poisson, p, jax.random.key(0), 20000)
  >>> bool(abs(g.rate.mean() - 7.0) < 0.1)   # d/drate (rate + rate^2) = 1 + 2 rate
  True
  """
  _mc.check_family(family, "sample")
  name = _family.name_of(family)
  if not (getattr(family, "discrete", False) and hasattr(family, "go_velocity")):
    what = "is not discrete" if not getattr(family, "discrete", False) else (
        "has no GO rule (go_velocity)")
    raise ValueError(
        f"go_gradient: family {name!r} {what} (available: "
        f"{_offering('go_velocity')}); for a continuous family use pathwise, "
        "which is GO's continuous case")
  num_samples = _mc.check_num_samples(num_samples)
  params = _mc.prepare_params(family, params)
  key = utils.check_key(key)
  _mc.validate(family, params)
  return _mc.call(_go_gradient, (f, family, num_samples), params, key)


def _go_gradient(f, family, num_samples, params, key):
  def one(k):
    z = jax.lax.stop_gradient(_draw(family, k, params))
    fz = _mc.scalar_cost(f, z)
    high = jnp.broadcast_to(jnp.asarray(family.support(params).high, z.dtype), z.shape)
    top = z >= high
    step = _replace_each(f, z, jnp.where(top, z, z + 1.0)) - fz
    step = jnp.where(top, 0.0, step)
    zeros = jax.tree.map(jnp.zeros_like, params)
    out, transpose = jax.vjp(lambda t: family.go_velocity(params, z, t), zeros)
    return transpose(jnp.broadcast_to(step, out.shape).astype(out.dtype))[0]

  return jax.vmap(one)(_mc.sample_keys(key, num_samples))


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
  _mc.check_family(family, "sample")
  flag = getattr(family, "REPARAMETERIZED", None)
  if flag is not None:
    return "pathwise" if flag else "score_function"
  params = _mc.prepare_params(family, params)
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

