"""Runs each teaching notebook (notebooks/0*.py, percent format) top to bottom.

Each notebook asserts its key numbers against closed forms or independent
references in its last cell, so a broken library makes it exit non-zero. They run
as subprocesses (cwd: the repository root, figures to a temporary directory) so
that their jax configuration and compile caches do not leak into other tests.
Each run's wall and CPU time are recorded; its CPU time must stay within issue 4's
budget of two minutes on 2 CPU cores. `make test` runs the two quick notebooks as a
smoke run; `make examples` (pytest -m examples) runs the others.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import resource
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = pytest.mark.examples   # full runs: `make examples`, not `make test`
NOTEBOOKS = [
    # (file, needs float64): the two quick ones are the smoke run of `make test`
    ("01_naive_autograd.py", True),
    pytest.param("02_score_vs_reparam_variance.py", True, marks=EXAMPLES),
    pytest.param("03_velocity_fields.py", True, marks=EXAMPLES),
    pytest.param("04_elbo_and_jacobian.py", True, marks=EXAMPLES),
    ("05_mohamed_estimators.py", True),
    pytest.param("06_rao_blackwell.py", True, marks=EXAMPLES),
    pytest.param("07_logistic_regression.py", False, marks=EXAMPLES),
]
# issue 4: each notebook runs top to bottom in under two minutes on 2 cores.
# Asserted as CPU time (user + system of the subprocess) within 2 cores x 120 s,
# which a busy machine (xdist workers side by side) does not inflate the way it inflates wall time.
BUDGET_CPU_S = 2 * 120.0
TIMEOUT_S = 300   # only a guard against a hang; the budget above is what is asserted


@pytest.mark.parametrize("name,x64", NOTEBOOKS)
def test_notebook_runs(name: str, x64: bool, tmp_path: pathlib.Path,
                       record_property) -> None:
  path = ROOT / "notebooks" / name
  assert path.is_file(), f"missing notebook {path}"
  env = dict(os.environ)
  env.update(IRT_NOTEBOOK_OUT=str(tmp_path), MPLBACKEND="Agg",
             JAX_ENABLE_X64="1" if x64 else "0",
             PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep))
  t0 = time.perf_counter()
  cpu0 = _children_cpu()
  proc = subprocess.run([sys.executable, str(path)], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=TIMEOUT_S)
  wall = time.perf_counter() - t0
  cpu = _children_cpu() - cpu0
  record_property("wall_seconds", round(wall, 1))  # in --junitxml reports
  record_property("cpu_seconds", round(cpu, 1))
  print(f"{name}: {wall:.1f} s wall, {cpu:.1f} s CPU")
  tail = f"\n--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
  assert proc.returncode == 0, f"{name} exited with {proc.returncode}{tail}"
  assert "all checks passed" in proc.stdout, f"{name} did not reach its last cell{tail}"
  figures = list(tmp_path.glob("*.png"))
  assert figures, f"{name} saved no figure to IRT_NOTEBOOK_OUT{tail}"
  assert cpu < BUDGET_CPU_S, (f"{name} used {cpu:.1f} s of CPU "
                              f"(budget: 2 cores x 120 s; wall {wall:.1f} s)")


def _children_cpu() -> float:
  """User + system seconds of this process's finished children."""
  r = resource.getrusage(resource.RUSAGE_CHILDREN)
  return r.ru_utime + r.ru_stime


def _builder():
  spec = importlib.util.spec_from_file_location("notebook_build", ROOT / "notebooks" / "build.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("0*.py")),
                         ids=lambda p: p.name)
def test_executed_ipynb_is_fresh(path: pathlib.Path) -> None:
  """Each script has its executed .ipynb (`make notebooks`) with exactly its cells,
  its checks passed, and its figures embedded."""
  ipynb = path.with_suffix(".ipynb")
  assert ipynb.is_file(), f"missing {ipynb.name}: run `make notebooks`"
  nb = json.loads(ipynb.read_text())
  got = [(c["cell_type"], "".join(c["source"])) for c in nb["cells"]]
  assert got == _builder().cells(path.read_text()), (
      f"{ipynb.name} is stale: run `make notebooks`")
  outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
  assert any("image/png" in o.get("data", {}) for o in outputs), f"{ipynb.name}: no figure"
  last = "".join(outputs[-1].get("text", [])) if outputs else ""
  assert "all checks passed" in last, f"{ipynb.name}: last output is {last[-200:]!r}"
