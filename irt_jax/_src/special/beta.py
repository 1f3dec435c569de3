r"""Implicit-reparameterization velocity of the beta distribution.

For ``x ~ Beta(a, b)`` with CDF ``I_x(a, b)`` (the regularized incomplete beta
function), a sample at a fixed quantile moves with the concentrations as

.. math::

   \frac{\partial x}{\partial a} = -\frac{\partial I_x(a, b) / \partial a}{p(x; a, b)},
   \qquad p(x; a, b) = \frac{x^{a-1} (1-x)^{b-1}}{B(a, b)},

(Figurnov, Mohamed & Mnih 2018, "Implicit Reparameterization Gradients", eq. 6)
and likewise for ``b``. This module computes both ratios directly, never
forming ``dI/da`` or the density alone, so neither underflows nor overflows.

Method (continued fraction, differentiated in forward mode): DLMF 8.17.22,

.. math::

   I_x(a, b) = K \cdot C, \quad K = \frac{x^a (1-x)^b}{a B(a, b)}, \quad
   C = \cfrac{1}{1 + \cfrac{d_1}{1 + \cfrac{d_2}{1 + \cdots}}},

   d_{2m+1} = -\frac{(a+m)(a+b+m) x}{(a+2m)(a+2m+1)}, \qquad
   d_{2m} = \frac{m (b-m) x}{(a+2m-1)(a+2m)}.

Since ``p(x) = K a / (x (1-x))``, the ratio is, with ``y = 1 - x``,

.. math::

   -\frac{\partial_a I_x}{p(x)} = -\frac{x y}{a}\Big[
      \big(\log x + \psi(a+b) - \psi(a+1)\big) C + \partial_a C \Big],

   -\frac{\partial_b I_x}{p(x)} = -\frac{x y}{a}\Big[
      \big(\log y + \psi(a+b) - \psi(b)\big) C + \partial_b C \Big],

where ``dC/da`` and ``dC/db`` are carried alongside ``C`` through a backward
(tail-to-head) evaluation of a fixed number of terms, as in Boik &
Robison-Cordova (1998), "Derivatives of the incomplete beta function",
J. Statistical Software 3(1). The fraction converges fast for
``x < (a+1)/(a+b+2)`` (Press et al., Numerical Recipes, section 6.4); above that
point the symmetry ``I_x(a, b) = 1 - I_{1-x}(b, a)`` is used, with ``1 - x``
formed exactly. Because ``psi(a) + 1/a = psi(a+1)`` is used, no ``1/a`` term
appears, so tiny concentrations (down to 1e-30) stay finite.

Where both concentrations are large (``a + b`` above 3000 / 8000 and
``min(a, b)`` at least 300 / 1000 in float32 / float64) and ``x`` is within
3 standard deviations of the switch point, the fixed number of terms does not
converge; there the quantile of ``logit(x)`` is expanded instead
(Cornish-Fisher to second order; Johnson, Kotz & Balakrishnan, "Continuous
Univariate Distributions" vol. 2, ch. 25), with relative error
``O(min(a, b)^(-3/2))``. With one concentration small the fraction converges
and is used at any ``a + b``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.special import polygamma

from irt_jax._src.special.common import (STIRLING, compute_dtype, elementwise_derivatives,
                                          nan_unless, out_dtype)

__all__ = ["beta_velocity", "digamma_difference"]


# Below this max(a, b) far fewer terms converge: measured against 400 pairs
# over a, b in [1e-2, 10] and x across (0, 1) on the fast side, 16 pairs are
# within 3e-10 and 32 within 2e-16 relative (48 / 96 are needed up to 3000).
SMALL_CONCENTRATION = 10.0


def n_pairs(dtype, small: bool = False) -> int:
  """Number of (odd, even) continued-fraction term pairs for a dtype, for
  concentrations up to the band (3000) or, if ``small``, up to
  :data:`SMALL_CONCENTRATION`."""
  if jnp.finfo(dtype).bits <= 32:
    return 16 if small else 48
  return 32 if small else 96




def digamma_difference(z, h):
  r"""``psi(z + h) - psi(z)`` without cancellation, for ``z > 0``, ``z + h > 0``.

  Shifts by the recurrence ``psi(w + 1) = psi(w) + 1/w`` (A&S 6.3.5),

  .. math::

     \psi(z+h) - \psi(z) = \sum_{k=0}^{N-1} \frac{h}{(z+k)(z+h+k)}
        + \psi(Z+h) - \psi(Z), \quad Z = z + N,

  and differences the asymptotic series (A&S 6.3.18) term by term,
  ``(Z+h)^{-2k} - Z^{-2k} = Z^{-2k} expm1(-2k log1p(h/Z))``, so the result
  keeps full relative accuracy even when ``|h| << z`` (where the naive
  difference of two digammas loses ``log(z) / |psi(z+h) - psi(z)|`` digits).

  >>> round(float(digamma_difference(1000.0, 1e-3)), 12)  # ~ h / z
  1e-06
  """
  n_shift = 8
  acc = jnp.zeros_like(z + h)
  for k in range(n_shift):
    acc = acc + h / ((z + k) * (z + h + k))
  big_z = z + n_shift
  l1 = jnp.log1p(h / big_z)
  # Term-wise difference: Z^{-2k} expm1(-2k log1p(h/Z)) when |h| < Z/2,
  # else (Z+h)^{-2k} - Z^{-2k} directly (no cancellation to fear there).
  near = jnp.abs(h) < 0.5 * big_z
  l1_near = jnp.where(near, l1, 0.0)
  inv2 = 1.0 / (big_z * big_z)
  winv2 = 1.0 / ((big_z + h) * (big_z + h))
  series = jnp.zeros_like(acc)
  zpow = jnp.ones_like(acc)
  wpow = jnp.ones_like(acc)
  for k, c in enumerate(STIRLING, start=1):
    zpow = zpow * inv2
    wpow = wpow * winv2
    term = jnp.where(near, zpow * jnp.expm1(-2 * k * l1_near), wpow - zpow)
    series = series + c * term
  return acc + l1 + h / (2 * big_z * (big_z + h)) - series


def _odd_coefficients(p, q, m):
  """``(c, c_p, c_q, 1 + c)`` with ``d_{2m+1} = c u``, ``dd/dp = c_p u``,
  ``dd/dq = c_q u``.

  ``c = -(p+m)(p+q+m) / ((p+2m)(p+2m+1))``; in ``d log|c| / dp`` the pair
  ``1/(p+m) - 1/(p+2m)`` is formed as ``m / ((p+m)(p+2m))``: exactly 0 at
  ``m = 0`` instead of the difference of two ``1/p`` (huge for tiny ``p``;
  the denominator is 1 there, as ``p^2`` may underflow). ``1 + c`` is
  expanded, ``(p (2m+1-q) + m (3m+2-q)) / ((p+2m)(p+2m+1))``, as ``c`` is
  ``-1`` to within rounding when ``p >> m + q``.
  """
  s = p + q
  r1 = 1.0 / (p + 2 * m + 1)
  inv_sm = 1.0 / (s + m)
  r0_r1 = r1 / (p + 2 * m)
  c = -(p + m) * (s + m) * r0_r1
  den = jnp.where(m > 0, (p + m) * (p + 2 * m), 1.0)
  c_p = c * (m / den + inv_sm - r1)
  one_plus_c = ((2 * m + 1 - q) * p + m * (3 * m + 2 - q)) * r0_r1
  return c, c_p, c * inv_sm, one_plus_c


def _even_coefficients(p, q, m):
  """``(c, c_p, c_q)`` of ``d_{2m} = m (q-m) u / ((p+2m-1)(p+2m))``, ``m >= 1``."""
  r0 = 1.0 / (p + 2 * m - 1)
  r1 = 1.0 / (p + 2 * m)
  base = m * r0 * r1
  c = (q - m) * base
  return c, -c * (r0 + r1), base


def _coefficients_per_draw(p, q):
  """The terms' coefficients computed where they are needed (``p, q`` at
  the draws' shape)."""
  def coefficients(odd, m):
    m = jnp.asarray(m, p.dtype)
    return _odd_coefficients(p, q, m) if odd else _even_coefficients(p, q, m)
  return coefficients


