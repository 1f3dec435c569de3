r"""Mixtures over a component family, with implicit reparameterization gradients.

``irt.mixture.of(component)`` is a mixture of ``K`` members of one 1-D family
(normal, gamma, beta, student_t, ...) with mixing logits; with
``event_ndims=1`` each component is an independent product over the last axis
``D`` (a "diagonal" component), as in a mixture of diagonal normals.

A draw picks ``k ~ Categorical(softmax(logits))`` and then ``z ~ q_k``; neither
step is differentiable. The gradient comes from the distributional transform
of Graves (2016, "Stochastic backpropagation through mixture density
distributions", arXiv:1607.05690), a standardization function triangular in
``z``:

.. math::  T_d(z) = \sum_k w_k(z_{<d})\, F_k(z_d), \qquad
           w_k(z_{<d}) \propto w_k \prod_{j<d} q_k(z_j),

where ``w = softmax(logits)``, ``F_k`` and ``q_k`` are the component's CDF and
density and ``w_k(z_<d)`` the posterior responsibilities given the first
coordinates (``D = 1`` for a univariate mixture: ``T = sum_k w_k F_k``). The
implicit rule of Figurnov, Mohamed & Mnih (2018) is then

.. math::  \dot z = -\Big(\frac{\partial T}{\partial z}\Big)^{-1}
           \frac{\partial T}{\partial \phi}\,\dot\phi ,

``dT/dz`` lower triangular with the conditional densities
``q(z_d | z_<d) = sum_k w_k(z_<d) q_k(z_d)`` on its diagonal: one triangular
solve per draw, never a dense Jacobian of the batch. For independent
components it is a forward substitution with running sums of the component
scores, ``O(K D)`` per draw (``Mixture._forward_substitution``); full-
covariance normals use ``D`` forward-mode columns and a triangular solve. The gradient reaches the
logits and every component parameter, and second order is correct (the rule is
an ordinary JAX function of ``(params, z)``, differentiated again by JAX).

Numerics: ``T_d`` is carried in log space, as ``log T_d = logsumexp(log w_k +
log F_k)`` where ``T_d < 1/2`` and ``log(1 - T_d) = logsumexp(log w_k + log
S_k)`` (survival functions) above, and every row of the system is divided by
its diagonal in log space (``exp(log T - log q)``), so draws far in either tail
keep their relative precision.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from irt_jax._src import family as _family
from irt_jax._src import implicit as _implicit
from irt_jax._src import utils


class Params(NamedTuple):
  """Parameters of a mixture (a pytree).

  Attributes:
    logits: mixing logits, shape ``batch + (K,)``; finite. The weights are
      ``softmax(logits)``.
    components: the component family's ``Params``; the mixture axis ``K`` is
      the last batch axis of its (broadcast) shape: ``batch + (K,)`` for a
      univariate mixture, ``batch + (K, D)`` with ``event_ndims=1``.

  >>> import irt_jax as irt
  >>> from irt_jax import mixture
  >>> p = mixture.Params([0.0, 1.0], irt.normal.Params([-1.0, 2.0], 1.0))
  >>> p.logits
  [0.0, 1.0]
  """
  logits: ArrayLike
  components: Any


# The mixture axis K is reduced by unrolled elementwise ops up to this size.
# XLA:CPU (jaxlib 0.10.2) hands reductions over a leading or middle axis to
# its YNNPACK fusion, measured 5-10x slower here than the unrolled sum, and
# inside the vmapped transposed scan of the rule it returned wrong float32
# values beyond ~1e4 draws (correct with
# XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=). Not chosen by backend:
# harmless on GPU/TPU too (the same values; the adds fuse into one kernel).
_UNROLL_K = 32


def _slices(v, axis):
  return [jax.lax.index_in_dim(v, k, axis, keepdims=False) for k in range(v.shape[axis])]


def _sum_k(v, axis):
  """``sum`` over the mixture axis (unrolled for ``K <= _UNROLL_K``)."""
  if v.shape[axis] > _UNROLL_K:
    return jnp.sum(v, axis=axis)
  return functools.reduce(jnp.add, _slices(v, axis))


def _logsumexp_k(v, axis):
  """``logsumexp`` over the mixture axis (unrolled for ``K <= _UNROLL_K``);
  the same values and derivatives as ``jax.nn.logsumexp``."""
  if v.shape[axis] > _UNROLL_K:
    return jax.nn.logsumexp(v, axis=axis)
  parts = _slices(v, axis)
  m = jax.lax.stop_gradient(functools.reduce(jnp.maximum, parts))
  m = jnp.where(jnp.isfinite(m), m, 0.0)
  return jnp.log(functools.reduce(jnp.add, [jnp.exp(x - m) for x in parts])) + m


def _responsibilities(log_w, log_q, k_axis, d_axis):
  """``log w_k(z_<d)``: the log weights plus an exclusive prefix sum of the
  component log densities over ``D``, normalized over ``K``. (An associative
  scan: XLA:CPU's reduce-window for cumsum is slow on the event-major layout;
  on every backend, harmless on GPU/TPU, where a scan is their own cumsum.)"""
  zero = jnp.zeros_like(jax.lax.slice_in_dim(log_q, 0, 1, axis=d_axis))
  if log_q.shape[d_axis] > 1:
    head = jax.lax.slice_in_dim(log_q, 0, log_q.shape[d_axis] - 1, axis=d_axis)
    zero = jnp.concatenate(
        [zero, jax.lax.associative_scan(jnp.add, head, axis=d_axis)], axis=d_axis)
  log_r = log_w + zero
  return log_r - jnp.expand_dims(_logsumexp_k(log_r, k_axis), k_axis)


def _any_in_batch(index):
  """Under vmap the batch takes the guarded branch if any member needs it."""
  return jnp.max(index, axis=0)


def _transform_of_terms(log_r, log_f, log_s, log_q, axis=-2):
  """``(G, log q, lower, log T, log(1 - T))`` from :func:`log_terms`
  (the mixture axis at ``axis``); ``G = log T`` where ``lower`` (``T < 1/2``)
  else ``log(1 - T)``."""
  lse = lambda v: _logsumexp_k(log_r + v, axis)
  log_t, log_1mt, log_dens = lse(log_f), lse(log_s), lse(log_q)
  lower = log_t < log_1mt
  return jnp.where(lower, log_t, log_1mt), log_dens, lower, log_t, log_1mt


def log_terms(conditional_terms, p: Params, z):
  """``(log w_k(z_<d), log F_k, log S_k, log q_k)``, each ``[..., K, D]``, from
  a family's ``conditional_terms(p, z) -> (log q_k, log F_k, log S_k)`` of
  ``z_d`` given ``z_<d`` under each component."""
  log_q, log_f, log_s = conditional_terms(p, z)
  log_w = jax.nn.log_softmax(p.logits, axis=-1)[..., :, None]
  log_w, log_q, log_f, log_s = utils.lift_all(log_w, log_q, log_f, log_s)  # rank-explicit
  return _responsibilities(log_w, log_q, -2, -1), log_f, log_s, log_q


def graves_velocity(conditional_terms, event_ndims: int, p: Params, z, p_dot: Params):
  r"""The implicit rule through Graves' transform, by a triangular solve.

  ``z_dot = -(dT/dz)^-1 (dT/dphi . phi_dot)``, rows scaled in log space: with
  ``T = exp(G)`` (lower side) or ``1 - exp(G)`` (upper side), ``dT_d = s_d
  T'_d dG_d`` and the row ``d`` divided by the diagonal ``q(z_d | z_<d)`` is
  ``a_d dG_d`` with ``a_d = s_d exp(G_d - log q_d)``: a unit lower triangular
  system, ``D`` forward-mode columns per draw (``D = 1``: no solve).

  Args:
    conditional_terms: the family's ``(p, z) -> (log q_k, log F_k, log S_k)``.
    event_ndims: 0 (univariate, ``z`` without an event axis) or 1.
    p, z, p_dot: parameters, draws, parameter tangents.
  """
  zz = z if event_ndims else z[..., None]
  g_of = lambda pp, x: _transform_of_terms(*log_terms(conditional_terms, pp, x))[0]
  g, log_dens, lower = _transform_of_terms(*log_terms(conditional_terms, p, zz))[:3]
  sign = jnp.where(lower, 1.0, -1.0).astype(zz.dtype)
  finite = jnp.isfinite(log_dens) & jnp.isfinite(g)
  ratio = jnp.exp(jnp.where(finite, g - log_dens, 0.0))
  a = jnp.where(finite, sign * ratio, 0.0)
  _, g_dot = jax.jvp(lambda pp: g_of(pp, zz), (p,), (p_dot,))
  rhs = -a * jnp.broadcast_to(g_dot, zz.shape)
  if not event_ndims or zz.shape[-1] == 1:
    return rhs if event_ndims else rhs[..., 0]
  size = zz.shape[-1]
  along = lambda e: jax.jvp(lambda x: g_of(p, x), (zz,),
                            (jnp.broadcast_to(e, zz.shape),))[1]
  cols = jax.vmap(along)(jnp.eye(size, dtype=zz.dtype))  # [D(j), ..., D(i)]
  jac = a[..., :, None] * jnp.moveaxis(cols, 0, -1)  # [..., i, j]
  jac = jnp.where(jnp.tril(jnp.ones((size, size), bool), -1), jac, 0.0)
  z_dot = jax.scipy.linalg.solve_triangular(
      jac, rhs[..., None], lower=True, unit_diagonal=True)
  return z_dot[..., 0]


class Mixture:
  r"""A mixture family over a component family (see :func:`of`).

  A hashable, stateless object (usable as a static argument under ``jit``)
  with the module-like interface of the irt_jax families: ``Params``,
  ``sample``, ``log_prob``, ``mean``, ``variance``, ``SUPPORT`` and
  ``event_ndims``; univariate mixtures also have ``cdf``, ``log_cdf`` and
  ``log_sf``.

  >>> import irt_jax as irt
  >>> from irt_jax import mixture
  >>> mixture.Mixture(irt.normal) == mixture.of(irt.normal)
  True
  """

  # Why one class of ~450 lines: a family object whose methods are the
  # contract's members with their examples (half the lines), the component
  # terms with their guarded branch, and the O(K D) forward substitution,
  # which needs the component family. Graves' rule itself is the module
  # function graves_velocity, shared with the full-covariance family.
  Params = Params

  def __init__(self, component: Any, event_ndims: int = 0):
    _family.check(component, univariate=True, what="component")
    if event_ndims not in (0, 1):
      raise ValueError(f"event_ndims: expected 0 or 1, got {event_ndims!r}")
    self.component = component
    self.event_ndims = int(event_ndims)
    if hasattr(component, "SUPPORT"):  # the component's fixed interval
      self.SUPPORT = component.SUPPORT
    suffix = ", event_ndims=1" if self.event_ndims else ""
    self.__name__ = f"irt_jax.mixture.of({_family.name_of(component)}{suffix})"

  def __repr__(self) -> str:
    return self.__name__

  def _key(self):
    return (Mixture, self.component, self.event_ndims)

  def __eq__(self, other) -> bool:
    return isinstance(other, Mixture) and self._key() == other._key()

  def __hash__(self) -> int:
    return hash(self._key())

  # --------------------------------------------------------------- checks ---

  def _prepare(self, params: Params, dtype=None):
    """Validates and casts; returns ``(params, dtype, batch_shape, event)``."""
    if not isinstance(params, Params):
      raise TypeError(f"params: expected irt_jax.mixture.Params, got "
                      f"{type(params).__name__}")
    comps = params.components
    _family.check_params(self.component, comps, "components")
    dtype = utils.float_dtype(dtype, params.logits, *jax.tree.leaves(comps))
    logits = utils.as_float("logits", params.logits, dtype)
    if logits.ndim < 1:
      raise ValueError(
          f"logits: expected shape batch + (K,) with the mixture axis last, got "
          f"shape {logits.shape}")
    utils.check_finite("logits", logits)
    try:  # The component family checks its own parameters (by name).
      comps = self.component.validate(comps, dtype)
    except (TypeError, ValueError) as e:
      raise type(e)(f"components: {e}") from e
    shapes = {f: jnp.shape(v) for f, v in _family.named_leaves(comps).items()}
    try:
      cshape = tuple(jnp.broadcast_shapes(*shapes.values()))
    except ValueError as e:
      raise ValueError(f"components: shapes do not broadcast: {shapes}") from e
    k = logits.shape[-1]
    axes = 1 + self.event_ndims  # K (and D) trail the components' batch shape
    where = "batch + (K,)" if not self.event_ndims else "batch + (K, D)"
    if len(cshape) < axes or cshape[-axes] != k:
      raise ValueError(
          f"components: expected shape {where} with the mixture axis K = {k} "
          f"(from logits{list(logits.shape)}) last among batch axes, got "
          f"broadcast shape {cshape} ({shapes})")
    try:
      batch = tuple(jnp.broadcast_shapes(logits.shape[:-1], cshape[:-axes]))
    except ValueError as e:
      raise ValueError(
          f"logits{list(logits.shape)} and components {cshape}: batch shapes "
          "do not broadcast") from e
    event = cshape[-1:] if self.event_ndims else ()
    return Params(logits, comps), dtype, batch, event

  # ----------------------------------------------------------- transform ---

  def _as_matrix(self, p: Params):
    """Components with the axes ``[..., K, D]`` (``D = 1`` if univariate)."""
    if self.event_ndims:
      return p.components
    return jax.tree.map(lambda v: jnp.asarray(v)[..., None], p.components)

  def _safe_point(self, comps):
    """A point inside every component's bulk (its mean, else the support's
    middle), broadcast like ``comps``; no derivative."""
    comps = jax.lax.stop_gradient(comps)
    shape = jnp.broadcast_shapes(*[jnp.shape(v) for v in jax.tree.leaves(comps)])
    dtype = jax.tree.leaves(comps)[0].dtype
    fallback = jnp.broadcast_to(
        _family.interior(self.component.support(comps), dtype), shape)
    if not hasattr(self.component, "mean"):
      return fallback
    m = jnp.broadcast_to(self.component.mean(comps), shape)
    return jnp.where(jnp.isfinite(m), m, fallback)

  def _component_terms(self, comps, zk):
    return _family.log_terms(self.component, comps, zk)

  def _conditional_terms(self, p: Params, z):
    """``(log q_k, log F_k, log S_k)`` of ``z_d`` given ``z_<d``, ``[..., K, D]``.

    ``z`` has the event axis ``D`` last. Where a component cannot represent
    a term at ``z`` (its log CDF underflows to ``-inf`` far in a tail, or ``z``
    is outside its support) the term keeps its value but gets no derivative,
    and the component is differentiated at a safe point instead, so the
    discarded branch cannot leak ``0 * inf = NaN`` into the rule (the term's
    weight there is 0 anyway).
    """
    return self._terms_at(self._as_matrix(p), z[..., None, :])

  def _terms_at(self, comps, zk):
    """:meth:`_conditional_terms` for components and points already aligned
    (any layout: every operation here is elementwise)."""
    comps, zk = utils.lift_all(comps, zk)  # rank-explicit
    raw = jax.lax.stop_gradient(self._component_terms(comps, zk))
    bad = ~functools.reduce(jnp.logical_and, [jnp.isfinite(t) for t in raw])

    def guarded(comps, zk):
      safe_z = jnp.where(bad, self._safe_point(comps), zk)
      terms = self._component_terms(comps, safe_z)
      return tuple(jnp.where(bad, jnp.where(jnp.isnan(r), -jnp.inf, r), t)
                   for r, t in zip(raw, terms))

    # Nearly always every term is finite: then the terms are differentiated
    # where they are (no second evaluation at a safe point, no selects;
    # measured 47 -> 28 ms for the benchmark's sample + gradient). One
    # branch for the whole batch, also under vmap.
    index = utils.unbatched_index(jnp.any(bad).astype(jnp.int32), _any_in_batch)
    return jax.lax.switch(index, [self._component_terms, guarded], comps, zk)

  # Components are independent products (log q_k(z_d) depends on z_d only),
  # which the forward substitution relies on; False forces the dense solve.
  _factorized = True

  def _velocity(self, p: Params, z, p_dot: Params):
    """The implicit rule: :meth:`_forward_substitution` for independent
    products over ``D > 1``, else :func:`graves_velocity`."""
    if (self._factorized and self.event_ndims and z.shape[-1] > 1
        and p.logits.shape[-1] <= _UNROLL_K):
      return self._forward_substitution(p, z, p_dot)
    return graves_velocity(self._conditional_terms, self.event_ndims, p, z, p_dot)

  def _event_major(self, p: Params, batch):
    """``(log w [K, 1, N], comps [K, D, N])`` with the ``N`` draws last
    (leaves without batch axes keep a unit axis there instead)."""
    n = math.prod(batch)

    def move(v, event_axes):
      v = jnp.asarray(v)
      if v.ndim <= event_axes:
        return jnp.reshape(v, v.shape + (1,))
      v = jnp.broadcast_to(v, batch + v.shape[v.ndim - event_axes:])
      return jnp.moveaxis(jnp.reshape(v, (n,) + v.shape[len(batch):]), 0, -1)

    log_w = move(jax.nn.log_softmax(p.logits, axis=-1), 1)[:, None]
    comps = jax.tree.map(lambda v: move(v, 2), self._as_matrix(p))
    return log_w, comps

  def _forward_substitution(self, p: Params, z, p_dot: Params):
    """The implicit rule for independent components in ``O(K D)`` per draw.

    Only the responsibilities ``r_ik = w_k(z_<i)`` depend on earlier
    coordinates, so ``dT_i/dz_j = sum_k r_ik (F_ik - T_i) u_kj`` (``j < i``)
    with the component scores ``u_kj = d log q_k(z_j) / dz_j``. Each row of
    the unit triangular system (divided by ``q_i`` as in :meth:`_velocity`)
    needs ``c_ik = r_ik (F_ik - T_i) / q_i`` (``r_ik (S_i - S_ik) / q_i`` on
    the upper side, each product formed in log space) and the running sums
    ``P_ki = sum_(j<i) u_kj z_dot_j``: ``z_dot_i = rhs_i - sum_k c_ik P_ki``,
    one pass over ``D`` (a scan), no Jacobian columns, no dense solve.

    The component terms and their tangents are computed once and kept in
    memory (``utils.materialize``: XLA would otherwise re-run them inside
    every fusion that reads them); the rest is cheap arithmetic on them.
    Everything runs with the draws on the last axis (``[K, D, N]``): XLA:CPU
    runs the component's transcendental functions up to 10x slower over a
    short minor axis such as ``[N, K, D=10]`` (on every backend: a long minor
    axis also suits GPU/TPU vector units).
    """
    batch, size = z.shape[:-1], z.shape[-1]
    z_t = utils.materialize(jnp.reshape(z, (-1, size)).T)     # [D, N]

    def terms_of(pp):
      log_w, comps = self._event_major(pp, batch)
      return (log_w, self._terms_at(comps, z_t)), comps      # [K, D, N]

    (log_w, terms), (log_w_dot, terms_dot), comps = utils.materialize(
        jax.jvp(terms_of, (p,), (p_dot,), has_aux=True))

    def transform(log_w, terms):
      log_q, log_f, log_s = terms
      log_r = _responsibilities(log_w, log_q, 0, 1)
      g, *rest = _transform_of_terms(log_r, log_f, log_s, log_q, axis=0)
      return g, (log_r, *rest)

    g, g_dot, (log_r, log_dens, lower, log_t, log_1mt) = jax.jvp(
        transform, (log_w, terms), (log_w_dot, terms_dot), has_aux=True)
    log_q, log_f, log_s = terms
    finite = jnp.isfinite(log_dens) & jnp.isfinite(g)
    a = jnp.where(finite, jnp.where(lower, 1.0, -1.0) * jnp.exp(
        jnp.where(finite, g - log_dens, 0.0)), 0.0)
    rhs = -a * g_dot                                          # [D, N]
    # Scores at the points _terms_at differentiates (a safe point where a
    # term is not finite, there masked to 0: its responsibility is 0).
    bad = ~(jnp.isfinite(log_q) & jnp.isfinite(log_f) & jnp.isfinite(log_s))
    safe_z = jnp.where(bad, self._safe_point(comps), z_t)
    _, score = jax.jvp(lambda x: self.component.log_prob(comps, x), (safe_z,),
                       (jnp.ones_like(safe_z),))
    score = jnp.where(bad, 0.0, score)
    # sum_k c_ik = 0, so any reference score u_ref_j (the same for every k)
    # can be subtracted from u_kj without changing dT_i/dz_j. Without it the
    # rounding of that zero sum multiplies the common part of the scores,
    # which is huge for draws near a pole of the density (gamma draws near 0
    # in float32 gave O(1) errors in the transposed rule).
    score = score - jnp.expand_dims(_sum_k(jnp.exp(log_r) * score, 0), 0)
    per_k = lambda v: jnp.expand_dims(v, 0)   # [D, N] -> [1, D, N], rank-explicit
    part = lambda v: jnp.exp(log_r + v - per_k(log_dens))
    c = jnp.where(per_k(lower), part(log_f) - part(per_k(log_t)),
                  part(per_k(log_1mt)) - part(log_s))
    c = jnp.where(per_k(finite) & jnp.isfinite(c), c, 0.0)

    # The K running sums are a tuple (their updates and transposes are
    # elementwise; see _UNROLL_K for why not a [K, N] array).
    rows = lambda v: jnp.moveaxis(jnp.broadcast_to(v, log_q.shape), 1, 0)

    def step(prefix, row):
      c_i, score_i, rhs_i = row
      z_dot_i = rhs_i - functools.reduce(jnp.add, [c * pk for c, pk in zip(c_i, prefix)])
      return tuple(pk + u * z_dot_i for pk, u in zip(prefix, score_i)), z_dot_i

    init = tuple(jnp.zeros_like(z_t[0]) for _ in range(log_q.shape[0]))
    _, z_dot = jax.lax.scan(step, init, (rows(c), rows(score), rhs))
    return jnp.reshape(z_dot.T, z.shape)

  # ------------------------------------------------------------- sampling ---

  def _raw_sample(self, key, p: Params, shape, dtype):
    key_k, key_z = jax.random.split(key)
    p = jax.lax.stop_gradient(p)
    batch = shape[:len(shape) - self.event_ndims]
    idx = jax.random.categorical(key_k, p.logits, axis=-1, shape=batch)
    comps = self._as_matrix(p)
    size = shape[-1] if self.event_ndims else 1
    k = p.logits.shape[-1]
    pick = lambda v: jnp.take_along_axis(
        jnp.broadcast_to(v, batch + (k, size)), idx[..., None, None], axis=-2
    )[..., 0, :]
    chosen = jax.tree.map(pick, comps)
    if not self.event_ndims:
      chosen = jax.tree.map(lambda v: v[..., 0], chosen)
    z = self.component.sample(key_z, chosen, shape, dtype)
    valid = jnp.all(jnp.isfinite(p.logits), axis=-1)  # (a component's own
    if self.event_ndims:                                 # sampler masks its draws)
      valid = valid[..., None]
    return utils.mask_invalid(valid, z)

  def sample(self, key: ArrayLike, params: Params, shape=None, dtype=None, *,
             mode: str = "vjp") -> jax.Array:
    r"""Draws from the mixture with implicit gradients (Graves, 2016).

    Args:
      key: a ``jax.random.key`` or legacy ``jax.random.PRNGKey``.
      params: :class:`Params`.
      shape: output batch shape (the params' batch shape must broadcast to
        it); default their batch shape. With ``event_ndims=1`` the event axis
        ``D`` is appended.
      dtype: floating dtype; default the parameters'.
      mode: ``"vjp"`` (``jax.custom_vjp``) or ``"jvp"`` (``jax.custom_jvp``:
        ``jax.jvp``, ``jax.hessian``). Same rule.

    Returns:
      Draws of shape ``shape`` (+ ``(D,)``), differentiable in the logits and
      in every component parameter; NaN where a traced parameter is invalid.

    >>> import jax, irt_jax as irt
    >>> from irt_jax import mixture
    >>> mix = mixture.of(irt.normal)
    >>> key = jax.random.key(0)
    >>> def mean_z(logits):
    ...   p = mixture.Params(logits, irt.normal.Params([-2.0, 2.0], 1.0))
    ...   return mix.sample(key, p, (4000,)).mean()
    >>> g = jax.grad(mean_z)(jax.numpy.zeros(2))   # exact: [-1, 1]
    >>> bool(abs(g[0] + 1) < 0.15 and abs(g[1] - 1) < 0.15)
    True
    """
    p, dtype, batch, event = self._prepare(params, dtype)
    shape = utils.resolve_shape(shape, batch) + event
    return _implicit.draw_with_rule(self._raw_sample, self._velocity, key, p,
                                    shape, dtype, mode)

  # ------------------------------------------------------------- density ---

  def _value(self, params, z):
    p, dtype, _, event = self._prepare(params)
    z = jnp.asarray(z, jnp.result_type(dtype, z))
    if self.event_ndims and (z.ndim < 1 or z.shape[-1:] != event):
      raise ValueError(f"value: expected a last axis of size D = {event[0]}, got "
                       f"shape {z.shape}")
    return p, z

  def log_prob(self, params: Params, z: ArrayLike) -> jax.Array:
    r"""``log sum_k w_k q_k(z)`` (``q_k`` a product over ``D`` if multivariate).

    >>> import irt_jax as irt
    >>> from irt_jax import mixture
    >>> p = mixture.Params([0.0, 0.0], irt.normal.Params([0.0, 0.0], 1.0))
    >>> round(float(mixture.of(irt.normal).log_prob(p, 0.0)), 6)
    -0.918939
    """
    p, z = self._value(params, z)
    log_w = jax.nn.log_softmax(p.logits, axis=-1)
    if self.event_ndims:
      comps, zk = utils.lift_all(p.components, z[..., None, :])  # rank-explicit
      log_q = jnp.sum(self.component.log_prob(comps, zk), -1)
    else:
      log_q = self.component.log_prob(*utils.lift_all(p.components, z[..., None]))
    log_w, log_q = utils.lift_all(log_w, log_q)
    return jax.nn.logsumexp(log_w + log_q, axis=-1)

  def _univariate(self, what):
    if self.event_ndims:
      raise ValueError(f"{what}: defined for univariate mixtures only "
                       "(event_ndims=0)")

  def _log_side(self, params, z, upper):
    p, z = self._value(params, z)
    log_w = jax.nn.log_softmax(p.logits, axis=-1)
    fn = self.component.log_sf if upper else self.component.log_cdf
    log_w, log_c = utils.lift_all(
        log_w, fn(*utils.lift_all(p.components, z[..., None])))  # rank-explicit
    return jax.nn.logsumexp(log_w + log_c, axis=-1)

  def log_cdf(self, params: Params, z: ArrayLike) -> jax.Array:
    r"""``log sum_k w_k F_k(z)`` by log-sum-exp (accurate in the lower tail).

    >>> import irt_jax as irt
    >>> from irt_jax import mixture
    >>> p = mixture.Params([0.0, 0.0], irt.normal.Params([-1.0, 1.0], 1.0))
    >>> round(float(mixture.of(irt.normal).log_cdf(p, 0.0)), 6)   # log(1/2)
    -0.693147
    """
    self._univariate("log_cdf")
    return self._log_side(params, z, upper=False)

  def log_sf(self, params: Params, z: ArrayLike) -> jax.Array:
    r"""``log sum_k w_k S_k(z)``, ``S_k = 1 - F_k`` (accurate in the upper tail).

    >>> import irt_jax as irt
    >>> from irt_jax import mixture
    >>> p = mixture.Params([0.0, 0.0], irt.normal.Params([-1.0, 1.0], 1.0))
    >>> round(float(mixture.of(irt.normal).log_sf(p, 0.0)), 6)
    -0.693147
    """
    self._univariate("log_sf")
    return self._log_side(params, z, upper=True)

  def cdf(self, params: Params, z: ArrayLike) -> jax.Array:
    r"""``F(z) = sum_k w_k F_k(z)``; differentiable in ``z`` and all params.

    >>> import irt_jax as irt
    >>> from irt_jax import mixture
    >>> p = mixture.Params([0.0, 0.0], irt.normal.Params([-1.0, 1.0], 1.0))
    >>> round(float(mixture.of(irt.normal).cdf(p, 1.0)), 6)  # (Phi(2) + 1/2) / 2
    0.738625
    """
    self._univariate("cdf")
    lo = self._log_side(params, z, upper=False)
    hi = self._log_side(params, z, upper=True)
    return jnp.where(lo < hi, jnp.exp(lo), -jnp.expm1(hi))

  # ------------------------------------------------------------- moments ---

  def mean(self, params: Params) -> jax.Array:
    r"""``sum_k w_k E_k[z]`` (per coordinate if multivariate).

    >>> import irt_jax as irt
    >>> from irt_jax import mixture
    >>> p = mixture.Params([0.0, 0.0], irt.normal.Params([-1.0, 3.0], 1.0))
    >>> float(mixture.of(irt.normal).mean(p))
    1.0
    """
    p, _, _, _ = self._prepare(params)
    w = jax.nn.softmax(p.logits, axis=-1)
    m = self.component.mean(p.components)
    if self.event_ndims:
      return jnp.sum(w[..., None] * m, axis=-2)
    return jnp.sum(w * m, axis=-1)

  def variance(self, params: Params) -> jax.Array:
    r"""``sum_k w_k (Var_k + E_k^2) - (sum_k w_k E_k)^2`` (per coordinate).

    >>> import irt_jax as irt
    >>> from irt_jax import mixture
    >>> p = mixture.Params([0.0, 0.0], irt.normal.Params([-1.0, 3.0], 1.0))
    >>> float(mixture.of(irt.normal).variance(p))   # 1 + 4
    5.0
    """
    p, _, _, _ = self._prepare(params)
    w = jax.nn.softmax(p.logits, axis=-1)
    m = self.component.mean(p.components)
    v = self.component.variance(p.components)
    if self.event_ndims:
      w = w[..., None]
    mu = jnp.sum(w * m, axis=-1 - self.event_ndims, keepdims=True)
    out = jnp.sum(w * (v + (m - mu) ** 2), axis=-1 - self.event_ndims)
    return out

  # ------------------------------------------------------------ contract ---

  def validate(self, params: Params, dtype=None) -> Params:
    """Checks ``params`` (logits, shapes, the component family's own check)
    and returns them as floating arrays.

    >>> import irt_jax as irt
    >>> from irt_jax import mixture
    >>> mixture.of(irt.normal).validate(mixture.Params([0.0, 0.0], irt.normal.Params(0.0, [1.0, -1.0])))
    Traceback (most recent call last):
    ...
    ValueError: components: scale must be positive and finite, got -1.0
    """
    return self._prepare(params, dtype)[0]

  def is_valid(self, params: Params) -> jax.Array:
    """``True`` where the logits are finite and every component is valid.

    >>> import irt_jax as irt
    >>> from irt_jax import mixture
    >>> p = mixture.Params([0.0, 0.0], irt.gamma.Params([1.0, -1.0]))
    >>> mixture.of(irt.gamma).is_valid(p).tolist()
    False
    """
    p = _family.as_arrays(params)
    ok = self.component.is_valid(p.components)
    k_axes = tuple(range(-1 - self.event_ndims, 0))   # K (and D)
    ok = jnp.all(ok, axis=k_axes) if ok.ndim >= len(k_axes) else jnp.all(ok)
    return jnp.all(jnp.isfinite(p.logits), axis=-1) & ok

  def support(self, params: Params) -> _family.Support:
    """The components' supports joined over the mixture axis (an interval
    from the lowest lower end to the highest upper end).

    >>> import irt_jax as irt
    >>> from irt_jax import mixture, truncated
    >>> tn = truncated.of(irt.normal)
    >>> comps = truncated.Params(irt.normal.Params(0.0, 1.0), [0.0, 1.0], [2.0, 3.0])
    >>> s = mixture.of(tn).support(mixture.Params([0.0, 0.0], comps))
    >>> float(s.low), float(s.high)
    (0.0, 3.0)
    """
    p, dtype, batch, event = self._prepare(params)
    sup = self.component.support(p.components)
    if sup.kind != "interval":
      return sup
    k_axis = -1 - self.event_ndims
    cshape = batch + (p.logits.shape[-1],) + event
    join = lambda v, fn: fn(jnp.broadcast_to(jnp.asarray(v, dtype), cshape), axis=k_axis)
    return _family.interval(join(sup.low, jnp.min), join(sup.high, jnp.max))


def of(component: Any, event_ndims: int = 0) -> Mixture:
  r"""The mixture family over ``component`` (MixtureSameFamily-like).

  Args:
    component: a univariate irt_jax family with ``Params``, ``sample``,
      ``log_prob``, ``log_cdf``, ``log_sf`` (and ``mean`` / ``variance`` for
      the moments), e.g. ``irt.normal``, ``irt.gamma``, ``irt.beta``,
      ``irt.student_t``.
    event_ndims: 0 for a univariate mixture (components' parameters of shape
      ``batch + (K,)``); 1 for a mixture of independent products over the last
      axis (parameters ``batch + (K, D)``, draws ``batch + (D,)``).

  Returns:
    A hashable :class:`Mixture` family object, usable with
    :class:`irt_jax.numpyro.Distribution`.

  Gradients: the implicit rule through Graves' (2016) distributional transform
  ``T_d = sum_k w_k(z_<d) F_k(z_d)`` (see the module docstring).

  >>> import jax, irt_jax as irt
  >>> from irt_jax import mixture
  >>> mix = mixture.of(irt.normal, event_ndims=1)
  >>> mix
  irt_jax.mixture.of(irt_jax.normal, event_ndims=1)
  >>> p = mixture.Params([0.0, 1.0], irt.normal.Params([[0.0, 1.0], [2.0, 3.0]], 1.0))
  >>> mix.sample(jax.random.key(0), p, (5,)).shape
  (5, 2)
  >>> mixture.of(irt.normal) is mixture.of(irt.normal)   # one object, one jit cache
  True
  """
  return _of(component, event_ndims)


@functools.lru_cache(maxsize=None)
def _of(component, event_ndims) -> Mixture:
  # The sampler's caches key on bound methods, which compare their object by
  # identity: a new object per call would retrace every eager call.
  return Mixture(component, event_ndims)
