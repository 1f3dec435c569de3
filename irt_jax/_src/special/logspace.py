r"""Log-space masses ``log(F(y) - F(x))`` from log CDFs and log survival functions.

Used by truncation (its standardization ``(F(z) - F(a)) / (F(b) - F(a))``
formed in log space, so bounds 40 standard deviations out keep full
precision) and by anything else that needs a probability mass between two
points of a 1-D family without cancellation.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

LOG_HALF = -math.log(2.0)


def log1mexp(d):
  """``log(1 - exp(d))`` for ``d <= 0`` (Maechler 2012), ``-inf`` at 0."""
  d = jnp.minimum(d, 0.0)
  near = d > LOG_HALF
  a = jnp.log(-jnp.expm1(jnp.where(near, d, -1.0)))
  b = jnp.log1p(-jnp.exp(jnp.where(near, -1.0, d)))
  return jnp.where(near, a, b)


def log_mass(lfx, lsx, lfy, lsy):
  """``log(F(y) - F(x))`` from log CDFs / SFs, on the side where it is small."""
  below = lfy <= LOG_HALF            # x < y both below the median
  above = lsx <= LOG_HALF            # both above it
  ninf = -jnp.inf
  fy_ok = lfy > ninf
  m_below = jnp.where(
      fy_ok, lfy + log1mexp(jnp.where(fy_ok, lfx - lfy, -1.0)), ninf)
  sx_ok = lsx > ninf
  m_above = jnp.where(
      sx_ok, lsx + log1mexp(jnp.where(sx_ok, lsy - lsx, -1.0)), ninf)
  across = jnp.minimum(jnp.exp(lfx) + jnp.exp(lsy), 1.0)
  m_across = jnp.log1p(-jnp.where(below | above, 0.5, across))
  m_across = jnp.where(across >= 1.0, ninf, m_across)
  return jnp.where(below, m_below, jnp.where(above, m_above, m_across))


_GL_NODE = 1.0 / math.sqrt(3.0)


def log_mass_gauss_legendre(log_prob, pb, x, y):
  """``log int_x^y q`` by two-point Gauss-Legendre (narrow intervals only)."""
  width = y - x
  pos = width > 0
  half = jnp.where(pos, 0.5 * width, 1.0)
  mid = 0.5 * (x + y)
  lq1 = log_prob(pb, mid - _GL_NODE * half)
  lq2 = log_prob(pb, mid + _GL_NODE * half)
  out = jnp.log(half) + jnp.logaddexp(lq1, lq2)
  return jnp.where(pos, out, -jnp.inf)
