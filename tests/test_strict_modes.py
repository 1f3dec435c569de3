"""Every family of the contract battery under JAX's strict modes, x64 on and off.

* ``jax.numpy_rank_promotion("raise")`` and ``jax.numpy_dtype_promotion("strict")``
  (every case): the library broadcasts and casts explicitly.
* ``jax.checking_leaks()`` (one case per family): no tracer escapes a trace.
* ``jax.debug_nans(True)`` under ``jax.disable_jit()`` (one case per family): no NaN
  is produced anywhere, not even in a discarded ``where`` branch (under ``jit``
  debug_nans sees only a program's outputs, and ``sample`` is jitted inside).

The first three act at trace time, so those tests only trace (``jax.make_jaxpr``):
no XLA compilation. What is exercised: ``sample`` (concrete parameters, so the
eager validation runs too), ``jax.grad`` of a scalar function of the draws in both
modes, ``log_prob`` and, for 1-D families, ``cdf``.
"""

from __future__ import annotations

import contextlib
import gc

import jax
import jax.numpy as jnp
import pytest

from tests.test_contract import CASES, KEY, _grouped

X64 = [pytest.param(True, id="x64"), pytest.param(False, id="x32")]
# One case per family: a family's parameter regimes trace the same program.
_first: dict[int, str] = {}
for _n, _c in CASES.items():
  _first.setdefault(id(_c.family), _n)
FIRST_OF_FAMILY = list(_first.values())
N = 4  # draws: tiny, the disable_jit run is op by op


def _steps(family, p, dtype, modes=("vjp", "jvp")):
  """``{what: (fn, args)}``: the calls every strict mode must accept."""
  draws = lambda q, mode: family.sample(KEY, q, (N,), mode=mode)
  loss = lambda q, mode: jnp.sum(jnp.sin(draws(q, mode)))
  z = jax.eval_shape(lambda: draws(p, "vjp"))
  z = jnp.full(z.shape, 0.5, dtype)      # inside every support used here
  steps = {
      "sample": (lambda k: family.sample(k, p, (N,)), (KEY,)),
      "log_prob": (family.log_prob, (p, z)),
  }
  for mode in modes:
    steps[f"grad mode={mode}"] = (jax.grad(lambda q, m=mode: loss(q, m)), (p,))
  if family.event_ndims == 0:
    steps["cdf"] = (family.cdf, (p, z))
  return steps


def _run_all(name, x64, flag, steps, call):
  for what, (fn, args) in steps.items():
    try:
      jax.block_until_ready(call(fn, *args))
    except Exception as e:  # noqa: BLE001 - re-raised with the family and call named
      pytest.fail(f"{name}: {what} (x64={x64}) under {flag}: {type(e).__name__}: {e}")


@contextlib.contextmanager
def _frozen_heap():
  """The leak checker runs gc.collect() after every trace; freezing what existed
  before makes each collection scan only the objects made here (a leaked tracer
  is made here, so it is still found): minutes -> seconds."""
  gc.collect()
  gc.freeze()
  try:
    yield
  finally:
    gc.unfreeze()


@pytest.mark.parametrize("x64", X64)
@pytest.mark.parametrize("name", _grouped(list(CASES)))
def test_traces_under_strict_promotion_and_leak_checks(name, x64):
  """Traced only (trace-time flags: no compilation). Leak checking disables
  JAX's trace caches, so it runs on one case per family, x64 off only (which
  tracers escape does not depend on the float width)."""
  case = CASES[name]
  dtype = jnp.float64 if x64 else jnp.float32
  leaks = name in FIRST_OF_FAMILY and not x64
  flag = 'numpy_rank_promotion("raise") + numpy_dtype_promotion("strict")'
  with contextlib.ExitStack() as stack:
    if leaks:
      stack.enter_context(_frozen_heap())
      stack.enter_context(jax.checking_leaks())
      flag += " + checking_leaks()"
    stack.enter_context(jax.enable_x64(x64))
    stack.enter_context(jax.numpy_rank_promotion("raise"))
    stack.enter_context(jax.numpy_dtype_promotion("strict"))
    steps = _steps(case.family, case.params(dtype), dtype)
    _run_all(name, x64, flag, steps, lambda fn, *a: jax.make_jaxpr(fn)(*a))


@pytest.mark.parametrize("name", _grouped(FIRST_OF_FAMILY))
def test_no_nan_even_in_discarded_branches(name):
  """Op by op (disable_jit), so debug_nans checks every intermediate, not only
  outputs; each op then compiles alone, so to stay within the time budget: x64
  off (float32, where underflow guards matter most) and mode="vjp" only (the
  jvp rule evaluates the same velocity)."""
  case = CASES[name]
  with jax.enable_x64(False):
    steps = _steps(case.family, case.params(jnp.float32), jnp.float32, modes=("vjp",))
    with jax.disable_jit(), jax.debug_nans(True):
      _run_all(name, False, "disable_jit() + debug_nans(True)", steps,
               lambda fn, *a: fn(*a))


@pytest.mark.parametrize("x64", X64)
def test_unconstrained_pairs_trace_under_strict_promotion(x64):
  """``beta.sample_logit`` / ``log_prob_logit``, ``gamma.sample_log`` /
  ``log_prob_log``, ``dirichlet.sample_log`` / ``log_prob_log``, with a batch of
  parameters of lower rank than the draws (what an ELBO over several draws per
  parameter set feeds)."""
  import irt_jax as irt
  dtype = jnp.float64 if x64 else jnp.float32
  c = jnp.asarray([0.5, 1.0, 3.0], dtype)
  pairs = {
      "beta": (irt.beta.sample_logit, irt.beta.log_prob_logit, lambda a: irt.beta.Params(a, 2 * a), (4, 3)),
      "gamma": (irt.gamma.sample_log, irt.gamma.log_prob_log, lambda a: irt.gamma.Params(a, a), (4, 3)),
      "dirichlet": (irt.dirichlet.sample_log, irt.dirichlet.log_prob_log, irt.dirichlet.Params, (4,)),
  }
  with jax.enable_x64(x64), jax.numpy_rank_promotion("raise"), jax.numpy_dtype_promotion("strict"):
    for name, (draw, density, params, shape) in pairs.items():
      elbo_term = lambda a: jnp.sum(density(params(a), draw(KEY, params(a), shape)))
      _run_all(name, x64, "numpy_rank_promotion + numpy_dtype_promotion", {
          "sample + log density, grad": (jax.grad(elbo_term), (c,))},
          lambda fn, *a: jax.make_jaxpr(fn)(*a))
