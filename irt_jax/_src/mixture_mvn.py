r"""Mixtures of full-covariance multivariate normals (``irt.mixture.multivariate_normal``).

Its own family (the contract of :mod:`irt_jax._src.family`) that provides the
conditional terms of Graves' (2016) transform; the rule is the mixture
module's :func:`irt_jax._src.mixture.graves_velocity`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from irt_jax._src import family as _family
from irt_jax._src import implicit as _implicit
from irt_jax._src import mixture as _mixture
from irt_jax._src import utils
from irt_jax._src.mixture import Params
from irt_jax._src.special.normal import HALF_LOG_2PI, log_ndtr


class MultivariateNormalParams(NamedTuple):
  """Full-covariance normal components (a pytree).

  Attributes:
    loc: means, shape ``batch + (K, D)``.
    scale_tril: lower-triangular Cholesky factors ``L_k`` of the covariances
      ``L_k L_k^T``, shape ``batch + (K, D, D)``; positive diagonal (the
      strict upper triangle is ignored).

  >>> from irt_jax import mixture
  >>> c = mixture.MultivariateNormalParams([[0.0, 0.0]], [[[1.0, 0.0], [0.5, 1.0]]])
  >>> c.loc
  [[0.0, 0.0]]
  """
  loc: ArrayLike
  scale_tril: ArrayLike


class MultivariateNormalMixture:
  r"""Mixture of full-covariance multivariate normals (``mixture.multivariate_normal``).

  Components ``N(loc_k, L_k L_k^T)``. Under component ``k`` the conditional
  law of ``z_d`` given ``z_<d`` is normal with mean
  ``loc_kd + sum_{j<d} L_kdj eps_kj`` and sd ``L_kdd``, where
  ``eps_k = L_k^{-1}(z - loc_k)`` (forward substitution), so
  ``F_k(z_d | z_<d) = Phi(eps_kd)``; Graves' transform
  ``T_d = sum_k w_k(z_<d) Phi(eps_kd)`` with the responsibilities
  ``w_k(z_<d) ∝ w_k N(z_<d; loc_k,<d, Sigma_k,<d<d)`` is triangular, and the
  implicit rule is the same triangular solve per draw as for factorized
  components. Gradients reach the logits, ``loc`` and every entry of
  ``scale_tril``. (TFP's reparameterized mixture fails with such components,
  its issue #1548.)

  >>> import jax, jax.numpy as jnp
  >>> from irt_jax import mixture
  >>> mvn = mixture.multivariate_normal
  >>> c = mixture.MultivariateNormalParams(jnp.array([[0.0, 0.0], [3.0, 3.0]]),
  ...                                      jnp.array([[[1.0, 0.0], [0.5, 1.0]]] * 2))
  >>> p = mixture.Params(jnp.zeros(2), c)
  >>> mvn.sample(jax.random.key(0), p, (4,)).shape
  (4, 2)
  >>> g = jax.grad(lambda q: mvn.sample(jax.random.key(0), q, (100,)).mean())(p)
  >>> g.components.scale_tril.shape
  (2, 2, 2)
  """

  Params = Params
  event_ndims = 1
  SUPPORT = (-float("inf"), float("inf"))
  __name__ = "irt_jax.mixture.multivariate_normal"

  def __repr__(self) -> str:
    return self.__name__

  def _prepare(self, params: Params, dtype=None):
    if not isinstance(params, Params):
      raise TypeError(f"params: expected irt_jax.mixture.Params, got "
                      f"{type(params).__name__}")
    comps = params.components
    if not isinstance(comps, MultivariateNormalParams):
      raise TypeError("components: expected irt_jax.mixture.MultivariateNormalParams"
                      f", got {type(comps).__name__}")
    dtype = utils.float_dtype(dtype, params.logits, *comps)
    logits = utils.as_float("logits", params.logits, dtype)
    loc = utils.as_float("components.loc", comps.loc, dtype)
    tril = utils.as_float("components.scale_tril", comps.scale_tril, dtype)
    if logits.ndim < 1:
      raise ValueError(
          f"logits: expected shape batch + (K,) with the mixture axis last, got "
          f"shape {logits.shape}")
    k = logits.shape[-1]
    if loc.ndim < 2 or loc.shape[-2] != k:
      raise ValueError(
          f"components.loc: expected shape batch + (K, D) with K = {k} (from "
          f"logits{list(logits.shape)}), got {loc.shape}")
    size = loc.shape[-1]
    if tril.ndim < 3 or tril.shape[-3:] != (k, size, size):
      raise ValueError(
          f"components.scale_tril: expected shape batch + (K, D, D) = "
          f"batch + {(k, size, size)}, got {tril.shape}")
    utils.check_finite("logits", logits)
    utils.check_finite("components.loc", loc)
    utils.check_finite("components.scale_tril", jnp.tril(tril))
    utils.check_positive("components.scale_tril diagonal",
                         jnp.diagonal(tril, axis1=-2, axis2=-1))
    try:
      batch = tuple(jnp.broadcast_shapes(logits.shape[:-1], loc.shape[:-2],
                                         tril.shape[:-3]))
    except ValueError as e:
      raise ValueError(
          f"logits{list(logits.shape)}, components.loc{list(loc.shape)} and "
          f"components.scale_tril{list(tril.shape)}: batch shapes do not "
          "broadcast") from e
    return Params(logits, MultivariateNormalParams(loc, tril)), dtype, batch, (size,)

  def _standardized(self, comps, z):
    """``eps_k = L_k^{-1}(z - loc_k)`` and ``log diag L_k``, ``[..., K, D]``."""
    zk, loc = utils.lift_all(z[..., None, :], comps.loc)  # rank-explicit
    diff = zk - loc
    tril = utils.lift(comps.scale_tril, diff.ndim + 1)
    # Forward substitution unrolled over the (static) event size with
    # elementwise ops: no batched triangular-solve kernel (XLA:CPU was seen to
    # stall on batched solves inside large second-order programs). On every
    # backend; harmless on GPU/TPU (D static and small, fused elementwise ops).
    eps = []
    for d in range(diff.shape[-1]):
      acc = diff[..., d]
      for j in range(d):
        acc = acc - tril[..., d, j] * eps[j]
      eps.append(acc / tril[..., d, d])
    eps = jnp.stack(eps, axis=-1)
    return eps, jnp.log(jnp.diagonal(tril, axis1=-2, axis2=-1))

  def _conditional_terms(self, p: Params, z):
    eps, log_diag = self._standardized(p.components, z)
    log_q = -0.5 * eps * eps - log_diag - HALF_LOG_2PI
    return log_q, log_ndtr(eps), log_ndtr(-eps)

  def is_valid(self, params: Params) -> jax.Array:
    """``True`` where the logits, means and Cholesky factors are valid.

    >>> import jax.numpy as jnp
    >>> from irt_jax import mixture
    >>> c = mixture.MultivariateNormalParams(jnp.zeros((1, 2)), -jnp.eye(2)[None])
    >>> mixture.multivariate_normal.is_valid(mixture.Params(jnp.zeros(1), c)).tolist()
    False
    """
    return self._valid(_family.as_arrays(params))

  def support(self, params: Params) -> _family.Support:
    """All of ``R^D``.

    >>> from irt_jax import mixture
    >>> mixture.multivariate_normal.support(None).kind
    'interval'
    """
    del params
    return _family.REAL

  def _valid(self, p: Params):
    diag = jnp.diagonal(p.components.scale_tril, axis1=-2, axis2=-1)
    ok = jnp.all(jnp.isfinite(p.logits), axis=-1)
    ok &= jnp.all(jnp.isfinite(p.components.loc) & (diag > 0)
                  & jnp.all(jnp.isfinite(jnp.tril(p.components.scale_tril)), -1),
                  axis=(-2, -1))
    return ok

  def _raw_sample(self, key, p: Params, shape, dtype):
    key_k, key_z = jax.random.split(key)
    p = jax.lax.stop_gradient(p)
    batch, size = shape[:-1], shape[-1]
    idx = jax.random.categorical(key_k, p.logits, axis=-1, shape=batch)
    k = p.logits.shape[-1]
    loc = jnp.broadcast_to(p.components.loc, batch + (k, size))
    tril = jnp.broadcast_to(jnp.tril(p.components.scale_tril), batch + (k, size, size))
    loc = jnp.take_along_axis(loc, idx[..., None, None], axis=-2)[..., 0, :]
    tril = jnp.take_along_axis(tril, idx[..., None, None, None], axis=-3)[..., 0, :, :]
    eps = utils.padded_draw(jax.random.normal, key_z, shape, dtype)
    z = loc + jnp.einsum("...ij,...j->...i", tril, eps)
    valid = jnp.broadcast_to(self._valid(p), batch)[..., None]
    return utils.mask_invalid(valid, z)

  def log_prob(self, params: Params, z: ArrayLike) -> jax.Array:
    r"""``log sum_k w_k N(z; loc_k, L_k L_k^T)``.

    >>> import jax.numpy as jnp
    >>> from irt_jax import mixture
    >>> c = mixture.MultivariateNormalParams(jnp.zeros((1, 2)), jnp.eye(2)[None])
    >>> p = mixture.Params(jnp.zeros(1), c)
    >>> round(float(mixture.multivariate_normal.log_prob(p, jnp.zeros(2))), 6)
    -1.837877
    """
    p, z = self._value(params, z)
    eps, log_diag = self._standardized(p.components, z)
    log_q = jnp.sum(-0.5 * eps * eps - log_diag - HALF_LOG_2PI, axis=-1)
    log_w, log_q = utils.lift_all(jax.nn.log_softmax(p.logits, axis=-1), log_q)
    return jax.nn.logsumexp(log_w + log_q, axis=-1)

  def mean(self, params: Params) -> jax.Array:
    r"""``sum_k w_k loc_k``.

    >>> import jax.numpy as jnp
    >>> from irt_jax import mixture
    >>> c = mixture.MultivariateNormalParams(jnp.array([[0.0, 2.0], [2.0, 4.0]]),
    ...                                      jnp.stack([jnp.eye(2)] * 2))
    >>> mixture.multivariate_normal.mean(mixture.Params(jnp.zeros(2), c)).tolist()
    [1.0, 3.0]
    """
    p, _, _, _ = self._prepare(params)
    w = jax.nn.softmax(p.logits, axis=-1)[..., None]
    return jnp.sum(w * p.components.loc, axis=-2)

  def variance(self, params: Params) -> jax.Array:
    r"""Per-coordinate variance ``sum_k w_k (Sigma_k,dd + loc_kd^2) - mean_d^2``.

    >>> import jax.numpy as jnp
    >>> from irt_jax import mixture
    >>> c = mixture.MultivariateNormalParams(jnp.array([[0.0, 2.0], [2.0, 4.0]]),
    ...                                      jnp.stack([jnp.eye(2)] * 2))
    >>> mixture.multivariate_normal.variance(mixture.Params(jnp.zeros(2), c)).tolist()
    [2.0, 2.0]
    """
    p, _, _, _ = self._prepare(params)
    w = jax.nn.softmax(p.logits, axis=-1)[..., None]
    var = jnp.sum(jnp.tril(p.components.scale_tril) ** 2, axis=-1)
    m = p.components.loc
    mu = jnp.sum(w * m, axis=-2, keepdims=True)
    return jnp.sum(w * (var + (m - mu) ** 2), axis=-2)

  def _velocity(self, p: Params, z, p_dot: Params):
    # Each coordinate's terms depend on z_<d through L^-1: the dense solve.
    return _mixture.graves_velocity(self._conditional_terms, 1, p, z, p_dot)

  def sample(self, key: ArrayLike, params: Params, shape=None, dtype=None, *,
             mode: str = "vjp") -> jax.Array:
    r"""Draws with implicit gradients through Graves' transform.

    Args:
      key: a ``jax.random.key`` or legacy ``jax.random.PRNGKey``.
      params: :class:`irt_jax.mixture.Params` with
        :class:`MultivariateNormalParams` components.
      shape: output batch shape (the event axis ``D`` is appended); default
        the parameters' batch shape.
      dtype: floating dtype; default the parameters'.
      mode: ``"vjp"`` or ``"jvp"`` (forward mode). Same rule.

    >>> import jax, jax.numpy as jnp
    >>> from irt_jax import mixture
    >>> c = mixture.MultivariateNormalParams(jnp.zeros((1, 3)), jnp.eye(3)[None])
    >>> mixture.multivariate_normal.sample(jax.random.key(0), mixture.Params(jnp.zeros(1), c), (5,)).shape
    (5, 3)
    """
    p, dtype, batch, event = self._prepare(params, dtype)
    shape = utils.resolve_shape(shape, batch) + event
    return _implicit.draw_with_rule(self._raw_sample, self._velocity, key, p,
                                    shape, dtype, mode)

  def _value(self, params, z):
    p, dtype, _, event = self._prepare(params)
    z = jnp.asarray(z, jnp.result_type(dtype, z))
    if z.ndim < 1 or z.shape[-1:] != event:
      raise ValueError(f"value: expected a last axis of size D = {event[0]}, got "
                       f"shape {z.shape}")
    return p, z

  def validate(self, params: Params, dtype=None) -> Params:
    """Checks ``params`` and returns them as floating arrays.

    >>> import jax.numpy as jnp
    >>> from irt_jax import mixture
    >>> c = mixture.MultivariateNormalParams(jnp.zeros((1, 2)), -jnp.eye(2)[None])
    >>> mixture.multivariate_normal.validate(mixture.Params(jnp.zeros(1), c))
    Traceback (most recent call last):
    ...
    ValueError: components.scale_tril diagonal must be positive and finite, got -1.0, -1.0
    """
    return self._prepare(params, dtype)[0]

  def cdf(self, params, z):
    """Not defined for multivariate mixtures (raises ``ValueError``).

    >>> from irt_jax import mixture
    >>> mixture.multivariate_normal.event_ndims
    1
    """
    raise ValueError("cdf: defined for univariate mixtures only (event_ndims=0)")

  log_cdf = log_sf = cdf


multivariate_normal = MultivariateNormalMixture()
