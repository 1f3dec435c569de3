r"""The family contract: what every irt_jax family provides.

A *family* is a module (``irt.gamma``) or an object (``irt.truncated.of(base)``,
``irt.mixture.of(component)``, ``irt.implicit(sampler, cdf)``) with these
members. Composites (truncation, mixtures), the estimators, the diagnostics and
the NumPyro adaptor use a family through this contract only: no module-name
tables, no private names, no validation by side effect.

Required of every family:

==================  ==========================================================
``Params``          the parameters' ``NamedTuple`` type (a pytree), or
                    ``None`` when any pytree of arrays is accepted
                    (:func:`irt_jax.implicit` families)
``event_ndims``     ``int``: trailing axes of one draw that form an event
                    (0 for 1-D families; 1 for Dirichlet, von Mises–Fisher,
                    multivariate mixtures)
``sample``          ``sample(key, params, shape=None, dtype=None, *,
                    mode="vjp")``: draws with implicit gradients; ``shape`` is
                    the batch shape, the event axes are appended
``log_prob``        ``log_prob(params, z)``: log density of ``z``
``support``         ``support(params) -> Support``: where the draws live, a
                    function of the parameters (a truncation's interval)
``validate``        ``validate(params, dtype=None) -> params``: raises
                    ``ValueError`` / ``TypeError`` naming the parameter when a
                    concrete parameter is invalid; returns the parameters as
                    floating arrays of one dtype
``is_valid``        ``is_valid(params) -> bool array`` of the batch shape, for
                    traced parameters (composites mask invalid ones with NaN)
==================  ==========================================================

Required of 1-D families (``event_ndims == 0``), which truncation and
mixtures build on: ``cdf(params, z)``, ``log_cdf(params, z)`` (accurate where
the CDF is tiny) and ``log_sf(params, z)`` (accurate where it is near 1).

Optional: ``mean(params)``, ``variance(params)`` in closed form; and hooks a
family may provide to make composites faster or more exact (each has a
generic fallback or is simply not offered):

* ``log_terms(params, x) -> (log q, log F, log S)`` evaluated together,
  derivatives included (:func:`log_terms` falls back to the three separate
  functions; :func:`irt_jax._src.implicit.cdf_with_rule` builds it);
* ``velocity(params, z, params_dot) -> z_dot``: the family's implicit rule
  (finite wherever the density is positive); truncation uses it at the draw
  and at the bounds instead of differentiating ``log_cdf`` and ``log_sf``;
* ``approx_quantile(params, log_p, upper)``: a first guess ``x`` with
  ``log F(x) ~= log_p`` (``upper``: ``log S(x) ~= log_p``), ``log_p <=
  log 1/2``, for the truncation's root solver;
* ``moments_between(params, low, high, log_mass) -> (mean, variance)`` of the
  family restricted to ``[low, high]`` (closed-form truncated moments);
* ``weak_derivative(params, key, fields, coupling)`` and
  ``WEAK_DERIVATIVE_FIELDS``: the measure-valued decomposition used by
  :func:`irt_jax.estimators.measure_valued`: returns ``(z, parts)``, a common
  draw ``z`` and for each field asked for ``(c, z_plus, z_minus)`` with
  ``dq/dfield = c (q+ - q-)``, draws of ``q+`` / ``q-`` shaped like ``z``
  (``None``: the common draw itself).

Discrete families (Bernoulli, categorical, Poisson, binomial, negative
binomial; :mod:`irt_jax._src.discrete`) meet the same contract, with:

* ``discrete = True`` (absent means ``False``): the draws are integers, stored
  in a floating dtype; ``support`` is the interval whose integers they are.
  They have no pathwise derivative: ``sample`` gives NaN derivatives (never a
  silent 0), :func:`irt_jax.estimators.pathwise` refuses them, and
  :func:`check` with ``univariate=True`` (truncation, mixtures, which need a
  continuous 1-D family) refuses them too. ``cdf`` is optional.
* ``REPARAMETERIZED = False``, so :func:`irt_jax.estimators.best` picks the
  score function.
* ``go_velocity(params, z, params_dot)`` (optional): the GO rule ``-(dF/dparams
  . params_dot)(z) / q(z)`` at integer ``z``, linear in ``params_dot``, used
  by :func:`irt_jax.estimators.go_gradient` (the discrete analogue of
  ``velocity``; a separate name so that no composite mistakes it for a
  continuous rule).
* ``Params`` fields that are alternatives (``probs`` or ``logits``, as in
  NumPyro) are both present and exactly one is set; the other is ``None`` (an
  empty pytree node), and gradients keep that ``None``.

:func:`check` verifies a family against the contract (one function, used by
every composite); :func:`members` builds ``validate`` / ``is_valid`` /
``support`` for a module from its private ``_prepare`` and ``_valid``.
"""

