r"""Beta(concentration1, concentration0) with a direct implicit rule.

Sampling: ``x = Ga / (Ga + Gb)`` for ``Ga ~ Gamma(a)``, ``Gb ~ Gamma(b)``, formed
in log space as ``sigmoid(log Ga - log Gb)``, so tiny concentrations give draws
near 0 and 1 instead of ``0/0`` (the linear-space ratio returns 0.5 for most
draws of Beta(1e-3, 1e-3)).

Gradient: the implicit rule through the beta CDF ``I_x(a, b)`` itself,
``dx/da = -(dI_x/da) / p(x)``, by the fused kernel
:func:`irt_jax._src.special.beta.beta_velocity`. It is the Rao-Blackwellization
of the gradient obtained by differentiating the gamma ratio (what other
libraries do): ``E[g_ratio | x] = g_implicit(x)``, so the same mean with no more
variance.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from irt_jax._src import gamma as _gamma
from irt_jax._src import family as _family
from irt_jax._src import implicit as _implicit
from irt_jax._src import utils
from irt_jax._src.special import beta as _special


class Params(NamedTuple):
  """Parameters of a beta distribution (a pytree).

  Attributes:
    concentration1: ``a > 0``, the exponent of ``x``.
    concentration0: ``b > 0``, the exponent of ``1 - x``.

  >>> import irt_jax as irt
  >>> irt.beta.Params(0.5, 2.0)
  Params(concentration1=0.5, concentration0=2.0)
  """
  concentration1: ArrayLike
  concentration0: ArrayLike


def _prepare(params: Params, dtype=None) -> tuple[Params, jnp.dtype]:
  if not isinstance(params, Params):
    raise TypeError(f"params: expected irt_jax.beta.Params, got {type(params).__name__}")
  dtype = utils.float_dtype(dtype, *params)
  a = utils.as_float("concentration1", params.concentration1, dtype)
  b = utils.as_float("concentration0", params.concentration0, dtype)
  utils.check_positive("concentration1", a)
  utils.check_positive("concentration0", b)
  utils.broadcast_batch_shape(concentration1=a, concentration0=b)
  return Params(a, b), dtype


def _valid(p: Params) -> jax.Array:
  a, b = p
  return (a > 0) & jnp.isfinite(a) & (b > 0) & jnp.isfinite(b)


def _raw_sample(key, p: Params, shape, dtype):
  key_a, key_b = jax.random.split(key)
  log_ga = _gamma.log_standard_gamma(key_a, p.concentration1, shape, dtype)
  log_gb = _gamma.log_standard_gamma(key_b, p.concentration0, shape, dtype)
  return utils.mask_invalid(_valid(p), jax.nn.sigmoid(log_ga - log_gb))


def _velocity(p: Params, x, p_dot: Params):
  dx_da, dx_db = _special.beta_velocity(p.concentration1, p.concentration0, x)
  return dx_da * p_dot.concentration1 + dx_db * p_dot.concentration0


def _log_density(p: Params, x):
  a, b = p
  inside = (x >= 0) & (x <= 1)
  xs = jnp.clip(x, 0.0, 1.0)
  log_q = (jax.scipy.special.xlogy(a - 1, xs) + jax.scipy.special.xlog1py(b - 1, -xs)
           - _log_beta(a, b))
  return jnp.where(inside, log_q, -jnp.inf)


def _standardize(p: Params, x):
  return jax.scipy.special.betainc(p.concentration1, p.concentration0,
                                   jnp.clip(x, 0.0, 1.0))


def _sf_value(p: Params, x):
  # I_{1-x}(b, a) keeps relative precision where 1 - I_x(a, b) would round.
  return jax.scipy.special.betainc(p.concentration0, p.concentration1,
                                   jnp.clip(1 - x, 0.0, 1.0))


# jax.scipy.special.betainc has no derivative in a, b: the sampler's rule
# (dI_x/da,db from the beta kernel) supplies it.
_cdf, _log_cdf, _log_sf, _log_terms = _implicit.cdf_with_rule(
    _standardize, _sf_value, _log_density, _velocity)

SUPPORT = (0.0, 1.0)
event_ndims = 0
log_terms, velocity = _family.rule_hooks(
    "beta", _prepare, _log_terms, _velocity,
    good="irt.beta.Params(2.0, 3.0)", z="0.4", tangent="irt.beta.Params(1.0, 0.0)")
validate, is_valid, support = _family.members(
    "beta", _prepare, _valid, _family.interval(*SUPPORT),
    good="irt.beta.Params(2.0, 3.0)", bad="irt.beta.Params(-1.0, 1.0)",
    error="concentration1 must be positive and finite, got -1.0")


def sample(key: ArrayLike, params: Params, shape=None, dtype=None, *,
           mode: str = "vjp") -> jax.Array:
  r"""Draws from Beta(concentration1, concentration0) with implicit gradients.

  Args:
    key: a ``jax.random.key`` or legacy ``jax.random.PRNGKey``.
    params: :class:`Params`.
    shape: output shape (parameters broadcast to it); default their shape.
    dtype: floating dtype; default the parameters' (or JAX's default float).
    mode: ``"vjp"`` (default, ``jax.custom_vjp``) or ``"jvp"``
      (``jax.custom_jvp``, for ``jax.jvp`` / ``jax.hessian``). Same rule.

  Returns:
    Draws in ``[0, 1]`` of shape ``shape``; NaN where a traced parameter is
    invalid.

  >>> import jax, irt_jax as irt
  >>> key = jax.random.key(0)
  >>> f = lambda a: irt.beta.sample(key, irt.beta.Params(a, 2.0), (4000,)).mean()
  >>> g = jax.grad(f)(2.0)   # d/da E[x] = b / (a + b)^2 = 0.125
  >>> bool(abs(g - 0.125) < 0.01)
  True
  """
  p, dtype = _prepare(params, dtype)
  shape = utils.resolve_shape(
      shape, utils.broadcast_batch_shape(a=p.concentration1, b=p.concentration0))
  return _implicit.draw_with_rule(_raw_sample, _velocity, key, p, shape, dtype,
                                  mode)


def sample_logit(key: ArrayLike, params: Params, shape=None, dtype=None, *,
                 mode: str = "vjp") -> jax.Array:
  r"""Draws ``y = logit x`` for ``x ~ Beta(concentration1, concentration0)``.

  ``y = log Ga - log Gb`` from the log-space gamma draws of
  :func:`irt_jax.gamma.sample_log` (``Ga ~ Gamma(a)``, ``Gb ~ Gamma(b)``), so
  ``y`` is finite where ``x`` rounds to exactly 0 or 1 (float32 Beta(0.5, 0.5):
  about 2 draws in 1e4 are 1.0; Beta(0.05, 0.05): over a fifth), and
  :func:`log_prob_logit` of it is finite too. The same key gives
  ``sigmoid(sample_logit) == sample`` up to rounding (the same two gamma draws;
  equal to the bit in the tests).

  Gradient: the chain rule through the two implicit log-gamma draws
  (``d log G/da = -(dP(a, G)/da) / (G p(G))``, :func:`irt_jax.gamma.sample_log`'s
  rule, as :func:`irt_jax.dirichlet.sample` does). Unbiased, but not
  Rao-Blackwellized like :func:`sample`'s rule through ``I_x(a, b)``, which
  needs ``x`` strictly inside (0, 1) and so cannot serve where ``x`` rounds.

  Args: as :func:`sample`.

  Returns:
    Draws of ``logit x`` of shape ``shape``; NaN where a traced parameter is
    invalid.

  >>> import jax, jax.numpy as jnp, irt_jax as irt
  >>> p = irt.beta.Params(0.05, 0.05)
  >>> y = irt.beta.sample_logit(jax.random.key(0), p, (10_000,), jnp.float32)
  >>> bool(jnp.all(jnp.isfinite(irt.beta.log_prob_logit(p, y))))   # log_prob(x): 22% inf
  True
  """
  p, dtype = _prepare(params, dtype)
  shape = utils.resolve_shape(
      shape, utils.broadcast_batch_shape(a=p.concentration1, b=p.concentration0))
  # The same key split as _raw_sample, so the draws are sample's.
  key_a, key_b = jax.random.split(utils.check_key(key))
  log_ga = _gamma.sample_log(key_a, _gamma.Params(p.concentration1, 1.0), shape,
                             dtype, mode=mode)
  log_gb = _gamma.sample_log(key_b, _gamma.Params(p.concentration0, 1.0), shape,
                             dtype, mode=mode)
  return log_ga - log_gb


def log_prob_logit(params: Params, y: ArrayLike) -> jax.Array:
  r"""Log density of ``y = logit x``, ``x ~ Beta(a, b)`` (``a = concentration1``,
  ``b = concentration0``): the density of :func:`sample_logit`'s draws.

  .. math::  \log p(y) = a \log x + b \log(1 - x) - \log B(a, b), \quad
             \log x = -\mathrm{softplus}(-y),\ \log(1 - x) = -\mathrm{softplus}(y),

  i.e. ``log_prob(sigmoid y) + log x + log(1 - x)`` (the Jacobian
  ``dx/dy = x (1 - x)``), computed in log space so it never meets ``log 0``.
  An ELBO written in ``y``, ``E_q[log p(x | y) + log p_prior(y) - log q(y)]``
  with both densities from this function, equals the one in ``x`` exactly
  (the Jacobians cancel).

  >>> import jax.numpy as jnp, irt_jax as irt
  >>> p = irt.beta.Params(1.0, 1.0)   # uniform x: p(y) = x (1 - x), 1/4 at y = 0
  >>> round(float(jnp.exp(irt.beta.log_prob_logit(p, 0.0))), 6)
  0.25
  >>> bool(jnp.isfinite(irt.beta.log_prob_logit(irt.beta.Params(1e-3, 1e-3), 800.0)))
  True
  """
  p, dtype = _prepare(params)
  a, b, y = utils.lift_all(*p, jnp.asarray(y, dtype))  # rank-explicit
  log_x, log_1mx = -jax.nn.softplus(-y), -jax.nn.softplus(y)
  return a * log_x + b * log_1mx - _log_beta(a, b)


def cdf(params: Params, x: ArrayLike) -> jax.Array:
  """``I_x(concentration1, concentration0)``, the regularized incomplete beta.

  Differentiable in ``x`` and in both concentrations (through the same
  ``dI_x/da, db`` kernel as the sampler's gradient).

  >>> import irt_jax as irt
  >>> import irt_jax as irt
  >>> round(float(irt.beta.cdf(irt.beta.Params(2.0, 1.0), 0.5)), 6)  # x^2
  0.25
  """
  p, dtype = _prepare(params)
  return _cdf(p, jnp.asarray(x, dtype))


def log_cdf(params: Params, x: ArrayLike) -> jax.Array:
  """``log I_x(a, b)``; differentiable like :func:`cdf`.

  >>> import irt_jax as irt
  >>> round(float(irt.beta.log_cdf(irt.beta.Params(2.0, 1.0), 0.5)), 4)  # log x^2
  -1.3863
  """
  p, dtype = _prepare(params)
  return _log_cdf(p, jnp.asarray(x, dtype))


def log_sf(params: Params, x: ArrayLike) -> jax.Array:
  """``log(1 - I_x(a, b)) = log I_{1-x}(b, a)``; differentiable.

  >>> import irt_jax as irt
  >>> round(float(irt.beta.log_sf(irt.beta.Params(1.0, 2.0), 0.5)), 4)  # log 0.25
  -1.3863
  """
  p, dtype = _prepare(params)
  return _log_sf(p, jnp.asarray(x, dtype))


def log_prob(params: Params, x: ArrayLike) -> jax.Array:
  """``(a-1) log x + (b-1) log(1-x) - log B(a, b)``; ``-inf`` outside [0, 1].

  >>> import irt_jax as irt
  >>> round(float(irt.beta.log_prob(irt.beta.Params(2.0, 1.0), 0.5)), 6)  # log 1
  0.0
  """
  p, dtype = _prepare(params)
  return _log_density(p, jnp.asarray(x, dtype))


def _log_beta(a, b):
  # jax.scipy.special.betaln loses ~1e-8 absolute at (40, 7); the lgamma sum
  # keeps ~1e-13 there and is no worse elsewhere in the tested range.
  gammaln = jax.scipy.special.gammaln
  return gammaln(a) + gammaln(b) - gammaln(a + b)


def mean(params: Params) -> jax.Array:
  """``a / (a + b)``.

  >>> import irt_jax as irt
  >>> float(irt.beta.mean(irt.beta.Params(1.0, 3.0)))
  0.25
  """
  (a, b), _ = _prepare(params)
  return a / (a + b)


def variance(params: Params) -> jax.Array:
  """``a b / ((a + b)^2 (a + b + 1))``.

  >>> import irt_jax as irt
  >>> round(float(irt.beta.variance(irt.beta.Params(1.0, 1.0))), 6)  # uniform: 1/12
  0.083333
  """
  (a, b), _ = _prepare(params)
  s = a + b
  return a * b / (s * s * (s + 1))
