# %% [markdown]
# # 04 — The ELBO and the Jacobian: where the log-determinant cancels
#
# **What this shows.** The ELBO `L(phi) = E_q[log g(x) - log q_phi(x)]`, with
# `g(x) = p(y, x)`, estimated with reparameterized draws (seeds/003, Schulz & Aziz 2017;
# Kingma & Welling 2014; Titsias & Lázaro-Gredilla 2014).
#
# 1. *Normal posterior, explicit transform* `x = mu + sigma eps`. The density of `x` is
#    `q(x) = phi(eps) / sigma`, so `-log q(x) = -log phi(eps) + log sigma`: the
#    log-determinant of the transform lives **inside** `log q`. Writing the ELBO in `x`
#    (as `log g(x) - log q(x)`, using `irt.normal.sample` and `irt.normal.log_prob`) or in
#    `eps` (as `log g(mu + sigma eps) - log phi(eps) + log sigma`) gives the *same number
#    and the same gradient for every single draw*: the `|det dx/deps|` of the change of
#    variables cancels the one in the density (seed eq. 7 -> 8). Dropping the `log sigma`
#    (the Jacobian) biases the value by `-log sigma` and the `sigma`-gradient by `-1/sigma`,
#    and the optimum runs off to `sigma -> 0`.
# 2. *If the KL is analytic* (seed eq. 11), `L = E_q[log p(y|x)] - KL(q || p)` needs no
#    Jacobian at all; it removes the noise of the `log p(x) - log q(x)` part (here the
#    likelihood term dominates, so the gradient variance drops only a little).
# 3. *Gamma posterior, implicit gradients.* A Gamma has no explicit transform, so there is
#    no determinant to track: `irt.gamma.sample` returns `x` and `dx/dphi = -(dF/dphi)/q`,
#    and `log q` is evaluated at that `x`. The same three forms, checked against the
#    closed-form ELBO of the Poisson–Gamma model and its exact gradient.
# 4. *Sticking the landing* (Roeder, Wu & Duvenaud 2017): the score part `d log q/dphi` of
#    the entropy gradient has mean zero; dropping it (stop-gradient on `phi` inside `log q`)
#    keeps the mean and, at the exact posterior, gives a gradient that is exactly 0 for every
#    draw.
# 5. *Analytic KL vs Monte-Carlo KL* for Normal and Gamma pairs: values and gradients.
#
# All references are closed forms (evaluated with SciPy, or differentiated with
# `jax.scipy.special`, no irt_jax code in them).

# %%
import os
import time

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from jax.scipy.special import digamma, gammaln  # noqa: E402
from scipy import integrate, special, stats  # noqa: E402

jax.config.update("jax_enable_x64", True)
import irt_jax as irt  # noqa: E402

OUT = os.environ.get("IRT_NOTEBOOK_OUT", os.path.join("notebooks", "output"))
os.makedirs(OUT, exist_ok=True)
T0 = time.time()
M = 100_000          # draws per Monte-Carlo estimate
KEY = jax.random.key(4)


def mean_se(x):
  x = np.asarray(x)
  return x.mean(axis=0), x.std(axis=0, ddof=1) / np.sqrt(x.shape[0])


def per_sample_jax(objective):
  """Compiled (per-draw values, per-draw gradients) of objective(params, key) -> (M,).

  The parameters are broadcast to length-M vectors, so one `jax.grad` of the sum
  returns all M per-draw gradients (column j: d term_i / d params[j]).
  """
  def run(params, key):
    vec = tuple(jnp.full((M,), p) for p in params)
    terms = objective(vec, key)
    grads = jax.grad(lambda v: objective(v, key).sum())(vec)
    return terms, jnp.stack(grads, axis=1)
  return jax.jit(run)


# %% [markdown]
# ## 1. Normal–normal model: four ways to write one ELBO
#
# `y_i ~ N(x, s^2)`, `i = 1..n`, prior `x ~ N(0, tau^2)`, `q = N(mu, sigma)`.
# Closed form: `L = sum_i [-log(2 pi s^2)/2 - ((y_i - mu)^2 + sigma^2)/(2 s^2)] - KL(N(mu, sigma) || N(0, tau))`.

