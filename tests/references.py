"""Independent references for the tests: SciPy distributions in float64.

The per-sample implicit gradient reference is a central finite difference of
SciPy's CDF (or survival function, on the side where it is the smaller one)
divided by SciPy's density, all in float64: nothing of irt_jax is used.
"""

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
