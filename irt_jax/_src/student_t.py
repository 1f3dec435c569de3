r"""Student-t(df, loc, scale) with a direct implicit rule for ``df``.

Sampling: Bailey's (1994) polar method in its rejection-free form (two
uniforms, no gamma draw), then ``z = loc + scale * t``.

Gradient: ``dz/dloc = 1``, ``dz/dscale = t`` and
``dz/ddf = -scale (dF_df(t)/ddf) / f_df(t)`` through the t CDF by the fused
kernel :func:`irt_jax._src.special.student_t.student_t_velocity`. Every peer
differentiates the normal/gamma composition instead; the direct rule is its
Rao-Blackwellization (same mean, never more variance).

Very heavy tails: for ``df`` near 1e-2 a sizeable share of draws exceeds the
largest float (about 40% in float32); those draws are +-inf (IEEE overflow)
with gradient 0, never NaN.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from irt_jax._src import family as _family
from irt_jax._src import implicit as _implicit
from irt_jax._src import utils
from irt_jax._src.special import beta as _special_beta
from irt_jax._src.special import student_t as _special


class Params(NamedTuple):
  """Parameters of a Student-t distribution (a pytree).

  Attributes:
    df: degrees of freedom, ``> 0``.
    loc: location, any real.
    scale: scale, ``> 0``.

  >>> import irt_jax as irt
  >>> irt.student_t.Params(3.0)
  Params(df=3.0, loc=0.0, scale=1.0)
  """
  df: ArrayLike
  loc: ArrayLike = 0.0
  scale: ArrayLike = 1.0


def _prepare(params: Params, dtype=None) -> tuple[Params, jnp.dtype]:
  if not isinstance(params, Params):
    raise TypeError(f"params: expected irt_jax.student_t.Params, got {type(params).__name__}")
  dtype = utils.float_dtype(dtype, *params)
  df = utils.as_float("df", params.df, dtype)
  loc = utils.as_float("loc", params.loc, dtype)
  scale = utils.as_float("scale", params.scale, dtype)
  utils.check_positive("df", df)
  utils.check_finite("loc", loc)
  utils.check_positive("scale", scale)
  utils.broadcast_batch_shape(df=df, loc=loc, scale=scale)
  return Params(df, loc, scale), dtype


def _valid(p: Params) -> jax.Array:
  return ((p.df > 0) & jnp.isfinite(p.df) & jnp.isfinite(p.loc)
          & (p.scale > 0) & jnp.isfinite(p.scale))


def _raw_sample(key, p: Params, shape, dtype):
  """Bailey's polar method without rejection (Bailey 1994, Math. Comp. 62):
  with ``W, V ~ U(0, 1)``, ``t = sqrt(df (W^(-2/df) - 1)) cos(2 pi V)``.

  (``(sqrt(W) cos, sqrt(W) sin)`` of the angle ``2 pi V`` is uniform on the
  disc, so this is his rejection-free form.) Two uniforms and no gamma draw:
  about 2x cheaper than ``normal / sqrt(gamma)``. ``W^(-1/df) sqrt(1 - W^(2/df))``
  is formed as ``exp(x/2) sqrt(-expm1(-x))``, ``x = -2 log(W) / df``, so
  nothing overflows before ``t`` itself does and large ``df`` keeps full
  relative precision.
  """
  u = utils.padded_draw(jax.random.uniform, key, (2, *shape), dtype)
  x = -2.0 * jnp.log1p(-u[0]) / p.df            # W = 1 - u in (0, 1]
  t_abs = jnp.sqrt(p.df) * jnp.exp(0.5 * x) * jnp.sqrt(-jnp.expm1(-x))
  t = t_abs * jnp.cos((2.0 * jnp.pi) * u[1])
  return utils.mask_invalid(_valid(p), p.loc + p.scale * t)


def _velocity(p: Params, z, p_dot: Params):
  t = (z - p.loc) / p.scale
  dt_ddf = _special.student_t_velocity(p.df, t)
  return (p_dot.loc + t * p_dot.scale
          + p.scale * jnp.where(jnp.isinf(t), 0.0, dt_ddf) * p_dot.df)


def _t_cdf(df, t):
  """Student-t CDF of the standard variable via the incomplete beta function."""
  t2 = t * t
  # Near the centre I_{t^2/(df+t^2)}(1/2, df/2) keeps full precision; in the
  # tails the complement I_{df/(df+t^2)}(df/2, 1/2) does.
  centre = t2 < df
  inner = 0.5 * jax.scipy.special.betainc(0.5, 0.5 * df, t2 / (df + t2))
  tail = 0.5 * jax.scipy.special.betainc(0.5 * df, 0.5, df / (df + t2))
  upper_half = jnp.where(centre, 0.5 + inner, 1.0 - tail)
  lower_half = jnp.where(centre, 0.5 - inner, tail)
  return jnp.where(t > 0, upper_half, lower_half)


def _standardize(p: Params, z):
  return _t_cdf(p.df, (z - p.loc) / p.scale)


def _sf_value(p: Params, z):
  return _t_cdf(p.df, (p.loc - z) / p.scale)  # By symmetry, S(t) = F(-t).


def _log_density(p: Params, z):
  df, loc, scale = p
  t = (z - loc) / scale
  gammaln = jax.scipy.special.gammaln
  # log1p(t^2/df), without forming t^2 where it would overflow (float32
  # |t| > 1e19): 2 log|t| - log df + log1p(df/t^2) far out.
  far = jnp.abs(t) > 1e4 * jnp.sqrt(df)
  t_far = jnp.where(far, jnp.abs(t), 1.0)
  t_near = jnp.where(far, 0.0, t)
  log1p_q = jnp.where(far, 2.0 * jnp.log(t_far) - jnp.log(df)
                      + jnp.log1p((df / t_far) / t_far),
                      jnp.log1p(t_near * t_near / df))
  return (gammaln(0.5 * (df + 1)) - gammaln(0.5 * df) - 0.5 * jnp.log(jnp.pi * df)
          - jnp.log(scale) - 0.5 * (df + 1) * log1p_q)


def _log_tail(p: Params, z):
  """``((lower, log F), (upper, log S))``: the tails ``t^2 >= 4 df`` in log space.

  ``S(t) = I_x(a, 1/2) / 2`` with ``a = df/2``, ``x = df/(df + t^2) <= 1/5``
  (the fast side of the continued fraction: ``x < (a+1)/(a+5/2)``), and
  ``I_x(a, b) = x^a (1-x)^b C / (a B(a, b))`` (DLMF 8.17.22), so the tail
  mass never underflows: float32 keeps ``log S`` where ``S < 1e-38``.
  ``F(-t) = S(t)`` gives the lower tail.
  """
  df, loc, scale = p
  t = (z - loc) / scale
  a = 0.5 * df
  t_abs = jnp.maximum(jnp.abs(t), 1.0)
  tail = (t * t >= 4.0 * df) & jnp.isfinite(t)
  r = (df / t_abs) / t_abs                      # df / t^2, may underflow
  log1p_r = jnp.log1p(r)
  log_x = jnp.log(df) - 2.0 * jnp.log(t_abs) - log1p_r
  x = jnp.where(tail, jnp.exp(log_x), 0.1)
  c, _, _ = _special_beta.cf_with_partials(x, _special_beta.n_pairs(x.dtype),
                                            (a, 0.5))
  gammaln = jax.scipy.special.gammaln
  log_beta = gammaln(a) + gammaln(0.5) - gammaln(a + 0.5)
  log_s = (jnp.log(0.5) + a * log_x - 0.5 * log1p_r - jnp.log(a) - log_beta
           + jnp.log(c))
  return (tail & (t < 0), log_s), (tail & (t > 0), log_s)


# The t CDF has no JAX derivative in df: the sampler's rule supplies it.
_cdf, _log_cdf, _log_sf, _log_terms = _implicit.cdf_with_rule(
    _standardize, _sf_value, _log_density, _velocity, _log_tail)

SUPPORT = (-float("inf"), float("inf"))
event_ndims = 0
log_terms, velocity = _family.rule_hooks(
    "student_t", _prepare, _log_terms, _velocity,
    good="irt.student_t.Params(4.0, 0.0, 1.0)", z="0.5", tangent="irt.student_t.Params(0.0, 1.0, 0.0)")
validate, is_valid, support = _family.members(
    "student_t", _prepare, _valid, _family.REAL,
    good="irt.student_t.Params(3.0)", bad="irt.student_t.Params(-1.0)",
    error="df must be positive and finite, got -1.0")


def sample(key: ArrayLike, params: Params, shape=None, dtype=None, *,
           mode: str = "vjp") -> jax.Array:
  r"""Draws from Student-t(df, loc, scale) with implicit gradients.

  Args:
    key: a ``jax.random.key`` or legacy ``jax.random.PRNGKey``.
    params: :class:`Params`.
    shape: output shape (parameters broadcast to it); default their shape.
    dtype: floating dtype; default the parameters' (or JAX's default float).
    mode: ``"vjp"`` (default, ``jax.custom_vjp``) or ``"jvp"``
      (``jax.custom_jvp``, for ``jax.jvp`` / ``jax.hessian``). Same rule.

  Returns:
    Draws of shape ``shape``; NaN where a traced parameter is invalid.

  >>> import jax, irt_jax as irt
  >>> key = jax.random.key(0)
  >>> f = lambda s: irt.student_t.sample(key, irt.student_t.Params(5.0, 0.0, s), (4000,))
  >>> g = jax.grad(lambda s: (f(s) ** 2).mean())(1.0)  # d/ds s^2 df/(df-2) = 10/3
  >>> bool(abs(g - 10 / 3) < 0.5)
  True
  """
  p, dtype = _prepare(params, dtype)
  shape = utils.resolve_shape(
      shape, utils.broadcast_batch_shape(df=p.df, loc=p.loc, scale=p.scale))
  return _implicit.draw_with_rule(_raw_sample, _velocity, key, p, shape, dtype,
                                  mode)


def cdf(params: Params, z: ArrayLike) -> jax.Array:
  """The Student-t CDF at ``(z - loc) / scale``.

  Differentiable in ``z`` and in all parameters (``dF/ddf`` from the same
  kernel as the sampler's gradient).

  >>> import irt_jax as irt
  >>> import irt_jax as irt
  >>> round(float(irt.student_t.cdf(irt.student_t.Params(1.0), 1.0)), 6)  # Cauchy
  0.75
  """
  p, dtype = _prepare(params)
  return _cdf(p, jnp.asarray(z, dtype))


def log_cdf(params: Params, z: ArrayLike) -> jax.Array:
  """``log F(z)``, accurate far in the lower tail; differentiable.

  >>> import irt_jax as irt
  >>> round(float(irt.student_t.log_cdf(irt.student_t.Params(1.0), -1.0)), 4)  # log 1/4
  -1.3863
  """
  p, dtype = _prepare(params)
  return _log_cdf(p, jnp.asarray(z, dtype))


def log_sf(params: Params, z: ArrayLike) -> jax.Array:
  """``log(1 - F(z))``, accurate far in the upper tail; differentiable.

  >>> import irt_jax as irt
  >>> round(float(irt.student_t.log_sf(irt.student_t.Params(1.0), 1.0)), 4)  # log 1/4
  -1.3863
  """
  p, dtype = _prepare(params)
  return _log_sf(p, jnp.asarray(z, dtype))


def log_prob(params: Params, z: ArrayLike) -> jax.Array:
  """``lgamma((df+1)/2) - lgamma(df/2) - log(pi df)/2 - log scale
  - (df+1)/2 log(1 + t^2/df)``.

  >>> import irt_jax as irt
  >>> round(float(irt.student_t.log_prob(irt.student_t.Params(1.0), 0.0)), 6)  # -log pi
  -1.14473
  """
  p, dtype = _prepare(params)
  return _log_density(p, jnp.asarray(z, dtype))


def mean(params: Params) -> jax.Array:
  """``loc`` for ``df > 1``, else NaN (undefined).

  >>> import irt_jax as irt
  >>> irt.student_t.mean(irt.student_t.Params([0.5, 3.0], 1.0)).tolist()
  [nan, 1.0]
  """
  (df, loc, scale), _ = _prepare(params)
  shape = jnp.broadcast_shapes(df.shape, loc.shape, scale.shape)
  return jnp.broadcast_to(utils.mask_invalid(df > 1, loc), shape)


def variance(params: Params) -> jax.Array:
  """``scale^2 df / (df - 2)`` for ``df > 2``; inf for ``1 < df <= 2``; NaN below.

  >>> import irt_jax as irt
  >>> irt.student_t.variance(irt.student_t.Params([0.5, 1.5, 4.0])).tolist()
  [nan, inf, 2.0]
  """
  (df, loc, scale), _ = _prepare(params)
  safe = jnp.where(df > 2, df, 3.0)
  var = scale ** 2 * safe / (safe - 2)
  var = utils.mask_invalid(df > 1, jnp.where(df > 2, var, jnp.inf))
  return jnp.broadcast_to(var, jnp.broadcast_shapes(df.shape, loc.shape, scale.shape))
