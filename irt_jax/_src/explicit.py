r"""The everyday explicit families' shared scaffolding: one builder.

Kumaraswamy, Weibull, Gumbel, log-normal, half-normal, half-Cauchy,
half-Student-t, Laplace, Cauchy, exponential and Pareto each write down their
law only (a :class:`Law`: raw sampler, closed-form velocity, log density, CDFs
in log space, moments); :func:`build` turns it into the family's public
members — ``sample``, ``log_prob``, ``cdf``, ``log_cdf``, ``log_sf``,
``mean``, ``variance``, ``validate``, ``is_valid``, ``support`` and the
``velocity`` hook — with the checks, shapes, dtypes and docstrings every family
shares.

The gradient is the family's explicit reparameterization written as its
velocity (for ``z = g(eps; params)``, ``dz/dparams = dg/dparams`` at the
``eps`` that gives ``z``), which is what the implicit rule
``-(dF/dparams)(z) / q(z)`` reduces to; it goes through the same
:func:`irt_jax._src.implicit.draw_with_rule` as every family, so ``mode="jvp"``
and second order work (the tests check it against ``irt.implicit(sampler,
cdf)`` of the same law). Half-Student-t takes the Student-t rule for ``df``.

Conventions shared by the eleven families:

* Outside the support ``log_prob`` is ``-inf``, ``cdf`` is 0 or 1 and the log
  CDFs accordingly; each law's formulas only see points in the support.
* A draw that exceeds the float range (Weibull concentration 1e-3, Pareto
  alpha 1e-3) is ``+-inf`` with gradient 0, never NaN.
* Moments: NaN where the moment is undefined (Cauchy), ``inf`` where it
  diverges (half-Cauchy, Pareto ``alpha <= 1``, half-t ``df <= 1``), as SciPy.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from irt_jax._src import family as _family
from irt_jax._src import implicit as _implicit
from irt_jax._src import utils
from irt_jax._src.special.common import nan_unless
from irt_jax._src.special.logspace import log1mexp

PUBLIC = ("Params", "sample", "SUPPORT", "cdf", "log_cdf", "log_sf", "log_prob",
          "mean", "variance", "event_ndims", "is_valid", "support", "validate",
          "velocity")


@dataclasses.dataclass(frozen=True)
class Law:
  """One family's law (every function takes prepared ``Params`` of arrays).

  Attributes:
    name: public module name (``"weibull"``).
    title: ``"Weibull(scale, concentration)"``, for docstrings.
    Params: the ``NamedTuple`` of parameters.
    positive: fields that must be ``> 0`` (the others: finite).
    support: ``(low, high)`` floats, or ``fn(p) -> (low, high)``.
    raw: ``raw(key, p, shape, dtype)``: draws, no gradient needed.
    jacobian: ``jacobian(p, z)``: ``dz/dfield`` for each field, in order, at
      a finite ``z`` in the support (the explicit reparameterization).
    log_prob, cdf, log_cdf, log_sf: ``fn(p, z)`` at ``z`` in the support.
    mean, variance: ``fn(p)`` or ``None``.
    docs: a formula / remark per public function name.
    good: source of example ``Params``; ``z``, ``z_low``, ``z_high``: the
      points of the ``log_prob`` / ``cdf``, ``log_cdf`` and ``log_sf``
      examples; ``values``: their SciPy / closed-form values (and ``mean``,
      ``variance``), rounded to 4 digits (the examples run in float32 or float64); ``sample_example``: the sample's
      ``>>>`` lines.
    bad, error: invalid ``Params`` source and its ``ValueError`` message.
  """
  name: str
  title: str
  Params: type
  positive: tuple[str, ...]
  support: Any
  raw: Callable
  jacobian: Callable
  log_prob: Callable
  cdf: Callable
  log_cdf: Callable
  log_sf: Callable
  mean: Callable | None
  variance: Callable | None
  docs: dict
  good: str
  z: str
  z_low: str
  z_high: str
  values: dict
  sample_example: str
  bad: str
  error: str


# --------------------------------------------------------- shared numerics


def log1mexp_neg_exp(log_w: jax.Array) -> jax.Array:
  """``log(1 - exp(-w))`` from ``log w`` (finite where ``w`` underflows).

  For ``log w < -20``: ``log w - w/2`` (next term ``w^2/24``, below 1e-18).

  >>> round(float(log1mexp_neg_exp(jnp.asarray(-800.0))), 6)
  -800.0
  """
  tiny = log_w < -20.0
  w = jnp.exp(jnp.where(tiny, -20.0, log_w))
  small = jnp.exp(jnp.where(tiny, log_w, -20.0))
  return jnp.where(tiny, log_w - 0.5 * small, log1mexp(-w))


def log1p_square(t: jax.Array) -> jax.Array:
  """``log(1 + t^2)`` without overflowing ``t^2`` (``|t| > 1e19`` in float32).

  >>> round(float(log1p_square(jnp.float32(1e30))), 3)
  138.155
  """
  far = jnp.abs(t) > 1.0
  t_far = jnp.where(far, jnp.abs(t), 2.0)
  t_near = jnp.where(far, 0.0, t)
  return jnp.where(far, 2.0 * jnp.log(t_far) + jnp.log1p((1.0 / t_far) ** 2),
                   jnp.log1p(t_near * t_near))


def draws(fn, key, shape, dtype):
  """``fn(key, shape, dtype)`` (a ``jax.random`` draw) padded for speed."""
  return utils.padded_draw(fn, key, shape, dtype)


# ---------------------------------------------------------------- builder


_EXAMPLE = """