# %%
rng = np.random.default_rng(0)
S_LIK, TAU, N_OBS = 1.5, 2.0, 8
Y = rng.normal(1.2, S_LIK, N_OBS)
post_prec = 1 / TAU ** 2 + N_OBS / S_LIK ** 2
post_mu, post_sigma = Y.sum() / S_LIK ** 2 / post_prec, post_prec ** -0.5
log_evidence_normal = stats.multivariate_normal(np.zeros(N_OBS), S_LIK ** 2 * np.eye(N_OBS) + TAU ** 2).logpdf(Y)
Yj = jnp.asarray(Y)


def kl_normal(m1, s1, m2, s2):
  return jnp.log(s2 / s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2) - 0.5


def elbo_normal_closed(mu, sigma):
  lik = jnp.sum(-0.5 * jnp.log(2 * jnp.pi * S_LIK ** 2) - ((Yj - mu) ** 2 + sigma ** 2) / (2 * S_LIK ** 2))
  return lik - kl_normal(mu, sigma, 0.0, TAU)


def log_lik(x):        # log p(y | x), x of shape (M,)
  return jnp.sum(-0.5 * jnp.log(2 * jnp.pi * S_LIK ** 2) - (Yj - x[:, None]) ** 2 / (2 * S_LIK ** 2), axis=1)


def log_prior(x):
  return -0.5 * jnp.log(2 * jnp.pi * TAU ** 2) - x ** 2 / (2 * TAU ** 2)


log_std_normal = lambda e: -0.5 * jnp.log(2 * jnp.pi) - 0.5 * e ** 2


def form_x_space(p, key):                  # log g(x) - log q(x), x from irt.normal
  q = irt.normal.Params(*p)
  x = irt.normal.sample(key, q, (M,))
  return log_lik(x) + log_prior(x) - irt.normal.log_prob(q, x)


def form_eps_space(p, key):                # log g(mu + sigma eps) - log phi(eps) + log|det|
  mu, sigma = p
  eps = jax.random.normal(key, (M,))       # the same eps irt.normal.sample draws from this key
  x = mu + sigma * eps
  return log_lik(x) + log_prior(x) - log_std_normal(eps) + jnp.log(sigma)


def form_no_jacobian(p, key):              # the same without the log-determinant: wrong
  mu, sigma = p
  eps = jax.random.normal(key, (M,))
  x = mu + sigma * eps
  return log_lik(x) + log_prior(x) - log_std_normal(eps)


def form_analytic_kl(p, key):              # E_q[log p(y|x)] - KL(q || prior): no Jacobian
  q = irt.normal.Params(*p)
  x = irt.normal.sample(key, q, (M,))
  return log_lik(x) - kl_normal(p[0], p[1], 0.0, TAU)


def form_stl(p, key):                      # sticking the landing: phi stopped inside log q
  q = irt.normal.Params(*p)
  x = irt.normal.sample(key, q, (M,))
  q_stop = irt.normal.Params(*jax.lax.stop_gradient(p))
  return log_lik(x) + log_prior(x) - irt.normal.log_prob(q_stop, x)


NORMAL_FORMS = {"x-space (irt.normal)": form_x_space, "eps-space + log sigma": form_eps_space,
                "eps-space, no Jacobian": form_no_jacobian, "analytic KL": form_analytic_kl,
                "sticking the landing": form_stl}
NORMAL_RUN = {name: per_sample_jax(fn) for name, fn in NORMAL_FORMS.items()}
MU0, SIGMA0 = 0.3, 0.8
key_n = jax.random.fold_in(KEY, 1)
res_normal = {name: tuple(np.asarray(a) for a in run((MU0, SIGMA0), key_n)) for name, run in NORMAL_RUN.items()}
closed_val = float(elbo_normal_closed(MU0, SIGMA0))
closed_grad = np.array(jax.grad(elbo_normal_closed, argnums=(0, 1))(MU0, SIGMA0))
print(f"Normal model at (mu, sigma) = ({MU0}, {SIGMA0});  posterior N({post_mu:.4f}, {post_sigma:.4f})")
print(f"{'form':24s} {'ELBO':>20s} {'dL/dmu':>20s} {'dL/dsigma':>20s} {'Var dmu':>9s} {'Var dsigma':>10s}")
print(f"{'closed form':24s} {closed_val:20.4f} {closed_grad[0]:20.4f} {closed_grad[1]:20.4f}")
for name, (terms, grads) in res_normal.items():
  (m, se), (gm, gse) = mean_se(terms), mean_se(grads)
  gv = grads.var(axis=0)
  print(f"{name:24s} {m:11.4f} +-{se:7.4f} {gm[0]:11.4f} +-{gse[0]:7.4f} {gm[1]:11.4f} +-{gse[1]:7.4f} "
        f"{gv[0]:9.3f} {gv[1]:10.3f}")
