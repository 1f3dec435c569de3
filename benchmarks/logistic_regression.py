"""Bayesian logistic regression on the Wisconsin breast cancer data: gradient
variance of the pathwise, score-function and measure-valued estimators over
training, with and without the delta-method control variate.

    .venv/bin/python benchmarks/logistic_regression.py [--steps 3000]
        [--samples 16] [--var-samples 512] [--every 100] [--out benchmarks/results]

Reproduces the experiment of Mohamed, Rosca, Figurnov & Mnih, "Monte Carlo
gradient estimation in machine learning", JMLR 21(132), 2020, section 8.3,
with irt_jax.estimators. Data: sklearn.datasets.load_breast_cancer (569
tumours, 30 features), a fixed 80/20 train/test split, features standardized
with the training statistics, plus a bias: D = 31 weights. Model: prior
w ~ N(0, I), likelihood p(y | x, w) = sigmoid(y x.w), y in {-1, +1}.
Variational posterior q(w) = N(mu, diag(sigma^2)), sigma = exp(rho)
(mean field, as the paper). ELBO = E_q[log p(y | X, w)] - KL(q || prior):
the KL in closed form and differentiated exactly; the expected
log-likelihood of the full training set (455 points, no minibatches: the
gradient noise is the estimator's alone) by each estimator with --samples
draws per step, with and without ``control_variate="delta"`` (the
second-order Taylor expansion of the log-likelihood at the mean, its
expectation in closed form; ``cv_coefficient="optimal"``, the
leave-one-out estimate, as the paper estimated its coefficient). The
measure-valued estimator uses the normal's loc and scale weak derivatives
with coupling. Adam (optax), learning rate 0.01, from mu = 0, sigma = 0.1.

Every --every steps (on each estimator's own trajectory, as the paper) the
per-sample gradient variance of the expected log-likelihood with respect to
mu and rho is measured from --var-samples draws (the same estimator and
options), averaged over the 31 coordinates (the paper's
"grad_var_mean"), and the ELBO is estimated with 2000 draws. At the end:
the ELBO and the test accuracy of the posterior predictive
(mean over 2000 draws of sigmoid(x.w) > 1/2). Writes
benchmarks/results/logistic_regression.json and .png and prints the table.
Float32, one seed (--seed).
"""

from __future__ import annotations

import argparse
import os
import time

import _common  # noqa: F401  (sys.path)
import jax
import jax.numpy as jnp
import numpy as np
import optax

import irt_jax as irt  # noqa: E402
from irt_jax import estimators as est  # noqa: E402

# (label, estimator, control variate?)
CONFIGS = [
    ("pathwise", est.pathwise, False), ("pathwise", est.pathwise, True),
    ("score function", est.score_function, False),
    ("score function", est.score_function, True),
    ("measure-valued", est.measure_valued, False),
    ("measure-valued", est.measure_valued, True),
]
LR, MU0, RHO0, EVAL_DRAWS = 0.01, 0.0, float(np.log(0.1)), 2000


def load_data(seed: int = 0, test_fraction: float = 0.2):
  """Standardized train/test features with a bias column, labels in {-1, 1}."""
  from sklearn.datasets import load_breast_cancer  # pylint: disable=import-outside-toplevel
  x, y = load_breast_cancer(return_X_y=True)
  order = np.random.default_rng(seed).permutation(len(y))
  n_test = int(round(test_fraction * len(y)))
  test, train = order[:n_test], order[n_test:]
  m, s = x[train].mean(0), x[train].std(0)
  add_bias = lambda a: np.concatenate([(a - m) / s, np.ones((len(a), 1))], 1)
  sign = lambda t: 2.0 * t - 1.0
  f32 = lambda a: jnp.asarray(a, jnp.float32)
  return f32(add_bias(x[train])), f32(sign(y[train])), f32(add_bias(x[test])), f32(sign(y[test]))


def log_likelihood(x, y):
  """``f(w) = sum_i log sigmoid(y_i x_i.w)``: the cost whose expectation the
  estimators differentiate (one draw ``w`` of shape ``[D]`` -> a scalar)."""
  return lambda w: jnp.sum(jax.nn.log_sigmoid(y * (x @ w)))


def kl_to_prior(mu, rho):
  """KL(N(mu, diag e^(2 rho)) || N(0, I)) in closed form."""
  sigma2 = jnp.exp(2.0 * rho)
  return 0.5 * jnp.sum(sigma2 + mu ** 2 - 1.0) - jnp.sum(rho)


def q_params(theta):
  mu, rho = theta
  return irt.normal.Params(mu, jnp.exp(rho))


def per_sample_grads(f, estimator, cv, theta, key, n):
  """Per-draw gradients of E_q[f] with respect to (mu, rho): [n, D] each."""
  opts = dict(control_variate="delta", cv_coefficient="optimal") if cv else {}
  g = estimator(f, irt.normal, q_params(theta), key, n, **opts)
  return g.loc, g.scale * jnp.exp(theta[1])   # d/drho = sigma d/dsigma


def elbo(f, theta, key, n=EVAL_DRAWS):
  w = irt.normal.sample(key, q_params(theta), (n, theta[0].shape[0]))
  return jnp.mean(jax.vmap(f)(w)) - kl_to_prior(*theta)


def accuracy(x, y, theta, key, n=EVAL_DRAWS):
  w = irt.normal.sample(key, q_params(theta), (n, theta[0].shape[0]))
  p = jnp.mean(jax.nn.sigmoid(x @ w.T), axis=1)    # posterior predictive P(y = 1)
  return jnp.mean(jnp.where(p > 0.5, 1.0, -1.0) == y)


