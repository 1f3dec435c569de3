r"""Normal(loc, scale) with implicit reparameterization gradients.

The draw is ``z = loc + scale * eps``; its gradient comes from the shared rule
through the CDF ``Phi((z - loc) / scale)``, which gives exactly the explicit
reparameterization ``dz/dloc = 1``, ``dz/dscale = (z - loc) / scale`` (the
tests check the two agree). It is the reference case of the machinery.
"""

from __future__ import annotations

from typing import NamedTuple

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from irt_jax._src import family as _family
from irt_jax._src import implicit as _implicit
from irt_jax._src import utils
from irt_jax._src.special.normal import HALF_LOG_2PI, log_ndtr, log_ndtri_lower


class Params(NamedTuple):
  """Parameters of a normal distribution (a pytree).

  Attributes:
    loc: mean, any real.
    scale: standard deviation, > 0.

  >>> import irt_jax as irt
  >>> irt.normal.Params(scale=2.0)
  Params(loc=0.0, scale=2.0)
  """
  loc: ArrayLike = 0.0
  scale: ArrayLike = 1.0


def _prepare(params: Params, dtype=None) -> tuple[Params, jnp.dtype]:
  if not isinstance(params, Params):
    raise TypeError(f"params: expected irt_jax.normal.Params, got {type(params).__name__}")
  dtype = utils.float_dtype(dtype, *params)
  loc = utils.as_float("loc", params.loc, dtype)
  scale = utils.as_float("scale", params.scale, dtype)
  utils.check_finite("loc", loc)
  utils.check_positive("scale", scale)
  utils.broadcast_batch_shape(loc=loc, scale=scale)
  return Params(loc, scale), dtype


def _valid(p: Params) -> jax.Array:
  return jnp.isfinite(p.loc) & (p.scale > 0) & jnp.isfinite(p.scale)


def _raw_sample(key, p: Params, shape, dtype):
  eps = utils.padded_draw(jax.random.normal, key, shape, dtype)
  return utils.mask_invalid(_valid(p), p.loc + p.scale * eps)


def cdf(params: Params, z: ArrayLike) -> jax.Array:
  r"""``Phi((z - loc) / scale)``, the normal CDF.

  >>> import irt_jax as irt
  >>> float(irt.normal.cdf(irt.normal.Params(0.0, 1.0), 0.0))
  0.5
  """
  p, dtype = _prepare(params, None)
  z = jnp.asarray(z, jnp.result_type(dtype, z))
  return jax.scipy.special.ndtr((z - p.loc) / p.scale)


def _velocity(p: Params, z, p_dot: Params):
  # -(dPhi/dparams . t) / q in closed form: the CDF's derivatives cancel to the
  # explicit reparameterization, and none of Phi's code reaches the program.
  return p_dot.loc + p_dot.scale * ((z - p.loc) / p.scale)

SUPPORT = (-float("inf"), float("inf"))
event_ndims = 0
validate, is_valid, support = _family.members(
    "normal", _prepare, _valid, _family.REAL,
    good="irt.normal.Params(0.0, 1.0)", bad="irt.normal.Params(0.0, -1.0)",
    error="scale must be positive and finite, got -1.0")


def log_cdf(params: Params, z: ArrayLike) -> jax.Array:
  r"""``log Phi((z - loc) / scale)``, accurate far in the lower tail.

  >>> import irt_jax as irt
  >>> round(float(irt.normal.log_cdf(irt.normal.Params(0.0, 1.0), -20.0)), 4)
  -203.917
  """
  p, dtype = _prepare(params, None)
  z = jnp.asarray(z, jnp.result_type(dtype, z))
  return log_ndtr((z - p.loc) / p.scale)


def log_sf(params: Params, z: ArrayLike) -> jax.Array:
  r"""``log(1 - Phi((z - loc) / scale))``, accurate far in the upper tail.

  >>> import irt_jax as irt
  >>> round(float(irt.normal.log_sf(irt.normal.Params(0.0, 1.0), 20.0)), 4)
  -203.917
  """
  p, dtype = _prepare(params, None)
  z = jnp.asarray(z, jnp.result_type(dtype, z))
  return log_ndtr((p.loc - z) / p.scale)