print(f"no-Jacobian bias: value {-np.log(SIGMA0):+.4f} (= -log sigma), dsigma {-1 / SIGMA0:+.4f} (= -1/sigma)")
d_terms = np.abs(res_normal["x-space (irt.normal)"][0] - res_normal["eps-space + log sigma"][0]).max()
d_grads = np.abs(res_normal["x-space (irt.normal)"][1] - res_normal["eps-space + log sigma"][1]).max()
print(f"x-space vs eps-space, max per-draw difference: value {d_terms:.1e}, gradient {d_grads:.1e}")

# %% [markdown]
# At the exact posterior `q = p(x | y)` the ELBO equals the log evidence, its gradient is
# zero, and `log g(x) - log q(x) = log p(y)` for *every* `x`: the sticking-the-landing
# gradient is zero draw by draw, while the full x-space gradient still carries the
# zero-mean score noise.

# %%
res_opt = {name: tuple(np.asarray(a) for a in NORMAL_RUN[name]((post_mu, post_sigma), key_n))
           for name in ("x-space (irt.normal)", "sticking the landing", "analytic KL")}
print(f"\nat the posterior: log evidence (SciPy MVN) = {log_evidence_normal:.6f}, "
      f"closed-form ELBO = {float(elbo_normal_closed(post_mu, post_sigma)):.6f}")
for name, (terms, grads) in res_opt.items():
  (m, se), (gm, gse) = mean_se(terms), mean_se(grads)
  print(f"{name:24s} ELBO {m:.6f} +- {se:.1e}   grad ({gm[0]:+.2e}, {gm[1]:+.2e})   "
        f"per-draw grad sd ({grads[:, 0].std():.2e}, {grads[:, 1].std():.2e})")

# %% [markdown]
# ## 2. Poisson–Gamma model: implicit gradients, no Jacobian to track
#
# `y_i ~ Poisson(lambda)`, `lambda ~ Gamma(alpha0, beta0)`, `q = Gamma(a, b)` (rate `b`).
# Closed form with `E_q[lambda] = a/b`, `E_q[log lambda] = psi(a) - log b`:
# `L = sum(y) (psi(a) - log b) - n a/b - sum log y_i! - KL(Gamma(a, b) || Gamma(alpha0, beta0))`,
# `KL = (a - alpha0) psi(a) - lgamma(a) + lgamma(alpha0) + alpha0 (log b - log beta0) + a (beta0 - b)/b`.
# Posterior `Gamma(alpha0 + sum y, beta0 + n)`; log evidence is the negative-binomial form.

# %%
A0, B0 = 2.0, 0.5
YP = rng.poisson(3.0, 12)
YPj = jnp.asarray(YP, jnp.float64)
SUM_Y, N_P, LOGFACT = float(YP.sum()), YP.size, float(special.gammaln(YP + 1).sum())
post_a, post_b = A0 + SUM_Y, B0 + N_P
log_evidence_gamma = (A0 * np.log(B0) - special.gammaln(A0) + special.gammaln(post_a)
                      - post_a * np.log(post_b) - LOGFACT)


def kl_gamma(a1, b1, a2, b2):
  return ((a1 - a2) * digamma(a1) - gammaln(a1) + gammaln(a2) + a2 * (jnp.log(b1) - jnp.log(b2))
          + a1 * (b2 - b1) / b1)


def elbo_gamma_closed(a, b):
  return SUM_Y * (digamma(a) - jnp.log(b)) - N_P * a / b - LOGFACT - kl_gamma(a, b, A0, B0)


