# %% [markdown]
# # 05 — Score function, pathwise and measure-valued gradients (after Mohamed et al., JMLR 2020)
#
# **What this shows.** The variance of four unbiased estimators of
# `d/dtheta E_{N(x | mu, sigma^2)}[f(x; k)]` at `mu = sigma = 1`, as a function of `k`, for
# the three costs of Mohamed, Rosca, Figurnov & Mnih (2020, Section 3):
# `f = (x - k)^2`, `f = exp(-k x^2)`, `f = cos(k x)`; `theta = mu` (figure `05_fig2_mu.png`)
# and `theta = sigma` (figure `05_fig3_sigma.png`).
#
# * **score function** `f(x) d log q(x)/dtheta`, with and without a baseline (leave-one-out
#   mean of the other draws of the batch);
# * **pathwise** `f'(x) dx/dtheta`, `x` from `irt.normal.sample` (implicit rule);
# * **measure-valued** (weak derivative) `c (f(x+) - f(x-))`: for `mu`, `c = 1/(sigma sqrt(2 pi))`
#   and `x+- = mu +- sigma R` with one Rayleigh `R` (Weibull(2, sqrt 2)) for both (coupled);
#   for `sigma`, `c = 1/sigma`, `x+ = mu + sigma M` with `M` double-sided Maxwell and
#   `x- = mu + sigma M U`, `U ~ Uniform(0, 1)` (since `M U ~ N(0, 1)`: a coupling).
#
# Every Monte-Carlo variance is checked against the same variance computed by quadrature
# (Gauss–Hermite / Gauss–Legendre / adaptive), every mean against the closed-form gradient,
# and the closed forms of the paper: pathwise `Var_mu = 4` and score `Var_mu = a^4 + 14 a^2 + 15`,
# `a = mu - k` (495 at `k = -3`), for `f = (x - k)^2`; also measure-valued
# `Var_mu = (16/pi - 4) a^2` for that cost.

# %%
import os
import time

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import integrate, special  # noqa: E402

jax.config.update("jax_enable_x64", True)
import irt_jax as irt  # noqa: E402

OUT = os.environ.get("IRT_NOTEBOOK_OUT", os.path.join("notebooks", "output"))
os.makedirs(OUT, exist_ok=True)
T0 = time.time()
MU, SIGMA = 1.0, 1.0
M = 20_000                       # draws per k (one batch; the baseline is leave-one-out within it)
KEY = jax.random.key(5)

COSTS = {
    # name: (f(x, k), k grid). exp(-k x^2) needs k > -1/4 for a finite score variance.
    "(x-k)^2": (lambda x, k: (x - k) ** 2, np.linspace(-3, 3, 25)),
    "exp(-k x^2)": (lambda x, k: jnp.exp(-k * x ** 2), np.linspace(0, 3, 25)),
    "cos(k x)": (lambda x, k: jnp.cos(k * x), np.linspace(-3, 3, 25)),
}


# %% [markdown]
# ## Closed-form objectives and gradients
#
# `E[(x-k)^2] = (mu-k)^2 + sigma^2`; `E[exp(-k x^2)] = exp(-k mu^2 / (1 + 2 k sigma^2)) / sqrt(1 + 2 k sigma^2)`;
# `E[cos(k x)] = cos(k mu) exp(-k^2 sigma^2 / 2)`. Their gradients by `jax.grad`.

# %%
CLOSED = {
    "(x-k)^2": lambda mu, s, k: (mu - k) ** 2 + s ** 2,
    "exp(-k x^2)": lambda mu, s, k: jnp.exp(-k * mu ** 2 / (1 + 2 * k * s ** 2)) / jnp.sqrt(1 + 2 * k * s ** 2),
    "cos(k x)": lambda mu, s, k: jnp.cos(k * mu) * jnp.exp(-k ** 2 * s ** 2 / 2),
}
closed_grad = {name: np.asarray(jax.vmap(jax.grad(fn, argnums=(0, 1)), in_axes=(None, None, 0))(MU, SIGMA, jnp.asarray(COSTS[name][1]))).T
               for name, fn in CLOSED.items()}   # (K, 2): d/dmu, d/dsigma


