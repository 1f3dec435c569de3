r"""Von Mises CDF and its implicit-reparameterization velocity.

For ``x`` on ``[-pi, pi]`` with density
``f(x; kappa) = exp(kappa cos x) / (2 pi I0(kappa))`` and CDF ``F(x; kappa)``,
a draw at a fixed quantile moves with ``kappa`` as

.. math::

   \frac{dx}{d\kappa} = -\frac{\partial F(x; \kappa) / \partial\kappa}{f(x; \kappa)}

(Figurnov, Mohamed & Mnih 2018, eq. 6). Write ``A = I1(kappa)/I0(kappa)``
(the mean resultant length) and ``c = 1 - A`` (the circular variance). Since
``d log f / d kappa = cos t - A``, ``f`` is even and ``int f (cos t - A) = 0``
over the circle, ``dF/dkappa`` is odd in ``x`` and

.. math::

   \frac{dx}{d\kappa}
     = -\int_0^x e^{\kappa(\cos t - \cos x)} (\cos t - A)\, dt
     = \operatorname{sign}(x) \int_{|x|}^{\pi} e^{-\kappa(\cos |x| - \cos t)}
       (\cos t - A)\, dt .

Both integrands keep one sign on their ranges when the switch is at
``t0 = arccos(A)``, where ``cos t - A`` changes sign: the first form (used for
``|x| <= t0``) has ``cos t - A >= 0`` and an exponent in ``[0, kappa c]``
(``kappa c < 0.61`` for every ``kappa``); the second (``|x| > t0``) has
``cos t - A <= 0`` and a decaying weight ``exp(-L)``, ``L >= 0``. So neither
cancels, nothing overflows at any ``kappa``, and the velocity is relatively
accurate right up to its zeros at ``x = 0`` and ``x = +-pi``. Both forms are
evaluated by Gauss-Legendre quadrature in ``t`` with a fixed number of nodes
chosen per call from the largest ``kappa`` (float32: 8, 12 or 16; float64: 12
to 32; the integrands are entire functions, see ``_settings``); the tail
integral is cut where ``L`` reaches ``L_cut`` (``e^-20`` in float32,
``e^-40`` in float64, far below rounding). Every difference is formed without
cancellation: ``kappa (cos t - cos x) = 2 kappa sin((x - t)/2) sin((x + t)/2)``,
``cos t - A = c - 2 sin^2(t/2)``, ``pi - x`` from ``cos(x/2)``, and
``c`` itself comes from a trapezoid rule of positive integrands for moderate
``kappa`` (``_trapezoid_circular_variance``; not ``1 - i1e/i0e``, which
cancels) and from its
asymptotic series ``c ~ sum_n b_n kappa^-n`` for large ``kappa``, with
``b_1 = 1/2`` and ``2 b_m = (m - 2) b_(m-1) + sum_(i+j=m) b_i b_j`` (from the
Riccati equation ``A' = 1 - A/kappa - A^2``; ``b = 1/2, 1/8, 1/8, 25/128, ...``,
cf. Abramowitz & Stegun 9.7.1).

Measured against mpmath quadrature (tests/special/test_von_mises_kernel.py,
run with ``-s``; each ``kappa`` in its own call, so in its own node tier), max
relative error of ``dx/dkappa`` over ``x`` from ``1e-6`` standard deviations
to ``pi``: float64 <= 1.6e-14 for ``kappa`` in ``[1e-3, 1e4]``; float32
<= 3.1e-7 for ``kappa`` in ``{50, 200, 500}`` at every ``x`` (10 standard
deviations and beyond) and <= 3.6e-7 for ``kappa`` in ``[1e-3, 1e4]``
including both sides of every tier bound. The quadrature error alone (per
``kappa`` of a dense scan of ``[1e-3, 1e4]``, 900 ``x``, against 64 nodes)
is <= 1.8e-8 with the float32 tiers and <= 5.3e-14 with the float64 ones.

The CDF uses the same nodes: ``F = 1/2 + int_0^x f`` for ``|x| <= t0`` and the
tail ``S(|x|) = f(|x|) int_|x|^pi exp(-L) dt`` beyond, so both ``F`` and
``1 - F`` are relatively accurate in their small tails.

This replaces the algorithm of Hill (1977), "Algorithm 518: Incomplete Bessel
function I0. The von Mises distribution", ACM TOMS 3(3), 279-284 (a
backward-recursion series for ``kappa < 10.5`` and a corrected normal
approximation above) by an exact integral with bounded work: the peers'
series-only version is 57% off at ``kappa = 50`` seven standard deviations
out and overflows at ``kappa = 200``; this kernel is uniform in ``kappa``.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from irt_jax._src import utils
from irt_jax._src.special.common import compute_dtype, elementwise_derivatives, fold, out_dtype

__all__ = ["von_mises_cdf", "von_mises_sf", "von_mises_velocity",
           "mean_resultant_length", "circular_variance"]


def _series_coefficients(n: int) -> list[float]:
  b = [Fraction(0), Fraction(1, 2)]
  for m in range(2, n + 1):
    b.append(((m - 2) * b[m - 1] + sum(b[i] * b[m - i] for i in range(1, m))) / 2)
  return [float(v) for v in b[1:]]


# Asymptotic series of 1 - A(kappa) in 1/kappa: used from a dtype-keyed
# threshold with a dtype-keyed number of terms; at the threshold its relative
# truncation error is 5e-9 (float32: kappa >= 10, 20 terms) and 1.4e-17
# (float64: kappa >= 20, 40 terms), measured against mpmath.
_B = _series_coefficients(40)


class _Settings(NamedTuple):
  threshold: float   # kappa from which A and 1 - A come from the series
  terms: int         # terms of that series
  panels: int        # trapezoid panels for 1 - A below the threshold
  tiers: tuple       # ((kappa_max, Gauss-Legendre nodes), ...)
  l_cut: float       # where the tail integral is cut (e^-l_cut)


def _settings(dtype) -> _Settings:
  """The per-dtype constants of the kernel.

  Trapezoid panels: the relative error of ``_trapezoid_circular_variance``
  is about ``2 I_(2 panels)(kappa) / I0(kappa)``, below 1e-16 for
  ``kappa <= 10`` with 16 panels and ``kappa <= 20`` with 24.

  Node tiers ``(kappa_max, nodes)``: the fewest Gauss-Legendre nodes whose
  quadrature error is at the rounding level for every ``kappa <= kappa_max``
  (measured against 64 nodes over 900 ``x`` per ``kappa``: float32 <= 1.8e-8
  with 8 nodes to ``kappa = 2``, 1.6e-9 with 12 to 5, 6.3e-9 with 16 beyond;
  float64 <= 1.5e-15 with 12 to 1, 1.9e-15 with 16 to 3, 1.1e-14 with 20
  to 8, 5.3e-14 with 32 beyond).
  """
  if jnp.finfo(dtype).bits <= 32:
    return _Settings(10.0, 20, 16, ((2.0, 8), (5.0, 12), (np.inf, 16)), 20.0)
  return _Settings(20.0, 40, 24, ((1.0, 12), (3.0, 16), (8.0, 20), (np.inf, 32)), 40.0)


def _largest(tier):
  """Under vmap the batch takes the tier of its largest ``kappa``."""
  return jnp.max(tier, axis=0)


def _gauss_legendre(n: int):
  x, w = np.polynomial.legendre.leggauss(n)
  return 0.5 * (x + 1.0), 0.5 * w     # nodes and weights on [0, 1]


def _trapezoid_circular_variance(kappa, panels: int):
  """``1 - I1/I0 = int e^(-2 kappa s^2) 2 s^2 dt / int e^(-2 kappa s^2) dt``,
  ``s = sin(t/2)``, ``t`` in ``[0, pi]``: both integrands are positive (no
  cancellation, unlike ``1 - i1e/i0e``) and even, analytic and
  ``2 pi``-periodic, so the trapezoid rule converges geometrically: its
  relative error is about ``2 I_(2 panels)(kappa) / I0(kappa)`` (see
  ``_settings``)."""
  s2 = np.sin(0.5 * np.pi * np.arange(panels + 1) / panels) ** 2
  w = np.ones(panels + 1)
  w[[0, -1]] = 0.5
  num = jnp.zeros_like(kappa)
  den = jnp.zeros_like(kappa)
  for s2_j, w_j in zip(s2, w):   # unrolled: vectorized across kappa
    e = float(w_j) * jnp.exp(-2.0 * float(s2_j) * kappa)
    num = num + float(2.0 * s2_j) * e
    den = den + e
  return num / den


def _resultant(kappa):
  """``(A, c) = (I1/I0, 1 - I1/I0)`` for ``kappa >= 0``, both relatively accurate."""
  threshold, terms, panels, _, _ = _settings(kappa.dtype)
  large = kappa >= threshold
  k_small = jnp.where(large, 1.0, kappa)
  a_small = jax.scipy.special.i1e(k_small) / jax.scipy.special.i0e(k_small)
  # Not 1 - a_small: that cancels and inherits the error of i1e (float32
  # i1e is 1e-6 off near kappa = 8, which made c 1.2e-5 off).
  c_small = _trapezoid_circular_variance(k_small, panels)
  inv = 1.0 / jnp.where(large, kappa, threshold)
  # sum_n b_n inv^n along a trailing axis (one op, not `terms` of them).
  powers = inv[..., None] ** jnp.arange(1, terms + 1, dtype=kappa.dtype)
  acc = jnp.sum(powers * jnp.asarray(_B[:terms], kappa.dtype), axis=-1)
  a = jnp.where(large, 1.0 - acc, a_small)
  c = jnp.where(large, acc, c_small)
  return a, c


def _prepare(x, kappa):
  """``x`` broadcast against ``kappa``; ``(kappa, 1 - A, i0e)`` at
  ``kappa``'s own shape (once per parameter, not once per draw: XLA
  broadcasts them inside the per-draw fusion)."""
  dtype = compute_dtype(x, kappa)
  x, kappa = (jnp.asarray(v, dtype) for v in (x, kappa))
  kappa_ok = (kappa >= 0) & jnp.isfinite(kappa)
  k = jnp.where(kappa_ok, kappa, 1.0)
  _, c = _resultant(k)
  i0e = jax.scipy.special.i0e(k)
  valid = kappa_ok & ~jnp.isnan(x)
  xs = jnp.clip(jnp.where(jnp.isnan(x), 0.0, x), -jnp.pi, jnp.pi)
  xs, valid = jnp.broadcast_arrays(xs, valid)
  return xs, (k, c, i0e), valid


def _quadrature(xs, kappa, want_velocity: bool):
  """:func:`_quadrature_n` with the node count of the tier of the largest
  ``kappa`` (one bounded branch; ``kappa`` at its own shape)."""
  tiers = _settings(xs.dtype).tiers
  bounds = jnp.asarray([b for b, _ in tiers[:-1]], xs.dtype)
  tier = jnp.sum(jax.lax.stop_gradient(jnp.max(kappa[0])) > bounds).astype(jnp.int32)
  index = utils.unbatched_index(tier, _largest)
  branches = [_quadrature_kernel(n, want_velocity) for _, n in tiers]
  return jax.lax.switch(index, branches, xs, kappa)


@functools.lru_cache(maxsize=None)
def _quadrature_kernel(n: int, want_velocity: bool):
  return elementwise_derivatives(
      functools.partial(_quadrature_n, n, want_velocity),
      functools.partial(_quadrature_n, n, want_velocity, rolled=True))


def _quadrature_n(n: int, want_velocity: bool, xs, kappa, rolled=False):
  """One Gauss-Legendre sum (``n`` nodes) per element, on the interval of its own form.

  With ``y`` the element's ``x`` clamped into its form's domain (center:
  signed, ``|y| <= t0``; tail: ``y = |x| >= t0``), the nodes are
  ``t = lo + w xi`` (center: ``[0, y]``; tail: ``[y, t_end]``) and every sine
  a node needs is ``sin(alpha + beta)`` with ``beta = w xi / 2``:
  ``(t - y)/2``, ``(t + y)/2`` and ``t/2``. So each node costs one sine, one
  cosine (of ``beta``) and one exponential, whichever form the element uses;
  per element there are five more (sin and cos of ``y/2``, ``t_end``, ``d``).

  Returns ``(inner, value)``: the velocity (if ``want_velocity``) or the
  probability mass ``int_0^x f`` (center, signed) / ``int_|x|^pi f`` (tail),
  times ``2 pi I0e(kappa)``. The center form is odd in ``x`` by itself, so
  it stays differentiable at ``x = 0``.
  """
  dtype = xs.dtype
  l_cut = _settings(dtype).l_cut
  nodes, weights = _gauss_legendre(n)
  k, c, _ = kappa
  t0 = 2.0 * jnp.arcsin(jnp.sqrt(0.5 * c))
  ax = jnp.abs(xs)
  inner = ax <= t0
  sign = jnp.where(xs < 0, -1.0, 1.0).astype(dtype)
  # Each form gets a y inside its own domain, so the unused one (and its
  # derivatives) stays finite.
  y = jnp.where(inner, jnp.clip(xs, -t0, t0), jnp.maximum(ax, t0))
  # Tail end: L = kappa (cos y - cos t) reaches l_cut at sin^2(t_end/2) =
  # sin^2(y/2) + l_cut / (2 kappa); kappa <= l_cut / 2 never needs a cut.
  half = jnp.sin(0.5 * y)
  half_c = jnp.cos(0.5 * y)
  q_end = half * half + l_cut / (2.0 * jnp.maximum(k, 0.5 * l_cut))
  cut = q_end < 1.0
  t_end = jnp.where(cut, 2.0 * jnp.arcsin(jnp.sqrt(jnp.where(cut, q_end, 0.5))),
                    jnp.pi)
  # d = pi - y: near x = pi the velocity and the tail mass are proportional
  # to d, so the rounding of the constant pi must not enter it. cos(y/2) =
  # sin(d/2) is relatively accurate (the range reduction of cos carries pi to
  # extra precision); y = float(pi) > pi gives d = 0.
  d = 2.0 * jnp.arctan2(jnp.maximum(half_c, 0.0), half)
  width = jnp.where(inner, y, jnp.where(cut, t_end - y, d))
  # Node t = lo + 2 beta (center: lo = 0, tail: lo = y). Each sine a node
  # needs is sin(alpha) cos(beta) + cos(alpha) sin(beta) with alpha fixed per
  # element: (t - y)/2 (alpha = -y/2 | 0), (t + y)/2 (alpha = y/2 | y) and
  # t/2 (alpha = 0 | y/2). All those sin/cos(alpha) follow from sin(y/2) and
  # cos(y/2) by half-angle identities, each relatively accurate where it is
  # small: sin y = 2 sin(y/2) cos(y/2) keeps full precision near y = pi
  # (where sin((t + y)/2) >= sin(d/2) is tiny) and
  # cos y = (cos(y/2) - sin(y/2)) (cos(y/2) + sin(y/2)).
  zero, one = jnp.zeros_like(half), jnp.ones_like(half)
  s_off, c_off = jnp.where(inner, -half, zero), jnp.where(inner, half_c, one)
  s_base = jnp.where(inner, half, 2.0 * half * half_c)
  c_base = jnp.where(inner, half_c, (half_c - half) * (half_c + half))
  s_low, c_low = jnp.where(inner, zero, half), jnp.where(inner, one, half_c)
  # The nodes are unrolled (a Python loop, not a trailing axis): XLA then
  # vectorizes across draws, while a reduction over a short minor axis of
  # sines and exponentials runs scalar (3x slower on CPU). On every backend;
  # harmless on GPU/TPU (same values, fused elementwise).
  half_width = 0.5 * width
  minus_2k = -2.0 * k

  def add_node(total, node_and_weight):
    node, wt = node_and_weight
    beta = half_width * node
    sb, cb = jnp.sin(beta), jnp.cos(beta)
    sin_diff = s_off * cb + c_off * sb       # sin((t - y)/2) <= 0 on the center
    sin_sum = s_base * cb + c_base * sb      # sin((t + y)/2) >= 0
    term = wt * jnp.exp(minus_2k * sin_diff * sin_sum)  # kappa (cos t - cos y)
    if want_velocity:
      s_half = s_low * cb + c_low * sb       # sin(t/2)
      term = term * (c - 2.0 * s_half * s_half)        # cos t - A
    return total + term

  total = fold(add_node, jnp.zeros_like(xs), (nodes, weights), rolled)
  if want_velocity:
    return inner, jnp.where(inner, -y, sign * width) * total
  # Mass: int f = e^{kappa (cos y - 1)} int e^{kappa (cos t - cos y)} dt.
  return inner, width * jnp.exp(-2.0 * k * half * half) * total


def _velocity(xs, kappa):
  return _quadrature(xs, kappa, True)[1]


def _cdf_sf(xs, kappa):
  inner, mass = _quadrature(xs, kappa, False)
  mass = mass / (2.0 * jnp.pi * kappa[2])
  upper = xs > 0
  f = jnp.where(inner, 0.5 + mass, jnp.where(upper, 1.0 - mass, mass))
  sf = jnp.where(inner, 0.5 - mass, jnp.where(upper, mass, 1.0 - mass))
  return f, sf


def von_mises_velocity(x, kappa):
  r"""``dx/dkappa = -(dF/dkappa)/f`` of the von Mises distribution on ``[-pi, pi]``.

  .. math::

     \frac{dx}{d\kappa} = -\int_0^x e^{\kappa(\cos t - \cos x)}
       \Big(\cos t - \frac{I_1(\kappa)}{I_0(\kappa)}\Big)\, dt,

  by Gauss-Legendre quadrature of the central form for ``|x| <= arccos A``
  and of the equivalent tail form beyond (module docstring). Differentiable
  by JAX in both arguments (second order works).

  Args:
    x: the centered draw, in ``[-pi, pi]`` (clipped to it).
    kappa: concentration ``>= 0``. Arguments broadcast together.

  Returns:
    The velocity, odd in ``x``, zero at ``x = 0`` and ``x = +-pi``; NaN
    where ``kappa`` is negative or not finite or ``x`` is NaN. float16 and
    bfloat16 are computed in float32.

  >>> # -sin(x) at kappa -> 0; mpmath gives -0.1411898614... at x=3, kappa=1e-3.
  >>> round(float(von_mises_velocity(3.0, 1e-3)), 6)
  -0.14119
  >>> float(von_mises_velocity(-1.0, 2.0)) == -float(von_mises_velocity(1.0, 2.0))
  True
  """
  xs, kp, valid = _prepare(x, kappa)
  v = utils.mask_invalid(valid, _velocity(xs, kp))
  return v.astype(out_dtype(x, kappa))


def von_mises_cdf(x, kappa):
  r"""The von Mises CDF ``F(x; kappa) = int_{-pi}^x e^{kappa cos t} dt / (2 pi I0(kappa))``.

  Args:
    x: a point of ``[-pi, pi]`` (0 below, 1 above).
    kappa: concentration ``>= 0``.

  Returns:
    ``F``, relatively accurate where it is small (see :func:`von_mises_sf`
    for the upper tail); NaN for invalid ``kappa`` or NaN ``x``.

  >>> round(float(von_mises_cdf(0.0, 3.0)), 12)
  0.5
  >>> round(float(von_mises_cdf(1.0, 2.0)), 6)   # scipy.stats.vonmises(2).cdf(1)
  0.889578
  """
  xs, kp, valid = _prepare(x, kappa)
  f, _ = _cdf_sf(xs, kp)
  return utils.mask_invalid(valid, f).astype(out_dtype(x, kappa))


def von_mises_sf(x, kappa):
  r"""The survival function ``1 - F(x; kappa)``, relatively accurate near ``x = pi``.

  >>> round(float(von_mises_sf(1.0, 2.0) + von_mises_cdf(1.0, 2.0)), 12)
  1.0
  """
  xs, kp, valid = _prepare(x, kappa)
  _, s = _cdf_sf(xs, kp)
  return utils.mask_invalid(valid, s).astype(out_dtype(x, kappa))


def mean_resultant_length(kappa):
  r"""``A(kappa) = I1(kappa) / I0(kappa)``, from ``i1e / i0e`` or its series.

  >>> round(float(mean_resultant_length(2.0)), 6)
  0.697775
  """
  k = jnp.asarray(kappa, compute_dtype(kappa))
  valid = (k >= 0) & jnp.isfinite(k)
  a, _ = _resultant(jnp.where(valid, k, 1.0))
  return utils.mask_invalid(valid, a).astype(out_dtype(kappa))


def circular_variance(kappa):
  r"""``1 - A(kappa)``, relatively accurate for large ``kappa`` (``~ 1/(2 kappa)``).

  >>> round(float(circular_variance(1e6) * 2e6), 6)
  1.0
  """
  k = jnp.asarray(kappa, compute_dtype(kappa))
  valid = (k >= 0) & jnp.isfinite(k)
  _, c = _resultant(jnp.where(valid, k, 1.0))
  return utils.mask_invalid(valid, c).astype(out_dtype(kappa))
