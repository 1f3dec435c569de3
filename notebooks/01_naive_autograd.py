# %% [markdown]
# # 01 — Autograd through a random node: when it is right and when it is wrong
#
# **What this shows.** Differentiating a Monte-Carlo average with autograd gives
# the right gradient only if the *sampling distribution* does not depend on the
# parameter, or if the draw itself is differentiated with respect to it
# (reparameterization). If a draw is treated as a constant (a sampler without a
# gradient in its location, like `numpy.random.normal` or `torch.normal`),
# autograd silently returns `E[df/dtheta]` and drops the term that comes from the
# distribution moving.
#
# The setup is the one of the seed notebook (seeds/001): `z ~ N(theta, 1)`,
# `f_theta(z) = 3 theta z^2`, `theta = 3`.
#
# * Closed form: `E[f] = 3 theta (theta^2 + 1)`, so
#   `d/dtheta E[f] = 9 theta^2 + 3 = 84`.
# * Naive autograd (draws held fixed): `E[3 z^2] = 3 (theta^2 + 1) = 30`.
# * The missing term is the score term `E[f(z) d log p/dtheta] = E[3 theta z^2 (z - theta)]
#   = 6 theta^2 = 54`; `30 + 54 = 84`.
# * The seed notebook prints "analytic -24": it wrote the score term as `-6 theta^2`
#   (a sign error), `-6*9 + 30 = -24`. Its Monte-Carlo check reused the same `-6 theta^2`,
#   so it could not catch the error. Every estimator below that handles the moving
#   distribution (explicit reparameterization, irt_jax's implicit gradient, the score
#   function, quadrature, finite differences) lands on **84**, not -24.

# %%
import os
import time

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)
import irt_jax as irt  # noqa: E402

OUT = os.environ.get("IRT_NOTEBOOK_OUT", os.path.join("notebooks", "output"))
os.makedirs(OUT, exist_ok=True)
T0 = time.time()
THETA = 3.0
N = 200_000
KEY = jax.random.key(1)


def f(theta, z):
  return 3.0 * theta * z ** 2


def mean_se(x):
  x = np.asarray(x)
  return float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size))


# %% [markdown]
# ## 1. The distribution does not depend on theta: autograd is fine
#
# `z ~ N(0, 1)`, `E[3 theta z^2] = 3 theta`, gradient `3`. Here
# `grad E[f] = E[grad f]` and autograd of the Monte-Carlo average is an unbiased
# estimate of it.

# %%
eps = jax.random.normal(jax.random.fold_in(KEY, 0), (N,))
per_sample_fixed = jax.vmap(jax.grad(f), in_axes=(None, 0))(THETA, eps)
fixed_mean, fixed_se = mean_se(per_sample_fixed)
print(f"p(z) = N(0,1):  autograd d/dtheta mean(f) = {fixed_mean:.4f} +- {fixed_se:.4f}   (closed form 3)")

# %% [markdown]
# ## 2. The distribution depends on theta
#
# Five ways to get `d/dtheta E_{N(theta,1)}[3 theta z^2]`, one wrong:
#
# 1. **naive**: draw `z`, hold it fixed (`stop_gradient`, which is what a sampler
#    without a location gradient does), differentiate `3 theta z^2` -> `E[3 z^2] = 30`.
# 2. **explicit reparameterization**: `z = theta + eps`, differentiate through `z`.
#    (In JAX this is what you get by writing the draw as `theta + jax.random.normal(key)`:
#    JAX's samplers never hide a location parameter from autograd.)
# 3. **implicit reparameterization**: `irt.normal.sample`, whose `dz/dtheta` comes from
#    differentiating the CDF, `-(dF/dtheta)/q(z)` (= 1 for a location).
# 4. **score function**: naive term + `f(z) d log q(z)/dtheta`, with `log q` from
#    `irt.normal.log_prob`.
# 5. **deterministic references**: Gauss–Hermite quadrature of `E[f]` differentiated by
#    JAX, and a central finite difference of the closed form.

# %%
key_naive, key_rep, key_imp, key_sf = jax.random.split(jax.random.fold_in(KEY, 1), 4)


def naive_grad(theta, key):
  z = jax.lax.stop_gradient(theta + jax.random.normal(key))
  return f(theta, z)


def explicit_grad(theta, key):
  z = theta + jax.random.normal(key)
  return f(theta, z)


def implicit_grad(theta, key):
  z = irt.normal.sample(key, irt.normal.Params(theta, 1.0))
  return f(theta, z)


def score_grad(theta, key):
  z = jax.lax.stop_gradient(irt.normal.sample(key, irt.normal.Params(theta, 1.0)))
  logq = irt.normal.log_prob(irt.normal.Params(theta, 1.0), z)
  # surrogate whose gradient is f * dlogq + df (the "magic box" form)
  return f(theta, z) * jnp.exp(logq - jax.lax.stop_gradient(logq))


def per_sample(fn, key):
  keys = jax.random.split(key, N)
  return jax.jit(jax.vmap(jax.grad(fn), in_axes=(None, 0)))(THETA, keys)


results = {}
for name, fn, key in [("naive (draw held fixed)", naive_grad, key_naive),
                      ("explicit reparam", explicit_grad, key_rep),
                      ("implicit (irt.normal)", implicit_grad, key_imp),
                      ("score function", score_grad, key_sf)]:
  g = per_sample(fn, key)
  results[name] = (g, *mean_se(g))