# %% [markdown]
# ## The estimators (per-draw gradients with respect to `(mu, sigma)`), from `irt_jax.estimators`
#
# All four share one signature, `estimator(f, family, params, key, num_samples)`, and return
# the per-draw gradients as a `Params` of arrays with a leading `num_samples` axis.
# `measure_valued` couples its arms by default: one Rayleigh `R` for both arms of `mu`,
# `x- = mu + sigma M U` for `sigma` (the estimator the quadrature below describes).

# %%
from irt_jax import estimators  # noqa: E402

P = irt.normal.Params(jnp.asarray(MU), jnp.asarray(SIGMA))


def per_draw(estimator, f, k, key, **options):
  g = estimator(lambda x: f(x, k), irt.normal, P, key, M, **options)
  return jnp.stack([g.loc, g.scale], axis=1)                              # (M, 2)


ESTIMATORS = ["score", "score + LOO baseline", "pathwise", "measure-valued"]


def run_cost(name):
  f, ks = COSTS[name]
  fns = {
      "score": lambda k, key: per_draw(estimators.score_function, f, k, key),
      "score + LOO baseline": lambda k, key: per_draw(
          estimators.score_function, f, k, key, baseline="leave_one_out"),
      "pathwise": lambda k, key: per_draw(estimators.pathwise, f, k, key),
      "measure-valued": lambda k, key: per_draw(estimators.measure_valued, f, k, key),
  }
  keys = jax.random.split(jax.random.fold_in(KEY, list(COSTS).index(name)), len(ks))
  out = {}
  for est, fn in fns.items():
    g = np.asarray(jax.jit(jax.vmap(fn))(jnp.asarray(ks), keys))          # (K, M, 2)
    c = g - g.mean(axis=1, keepdims=True)
    v = (c ** 2).mean(axis=1)
    v_se = np.sqrt(((c ** 4).mean(axis=1) - v ** 2) / M)
    out[est] = dict(mean=g.mean(axis=1), mean_se=g.std(axis=1) / np.sqrt(M), var=v, var_se=v_se)
  return out


mc = {name: run_cost(name) for name in COSTS}
print(f"Monte Carlo done ({M} draws per k, {len(ESTIMATORS)} estimators, 3 costs): {time.time() - T0:.1f} s")


# %% [markdown]
# ## Quadrature references (NumPy/SciPy only)
#
# Per-draw means and second moments of each estimator, written as integrals over its own
# random inputs: Gauss–Hermite (200 nodes) over `eps ~ N(0,1)` for score and pathwise,
# adaptive quadrature over the Rayleigh `R`, and a Gauss–Hermite x Gauss–Legendre product
# rule over `(M, U)` for the Maxwell coupling (`M` has density `m^2 phi(m)`). The pathwise
# integrand uses the analytic `f'`. The leave-one-out baseline's per-draw variance for a
# batch this large is that of the exact baseline `b = E[f]` up to a `1/(M-1)` term
# (given exactly below).

# %%
F_NP = {"(x-k)^2": lambda x, k: (x - k) ** 2, "exp(-k x^2)": lambda x, k: np.exp(-k * x ** 2),
        "cos(k x)": lambda x, k: np.cos(k * x)}
DF_NP = {"(x-k)^2": lambda x, k: 2 * (x - k), "exp(-k x^2)": lambda x, k: -2 * k * x * np.exp(-k * x ** 2),
         "cos(k x)": lambda x, k: -k * np.sin(k * x)}
gh_x, gh_w = special.roots_hermitenorm(200)
gh_w = gh_w / np.sqrt(2 * np.pi)
gl_u, gl_w = special.roots_legendre(80)
gl_u, gl_w = (gl_u + 1) / 2, gl_w / 2


def moments_normal(h):               # E[h(eps)], E[h(eps)^2] for h vectorised over nodes
  v = h(gh_x)
  return np.sum(gh_w * v, axis=-1), np.sum(gh_w * v ** 2, axis=-1)


