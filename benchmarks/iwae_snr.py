"""Signal-to-noise ratio of the IWAE gradient estimators as K grows.

    python benchmarks/iwae_snr.py [--reps 10000] [--out benchmarks/results]

Rainforth et al. (ICML 2018) show that the plain IWAE gradient's SNR
(|mean| / std over independent estimates) in the inference network's parameters
falls like 1/sqrt(K), while DReG's (Tucker et al., ICLR 2019) does not. Model:
p(z) = N(0, 1), p(x | z) = N(z, 1), x = 1, q = N(mu = -0.5, sigma = 1.5), one
data point; K = 1 ... 1024; `reps` independent estimates per K (fixed seed) of
d/dmu and d/dsigma from jax.grad of irt_jax.estimators.iwae_bound, dreg and
sticking_the_landing (STL is biased for K > 1: its SNR is shown but its mean
is not the IWAE gradient). Writes iwae_snr.json (SNR, mean, std per K, and the
fitted log-log slope of SNR against K) and iwae_snr.png into --out. About half a
minute on 2 CPU cores. An SNR near 1/sqrt(reps) (the grey line) is not
resolved from zero by `reps` estimates.
"""

import argparse
import os

import _common  # noqa: F401  (sys.path)
import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import irt_jax as irt  # noqa: E402
from irt_jax import estimators as est  # noqa: E402

X, MU, SIGMA = 1.0, -0.5, 1.5
OBJECTIVES = {"IWAE": est.iwae_bound, "DReG": est.dreg,
              "STL": est.sticking_the_landing}


def log_joint(z):
  return (irt.normal.log_prob(irt.normal.Params(0.0, 1.0), z)
          + irt.normal.log_prob(irt.normal.Params(z, 1.0), X))


def estimates(k, reps, key):
  p = irt.normal.Params(jnp.asarray(MU), jnp.asarray(SIGMA))

  def one(kk):
    return {n: jnp.stack(jax.grad(lambda q: obj(log_joint, irt.normal, q, kk, k))(p))
            for n, obj in OBJECTIVES.items()}

  out = jax.jit(jax.vmap(one))(jax.random.split(key, reps))
  return {n: np.asarray(v) for n, v in out.items()}


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--reps", type=int, default=10000)
  ap.add_argument("--out", default=_common.RESULTS)
  args = ap.parse_args()
  ks = [2 ** i for i in range(11)]
  key = jax.random.key(2018)
  res = {"setting": {"x": X, "mu": MU, "sigma": SIGMA, "reps": args.reps,
                     "model": "p(z)=N(0,1), p(x|z)=N(z,1), q=N(mu,sigma)"},
         "machine": _common.machine(), "K": ks, "estimators": {}}
  per = {n: {"mu": [], "sigma": []} for n in OBJECTIVES}
  stats = {n: {"mean": [], "std": []} for n in OBJECTIVES}
  for k in _common.progress(ks, "K"):
    out = estimates(k, args.reps, jax.random.fold_in(key, k))
    for n, g in out.items():
      m, s = g.mean(0), g.std(0)
      per[n]["mu"].append(float(abs(m[0]) / s[0]))
      per[n]["sigma"].append(float(abs(m[1]) / s[1]))
      stats[n]["mean"].append(m.tolist())
      stats[n]["std"].append(s.tolist())
  lk = np.log(ks)
  for n in OBJECTIVES:
    slopes = {c: float(np.polyfit(lk[2:], np.log(per[n][c])[2:], 1)[0])
              for c in ("mu", "sigma")}
    res["estimators"][n] = {"snr": per[n], "mean": stats[n]["mean"],
                            "std": stats[n]["std"],
                            "loglog_slope_K4_to_1024": slopes}
  path = _common.save("iwae_snr", res, args.out)
  print(f"wrote {path}")
  for n in OBJECTIVES:
    r = res["estimators"][n]
    print(f"{n:5s} SNR d/dmu K=1: {r['snr']['mu'][0]:.3g}  K=1024: {r['snr']['mu'][-1]:.3g}"
          f"  slope {r['loglog_slope_K4_to_1024']['mu']:+.2f};  d/dsigma K=1: "
          f"{r['snr']['sigma'][0]:.3g}  K=1024: {r['snr']['sigma'][-1]:.3g}"
          f"  slope {r['loglog_slope_K4_to_1024']['sigma']:+.2f}")

  plt = _common.pyplot()
  fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
  for ax, c, label in zip(axes, ("mu", "sigma"), ("d/d mu", "d/d sigma")):
    for n, style in zip(OBJECTIVES, ("o-", "s-", "^--")):
      ax.loglog(ks, per[n][c], style, label=n)
    ref = per["IWAE"][c][2] * np.sqrt(ks[2] / np.asarray(ks, float))
    ax.loglog(ks, ref, "k:", label="1/sqrt(K)")
    ax.axhline(1 / np.sqrt(args.reps), color="grey", lw=0.8,
               label="noise floor 1/sqrt(reps)")
    ax.set_xlabel("K (importance samples)")
    ax.set_title(f"SNR of {label}, q = N({MU}, {SIGMA}), {args.reps} estimates")
    ax.grid(True, which="both", alpha=0.3)
  axes[0].set_ylabel("|mean| / std")
  axes[0].legend()
  fig.tight_layout()
  png = os.path.join(args.out, "iwae_snr.png")
  fig.savefig(png, dpi=100)
  print(f"wrote {png}")


if __name__ == "__main__":
  main()