def log_lik_p(lam):
  return SUM_Y * jnp.log(lam) - N_P * lam - LOGFACT


def gform_x_space(p, key):
  q = irt.gamma.Params(*p)
  lam = irt.gamma.sample(key, q, (M,))
  return log_lik_p(lam) + irt.gamma.log_prob(irt.gamma.Params(A0, B0), lam) - irt.gamma.log_prob(q, lam)


def gform_analytic_kl(p, key):
  lam = irt.gamma.sample(key, irt.gamma.Params(*p), (M,))
  return log_lik_p(lam) - kl_gamma(p[0], p[1], A0, B0)


def gform_stl(p, key):
  q = irt.gamma.Params(*p)
  lam = irt.gamma.sample(key, q, (M,))
  q_stop = irt.gamma.Params(*jax.lax.stop_gradient(p))
  return log_lik_p(lam) + irt.gamma.log_prob(irt.gamma.Params(A0, B0), lam) - irt.gamma.log_prob(q_stop, lam)


GAMMA_FORMS = {"x-space (irt.gamma)": gform_x_space, "analytic KL": gform_analytic_kl,
               "sticking the landing": gform_stl}
GAMMA_RUN = {name: per_sample_jax(fn) for name, fn in GAMMA_FORMS.items()}
AQ, BQ = 20.0, 8.0
key_g = jax.random.fold_in(KEY, 2)
res_gamma = {name: tuple(np.asarray(a) for a in run((AQ, BQ), key_g)) for name, run in GAMMA_RUN.items()}
g_closed_val = float(elbo_gamma_closed(AQ, BQ))
g_closed_grad = np.array(jax.grad(elbo_gamma_closed, argnums=(0, 1))(AQ, BQ))
print(f"\nPoisson-Gamma model, sum y = {SUM_Y:.0f}, n = {N_P}; q = Gamma({AQ}, {BQ}); "
      f"posterior Gamma({post_a:.0f}, {post_b})")
print(f"{'closed form':24s} {g_closed_val:20.4f} {g_closed_grad[0]:20.4f} {g_closed_grad[1]:20.4f}")
for name, (terms, grads) in res_gamma.items():
  (m, se), (gm, gse) = mean_se(terms), mean_se(grads)
  gv = grads.var(axis=0)
  print(f"{name:24s} {m:11.4f} +-{se:7.4f} {gm[0]:11.4f} +-{gse[0]:7.4f} {gm[1]:11.4f} +-{gse[1]:7.4f} "
        f"{gv[0]:9.3f} {gv[1]:10.3f}")
res_gamma_opt = {name: tuple(np.asarray(a) for a in GAMMA_RUN[name]((post_a, post_b), key_g))
                 for name in GAMMA_FORMS}
print(f"at the posterior: log evidence (closed form) = {log_evidence_gamma:.6f}")
for name, (terms, grads) in res_gamma_opt.items():
  (m, se), (gm, gse) = mean_se(terms), mean_se(grads)
  print(f"{name:24s} ELBO {m:.6f} +- {se:.1e}   grad ({gm[0]:+.2e}, {gm[1]:+.2e})   "
        f"per-draw grad sd ({grads[:, 0].std():.2e}, {grads[:, 1].std():.2e})")

# %% [markdown]
# ## 3. Analytic KL vs Monte-Carlo KL
#
# `KL(q || p) = E_q[log q(x) - log p(x)]` by Monte Carlo with implicit draws, against the
# closed forms above (values also by SciPy quadrature), and the gradients in `q`'s
# parameters against `jax.grad` of the closed form.