def _coefficients_hoisted(ab, ba, swap, n_pairs):
  """The terms' coefficients for every ``m`` at the parameters' shape, for
  ``(p, q) = ab``, or ``ba`` where ``swap`` (picked per draw).

  They depend on the parameters only, so when there are fewer parameters than
  draws this leaves one division per term, ``1 / (1 + t)``, as per-draw work
  (there were five)."""
  def table(p, q):
    m = jnp.arange(n_pairs + 1, dtype=p.dtype).reshape((-1,) + (1,) * p.ndim)
    return (_odd_coefficients(p, q, m),
            _even_coefficients(p, q, jnp.maximum(m, 1.0)))  # row 0 unused
  t_ab = table(*ab)
  t_ba = None if ba is None else table(*ba)

  def coefficients(odd, m):
    k = 0 if odd else 1
    if t_ba is None:
      return tuple(v[m] for v in t_ab[k])
    return tuple(jnp.where(swap, v_ba[m], v_ab[m])
                 for v_ab, v_ba in zip(t_ab[k], t_ba[k]))
  return coefficients


def cf_with_partials(u, n_pairs, ab, ba=None, swap=None, v=None):
  """Continued fraction ``C(p, q, u)`` of DLMF 8.17.22 and ``dC/dp, dC/dq``,
  with ``(p, q) = ab``, or ``ba`` where ``swap`` (``p, q`` broadcast
  against ``u``); ``v = 1 - u`` formed exactly by the caller (default:
  rounded, used only where ``u >= 1/2``).

  Evaluated backward from a fixed depth (``2 n_pairs + 1`` terms), carrying the
  two tangents in forward mode. Each denominator ``s = 1 + t`` is carried
  too: after an odd term ``1 + t = (t' + 1 + c u) / (1 + t')`` with
  ``1 + c u = (1 + c) - c v`` when ``u >= 1/2``. Near ``u = 1`` with
  ``p >> q`` (``Beta(1e8, 0.01)``), ``c u`` is ``-1`` to within rounding and
  ``1 + t`` formed directly loses every digit (0 in float32: NaN).
  """
  ab = jnp.broadcast_arrays(*ab)
  n_params = ab[0].size
  if ba is not None:
    ba = jnp.broadcast_arrays(*ba)
    n_params = max(n_params, ba[0].size)
  # The tables hold 2 (n_pairs + 1) rows per parameter and orientation:
  # worth it when that is no more than the draws.
  if 2 * (n_pairs + 1) * n_params <= u.size:
    coefficients = _coefficients_hoisted(ab, ba, swap, n_pairs)
  elif ba is None:
    coefficients = _coefficients_per_draw(*ab)
  else:
    coefficients = _coefficients_per_draw(jnp.where(swap, ba[0], ab[0]),
                                          jnp.where(swap, ba[1], ab[1]))

  if v is None:
    v = 1.0 - u
  near_one = u >= 0.5

  def step(coef, carry):
    c, c_p, c_q = coef[:3]
    t, s, tp, tq = carry
    g = 1.0 / s
    tn = c * u * g
    if len(coef) == 4:   # odd term
      s_new = (t + jnp.where(near_one, coef[3] - c * v, 1.0 + c * u)) * g
    else:
      s_new = 1.0 + tn
    return tn, s_new, (c_p * u - tn * tp) * g, (c_q * u - tn * tq) * g

  def body(i, carry):
    m = n_pairs - i
    carry = step(coefficients(True, m), carry)
    return step(coefficients(False, m), carry)

  zero = jnp.zeros_like(u)
  # A rolled loop: each step is one pass over the draws. Unrolled, XLA split
  # the fraction into a pass per division (2-4x slower, measured at 1e5 draws).
  # On every backend; harmless on GPU/TPU (same values).
  carry = lax.fori_loop(0, n_pairs, body, (zero, jnp.ones_like(u), zero, zero))
  _, s, tp, tq = step(coefficients(True, 0), carry)
  c = 1.0 / s
  return c, -c * c * tp, -c * c * tq


