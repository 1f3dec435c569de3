r"""Normal(loc, scale) with implicit reparameterization gradients.

The draw is ``z = loc + scale * eps``; its gradient comes from the shared rule
through the CDF ``Phi((z - loc) / scale)``, which gives exactly the explicit
reparameterization ``dz/dloc = 1``, ``dz/dscale = (z - loc) / scale`` (the
tests check the two agree). It is the reference case of the machinery.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from irt_jax._src import implicit as _implicit
from irt_jax._src import utils
from irt_jax._src.special.normal import log_ndtr


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


def _standardize(p: Params, z: jax.Array) -> jax.Array:
  return jax.scipy.special.ndtr((z - p.loc) / p.scale)


_velocity = _implicit.velocity_from_cdf(_standardize)

SUPPORT = (-float("inf"), float("inf"))


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
  return -0.5 * x * x - jnp.log(p.scale) - 0.5 * jnp.log(2 * jnp.pi).astype(dtype)


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
