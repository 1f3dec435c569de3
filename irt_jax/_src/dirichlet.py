r"""Dirichlet(concentration) over the last axis, built on log-gamma draws.

``z = softmax(log G)`` with ``log G_k`` from :func:`irt_jax.gamma.sample_log`,
so the gradient is the chain rule through the implicit log-gamma rule (as
``jax.random.dirichlet`` does through gammas), but in log space: concentrations
down to 1e-30 give finite draws and finite gradients, where normalising
``G_k / sum G`` underflows to ``0/0`` (jax issue #18129).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from irt_jax._src import family as _family
from irt_jax._src import gamma as _gamma
from irt_jax._src import utils


class Params(NamedTuple):
  """Parameters of a Dirichlet distribution (a pytree).

  Attributes:
    concentration: ``alpha > 0`` with the event axis last (shape ``[..., K]``,
      ``K >= 2``).

  >>> import irt_jax as irt
  >>> irt.dirichlet.Params([1.0, 2.0, 3.0])
  Params(concentration=[1.0, 2.0, 3.0])
  """
  concentration: ArrayLike


def _prepare(params: Params, dtype=None) -> tuple[Params, jnp.dtype]:
  if not isinstance(params, Params):
    raise TypeError(f"params: expected irt_jax.dirichlet.Params, got {type(params).__name__}")
  dtype = utils.float_dtype(dtype, params.concentration)
  alpha = utils.as_float("concentration", params.concentration, dtype)
  if alpha.ndim < 1 or alpha.shape[-1] < 2:
    raise ValueError(
        "concentration: expected the event axis last with at least 2 categories "
        f"(shape [..., K], K >= 2), got shape {alpha.shape}")
  utils.check_positive("concentration", alpha)
  return Params(alpha), dtype


def _valid(p: Params) -> jax.Array:
  alpha = p.concentration
  return jnp.all((alpha > 0) & jnp.isfinite(alpha), axis=-1)


event_ndims = 1
validate, is_valid, support = _family.members(
    "dirichlet", _prepare, _valid, _family.SIMPLEX,
    good="irt.dirichlet.Params([1.0, 2.0])", bad="irt.dirichlet.Params([1.0, -1.0])",
    error="concentration must be positive and finite, got -1.0")


def sample(key: ArrayLike, params: Params, shape=None, dtype=None, *,
           mode: str = "vjp") -> jax.Array:
  r"""Draws from Dirichlet(concentration) with implicit gradients.

  Args:
    key: a ``jax.random.key`` or legacy ``jax.random.PRNGKey``.
    params: :class:`Params` with concentration of shape ``[..., K]``.
    shape: batch shape (the event axis ``K`` is appended, as in
      ``jax.random.dirichlet``); the concentration's batch shape must broadcast
      to it. Default: the concentration's batch shape.
    dtype: floating dtype; default the concentration's.
    mode: ``"vjp"`` (default) or ``"jvp"`` (forward mode); see
      :func:`irt_jax.implicit`.

  Returns:
    Draws of shape ``shape + (K,)`` on the simplex.

  >>> import jax, jax.numpy as jnp, irt_jax as irt
  >>> p = irt.dirichlet.Params(jnp.array([1e-4, 1e-4, 1e-4]))
  >>> g = jax.grad(lambda c: irt.dirichlet.sample(
  ...     jax.random.key(0), irt.dirichlet.Params(c), (8,))[:, 0].sum())(p.concentration)
  >>> bool(jnp.all(jnp.isfinite(g)))
  True
  """
  return jax.nn.softmax(_log_gammas(key, params, shape, dtype, mode), axis=-1)


def _log_gammas(key, params, shape, dtype, mode):
  """``log G_k ~ log Gamma(alpha_k, 1)``, shape ``shape + (K,)``: what
  :func:`sample` and :func:`sample_log` normalise."""
  (alpha,), dtype = _prepare(params, dtype)
  k = alpha.shape[-1]
  shape = utils.resolve_shape(shape, alpha.shape[:-1])
  log_g = _gamma.sample_log(key, _gamma.Params(alpha, 1.0), shape + (k,), dtype,
                            mode=mode)
  return log_g


def _log_norm(alpha):
  gammaln = jax.scipy.special.gammaln
  return jnp.sum(gammaln(alpha), -1) - gammaln(jnp.sum(alpha, -1))


def log_prob(params: Params, z: ArrayLike) -> jax.Array:
  """``sum_k (alpha_k - 1) log z_k - log B(alpha)``.

  >>> import jax.numpy as jnp, irt_jax as irt
  >>> p = irt.dirichlet.Params(jnp.array([1.0, 1.0, 1.0]))
  >>> round(float(irt.dirichlet.log_prob(p, jnp.array([0.2, 0.3, 0.5]))), 6)  # log 2
  0.693147
  """
  (alpha,), dtype = _prepare(params)
  alpha, z = utils.lift_all(alpha, jnp.asarray(z, dtype))  # rank-explicit
  return jnp.sum(jax.scipy.special.xlogy(alpha - 1, z), -1) - _log_norm(alpha)


def sample_log(key: ArrayLike, params: Params, shape=None, dtype=None, *,
               mode: str = "vjp") -> jax.Array:
  r"""Draws ``y = log z`` for ``z ~ Dirichlet(concentration)``.

  ``y = log_softmax(log G)`` with the log-gamma draws ``log G_k`` of
  :func:`irt_jax.gamma.sample_log`, the same ones :func:`sample` normalises:
  the same key gives ``exp(sample_log) == sample`` up to rounding. ``y`` stays
  finite where ``z_k`` underflows to 0 (concentrations well below 1 in
  float32), and so does :func:`log_prob_log` of it.

  Gradient: the chain rule through the implicit log-gamma draws (as
  :func:`sample`).

  Args: as :func:`sample`.

  Returns:
    Draws of shape ``shape + (K,)`` with ``logsumexp(y, -1) == 0``.

  >>> import jax, jax.numpy as jnp, irt_jax as irt
  >>> p = irt.dirichlet.Params(jnp.array([1e-3, 1e-3, 1e-3]))
  >>> y = irt.dirichlet.sample_log(jax.random.key(0), p, (1000,), jnp.float32)
  >>> bool(jnp.all(jnp.isfinite(irt.dirichlet.log_prob_log(p, y))))
  True
  """
  return jax.nn.log_softmax(_log_gammas(key, params, shape, dtype, mode), axis=-1)


def log_prob_log(params: Params, y: ArrayLike) -> jax.Array:
  r"""Log density of ``y = log z``, ``z ~ Dirichlet(alpha)``, on the
  (K-1)-dimensional set ``{y : sum_k exp(y_k) = 1}``:

  .. math::  \log p(y) = \sum_{k=1}^{K} \alpha_k y_k - \log B(\alpha)
             = \text{log\_prob}(e^y) + \sum_{k=1}^{K} y_k .

  The reference measure is ``dy_1 ... dy_{K-1} / z_K`` (in ``z``:
  ``dz_1 ... dz_{K-1} / prod_k z_k``, the one that does not depend on which
  coordinate is dropped). The density of the first K-1 coordinates
  ``(y_1, ..., y_{K-1})`` w.r.t. Lebesgue measure (``z_K = 1 - sum_{k<K} z_k``,
  Jacobian ``prod_{k<K} z_k``) is ``log_prob_log(y) - y_K``. Any fixed reference
  measure makes an ELBO exact: ``E_q[log p_prior(y) - log q(y)]`` with both
  densities from this function is ``-KL(q || p_prior)``, as in ``z``. ``y`` is
  not checked to lie on the set (``logsumexp(y) = 0``), as :func:`log_prob` does
  not check ``sum(z) = 1``.

  >>> import jax.numpy as jnp, irt_jax as irt
  >>> p = irt.dirichlet.Params(jnp.array([1.0, 1.0, 1.0]))
  >>> y = jnp.log(jnp.array([0.2, 0.3, 0.5]))   # log 2 + log(0.2 * 0.3 * 0.5)
  >>> round(float(irt.dirichlet.log_prob_log(p, y)), 5)
  -2.81341
  """
  (alpha,), dtype = _prepare(params)
  alpha, y = utils.lift_all(alpha, jnp.asarray(y, dtype))  # rank-explicit
  return jnp.sum(alpha * y, -1) - _log_norm(alpha)


def mean(params: Params) -> jax.Array:
  """``alpha / sum(alpha)``.

  >>> import irt_jax as irt
  >>> irt.dirichlet.mean(irt.dirichlet.Params([1.0, 3.0])).tolist()
  [0.25, 0.75]
  """
  (alpha,), _ = _prepare(params)
  return alpha / jnp.sum(alpha, -1, keepdims=True)


def variance(params: Params) -> jax.Array:
  """``alpha_k (a0 - alpha_k) / (a0^2 (a0 + 1))``, ``a0 = sum(alpha)``.

  >>> import irt_jax as irt
  >>> v = irt.dirichlet.variance(irt.dirichlet.Params([1.0, 1.0]))  # uniform: 1/12
  >>> [round(float(x), 6) for x in v]
  [0.083333, 0.083333]
  """
  (alpha,), _ = _prepare(params)
  a0 = jnp.sum(alpha, -1, keepdims=True)
  return alpha * (a0 - alpha) / (a0 * a0 * (a0 + 1))
