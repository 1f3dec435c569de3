r"""von Mises–Fisher(mean_direction, concentration) on S^(d-1), any d >= 2.

Density on the unit sphere of R^d, ``nu = d/2 - 1``:

.. math:: q(z) = \frac{\kappa^{\nu}}{(2\pi)^{d/2} I_\nu(\kappa)}
          \exp(\kappa\,\mu^\top z).

Sampling (Wood 1994): ``w = mu . z`` has the marginal density
``∝ exp(kappa w) (1 - w^2)^((d-3)/2)`` on [-1, 1]; it is drawn by Wood's
rejection scheme (a Beta((d-1)/2, (d-1)/2) proposal), vectorised over the
whole batch with a bounded number of rounds (acceptance >= 0.65 for every
``d`` and ``kappa``), and kept as the pair
``(1 - w, 1 + w)`` so that neither loses digits near the poles
(``1 - w = 2 b Z / (1 - (1-b) Z)`` with the stable
``b = (d-1) / (2 kappa + sqrt(4 kappa^2 + (d-1)^2))``, and the acceptance test
written in ``1 - w`` and ``1 - x0``). Then ``v`` is uniform on S^(d-2) and

.. math:: z = Q(m)\,\big(w,\ \sqrt{1-w^2}\,v\big),\qquad m = \mu/\lVert\mu\rVert,

``Q(m) = -sigma (I - 2 u u^T / u^T u)``, ``u = m + sigma e_1``,
``sigma = sign(m_1)`` (``+1`` at 0): an orthogonal, symmetric map with
``Q e_1 = m`` that is a smooth function of ``m`` on each half-sphere, never
the ill-conditioned ``e_1 - m`` with ``m ≈ e_1``.

Gradients (implicit reparameterization, Figurnov et al. 2018):

* ``concentration``: ``w`` moves at fixed CDF value,
  ``dw/dkappa = -(dF/dkappa)(w) / q(w)``, from the fused kernel
  :func:`irt_jax._src.special.vmf.w_velocity`, and
  ``d sqrt(1-w^2)/dkappa = -w (dw/dkappa) / sqrt(1-w^2)``; ``v`` is fixed.
* ``mean_direction``: the chain rule through ``z = Q(mu/|mu|) y`` at fixed
  ``y``. So the gradient with respect to ``mean_direction`` is the one of the
  normalised direction: tangents are projected on the tangent space of the
  sphere, ``dm = (I - m m^T) dmu / |mu|`` (a radial change of ``mu`` does not
  move ``z``).

Both go through one velocity ``(dmu, dkappa) -> dz`` registered by
:func:`irt_jax._src.implicit.draw_with_rule`; ``w`` and ``v`` are recovered
from ``z`` by ``y = Q(m) z`` (``Q`` is an involution) and
``1 -+ w = |z -+ m|^2 / 2``.

Validation: ``concentration`` must be positive and finite, ``mean_direction``
finite with its event axis last (``d >= 2``) and of unit norm (within 1e-3
in float32, 1e-6 in float64; it is then normalised exactly). Concrete
invalid values raise ``ValueError`` naming the parameter; under ``jit`` the
draws (and ``log_prob``, ``mean``) are NaN where a parameter is invalid.

References:
  A. T. A. Wood (1994). Simulation of the von Mises Fisher distribution.
    Communications in Statistics - Simulation and Computation 23(1), 157-164.
  M. Figurnov, S. Mohamed, A. Mnih (2018). Implicit reparameterization
    gradients. NeurIPS.
  K. V. Mardia, P. E. Jupp (2000). Directional Statistics. Wiley (9.3).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from irt_jax._src import family as _family
from irt_jax._src import gamma as _gamma
from irt_jax._src import implicit as _implicit
from irt_jax._src import rejection as _rejection
from irt_jax._src import utils
from irt_jax._src.special import vmf as _special

# Wood's acceptance rate, measured over d in 2..1000 and kappa in 1e-6..1e6,
# is >= 0.65, so a draw is still unaccepted after 64 rounds with probability
# < 1e-29 (it would be NaN, never a wrong number).
MAX_ROUNDS = 64
_MAX_FAIL = 0.35

class Params(NamedTuple):
  """Parameters of a von Mises–Fisher distribution (a pytree).

  Attributes:
    mean_direction: unit vector ``mu``, event axis last (shape ``[..., d]``,
      ``d >= 2``).
    concentration: ``kappa > 0`` (shape ``[...]``, broadcast against
      ``mean_direction[..., 0]``).

  >>> from irt_jax import von_mises_fisher as vmf
  >>> vmf.Params([0.0, 0.0, 1.0], 5.0)
  Params(mean_direction=[0.0, 0.0, 1.0], concentration=5.0)
  """
  mean_direction: ArrayLike
  concentration: ArrayLike


def _tolerance(dtype) -> float:
  return 1e-6 if jnp.finfo(dtype).bits > 32 else 1e-3


def _prepare(params: Params, dtype=None) -> tuple[Params, jnp.dtype]:
  if not isinstance(params, Params):
    raise TypeError("params: expected irt_jax.von_mises_fisher.Params, got "
                    f"{type(params).__name__}")
  dtype = utils.float_dtype(dtype, *params)
  mu = utils.as_float("mean_direction", params.mean_direction, dtype)
  kappa = utils.as_float("concentration", params.concentration, dtype)
  if mu.ndim < 1 or mu.shape[-1] < 2:
    raise ValueError(
        "mean_direction: expected a unit vector with the event axis last "
        f"(shape [..., d], d >= 2), got shape {mu.shape}")
  utils.check_finite("mean_direction", mu)
  utils.check_positive("concentration", kappa)
  value = utils.concrete_value(mu)
  if value is not None:
    norm = np.linalg.norm(np.asarray(value, np.float64), axis=-1)
    bad = np.abs(norm - 1) > _tolerance(dtype)
    if np.any(bad):
      raise ValueError(
          "mean_direction must be a unit vector (norm 1 within "
          f"{_tolerance(dtype):g}), got norm {float(norm[bad].reshape(-1)[0])!r}; "
          "normalise it, e.g. v / jnp.linalg.norm(v, axis=-1, keepdims=True)")
  utils.broadcast_batch_shape(mean_direction=mu[..., 0], concentration=kappa)
  return Params(mu, kappa), dtype


def _valid(p: Params) -> jax.Array:
  mu, kappa = p
  norm = jnp.sqrt(jnp.sum(mu * mu, -1))
  return (jnp.all(jnp.isfinite(mu), -1)
          & (jnp.abs(norm - 1) <= _tolerance(mu.dtype))
          & (kappa > 0) & jnp.isfinite(kappa))


event_ndims = 1
validate, is_valid, support = _family.members(
    "von_mises_fisher", _prepare, _valid, _family.SPHERE,
    good="irt.von_mises_fisher.Params([0.0, 1.0], 2.0)",
    bad="irt.von_mises_fisher.Params([0.0, 1.0], -1.0)",
    error="concentration must be positive and finite, got -1.0")


def _unit(mu: jax.Array) -> tuple[jax.Array, jax.Array]:
  norm = jnp.sqrt(jnp.sum(mu * mu, -1, keepdims=True))
  norm = jnp.where(norm > 0, norm, 1.0)
  return mu / norm, norm


def _reflect(m: jax.Array, y: jax.Array) -> jax.Array:
  """``Q(m) y``: the orthogonal involution with ``Q(m) e_1 = m``."""
  sigma = jnp.where(m[..., :1] >= 0, 1.0, -1.0).astype(m.dtype)
  u = m + sigma * utils.lift(jax.nn.one_hot(0, m.shape[-1], dtype=m.dtype), m.ndim)
  uu = jnp.sum(u * u, -1, keepdims=True)  # in [2, 4] for a unit m.
  return -sigma * (y - (2 * jnp.sum(u * y, -1, keepdims=True) / uu) * u)


def _wood(key, kappa, d: int, batch, dtype):
  """``(1 - w, 1 + w)`` by Wood's (1994) rejection sampler, batched."""
  nm1 = float(d - 1)
  kappa = jnp.asarray(kappa, dtype)
  ok = (kappa > 0) & jnp.isfinite(kappa)
  kappa = jnp.where(ok, kappa, 1.0)
  b = nm1 / (2 * kappa + jnp.sqrt(4 * kappa * kappa + nm1 * nm1))
  s0 = 2 * b / (1 + b)  # 1 - x0
  log_norm0 = jnp.log(s0 * (2 - s0))  # log(1 - x0^2)

  def propose(key, params, size):
    kappa, b, s0, log_norm0 = params
    k1, k3 = jax.random.split(key)
    # Z = G1 / (G1 + G2) ~ Beta((d-1)/2, (d-1)/2), both gammas in one call;
    # no compacted stages inside this loop (compile time: each would be
    # compiled once per stage of this loop; acceptance is >= 95% for a >= 1).
    lg = _gamma.log_standard_gamma(k1, jnp.asarray(nm1 / 2, dtype), (2, size), dtype,
                                   stages=0)
    zb = jax.nn.sigmoid(lg[0] - lg[1])
    zc = jax.nn.sigmoid(lg[1] - lg[0])  # 1 - Z, not rounded near Z = 1
    den = zc + b * zb                 # 1 - (1 - b) Z
    s = 2 * b * zb / den              # 1 - W
    c = 2 * zc / den                  # 1 + W
    log_u = -jax.random.exponential(k3, (size,), dtype)
    # kappa W + (d-1) log(1 - x0 W) - (kappa x0 + (d-1) log(1 - x0^2)).
    t = kappa * (s0 - s) + nm1 * (jnp.log(s0 + s - s0 * s) - log_norm0)
    return (s, c), t >= log_u

  # Never accepted: inf, made NaN by the caller (a NaN constant would trip
  # jax.debug_nans on every call).
  inf = jnp.array(jnp.inf, dtype)
  return _rejection.sample(key, propose, (kappa, b, s0, log_norm0), tuple(batch),
                           (inf, inf), max_fail=_MAX_FAIL, skip=~ok,
                           max_rounds=MAX_ROUNDS)