def sample(key: ArrayLike, params: Params, shape=None, dtype=None, *,
           mode: str = "vjp") -> jax.Array:
  r"""Draws from Normal(loc, scale) with implicit gradients.

  Args:
    key: a ``jax.random.key`` or legacy ``jax.random.PRNGKey``.
    params: :class:`Params`.
    shape: output shape; the parameters must broadcast to it. Default: their
      broadcast shape.
    dtype: floating dtype; default: the parameters' (or JAX's default float).
    mode: ``"vjp"`` (``jax.custom_vjp``, reverse mode) or ``"jvp"``
      (``jax.custom_jvp``: forward mode, ``jax.hessian``). Same rule.

  Returns:
    Draws of shape ``shape``; invalid traced parameters give NaN.

  >>> import jax, irt_jax as irt
  >>> key = jax.random.key(0)
  >>> g = jax.grad(lambda s: irt.normal.sample(key, irt.normal.Params(1.0, s)))(2.0)
  >>> z = irt.normal.sample(key, irt.normal.Params(1.0, 2.0))
  >>> bool(abs(g - (z - 1.0) / 2.0) < 1e-6)
  True
  """
  p, dtype = _prepare(params, dtype)
  shape = utils.resolve_shape(shape, utils.broadcast_batch_shape(**p._asdict()))
  return _implicit.draw_with_rule(_raw_sample, _velocity, key, p, shape, dtype,
                                  mode)


def log_prob(params: Params, z: ArrayLike) -> jax.Array:
  """Log density ``-((z-loc)/scale)^2/2 - log(scale) - log(2 pi)/2``.

  >>> import irt_jax as irt
  >>> round(float(irt.normal.log_prob(irt.normal.Params(0.0, 1.0), 0.0)), 6)
  -0.918939
  """
  p, dtype = _prepare(params, None)
  x = (jnp.asarray(z, dtype) - p.loc) / p.scale
  return -0.5 * x * x - jnp.log(p.scale) - jnp.asarray(HALF_LOG_2PI, dtype)


def mean(params: Params) -> jax.Array:
  """``loc``, broadcast to the batch shape.

  >>> import irt_jax as irt
  >>> irt.normal.mean(irt.normal.Params([0.0, 1.0], 2.0)).tolist()
  [0.0, 1.0]
  """
  p, _ = _prepare(params)
  return jnp.broadcast_to(p.loc, jnp.broadcast_shapes(p.loc.shape, p.scale.shape))


def variance(params: Params) -> jax.Array:
  """``scale ** 2``, broadcast to the batch shape.

  >>> import irt_jax as irt
  >>> irt.normal.variance(irt.normal.Params([0.0, 1.0], 2.0)).tolist()
  [4.0, 4.0]
  """
  p, _ = _prepare(params)
  return jnp.broadcast_to(p.scale ** 2,
                          jnp.broadcast_shapes(p.loc.shape, p.scale.shape))


# ------------------------------------------------ hooks for composite families


def _log_terms(params: Params, x: ArrayLike) -> tuple[jax.Array, jax.Array, jax.Array]:
  # (log q, log Phi, log(1 - Phi)) at x from one standardization.
  loc, scale = params
  t = (x - loc) / scale
  return -0.5 * t * t - jnp.log(scale) - HALF_LOG_2PI, log_ndtr(t), log_ndtr(-t)


log_terms, velocity = _family.rule_hooks(
    "normal", _prepare, _log_terms, _velocity,
    good="irt.normal.Params(0.5, 2.0)", z="1.5", tangent="irt.normal.Params(1.0, 1.0)")


def approx_quantile(params: Params, log_p: ArrayLike, upper: ArrayLike) -> jax.Array:
  """A first guess ``x`` with ``log Phi((x-loc)/scale) ~= log_p`` (``upper``:
  the log survival function), ``log_p <= log 1/2``; for root solvers.

  >>> import math, irt_jax as irt
  >>> round(float(irt.normal.approx_quantile(irt.normal.Params(1.0, 2.0), math.log(0.025), True)), 3)
  4.92
  """
  x = log_ndtri_lower(log_p)
  return params.loc + params.scale * jnp.where(upper, -x, x)