def bracket_digammas(a, b):
  """The digamma differences :func:`cf_brackets` needs, for both sides:
  ``psi(a+b) - psi(a+1)``, ``psi(a+b) - psi(b)``, ``psi(a+b) - psi(b+1)``,
  ``psi(a+b) - psi(a)``. They depend on the parameters only: computed at the
  parameters' shape, they are not repeated for every draw."""
  return (digamma_difference(a + 1, b - 1), digamma_difference(b, a),
          digamma_difference(b + 1, a - 1), digamma_difference(a, b))


def cf_brackets(a, b, x, y, log_x, log_y, n_pairs, digammas):
  """Brackets of the module formula on the fast-converging side.

  Returns ``(swap, p, bp, bq)``: with ``(p, q, u, v) = (a, b, x, y)`` if not
  ``swap`` else ``(b, a, y, x)``,
  ``bp = (log u + psi(p+q) - psi(p+1)) C + dC/dp`` and
  ``bq = (log v + psi(p+q) - psi(q)) C + dC/dq``, ``C = C(p, q, u)``.
  Then ``-dI/dp / p_density = -(u v / p) bp`` etc. ``digammas``: the
  :func:`bracket_digammas` of ``(a, b)`` (at the parameters' shape).
  """
  swap = x > (a + 1) / (a + b + 2)
  p = jnp.where(swap, b, a)
  u = jnp.where(swap, y, x)
  lu = jnp.where(swap, log_y, log_x)
  lv = jnp.where(swap, log_x, log_y)
  c, cp, cq = cf_with_partials(u, n_pairs, (a, b), (b, a), swap,
                               jnp.where(swap, x, y))
  # psi(p+q) - psi(p+1) and psi(p+q) - psi(q), each free of cancellation.
  da1, db0, db1, da0 = digammas
  bp = (lu + jnp.where(swap, db1, da1)) * c + cp
  bq = (lv + jnp.where(swap, da0, db0)) * c + cq
  return swap, p, bp, bq