# %%
KL_CASES = [
    ("Normal", irt.normal, (0.5, 0.7), (0.0, 1.3), kl_normal,
     lambda p1, p2: integrate.quad(lambda x: stats.norm.pdf(x, *p1) * (stats.norm.logpdf(x, *p1) - stats.norm.logpdf(x, *p2)), -np.inf, np.inf)[0]),
    ("Gamma", irt.gamma, (3.0, 2.0), (1.5, 0.8), kl_gamma,
     lambda p1, p2: integrate.quad(lambda x: stats.gamma.pdf(x, p1[0], scale=1 / p1[1]) * (stats.gamma.logpdf(x, p1[0], scale=1 / p1[1]) - stats.gamma.logpdf(x, p2[0], scale=1 / p2[1])), 0, np.inf)[0]),
]
kl_results = []
for i, (name, fam, p1, p2, closed_kl, quad_kl) in enumerate(KL_CASES):
  def mc_kl(p, key, fam=fam, p2=p2):
    q = fam.Params(*p)
    x = fam.sample(key, q, (M,))
    return fam.log_prob(q, x) - fam.log_prob(fam.Params(*p2), x)
  terms, grads = (np.asarray(a) for a in per_sample_jax(mc_kl)(p1, jax.random.fold_in(KEY, 10 + i)))
  ck = float(closed_kl(*p1, *p2))
  cg = np.array(jax.grad(lambda a, b: closed_kl(a, b, *p2), argnums=(0, 1))(*p1))
  qk = quad_kl(p1, p2)
  (m, se), (gm, gse) = mean_se(terms), mean_se(grads)
  kl_results.append(dict(name=name, terms=terms, ck=ck, qk=qk, m=m, se=se, cg=cg, gm=gm, gse=gse))
  print(f"KL({name}{p1} || {name}{p2}): closed {ck:.6f}, quadrature {qk:.6f}, MC {m:.5f} +- {se:.5f}; "
        f"grad closed ({cg[0]:.5f}, {cg[1]:.5f}), MC ({gm[0]:.5f} +- {gse[0]:.5f}, {gm[1]:.5f} +- {gse[1]:.5f})")
print(f"elapsed {time.time() - T0:.1f} s")

# %% [markdown]
# ## Figures
#
# Left: the Normal-model ELBO along `sigma` (at `mu` = posterior mean): closed form, the
# x-space estimate (irt_jax) and the estimate without the Jacobian, which has lost the
# entropy `log sigma` and keeps rising as `sigma -> 0` (q collapses onto the MAP point). Middle: per-draw gradient variance of the ELBO forms (log scale).
# Right: Monte-Carlo KL against the number of draws with a 2-standard-error band.

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
sig = np.linspace(0.15, 1.5, 28)
run_x, run_nj = NORMAL_RUN["x-space (irt.normal)"], NORMAL_RUN["eps-space, no Jacobian"]
ax = axes[0]
ax.plot(sig, [float(elbo_normal_closed(post_mu, s)) for s in sig], "k", lw=2, label="closed form")
ax.plot(sig, [run_x((post_mu, s), key_n)[0].mean() for s in sig], "C0o", ms=4, label="x-space, irt.normal")
ax.plot(sig, [run_nj((post_mu, s), key_n)[0].mean() for s in sig], "C3s", ms=4, label="no Jacobian (wrong)")
ax.axvline(post_sigma, color="k", ls=":", lw=1)
ax.axhline(log_evidence_normal, color="0.5", ls="--", lw=1, label="log evidence")
ax.set_xlabel("σ")
ax.set_ylabel("ELBO")
ax.legend(fontsize=8)
ax.set_title("Normal posterior: ELBO along σ")
ax = axes[1]
labels, vmu, vsig = [], [], []
for tag, res in [("N", res_normal), ("Γ", res_gamma)]:
  for name, (_, grads) in res.items():
    labels.append(f"{tag}: {name}")
    vmu.append(grads[:, 0].var())
    vsig.append(grads[:, 1].var())
yy = np.arange(len(labels))
ax.barh(yy - 0.2, vmu, 0.4, label="1st parameter (μ / a)")
ax.barh(yy + 0.2, vsig, 0.4, label="2nd parameter (σ / b)")
ax.set_yticks(yy, labels, fontsize=7)
ax.set_xscale("log")
ax.set_xlabel("per-draw gradient variance")
ax.legend(fontsize=7)
ax.set_title("ELBO gradient variance by form")
ax = axes[2]
for i, r in enumerate(kl_results):
  n_axis = np.arange(1, M + 1)
  run = np.cumsum(r["terms"]) / n_axis
  sd = r["terms"].std()
  sel = np.unique(np.logspace(1, np.log10(M), 200).astype(int)) - 1
  ax.semilogx(n_axis[sel], run[sel], f"C{i}", label=f"MC KL, {r['name']}")
  ax.fill_between(n_axis[sel], r["ck"] - 2 * sd / np.sqrt(n_axis[sel]), r["ck"] + 2 * sd / np.sqrt(n_axis[sel]),
                  color=f"C{i}", alpha=0.2)
  ax.axhline(r["ck"], color=f"C{i}", ls="--", lw=1)
