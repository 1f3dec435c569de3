"""Every family exports for GPU and TPU: ``jax.export`` of ``jit(grad)`` and of
``jit(hessian)`` (forward over reverse, ``mode="jvp"``) of a scalar function of the
draws, lowered for ``("cuda", "tpu")`` on this CPU-only machine (lowering only, no
compilation). The module must hold no host callback (it would need a Python host)
and no CPU-only custom call (LAPACK, DUCC FFT, ``cpu`` targets): either would
mean the program runs only on the backend it was written on.
"""

from __future__ import annotations

import re

import jax
from jax import export
import jax.numpy as jnp
import numpy as np
import pytest

from tests.test_contract import CASES, KEY, _grouped

_first: dict[int, str] = {}
for _n, _c in CASES.items():
  _first.setdefault(id(_c.family), _n)
FIRST_OF_FAMILY = list(_first.values())   # one case per family

# Custom-call targets and attributes that only exist on XLA:CPU, or need a host.
_NOT_PORTABLE = re.compile(r"callback|lapack|ducc|cpu", re.IGNORECASE)


def _custom_calls(module_text: str) -> list[str]:
  """The targets of every custom call in a StableHLO module's text."""
  return re.findall(r"custom_call\s*@([\w.$-]+)", module_text) + re.findall(
      r'call_target_name\s*=\s*"([^"]+)"', module_text)


def _problems(module_text: str) -> list[str]:
  bad = [t for t in _custom_calls(module_text) if _NOT_PORTABLE.search(t)]
  if re.search(r"callback", module_text, re.IGNORECASE):
    bad.append("'callback' in the module text")
  return bad


def _export(fn, *args):
  return export.export(jax.jit(fn), platforms=("cuda", "tpu"))(*args).mlir_module()


def test_the_check_sees_callbacks_and_cpu_custom_calls():
  """The detector itself: a host callback and a CPU-lowered LAPACK call are found
  (``jax.export`` refuses host callbacks outright, so that one is read from a
  plain lowering)."""
  callback = lambda x: jax.pure_callback(np.sin, jax.ShapeDtypeStruct((), x.dtype), x)
  text = jax.jit(callback).lower(jnp.float32(1.0)).as_text()
  assert _problems(text), "a pure_callback was not detected"
  with pytest.raises(NotImplementedError, match="callback"):
    _export(callback, jnp.float32(1.0))
  eigh = lambda a: jnp.linalg.eigh(a)[0]
  text = export.export(jax.jit(eigh), platforms=("cpu",))(jnp.eye(3, dtype=jnp.float32)).mlir_module()
  assert any("lapack" in t for t in _custom_calls(text)), _custom_calls(text)
  assert _problems(text)


@pytest.mark.parametrize("name", _grouped(FIRST_OF_FAMILY))
def test_grad_and_hessian_export_for_gpu_and_tpu(name):
  case = CASES[name]
  family = case.family
  p = case.params(jnp.float32)         # what GPU / TPU programs use
  loss = lambda q, mode: jnp.sum(jnp.sin(family.sample(KEY, q, (4,), mode=mode)))
  programs = {
      "jit(grad), mode=vjp": jax.grad(lambda q: loss(q, "vjp")),
      "jit(hessian), mode=jvp": jax.hessian(lambda q: loss(q, "jvp")),
  }
  for what, fn in programs.items():
    try:
      text = _export(fn, p)
    except Exception as e:  # noqa: BLE001 - re-raised naming the family and program
      pytest.fail(f"{name}: {what} does not export for cuda/tpu: {type(e).__name__}: {e}")
    assert not _problems(text), (
        f"{name}: {what} exported for cuda/tpu holds non-portable calls: "
        f"{_problems(text)}")