def quad_reference(name, k):
  f, df = F_NP[name], DF_NP[name]
  eps = gh_x
  x = MU + SIGMA * eps
  ef = np.sum(gh_w * f(x, k))
  ref = {}
  for est, b in (("score", 0.0), ("score + LOO baseline", ef)):
    ref[est] = [moments_normal(lambda e: (f(MU + SIGMA * e, k) - b) * e / SIGMA),
                moments_normal(lambda e: (f(MU + SIGMA * e, k) - b) * (e ** 2 - 1) / SIGMA)]
  ref["pathwise"] = [moments_normal(lambda e: df(MU + SIGMA * e, k)),
                     moments_normal(lambda e: df(MU + SIGMA * e, k) * e)]
  c = 1 / (SIGMA * np.sqrt(2 * np.pi))
  h_mu = lambda r: c * (f(MU + SIGMA * r, k) - f(MU - SIGMA * r, k))
  rayleigh = lambda r: r * np.exp(-r ** 2 / 2)
  m1 = integrate.quad(lambda r: h_mu(r) * rayleigh(r), 0, np.inf, epsabs=1e-13, epsrel=1e-12, limit=200)[0]
  m2 = integrate.quad(lambda r: h_mu(r) ** 2 * rayleigh(r), 0, np.inf, epsabs=1e-13, epsrel=1e-12, limit=200)[0]
  mm, uu = np.meshgrid(gh_x, gl_u, indexing="ij")
  w2 = (gh_w * gh_x ** 2)[:, None] * gl_w[None, :]
  h_s = (f(MU + SIGMA * mm, k) - f(MU + SIGMA * mm * uu, k)) / SIGMA
  ref["measure-valued"] = [(m1, m2), (np.sum(w2 * h_s), np.sum(w2 * h_s ** 2))]
  # -> {est: (mean_mu, var_mu, mean_sigma, var_sigma)}
  return {est: np.array([ref[est][0][0], ref[est][0][1] - ref[est][0][0] ** 2,
                         ref[est][1][0], ref[est][1][1] - ref[est][1][0] ** 2]) for est in ref}, ef


quad = {}
for name, (_, ks) in COSTS.items():
  rows = [quad_reference(name, k) for k in ks]
  quad[name] = {est: np.stack([r[0][est] for r in rows]) for est in ESTIMATORS}
  quad[name]["E[f]"] = np.array([r[1] for r in rows])
print(f"quadrature done: {time.time() - T0:.1f} s")

# %% [markdown]
# ## Key numbers for `f = (x - k)^2`

# %%
ks0 = COSTS["(x-k)^2"][1]
i3 = int(np.argmin(np.abs(ks0 + 3)))
a = MU - ks0
print(f"{'k':>5s} {'a':>4s} | {'Var_mu score':>27s} {'Var_mu pathwise':>22s} {'Var_mu MVD':>24s}")
for i in (i3, int(np.argmin(np.abs(ks0))), int(np.argmin(np.abs(ks0 - 1))), int(np.argmin(np.abs(ks0 - 3)))):
  s, p, mv = (mc["(x-k)^2"][e] for e in ("score", "pathwise", "measure-valued"))
  print(f"{ks0[i]:5.1f} {a[i]:4.1f} | MC {s['var'][i, 0]:8.2f} quad {quad['(x-k)^2']['score'][i, 1]:7.2f} "
        f"closed {a[i] ** 4 + 14 * a[i] ** 2 + 15:5.0f} | MC {p['var'][i, 0]:6.3f} closed 4 | "
        f"MC {mv['var'][i, 0]:6.3f} closed {(16 / np.pi - 4) * a[i] ** 2:6.3f}")
for name in COSTS:
  print(f"\n{name}: per-draw variance at k = {COSTS[name][1][-1]:g} (MC / quadrature), theta = mu | sigma")
  for est in ESTIMATORS:
    v, q = mc[name][est]["var"][-1], quad[name][est][-1]
    print(f"  {est:22s} {v[0]:10.4f} / {q[1]:10.4f}   | {v[1]:10.4f} / {q[3]:10.4f}")

# %% [markdown]
# ## Figures: variance against `k` (top), the cost and its derivative (bottom)

# %%
STYLE = {"score": ("C3", "-"), "score + LOO baseline": ("C1", "--"), "pathwise": ("C0", "-"),
         "measure-valued": ("C2", "-.")}