ax.set_xlabel("draws")
ax.set_ylabel("KL")
ax.legend(fontsize=8)
ax.set_title("Monte-Carlo KL → analytic KL")
fig.tight_layout()
fig.savefig(os.path.join(OUT, "04_elbo_and_jacobian.png"), dpi=100)
print(f"saved {os.path.join(OUT, '04_elbo_and_jacobian.png')}")

# %% [markdown]
# ## Checks

# %%
def within(mc, se, truth, k=5):
  return np.all(np.abs(np.asarray(mc) - np.asarray(truth)) < k * np.asarray(se))


# the Jacobian cancels draw by draw
assert d_terms < 1e-10 and d_grads < 1e-10, (d_terms, d_grads)
# unbiased forms: value and gradient against the closed form
for name in ("x-space (irt.normal)", "eps-space + log sigma", "analytic KL", "sticking the landing"):
  terms, grads = res_normal[name]
  (m, se), (gm, gse) = mean_se(terms), mean_se(grads)
  assert within(m, se, closed_val), (name, m)
  assert within(gm, gse, closed_grad), (name, gm)
# no Jacobian: biased by exactly -log sigma and -1/sigma (per draw, relative to eps-space)
t_ok, g_ok = res_normal["eps-space + log sigma"]
t_nj, g_nj = res_normal["eps-space, no Jacobian"]
assert np.allclose(t_nj - t_ok, -np.log(SIGMA0), atol=1e-10)
assert np.allclose(g_nj[:, 1] - g_ok[:, 1], -1 / SIGMA0, atol=1e-10) and np.allclose(g_nj[:, 0], g_ok[:, 0], atol=1e-10)
gm, gse = mean_se(g_nj)
assert abs(gm[1] - closed_grad[1]) > 20 * gse[1], gm
# at the posterior: ELBO = log evidence (closed forms agree), STL gradient is 0 per draw
assert abs(float(elbo_normal_closed(post_mu, post_sigma)) - log_evidence_normal) < 1e-10
assert abs(float(elbo_gamma_closed(post_a, post_b)) - log_evidence_gamma) < 1e-10
assert np.abs(res_opt["sticking the landing"][1]).max() < 1e-8
assert np.abs(res_opt["sticking the landing"][0] - log_evidence_normal).max() < 1e-9
assert np.abs(res_gamma_opt["sticking the landing"][1]).max() < 1e-6 * np.abs(res_gamma_opt["x-space (irt.gamma)"][1]).max()
assert np.abs(res_gamma_opt["sticking the landing"][0] - log_evidence_gamma).max() < 1e-8
for name in ("x-space (irt.normal)", "analytic KL"):
  (m, se), (gm, gse) = mean_se(res_opt[name][0]), mean_se(res_opt[name][1])
  assert within(m, se + 1e-12, log_evidence_normal) and within(gm, gse, 0.0), name
# Gamma ELBO with implicit gradients: value and gradient against the closed form
for res, val, grad in [(res_gamma, g_closed_val, g_closed_grad),
                       (res_gamma_opt, log_evidence_gamma, np.zeros(2))]:
  for name, (terms, grads) in res.items():
    (m, se), (gm, gse) = mean_se(terms), mean_se(grads)
    assert within(m, se + 1e-12, val), (name, m, val)
    assert within(gm, gse + 1e-12, grad), (name, gm, grad)
# KL: closed form == quadrature; MC value and gradient within 5 standard errors
for r in kl_results:
  assert abs(r["ck"] - r["qk"]) < 1e-8, r["name"]
  assert within(r["m"], r["se"], r["ck"]) and within(r["gm"], r["gse"], r["cg"]), r["name"]
print(f"all checks passed; total {time.time() - T0:.1f} s")