# Score term alone: E[3 theta z^2 (z - theta)] = 3 theta * 2 theta = 6 theta^2.
zs = THETA + jax.random.normal(jax.random.fold_in(KEY, 2), (N,))
score_term = np.asarray(f(THETA, zs) * (zs - THETA))
score_term_mean, score_term_se = mean_se(score_term)

# Gauss–Hermite (probabilists') quadrature: E[h(z)] = sum w_i h(theta + x_i) / sqrt(2 pi).
gh_x, gh_w = np.polynomial.hermite_e.hermegauss(40)
gh_x, gh_w = jnp.asarray(gh_x), jnp.asarray(gh_w / np.sqrt(2 * np.pi))
expectation_quad = lambda theta: jnp.sum(gh_w * f(theta, theta + gh_x))
quad_grad = float(jax.grad(expectation_quad)(THETA))
closed = lambda t: 3 * t * (t ** 2 + 1)
h = 1e-5
fd_grad = (closed(THETA + h) - closed(THETA - h)) / (2 * h)

print(f"\ntheta = {THETA}, N = {N}")
print(f"closed form d/dtheta 3 theta (theta^2+1) = 9 theta^2 + 3 = {9 * THETA ** 2 + 3:.1f}")
print(f"quadrature (40-pt Gauss-Hermite), jax.grad  = {quad_grad:.10f}")
print(f"central finite difference of closed form     = {fd_grad:.6f}")
for name, (_, m, se) in results.items():
  print(f"{name:26s}: {m:9.4f} +- {se:.4f}")
print(f"score term E[f (z-theta)]   : {score_term_mean:9.4f} +- {score_term_se:.4f}   (closed form 6 theta^2 = {6 * THETA ** 2:.0f})")
print(f"seed notebook's 'analytic' -6 theta^2 + 30 = {-6 * THETA ** 2 + 30:.0f}: the score term with the wrong sign")

# %% [markdown]
# ## 3. Picture: the tangent lines
#
# `E[f](theta) = 3 theta (theta^2 + 1)` with the tangent at `theta = 3` implied by each
# gradient. Only the slope 84 touches the curve; 30 (naive) and -24 (the seed's sign
# error) do not.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
ts = np.linspace(1.5, 4.5, 200)
axes[0].plot(ts, closed(ts), "k", lw=2, label="E[f] = 3θ(θ²+1)")
for slope, style, lab in [(84, "C0-", "84 (reparam / implicit / score)"),
                          (30, "C3--", "30 (naive autograd)"),
                          (-24, "C1:", "-24 (seed's sign error)")]:
  axes[0].plot(ts, closed(THETA) + slope * (ts - THETA), style, label=f"slope {lab}")
axes[0].set_ylim(0, 320)
axes[0].set_xlabel("θ")
axes[0].legend(fontsize=8)
axes[0].set_title("E[f] and tangents at θ = 3")
bins = np.linspace(-50, 300, 120)
for name, (g, m, _) in results.items():
  axes[1].hist(np.asarray(g), bins=bins, histtype="step", density=True, label=f"{name}: mean {m:.1f}")
axes[1].axvline(84, color="k", lw=1)
axes[1].set_xlabel("per-sample gradient")
axes[1].set_yscale("log")
axes[1].legend(fontsize=8)
axes[1].set_title("per-sample gradients")
fig.tight_layout()
fig.savefig(os.path.join(OUT, "01_naive_autograd.png"), dpi=110)
print(f"saved {os.path.join(OUT, '01_naive_autograd.png')}; elapsed {time.time() - T0:.1f} s")

# %% [markdown]
# ## 4. Checks (a broken library fails here)
#
# Monte-Carlo means within 5 standard errors of their closed forms; the naive estimate
# is many standard errors away from the truth; the deterministic references agree to
# rounding; the implicit per-sample gradient of a location is exactly 1.

# %%
truth = 9 * THETA ** 2 + 3
assert abs(fixed_mean - 3.0) < 5 * fixed_se, fixed_mean
assert abs(quad_grad - truth) < 1e-9, quad_grad
assert abs(fd_grad - truth) < 1e-5, fd_grad
_, m, se = results["naive (draw held fixed)"]
assert abs(m - 3 * (THETA ** 2 + 1)) < 5 * se, m
assert abs(m - truth) > 50 * se, m
for name in ("explicit reparam", "implicit (irt.normal)", "score function"):
  _, m, se = results[name]
  assert abs(m - truth) < 5 * se, (name, m, se)
  assert abs(m - (-24.0)) > 50 * se, (name, m)
assert abs(score_term_mean - 6 * THETA ** 2) < 5 * score_term_se, score_term_mean
dz = jax.vmap(jax.grad(lambda t, k: irt.normal.sample(k, irt.normal.Params(t, 1.0))),
              in_axes=(None, 0))(THETA, jax.random.split(key_imp, 1000))
assert np.allclose(np.asarray(dz), 1.0, rtol=0, atol=1e-10), dz
# explicit and implicit give the same per-sample gradient when they see the same draw
g_exp = jax.grad(lambda t: f(t, irt.normal.sample(key_imp, irt.normal.Params(t, 1.0))))(THETA)
z_same = irt.normal.sample(key_imp, irt.normal.Params(THETA, 1.0))
assert abs(float(g_exp) - (3 * z_same ** 2 + 6 * THETA * z_same)) < 1e-9
print("all checks passed")