def moments_between(params: Params, low: ArrayLike, high: ArrayLike,
                    log_mass: ArrayLike) -> tuple[jax.Array, jax.Array]:
  r"""Mean and variance of the normal restricted to ``[low, high]``.

  With ``alpha, beta`` the standardized ends and ``Z = exp(log_mass) =
  Phi(beta) - Phi(alpha)``: mean ``loc + scale (phi(alpha) - phi(beta))/Z``,
  variance ``scale^2 (1 + (alpha phi(alpha) - beta phi(beta))/Z -
  ((phi(alpha) - phi(beta))/Z)^2)``; infinite ends contribute 0. Ratios are
  formed in log space (finite 40 sd out); the variance's bracket cancels for
  ends far in one tail (relative accuracy about ``eps alpha^4``).

  >>> import irt_jax as irt
  >>> m, v = irt.normal.moments_between(irt.normal.Params(0.0, 1.0), 0.0,
  ...                                   float("inf"), -0.6931471805599453)
  >>> round(float(m), 6), round(float(v), 6)   # sqrt(2/pi), 1 - 2/pi
  (0.797885, 0.36338)
  """
  loc, scale = params

  def ratio(x):
    is_open = ~jnp.isfinite(x)
    t = jnp.where(is_open, 0.0, (x - loc) / scale)
    r = jnp.exp(-0.5 * t * t - HALF_LOG_2PI - log_mass)
    return jnp.where(is_open, 0.0, r), jnp.where(is_open, 0.0, t * r)

  ra, ta = ratio(jnp.asarray(low))
  rb, tb = ratio(jnp.asarray(high))
  return (loc + scale * (ra - rb),
          scale ** 2 * (1 + ta - tb - (ra - rb) ** 2))


WEAK_DERIVATIVE_FIELDS = ("loc", "scale")


def weak_derivative(params: Params, key: jax.Array, fields, coupling: bool):
  r"""Weak derivatives of N(loc, scale) (Mohamed et al. 2020, table 1).

  Returns ``(z, parts)``: a draw ``z`` and for each field asked for
  ``(c, z_plus, z_minus)`` with ``d q/d field = c (q+ - q-)`` and draws of
  ``q+``, ``q-`` shaped like ``z``:

  * ``loc``: ``c = 1/(scale sqrt(2 pi))``, ``q+- = loc +- scale R``,
    ``R ~ Rayleigh(1) = Weibull(2, sqrt 2)``; coupling: one ``R`` for both.
  * ``scale``: ``c = 1/scale``, ``q+ = loc + scale M`` with ``M`` the
    double-sided Maxwell ``+-chi_3``, ``q- = N(loc, scale)``; coupling:
    ``q- = loc + scale M U``, ``U ~ Uniform(0, 1)`` (``M U ~ N(0, 1)``).

  >>> import jax, irt_jax as irt
  >>> z, parts = irt.normal.weak_derivative(irt.normal.Params(0.0, 1.0),
  ...                                       jax.random.key(0), ("loc",), True)
  >>> c, plus, minus = parts["loc"]
  >>> bool((plus >= 0) & (minus <= 0))
  True
  """
  k0, k1, k2, k3, k4 = jax.random.split(key, 5)
  z = jax.lax.stop_gradient(sample(k0, params))
  shape, dtype = z.shape, z.dtype
  loc = jnp.broadcast_to(params.loc, shape)
  scale = jnp.broadcast_to(params.scale, shape)
  parts = {}
  if "loc" in fields:
    r_plus = jnp.sqrt(2 * jax.random.exponential(k1, shape, dtype))
    r_minus = (r_plus if coupling
               else jnp.sqrt(2 * jax.random.exponential(k2, shape, dtype)))
    parts["loc"] = (1 / (scale * math.sqrt(2 * math.pi)),
                    loc + scale * r_plus, loc - scale * r_minus)
  if "scale" in fields:
    chi3 = jnp.sqrt(jnp.sum(jax.random.normal(k3, shape + (3,), dtype) ** 2, -1))
    ks, ku = jax.random.split(k4)
    m = jnp.where(jax.random.bernoulli(ks, 0.5, shape), chi3, -chi3)
    eps = (m * jax.random.uniform(ku, shape, dtype) if coupling
           else jax.random.normal(ku, shape, dtype))
    parts["scale"] = (1 / scale, loc + scale * m, loc + scale * eps)
  return z, parts