def _n_band(dtype) -> float:
  """Above this ``a + b`` the fraction is slow within 3 sd of its switch."""
  return 3000.0 if jnp.finfo(dtype).bits <= 32 else 8000.0


def _min_band(dtype) -> float:
  """Below this ``min(a, b)`` the band's expansion (error ``O(min(a, b)^-3/2)``)
  is worse than the fraction, which converges there (measured against SciPy
  and mpmath up to ``max(a, b) = 1e8``)."""
  return 300.0 if jnp.finfo(dtype).bits <= 32 else 1000.0


def _logit_quantile(k, n, z):
  """Cornish-Fisher quantile of ``w = logit(x)`` at standard-normal ``z``.

  ``logit(x) = log G_a - log G_b`` for independent gammas, so its cumulants are
  ``k_r = psi^(r-1)(a) + (-1)^r psi^(r-1)(b)``; the second-order
  Cornish-Fisher expansion (Abramowitz & Stegun 26.2.49) is

  ``w = k1 + s (z + g1 (z^2-1)/6 + g2 (z^3-3z)/24 - g1^2 (2z^3-5z)/36)``,
  ``s = sqrt(k2)``, ``g1 = k3 / s^3``, ``g2 = k4 / s^4``.

  ``k`` holds ``k_r n^(r-1)`` (``n = a + b``), which are of order one: the
  cumulants themselves, ``O(n^(1-r))``, make ``k2^2`` subnormal in float32
  from ``n ~ 1e10`` (and the tangents 0/0).
  """
  k1, k2, k3, k4 = k
  sd = jnp.sqrt(k2)
  g1 = k3 / (k2 * sd) / jnp.sqrt(n)
  g2 = k4 / (k2 * k2) / n
  z2 = z * z
  corr = (g1 * (z2 - 1.0) / 6.0 + g2 * z * (z2 - 3.0) / 24.0
          - g1 * g1 * z * (2.0 * z2 - 5.0) / 36.0)
  return k1 + sd / jnp.sqrt(n) * (z + corr)