from __future__ import annotations

from collections.abc import Callable
import doctest
import math
from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp

PyTree = Any

KINDS = ("interval", "circular", "simplex", "sphere")
REQUIRED = ("Params", "event_ndims", "sample", "log_prob", "support", "validate",
            "is_valid")
UNIVARIATE = ("cdf", "log_cdf", "log_sf")


class Support(NamedTuple):
  """Where a family's draws live.

  Attributes:
    kind: ``"interval"`` (each coordinate in ``[low, high]``), ``"circular"``
      (angles, ``[-pi, pi)``), ``"simplex"`` (event on the probability
      simplex) or ``"sphere"`` (event on the unit sphere).
    low: lower end (a float or an array broadcasting against the draws'
      batch (+ event) shape; ``-inf``: unbounded).
    high: upper end (``+inf``: unbounded).

  >>> from irt_jax._src.family import Support
  >>> Support("interval", 0.0, float("inf")).contains([0.5, -1.0]).tolist()
  [True, False]
  """
  kind: str
  low: Any = -math.inf
  high: Any = math.inf

  def contains(self, z: Any) -> jax.Array:
    """Elementwise ``low <= z <= high`` (an event's coordinates each).

    >>> from irt_jax._src.family import SIMPLEX
    >>> bool(SIMPLEX.contains([0.2, 0.8]).all())
    True
    """
    z = jnp.asarray(z)
    return (z >= self.low) & (z <= self.high)


REAL = Support("interval")
CIRCULAR = Support("circular", -math.pi, math.pi)
SIMPLEX = Support("simplex", 0.0, 1.0)
SPHERE = Support("sphere", -1.0, 1.0)


def interval(low: Any = -math.inf, high: Any = math.inf) -> Support:
  """``Support("interval", low, high)``.

  >>> from irt_jax._src.family import interval
  >>> interval(0.0, 1.0)
  Support(kind='interval', low=0.0, high=1.0)
  """
  return Support("interval", low, high)


class NotAFamilyError(TypeError, ValueError):
  """An argument that should be a family does not meet the contract.

  A ``TypeError`` (wrong kind of argument) that is also a ``ValueError``, as
  the mixture raised before the contract was written down.
  """


@runtime_checkable
class Family(Protocol):
  """The members every family has (see the module docstring).

  A ``runtime_checkable`` protocol: ``isinstance`` checks the members exist
  (:func:`check` also checks ``event_ndims`` and the 1-D members).

  >>> import irt_jax as irt
  >>> isinstance(irt.gamma, irt.family.Family), isinstance(irt.truncated.of(irt.gamma), irt.family.Family)
  (True, True)
  """
  Params: Any
  event_ndims: int

  def sample(self, key, params, shape=None, dtype=None, *, mode="vjp"): ...
  def log_prob(self, params, z): ...
  def support(self, params) -> Support: ...
  def validate(self, params, dtype=None): ...
  def is_valid(self, params): ...


def name_of(family: Any) -> str:
  """The family's name for messages (``irt_jax.gamma``, not ``_src``)."""
  name = getattr(family, "__name__", None) or type(family).__name__
  return name.replace("irt_jax._src.", "irt_jax.", 1)


