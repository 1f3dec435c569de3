"""A single-sample ELBO step that cannot go infinite (issue 13, item 7).

    python benchmarks/elbo_finite.py [--draws 4000] [--out benchmarks/results]

Beta(c, c) and Dirichlet(c, c, c) posteriors against uniform priors, c from 1e-3
to 5, in float32. Per draw, the loss is the single-sample negative ELBO of a toy
likelihood ``log p(x | z) = z_0`` (Beta: ``z_0 = z``):

    loss = -(z_0 + log p_prior - log q)

written two ways: (A) ``sample`` + ``log_prob`` in ``z`` (float32 draws round to
exactly 0 or 1, where ``log q`` is infinite) and (B) ``sample_logit`` /
``sample_log`` + ``log_prob_logit`` / ``log_prob_log`` in the unconstrained ``y``
(the Jacobian of ``z -> y`` is in both densities and cancels). Reported: the
count of non-finite losses and of non-finite per-draw gradients ``d loss/dc``,
and the Monte-Carlo mean gradient (with its standard error) in float32 and in
float64 against the closed form ``d/dc [-E z_0 + KL(q || prior)]`` (the
Dirichlet KL, scipy's polygamma; see :func:`reference`). Writes
``elbo_finite.json``.
"""

from __future__ import annotations

import argparse
import json
import os

import _common
import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import polygamma

import irt_jax as irt

jax.config.update("jax_enable_x64", True)
CONC = [1e-3, 1e-2, 0.05, 0.1, 0.5, 1.0, 5.0]
K = 3


def beta_loss(c, key, dtype, space):
  p = irt.beta.Params(c, c)
  prior = irt.beta.Params(jnp.ones((), dtype), jnp.ones((), dtype))
  if space == "z":
    x = irt.beta.sample(key, p, None, dtype)
    return -(x + irt.beta.log_prob(prior, x) - irt.beta.log_prob(p, x))
  y = irt.beta.sample_logit(key, p, None, dtype)
  return -(jax.nn.sigmoid(y) + irt.beta.log_prob_logit(prior, y)
           - irt.beta.log_prob_logit(p, y))


def dirichlet_loss(c, key, dtype, space):
  p = irt.dirichlet.Params(jnp.repeat(c[..., None], K, -1))
  prior = irt.dirichlet.Params(jnp.ones(K, dtype))
  if space == "z":
    z = irt.dirichlet.sample(key, p, None, dtype)
    return -(z[..., 0] + irt.dirichlet.log_prob(prior, z) - irt.dirichlet.log_prob(p, z))
  y = irt.dirichlet.sample_log(key, p, None, dtype)
  return -(jnp.exp(y[..., 0]) + irt.dirichlet.log_prob_log(prior, y)
           - irt.dirichlet.log_prob_log(p, y))


def reference(family, c):
  """d/dc of E[loss] in closed form (float64, scipy). E z_0 = 1/k does not move;
  KL(Dir(c 1_k) || Dir(1_k)) = lgamma(kc) - k lgamma(c) - lgamma(k)
  + k (c - 1)(psi(c) - psi(kc)), whose derivative is k (c-1)(psi1(c) - k psi1(kc))
  (Beta(c, c) is k = 2)."""
  k = 2 if family == "beta" else K
  return float(k * (c - 1) * (polygamma(1, c) - k * polygamma(1, k * c)))


def run(family, dtype, space, n):
  loss = beta_loss if family == "beta" else dirichlet_loss
  c = jnp.broadcast_to(jnp.asarray(CONC, dtype), (n, len(CONC)))
  key = jax.random.key(0)
  values = jax.jit(lambda c: loss(c, key, dtype, space))(c)
  grads = jax.jit(jax.grad(lambda c: jnp.sum(loss(c, key, dtype, space))))(c)
  values, grads = np.asarray(values, np.float64), np.asarray(grads, np.float64)
  rows = []
  for j, cj in enumerate(CONC):
    g = grads[:, j]
    ok = np.isfinite(g)
    rows.append(dict(
        concentration=cj, nonfinite_loss=int((~np.isfinite(values[:, j])).sum()),
        nonfinite_grad=int((~ok).sum()),
        grad_mean=float(g[ok].mean()) if ok.any() else None,
        grad_se=float(g[ok].std() / np.sqrt(ok.sum())) if ok.any() else None))
  return rows


def main():
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--draws", type=int, default=4000)
  ap.add_argument("--out", default=_common.RESULTS)
  args = ap.parse_args()
  out = dict(_common.machine(), draws=args.draws, concentrations=CONC, results={})
  for family in ("beta", "dirichlet"):
    refs = [reference(family, c) for c in CONC]
    for space in ("z", "y"):
      for dtype in (jnp.float32, jnp.float64):
        rows = run(family, dtype, space, args.draws)
        name = f"{family}/{'sample+log_prob' if space == 'z' else 'unconstrained'}/{dtype.__name__}"
        out["results"][name] = rows
        print(f"\n{name} ({args.draws} single-draw losses per concentration)")
        print(f"{'c':>7s} {'non-finite loss':>15s} {'non-finite grad':>15s} "
              f"{'mean grad':>12s} {'+- se':>9s} {'closed form':>12s} {'|dev|/se':>8s}")
        for r, ref in zip(rows, refs):
          r["closed_form"] = ref
          m, se = r["grad_mean"], r["grad_se"]
          dev = abs(m - ref) / se if m is not None and se > 0 else float("nan")
          ms = f"{m:12.4g} {se:9.2g}" if m is not None else f"{'-':>12s} {'-':>9s}"
          print(f"{r['concentration']:7.0e} {r['nonfinite_loss']:15d} {r['nonfinite_grad']:15d} "
                f"{ms} {ref:12.4g} {dev:8.1f}")
  os.makedirs(args.out, exist_ok=True)
  path = os.path.join(args.out, "elbo_finite.json")
  with open(path, "w") as f:
    json.dump(out, f, indent=1)
  print(f"\nwrote {path}")


if __name__ == "__main__":
  main()