for fig_name, j, label in (("05_fig2_mu.png", 0, "μ"), ("05_fig3_sigma.png", 1, "σ")):
  fig, axes = plt.subplots(2, 3, figsize=(14, 7), gridspec_kw=dict(height_ratios=[2, 1]))
  for col, (name, (f, ks)) in enumerate(COSTS.items()):
    ax = axes[0, col]
    for est in ESTIMATORS:
      color, ls = STYLE[est]
      ax.semilogy(ks, np.maximum(quad[name][est][:, 1 + 2 * j], 1e-12), color=color, ls=ls, lw=1.5, label=f"{est} (quadrature)")
      ax.semilogy(ks, np.maximum(mc[name][est]["var"][:, j], 1e-12), "o", color=color, ms=3)
    ax.set_title(f"f = {name}, θ = {label}")
    ax.set_xlabel("k")
    ax.set_ylim(bottom=max(1e-6, ax.get_ylim()[0]))
    if col == 0:
      ax.set_ylabel("per-draw variance")
      ax.legend(fontsize=7)
    ax = axes[1, col]
    xs = np.linspace(-3, 5, 300)
    for kk, c in zip((ks[0], 0.5 * (ks[0] + ks[-1]), ks[-1]), ("C0", "C1", "C2")):
      ax.plot(xs, F_NP[name](xs, kk), color=c, label=f"k={kk:g}")
      ax.plot(xs, DF_NP[name](xs, kk), color=c, ls="--")
    ax.set_ylim(-6, 6)
    ax.set_xlabel("x")
    ax.legend(fontsize=7)
  fig.suptitle(f"∇_{label} E_N(x|1,1)[f(x;k)]: points Monte Carlo ({M} draws), lines quadrature")
  fig.tight_layout()
  fig.savefig(os.path.join(OUT, fig_name), dpi=100)
  print(f"saved {os.path.join(OUT, fig_name)}")

# %% [markdown]
# ## Checks
#
# * quadrature means of every estimator equal the closed-form gradient (1e-8);
# * Monte-Carlo means within 5 standard errors of the closed form, every estimator, cost, k, theta;
# * Monte-Carlo per-draw variances within 5 standard errors (from the sample fourth moment)
#   of the quadrature variances; for the leave-one-out baseline the quadrature value is
#   corrected by the exact finite-batch term `(Var f E[s^2] + g^2) / (M - 1)`;
# * the paper's closed forms for `(x - k)^2`: pathwise `Var_mu = 4`, score
#   `Var_mu = a^4 + 14 a^2 + 15` (495 at `k = -3`), MVD `Var_mu = (16/pi - 4) a^2`.

# %%
n_checks = 0
for name, (_, ks) in COSTS.items():
  g = closed_grad[name]
  var_f = np.array([moments_normal(lambda e: F_NP[name](MU + SIGMA * e, kk))[1] for kk in ks]) - quad[name]["E[f]"] ** 2
  for est in ESTIMATORS:
    q = quad[name][est]
    assert np.allclose(q[:, [0, 2]], g, rtol=1e-8, atol=1e-10), (name, est)
    r = mc[name][est]
    assert np.all(np.abs(r["mean"] - g) < 5 * r["mean_se"] + 1e-12), (name, est)
    ref_var = q[:, [1, 3]].copy()
    if est == "score + LOO baseline":
      es2 = np.array([1.0, 2.0]) / SIGMA ** 2                 # E[s^2] for mu, sigma
      ref_var += (var_f[:, None] * es2 + g ** 2) / (M - 1)
    z = np.abs(r["var"] - ref_var) / np.maximum(r["var_se"], 1e-300)
    ok = (z < 5) | (np.abs(r["var"] - ref_var) < 1e-12)
    assert np.all(ok), (name, est, float(z.max()), ks[np.argmax(z.max(axis=1))])
    n_checks += 3 * ks.size * 2
a = MU - COSTS["(x-k)^2"][1]
q = quad["(x-k)^2"]
assert np.allclose(q["pathwise"][:, 1], 4.0, rtol=1e-10)
assert np.allclose(q["score"][:, 1], a ** 4 + 14 * a ** 2 + 15, rtol=1e-10)
assert abs(q["score"][i3, 1] - 495) < 1e-8
assert np.allclose(q["measure-valued"][:, 1], (16 / np.pi - 4) * a ** 2, rtol=1e-8, atol=1e-10)
r = mc["(x-k)^2"]
assert np.allclose(r["pathwise"]["var"][:, 0], 4.0, rtol=0, atol=5 * r["pathwise"]["var_se"][:, 0].max())
assert abs(r["score"]["var"][i3, 0] - 495) < 5 * r["score"]["var_se"][i3, 0]
print(f"{n_checks} Monte-Carlo checks against quadrature and closed forms")
print(f"all checks passed; total {time.time() - T0:.1f} s")