def check(family: Any, *, univariate: bool = False,
          needs: tuple[str, ...] = REQUIRED, what: str = "family") -> Any:
  """Returns ``family`` if it meets the contract, else raises
  :class:`NotAFamilyError` (a ``TypeError``).

  Args:
    family: the candidate (module or object).
    univariate: also require a continuous 1-D family (not ``discrete``,
      ``event_ndims == 0`` with ``cdf``, ``log_cdf``, ``log_sf``), as
      truncation and mixtures do.
    needs: the members required (default: all of :data:`REQUIRED`); a caller
      that uses fewer (the estimators need ``Params``, ``sample`` and, for
      the score function, ``log_prob``) asks for those only, so a user's
      minimal family (a discrete sampler and its log-mass) works there.
    what: the argument's name in the message.

  >>> import irt_jax as irt
  >>> from irt_jax._src import family
  >>> family.check(irt.gamma, univariate=True) is irt.gamma
  True
  >>> family.check(irt.dirichlet, univariate=True, what="base")
  Traceback (most recent call last):
  ...
  irt_jax._src.family.NotAFamilyError: base: irt_jax.dirichlet has event_ndims=1; a 1-D family is needed here (event_ndims=0 with cdf, log_cdf, log_sf)
  >>> family.check(irt.poisson, univariate=True, what="base")
  Traceback (most recent call last):
  ...
  irt_jax._src.family.NotAFamilyError: base: irt_jax.poisson is discrete; a continuous 1-D family is needed here
  """
  def require(names):
    missing = [n for n in names if not hasattr(family, n)]
    if missing:
      raise NotAFamilyError(
          f"{what}: {name_of(family)!r} is not an irt_jax family: it lacks "
          f"{', '.join(missing)} (see irt_jax._src.family for the contract)")

  require(needs)
  if univariate:
    if getattr(family, "discrete", False):
      raise NotAFamilyError(
          f"{what}: {name_of(family)} is discrete; a continuous 1-D family is "
          "needed here")
    if getattr(family, "event_ndims", 0) != 0:
      raise NotAFamilyError(
          f"{what}: {name_of(family)} has event_ndims={family.event_ndims}; a 1-D "
          "family is needed here (event_ndims=0 with cdf, log_cdf, log_sf)")
    require(UNIVARIATE)
  return family


def check_params(family: Any, params: Any, what: str = "params") -> None:
  """``TypeError`` unless ``params`` is the family's ``Params`` (if it has one)."""
  cls = family.Params
  if cls is not None and not isinstance(params, cls):
    raise TypeError(f"{what}: expected {name_of(family)}.Params, got "
                    f"{type(params).__name__}")


def log_terms(family: Any, params: Any, x: Any) -> tuple[jax.Array, ...]:
  """``(log q, log F, log S)`` at ``x``, by the family's fused hook if any,
  broadcast to one shape."""
  hook = getattr(family, "log_terms", None)
  if hook is not None:
    terms = hook(params, x)
  else:
    terms = (family.log_prob(params, x), family.log_cdf(params, x),
             family.log_sf(params, x))
  shape = jnp.broadcast_shapes(*[jnp.shape(t) for t in terms])
  return tuple(jnp.broadcast_to(t, shape) for t in terms)


def as_arrays(params: Any) -> Any:
  """``params`` with every leaf a JAX array; plain lists and tuples of numbers
  are one leaf (as ``jnp.asarray`` takes them), ``NamedTuple`` s stay pytrees."""
  array_like = lambda x: isinstance(x, (list, tuple)) and not hasattr(x, "_fields")
  return jax.tree.map(jnp.asarray, params, is_leaf=array_like)


def named_leaves(params: Any, prefix: str = "") -> dict[str, Any]:
  """``{name: leaf}`` of a parameter pytree (field names for a ``Params``,
  key paths otherwise), for shape messages."""
  flat, _ = jax.tree_util.tree_flatten_with_path(params)
  return {prefix + (jax.tree_util.keystr(path).lstrip(".") or "params"): v
          for path, v in flat}


def interior(support: Support, dtype: Any) -> jax.Array:
  """A point strictly inside an interval support (its middle, or one unit in
  from its one finite end, or 0), for evaluations that must stay finite."""
  lo = jnp.asarray(support.low, dtype)
  hi = jnp.asarray(support.high, dtype)
  lo_ok, hi_ok = jnp.isfinite(lo), jnp.isfinite(hi)
  lo0, hi0 = jnp.where(lo_ok, lo, 0.0), jnp.where(hi_ok, hi, 0.0)
  return jnp.where(lo_ok & hi_ok, 0.5 * (lo0 + hi0),
                   jnp.where(lo_ok, lo0 + 1.0, jnp.where(hi_ok, hi0 - 1.0, 0.0)))


# ------------------------------------------------ members of a family module


_DOCS = {
    "validate": '''Checks ``params`` and returns them as floating arrays of one dtype.

Raises ``TypeError`` for a wrong type and ``ValueError`` naming the parameter
and the value for a concrete invalid one (traced values pass: under ``jit``
the samplers give NaN where a parameter is invalid).

Args:
  params: the family's ``Params``.
  dtype: floating dtype to convert to; default the parameters' own.

Returns:
  ``Params`` of floating arrays.

>>> import irt_jax as irt
>>> irt.{name}.validate({bad})
Traceback (most recent call last):
...
ValueError: {error}
''',
    "is_valid": '''``True`` where the (possibly traced) parameters are valid, batch-shaped.

>>> import irt_jax as irt
>>> irt.{name}.is_valid({good}).tolist()
True
''',
    "support": '''Where the draws live: :class:`irt_jax.family.Support`.

>>> import irt_jax as irt
>>> irt.{name}.support({good})
{support!r}
''',
}


