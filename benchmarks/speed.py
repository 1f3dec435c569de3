"""Sample + gradient, jit-compiled, float32: irt_jax against the peers importable here.

    python benchmarks/speed.py [--repeats 5] [--out benchmarks/results] [--cases gamma,beta]

Every case times ``d/dparam sum(draws)`` (one scalar parameter and draws of the
given size; or, in the "per-draw" rows, one parameter per draw, what a VAE's
encoder feeds) after a warm-up call that compiles it: irt_jax, jax.random,
TFP on JAX, NumPyro, Distrax (all under ``jax.jit(jax.grad(...))``) and PyTorch
(``rsample`` + ``backward``, 2 threads). A peer that is not installed or has no
reparameterized sampler for a case is reported as such, never faked. Ratios are
irt_jax / peer from the same run; "x floor" is irt_jax over ``jax.random.normal``
of the same number of floats. Writes ``speed.json`` and ``speed.png``.
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
PEERS = ("jax.random", "tfp", "numpyro", "distrax", "torch")

# case -> (draws, event size, parameter value, targets: peer -> max ratio). A case
# named "... per-draw" gives every draw its own parameters (shape None, the VAE
# case: an encoder emits one parameter set per draw), of shape PER_DRAW[case].
_GAMMA_T = {"jax.random": 0.05, "tfp": 0.3, "torch": 1.0}
_BETA_T = {"jax.random": 0.05, "tfp": 0.5, "torch": 1.0}
_T_T = {"jax.random": 0.1, "tfp": 0.5, "torch": 1.5}
_VM_T = {"tfp": 0.5, "distrax": 0.5}
CASES = {
    "gamma a=0.3, 1e6": (10**6, 1, 0.3, _GAMMA_T),
    "gamma a=3, 1e6": (10**6, 1, 3.0, _GAMMA_T),
    "beta(0.5,0.5), 1e5": (10**5, 1, 0.5, _BETA_T),
    "student_t df=3, 1e5": (10**5, 1, 3.0, _T_T),
    "dirichlet K=100, 1e3": (1000, 100, 0.5, {"jax.random": 0.1, "tfp": 0.5, "torch": 1.5}),
    "von_mises kappa=2, 1e5": (10**5, 1, 2.0, _VM_T),
    "mixture 5 diag normals D=10, 1e4": (10**4, 10, 1.0, {"tfp": 0.3}),
    "gamma a=3, 1e5 per-draw": (10**5, 1, 3.0, _GAMMA_T),
    "beta(0.5,0.5), 1e5 per-draw": (10**5, 1, 0.5, _BETA_T),
    "student_t df=3, 1e5 per-draw": (10**5, 1, 3.0, _T_T),
    "von_mises kappa=2, 1e5 per-draw": (10**5, 1, 2.0, _VM_T),
    "mixture 5 diag normals D=10, 1e4 per-draw logits": (10**4, 10, 1.0, {"tfp": 0.3}),
    "beta(0.5,0.5), VAE 128x16 per-draw": (128 * 16, 1, 0.5, _BETA_T),
}
PER_DRAW = {c: ((128, 16) if "VAE" in c else (CASES[c][0],)) for c in CASES if "per-draw" in c}
MIX_K, MIX_D = 5, 10


def _mix_locs(p):
  return p * jnp.linspace(-2.0, 2.0, MIX_K * MIX_D, dtype=F32).reshape(MIX_K, MIX_D)


def _mix_params(case, p):
  """(logits, locs) of the mixture case: per draw, the logits follow the parameter."""
  if case not in PER_DRAW:
    return jnp.zeros(MIX_K, F32), _mix_locs(p)
  logits = p[:, None] * jnp.linspace(-1.0, 1.0, MIX_K, dtype=F32)
  return logits, jnp.broadcast_to(_mix_locs(1.0), (p.shape[0], MIX_K, MIX_D))


def sample_shape(case):
  """The ``shape`` argument of the case: the draws, or None (per draw)."""
  return None if case in PER_DRAW else (CASES[case][0],)


def argument(case, x0):
  """The case's differentiated parameter: a scalar, or one per draw."""
  return jnp.full(PER_DRAW[case], x0, F32) if case in PER_DRAW else F32(x0)


def jax_fn(lib, mods, case):
  """``f(param) -> scalar`` for a JAX library, or a string saying why not."""
  shape = sample_shape(case)
  family = case.split(" ")[0]
  if lib == "irt_jax":
    if family == "gamma":
      return lambda a: irt.gamma.sample(KEY, irt.gamma.Params(a), shape, F32).sum()
    if family == "beta(0.5,0.5),":
      return lambda a: irt.beta.sample(KEY, irt.beta.Params(a, a), shape, F32).sum()
    if family == "student_t":
      return lambda d: irt.student_t.sample(KEY, irt.student_t.Params(d), shape, F32).sum()
    if family == "dirichlet":
      return lambda a: irt.dirichlet.sample(
          KEY, irt.dirichlet.Params(jnp.full((100,), a, F32)), shape, F32)[..., 0].sum()
    if family == "von_mises":
      if not hasattr(irt, "von_mises"):
        return "no von_mises in this irt_jax"
      return lambda k: irt.von_mises.sample(KEY, irt.von_mises.Params(0.0, k), shape, F32).sum()
    if not hasattr(irt, "mixture"):
      return "no mixture in this irt_jax"
    mix = irt.mixture.of(irt.normal, event_ndims=1)

    def mixture_sum(p):
      logits, locs = _mix_params(case, p)
      comps = irt.normal.Params(locs, jnp.ones(locs.shape, F32))
      return mix.sample(KEY, mix.Params(logits, comps), shape, F32).sum()
    return mixture_sum
  if lib == "jax.random":
    fns = {
        "gamma": lambda a: jax.random.gamma(KEY, a, shape, F32).sum(),
        "beta(0.5,0.5),": lambda a: jax.random.beta(KEY, a, a, shape, F32).sum(),
        "student_t": lambda d: jax.random.t(KEY, d, shape, F32).sum(),
        "dirichlet": lambda a: jax.random.dirichlet(
            KEY, jnp.full((100,), a, F32), shape, F32)[..., 0].sum(),
    }
    return fns.get(family, "no sampler")
  draws = () if shape is None else shape
  mod = mods[lib]
  if isinstance(mod, str):
    return mod
  if lib == "tfp":
    d = mod.distributions
    make = {
        "gamma": lambda a: d.Gamma(a, 1.0),
        "beta(0.5,0.5),": lambda a: d.Beta(a, a),
        "student_t": lambda v: d.StudentT(v, 0.0, 1.0),
        "dirichlet": lambda a: d.Dirichlet(jnp.full((100,), a, F32)),
        "von_mises": lambda k: d.VonMises(0.0, k),
        "mixture": lambda p: d.MixtureSameFamily(
            d.Categorical(logits=_mix_params(case, p)[0]),
            d.Independent(d.Normal(_mix_params(case, p)[1], 1.0), 1), reparameterize=True),
    }[family]
    return lambda x: _reduce(family, make(x).sample(draws, seed=KEY))
  if lib == "numpyro":
    make = {
        "gamma": lambda a: mod.Gamma(a),
        "beta(0.5,0.5),": lambda a: mod.Beta(a, a),
        "student_t": lambda v: mod.StudentT(v),
        "dirichlet": lambda a: mod.Dirichlet(jnp.full((100,), a, F32)),
        "von_mises": lambda k: mod.VonMises(0.0, k),
        "mixture": None,
    }[family]
    if make is None or not make(jnp.float32(1.0)).has_rsample:
      return "no reparameterized sampler"
    return lambda x: _reduce(family, make(x).rsample(KEY, draws))
  if lib == "distrax":
    names = {"gamma": "Gamma", "beta(0.5,0.5),": "Beta", "dirichlet": "Dirichlet",
             "von_mises": "VonMises"}
    if family not in names or not hasattr(mod, names[family]):
      return "no such distribution"
    cls = getattr(mod, names[family])
    make = {
        "gamma": lambda a: cls(a, 1.0),
        "beta(0.5,0.5),": lambda a: cls(a, a),
        "dirichlet": lambda a: cls(jnp.full((100,), a, F32)),
        "von_mises": lambda k: cls(0.0, k),
    }[family]
    return lambda x: _reduce(family, make(x).sample(seed=KEY, sample_shape=draws))
  raise ValueError(lib)


def _reduce(family, z):
  return z[..., 0].sum() if family == "dirichlet" else z.sum()


