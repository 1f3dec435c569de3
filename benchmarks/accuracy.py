"""Accuracy of per-sample implicit gradients against mpmath, irt_jax and peers.

    python benchmarks/accuracy.py [--out benchmarks/results] [--quick]

* Gamma ``dz/da`` over ``a`` in [1e-3, 1e4] x 25 quantiles from 1e-6 to
  1 - 1e-6: irt_jax's kernel, JAX's (``jax.lax.random_gamma_grad``, which
  ``jax.random.gamma`` and TFP-on-JAX use) and PyTorch's
  (``torch._standard_gamma_grad``, behind ``Gamma.rsample``), float32 and
  float64, at exactly the same float inputs. TFP is also checked end to end:
  its sampler's gradient at its own draws against mpmath.
* Beta ``dz/da, dz/db`` and Student-t ``dz/ddf``: irt_jax only (every peer
  differentiates a gamma composition, which has no per-draw reference).

The references (tests/references.py) are mpmath at 50 digits, independent of
irt_jax. Writes ``accuracy.json`` and ``accuracy.png``; prints a table of the
maximum relative error per decade.
"""

from __future__ import annotations

import argparse
import os

import _common  # noqa: F401  (sets sys.path)
import jax
import jax.numpy as jnp
import numpy as np
from scipy import special as sc
import scipy.stats as st

jax.config.update("jax_enable_x64", True)

from irt_jax._src.special import beta as beta_kernel  # noqa: E402
from irt_jax._src.special import gamma as gamma_kernel  # noqa: E402
from irt_jax._src.special import student_t as t_kernel  # noqa: E402
from tests import references as ref  # noqa: E402

F32, F64 = np.float32, np.float64
QUANTILES = np.array([1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.03, 0.1, 0.25, 0.42, 0.5, 0.58, 0.75,
                      0.9, 0.97, 0.99, 0.999, 1 - 1e-4, 1 - 1e-5, 1 - 1e-6])


def rel_err(got, want):
  got = np.asarray(got, F64)
  return np.abs(got - want) / np.maximum(np.abs(want), 1e-300)


def gamma_grid(num_a):
  """(a, x, dx/da reference) with a and x exactly representable in float32."""
  rows = []
  for a in np.geomspace(1e-3, 1e4, num_a).astype(F32).astype(F64):
    for q in QUANTILES:
      x = float(F32(sc.gammaincinv(a, q)))
      if x < np.finfo(F32).tiny:
        continue
      rows.append((a, x, ref.gamma_log_velocity_mp(a, x=x) * x))
  return np.array(rows).T


def gamma_peers(a, x, peers):
  """name -> {dtype name -> dx/da} for every kernel that can be evaluated."""
  out = {"irt_jax": {}, "jax / TFP kernel": {}}
  for dt in (F32, F64):
    aa, xx = jnp.asarray(a, dt), jnp.asarray(x, dt)
    out["irt_jax"][dt.__name__] = np.asarray(jax.jit(gamma_kernel.gamma_velocity)(aa, xx))
    out["jax / TFP kernel"][dt.__name__] = np.asarray(jax.jit(jax.lax.random_gamma_grad)(aa, xx))
  torch = peers.get("torch")
  if not isinstance(torch, str):
    out["torch"] = {}
    for dt, tdt in ((F32, torch.float32), (F64, torch.float64)):
      g = torch._standard_gamma_grad(torch.tensor(a, dtype=tdt), torch.tensor(x, dtype=tdt))
      out["torch"][dt.__name__] = g.numpy()
  return out


def tfp_end_to_end(tfp, num_draws):
  """TFP-on-JAX Gamma: per-draw dz/da of its own sampler against mpmath."""
  tfd = tfp.distributions
  errs = {}
  for dt in (F32, F64):
    worst = 0.0
    for a in (1e-2, 1.0, 1e2, 1e4):
      p = jnp.full((num_draws,), a, dt)
      f = lambda q: tfd.Gamma(q, jnp.ones((), dt)).sample(seed=jax.random.key(1)).sum()
      z = tfd.Gamma(p, jnp.ones((), dt)).sample(seed=jax.random.key(1))
      g = jax.grad(f)(p)
      z64 = np.asarray(z, F64)
      keep = z64 > np.finfo(dt).tiny
      want = np.array([ref.gamma_log_velocity_mp(float(dt(a)), x=float(zi)) * zi
                       for zi in z64[keep]])
      worst = max(worst, float(rel_err(np.asarray(g)[keep], want).max()))
    errs[dt.__name__] = worst
  return errs


