r"""Gamma(concentration, rate) with implicit reparameterization gradients.

Sampling: Marsaglia & Tsang (2000), "A simple method for generating gamma
variables", ACM TOMS 26(3), run over the whole batch at once (acceptance rate
>= 0.95; later rounds propose only for the elements still waiting, compacted,
so the batch costs about 1.05 proposals per draw; at most 64 rounds), boosted by ``U^(1/a)`` for ``a < 1`` (their section 6) *in log space*,
so concentrations down to 1e-30 give finite ``log z``.

Gradient: the implicit rule through ``P(a, rate * z)`` (regularized lower
incomplete gamma), evaluated by the fused kernel
:func:`irt_jax._src.special.gamma.gamma_log_velocity`, which returns
``d log x / da = -(dP/da) / (x p(x))`` without forming either factor alone.
The rate enters by scaling: ``dz/drate = -z / rate``.

:func:`sample_log` returns ``log z`` with its own implicit gradient; the
Dirichlet sampler is built on it (so tiny concentrations neither underflow nor
give NaN gradients, cf. jax issue #18129).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from irt_jax._src import family as _family
from irt_jax._src import implicit as _implicit
from irt_jax._src import rejection as _rejection
from irt_jax._src import utils
from irt_jax._src.special import gamma as _special

MAX_ROUNDS = 64  # Rejection rounds; P(any of 1e9 draws needs > 12) < 1e-6.
# Marsaglia-Tsang rejects at most 4.9% of proposals (alpha = 1; fewer above).
_MAX_FAIL = 0.05


class Params(NamedTuple):
  """Parameters of a gamma distribution (a pytree).

  Attributes:
    concentration: shape ``a > 0``.
    rate: inverse scale, ``> 0``.

  >>> import irt_jax as irt
  >>> irt.gamma.Params(2.0)   # rate defaults to 1
  Params(concentration=2.0, rate=1.0)
  """
  concentration: ArrayLike
  rate: ArrayLike = 1.0


def _prepare(params: Params, dtype=None) -> tuple[Params, jnp.dtype]:
  if not isinstance(params, Params):
    raise TypeError(f"params: expected irt_jax.gamma.Params, got {type(params).__name__}")
  dtype = utils.float_dtype(dtype, *params)
  a = utils.as_float("concentration", params.concentration, dtype)
  rate = utils.as_float("rate", params.rate, dtype)
  utils.check_positive("concentration", a)
  utils.check_positive("rate", rate)
  utils.broadcast_batch_shape(concentration=a, rate=rate)
  return Params(a, rate), dtype


def _valid(p: Params) -> jax.Array:
  return ((p.concentration > 0) & jnp.isfinite(p.concentration)
          & (p.rate > 0) & jnp.isfinite(p.rate))


def _log1p_minus_identity(w: jax.Array) -> jax.Array:
  """``log1p(w) - w``, accurate when ``|w|`` is small (large concentrations)."""
  small = jnp.abs(w) < 0.1
  ws = jnp.where(small, w, 0.0)
  series = ws * ws * (-1 / 2 + ws * (1 / 3 + ws * (-1 / 4 + ws * (
      1 / 5 + ws * (-1 / 6 + ws * (1 / 7 + ws * (-1 / 8 + ws / 9)))))))
  wl = jnp.where(small, 0.0, w)
  return jnp.where(small, series, jnp.log1p(wl) - wl)


def log_standard_gamma(key: jax.Array, a: jax.Array, shape, dtype, *,
                       stages: int = 1) -> jax.Array:
  """Raw draws of ``log X``, ``X ~ Gamma(a, 1)``; no gradient of its own.

  Marsaglia & Tsang for ``alpha = a`` (``a >= 1``) or ``alpha = a + 1`` with
  the boost ``log X = log Y + log(U) / a`` (``a < 1``), through the compacted
  rejection loop of :mod:`irt_jax._src.rejection` (``stages``: its number of
  compacted buffers: one, as a second stage costs a third more compile time and
  saves no run time at <= 5% rejection; 0 inside another rejection loop, where
  each stage would compile once per stage of the outer loop). Non-finite or
  non-positive ``a`` is left as NaN (and does not keep the loop running).
  """
  shape = tuple(shape)
  a = jnp.asarray(a, dtype)
  boost = a < 1
  alpha = jnp.where(boost, a + 1, a)
  ok_param = (a > 0) & jnp.isfinite(a)
  d = jnp.where(ok_param, alpha - 1 / 3, 1.0)
  c = jax.lax.rsqrt(9 * d)
  key_rounds, key_boost = jax.random.split(key)

  def propose(key, params, size):
    d, c = params
    k_norm, k_unif = jax.random.split(key)
    x = jax.random.normal(k_norm, (size,), dtype)
    log_u = -jax.random.exponential(k_unif, (size,), dtype)
    cx = c * x
    positive = cx > -1
    w = jnp.where(positive, cx * (3 + cx * (3 + cx)), 0.0)  # (1+cx)^3 - 1
    accept = positive & (log_u < 0.5 * x * x + d * _log1p_minus_identity(w))
    return jnp.log1p(w), accept

  log_v = _rejection.sample(key_rounds, propose, (d, c), shape, 0.0,
                            max_fail=_MAX_FAIL, skip=~ok_param, max_rounds=MAX_ROUNDS,
                            stages=stages)
  log_boost = -utils.padded_draw(jax.random.exponential, key_boost, shape, dtype) / a
  log_x = jnp.log(d) + log_v + jnp.where(boost, log_boost, 0.0)
  return utils.mask_invalid(ok_param, log_x)


def _raw_sample(key, p: Params, shape, dtype):
  log_x = log_standard_gamma(key, p.concentration, shape, dtype)
  return utils.mask_invalid(_valid(p), jnp.exp(log_x) / p.rate)


def _raw_sample_log(key, p: Params, shape, dtype):
  log_x = log_standard_gamma(key, p.concentration, shape, dtype)
  return utils.mask_invalid(_valid(p), log_x - jnp.log(p.rate))


def _velocity(p: Params, z, p_dot: Params):
  x = z * p.rate
  dx_da = _special.gamma_velocity(p.concentration, x)
  return dx_da / p.rate * p_dot.concentration - z / p.rate * p_dot.rate


def _velocity_log(p: Params, log_z, p_dot: Params):
  dlogx_da = _special.gamma_log_velocity(p.concentration, log_z + jnp.log(p.rate))
  # d log x/da can exceed the float range (a = 1e-30 in float32) where the draw
  # is then an exact 0 downstream; saturate so 0 * velocity stays 0.
  dlogx_da = utils.finite_or_saturate(dlogx_da)
  return dlogx_da * p_dot.concentration - p_dot.rate / p.rate


def _log_density(p: Params, z):
  a, rate = p
  x = jnp.maximum(z, 0.0)
  log_q = (jax.scipy.special.xlogy(a, rate) + jax.scipy.special.xlogy(a - 1, x)
           - rate * x - jax.scipy.special.gammaln(a))
  return jnp.where(z >= 0, log_q, -jnp.inf)


def _standardize(p: Params, z):
  return jax.scipy.special.gammainc(p.concentration, p.rate * jnp.maximum(z, 0.0))


def _sf_value(p: Params, z):
  return jax.scipy.special.gammaincc(p.concentration, p.rate * jnp.maximum(z, 0.0))


# CDFs differentiable in the parameters through the sampler's own rule (JAX's
# gammainc derivative in a is the 6e-4-accurate one this library replaces).
_cdf, _log_cdf, _log_sf, _log_terms = _implicit.cdf_with_rule(
    _standardize, _sf_value, _log_density, _velocity)

SUPPORT = (0.0, float("inf"))
event_ndims = 0
log_terms, velocity = _family.rule_hooks(
    "gamma", _prepare, _log_terms, _velocity,
    good="irt.gamma.Params(2.0, 1.0)", z="1.0", tangent="irt.gamma.Params(1.0, 0.0)")
validate, is_valid, support = _family.members(
    "gamma", _prepare, _valid, _family.interval(*SUPPORT),
    good="irt.gamma.Params(2.0)", bad="irt.gamma.Params(-1.0)",
    error="concentration must be positive and finite, got -1.0")


def _batch_shape(p: Params):
  return utils.broadcast_batch_shape(concentration=p.concentration, rate=p.rate)


def sample(key: ArrayLike, params: Params, shape=None, dtype=None, *,
           mode: str = "vjp") -> jax.Array:
  r"""Draws from Gamma(concentration, rate) with implicit gradients.

  ``dz/da = -(dP(a, rate z)/da) / (rate * p(rate z; a))``, ``dz/drate = -z/rate``.

  Args:
    key: a ``jax.random.key`` or legacy ``jax.random.PRNGKey``.
    params: :class:`Params`.
    shape: output shape (parameters broadcast to it); default their shape.
    dtype: floating dtype; default the parameters' (or JAX's default float).
    mode: ``"vjp"`` (default, ``jax.custom_vjp``) or ``"jvp"``
      (``jax.custom_jvp``, for ``jax.jvp`` / ``jax.hessian``). Same rule.

  Returns:
    Draws of shape ``shape``. Tiny concentrations underflow to exactly 0 (with
    gradient 0); use :func:`sample_log` to keep them. Invalid traced
    parameters give NaN.

  >>> import jax, irt_jax as irt
  >>> key = jax.random.key(0)
  >>> f = lambda a: irt.gamma.sample(key, irt.gamma.Params(a), (4000,)).mean()
  >>> g = jax.grad(f)(3.0)   # d/da E[z] = 1 / rate = 1
  >>> bool(abs(g - 1.0) < 0.05)
  True
  """
  p, dtype = _prepare(params, dtype)
  shape = utils.resolve_shape(shape, _batch_shape(p))
  p = jax.tree.map(lambda v: utils.lift(v, len(shape)), p)  # rank-explicit
  return _implicit.draw_with_rule(_raw_sample, _velocity, key, p, shape, dtype,
                                  mode)


def sample_log(key: ArrayLike, params: Params, shape=None, dtype=None, *,
               mode: str = "vjp") -> jax.Array:
  r"""Draws ``log z`` for ``z ~ Gamma(concentration, rate)``, with gradients.

  Same draw as :func:`sample` (same key gives ``exp(sample_log) == sample`` up
  to rounding), but finite for concentrations so small that ``z`` underflows
  (``a = 1e-3`` has median ``log z`` near -700). Gradient:
  ``d log z/da = -(dP/da) / (x p(x))``, ``d log z/drate = -1/rate``. The
  density of these draws is :func:`log_prob_log`.

  >>> import jax, irt_jax as irt
  >>> lz = irt.gamma.sample_log(jax.random.key(0), irt.gamma.Params(1e-3), (3,))
  >>> bool(jax.numpy.all(jax.numpy.isfinite(lz)))
  True
  """
  p, dtype = _prepare(params, dtype)
  shape = utils.resolve_shape(shape, _batch_shape(p))
  p = jax.tree.map(lambda v: utils.lift(v, len(shape)), p)  # rank-explicit
  return _implicit.draw_with_rule(_raw_sample_log, _velocity_log, key, p, shape,
                                  dtype, mode)


def cdf(params: Params, z: ArrayLike) -> jax.Array:
  """``P(concentration, rate * z)``, the regularized lower incomplete gamma.

  Differentiable in ``z`` and in both parameters (``dP/da`` from the same
  kernel as the sampler's gradient).

  >>> import irt_jax as irt
  >>> round(float(irt.gamma.cdf(irt.gamma.Params(1.0, 2.0), 0.5)), 4)  # 1 - e^-1
  0.6321
  """
  p, dtype = _prepare(params)
  return _cdf(p, jnp.asarray(z, dtype))


def log_cdf(params: Params, z: ArrayLike) -> jax.Array:
  """``log P(concentration, rate * z)``; differentiable like :func:`cdf`.

  >>> import irt_jax as irt
  >>> round(float(irt.gamma.log_cdf(irt.gamma.Params(1.0, 1.0), 1.0)), 4)
  -0.4587
  """
  p, dtype = _prepare(params)
  return _log_cdf(p, jnp.asarray(z, dtype))


def log_sf(params: Params, z: ArrayLike) -> jax.Array:
  """``log Q(concentration, rate * z)`` (log survival function), accurate far
  in the upper tail where ``1 - cdf`` rounds to 0; differentiable.

  >>> import irt_jax as irt
  >>> float(irt.gamma.log_sf(irt.gamma.Params(1.0, 1.0), 50.0))  # -z
  -50.0
  """
  p, dtype = _prepare(params)
  return _log_sf(p, jnp.asarray(z, dtype))


def log_prob(params: Params, z: ArrayLike) -> jax.Array:
  """``a log(rate) + (a-1) log z - rate z - lgamma(a)``; ``-inf`` for ``z < 0``.

  >>> import irt_jax as irt
  >>> round(float(irt.gamma.log_prob(irt.gamma.Params(1.0, 2.0), 0.5)), 6)
  -0.306853
  """
  p, dtype = _prepare(params)
  return _log_density(p, jnp.asarray(z, dtype))


def log_prob_log(params: Params, y: ArrayLike) -> jax.Array:
  r"""Log density of ``y = log z``, ``z ~ Gamma(concentration, rate)``: the
  density of :func:`sample_log`'s draws (Jacobian ``dz/dy = e^y`` included).

  .. math::  \log p(y) = a (y + \log rate) - rate\, e^{y} - \log\Gamma(a)

  Finite wherever ``y`` is (``a = 1e-3`` puts most of the mass near ``y = -700``,
  where ``z`` underflows and :func:`log_prob` of it would be ``+inf``). For an
  ELBO in log space, ``E_q[log p(y) - log q(y)]`` with both densities from this
  function equals the one in ``z`` (the Jacobians cancel).

  >>> import jax.numpy as jnp, irt_jax as irt
  >>> p = irt.gamma.Params(1.0, 2.0)   # log p(log 0.5) = log p_z(0.5) + log 0.5
  >>> round(float(irt.gamma.log_prob_log(p, jnp.log(0.5))), 6)
  -1.0
  >>> bool(jnp.isfinite(irt.gamma.log_prob_log(irt.gamma.Params(1e-3), -700.0)))
  True
  """
  p, dtype = _prepare(params)
  a, rate, y = utils.lift_all(*p, jnp.asarray(y, dtype))  # rank-explicit
  y = y + jnp.log(rate)   # log(rate z): the standard gamma's log
  return a * y - jnp.exp(y) - jax.scipy.special.gammaln(a)


def mean(params: Params) -> jax.Array:
  """``concentration / rate``.

  >>> import irt_jax as irt
  >>> float(irt.gamma.mean(irt.gamma.Params(3.0, 2.0)))
  1.5
  """
  p, _ = _prepare(params)
  return p.concentration / p.rate


def variance(params: Params) -> jax.Array:
  """``concentration / rate ** 2``.

  >>> import irt_jax as irt
  >>> float(irt.gamma.variance(irt.gamma.Params(3.0, 2.0)))
  0.75
  """
  p, _ = _prepare(params)
  return p.concentration / p.rate ** 2


WEAK_DERIVATIVE_FIELDS = ("rate",)


def weak_derivative(params: Params, key: jax.Array, fields, coupling: bool):
  r"""Weak derivative of Gamma(a, rate) in the rate (for measure-valued
  gradients; see :func:`irt_jax.normal.weak_derivative` for the format).

  .. math::  \partial_{rate} q = (a/rate - z)\, q(z), \qquad
             z\,q(z; a, rate) = (a/rate)\, q(z; a+1, rate),

  so ``d q/d rate = (a/rate) (Gamma(a, rate) - Gamma(a+1, rate))``: ``c =
  a/rate``, ``q+ = q`` itself (``z_plus`` is ``None``: the common draw),
  ``q- = Gamma(a+1, rate)``; coupling: ``z- = z + E/rate``, ``E ~ Exp(1)``.

  >>> import jax, irt_jax as irt
  >>> z, parts = irt.gamma.weak_derivative(irt.gamma.Params(3.0, 2.0),
  ...                                      jax.random.key(0), ("rate",), True)
  >>> c, plus, minus = parts["rate"]
  >>> float(c), plus is None, bool(minus > z)
  (1.5, True, True)
  """
  del fields  # the rate is the only one
  k0, k1 = jax.random.split(key)
  z = jax.lax.stop_gradient(sample(k0, params))
  shape, dtype = z.shape, z.dtype
  a = jnp.broadcast_to(params.concentration, shape)
  rate = jnp.broadcast_to(params.rate, shape)
  if coupling:  # Gamma(a + 1, rate) = Gamma(a, rate) + Exponential(rate).
    z_minus = z + jax.random.exponential(k1, shape, dtype) / rate
  else:
    z_minus = jax.lax.stop_gradient(sample(k1, Params(a + 1, rate)))
  return z, {"rate": (a / rate, None, z_minus)}
