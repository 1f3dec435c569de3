"""Shared helpers of the benchmark scripts: timing, peers, results, progress."""

from __future__ import annotations

import json
import os
import platform
import sys
import time

import jax
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # irt_jax and tests.references without installing
RESULTS = os.path.join(ROOT, "benchmarks", "results")


def machine() -> dict:
  """What the figures were measured on."""
  return {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
          "python": platform.python_version(), "jax": jax.__version__,
          "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def timed(fn, *args, repeats: int = 5, budget: float = 0.5) -> float:
  """Median wall time of ``fn(*args)`` in seconds, after one warm-up call
  (which compiles); JAX outputs are waited for. At least ``repeats`` calls,
  and more for fast functions until ``budget`` seconds have passed (at most
  200): on a shared machine the median of 5 calls of a few milliseconds moved
  by 1.5x between runs."""
  jax.block_until_ready(fn(*args))
  times = []
  start = time.perf_counter()
  while len(times) < repeats or (time.perf_counter() - start < budget
                                 and len(times) < 200):
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t)
  return float(np.median(times))


def peers() -> dict:
  """Importable peer libraries (name -> module), and the missing ones as strings."""
  found = {}
  for name, mod in [("tfp", "tensorflow_probability.substrates.jax"),
                    ("numpyro", "numpyro.distributions"), ("distrax", "distrax"),
                    ("torch", "torch")]:
    try:
      found[name] = __import__(mod, fromlist=["_"])
    except Exception as e:  # pylint: disable=broad-except
      found[name] = f"not installed ({type(e).__name__})"
  return found


def progress(items, desc: str):
  """tqdm when installed, else a plain iterator that prints each step."""
  items = list(items)
  try:
    from tqdm import tqdm
    return tqdm(items, desc=desc, file=sys.stdout, dynamic_ncols=True)
  except ImportError:
    def gen():
      for i, item in enumerate(items):
        print(f"{desc} [{i + 1}/{len(items)}]", flush=True)
        yield item
    return gen()


def save(name: str, results: dict, out: str = RESULTS) -> str:
  os.makedirs(out, exist_ok=True)
  path = os.path.join(out, f"{name}.json")
  with open(path, "w") as fh:
    json.dump(results, fh, indent=1, default=float)
  return path


def pyplot():
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt
