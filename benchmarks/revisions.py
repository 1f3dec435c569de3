"""irt_jax against itself: two checkouts, the same cases, in alternating fresh processes.

    python benchmarks/revisions.py OLD_DIR NEW_DIR [--rounds 3] [--cases gamma,truncnorm]

For a change to sampling or rule code: each case is ``jax.jit(jax.grad(sum of
draws))``, float32, with one parameter for every draw ("scalar") and with one
parameter set per draw ("per-draw", the encoder case); reported are the cold
compile time (lower + compile, in a fresh process) and the median run time. OLD
and NEW run one after the other in every round, so machine load hits both alike;
the table shows each side's median over the rounds and the ratio NEW / OLD.
A checkout directory is what ``git worktree add DIR REV`` makes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap

CASE_CODE = textwrap.dedent("""
    import json, sys, time
    import jax, jax.numpy as jnp, numpy as np
    import irt_jax as irt
    name, per_draw = sys.argv[1], sys.argv[2] == "per-draw"
    F32 = jnp.float32
    key = jax.random.key(0)
    n = {"gamma": 10**6, "beta": 10**5, "student_t": 10**5, "von_mises": 10**5,
         "truncnorm": 10**5, "truncgamma": 10**5, "mixture": 10**4, "vmf": 10**4}[name]
    t0 = jnp.full((n,) if per_draw else (), {"gamma": 0.3, "beta": 0.5, "student_t": 3.0,
        "von_mises": 2.0, "truncnorm": 0.5, "truncgamma": 2.0, "mixture": 1.0,
        "vmf": 2.0}[name], F32)
    shape = None if per_draw else (n,)
    tn = irt.truncated.of(irt.normal)
    mix = irt.mixture.of(irt.normal, event_ndims=1)
    def draws(t):
        if name == "gamma": return irt.gamma.sample(key, irt.gamma.Params(t), shape)
        if name == "beta": return irt.beta.sample(key, irt.beta.Params(t, t), shape)
        if name == "student_t": return irt.student_t.sample(key, irt.student_t.Params(t), shape)
        if name == "von_mises": return irt.von_mises.sample(key, irt.von_mises.Params(0.0, t), shape)
        if name == "truncnorm":
            return tn.sample(key, irt.truncated.Params(irt.normal.Params(t, 1.0), -1.0, 2.0), shape)
        if name == "truncgamma":
            return irt.truncated.of(irt.gamma).sample(
                key, irt.truncated.Params(irt.gamma.Params(t), 0.5, 4.0), shape)
        if name == "vmf":
            mu = jnp.array([0.0, 0.0, 1.0], F32)
            return irt.von_mises_fisher.sample(key, irt.von_mises_fisher.Params(mu, t), shape)
        locs = jnp.linspace(-2.0, 2.0, 50, dtype=F32).reshape(5, 10)
        tt = t[..., None, None] if per_draw else t
        return mix.sample(key, irt.mixture.Params(jnp.zeros(5, F32),
                          irt.normal.Params(tt * locs, jnp.ones((5, 10), F32))), shape)
    f = jax.jit(jax.grad(lambda t: jnp.sum(draws(t))))
    c0 = time.perf_counter()
    compiled = f.lower(t0).compile()
    compile_s = time.perf_counter() - c0
    compiled(t0).block_until_ready()
    times = []
    start = time.perf_counter()
    while len(times) < 5 or (time.perf_counter() - start < 0.5 and len(times) < 200):
        s = time.perf_counter(); compiled(t0).block_until_ready()
        times.append(time.perf_counter() - s)
    print(json.dumps({"compile_s": compile_s, "run_ms": 1e3 * float(np.median(times))}))
""")

ALL = ("gamma", "beta", "student_t", "von_mises", "truncnorm", "truncgamma", "mixture",
       "vmf")


def measure(checkout: str, case: str, shape: str) -> dict:
  env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout), JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "-c", CASE_CODE, case, shape], env=env,
                       capture_output=True, text=True, check=True, cwd="/")
  return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("old")
  parser.add_argument("new")
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--cases", default=",".join(ALL))
  args = parser.parse_args()
  rows = []
  for case in args.cases.split(","):
    for shape in ("scalar", "per-draw"):
      got = {"old": [], "new": []}
      for _ in range(args.rounds):
        for side in ("old", "new"):
          got[side].append(measure(getattr(args, side), case, shape))
      med = {s: {k: statistics.median(r[k] for r in got[s]) for k in ("compile_s", "run_ms")}
             for s in got}
      rows.append((case, shape, med))
      print(f"{case:10s} {shape:8s} compile {med['old']['compile_s']:6.2f} -> "
            f"{med['new']['compile_s']:6.2f} s ({med['new']['compile_s'] / med['old']['compile_s']:.2f}x)"
            f"   run {med['old']['run_ms']:8.2f} -> {med['new']['run_ms']:8.2f} ms "
            f"({med['new']['run_ms'] / med['old']['run_ms']:.2f}x)", flush=True)


if __name__ == "__main__":
  main()
