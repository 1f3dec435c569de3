"""Per-sample gradient variance on discrete variables: GO vs the score function
with its best baseline (and measure-valued where it exists).

    .venv/bin/python benchmarks/discrete_variance.py [--samples 100000]

For each (family, parameter, f) row, every estimator is called with the same
key (the same draws where the estimator draws like the score function) and
N draws; the table gives each estimator's mean +- standard error, its
z-score against the true gradient and its per-sample variance. The truth is
a central finite difference (h = 1e-5) of the exact series ``sum_k f(k)
q(k; theta)`` over SciPy's pmf in float64, independent of irt_jax. Two
costs: a smooth one, ``log(1 + z)``, and a step, ``1[z <= k]`` (``k`` the
floor of the mean). (``z^2`` would flatter the delta control variate, which
is then exact.) Score-function variants: baselines
``none``, ``leave_one_out``, ``optimal``, and the delta control variate with
the leave-one-out optimal coefficient (``delta``, where ``f`` is smooth); the
row's "best score" is the lowest-variance one. Writes
benchmarks/results/discrete_variance.json and prints the table (a few
minutes on 2 cores, compilations included).
"""

from __future__ import annotations

import argparse
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

jax.config.update("jax_enable_x64", True)

from _common import RESULTS, machine  # noqa: E402  (sets sys.path)
import irt_jax as irt  # noqa: E402
from irt_jax import estimators as est  # noqa: E402

KEY = jax.random.key(16)


def summary(g, truth):
  g = np.asarray(g, np.float64)
  se = g.std() / np.sqrt(g.size)
  exact = se <= 1e-12 * max(1.0, abs(truth))    # no spread: compare directly
  return {"mean": float(g.mean()), "se": float(se),
          "z": 0.0 if exact else float((g.mean() - truth) / se),
          "var": float(g.var())}


def series_derivative(pmf, theta, f_np, h=1e-5, top=4000):
  """d/dtheta sum_k f(k) pmf(k; theta) by a central difference of the series
  (SciPy's pmf, float64, k = 0..top: the tail is below 1e-30 here)."""
  k = np.arange(top + 1.0)
  value = lambda t: float(np.sum(f_np(k) * pmf(k, t)))
  return (value(theta + h) - value(theta - h)) / (2 * h)


def rows():
  out = []
  log1p = (lambda z: jnp.log1p(z), np.log1p)

  # Poisson(rate).
  for lam in (0.5, 5.0, 50.0):
    k = float(np.floor(lam))
    step = (lambda z, k=k: (z <= k).astype(z.dtype), lambda x, k=k: (x <= k) * 1.0)
    for fname, (f, f_np), smooth in (("log(1+z)", log1p, True),
                                     (f"1[z <= {k:g}]", step, False)):
      truth = series_derivative(lambda x, t: stats.poisson(t).pmf(x), lam, f_np)
      out.append(dict(family="poisson", params={"rate": lam}, parameter="rate", f=fname,
                      truth=truth, smooth=smooth, fam=irt.poisson,
                      p=irt.poisson.Params(jnp.float64(lam)), fn=f, mvd=True))

  # NegativeBinomial(r, logits) (NumPyro's: SciPy's nbinom(r, 1 - p)).
  for r, q in ((2.5, 0.4), (0.5, 0.9)):
    logit = float(np.log(q / (1 - q)))
    k = float(np.floor(r * q / (1 - q)))
    step = (lambda z, k=k: (z <= k).astype(z.dtype), lambda x, k=k: (x <= k) * 1.0)
    pmfs = {"total_count": lambda x, t: stats.nbinom(t, 1 - q).pmf(x),
            "logits": lambda x, t: stats.nbinom(r, 1 / (1 + np.exp(t))).pmf(x)}
    for wrt, theta in (("total_count", r), ("logits", logit)):
      for fname, (f, f_np), smooth in (("log(1+z)", log1p, True),
                                       (f"1[z <= {k:g}]", step, False)):
        out.append(dict(family="negative_binomial", params={"total_count": r, "probs": q},
                        parameter=wrt, f=fname,
                        truth=series_derivative(pmfs[wrt], theta, f_np), smooth=smooth,
                        fam=irt.negative_binomial,
                        p=irt.negative_binomial.Params(jnp.float64(r), logits=jnp.float64(logit)),
                        fn=f, mvd=False))

  # Binomial(10, probs=0.3).
  nn, q = 10, 0.3
  out.append(dict(family="binomial", params={"total_count": nn, "probs": q},
                  parameter="probs", f="log(1+z)",
                  truth=series_derivative(lambda x, t: stats.binom(nn, t).pmf(x), q, np.log1p,
                                          top=nn),
                  smooth=True, fam=irt.binomial,
                  p=irt.binomial.Params(jnp.float64(nn), probs=jnp.float64(q)),
                  fn=log1p[0], mvd=True))
  return out


def run_row(row, n):
  fam, p, f = row["fam"], row["p"], row["fn"]
  wrt = row["parameter"]
  pick = lambda g: getattr(g, wrt)
  res = {"go": summary(pick(est.go_gradient(f, fam, p, KEY, n)), row["truth"])}
  if row["mvd"]:
    for coupling in (True, False):
      g = est.measure_valued(f, fam, p, KEY, n, wrt=wrt, coupling=coupling)
      res["measure_valued" + ("" if coupling else "_uncoupled")] = summary(pick(g), row["truth"])
  scores = {}
  for b in ("none", "leave_one_out", "optimal"):
    scores[f"score_{b}"] = summary(pick(est.score_function(f, fam, p, KEY, n, baseline=b)),
                                   row["truth"])
  if row["smooth"]:
    g = est.score_function(f, fam, p, KEY, n, control_variate="delta",
                           cv_coefficient="optimal")
    scores["score_delta"] = summary(pick(g), row["truth"])
  res.update(scores)
  best = min(scores, key=lambda s: scores[s]["var"])
  return res, best


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--samples", type=int, default=100_000)
  args = parser.parse_args()
  n = args.samples
  table = []
  print(f"N = {n} draws per estimator; var = per-sample variance; z = (mean - truth)/se")
  for row in rows():
    res, best = run_row(row, n)
    entry = {k: row[k] for k in ("family", "params", "parameter", "f", "truth")}
    entry.update(estimators=res, best_score=best,
                 variance_ratio_best_score_over_go=res[best]["var"] / res["go"]["var"])
    table.append(entry)
    desc = f"{row['family']} {row['params']} d/d{row['parameter']} E[{row['f']}]"
    print(f"\n{desc}: truth {row['truth']:.6g}")
    for name, s in res.items():
      mark = "  <- best score" if name == best else ""
      print(f"  {name:26s} mean {s['mean']:11.5g} +- {s['se']:9.3g}  z {s['z']:6.2f}  "
            f"var {s['var']:11.4g}{mark}")
    print(f"  Var(best score) / Var(GO) = {entry['variance_ratio_best_score_over_go']:.3g}")
  os.makedirs(RESULTS, exist_ok=True)
  path = os.path.join(RESULTS, "discrete_variance.json")
  with open(path, "w") as fh:
    json.dump({"machine": machine(), "samples": n, "key": 16, "rows": table}, fh, indent=1)
  print(f"\nwrote {path}")


if __name__ == "__main__":
  main()
