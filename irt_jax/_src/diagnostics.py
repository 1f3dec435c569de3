r"""Diagnostics: how noisy is a gradient estimator, and is a gradient right?

* :func:`variance_study`: mean, variance and standard error of several
  estimators (:mod:`irt_jax.estimators`) over sample sizes and repetitions,
  vmapped over repetitions and optionally sharded over devices, with an
  optional log-log plot.
* :func:`transport_residual`: the continuity (transport) equation
  ``d q/d phi + div(q v) = 0`` for a gradient field ``v = dz/dphi``, at points,
  and the antisymmetric part (curl) of ``dv/dz``.
* :func:`gradient_check`: per-sample implicit gradients of any sampler against
  ``-(dF/dphi)/q`` with ``dF/dphi`` by central finite differences of its CDF.

References:
  M. Jankowiak, F. Obermeyer, "Pathwise derivatives beyond the
  reparameterization trick", ICML 2018 (the transport equation).
  M. Figurnov, S. Mohamed, A. Mnih, "Implicit reparameterization gradients",
  NeurIPS 2018.
  S. Mohamed, M. Rosca, M. Figurnov, A. Mnih, "Monte Carlo gradient
  estimation in machine learning", JMLR 2020.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import operator
import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from irt_jax._src import utils

PyTree = Any


# --------------------------------------------------------------------------
# Variance study.


class VarianceStudy(NamedTuple):
  """Result of :func:`variance_study` (NumPy arrays on the host).

  Each of ``mean``, ``variance``, ``stderr``, ``per_sample_variance`` maps an
  estimator name to a pytree shaped like ``params`` whose leaves have a
  leading axis over ``sizes``.

  Attributes:
    sizes: the sample sizes ``N``.
    repetitions: the number of independent repetitions ``R`` per size that
      were summarised (``stop - start`` with ``repetition_range``).
    mean: mean over repetitions of the size-``N`` estimate.
    variance: variance (``ddof=1``) over repetitions of the size-``N``
      estimate, i.e. of the estimator itself.
    stderr: ``sqrt(variance / R)``, the standard error of ``mean``.
    per_sample_variance: within-batch variance of the per-sample gradients
      (``ddof=1``), averaged over repetitions (NaN for ``N = 1``).
    figure: the matplotlib figure when ``plot`` was asked, else ``None``.

  >>> VarianceStudy._fields[:3]
  ('sizes', 'repetitions', 'mean')
  """
  sizes: np.ndarray
  repetitions: int
  mean: dict
  variance: dict
  stderr: dict
  per_sample_variance: dict
  figure: Any = None


def _resolve_devices(devices):
  if devices is None:
    return None
  if isinstance(devices, str):
    if devices != "all":
      raise ValueError(f"devices: expected None, 'all', an int or a list of "
                       f"devices, got {devices!r}")
    devices = jax.devices()
  elif isinstance(devices, (int, np.integer)):
    if not 1 <= devices <= jax.device_count():
      raise ValueError(f"devices: asked for {devices}, have "
                       f"{jax.device_count()} device(s)")
    devices = jax.devices()[:int(devices)]
  devices = list(devices)
  return devices if len(devices) > 1 else None


def variance_study(estimators: Mapping[str, Callable[..., PyTree]],
                   f: Callable[[jax.Array], jax.Array], family: Any,
                   params: PyTree, key: Any, sizes: Sequence[int],
                   repetitions: int, *, plot: bool | str | os.PathLike = False,
                   devices: Any = None,
                   repetition_range: tuple[int, int] | None = None) -> VarianceStudy:
  r"""Variance of gradient estimators against the number of samples.

  For every estimator ``est`` (signature of :mod:`irt_jax.estimators`) and
  size ``N``, runs ``R = repetitions`` independent calls
  ``est(f, family, params, key_r, N)``, vmapped over the keys ``key_r`` in one
  compiled program, and summarises the estimate ``g_N = mean of N per-sample
  gradients``: its mean, its variance ``Var g_N`` (for independent per-sample
  gradients ``Var g_N = sigma^2 / N``, a slope of -1 on the log-log plot) and
  the standard error ``sqrt(Var g_N / R)`` of the mean. Every estimator gets
  the same keys (paired comparisons); sizes get independent keys.

  With ``devices`` (``"all"``, a count, or a list; more than one device), the
  repetitions are sharded over a 1-D mesh with ``jax.sharding.NamedSharding``
  (``R`` must be divisible by the number of devices); the numbers are those of
  the unsharded run.

  With ``repetition_range=(start, stop)``, only repetitions ``start, ...,
  stop - 1`` of the ``R``-repetition study are run, with the same keys as in
  the full study (e.g. one process's share of the keys in a multi-process
  run); the result summarises those ``stop - start`` repetitions. Shares
  combine into the full study by the pooled formulas: mean
  ``sum_i R_i m_i / R``, variance
  ``(sum_i (R_i - 1) v_i + R_i (m_i - m)^2) / (R - 1)``.

  Args:
    estimators: ``{name: estimator}``; bind options with
      ``functools.partial``.
    f: ``f(z) -> scalar`` for one draw.
    family: a family module.
    params: ``family.Params``.
    key: a PRNG key.
    sizes: sample sizes ``N`` (ints >= 1).
    repetitions: ``R >= 2``.
    plot: ``False``; ``True`` (figure returned in the result); or a path to
      save the figure to. matplotlib is imported only then.
    devices: ``None`` (default: no sharding), ``"all"``, an int or devices.
    repetition_range: ``None`` (default: all ``R``) or ``(start, stop)``
      with ``0 <= start``, ``start + 2 <= stop <= R``.

  Returns:
    :class:`VarianceStudy`.

  >>> import functools, jax, irt_jax as irt
  >>> from irt_jax import diagnostics, estimators
  >>> study = diagnostics.variance_study(
  ...     {"pathwise": estimators.pathwise, "score": estimators.score_function},
  ...     lambda z: z ** 2, irt.normal, irt.normal.Params(2.0, 1.0),
  ...     jax.random.key(0), sizes=(100,), repetitions=50)
  >>> v = study.variance
  >>> bool((v["score"].loc > 10 * v["pathwise"].loc).all())
  True

  Two halves of the keys give the full study's mean:

  >>> run = lambda **kw: diagnostics.variance_study(
  ...     {"pathwise": estimators.pathwise}, lambda z: z ** 2, irt.normal,
  ...     irt.normal.Params(2.0, 1.0), jax.random.key(0), (10,), 8, **kw)
  >>> a, b = run(repetition_range=(0, 4)), run(repetition_range=(4, 8))
  >>> a.repetitions, bool(abs(a.mean["pathwise"].loc + b.mean["pathwise"].loc
  ...                         - 2 * run().mean["pathwise"].loc).max() < 1e-5)
  (4, True)
  """
  if not isinstance(estimators, Mapping) or not estimators:
    raise ValueError("estimators: expected a non-empty dict name -> estimator")
  for name, est in estimators.items():
    if not callable(est):
      raise TypeError(f"estimators[{name!r}]: expected a callable, got {est!r}")
  sizes = tuple(sizes)
  if not sizes or any(isinstance(n, bool) or not isinstance(n, (int, np.integer))
                      or n < 1 for n in sizes):
    raise ValueError(f"sizes: expected positive ints, got {sizes!r}")
  sizes = tuple(int(n) for n in sizes)
  if isinstance(repetitions, bool) or not isinstance(repetitions, (int, np.integer)) \
      or repetitions < 2:
    raise ValueError(f"repetitions: expected an int >= 2, got {repetitions!r}")
  repetitions = int(repetitions)
  if repetition_range is None:
    start, stop = 0, repetitions
  else:
    try:
      start, stop = (int(operator.index(i)) for i in repetition_range)
    except (TypeError, ValueError):
      raise ValueError(f"repetition_range: expected (start, stop) ints, got "
                       f"{repetition_range!r}") from None
    if not 0 <= start <= stop - 2 or stop > repetitions:
      raise ValueError(f"repetition_range: expected 0 <= start, start + 2 <= stop "
                       f"<= repetitions = {repetitions}, got {repetition_range!r}")
  count = stop - start
  key = utils.check_key(key)
  devices = _resolve_devices(devices)
  mesh = None
  if devices is not None:
    if count % len(devices):
      raise ValueError(
          f"repetitions: {count} is not divisible by the {len(devices)} "
          "devices it is sharded over")
    mesh = jax.sharding.Mesh(np.array(devices), ("repetitions",))

  def summary(est, n):
    def one(k, p):
      g = est(f, family, p, k, n)
      mean = jax.tree.map(lambda x: jnp.mean(x, axis=0), g)
      var = jax.tree.map(
          lambda x: (jnp.var(x, axis=0, ddof=1) if n > 1
                     else jnp.full(x.shape[1:], jnp.nan, x.dtype)), g)
      return mean, var
    return jax.jit(jax.vmap(one, in_axes=(0, None)))

  out = {k: {} for k in ("mean", "variance", "stderr", "per_sample_variance")}
  for name, est in estimators.items():
    per_size = []
    for i, n in enumerate(sizes):
      keys = jax.random.split(jax.random.fold_in(key, i), repetitions)[start:stop]
      p = params
      if mesh is not None:
        keys = jax.device_put(keys, jax.sharding.NamedSharding(
            mesh, jax.sharding.PartitionSpec("repetitions")))
        p = jax.device_put(params, jax.sharding.NamedSharding(
            mesh, jax.sharding.PartitionSpec()))
      means, within = summary(est, n)(keys, p)
      means = jax.tree.map(lambda m: np.asarray(m, np.float64), means)
      per_size.append((
          jax.tree.map(lambda m: np.mean(m, 0), means),
          jax.tree.map(lambda m: np.var(m, 0, ddof=1), means),
          jax.tree.map(lambda w: np.mean(np.asarray(w, np.float64), 0), within)))
    for j, field in enumerate(("mean", "variance", "per_sample_variance")):
      out[field][name] = jax.tree.map(lambda *xs: np.stack(xs),
                                      *[row[j] for row in per_size])
    out["stderr"][name] = jax.tree.map(lambda v: np.sqrt(v / count),
                                       out["variance"][name])
  figure = None
  if plot is not False and plot is not None:
    figure = _plot(sizes, count, out["variance"], params, plot)
  return VarianceStudy(np.asarray(sizes), count, out["mean"],
                       out["variance"], out["stderr"],
                       out["per_sample_variance"], figure)


def _plot(sizes, repetitions, variance, params, where):
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel
  paths = [jax.tree_util.keystr(p).lstrip(".") or "params"
           for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
  fig = Figure(figsize=(4.5 * len(paths), 3.8))
  axes = fig.subplots(1, len(paths), squeeze=False)[0]
  n = np.asarray(sizes, float)
  for j, (ax, path) in enumerate(zip(axes, paths)):
    for name, tree in variance.items():
      v = jax.tree.leaves(tree)[j]
      total = v.reshape(v.shape[0], -1).sum(axis=1)  # summed over coordinates
      rel = np.sqrt(2.0 / (repetitions - 1))          # normal-theory s.e. of a variance
      ax.errorbar(n, total, yerr=rel * total, marker="o", ms=3, capsize=2,
                  label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of samples N")
    ax.set_ylabel("variance of the estimate")
    ax.set_title(f"d/d {path}")
    ax.legend(fontsize=7)
  fig.tight_layout()
  if where is not True:
    fig.savefig(os.fspath(where), dpi=100)
  return fig


# --------------------------------------------------------------------------
# Transport (continuity) equation.


class TransportCheck(NamedTuple):
  """Result of :func:`transport_residual`, one entry per point.

  Attributes:
    residual: ``d log q/dphi + div v + v . grad_z log q`` (0 for a valid
      gradient field).
    curl: antisymmetric part ``(dv/dz - dv/dz^T) / 2`` (shape
      ``batch + (D, D)``; zeros of the batch shape in 1-D).
    d_log_q: ``d log q/dphi`` at fixed ``z`` (a natural scale for the residual).
    divergence: ``div v``.
    v_dot_grad: ``v . grad_z log q``.

  >>> TransportCheck._fields[:2]
  ('residual', 'curl')
  """
  residual: jax.Array
  curl: jax.Array
  d_log_q: jax.Array
  divergence: jax.Array
  v_dot_grad: jax.Array


def transport_residual(log_prob: Callable[[PyTree, jax.Array], jax.Array],
                       velocity_field: Callable[[PyTree, jax.Array, PyTree], jax.Array],
                       params: PyTree, z: jax.typing.ArrayLike, *,
                       direction: PyTree | None = None,
                       event_ndims: int = 0) -> TransportCheck:
  r"""Residual of the continuity equation for a gradient field ``v = dz/dphi``.

  If draws ``z ~ q_phi`` move with velocity ``v(z)`` as ``phi`` moves (any
  reparameterization gradient), the density is transported:

  .. math::  \partial_\phi q + \nabla\cdot(q v) = 0 \iff
             \partial_\phi \log q + \nabla\cdot v + v\cdot\nabla_z\log q = 0

  (Jankowiak & Obermeyer 2018). In 1-D the only solution is the implicit
  gradient ``-(dF/dphi)/q``; in more dimensions solutions differ by
  divergence-free fluxes, seen in the antisymmetric part of ``dv/dz`` (the
  generalised curl), returned too. ``dv/dz`` comes from ``jax.jacfwd``, the
  other derivatives from ``jax.jvp`` / ``jax.grad``; all evaluated at the
  given points (vmapped).

  Args:
    log_prob: ``log_prob(params, x) -> scalar`` for one point ``x`` (shape
      ``()`` or ``(D,)``).
    velocity_field: ``velocity_field(params, x, params_dot) -> x_dot`` (shape
      of ``x``), linear in ``params_dot``: the irt_jax velocity convention;
      ``irt_jax.velocity_from_cdf(cdf)`` returns one for a 1-D CDF.
    params: the parameters (a pytree).
    z: points, shape ``batch + event`` (event of ``event_ndims`` axes).
    direction: the parameter tangent ``phi_dot`` (pytree like ``params``);
      optional when ``params`` holds a single number.
    event_ndims: 0 (1-D, every element a point) or 1 (last axis an event).

  Returns:
    :class:`TransportCheck` (arrays of the batch shape).

  Example, the exponential distribution's rate (``dz/drate = -z/rate``) and a
  wrong field:

  >>> import jax.numpy as jnp
  >>> from irt_jax import diagnostics
  >>> log_q = lambda rate, x: jnp.log(rate) - rate * x
  >>> right = lambda rate, x, rate_dot: -x / rate * rate_dot
  >>> wrong = lambda rate, x, rate_dot: -x * rate_dot
  >>> x = jnp.array([0.1, 1.0, 3.0])
  >>> float(jnp.abs(diagnostics.transport_residual(log_q, right, 2.0, x).residual).max())
  0.0
  >>> bool(jnp.abs(diagnostics.transport_residual(log_q, wrong, 2.0, x).residual).min() > 0.1)
  True
  """
  if event_ndims not in (0, 1):
    raise ValueError(f"event_ndims: expected 0 or 1, got {event_ndims!r}")
  leaves = jax.tree.leaves(params)
  dtype = utils.float_dtype(None, *leaves, z)
  params = jax.tree.map(lambda v: utils.as_float("params", v, dtype), params)
  z = utils.as_float("z", z, dtype)
  if z.ndim < event_ndims:
    raise ValueError(f"z: expected at least {event_ndims} axis, got shape {z.shape}")
  if direction is None:
    if sum(np.size(v) for v in jax.tree.leaves(params)) != 1:
      raise ValueError(
          "direction: required when params has more than one number (the "
          "parameter tangent phi_dot along which the equation is checked)")
    direction = jax.tree.map(jnp.ones_like, params)
  else:
    if jax.tree.structure(direction) != jax.tree.structure(params):
      raise ValueError("direction: must have the structure of params, got "
                       f"{jax.tree.structure(direction)} vs "
                       f"{jax.tree.structure(params)}")
    direction = jax.tree.map(lambda d, v: jnp.broadcast_to(
        utils.as_float("direction", d, dtype), jnp.shape(v)), direction, params)
  static = (log_prob, velocity_field, event_ndims)
  try:
    hash(static)
  except TypeError:  # unhashable callables: run traced op by op
    return _transport(*static, params, z, direction)
  return _transport_jit(*static, params, z, direction)


def _transport(log_prob, velocity_field, event_ndims, params, z, direction):
  event = z.shape[z.ndim - event_ndims:]
  batch = z.shape[:z.ndim - event_ndims]
  points = jnp.reshape(z, (-1,) + event)

  def lp(p, x):
    out = log_prob(p, x)
    if jnp.shape(out) != ():
      raise ValueError(f"log_prob: must return a scalar for one point of shape "
                       f"{event}, got shape {jnp.shape(out)}")
    return out

  def vel(x):
    v = velocity_field(params, x, direction)
    if jnp.shape(v) != event:
      raise ValueError(f"velocity_field: must return the point's shape {event}, "
                       f"got {jnp.shape(v)}")
    return v

  def at(x):
    _, d_log_q = jax.jvp(lambda p: lp(p, x), (params,), (direction,))
    grad = jax.grad(lambda y: lp(params, y))(x)
    v = vel(x)
    if event_ndims == 0:
      _, div = jax.jvp(vel, (x,), (jnp.ones_like(x),))
      curl = jnp.zeros((), x.dtype)
      vg = v * grad
    else:
      jac = jax.jacfwd(vel)(x)          # jac[i, j] = dv_i / dx_j
      div = jnp.trace(jac)
      curl = 0.5 * (jac - jac.T)
      vg = jnp.dot(v, grad)
    return TransportCheck(d_log_q + div + vg, curl, d_log_q, div, vg)

  out = jax.vmap(at)(points)
  return jax.tree.map(lambda a: jnp.reshape(a, batch + a.shape[1:]), out)


_transport_jit = jax.jit(_transport, static_argnums=(0, 1, 2))


# --------------------------------------------------------------------------
# Gradient check of a user's sampler.


class GradientCheck(NamedTuple):
  """Result of :func:`gradient_check`.

  Attributes:
    max_rel_error: the largest relative error over draws and parameters.
    parameter: the parameter (path in ``params``) where it happens.
    index: the draw index where it happens.
    z: that draw.
    autodiff: the sampler's gradient ``dz/dphi`` there.
    reference: ``-(dF/dphi)/q`` there (finite differences of the CDF).
    rel_error: per-draw relative errors, a pytree like ``params`` with
      leaves of shape ``[num_samples]``.

  >>> GradientCheck._fields[0]
  'max_rel_error'
  """
  max_rel_error: float
  parameter: str
  index: int
  z: float
  autodiff: float
  reference: float
  rel_error: PyTree


def gradient_check(sampler: Callable[..., jax.Array],
                   cdf: Callable[[PyTree, jax.Array], jax.Array],
                   params: PyTree, key: Any, num_samples: int, *,
                   sf: Callable[[PyTree, jax.Array], jax.Array] | None = None,
                   rel_step: float | None = None,
                   floor: float = 1e-3) -> GradientCheck:
  r"""Per-sample gradients of a 1-D sampler against its CDF's implicit gradient.

  The reference is the implicit reparameterization gradient (Figurnov et al.
  2018) with the parameter derivative by central finite differences and the
  density by JAX:

  .. math::  \frac{dz}{d\phi} \approx -\frac{F(z;\phi+h) - F(z;\phi-h)}
             {2h\;\partial F(z;\phi)/\partial z}.

  It needs only the CDF to be right (not its parameter derivative), so it
  checks a hand-written sampler, a custom velocity, or a CDF whose
  ``dF/dphi`` JAX computes wrongly. Each scalar parameter is broadcast to
  one copy per draw, so one reverse pass gives every per-sample gradient
  (the sampler must be elementwise, as 1-D samplers are).

  Relative error: ``|autodiff - reference| / max(|reference|, floor *
  median|reference|)`` per parameter (the floor keeps a gradient that
  crosses 0 from dominating). The finite-difference step is
  ``rel_step * max(|phi|, 1)`` with ``rel_step = eps^(1/3)`` by default
  (``6e-6`` in float64, ``5e-3`` in float32: run checks in float64). Near
  ``F = 1`` pass ``sf`` (the survival function) to avoid cancellation.

  Args:
    sampler: ``sampler(key, params, shape) -> z`` with gradients (e.g. from
      ``irt_jax.implicit`` or a family's ``sample``).
    cdf: ``cdf(params, z)``, elementwise in ``z``; need only be correct.
    params: scalar parameters (a pytree of numbers).
    key: a PRNG key.
    num_samples: number of draws.
    sf: optional survival function, used where ``F > 1/2``.
    rel_step: relative finite-difference step.
    floor: relative floor of the error's denominator (see above).

  Returns:
    :class:`GradientCheck`.

  >>> import jax, jax.numpy as jnp, irt_jax as irt
  >>> from irt_jax import diagnostics
  >>> def sampler(key, p, shape, dtype=None):   # Weibull(scale lam, shape k)
  ...   lam, k = p
  ...   return lam * jax.random.exponential(key, shape, jnp.result_type(lam)) ** (1 / k)
  >>> cdf = lambda p, z: -jnp.expm1(-(z / p[0]) ** p[1])
  >>> weibull = irt.implicit(sampler, cdf)
  >>> check = diagnostics.gradient_check(weibull, cdf, (2.0, 1.5), jax.random.key(0), 500)
  >>> bool(check.max_rel_error < 1e-2)
  True
  """
  if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) \
      or num_samples < 1:
    raise ValueError(f"num_samples: expected a positive int, got {num_samples!r}")
  num_samples = int(num_samples)
  key = utils.check_key(key)
  flat, treedef = jax.tree_util.tree_flatten_with_path(params)
  if not flat:
    raise ValueError("params: no parameters to check")
  names = [jax.tree_util.keystr(path).lstrip(".") or "params" for path, _ in flat]
  dtype = utils.float_dtype(None, *[v for _, v in flat])
  values = [utils.as_float(n, v, dtype) for n, (_, v) in zip(names, flat)]
  for n, v in zip(names, values):
    if v.ndim:
      raise ValueError(f"{n}: gradient_check takes scalar parameters (one "
                       f"distribution), got shape {v.shape}")
  if rel_step is None:
    rel_step = float(np.finfo(dtype).eps) ** (1 / 3)
  shape = (num_samples,)
  wide = jax.tree.unflatten(treedef, [jnp.full(shape, v) for v in values])
  z, pull = jax.vjp(lambda p: sampler(key, p, shape), wide)
  if jnp.shape(z) != shape:
    raise ValueError(f"sampler: expected draws of shape {shape}, got {jnp.shape(z)}")
  (auto,) = pull(jnp.ones_like(z))
  auto = jax.tree.leaves(auto)
  _, density = jax.jvp(lambda y: cdf(wide, y), (z,), (jnp.ones_like(z),))
  upper = cdf(wide, z) > 0.5 if sf is not None else jnp.zeros(shape, bool)
  errors, refs = [], []
  for i, v in enumerate(values):
    h = rel_step * max(abs(float(v)), 1.0)

    def shifted(delta, i=i):
      vs = [jnp.full(shape, w + delta) if j == i else jnp.full(shape, w)
            for j, w in enumerate(values)]
      return jax.tree.unflatten(treedef, vs)

    d_cdf = (cdf(shifted(h), z) - cdf(shifted(-h), z)) / (2 * h)
    if sf is not None:
      d_sf = (sf(shifted(h), z) - sf(shifted(-h), z)) / (2 * h)
      d_cdf = jnp.where(upper, -d_sf, d_cdf)
    ref = np.asarray(-d_cdf / density, np.float64)
    got = np.asarray(auto[i], np.float64)
    scale = max(floor * float(np.median(np.abs(ref))), float(np.finfo(dtype).tiny))
    err = np.abs(got - ref) / np.maximum(np.abs(ref), scale)
    err = np.where(np.isfinite(got) & np.isfinite(ref), err, np.inf)
    errors.append(err)
    refs.append(ref)
  worst = [float(np.max(e)) for e in errors]
  i = int(np.argmax(worst))
  j = int(np.argmax(errors[i]))
  return GradientCheck(worst[i], names[i], j, float(np.asarray(z)[j]),
                       float(np.asarray(auto[i])[j]), float(refs[i][j]),
                       jax.tree.unflatten(treedef, errors))