def _raw_sample(key, p: Params, shape, dtype):
  batch, d = tuple(shape[:-1]), shape[-1]
  mu, kappa = p
  m, _ = _unit(mu)
  key_w, key_v = jax.random.split(key)
  s, c = _wood(key_w, kappa, d, batch, dtype)
  g = utils.padded_draw(jax.random.normal, key_v, batch + (d - 1,), dtype)
  gn = jnp.sqrt(jnp.sum(g * g, -1, keepdims=True))
  v = jnp.where(gn > 0, g / jnp.where(gn > 0, gn, 1.0), 1.0 / np.sqrt(d - 1))
  w = jnp.where(s < 1, 1 - s, c - 1)
  r = jnp.sqrt(s * c)
  y = jnp.concatenate([w[..., None], r[..., None] * v], -1)
  z = _reflect(jnp.broadcast_to(m, shape), y)
  return utils.mask_invalid((_valid(p) & (s < jnp.inf))[..., None], z)


def _velocity(p: Params, z, p_dot: Params):
  mu, kappa = p
  mu_dot, kappa_dot = p_dot
  d = z.shape[-1]
  m, norm = _unit(mu)
  s = 0.5 * jnp.sum((z - m) ** 2, -1)   # 1 - w
  c = 0.5 * jnp.sum((z + m) ** 2, -1)   # 1 + w
  y = _reflect(m, z)
  w = jnp.where(s < 1, 1 - s, c - 1)
  rho = _special.w_velocity(d, kappa, s, c)  # (dw/dkappa) / (1 - w^2)
  kd = jnp.broadcast_to(kappa_dot, s.shape)
  y_dot = jnp.concatenate(
      [(kd * rho * s * c)[..., None], (-kd * w * rho)[..., None] * y[..., 1:]], -1)
  m_dot = (mu_dot - m * jnp.sum(m * mu_dot, -1, keepdims=True)) / norm
  _, z_dot_mu = jax.jvp(lambda mm: _reflect(mm, y), (m,), (m_dot,))
  return _reflect(m, y_dot) + z_dot_mu