def beta_errors(num):
  grid = np.geomspace(1e-2, 1e3, num)
  out = {}
  for dt in (F32, F64):
    rows = []
    for a in grid:
      for b in grid:
        for q in QUANTILES[::2]:
          x = float(dt(sc.betaincinv(a, b, q)))
          af, bf = float(dt(a)), float(dt(b))
          if x < np.finfo(dt).tiny or x >= 1:
            continue
          rows.append((af, bf, x) + ref.beta_velocity_mp(af, bf, x))
    a_, b_, x_, ra, rb = np.array(rows).T
    da, db = jax.jit(beta_kernel.beta_velocity)(*(jnp.asarray(v, dt) for v in (a_, b_, x_)))
    out[dt.__name__] = float(max(rel_err(da, ra).max(), rel_err(db, rb).max()))
  return out


def student_t_errors(num):
  out = {}
  for dt in (F32, F64):
    rows = []
    for nu in np.geomspace(0.5, 1e3, num):
      for q in QUANTILES:
        t = float(dt(st.t.ppf(q, nu)))
        nuf = float(dt(nu))
        rows.append((nuf, t, ref.student_t_velocity_mp(nuf, t)))
    nu_, t_, r = np.array(rows).T
    got = jax.jit(t_kernel.student_t_velocity)(jnp.asarray(nu_, dt), jnp.asarray(t_, dt))
    out[dt.__name__] = float(rel_err(got, r)[r != 0].max())
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", default=_common.RESULTS)
  parser.add_argument("--quick", action="store_true", help="coarser grids (about 4x faster)")
  args = parser.parse_args()
  peers = _common.peers()
  results = {"meta": _common.machine(), "gamma": {}, "tfp_end_to_end": None}
  steps = _common.progress(["gamma grid", "gamma kernels", "tfp end to end", "beta",
                            "student_t"], "accuracy")
  for step in steps:
    if step == "gamma grid":
      a, x, want = gamma_grid(12 if args.quick else 22)
    elif step == "gamma kernels":
      got = gamma_peers(a, x, peers)
      decade = np.floor(np.log10(a) + 1e-9).astype(int)
      for name, by_dt in got.items():
        results["gamma"][name] = {}
        for dt_name, v in by_dt.items():
          err = rel_err(v, want)
          results["gamma"][name][dt_name] = {
              "max": float(err.max()),
              "by_decade": {f"1e{d:+d}": float(err[decade == d].max()) for d in np.unique(decade)},
              "by_a": [(float(ai), float(err[a == ai].max())) for ai in np.unique(a)]}
    elif step == "tfp end to end":
      tfp = peers["tfp"]
      results["tfp_end_to_end"] = (tfp if isinstance(tfp, str)
                                   else tfp_end_to_end(tfp, 8 if args.quick else 32))
    elif step == "beta":
      results["beta_irt_jax"] = beta_errors(4 if args.quick else 6)
    else:
      results["student_t_irt_jax"] = student_t_errors(6 if args.quick else 10)

  print("\nGamma dz/da, max relative error vs mpmath per decade of a "
        "(quantiles 1e-6 .. 1-1e-6)")
  names = list(results["gamma"])
  cols = [(n, d) for n in names for d in ("float32", "float64")]
  print(f"{'a':>6} " + " ".join(f"{n[:10] + ' ' + d[-2:]:>13}" for n, d in cols))
  for dec in results["gamma"]["irt_jax"]["float32"]["by_decade"]:
    print(f"{dec:>6} " + " ".join(
        f"{results['gamma'][n][d]['by_decade'][dec]:13.2e}" for n, d in cols))
  print(f"{'max':>6} " + " ".join(f"{results['gamma'][n][d]['max']:13.2e}" for n, d in cols))
  print(f"TFP-on-JAX Gamma sampler, end to end (a = 1e-2..1e4, its own draws): "
        f"{results['tfp_end_to_end']}")
  print(f"Beta dz/da, dz/db (a, b in 1e-2..1e3), irt_jax max relative error: "
        f"{results['beta_irt_jax']}")
  print(f"Student-t dz/ddf (df in 0.5..1e3), irt_jax max relative error: "
        f"{results['student_t_irt_jax']}")
  path = _common.save("accuracy", results, args.out)
  try:
    plt = _common.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for (name, by_dt), color in zip(results["gamma"].items(), ["C0", "C1", "C2"]):
      for dt_name, style in (("float32", "-"), ("float64", "--")):
        pts = np.array(by_dt[dt_name]["by_a"])
        ax.loglog(pts[:, 0], np.maximum(pts[:, 1], 1e-17), style, color=color,
                  label=f"{name} {dt_name}")
    ax.set_xlabel("concentration a")
    ax.set_ylabel("max relative error of dz/da")
    ax.set_title("Gamma implicit gradient vs mpmath")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "accuracy.png"), dpi=100)
  except ImportError:
    print("matplotlib not installed: no plot")
  print(f"wrote {path}")


if __name__ == "__main__":
  main()