def torch_fn(torch, case):
  """A closure running rsample + backward in PyTorch, or why not."""
  if isinstance(torch, str):
    return torch
  n, _, x0, _ = CASES[case]
  family = case.split(" ")[0]
  draws = () if case in PER_DRAW else (n,)
  D = torch.distributions
  make = {
      "gamma": lambda p: D.Gamma(p, 1.0),
      "beta(0.5,0.5),": lambda p: D.Beta(p, p),
      "student_t": lambda p: D.StudentT(p),
      "dirichlet": lambda p: D.Dirichlet(p * torch.ones(100)),
  }.get(family)
  if make is None:
    return "no rsample"

  def run(a):
    p = torch.full(PER_DRAW.get(case, ()), a, requires_grad=True)
    s = make(p).rsample(draws)
    (s[..., 0] if family == "dirichlet" else s).sum().backward()
    return p.grad
  return run


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--out", default=_common.RESULTS)
  parser.add_argument("--cases", default="", help="comma-separated prefixes of case names")
  args = parser.parse_args()
  mods = _common.peers()
  if not isinstance(mods["torch"], str):
    mods["torch"].set_num_threads(2)
  cases = [c for c in CASES if not args.cases or any(c.startswith(p) for p in args.cases.split(","))]
  results = {"meta": _common.machine(), "peers": {k: (v if isinstance(v, str) else "ok")
                                                   for k, v in mods.items()}, "cases": {}}
  for case in _common.progress(cases, "speed"):
    n, event, x0, targets = CASES[case]
    floor = jax.jit(lambda k: jax.random.normal(k, (n * event,), F32).sum())
    row = {"floor": _common.timed(floor, KEY, repeats=args.repeats)}
    for lib in ("irt_jax",) + PEERS:
      fn = torch_fn(mods["torch"], case) if lib == "torch" else jax_fn(lib, mods, case)
      if isinstance(fn, str):
        row[lib] = fn
        continue
      compiled = fn if lib == "torch" else jax.jit(jax.grad(fn))
      try:
        row[lib] = _common.timed(compiled, argument(case, x0) if lib != "torch" else x0,
                                 repeats=args.repeats)
      except Exception as e:  # pylint: disable=broad-except  (a peer's own failure)
        row[lib] = f"failed: {type(e).__name__}: {str(e)[:80]}"
    row["targets"] = targets
    results["cases"][case] = row
  print_table(results)
  path = _common.save("speed", results, args.out)
  plot(results, args.out)
  print(f"wrote {path}")


def ratio_cells(row):
  """(peer, ratio or None, target or None) for each peer."""
  out = []
  for lib in PEERS:
    v = row[lib]
    r = row["irt_jax"] / v if not isinstance(v, str) and not isinstance(row["irt_jax"], str) else None
    out.append((lib, r, row["targets"].get(lib)))
  return out


def print_table(results):
  head = f"{'case':50s} {'irt_jax ms':>10s} {'x floor':>8s} " + " ".join(f"{p:>12s}" for p in PEERS)
  print("\nsample + grad, jit, float32; peer columns: ratio irt_jax/peer "
        "(target in brackets, * = missed)\n" + head)
  for case, row in results["cases"].items():
    irt_ms = row["irt_jax"]
    if isinstance(irt_ms, str):
      print(f"{case:50s} {irt_ms}")
      continue
    cells = []
    for lib, r, target in ratio_cells(row):
      if r is None:
        cells.append(f"{'-':>12s}")
      else:
        mark = "" if target is None else (f"[{target}]" if r <= target else f"[{target}]*")
        cells.append(f"{r:7.3f}{mark:>5s}")
    print(f"{case:50s} {1e3 * irt_ms:10.1f} {irt_ms / row['floor']:8.1f} " + " ".join(cells))
  print("peer ms: " + "; ".join(
      f"{case}: " + ", ".join(
          f"{lib} {1e3 * row[lib]:.1f}" for lib in PEERS if not isinstance(row[lib], str))
      for case, row in results["cases"].items()))


def plot(results, out):
  try:
    plt = _common.pyplot()
  except ImportError:
    print("matplotlib not installed: no plot")
    return
  names = list(results["cases"])
  libs = ("irt_jax",) + PEERS
  fig, ax = plt.subplots(figsize=(11, 4.5))
  width = 0.8 / len(libs)
  for i, lib in enumerate(libs):
    vals = [results["cases"][c][lib] for c in names]
    vals = [1e3 * v if not isinstance(v, str) else np.nan for v in vals]
    ax.bar(np.arange(len(names)) + width * i, vals, width, label=lib)
  ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=12, fontsize=7)
  ax.set_yscale("log")
  ax.set_ylabel("ms (sample + grad, jit, float32)")
  ax.set_title(f"{results['meta']['machine']}, {results['meta']['date']}")
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(os.path.join(out, "speed.png"), dpi=100)


if __name__ == "__main__":
  main()
