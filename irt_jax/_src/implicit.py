r"""The one rule machinery: a raw sampler + a standardization function.

Implicit reparameterization (Figurnov, Mohamed & Mnih, NeurIPS 2018): if a draw
``z`` of ``q_phi`` satisfies ``F(z; phi) = u`` for a standardization function
``F`` (for a 1-D family, its CDF) and ``u`` does not depend on ``phi``, then
differentiating that identity gives

.. math::  \frac{dz}{d\phi} = -\frac{\partial F / \partial \phi}{\partial F / \partial z}
           = -\frac{\partial F(z;\phi)/\partial\phi}{q_\phi(z)},

with no inverse of ``F``. Every family in irt_jax goes through
:func:`implicit_draw` below; none registers its own custom derivative.

The rule is a *velocity*: the linear map ``phi_dot -> z_dot`` at ``(phi, z)``.
The same velocity function serves

* ``mode="vjp"`` (default): a ``jax.custom_vjp`` whose backward pass is the
  transpose of the velocity (``jax.linear_transpose``), for ``jax.grad``,
  ``jax.vjp``, ``jax.jacrev`` and reverse-over-reverse;
* ``mode="jvp"``: a ``jax.custom_jvp`` with the velocity as its tangent rule,
  for ``jax.jvp``, ``jax.jacfwd``, ``jax.hessian`` (and reverse mode too, as JAX
  transposes the linear rule itself).

Second order. Both rules evaluate the velocity at the sample ``z`` *returned by
the sampler itself* (a recursive call), so when the rule is differentiated again
``z`` still moves with ``phi`` by the same rule. Saving a stop-gradient sample
instead would drop the ``dv/dz * dz/dphi`` term and return a wrong Hessian.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from irt_jax._src import family as _family
from irt_jax._src import utils

PyTree = Any
# sampler(key, params, shape, dtype) -> draws; no gradient needed.
RawSampler = Callable[[jax.Array, PyTree, tuple[int, ...], Any], jax.Array]
# cdf(params, z) -> F(z; params), elementwise in z (params broadcast against z).
StandardizationFn = Callable[[PyTree, jax.Array], jax.Array]
# velocity(params, z, params_dot) -> z_dot, linear in params_dot.
Velocity = Callable[[PyTree, jax.Array, PyTree], jax.Array]

MODES = ("vjp", "jvp")


def velocity_from_cdf(cdf: StandardizationFn) -> Velocity:
  r"""The implicit velocity ``z_dot = -(dF/dphi . phi_dot) / (dF/dz)``.

  ``cdf`` must be elementwise in ``z`` (a factorized standardization function)
  and differentiable in both arguments; both partial derivatives are taken with
  ``jax.jvp``, so the cost is two evaluations of ``cdf``'s linearization.

  Args:
    cdf: ``cdf(params, z)``, the standardization function.

  Returns:
    ``velocity(params, z, params_dot) -> z_dot``.

  >>> import jax.numpy as jnp, irt_jax as irt
  >>> exp_cdf = lambda rate, z: -jnp.expm1(-rate * z)   # Exponential(rate)
  >>> v = irt.velocity_from_cdf(exp_cdf)
  >>> float(v(2.0, 0.5, 1.0))   # dz/drate = -z / rate
  -0.25
  """

  def velocity(params, z, params_dot):
    density = _density(cdf, params, z)
    try:
      _, f_dot = jax.jvp(lambda p: cdf(p, z), (params,), (params_dot,))
    except (ValueError, TypeError, NotImplementedError) as e:
      raise ValueError(
          "cdf: JAX cannot differentiate it in the parameters, which the "
          "implicit gradient -(dF/dparams)/q(z) needs. Write F with "
          f"differentiable operations (or pass velocity=...). JAX said: {e}"
      ) from e
    return -jnp.broadcast_to(f_dot, jnp.shape(z)) / density

  return velocity


def _density(cdf, params, z):
  """``dF/dz`` by one forward-mode pass (elementwise ``cdf``)."""
  try:
    _, density = jax.jvp(lambda zz: cdf(params, zz), (z,), (jnp.ones_like(z),))
  except (ValueError, TypeError, NotImplementedError) as e:
    raise ValueError(
        "cdf: JAX cannot differentiate it in z, which the implicit gradient "
        f"needs (dF/dz is the density). JAX said: {e}") from e
  return density


@functools.lru_cache(maxsize=64)
def _compiled_density(cdf):
  return jax.jit(functools.partial(_density, cdf))


def check_increasing(cdf: StandardizationFn, params: PyTree, z: jax.Array) -> None:
  """Raises ``ValueError`` if ``cdf`` decreases (or is NaN) at concrete draws.

  A CDF that is not increasing in ``z`` at the sampler's own draws cannot be
  the sampler's CDF, and would silently flip gradient signs. Checked only when
  ``params`` and ``z`` are concrete (eager calls, also under ``jax.grad``);
  under ``jit`` the check is skipped. A density that underflows to 0 in a far
  tail is not an error.
  """
  values = [utils.concrete_value(v) for v in jax.tree.leaves((params, z))]
  if any(v is None for v in values):
    return
  params_c, z_c = jax.tree.unflatten(jax.tree.structure((params, z)), values)
  density = np.asarray(_compiled_density(cdf)(params_c, z_c))
  bad = ~(density >= 0)
  if np.any(bad):
    i = int(np.flatnonzero(bad.reshape(-1))[0])
    raise ValueError(
        "cdf: not increasing in z at the sampler's draws (dF/dz = "
        f"{density.reshape(-1)[i]!r} at z = {np.asarray(z_c).reshape(-1)[i]!r}); "
        "irt.implicit needs the CDF of the sampler's own distribution (any "
        "standardization strictly increasing in z).")


def velocity_from_autoregressive(standardize: StandardizationFn) -> Velocity:
  r"""The implicit velocity of a standardization that is triangular in ``z``.

  For an event ``z`` (last axis, size ``D``) and ``T(params, z)`` whose
  ``d``-th output depends only on ``z[..., :d+1]`` and is increasing in
  ``z[..., d]`` — a chain of conditional CDFs, or Graves' (2016) distributional
  transform of a mixture — the rule is

  .. math::  \dot z = -\Big(\frac{\partial T}{\partial z}\Big)^{-1}
             \frac{\partial T}{\partial \phi}\dot\phi,

  with ``dT/dz`` lower triangular: one ``D x D`` triangular solve per draw
  (``D`` forward-mode columns), never a dense Jacobian of the whole batch.

  Args:
    standardize: ``T(params, z)`` with ``z`` of shape ``batch + (D,)``,
      returning the same shape; each draw's row depends on that row only.

  Returns:
    ``velocity(params, z, params_dot) -> z_dot``.
  """

  def velocity(params, z, params_dot):
    size = z.shape[-1]
    along = lambda e: jax.jvp(lambda zz: standardize(params, zz), (z,),
                              (jnp.broadcast_to(e, z.shape),))[1]
    # columns[..., j] = dT/dz_j for every draw: jac[..., i, j] = dT_i/dz_j.
    jac = jnp.moveaxis(jax.vmap(along)(jnp.eye(size, dtype=z.dtype)), 0, -1)
    _, t_dot = jax.jvp(lambda p: standardize(p, z), (params,), (params_dot,))
    t_dot = jnp.broadcast_to(t_dot, z.shape)
    z_dot = jax.scipy.linalg.solve_triangular(jac, -t_dot[..., None], lower=True)
    return z_dot[..., 0]

  return velocity


class CdfFunctions(NamedTuple):
  """A 1-D family's ``cdf``, ``log_cdf``, ``log_sf`` and fused ``log_terms``,
  each ``fn(params, z)``."""
  cdf: StandardizationFn
  log_cdf: StandardizationFn
  log_sf: StandardizationFn
  log_terms: Callable[[PyTree, jax.Array], tuple[jax.Array, jax.Array, jax.Array]]


def cdf_with_rule(cdf_value: StandardizationFn,
                  sf_value: StandardizationFn,
                  log_density: StandardizationFn,
                  velocity: Velocity,
                  log_tail: StandardizationFn | None = None) -> CdfFunctions:
  r"""CDF, log CDF and log survival function differentiable via the rule.

  Where ``dF/dphi`` has no JAX derivative (``betainc`` in ``a, b``, the
  Student-t CDF in ``df``) or only an inaccurate one, the sampler's own
  velocity ``v = dz/dphi = -(dF/dphi) / q(z)`` gives it back exactly:

  .. math::  dF = q(z)\,(\dot z - v(\phi, z, \dot\phi)),\quad
             d\log F = \frac{q}{F}(\dot z - v),\quad
             d\log S = -\frac{q}{S}(\dot z - v),

  the factors ``q/F``, ``q/S`` taken in log space. The log forms use
  ``log F`` where ``F < 1/2`` and ``log1p(-S)`` above, so both keep full
  precision in both tails. Truncation and mixtures build their
  standardization functions from these.

  Args:
    cdf_value: ``F(params, z)`` (no derivative needed).
    sf_value: ``S(params, z) = 1 - F``, accurate where it is small.
    log_density: ``log q(z; params)``.
    velocity: the family's implicit velocity.
    log_tail: optional ``log_tail(params, z) -> ((use_f, log F), (use_s,
      log S))`` computed in log space, used instead of ``log`` of
      ``cdf_value`` / ``sf_value`` where ``use_f`` / ``use_s`` (tails whose
      mass underflows the float range; elsewhere the values are any finite
      placeholder, so no NaN is made in a discarded branch).

  Returns:
    :class:`CdfFunctions`, each with a ``jax.custom_jvp`` in both arguments
    (so also reverse mode and, through the velocity's own derivatives,
    higher order). ``log_terms(params, z) -> (log q, log F, log S)`` is the
    family contract's fused hook: one ``F``, one ``S`` and one velocity for
    all three and their derivatives (a composite that differentiates the
    separate functions evaluates each of them twice and the velocity twice).
  """

  def log_pair(params, z):
    f, s = cdf_value(params, z), sf_value(params, z)
    lf = jnp.where(f < 0.5, jnp.log(jnp.where(f < 0.5, f, 1.0)),
                   jnp.log1p(-jnp.where(f < 0.5, 0.0, s)))
    ls = jnp.where(s < 0.5, jnp.log(jnp.where(s < 0.5, s, 1.0)),
                   jnp.log1p(-jnp.where(s < 0.5, 0.0, f)))
    if log_tail is not None:
      (use_f, tail_f), (use_s, tail_s) = log_tail(params, z)
      lf = jnp.where(use_f, tail_f, lf)
      ls = jnp.where(use_s, tail_s, ls)
    return lf, ls

  def tangent(slope, move):
    # Outside the support q = 0 and the velocity may be NaN: no move there.
    return jnp.where(slope == 0, 0.0, slope * jnp.where(slope == 0, 0.0, move))

  def with_rule(value, kind):

    @jax.custom_jvp
    def fn(params, z):
      return value(params, z)

    @fn.defjvp
    def fn_jvp(primals, tangents):
      params, z = primals
      params_dot, z_dot = tangents
      out = fn(params, z)
      log_q = jnp.broadcast_to(log_density(params, z), out.shape)
      if kind == "cdf":
        slope = jnp.exp(log_q)
      elif kind == "log_cdf":
        slope = jnp.exp(log_q - out)
      else:
        slope = -jnp.exp(log_q - out)
      move = jnp.broadcast_to(z_dot - velocity(params, z, params_dot), out.shape)
      return out, tangent(slope, move)

    return fn

  @jax.custom_jvp
  def log_terms(params, z):
    lf, ls = log_pair(params, z)
    shape = jnp.shape(lf)
    return jnp.broadcast_to(log_density(params, z), shape), lf, ls

  @log_terms.defjvp
  def log_terms_jvp(primals, tangents):
    params, z = primals
    params_dot, z_dot = tangents
    _, lf, ls = log_terms(params, z)  # Recursive: differentiable again.
    log_q, log_q_dot = jax.jvp(log_density, (params, z), (params_dot, z_dot))
    shape = lf.shape
    log_q = jnp.broadcast_to(log_q, shape)
    move = jnp.broadcast_to(z_dot - velocity(params, z, params_dot), shape)
    return ((log_q, lf, ls),
            (jnp.broadcast_to(log_q_dot, shape), tangent(jnp.exp(log_q - lf), move),
             tangent(-jnp.exp(log_q - ls), move)))

  return CdfFunctions(with_rule(cdf_value, "cdf"),
                      with_rule(lambda p, z: log_pair(p, z)[0], "log_cdf"),
                      with_rule(lambda p, z: log_pair(p, z)[1], "log_sf"),
                      log_terms)


def implicit_draw(raw: Callable[[jax.Array, PyTree], jax.Array],
                  velocity: Velocity, key: jax.Array, params: PyTree,
                  mode: str = "vjp") -> jax.Array:
  """Draws ``raw(key, params)`` with derivatives given by ``velocity``.

  This is the only place in irt_jax that registers custom derivatives.

  Args:
    raw: ``raw(key, params) -> z``, shape and dtype fixed by the caller.
    velocity: ``velocity(params, z, params_dot) -> z_dot`` (linear in
      ``params_dot``), e.g. from :func:`velocity_from_cdf`.
    key: a PRNG key (never differentiated).
    params: a pytree of floating arrays.
    mode: ``"vjp"`` (``jax.custom_vjp``) or ``"jvp"`` (``jax.custom_jvp``).

  Returns:
    The draws, differentiable with respect to ``params``.
  """
  if mode == "vjp":
    return _vjp_draw(raw, velocity)(key, params)
  if mode == "jvp":
    return _jvp_draw(raw, velocity)(key, params)
  raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")


@functools.lru_cache(maxsize=256)
def _vjp_draw(raw, velocity):
  @jax.custom_vjp
  def draw(key, params):
    return raw(key, params)

  def fwd(key, params):
    z = draw(key, params)  # Recursive: keeps z differentiable for 2nd order.
    return z, (params, z)

  def bwd(residuals, z_bar):
    params, z = residuals
    (params_bar,) = jax.linear_transpose(
        functools.partial(velocity, params, z), params)(z_bar)
    return None, params_bar

  draw.defvjp(fwd, bwd)
  return draw


@functools.lru_cache(maxsize=256)
def _jvp_draw(raw, velocity):
  @jax.custom_jvp
  def draw(key, params):
    return raw(key, params)

  @draw.defjvp
  def draw_jvp(primals, tangents):
    key, params = primals
    _, params_dot = tangents
    z = draw(key, params)  # Recursive: keeps z differentiable for 2nd order.
    return z, velocity(params, z, params_dot)

  return draw


class _Bound:
  """Hashable closure of a raw sampler over a static shape and dtype.

  Equal ``_Bound`` objects share one custom-derivative function in the caches
  above, so repeated eager calls do not build new ones.
  """

  def __init__(self, sampler, shape, dtype):
    self.sampler, self.shape, self.dtype = sampler, shape, dtype

  def __call__(self, key, params):
    return self.sampler(key, params, self.shape, self.dtype)

  def _id(self):
    return (self.sampler, self.shape, str(self.dtype))

  def __eq__(self, other):
    return isinstance(other, _Bound) and self._id() == other._id()

  def __hash__(self):
    return hash(self._id())


def draw_with_rule(sampler: RawSampler, velocity: Velocity, key: jax.Array,
                   params: PyTree, shape: tuple[int, ...], dtype: Any,
                   mode: str = "vjp") -> jax.Array:
  """Shared entry point of every family: checks, upcast of 16-bit, then draw.

  ``params`` must already be floating arrays of ``dtype`` and ``shape`` the
  resolved output shape. float16 / bfloat16 draws are computed in float32 and
  cast back (outside the rule, so JAX differentiates the cast).
  """
  if mode not in MODES:
    raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
  key = utils.check_key(key)
  work = utils.compute_dtype(dtype)
  if work != dtype:
    params = jax.tree.map(lambda v: v.astype(work), params)
  z = _compiled_draw(_Bound(sampler, tuple(shape), work), velocity, mode)(
      key, params)
  return z.astype(dtype)


@functools.lru_cache(maxsize=256)
def _compiled_draw(raw, velocity, mode):
  # Compiled once per (sampler, shape, dtype, rule, mode): eager calls and
  # eager gradients then run as one XLA computation instead of op by op, and
  # give the same numbers as an enclosing jax.jit.
  return jax.jit(functools.partial(implicit_draw, raw, velocity, mode=mode))


def implicit(sampler: RawSampler,
             cdf: StandardizationFn | None = None,
             *,
             velocity: Velocity | None = None,
             autoregressive: bool = False,
             check: bool = True,
             support: tuple[float, float] = (-float("inf"), float("inf")),
             ) -> ImplicitFamily:
  r"""Turns a sampler and a CDF into a sampler with implicit gradients.

  Given ``sampler(key, params, shape, dtype)`` that draws ``z ~ q_params`` (with
  no gradient of its own) and the distribution's CDF ``cdf(params, z)``
  (elementwise in ``z``, differentiable in ``params`` and ``z``), returns

  ``sample(key, params, shape=None, dtype=None, *, mode="vjp")``

  whose draws have the implicit reparameterization gradient
  ``dz/dparams = -(dF/dparams)(z) / q(z)`` (Figurnov et al., 2018). ``params``
  is any pytree of floating arrays; ``shape`` defaults to their broadcast
  shape and must be one they broadcast to; ``dtype`` defaults to theirs.

  ``mode="vjp"`` registers ``jax.custom_vjp`` (reverse mode, incl. second
  order); ``mode="jvp"`` registers ``jax.custom_jvp`` from the same rule, for
  ``jax.jvp`` / ``jax.jacfwd`` / ``jax.hessian``.

  Args:
    sampler: ``sampler(key, params, shape, dtype) -> z`` of that shape/dtype.
    cdf: ``cdf(params, z) -> u``, the CDF (or any standardization function
      that is strictly increasing in ``z`` elementwise).
    velocity: optional closed form of the same rule,
      ``velocity(params, z, params_dot) -> z_dot``; use it when a fused kernel
      is more stable than the ratio of the two partial derivatives.
    autoregressive: if true, ``cdf`` is a standardization over the last
      (event) axis whose ``d``-th output depends on ``z[..., :d+1]`` only, e.g.
      a chain of conditional CDFs ``F_d(z_d | z_<d)``; the rule is then a
      triangular solve per draw (:func:`velocity_from_autoregressive`). The
      params need not broadcast against the draws, and ``shape`` (batch +
      event) is required.
    check: on eager calls (concrete params), verify that ``cdf`` increases
      at the draws and raise ``ValueError`` if not (costs one extra
      evaluation of ``dF/dz``; skipped under ``jit``). A ``cdf`` that JAX
      cannot differentiate in the params raises ``ValueError`` when the
      gradient is traced, in every mode.
    support: ``(low, high)``, the interval the draws live in (default the
      real line); the family's ``support`` (NumPyro's constraint, truncation).

  Returns:
    An :class:`ImplicitFamily`: call it as
    ``sample(key, params, shape=None, dtype=None, *, mode="vjp")``; it is
    also a family (``sample``, ``log_prob``, ``cdf``, ``support``, ...) that
    ``irt.truncated.of``, ``irt.mixture.of``, the estimators and the NumPyro
    adaptor accept.

  Example (Weibull with scale ``lam`` and shape ``k``; the result equals the
  inverse-CDF gradient ``dz/dlam = z / lam``):

  >>> import jax, jax.numpy as jnp
  >>> import irt_jax as irt
  >>> def weibull_sampler(key, p, shape, dtype):
  ...   lam, k = p
  ...   e = jax.random.exponential(key, shape, dtype)
  ...   return lam * e ** (1 / k)
  >>> def weibull_cdf(p, z):
  ...   lam, k = p
  ...   return -jnp.expm1(-(z / lam) ** k)
  >>> weibull = irt.implicit(weibull_sampler, weibull_cdf)
  >>> key = jax.random.key(0)
  >>> z = weibull(key, (2.0, 1.5))
  >>> g = jax.grad(lambda lam: weibull(key, (lam, 1.5)))(2.0)
  >>> bool(jnp.allclose(g, z / 2.0, rtol=1e-5))
  True

  Kumaraswamy ``(a, b)`` on ``(0, 1)``, ``F(z) = 1 - (1 - z^a)^b``. Its
  inverse CDF happens to be differentiable too, and JAX's gradient through it
  on the same draws is the same number:

  >>> def kumaraswamy_sampler(key, p, shape, dtype):
  ...   a, b = p
  ...   u = jax.random.uniform(key, shape, dtype)
  ...   return (-jnp.expm1(jnp.log1p(-u) / b)) ** (1 / a)
  >>> def kumaraswamy_cdf(p, z):
  ...   a, b = p
  ...   return -jnp.expm1(b * jnp.log1p(-z ** a))
  >>> kumaraswamy = irt.implicit(kumaraswamy_sampler, kumaraswamy_cdf)
  >>> p = (jnp.float32(2.0), jnp.float32(3.0))
  >>> d_a, d_b = jax.jacrev(lambda q: kumaraswamy(key, q, (4,)))(p)
  >>> e_a, e_b = jax.jacrev(lambda q: kumaraswamy_sampler(key, q, (4,), jnp.float32))(p)
  >>> bool(jnp.allclose(d_a, e_a, rtol=1e-4) & jnp.allclose(d_b, e_b, rtol=1e-4))
  True

  An autoregressive chain ``z1 ~ N(mu, 1)``, ``z2 | z1 ~ N(a z1, 1)`` given by
  its conditional CDFs ``(F(z1), F(z2 | z1))`` (``autoregressive=True``: row
  ``d`` sees ``z[..., :d+1]`` only; ``shape`` is batch + event). Exactly
  ``dz1/dmu = 1``, ``dz2/dmu = a``, ``dz1/da = 0``, ``dz2/da = z1``:

  >>> def chain_sampler(key, p, shape, dtype):
  ...   mu, a = p
  ...   e = jax.random.normal(key, shape, dtype)
  ...   z1 = mu + e[..., 0]
  ...   return jnp.stack([z1, a * z1 + e[..., 1]], axis=-1)
  >>> def chain_cdfs(p, z):
  ...   mu, a = p
  ...   ndtr = jax.scipy.special.ndtr
  ...   return jnp.stack([ndtr(z[..., 0] - mu), ndtr(z[..., 1] - a * z[..., 0])], axis=-1)
  >>> chain = irt.implicit(chain_sampler, chain_cdfs, autoregressive=True)
  >>> p = (jnp.float32(0.5), jnp.float32(2.0))
  >>> z = chain(key, p, (3, 2))
  >>> d_mu, d_a = jax.jacrev(lambda q: chain(key, q, (3, 2)))(p)
  >>> d_mu.round(4).tolist()
  [[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]
  >>> bool(jnp.allclose(d_a, jnp.stack([0 * z[:, 0], z[:, 0]], -1), atol=1e-5))
  True
  """
  if velocity is None:
    if cdf is None:
      raise ValueError("implicit: give a cdf (or a velocity)")
    velocity = (velocity_from_autoregressive(cdf) if autoregressive
                else velocity_from_cdf(cdf))
  return ImplicitFamily(sampler, cdf, velocity, autoregressive, check,
                        tuple(float(v) for v in support))


class ImplicitFamily:
  """A family built by :func:`implicit`: callable as its own ``sample``.

  Meets the family contract (:mod:`irt_jax._src.family`), so truncation,
  mixtures, the estimators and the NumPyro adaptor take it like a built-in
  family: ``Params`` is ``None`` (any pytree of floating arrays),
  ``log_prob`` is ``log dF/dz`` (for a chain of conditional CDFs the sum of
  the logs of the triangular Jacobian's diagonal), ``log_cdf`` / ``log_sf``
  are the logs of ``F`` and ``1 - F`` (so far tails are only as accurate as
  ``F`` itself), ``support`` the interval given to :func:`implicit`.
  ``validate`` converts the parameters and requires them finite.

  >>> import jax, jax.numpy as jnp, irt_jax as irt
  >>> expo = irt.implicit(lambda k, rate, shape, dtype:
  ...                     jax.random.exponential(k, shape, dtype) / rate,
  ...                     lambda rate, z: -jnp.expm1(-rate * z), support=(0.0, jnp.inf))
  >>> round(float(expo.log_prob(2.0, 0.5)), 6)   # log(2 e^-1)
  -0.306853
  >>> expo.support(2.0)
  Support(kind='interval', low=0.0, high=inf)
  """

  Params = None

  def __init__(self, sampler, cdf, velocity, autoregressive, check, support):
    self._sampler, self._cdf, self._velocity = sampler, cdf, velocity
    self._autoregressive, self._check = autoregressive, check
    self._support = _family.interval(*support)
    self.event_ndims = 1 if autoregressive else 0
    self.__name__ = (f"irt_jax.implicit("
                     f"{getattr(sampler, '__name__', 'sampler')})")
    self.__doc__ = (f"Implicit-gradient family built by irt_jax.implicit from "
                    f"{getattr(sampler, '__name__', 'a sampler')}.")

  def __repr__(self):
    return self.__name__

  def __call__(self, key, params, shape: Sequence[int] | None = None, dtype=None,
               *, mode: str = "vjp") -> jax.Array:
    return self.sample(key, params, shape, dtype, mode=mode)

  def validate(self, params, dtype=None):
    """The parameters as floating arrays of one dtype; ``ValueError`` if a
    concrete one is not finite."""
    dtype = utils.float_dtype(dtype, *jax.tree.leaves(params))
    params = jax.tree.map(lambda v: utils.as_float("params", v, dtype), params)
    for v in jax.tree.leaves(params):
      utils.check_finite("params", v)
    return params

  def is_valid(self, params) -> jax.Array:
    """``True`` where every parameter is finite (broadcast over the leaves)."""
    leaves = [jnp.asarray(v) for v in jax.tree.leaves(params)]
    return functools.reduce(jnp.logical_and,
                            [jnp.isfinite(v) for v in leaves], jnp.asarray(True))

  def support(self, params) -> _family.Support:
    """The interval given to :func:`implicit` (default: the real line)."""
    del params
    return self._support

  def sample(self, key, params, shape: Sequence[int] | None = None, dtype=None,
             *, mode: str = "vjp") -> jax.Array:
    """Draws with the implicit gradient ``-(dF/dparams)/q(z)``."""
    dtype = utils.float_dtype(dtype, *jax.tree.leaves(params))
    params = self.validate(params, dtype)
    if self._autoregressive:
      if shape is None:
        raise ValueError("shape: required (batch + event axis) when "
                         "autoregressive=True")
      shape = utils.resolve_shape(shape, ())
    else:
      batch = jnp.broadcast_shapes(
          *[jnp.shape(v) for v in jax.tree.leaves(params)])
      shape = utils.resolve_shape(shape, batch)
    z = draw_with_rule(self._sampler, self._velocity, key, params, shape, dtype,
                       mode)
    if self._check and self._cdf is not None and not self._autoregressive:
      check_increasing(self._cdf, params, z)
    return z

  def _need_cdf(self, what):
    if self._cdf is None:
      raise ValueError(f"{what}: this family was built from a velocity only "
                       "(no cdf was given to irt_jax.implicit)")

  def cdf(self, params, z) -> jax.Array:
    """The CDF given to :func:`implicit`."""
    self._need_cdf("cdf")
    return self._cdf(self.validate(params), jnp.asarray(z))

  def log_cdf(self, params, z) -> jax.Array:
    """``log F``."""
    return jnp.log(self.cdf(params, z))

  def log_sf(self, params, z) -> jax.Array:
    """``log(1 - F)``."""
    return jnp.log1p(-self.cdf(params, z))

  def log_prob(self, params, z) -> jax.Array:
    """``log dF/dz`` (autoregressive: ``sum_d log dT_d/dz_d``)."""
    self._need_cdf("log_prob")
    params, z = self.validate(params), jnp.asarray(z)
    z = z.astype(jnp.result_type(z, *jax.tree.leaves(params)))
    if not self._autoregressive:
      return jnp.log(_density(self._cdf, params, z))
    size = z.shape[-1]
    diag = lambda e: jnp.sum(e * jax.jvp(lambda zz: self._cdf(params, zz), (z,),
                                         (jnp.broadcast_to(e, z.shape),))[1], -1)
    return jnp.sum(jnp.log(jax.vmap(diag)(jnp.eye(size, dtype=z.dtype))), 0)