>>> import irt_jax as irt
>>> round(float(irt.{name}.{fn}({args})), 4)
{value}
"""


def _doc(law: Law, fn: str, args: str) -> str:
  return law.docs[fn].strip() + _EXAMPLE.format(
      name=law.name, fn=fn, args=args, value=law.values[fn])


def build(law: Law) -> dict[str, Any]:
  """The public members of an explicit family (a dict for ``globals()``)."""
  name, Params = law.name, law.Params
  fields = Params._fields

  def prepare(params, dtype=None):
    if not isinstance(params, Params):
      raise TypeError(f"params: expected irt_jax.{name}.Params, got "
                      f"{type(params).__name__}")
    dtype = utils.float_dtype(dtype, *params)
    values = {}
    for field in fields:
      v = utils.as_float(field, getattr(params, field), dtype)
      if field in law.positive:
        utils.check_positive(field, v)
      else:
        utils.check_finite(field, v)
      values[field] = v
    utils.broadcast_batch_shape(**values)
    return Params(**values), dtype

  def valid(p):
    ok = jnp.asarray(True)
    for field in fields:
      v = getattr(p, field)
      ok = ok & jnp.isfinite(v) & ((v > 0) if field in law.positive else True)
    return ok

  def ends(p):
    if callable(law.support):
      return law.support(p)
    return law.support

  def raw(key, p, shape, dtype):
    return utils.mask_invalid(valid(p), law.raw(key, p, shape, dtype))

  def velocity_fn(p, z, p_dot):
    # sum_field dz/dfield * field_dot. Draws beyond the float range (+-inf)
    # move by 0, never NaN; a derivative beyond it saturates to the largest
    # float (utils.finite_or_saturate), so 0 * it stays 0 downstream.
    finite = jnp.isfinite(z)
    z_safe = jnp.where(finite, z, _family.interior(_family.interval(*ends(p)), z.dtype))
    keep = jnp.where(finite, 1.0, 0.0).astype(z.dtype)
    return sum(keep * utils.finite_or_saturate(jnp.broadcast_to(dz, z.shape)) * d
               for dz, d in zip(law.jacobian(p, z_safe), p_dot))

  def on_support(formula, below, above):
    def fn(params, z):
      p, dtype = prepare(params)
      z = jnp.asarray(z, dtype)
      low, high = ends(p)
      inside = (z >= low) & (z <= high)
      z_in = jnp.where(inside, z, _family.interior(_family.interval(low, high), dtype))
      out = formula(p, z_in)
      out = jnp.where(z < low, below, jnp.where(z > high, above, out))
      return nan_unless(~jnp.isnan(z), out)
    return fn

  def sample(key: ArrayLike, params, shape=None, dtype=None, *,
             mode: str = "vjp") -> jax.Array:
    p, dtype = prepare(params, dtype)
    shape = utils.resolve_shape(shape, utils.broadcast_batch_shape(**p._asdict()))
    return _implicit.draw_with_rule(raw, velocity_fn, key, p, shape, dtype, mode)

  def moment(formula):
    def fn(params):
      p, _ = prepare(params)
      shape = utils.broadcast_batch_shape(**p._asdict())
      return jnp.broadcast_to(utils.mask_invalid(valid(p), formula(p)), shape)
    return fn

  def velocity(params, z, params_dot):
    p, dtype = prepare(params)
    p_dot = jax.tree.map(lambda v: jnp.asarray(v, dtype), params_dot)
    return velocity_fn(p, jnp.asarray(z, dtype), p_dot)

  inf = math.inf
  out = {
      "sample": sample,
      "log_prob": on_support(law.log_prob, -inf, -inf),
      "cdf": on_support(law.cdf, 0.0, 1.0),
      "log_cdf": on_support(law.log_cdf, -inf, 0.0),
      "log_sf": on_support(law.log_sf, 0.0, -inf),
      "velocity": velocity,
  }
  if law.mean is not None:
    out["mean"] = moment(law.mean)
  if law.variance is not None:
    out["variance"] = moment(law.variance)

  good, z = law.good, law.z
  out["sample"].__doc__ = (
      law.docs["sample"].strip() + "\n\n" + _SAMPLE_ARGS.format(title=law.title)
      + "\n" + law.sample_example.strip("\n") + "\n")
  for fn, args in (("log_prob", f"{good}, {z}"), ("cdf", f"{good}, {z}"),
                   ("log_cdf", f"{good}, {law.z_low}"),
                   ("log_sf", f"{good}, {law.z_high}"),
                   ("mean", good), ("variance", good)):
    if fn in out:
      out[fn].__doc__ = _doc(law, fn, args)
  tangent = f"irt.{name}.Params({', '.join(['1.0'] * len(fields))})"
  out["velocity"].__doc__ = _VELOCITY_DOC.format(name=name, good=good, z=z,
                                                 tangent=tangent)
  for key, fn in out.items():
    fn.__name__ = key
    fn.__qualname__ = key
    fn.__module__ = f"irt_jax._src.{name}"

  if callable(law.support):
    support = _family.interval()  # replaced below
  else:
    support = _family.interval(*law.support)
  validate, is_valid, support_fn = _family.members(
      name, prepare, valid, support, good=good, bad=law.bad, error=law.error)
  if callable(law.support):
    def support_fn(params):
      p, _ = prepare(params)
      return _family.interval(*ends(p))
    support_fn.__name__ = support_fn.__qualname__ = "support"
    support_fn.__doc__ = _PARAM_SUPPORT_DOC.format(name=name, good=good)
  out.update(validate=validate, is_valid=is_valid, support=support_fn, event_ndims=0,
             _prepare=prepare, _valid=valid, _velocity=velocity_fn, _raw_sample=raw)
  if not callable(law.support):
    out["SUPPORT"] = law.support
  # Examples of the generated functions, for pytest --doctest-modules (the
  # functions are made here, so doctest would not find them in the module).
  out["__test__"] = {k: out[k] for k in ("sample", "log_prob", "cdf", "log_cdf",
                                         "log_sf", "mean", "variance", "velocity")
                     if k in out}
  out["__all__"] = [k for k in PUBLIC if k in out or k == "Params"]
  return out


_SAMPLE_ARGS = """Draws from {title} with its explicit reparameterization gradient.