def _batch_shape(p: Params):
  return utils.broadcast_batch_shape(mean_direction=p.mean_direction[..., 0],
                                     concentration=p.concentration)


def sample(key: ArrayLike, params: Params, shape=None, dtype=None, *,
           mode: str = "vjp") -> jax.Array:
  r"""Draws from vMF(mean_direction, concentration) with implicit gradients.

  ``z = Q(mu/|mu|) (w, sqrt(1-w^2) v)`` with ``w`` from Wood's sampler and
  ``v`` uniform on S^(d-2). ``dz/dkappa`` moves ``w`` at a fixed value of its
  marginal CDF (``dw/dkappa = -(dF/dkappa)/q(w)``); ``dz/dmu`` is the chain
  rule through the reflection of the normalised ``mu`` (tangents projected
  on the sphere).

  Args:
    key: a ``jax.random.key`` or legacy ``jax.random.PRNGKey``.
    params: :class:`Params` (``mean_direction [..., d]``, ``concentration
      [...]``).
    shape: batch shape (the event axis ``d`` is appended, as in
      ``jax.random.dirichlet``); the parameters' batch shape must broadcast
      to it. Default: that batch shape.
    dtype: floating dtype; default the parameters' (or JAX's default float).
    mode: ``"vjp"`` (default, ``jax.custom_vjp``) or ``"jvp"``
      (``jax.custom_jvp``, for ``jax.jvp`` / ``jax.hessian``). Same rule.

  Returns:
    Unit vectors of shape ``shape + (d,)``. Invalid traced parameters give
    NaN.

  >>> import jax, jax.numpy as jnp
  >>> from irt_jax import von_mises_fisher as vmf
  >>> mu = jnp.array([0.0, 0.6, 0.8])
  >>> key = jax.random.key(0)
  >>> def mean_dot(kappa):
  ...   z = vmf.sample(key, vmf.Params(mu, kappa), (4000,))
  ...   return jnp.mean(z @ mu), z
  >>> (_, z), g = jax.jit(jax.value_and_grad(mean_dot, has_aux=True))(2.0)
  >>> z.shape, bool(jnp.allclose(jnp.linalg.norm(z, axis=-1), 1, atol=1e-5))
  ((4000, 3), True)
  >>> # d = 3: d/dkappa E[mu.z] = 1/k^2 - 1/sinh(k)^2 = 0.174 at k = 2.
  >>> bool(abs(g - 0.174) < 0.02)
  True
  """
  p, dtype = _prepare(params, dtype)
  d = p.mean_direction.shape[-1]
  shape = utils.resolve_shape(shape, _batch_shape(p))
  p = Params(utils.lift(p.mean_direction, len(shape) + 1),   # rank-explicit
             utils.lift(p.concentration, len(shape)))
  return _implicit.draw_with_rule(_raw_sample, _velocity, key, p,
                                  tuple(shape) + (d,), dtype, mode)


