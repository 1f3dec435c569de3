"""Independent references for the tests and benchmarks (nothing of irt_jax).

* SciPy distributions in float64, and the per-sample implicit gradient as a
  central finite difference of SciPy's CDF (or survival function, on the side
  where it is the smaller one) divided by SciPy's density;
* mpmath (50 digits) velocities ``dz/dparam = -(dF/dparam)/q(z)`` of the gamma,
  beta and Student-t kernels, at exactly the floats given, used by
  tests/special/ and benchmarks/accuracy.py.
"""

import functools

import mpmath as mp
import numpy as np
import scipy.stats as st

import irt_jax as irt


def scipy_dist(family, params):
  """The SciPy frozen distribution of an irt_jax 1-D family's params."""
  p = [np.asarray(v, np.float64) for v in params]
  if family is irt.normal:
    return st.norm(loc=p[0], scale=p[1])
  if family is irt.gamma:
    return st.gamma(p[0], scale=1 / p[1])
  if family is irt.beta:
    return st.beta(p[0], p[1])
  if family is irt.student_t:
    return st.t(p[0], loc=p[1], scale=p[2])
  raise ValueError(family)


def implicit_gradient_fd(family, params, field, z, rel_step=1e-6):
  """-(dF/dparam)(z) / q(z) by central differences of SciPy's CDF/SF."""
  z = np.asarray(z, np.float64)
  base = [np.asarray(v, np.float64) for v in params]
  i = family.Params._fields.index(field)
  h = rel_step * max(abs(float(base[i])), 1.0)

  def shifted(delta):
    q = list(base)
    q[i] = base[i] + delta
    return scipy_dist(family, family.Params(*q))

  dist = scipy_dist(family, family.Params(*base))
  lower = dist.cdf(z) < 0.5
  d_cdf = (shifted(h).cdf(z) - shifted(-h).cdf(z)) / (2 * h)
  d_sf = (shifted(h).sf(z) - shifted(-h).sf(z)) / (2 * h)
  d_f = np.where(lower, d_cdf, -d_sf)
  return -d_f / dist.pdf(z)


@functools.lru_cache(maxsize=None)
def gamma_log_velocity_mp(a, x=None, log_x=None):
  """``d log x / da`` at fixed ``P(a, x)``, ``x`` given exactly or as
  ``exp(log_x)``: ``dP/da`` by ``mpmath.diff`` of the regularized incomplete
  gamma (of ``P`` or ``Q``, whichever is below 1/2, so nothing cancels)."""
  with mp.workdps(50):
    a = mp.mpf(a)
    x = mp.exp(mp.mpf(log_x)) if x is None else mp.mpf(x)
    p = mp.gammainc(a, 0, x, regularized=True)
    if p < 0.5:
      dp = mp.diff(lambda t: mp.gammainc(t, 0, x, regularized=True), a)
    else:
      dp = -mp.diff(lambda t: mp.gammainc(t, x, mp.inf, regularized=True), a)
    # -dP/da / (x p(x)) with x p(x) = x^a e^-x / Gamma(a).
    return float(-dp * mp.exp(x - a * mp.log(x) + mp.loggamma(a)))


def beta_velocity_mp(a, b, x):
  """``(dx/da, dx/db)`` of Beta(a, b) at the exact floats, by ``mpmath.diff``
  of ``betainc`` divided by the density."""
  if x <= 0.0 or x >= 1.0:
    return 0.0, 0.0
  with mp.workdps(50):
    a, b, xx = mp.mpf(a), mp.mpf(b), mp.mpf(x)
    log_p = ((a - 1) * mp.log(xx) + (b - 1) * mp.log1p(-xx)
             - mp.log(mp.beta(a, b)))
    p = mp.exp(log_p)
    dia = mp.diff(lambda s: mp.betainc(s, b, 0, xx, regularized=True), a)
    dib = mp.diff(lambda s: mp.betainc(a, s, 0, xx, regularized=True), b)
    return float(-dia / p), float(-dib / p)


def student_t_velocity_mp(nu, t):
  """``dt/dnu`` of the standard Student-t: ``mpmath.diff`` of the tail
  ``I_{nu/(nu+t^2)}(nu/2, 1/2) / 2`` divided by the density."""
  if t == 0:
    return 0.0
  with mp.workdps(50):
    tt, nu = mp.mpf(abs(t)), mp.mpf(nu)
    tail = lambda n: mp.betainc(n / 2, mp.mpf(1) / 2, 0, n / (n + tt * tt),
                                regularized=True) / 2
    d_tail = mp.diff(tail, nu)          # = -dF/dnu for t > 0
    log_f = (mp.loggamma((nu + 1) / 2) - mp.loggamma(nu / 2)
             - mp.log(nu * mp.pi) / 2 - (nu + 1) / 2 * mp.log1p(tt * tt / nu))
    v = d_tail / mp.exp(log_f)
    return float(v if t > 0 else -v)
