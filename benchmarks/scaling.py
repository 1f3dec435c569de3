"""Cost and memory of sample + gradient against the number of draws (1e3 .. 1e7).

    python benchmarks/scaling.py [--max-exp 7] [--out benchmarks/results]

For Gamma(0.3), Beta(0.5, 0.5), Student-t(3), von Mises(0, 2) and a mixture of
5 diagonal normals in D = 10 (draws of 10 floats, to 1e6), float32, jit: the median
time of ``grad(sum(sample))`` and the time per draw, and XLA's own account of
the compiled program's temporary memory (``memory_analysis``), which must grow
like the number of draws (no dense per-batch Jacobian). Writes
``scaling.json`` and ``scaling.png``.
"""

from __future__ import annotations

import argparse
import os

import _common
import jax
import jax.numpy as jnp
import numpy as np

import irt_jax as irt

KEY = jax.random.key(0)
F32 = jnp.float32
FAMILIES = {
    "gamma a=0.3": lambda n: lambda a: irt.gamma.sample(KEY, irt.gamma.Params(a), (n,), F32).sum(),
    "beta(0.5,0.5)": lambda n: lambda a: irt.beta.sample(KEY, irt.beta.Params(a, a), (n,), F32).sum(),
    "student_t df=3": lambda n: lambda d: irt.student_t.sample(
        KEY, irt.student_t.Params(d), (n,), F32).sum(),
    "von_mises kappa=2": lambda n: lambda k: irt.von_mises.sample(
        KEY, irt.von_mises.Params(0.0, k), (n,), F32).sum(),
    "mixture 5x10 normals": lambda n: lambda s: _MIX.sample(KEY, _MIX.Params(
        jnp.zeros(5, F32), irt.normal.Params(_MIX_LOC * s, jnp.ones((5, 10), F32))),
        (n,), F32).sum(),
}
X0 = {"gamma a=0.3": 0.3, "beta(0.5,0.5)": 0.5, "student_t df=3": 3.0,
      "von_mises kappa=2": 2.0, "mixture 5x10 normals": 1.0}
MAX_EXP = {"mixture 5x10 normals": 6}   # a draw is 10 floats
_MIX = irt.mixture.of(irt.normal, event_ndims=1)
_MIX_LOC = jnp.linspace(-2.0, 2.0, 50, dtype=F32).reshape(5, 10)


def temp_bytes(fn, x):
  try:
    stats = jax.jit(jax.grad(fn)).lower(x).compile().memory_analysis()
    return int(stats.temp_size_in_bytes) if stats is not None else None
  except Exception:  # pylint: disable=broad-except  (not every backend reports it)
    return None


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--max-exp", type=int, default=7)
  parser.add_argument("--out", default=_common.RESULTS)
  args = parser.parse_args()
  sizes = [10**e for e in range(3, args.max_exp + 1)]
  results = {"meta": _common.machine(), "sizes": sizes, "families": {}}
  jobs = [(name, n) for name in FAMILIES for n in sizes
          if n <= 10 ** MAX_EXP.get(name, args.max_exp)]
  for name, n in _common.progress(jobs, "scaling"):
    fn, x = FAMILIES[name](n), F32(X0[name])
    t = _common.timed(jax.jit(jax.grad(fn)), x, repeats=3 if n < 10**7 else 1)
    entry = results["families"].setdefault(
        name, {"sizes": [], "seconds": [], "ns_per_draw": [], "temp_bytes": []})
    entry["sizes"].append(n)
    entry["seconds"].append(t)
    entry["ns_per_draw"].append(1e9 * t / n)
    entry["temp_bytes"].append(temp_bytes(fn, x))
  print(f"\n{'family':20s} " + " ".join(f"{'n=1e%d' % np.log10(n):>16s}" for n in sizes))
  for name, e in results["families"].items():
    print(f"{name:20s} " + " ".join(
        f"{ns:7.1f}ns {('%.0fB' % (b / n)) if b else '-':>7s}"
        for ns, b, n in zip(e["ns_per_draw"], e["temp_bytes"], e["sizes"])))
  print("(per draw: time and compiled temporary memory)")
  path = _common.save("scaling", results, args.out)
  try:
    plt = _common.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, e in results["families"].items():
      axes[0].loglog(e["sizes"], e["seconds"], "o-", label=name)
      if all(e["temp_bytes"]):
        axes[1].loglog(e["sizes"], e["temp_bytes"], "o-", label=name)
    first = next(iter(results["families"].values()))
    axes[0].loglog(sizes, np.array(sizes) * first["seconds"][-1] / first["sizes"][-1],
                   "k:", label="linear")
    axes[0].set_xlabel("draws")
    axes[0].set_ylabel("seconds (sample + grad, jit, float32)")
    axes[1].set_xlabel("draws")
    axes[1].set_ylabel("compiled temporary bytes")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "scaling.png"), dpi=100)
  except ImportError:
    print("matplotlib not installed: no plot")
  print(f"wrote {path}")


if __name__ == "__main__":
  main()