def _log_normalizer(kappa, d: int):
  nu = d / 2 - 1
  return (nu * jnp.log(kappa) - d / 2 * np.log(2 * np.pi)
          - _special.log_bessel_ive(nu, kappa))


def log_prob(params: Params, z: ArrayLike) -> jax.Array:
  r"""``log C_d(kappa) + kappa (mu . z - 1)`` with
  ``log C_d = nu log kappa - (d/2) log 2 pi - log(I_nu(kappa) e^-kappa)``.

  The exponentially scaled Bessel function is evaluated in log space
  (:func:`irt_jax._src.special.vmf.log_bessel_ive`), so any ``d`` and
  ``kappa`` (1e-8 .. 1e8) is finite. ``z`` is assumed on the sphere.

  >>> import numpy as np
  >>> from irt_jax import von_mises_fisher as vmf
  >>> p = vmf.Params([0.0, 0.0, 1.0], 2.0)   # d = 3: C = k / (4 pi sinh k)
  >>> lp = float(vmf.log_prob(p, [0.0, 1.0, 0.0]))
  >>> bool(abs(lp - np.log(2.0 / (4 * np.pi * np.sinh(2.0)))) < 1e-5)
  True
  """
  p, dtype = _prepare(params)
  d = p.mean_direction.shape[-1]
  z = jnp.asarray(z, dtype)
  if z.ndim < 1 or z.shape[-1] != d:
    raise ValueError(f"z: expected the event axis last of size {d}, got shape "
                     f"{z.shape}")
  m, z = utils.lift_all(_unit(p.mean_direction)[0], z)
  log_c, kappa, dot = utils.lift_all(_log_normalizer(p.concentration, d),
                                     p.concentration, jnp.sum(m * z, -1))
  out = log_c + kappa * (dot - 1)
  valid, out = utils.lift_all(_valid(p), out)
  return utils.mask_invalid(valid, out)


def mean(params: Params) -> jax.Array:
  r"""``E[z] = A_d(kappa) mu``, ``A_d = I_{d/2}(kappa) / I_{d/2-1}(kappa)``.

  Differentiable in both parameters (``A_d`` by a uniform asymptotic
  expansion or the ascending series; see
  :func:`irt_jax._src.special.vmf.bessel_ratio`).

  >>> import numpy as np
  >>> from irt_jax import von_mises_fisher as vmf
  >>> m = vmf.mean(vmf.Params([1.0, 0.0, 0.0], 2.0))  # d = 3: coth k - 1/k
  >>> bool(np.allclose(m, [1 / np.tanh(2.0) - 0.5, 0, 0], atol=1e-6))
  True
  """
  p, _ = _prepare(params)
  d = p.mean_direction.shape[-1]
  m, _ = _unit(p.mean_direction)
  a, _ = _special.bessel_ratio(d / 2 - 1, p.concentration)
  return utils.mask_invalid(_valid(p)[..., None], a[..., None] * m)
