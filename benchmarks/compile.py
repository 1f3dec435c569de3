"""Cold compile time per family: irt_jax against TFP on JAX and jax.random, fresh processes.

    python benchmarks/compile.py [--rounds 3] [--cases gamma,beta] [--out benchmarks/results]

A user's training script pays compilation at every start. Each case is
``jax.jit(jax.grad(lambda t, k: jnp.mean(sample(k, params(t), (10_000,)))))`` in
float32; "compile" is trace + lower + compile of that program in a fresh Python
process (nothing cached), the median over ``--rounds`` rounds in which the
libraries alternate, so machine load hits all of them alike. irt_jax also reports
what a notebook user waits for: the first eager ``sample`` and the first eager
``jax.grad`` of it at a new shape, and the same calls repeated (they must hit a
cache, not retrace).

Targets (the programs issue): at most TFP's time for the families TFP has; at most
2x irt_jax's own normal for the families it lacks or does differently (von
Mises-Fisher, truncated gamma / Student-t, the full-covariance mixture). Writes
``compile.json`` and ``compile.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap

import _common

LIBS = ("irt_jax", "tfp", "jax.random")

# Cases: Dirichlet with K=3; truncations to [-1, 2] (gamma: [0.5, 4]); mixtures of two
# components (normals; full-covariance normals in d=3); von Mises-Fisher in d=3.
# case -> (parameter value, target: ("tfp", 1.0) = <= TFP, ("normal", 2.0) = <= 2x irt normal)
CASES = {
    "normal": (0.5, ("tfp", 1.0)),
    "gamma": (2.5, ("tfp", 1.0)),
    "beta": (2.0, ("tfp", 1.0)),
    "dirichlet_k3": (2.0, ("tfp", 1.0)),
    "student_t": (4.0, ("tfp", 1.0)),
    "von_mises": (2.0, ("tfp", 1.0)),
    "truncated_normal": (0.5, ("tfp", 1.0)),
    "mixture_normal": (1.0, ("tfp", 1.0)),
    "von_mises_fisher_d3": (2.0, ("normal", 2.0)),
    "truncated_gamma": (2.0, ("normal", 2.0)),
    "truncated_student_t": (4.0, ("normal", 2.0)),
    "mixture_mvn_d3": (1.0, ("normal", 2.0)),
}

CASE_CODE = textwrap.dedent("""
    import json, sys, time
    t_import = time.perf_counter()
    import jax, jax.numpy as jnp
    lib, case, value = sys.argv[1], sys.argv[2], float(sys.argv[3])
    F32, N = jnp.float32, 10_000
    if lib == "irt_jax":
        import irt_jax as irt
        def draws(k, t, shape):
            if case == "normal": return irt.normal.sample(k, irt.normal.Params(t, 1.0), shape, F32)
            if case == "gamma": return irt.gamma.sample(k, irt.gamma.Params(t), shape, F32)
            if case == "beta": return irt.beta.sample(k, irt.beta.Params(t, 2.0), shape, F32)
            if case == "dirichlet_k3":
                return irt.dirichlet.sample(k, irt.dirichlet.Params(t * jnp.array([1.0, 2.0, 3.0], F32)), shape, F32)
            if case == "student_t": return irt.student_t.sample(k, irt.student_t.Params(t), shape, F32)
            if case == "von_mises": return irt.von_mises.sample(k, irt.von_mises.Params(0.0, t), shape, F32)
            if case == "von_mises_fisher_d3":
                mu = jnp.array([0.0, 0.0, 1.0], F32)
                return irt.von_mises_fisher.sample(k, irt.von_mises_fisher.Params(mu, t), shape, F32)
            if case.startswith("truncated"):
                base = case.split("_", 1)[1]
                fam = irt.truncated.of(getattr(irt, base))
                inner = {"normal": lambda: irt.normal.Params(t, 1.0),
                         "gamma": lambda: irt.gamma.Params(t),
                         "student_t": lambda: irt.student_t.Params(t)}[base]()
                low, high = (0.5, 4.0) if base == "gamma" else (-1.0, 2.0)
                return fam.sample(k, irt.truncated.Params(inner, low, high), shape, F32)
            if case == "mixture_normal":
                mix = irt.mixture.of(irt.normal)
                return mix.sample(k, irt.mixture.Params(jnp.zeros(2, F32),
                    irt.normal.Params(jnp.stack([t, -t]), jnp.ones(2, F32))), shape, F32)
            if case == "mixture_mvn_d3":
                mvn = irt.mixture.multivariate_normal
                locs = jnp.stack([t * jnp.ones(3, F32), -t * jnp.ones(3, F32)])
                tril = jnp.broadcast_to(jnp.eye(3, dtype=F32), (2, 3, 3))
                return mvn.sample(k, irt.mixture.Params(jnp.zeros(2, F32),
                    irt.mixture.MultivariateNormalParams(locs, tril)), shape, F32)
            raise KeyError(case)
    elif lib == "tfp":
        from tensorflow_probability.substrates import jax as tfp
        d = tfp.distributions
        make = {
            "normal": lambda t: d.Normal(t, 1.0),
            "gamma": lambda t: d.Gamma(t, 1.0),
            "beta": lambda t: d.Beta(t, 2.0),
            "dirichlet_k3": lambda t: d.Dirichlet(t * jnp.array([1.0, 2.0, 3.0], F32)),
            "student_t": lambda t: d.StudentT(t, 0.0, 1.0),
            "von_mises": lambda t: d.VonMises(0.0, t),
            "truncated_normal": lambda t: d.TruncatedNormal(t, 1.0, -1.0, 2.0),
            "von_mises_fisher_d3": lambda t: d.VonMisesFisher(jnp.array([0.0, 0.0, 1.0], F32), t),
            "mixture_normal": lambda t: d.MixtureSameFamily(
                d.Categorical(logits=jnp.zeros(2, F32)), d.Normal(jnp.stack([t, -t]), 1.0),
                reparameterize=True),
        }.get(case)
        if make is None:
            print(json.dumps({"why": "no such reparameterized family"})); sys.exit()
        def draws(k, t, shape): return make(t).sample(shape, seed=k)
    else:
        make = {
            "normal": lambda k, t, s: t + jax.random.normal(k, s, F32),
            "gamma": lambda k, t, s: jax.random.gamma(k, t, s, F32),
            "beta": lambda k, t, s: jax.random.beta(k, t, 2.0, s, F32),
            "dirichlet_k3": lambda k, t, s: jax.random.dirichlet(
                k, t * jnp.array([1.0, 2.0, 3.0], F32), s, F32),
            "student_t": lambda k, t, s: jax.random.t(k, t, s, F32),
        }.get(case)
        if make is None:
            print(json.dumps({"why": "no such sampler"})); sys.exit()
        draws = make
    t_ready = time.perf_counter()
    key, t0 = jax.random.key(0), jnp.float32(value)
    program = jax.jit(jax.grad(lambda t, k: jnp.mean(draws(k, t, (N,)))))
    c0 = time.perf_counter()
    compiled = program.lower(t0, key).compile()
    out = {"compile_s": time.perf_counter() - c0, "import_s": t_ready - t_import}
    jax.block_until_ready(compiled(t0, key))
    if lib == "irt_jax":
        eager_grad = jax.grad(lambda t: jnp.mean(draws(key, t, (N // 2,))))
        for name, fn in [("first_sample_s", lambda: draws(key, t0, (N // 2,))),
                         ("repeat_sample_s", lambda: draws(key, t0, (N // 2,))),
                         ("first_grad_s", lambda: eager_grad(t0)),
                         ("repeat_grad_s", lambda: eager_grad(t0))]:
            s = time.perf_counter(); jax.block_until_ready(fn())
            out[name] = time.perf_counter() - s
    print(json.dumps(out))
""")


def measure(lib: str, case: str) -> dict:
  env = dict(os.environ, PYTHONPATH=_common.ROOT, JAX_PLATFORMS="cpu")
  got = subprocess.run([sys.executable, "-c", CASE_CODE, lib, case, str(CASES[case][0])],
                       env=env, capture_output=True, text=True, cwd="/")
  if got.returncode:
    return {"why": got.stderr.strip().splitlines()[-1][:200]}
  return json.loads(got.stdout.strip().splitlines()[-1])


def summarize(runs: list[dict]) -> dict:
  if "why" in runs[0]:
    return {"why": runs[0]["why"]}
  return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def verdicts(results: dict) -> dict:
  """case -> (ratio, target, holds) for the target the programs issue sets."""
  out = {}
  normal = results["normal"]["irt_jax"].get("compile_s")
  for case in results:
    against, limit = CASES[case][1]
    mine = results[case]["irt_jax"].get("compile_s")
    ref = normal if against == "normal" else results[case]["tfp"].get("compile_s")
    if mine is None or ref is None:
      out[case] = (None, f"<= {limit:g}x {against}", None)
      continue
    ratio = mine / ref
    out[case] = (ratio, f"<= {limit:g}x {against}", ratio <= limit)
  return out


def print_table(results: dict) -> None:
  print(f"\n{'case':36s} {'irt_jax':>8s} {'tfp':>8s} {'jax.rnd':>8s} {'ratio':>7s}  target"
        f"        eager: 1st sample / grad, repeat")
  for case, (ratio, target, holds) in verdicts(results).items():
    row = results[case]
    cell = lambda lib: (f"{row[lib]['compile_s']:8.2f}" if "compile_s" in row[lib]
                        else f"{'-':>8s}")
    mark = "" if holds is None else ("ok" if holds else "MISSED")
    r = f"{ratio:7.2f}" if ratio is not None else f"{'-':>7s}"
    mine = row["irt_jax"]
    eager = (f"{mine['first_sample_s']:.2f} / {mine['first_grad_s']:.2f} s, "
             f"{1e3 * mine['repeat_sample_s']:.1f} / {1e3 * mine['repeat_grad_s']:.1f} ms"
             if "first_sample_s" in mine else "")
    print(f"{case:36s} {cell('irt_jax')} {cell('tfp')} {cell('jax.random')} {r}  "
          f"{target:12s} {mark:6s} {eager}")


def plot(results: dict, out: str) -> str:
  plt = _common.pyplot()
  cases = list(results)
  fig, ax = plt.subplots(figsize=(9, 4.5))
  width = 0.27
  for i, lib in enumerate(LIBS):
    vals = [results[c][lib].get("compile_s", 0.0) for c in cases]
    ax.barh([y + (i - 1) * width for y in range(len(cases))], vals, width, label=lib)
  ax.set_yticks(range(len(cases)), cases)
  ax.invert_yaxis()
  ax.set_xlabel("cold compile of jit(grad(mean(sample))) [s], float32, 1e4 draws")
  ax.legend()
  ax.set_title("Compile time per family (median of fresh processes; 0 = not available)")
  fig.tight_layout()
  path = os.path.join(out, "compile.png")
  fig.savefig(path, dpi=120)
  return path


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--cases", default=",".join(CASES))
  parser.add_argument("--out", default=_common.RESULTS)
  args = parser.parse_args()
  cases = args.cases.split(",")
  for c in cases:
    if c not in CASES:
      parser.error(f"--cases: unknown case {c!r}; known: {', '.join(CASES)}")
  if "normal" not in cases:
    cases.insert(0, "normal")  # the reference of the irt-only targets
  runs = {c: {lib: [] for lib in LIBS} for c in cases}
  for r in range(args.rounds):
    for case in _common.progress(cases, f"round {r + 1}/{args.rounds}"):
      for lib in LIBS:
        if r and "why" in runs[case][lib][0]:
          continue
        runs[case][lib].append(measure(lib, case))
  results = {c: {lib: summarize(runs[c][lib]) for lib in LIBS} for c in cases}
  print_table(results)
  payload = {"machine": _common.machine(), "rounds": args.rounds, "results": results,
             "verdicts": {c: {"ratio": v[0], "target": v[1], "holds": v[2]}
                          for c, v in verdicts(results).items()}}
  print("\nwrote", _common.save("compile", payload, args.out), plot(results, args.out))


if __name__ == "__main__":
  main()
