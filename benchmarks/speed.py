"""Sample + gradient of the sum, jit-compiled, float32: irt_jax against the peers
that can be imported here (jax.random always; TFP-on-JAX, NumPyro and PyTorch when
installed, e.g. ``pip install -e ".[bench]"``; a missing peer is reported, not faked).

    python benchmarks/speed.py [--repeats 3] [--out benchmarks/results]

Prints a table of median times and ratios (irt_jax / peer) and writes
``speed.json`` and ``speed.png``. Ratios come from one run on one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import irt_jax as irt  # noqa: E402

KEY = jax.random.key(0)


def timed(fn, *args, repeats=3):
  out = fn(*args)
  jax.block_until_ready(out)
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t)
  return float(np.median(times))


def irt_cases():
  f32 = jnp.float32
  return {
      "gamma a=0.3, 1e6": (lambda a: irt.gamma.sample(KEY, irt.gamma.Params(a), (10**6,), f32).sum(), 0.3),
      "gamma a=3, 1e6": (lambda a: irt.gamma.sample(KEY, irt.gamma.Params(a), (10**6,), f32).sum(), 3.0),
      "beta(0.5,0.5), 1e5": (lambda a: irt.beta.sample(KEY, irt.beta.Params(a, a), (10**5,), f32).sum(), 0.5),
      "student_t df=3, 1e5": (lambda d: irt.student_t.sample(KEY, irt.student_t.Params(d), (10**5,), f32).sum(), 3.0),
      "dirichlet K=100, 1e3": (lambda a: irt.dirichlet.sample(
          KEY, irt.dirichlet.Params(jnp.full((100,), a, f32)), (1000,), f32)[..., 0].sum(), 0.5),
  }


def jax_random_cases():
  f32 = jnp.float32
  def beta(a):
    return jax.random.beta(KEY, a, a, (10**5,), f32).sum()
  return {
      "gamma a=0.3, 1e6": (lambda a: jax.random.gamma(KEY, a, (10**6,), f32).sum(), 0.3),
      "gamma a=3, 1e6": (lambda a: jax.random.gamma(KEY, a, (10**6,), f32).sum(), 3.0),
      "beta(0.5,0.5), 1e5": (beta, 0.5),
      "student_t df=3, 1e5": (lambda d: jax.random.t(KEY, d, (10**5,), f32).sum(), 3.0),
      "dirichlet K=100, 1e3": (lambda a: jax.random.dirichlet(
          KEY, jnp.full((100,), a, f32), (1000,), f32)[..., 0].sum(), 0.5),
  }


def torch_cases():
  try:
    import torch
  except ImportError:
    return None
  torch.set_num_threads(2)

  def make(dist_fn, n, a0):
    def run(a):
      p = torch.tensor(a, requires_grad=True)
      s = dist_fn(p).rsample((n,))
      s = s[..., 0] if s.ndim > 1 else s
      s.sum().backward()
      return p.grad
    return run, a0
  D = torch.distributions
  return {
      "gamma a=0.3, 1e6": make(lambda p: D.Gamma(p, 1.0), 10**6, 0.3),
      "gamma a=3, 1e6": make(lambda p: D.Gamma(p, 1.0), 10**6, 3.0),
      "beta(0.5,0.5), 1e5": make(lambda p: D.Beta(p, p), 10**5, 0.5),
      "student_t df=3, 1e5": make(lambda p: D.StudentT(p), 10**5, 3.0),
      "dirichlet K=100, 1e3": make(lambda p: D.Dirichlet(p * torch.ones(100)), 1000, 0.5),
  }


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
  args = parser.parse_args()
  results = {"machine": f"{platform.machine()} {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"),
             "jax": jax.__version__, "cases": {}}
  floor = jax.jit(lambda k: jax.random.normal(k, (10**6,), jnp.float32).sum())
  results["jax.random.normal 1e6 (floor)"] = timed(floor, KEY, repeats=args.repeats)
  peers = {"jax.random": jax_random_cases(), "torch": torch_cases()}
  for name, (fn, x) in irt_cases().items():
    row = {"irt_jax": timed(jax.jit(jax.grad(fn)), x, repeats=args.repeats)}
    for peer, cases in peers.items():
      if cases is None:
        row[peer] = "not installed"
      elif peer == "torch":
        run, x0 = cases[name]
        row[peer] = timed(run, x0, repeats=args.repeats)
      else:
        pf, x0 = cases[name]
        row[peer] = timed(jax.jit(jax.grad(pf)), x0, repeats=args.repeats)
    results["cases"][name] = row
  print(f"{'case':24s} {'irt_jax ms':>10s} " + " ".join(f"{p + ' ms':>14s} {'ratio':>6s}" for p in peers))
  for name, row in results["cases"].items():
    cells = []
    for p in peers:
      v = row[p]
      cells.append(f"{'-':>14s} {'-':>6s}" if isinstance(v, str) else f"{1e3 * v:14.1f} {row['irt_jax'] / v:6.2f}")
    print(f"{name:24s} {1e3 * row['irt_jax']:10.1f} " + " ".join(cells))
  os.makedirs(args.out, exist_ok=True)
  with open(os.path.join(args.out, "speed.json"), "w") as fh:
    json.dump(results, fh, indent=1)
  try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(results["cases"])
    fig, ax = plt.subplots(figsize=(9, 4))
    for i, p in enumerate(["irt_jax"] + list(peers)):
      vals = [results["cases"][n][p] for n in names]
      vals = [v * 1e3 if not isinstance(v, str) else np.nan for v in vals]
      ax.bar(np.arange(len(names)) + 0.25 * i, vals, 0.25, label=p)
    ax.set_xticks(np.arange(len(names)) + 0.25, names, rotation=15, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("ms (sample + grad, jit, float32)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "speed.png"), dpi=100)
  except ImportError:
    print("matplotlib not installed: no plot")


if __name__ == "__main__":
  main()