def _band_velocity(a, b, log_x, log_y):
  """Velocity near the centre for large ``a + b`` (Cornish-Fisher in logit).

  Solves ``W(k, z) = logit(x)`` for ``z`` by three Newton steps on the cubic
  (a small perturbation of the identity there), then differentiates ``W`` in
  ``a`` and ``b`` at fixed ``z`` through the cumulants
  (``dk_r/da = psi^(r)(a)``, ``dk_r/db = (-1)^r psi^(r)(b)``):
  ``dx/da = x (1-x) dW/da``. Relative error ``O(((a+b)/(a b))^(3/2))``.
  """
  w = log_x - log_y
  n = a + b
  # k_r n^(r-1) (see _logit_quantile) and their tangents, n held constant.
  scale = (1.0, n, n * n, n * n * n)
  pa = [polygamma(r, a) for r in range(1, 5)]
  pb = [polygamma(r, b) for r in range(1, 5)]
  k = (-digamma_difference(a, b - a), (pa[0] + pb[0]) * n,
       (pa[1] - pb[1]) * scale[2], (pa[2] + pb[2]) * scale[3])
  pa = [v * s for v, s in zip(pa, scale)]
  pb = [v * s for v, s in zip(pb, scale)]
  z = (w - k[0]) * jnp.sqrt(n / k[1])
  for _ in range(3):
    val, slope = jax.jvp(lambda zz: _logit_quantile(k, n, zz), (z,),
                         (jnp.ones_like(z),))
    z = z - (val - w) / slope
  fz = lambda kk: _logit_quantile(kk, n, z)
  _, dw_da = jax.jvp(fz, (k,), (tuple(pa),))
  _, dw_db = jax.jvp(fz, (k,), ((-pb[0], pb[1], -pb[2], pb[3]),))
  return dw_da, dw_db


def beta_velocity(a, b, x):
  r"""Implicit-reparameterization velocity ``(dx/da, dx/db)`` of Beta(a, b).

  .. math::

     \frac{dx}{da} = -\frac{\partial_a I_x(a, b)}{p(x; a, b)} > 0, \qquad
     \frac{dx}{db} = -\frac{\partial_b I_x(a, b)}{p(x; a, b)} < 0,

  computed by the forward-differentiated continued fraction of DLMF 8.17.22
  (Boik & Robison-Cordova 1998) on the fast side of
  ``I_x(a, b) = 1 - I_{1-x}(b, a)``; see the module docstring.

  Args:
    a: concentration of ``x`` (``a > 0``).
    b: concentration of ``1 - x`` (``b > 0``).
    x: a point in ``[0, 1]`` (a sample). Arguments broadcast together.

  Returns:
    ``(dx_da, dx_db)`` in the promoted floating dtype (float16/bfloat16 are
    computed in float32 and cast back). Zero at ``x = 0`` and ``x = 1``; NaN
    for invalid concentrations (``<= 0`` or NaN) or ``x`` outside ``[0, 1]``.

  >>> import jax.numpy as jnp
  >>> dx_da, dx_db = beta_velocity(2.0, 1.0, 0.25)  # I_x = x^2: -x log(x) / a
  >>> round(float(dx_da), 6), round(float(-0.25 * jnp.log(0.25) / 2), 6)
  (0.173287, 0.173287)
  """
  result_dtype = out_dtype(a, b, x)
  dtype = compute_dtype(a, b, x)
  a, b, x = (jnp.asarray(v, dtype) for v in (a, b, x))
  # a and b keep their own shape (usually smaller than the draws'): what
  # depends on them alone is computed once per parameter, not once per draw.
  x = jnp.broadcast_to(x, jnp.broadcast_shapes(a.shape, b.shape, x.shape))
  da, db = _beta_velocity(a, b, x)
  return da.astype(result_dtype), db.astype(result_dtype)