_RULE_DOCS = {
    "log_terms": '''``(log_prob, log_cdf, log_sf)`` at ``z`` evaluated together, with their
derivatives from one evaluation of the rule (the contract's fused hook, which
truncation and mixtures use).

>>> import irt_jax as irt
>>> p = {good}
>>> [round(float(v), 6) for v in irt.{name}.log_terms(p, {z})] == [round(float(f(p, {z})), 6)
...     for f in (irt.{name}.log_prob, irt.{name}.log_cdf, irt.{name}.log_sf)]
True
''',
    "velocity": '''The implicit rule at ``z``: ``dz/dparams . params_dot = -(dF/dparams .
params_dot) / q(z)``, what ``sample`` differentiates with (the contract's
``velocity`` hook, which truncation uses).

>>> import jax, irt_jax as irt
>>> p, t = {good}, {tangent}
>>> dF = jax.jvp(lambda q: irt.{name}.cdf(q, {z}), (p,), (t,))[1]
>>> q = jax.numpy.exp(irt.{name}.log_prob(p, {z}))
>>> round(float(irt.{name}.velocity(p, {z}, t) + dF / q), 9) == 0
True
''',
}


def rule_hooks(name: str, prepare: Callable, log_terms: Callable, velocity: Callable, *,
               good: str, z: str, tangent: str) -> tuple[Callable, Callable]:
  """Public ``log_terms`` and ``velocity`` hooks for a module whose private
  fused terms and velocity take prepared parameters (they validate first).

  Args:
    name: the public module name, for docstrings.
    prepare: the module's ``_prepare(params, dtype) -> (params, dtype)``.
    log_terms: ``log_terms(params, z)`` from :func:`irt_jax._src.implicit.cdf_with_rule`.
    velocity: the module's ``velocity(params, z, params_dot)``.
    good, z, tangent: source of ``Params``, a point and a tangent for the examples.
  """

  def log_terms_fn(params, z):
    p, dtype = prepare(params)
    return log_terms(p, jnp.asarray(z, dtype))

  def velocity_fn(params, z, params_dot):
    p, dtype = prepare(params)
    p_dot = jax.tree.map(lambda v: jnp.asarray(v, dtype), params_dot)
    return velocity(p, jnp.asarray(z, dtype), p_dot)

  out = (log_terms_fn, velocity_fn)
  for fn, key in zip(out, ("log_terms", "velocity")):
    fn.__name__ = fn.__qualname__ = key
    fn.__doc__ = _RULE_DOCS[key].format(name=name, good=good, z=z, tangent=tangent)
  return out


def members(name: str, prepare: Callable, valid: Callable, support: Support, *,
            good: str, bad: str, error: str) -> tuple[Callable, Callable, Callable]:
  """``validate``, ``is_valid`` and ``support`` for a family module.

  Args:
    name: the public module name (``"gamma"``), for docstrings.
    prepare: the module's ``_prepare(params, dtype) -> (params, dtype)``.
    valid: the module's ``_valid(params) -> bool array`` on floating arrays.
    support: the (parameter-free) :class:`Support`.
    good, bad: source of valid / invalid ``Params`` for the examples.
    error: the ``ValueError`` message ``bad`` raises.

  The three functions' docstring examples are run by the contract tests.

  >>> from irt_jax._src import family, normal
  >>> v, ok, s = family.members("normal", normal._prepare, normal._valid,
  ...                           family.REAL, good="", bad="", error="")
  >>> s(None)
  Support(kind='interval', low=-inf, high=inf)
  """

  def validate(params, dtype=None):
    return prepare(params, dtype)[0]

  def is_valid(params):
    return jnp.asarray(valid(as_arrays(params)))

  def support_fn(params):
    del params
    return support

  out = (validate, is_valid, support_fn)
  for fn, key in zip(out, ("validate", "is_valid", "support")):
    fn.__name__ = fn.__qualname__ = key
    fn.__doc__ = _DOCS[key].format(name=name, good=good, bad=bad, error=error,
                                   support=support)
  return out


def run_examples(fn: Callable) -> doctest.TestResults:
  """Runs the ``>>>`` examples of a generated member (for the tests)."""
  finder = doctest.DocTestFinder(recurse=False)
  runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
  for test in finder.find(fn, fn.__name__, globs={}):
    runner.run(test)
  return runner.summarize(verbose=False)