def run(config, data, steps, samples, var_samples, every, seed):
  """Trains with one estimator; returns the curves and the final figures."""
  _, estimator, cv = config
  x, y, x_test, y_test = data
  f = log_likelihood(x, y)
  opt = optax.adam(LR)

  def step(carry, key):
    theta, opt_state = carry
    g_mu, g_rho = per_sample_grads(f, estimator, cv, theta, key, samples)
    g_kl = jax.grad(lambda t: kl_to_prior(*t))(theta)
    grads = (g_kl[0] - g_mu.mean(0), g_kl[1] - g_rho.mean(0))   # of -ELBO
    updates, opt_state = opt.update(grads, opt_state, theta)
    return (optax.apply_updates(theta, updates), opt_state), None

  @jax.jit
  def chunk(carry, key):
    return jax.lax.scan(step, carry, jax.random.split(key, every))[0]

  @jax.jit
  def measure(theta, key):
    k1, k2 = jax.random.split(key)
    g_mu, g_rho = per_sample_grads(f, estimator, cv, theta, k1, var_samples)
    return jnp.mean(jnp.var(g_mu, 0)), jnp.mean(jnp.var(g_rho, 0)), elbo(f, theta, k2)

  d = x.shape[1]
  theta = (jnp.full((d,), MU0, jnp.float32), jnp.full((d,), RHO0, jnp.float32))
  carry = (theta, opt.init(theta))
  key, key_var = jax.random.split(jax.random.key(seed))
  curve = {"step": [], "var_mu": [], "var_rho": [], "elbo": []}
  t0 = time.perf_counter()
  for i in range(steps // every + 1):
    if i:
      carry = chunk(carry, jax.random.fold_in(key, i))
    v_mu, v_rho, e = (float(v) for v in measure(carry[0], jax.random.fold_in(key_var, i)))
    for k, v in zip(curve, (i * every, v_mu, v_rho, e)):
      curve[k].append(v)
  theta = carry[0]
  k_eval = jax.random.key(seed + 1)
  final = {"elbo": float(jax.jit(lambda t: elbo(f, t, k_eval))(theta)),
           "test_accuracy": float(jax.jit(lambda t: accuracy(x_test, y_test, t, k_eval))(theta)),
           "train_accuracy": float(jax.jit(lambda t: accuracy(x, y, t, k_eval))(theta)),
           "mean_log10_var_mu": float(np.mean(np.log10(curve["var_mu"]))),
           "mean_log10_var_rho": float(np.mean(np.log10(curve["var_rho"]))),
           "seconds": time.perf_counter() - t0}
  return curve, final


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--steps", type=int, default=3000)
  ap.add_argument("--samples", type=int, default=16)
  ap.add_argument("--var-samples", type=int, default=512)
  ap.add_argument("--every", type=int, default=100)
  ap.add_argument("--seed", type=int, default=0)
  ap.add_argument("--out", default=_common.RESULTS)
  args = ap.parse_args()
  data = load_data()
  res = {"setting": {k: v for k, v in vars(args).items() if k != "out"},
         "model": {"train": int(data[0].shape[0]), "test": int(data[2].shape[0]),
                   "D": int(data[0].shape[1]), "optimizer": f"adam({LR})",
                   "init": {"mu": MU0, "sigma": float(np.exp(RHO0))},
                   "eval_draws": EVAL_DRAWS, "dtype": "float32"},
         "machine": _common.machine(), "runs": []}
  for config in _common.progress(CONFIGS, "estimator"):
    curve, final = run(config, data, args.steps, args.samples, args.var_samples,
                       args.every, args.seed)
    res["runs"].append({"estimator": config[0], "control_variate": "delta" if config[2] else "none",
                        "curve": curve, **final})
  path = _common.save("logistic_regression", res, args.out)
  print(f"wrote {path}")
  print("| estimator | control variate | mean log10 Var mu | mean log10 Var rho "
        "| final ELBO | test accuracy |")
  print("|---|---|---|---|---|---|")
  for r in res["runs"]:
    print(f"| {r['estimator']} | {r['control_variate']} | {r['mean_log10_var_mu']:.2f} "
          f"| {r['mean_log10_var_rho']:.2f} | {r['elbo']:.1f} | {r['test_accuracy']:.3f} |")

  plt = _common.pyplot()
  fig, axes = plt.subplots(1, 3, figsize=(15, 4))
  colors = {"pathwise": "C0", "score function": "C3", "measure-valued": "C2"}
  for r in res["runs"]:
    c = r["curve"]
    style = dict(color=colors[r["estimator"]], ls="-" if r["control_variate"] == "none" else "--",
                 label=f"{r['estimator']}" + (" + delta CV" if r["control_variate"] != "none" else ""))
    axes[0].semilogy(c["step"], c["var_mu"], **style)
    axes[1].semilogy(c["step"], c["var_rho"], **style)
    axes[2].plot(c["step"][1:], c["elbo"][1:], **style)
  for ax, title in zip(axes, ("per-sample gradient variance, mu (mean over 31)",
                              "per-sample gradient variance, rho = log sigma",
                              "ELBO (train, 2000 draws)")):
    ax.set_title(title)
    ax.set_xlabel("Adam step")
    ax.grid(True, alpha=0.3)
  lo = np.percentile([e for r in res["runs"] for e in r["curve"]["elbo"][1:]], 5)
  axes[2].set_ylim(lo, None)
  axes[0].legend(fontsize=8)
  fig.suptitle(f"Bayesian logistic regression, breast cancer (D = 31), {args.samples} draws "
               "per step (Mohamed et al. 2020, section 8.3)")
  fig.tight_layout()
  png = os.path.join(args.out, "logistic_regression.png")
  fig.savefig(png, dpi=100)
  print(f"wrote {png}")


if __name__ == "__main__":
  main()