Args:
  key: a ``jax.random.key`` or legacy ``jax.random.PRNGKey``.
  params: :class:`Params`.
  shape: output shape; the parameters must broadcast to it. Default: their
    broadcast shape.
  dtype: floating dtype; default: the parameters' (or JAX's default float).
  mode: ``"vjp"`` (``jax.custom_vjp``, reverse mode) or ``"jvp"``
    (``jax.custom_jvp``: forward mode, ``jax.hessian``). Same rule.

Returns:
  Draws of shape ``shape``; invalid traced parameters give NaN.
"""

_VELOCITY_DOC = '''The rule at ``z``: ``dz/dparams . params_dot``, the explicit
reparameterization, equal to ``-(dF/dparams . params_dot) / q(z)`` (the
contract's ``velocity`` hook, which truncation uses).

>>> import jax, irt_jax as irt
>>> p, t = {good}, {tangent}
>>> dF = jax.jvp(lambda q: irt.{name}.cdf(q, {z}), (p,), (t,))[1]
>>> q = jax.numpy.exp(irt.{name}.log_prob(p, {z}))
>>> abs(float(irt.{name}.velocity(p, {z}, t) + dF / q)) < 1e-5
True
'''

_PARAM_SUPPORT_DOC = '''Where the draws live, ``[scale, inf)``: :class:`irt_jax.family.Support`.

>>> import irt_jax as irt
>>> s = irt.{name}.support({good})
>>> s.kind, float(s.low), s.high
('interval', 1.0, inf)
'''
