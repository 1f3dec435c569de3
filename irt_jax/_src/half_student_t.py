r"""Half-Student-t(df, scale): ``scale |t|`` of a Student-t draw, with the
Student-t family's implicit rule for ``df``.

``z = scale |t|``, ``t`` drawn by :func:`irt_jax.student_t.sample` (so the
draws are exactly ``scale`` times the absolute Student-t draws of the same
key): ``dz/dscale = z / scale`` and ``dz/ddf = scale dt/ddf(|t|)`` from
:func:`irt_jax.student_t.velocity` (the Student-t rule is odd in ``t``). The
CDF ``2 F_t(t) - 1`` is ``I_{t^2/(df+t^2)}(1/2, df/2)`` near 0 (relative
precision there) and ``1 - 2 S_t(t)`` above, the log survival function ``log
2 + log S_t(t)`` from :func:`irt_jax.student_t.log_sf`; their ``df``
derivatives come back from the same rule. Mean ``inf`` for ``df <= 1``,
variance ``inf`` for ``df <= 2``.
"""

from __future__ import annotations

from typing import NamedTuple
import math

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln
from jax.typing import ArrayLike

from irt_jax._src import explicit as _explicit
from irt_jax._src import implicit as _implicit
from irt_jax._src import student_t as _student_t
from irt_jax._src.special.logspace import log1mexp

_LOG_2 = math.log(2.0)


class Params(NamedTuple):
  """Parameters of a half-Student-t distribution (a pytree): ``|StudentT(df, 0, scale)|``.

  Attributes:
    df: degrees of freedom, ``> 0``.
    scale: ``> 0``.

  >>> import irt_jax as irt
  >>> irt.half_student_t.Params(3.0)
  Params(df=3.0, scale=1.0)
  """
  df: ArrayLike
  scale: ArrayLike = 1.0


def _standard(p):
  return _student_t.Params(p.df)


def _raw(key, p, shape, dtype):
  return p.scale * jnp.abs(_student_t.sample(key, _standard(p), shape, dtype))


def _jacobian(p, z):
  t = z / p.scale
  dt_ddf = _student_t.velocity(_standard(p), t, _student_t.Params(1.0, 0.0, 0.0))
  return p.scale * dt_ddf, t


def _velocity(p, z, d):
  dz_ddf, dz_dscale = _jacobian(p, z)
  return dz_ddf * d.df + dz_dscale * d.scale


def _log_density(p, z):
  return _LOG_2 + _student_t.log_prob(_standard(p), z / p.scale) - jnp.log(p.scale)


def _log_sf_t(p, z):
  return _LOG_2 + _student_t.log_sf(_standard(p), z / p.scale)


def _centre(p, z):
  t = z / p.scale
  t2 = t * t
  centre = t2 < p.df
  x = jnp.where(centre, t2 / (p.df + t2), 0.5)
  return centre, jax.scipy.special.betainc(0.5, 0.5 * p.df, x)


def _upper_t(p, z):  # S_t(t) = F_t(-t), from the Student-t family's CDF
  return _student_t.cdf(_standard(p), -z / p.scale)


def _cdf_value(p, z):
  centre, inner = _centre(p, z)
  return jnp.where(centre, inner, 1.0 - 2.0 * _upper_t(p, z))


def _sf_value(p, z):
  centre, inner = _centre(p, z)
  return jnp.where(centre, 1.0 - inner, 2.0 * _upper_t(p, z))


def _log_tail(p, z):
  # (log F, log S) in log space: log I_x(1/2, df/2) near 0, log(1 - S) above.
  centre, inner = _centre(p, z)
  log_s = _log_sf_t(p, z)
  log_f = jnp.where(centre, jnp.log(jnp.where(centre, inner, 1.0)), log1mexp(log_s))
  return (~jnp.isnan(log_f), log_f), (~jnp.isnan(log_s), log_s)


_cdf, _log_cdf, _log_sf, _ = _implicit.cdf_with_rule(
    _cdf_value, _sf_value, _log_density, _velocity, _log_tail)


def _mean(p):
  df = jnp.where(p.df > 1, p.df, 2.0)
  m = (2.0 * p.scale * jnp.sqrt(df / math.pi)
       * jnp.exp(gammaln(0.5 * (df + 1.0)) - gammaln(0.5 * df)) / (df - 1.0))
  return jnp.where(p.df > 1, m, jnp.inf)


def _variance(p):
  df = jnp.where(p.df > 2, p.df, 3.0)
  v = p.scale ** 2 * df / (df - 2.0) - _mean(p._replace(df=df)) ** 2
  return jnp.where(p.df > 2, v, jnp.inf)


globals().update(_explicit.build(_explicit.Law(
    name="half_student_t", title="HalfStudentT(df, scale)", Params=Params,
    positive=("df", "scale"), support=(0.0, float("inf")), raw=_raw,
    jacobian=_jacobian, log_prob=_log_density, cdf=_cdf, log_cdf=_log_cdf, log_sf=_log_sf,
    mean=_mean, variance=_variance,
    docs=dict(
        sample="``z = scale |t|``, ``t ~ StudentT(df)`` (:func:`irt_jax.student_t.sample`); "
               "``dz/dscale = z/scale``, ``dz/ddf`` the Student-t rule at ``|t|``.",
        log_prob="``log 2 + log f_t(z/scale; df) - log scale`` for ``z >= 0``.",
        cdf="``2 F_t(z/scale; df) - 1``; differentiable in ``df`` through the rule.",
        log_cdf="``log(2 F_t - 1)``, accurate near 0.",
        log_sf="``log 2 + log S_t(z/scale; df)``, accurate far in the upper tail.",
        mean="``2 scale sqrt(df/pi) Gamma((df+1)/2) / (Gamma(df/2) (df-1))`` for "
             "``df > 1``, else ``inf``.",
        variance="``scale^2 df/(df-2) - mean^2`` for ``df > 2``, else ``inf``."),
    good="irt.half_student_t.Params(3.0, 2.0)", z="1.0", z_low="1e-8", z_high="1e5",
    values=dict(log_prob="-1.161", cdf="0.3486", log_cdf="-19.4216", log_sf="-31.6685",
                mean="2.2053", variance="7.1366"),
    sample_example="""
>>> import jax, jax.numpy as jnp, irt_jax as irt
>>> key = jax.random.key(0)
>>> t = irt.student_t.sample(key, irt.student_t.Params(3.0), (3,))
>>> z = irt.half_student_t.sample(key, irt.half_student_t.Params(3.0, 2.0), (3,))
>>> bool(jnp.allclose(z, 2.0 * jnp.abs(t)))
True
>>> g = jax.grad(lambda s: irt.half_student_t.sample(key, irt.half_student_t.Params(3.0, s)))(2.0)
>>> bool(g > 0)
True
""",
    bad="irt.half_student_t.Params(-1.0)", error="df must be positive and finite, got -1.0")))
