r"""A safeguarded Newton / bisection root solver on floats' bit patterns.

Bisection in the *ordered integer* view of the floats halves the number of
representable values in the bracket, so any bracket (also ``[a, largest
float]``) shrinks to two adjacent floats in at most 32 (float32) / 64
(float64) halvings: the loop below is bounded by construction. Used by the
truncation's sampler (``T(z) = u`` in log space).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _int_type(dtype):
  return jnp.int32 if jnp.finfo(dtype).bits == 32 else jnp.int64


def _to_ordered(x):
  itype = _int_type(x.dtype)
  i = jax.lax.bitcast_convert_type(x, itype)
  mag = i & jnp.iinfo(itype).max
  return jnp.where(i < 0, -mag, mag)


def _from_ordered(o, dtype):
  itype = _int_type(dtype)
  mag = jnp.abs(o)
  i = jnp.where(o < 0, mag | jnp.asarray(jnp.iinfo(itype).min, itype), mag)
  return jax.lax.bitcast_convert_type(i, dtype)


def _ordered_mid(lo, hi):
  """The float halfway between ``lo`` and ``hi`` in bit-pattern order."""
  a, b = _to_ordered(lo), _to_ordered(hi)
  m = a // 2 + b // 2 + ((a % 2) + (b % 2)) // 2
  return _from_ordered(m, lo.dtype)


def _adjacent(lo, hi):
  return _to_ordered(lo) + 1 >= _to_ordered(hi)


def solve_increasing(g_fn, lo, hi, x0, noise, max_iter):
  """Root of an increasing ``g`` in ``(lo, hi)``; ``g(lo) <= 0 <= g(hi)``.

  Newton from the best point so far, accepted only strictly inside the
  bracket and only while it at least halves ``|g|``; otherwise bisection in
  bit-pattern order. Stops when ``|g|`` is within its own rounding ``noise``
  (after one last Newton step), the step is below ``eps^(2/3) |x|`` (the last
  step then lands within rounding), or the bracket is
  two adjacent floats; at most ``max_iter`` rounds.
  """
  tol = float(jnp.finfo(lo.dtype).eps) ** (2 / 3)
  lo0, hi0 = lo, hi
  ok0 = jnp.isfinite(x0) & (x0 > lo) & (x0 < hi)
  x0 = jnp.where(ok0, x0, _ordered_mid(lo, hi))
  g0, d0 = g_fn(x0)
  lo = jnp.where(g0 < 0, x0, lo)
  hi = jnp.where(g0 > 0, x0, hi)
  done = (g0 == 0) | _adjacent(lo, hi)

  def cond(s):
    return (s[0] < max_iter) & ~jnp.all(s[-1])

  def body(s):
    it, lo, hi, x, gx, dx, trust, done = s
    step = gx / dx
    cand = x - step
    cand_ok = jnp.isfinite(cand) & (cand > lo) & (cand < hi)
    # Step scale: |x|, and the distance to the ends (g ~ log(x - lo0) there).
    reach = jnp.minimum(jnp.abs(x), jnp.minimum(x - lo0, hi0 - x))
    small = jnp.isfinite(step) & ((jnp.abs(step) <= tol * reach)
                                  | (jnp.abs(gx) <= noise))
    finish = ~done & small
    # A Newton step past an end of the bracket (the root is within rounding
    # of it, e.g. a draw next to a bound) probes the float next to that end
    # once before falling back to bisection.
    use_newton = trust & jnp.isfinite(cand)
    probe = jnp.where(cand <= lo, jnp.nextafter(lo, hi), jnp.nextafter(hi, lo))
    p = jnp.where(use_newton, jnp.where(cand_ok, cand, probe),
                  _ordered_mid(lo, hi))
    gp, dp = g_fn(p)
    lo2 = jnp.where(gp < 0, p, lo)
    hi2 = jnp.where(gp > 0, p, hi)
    better = ~(jnp.abs(gp) > jnp.abs(gx))
    x2 = jnp.where(better, p, x)
    g2 = jnp.where(better, gp, gx)
    d2 = jnp.where(better, dp, dx)
    trust2 = ~use_newton | (jnp.abs(gp) <= 0.5 * jnp.abs(gx))
    done2 = (gp == 0) | _adjacent(lo2, hi2)
    # A finished draw keeps its Newton-polished point (or x) and stops.
    x2 = jnp.where(finish, jnp.where(cand_ok, cand, x), x2)
    keep = done | finish
    new = (jnp.where(keep, lo, lo2), jnp.where(keep, hi, hi2),
           jnp.where(done, x, x2), jnp.where(keep, gx, g2),
           jnp.where(keep, dx, d2), trust2, done | finish | done2)
    return (it + 1,) + new

  init = (jnp.int32(0), lo, hi, x0, g0, d0, jnp.ones_like(done), done)
  out = jax.lax.while_loop(cond, body, init)
  return out[3], out[0]