def _beta_velocity_value(a, b, x):
  """``beta_velocity`` for ``a``, ``b`` broadcasting against ``x``."""
  dtype = x.dtype
  big = jnp.finfo(dtype).max
  params_ok = (a > 0) & (b > 0) & jnp.isfinite(a) & jnp.isfinite(b)
  valid = params_ok & (x >= 0) & (x <= 1)
  interior = valid & (x > 0) & (x < 1)
  # Safe inputs for every branch so neither value nor gradient is NaN.
  sa = jnp.where(params_ok, a, 1.0)
  sb = jnp.where(params_ok, b, 1.0)
  sx = jnp.where(interior, x, 0.5)
  # 1 - x is exact for x >= 1/2 (Sterbenz); below, log(1 - x) comes from
  # log1p(-x) so that its relative accuracy does not depend on rounding 1 - x.
  sy = 1.0 - sx
  log_x = jnp.log(sx)
  log_y = jnp.log1p(-sx)
  # The depth the whole batch needs: a short fraction when every
  # concentration is small (a bounded branch; under vmap both sides run).
  # All per-draw work sits inside the branches (a branch on the fraction's
  # per-draw results, taken after it, cost more than the fraction); the
  # digammas stay outside (inside, XLA ran them as ~70 scalar kernels).
  small = jnp.all(jnp.maximum(sa, sb) <= SMALL_CONCENTRATION)
  da, db = lax.cond(
      small,
      functools.partial(_fraction_velocity, n_pairs=n_pairs(dtype, small=True)),
      functools.partial(_fraction_velocity, n_pairs=n_pairs(dtype), band=True),
      sa, sb, sx, sy, log_x, log_y, bracket_digammas(sa, sb))
  da = jnp.clip(da, -big, big)
  db = jnp.clip(db, -big, big)
  da = nan_unless(interior | valid, jnp.where(interior, da, 0.0))
  db = nan_unless(interior | valid, jnp.where(interior, db, 0.0))
  return da, db


def _fraction_velocity(a, b, x, y, log_x, log_y, digammas, n_pairs, band=False):
  """The module formula's ``(dx/da, dx/db)`` by a fraction of ``n_pairs``
  pairs; with ``band``, the Cornish-Fisher velocity where ``a + b`` is large
  and ``x`` within 3 standard deviations of the switch point."""
  swap, p, bp, bq = cf_brackets(a, b, x, y, log_x, log_y, n_pairs, digammas)
  scale = (x / p) * y
  vp = -scale * bp
  vq = -scale * bq
  da = jnp.where(swap, -vq, vp)
  db = jnp.where(swap, -vp, vq)
  if not band:
    return da, db
  n = a + b
  sd = jnp.sqrt(a * b / (n + 1.0)) / n
  in_band = ((n > _n_band(x.dtype)) & (jnp.minimum(a, b) >= _min_band(x.dtype))
             & (jnp.abs(x - (a + 1.0) / (n + 2.0)) < 3.0 * sd))
  # Safe values outside the band, so its derivatives stay finite there.
  inside = lambda v, safe: jnp.where(in_band, v, safe)
  # The band is rare (a + b > 3000 near the centre): its polygammas are
  # skipped when no draw needs them (under vmap both sides run).
  dw_da, dw_db = lax.cond(
      jnp.any(in_band), _band_velocity,
      lambda *args: (jnp.zeros_like(args[2]), jnp.zeros_like(args[2])),
      inside(a, 5000.0), inside(b, 5000.0),
      inside(log_x, -0.6931471805599453), inside(log_y, -0.6931471805599453))
  xy = inside(x, 0.5) * inside(y, 0.5)
  return jnp.where(in_band, xy * dw_da, da), jnp.where(in_band, xy * dw_db, db)


_beta_velocity = elementwise_derivatives(_beta_velocity_value)
