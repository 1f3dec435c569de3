# %% [markdown]
# # 03 — Reparameterization gradients as velocity fields: continuity equation and curl
#
# **What this shows.** A reparameterization gradient `v = dx/dphi` is a velocity field:
# as `phi` moves, each draw moves with speed `v(x)`, and because the draws stay
# distributed as `q_phi`, the field solves the **continuity equation**
#
#     d q(x; phi)/d phi + div( q(x; phi) v(x) ) = 0,
#     i.e.  d log q/d phi + div v + v . grad_x log q = 0     (Jankowiak & Obermeyer 2018).
#
# In 1-D the solution is unique (it is the implicit gradient `-(dF/dphi)/q`); in more
# dimensions any divergence-free flux can be added, so fields differ by a rotational part,
# measured by the antisymmetric part of `dv/dx` (the generalised curl).
#
# 1. **Linearly transformed normal** (seeds/000): `x = a (I + a J) eps`, `J` the 90-degree
#    rotation. The field `v = dx/da` is linear, `v = D x`, and has a curl. We check the
#    continuity equation to rounding at many points, show that the curl-free field
#    `sym(D) x` also solves it (same mean gradient), and explain why the seed's own check
#    did not come out zero.
# 2. **Dirichlet through Gammas** (`z = g / sum g`, `g_j ~ Gamma(alpha_j)`), the
#    construction `irt.dirichlet` differentiates. Per draw, `dz/dalpha_1` depends on the
#    hidden total `S = sum g`, not only on `z`; the field on the simplex is its conditional
#    mean `v(z) = E[dz/dalpha_1 | z]` (one quadrature over `S`, independent of `z`, using
#    irt_jax's gamma velocity `irt.velocity_from_cdf(irt.gamma.cdf)`). It solves the
#    continuity equation on the simplex, has a non-zero curl, and a deliberately wrong
#    field is flagged by the residual.

# %%
import os
import time

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import special, stats  # noqa: E402

jax.config.update("jax_enable_x64", True)
import irt_jax as irt  # noqa: E402

OUT = os.environ.get("IRT_NOTEBOOK_OUT", os.path.join("notebooks", "output"))
os.makedirs(OUT, exist_ok=True)
T0 = time.time()
KEY = jax.random.key(3)
N = 50_000

# %% [markdown]
# ## 1. The linearly transformed normal
#
# `M(a) = a (I + a J)`, `x = M eps`, so `x ~ N(0, M M^T) = N(0, a^2 (1 + a^2) I)` (a
# rotation does not change an isotropic normal). The velocity at fixed `eps` is
# `v = M'(a) eps = M'(a) M(a)^{-1} x =: D x`; at `a = 1`, `D = [[1.5, 0.5], [-0.5, 1.5]]`:
# divergence 3, curl (antisymmetric part) `[[0, 0.5], [-0.5, 0]]`.

# %%
J = jnp.array([[0.0, 1.0], [-1.0, 0.0]])
I2 = jnp.eye(2)
A = 1.0


def transform(a):
  return a * (I2 + a * J)


def draw(a, eps):                      # eps: (..., 2)
  return eps @ transform(a).T


def log_q(a, x):                       # density of x at fixed a
  m = transform(a)
  return jax.scipy.stats.multivariate_normal.logpdf(x, jnp.zeros(2), m @ m.T)


def velocity(a, x):                    # dx/da at the eps that produced x
  eps = jnp.linalg.solve(transform(a), x)
  return jax.jvp(lambda t: draw(t, eps), (a,), (1.0,))[1]


def continuity_terms(log_q, velocity, a, x):
  """d log q/da, div v, v . grad log q and the antisymmetric part of dv/dx at x."""
  dlogq_da = jax.grad(log_q, argnums=0)(a, x)
  dv = jax.jacfwd(velocity, argnums=1)(a, x)
  grad_logq = jax.grad(log_q, argnums=1)(a, x)
  v = velocity(a, x)
  return dlogq_da, jnp.trace(dv), v @ grad_logq, 0.5 * (dv - dv.T)


eps = irt.normal.sample(jax.random.fold_in(KEY, 0), irt.normal.Params(0.0, 1.0), (N, 2))
xs = draw(A, eps)
terms = jax.jit(jax.vmap(lambda x: continuity_terms(log_q, velocity, A, x)))(xs)
resid_normal = np.asarray(terms[0] + terms[1] + terms[2])
D = np.asarray(jax.jacfwd(velocity, argnums=1)(A, xs[0]))
curl_normal = np.asarray(terms[3])
scale_normal = np.abs(np.asarray(terms[0])).mean()
print(f"transformed normal, a = {A}: dv/dx =\n{D}")
print(f"divergence {np.trace(D):.6f}; curl (antisymmetric part) [0,1] = {curl_normal[:, 0, 1].mean():.6f} "
      f"(constant: max deviation {np.abs(curl_normal[:, 0, 1] - 0.5).max():.1e})")
print(f"continuity residual over {N} draws: max |r| = {np.abs(resid_normal).max():.2e} "
      f"(typical |d log q/da| = {scale_normal:.2f})")

# %% [markdown]
# **The curl-free field.** `v*(x) = sym(D) x = 1.5 x` (radial scaling) solves the same
# equation: the rotation `W x`, `W = antisym(D)`, is divergence-free and tangent to the
# circles on which the isotropic `q` is constant, so `div(q W x) = 0`. Both fields give
# unbiased gradients of `E[f(x)]`; they differ draw by draw. For `f = x1^2 + 3 x2^2`,
# `d/da E[f] = 4 d/da [a^2 (1 + a^2)] = 24`, and the per-draw gradient `grad f . D x = x^T B x`
# (`B = sym(H D)`, `H = diag(2, 6)`) has variance `2 s^4 tr(B^2)` with `s^2 = 2`:
# 736 with the curl, 720 without.

# %%
H = np.diag([2.0, 6.0])
D_sym = 0.5 * (D + D.T)
W = 0.5 * (D - D.T)
resid_curlfree = np.asarray(jax.jit(jax.vmap(
    lambda x: sum(continuity_terms(log_q, lambda a, y: jnp.asarray(D_sym) @ y, A, x)[:3])))(xs))
f = lambda x: x[..., 0] ** 2 + 3 * x[..., 1] ** 2
g_reparam = np.asarray(jax.vmap(jax.grad(lambda a, e: f(draw(a, e))), in_axes=(None, 0))(A, eps))
g_curlfree = np.asarray(jnp.einsum("ni,ni->n", jax.vmap(jax.grad(f))(xs), xs @ jnp.asarray(D_sym).T))
s2 = A ** 2 * (1 + A ** 2)
var_closed = {name: 2 * s2 ** 2 * np.trace(B @ B) for name, B in
              (("reparam", 0.5 * (H @ D + (H @ D).T)), ("curl-free", 0.5 * (H @ D_sym + (H @ D_sym).T)))}
print(f"curl-free field: continuity residual max |r| = {np.abs(resid_curlfree).max():.2e}")
for name, g in (("reparam", g_reparam), ("curl-free", g_curlfree)):
  print(f"  {name:9s} d/da E[f] = {g.mean():8.4f} +- {g.std() / np.sqrt(N):.4f} (closed 24), "
        f"per-draw variance {g.var():7.1f} (closed {var_closed[name]:.0f})")

# %% [markdown]
# **Why the seed's check was not zero.** seeds/000 printed `dR/dx = [[0.6, -0.2], [0.2, 0.6]]`
# and residuals `0.0086, 0.0318` where zeros were expected. Three slips:
# (i) its `torch.gesv` call solved the system the other way round, returning
# `dx/deps (dR/deps)^{-1}` instead of `dR/deps (dx/deps)^{-1}`;
# (ii) its density `log phi(eps) - log det(I + aJ)` drops the factor `a` of the transform
# (`det M = a^2 (1 + a^2)`);
# (iii) the continuity equation needs `d log q/da` at fixed `x`, not at fixed `eps`, and
# `div(q v) = q div v + v . grad q`, not `div(p dR) + p dlogp/dx` (a vector).

# %%
dx_de = np.asarray(transform(A))
dR_de = np.asarray(jax.jacfwd(lambda a: transform(a))(A))
seed_dRdx = dx_de @ np.linalg.inv(dR_de)
print(f"seed's dR/dx (Jacobian on the wrong side):\n{seed_dRdx}\ncorrect dv/dx = dR/deps (dx/deps)^-1:\n{dR_de @ np.linalg.inv(dx_de)}")

# %% [markdown]
# ## 2. Dirichlet through Gammas
#
# `alpha = (1.5, 2, 3)`, derivative in `alpha_1`. With `g_j = S z_j`, `S ~ Gamma(alpha_0)`
# independent of `z` (`alpha_0 = sum alpha`), and `u(g) = dg/dalpha` the implicit gamma
# velocity, `dz_i/dalpha_1 = (delta_i1 - z_i) u(S z_1) / S` per draw. Its conditional mean
# given `z`,
#
#     v_i(z) = (delta_i1 - z_i) E_S[ u(S z_1) / S ],
#
# is computed with an 80-node generalised Gauss–Laguerre rule over `S`. In the coordinates
# `(z_1, z_2)` of the simplex we check `d log q/dalpha_1 + div v + v . grad log q = 0` with
# `log q` from `irt.dirichlet.log_prob` (itself checked against SciPy), by automatic
# differentiation of the whole field.

# %%
ALPHA = np.array([1.5, 2.0, 3.0])
A0 = ALPHA.sum()
gamma_velocity = irt.velocity_from_cdf(irt.gamma.cdf)
nodes, weights = special.roots_genlaguerre(80, A0 - 1)
weights = weights / special.gamma(A0)
nodes_j, weights_j = jnp.asarray(nodes), jnp.asarray(weights)


def u_gamma(alpha1, g):                 # dg/dalpha for g ~ Gamma(alpha1, 1), any g
  p = irt.gamma.Params(jnp.asarray(alpha1), jnp.asarray(1.0))
  return gamma_velocity(p, g, irt.gamma.Params(jnp.asarray(1.0), jnp.asarray(0.0)))


def field_simplex(alpha1, y):           # y = (z1, z2); returns (v1, v2)
  z1, z2 = y[0], y[1]
  m = jnp.sum(weights_j * u_gamma(alpha1, nodes_j * z1) / nodes_j)
  return jnp.stack([(1 - z1) * m, -z2 * m])


def field_wrong(alpha1, y):             # forgets the normalisation's -z_i term
  m = jnp.sum(weights_j * u_gamma(alpha1, nodes_j * y[0]) / nodes_j)
  return jnp.stack([m, 0.0 * m])


def log_q_simplex(alpha1, y):
  conc = jnp.stack([alpha1, ALPHA[1], ALPHA[2]])
  z = jnp.stack([y[0], y[1], 1 - y[0] - y[1]])
  return irt.dirichlet.log_prob(irt.dirichlet.Params(conc), z)


def curl2(field, alpha1, y):
  dv = jax.jacfwd(field, argnums=1)(alpha1, y)
  return dv[1, 0] - dv[0, 1]


key_d = jax.random.fold_in(KEY, 1)
n_d = 4000
alpha1_vec = jnp.full((n_d,), ALPHA[0])


def dirichlet_draw(a1):
  conc = jnp.stack([a1, jnp.full_like(a1, ALPHA[1]), jnp.full_like(a1, ALPHA[2])], axis=-1)
  return irt.dirichlet.sample(key_d, irt.dirichlet.Params(conc))


zd = np.asarray(dirichlet_draw(alpha1_vec))                               # (n_d, 3)
w_draw = np.stack([np.asarray(jax.grad(lambda a: dirichlet_draw(a)[:, i].sum())(alpha1_vec)) for i in range(3)], 1)
yd = jnp.asarray(zd[:, :2])
res_fn = jax.jit(jax.vmap(lambda y: sum(continuity_terms(log_q_simplex, field_simplex, ALPHA[0], y)[:3])))
resid_dir = np.asarray(res_fn(yd))
resid_wrong = np.asarray(jax.jit(jax.vmap(
    lambda y: sum(continuity_terms(log_q_simplex, field_wrong, ALPHA[0], y)[:3])))(yd))
dlogq_dir = np.asarray(jax.vmap(lambda y: jax.grad(log_q_simplex)(ALPHA[0], y))(yd))
v_cond = np.asarray(jax.jit(jax.vmap(lambda y: field_simplex(ALPHA[0], y)))(yd))
curl_dir = np.asarray(jax.jit(jax.vmap(lambda y: curl2(field_simplex, ALPHA[0], y)))(yd))
print(f"\nDirichlet{tuple(float(a) for a in ALPHA)}, d/dalpha_1, {n_d} draws from irt.dirichlet")
print(f"log_prob vs SciPy: {float(log_q_simplex(ALPHA[0], yd[0])):.12f} vs {stats.dirichlet.logpdf(zd[0], ALPHA):.12f}")
print(f"continuity residual, conditional-mean field: max |r| = {np.abs(resid_dir).max():.2e} "
      f"(typical |d log q/dalpha_1| = {np.abs(dlogq_dir).mean():.2f})")
print(f"continuity residual, wrong field (no -z_i term): median |r| = {np.median(np.abs(resid_wrong)):.2f}")
print(f"curl dv2/dz1 - dv1/dz2 of the field: mean {curl_dir.mean():+.4f}, range [{curl_dir.min():+.3f}, {curl_dir.max():+.3f}]")

# %% [markdown]
# **Per-draw velocities vs the field.** irt_jax's per-draw `dz/dalpha_1` scatters around
# `v(z)`: for any test function `h(z)`, `E[w h(z)] = E[v(z) h(z)]` (the defining property of
# a conditional mean). Both sides by Monte Carlo on the same draws, and the gradient of
# `E[z_1]` against its closed form `(alpha_0 - alpha_1)/alpha_0^2`.

# %%
tests_h = {"1": np.ones(n_d), "z1": zd[:, 0], "z2": zd[:, 1], "z1^2": zd[:, 0] ** 2, "z1 z2": zd[:, 0] * zd[:, 1]}
cond_checks = []
for hname, h in tests_h.items():
  for i in range(2):
    diff = (w_draw[:, i] - v_cond[:, i]) * h
    cond_checks.append((hname, i, diff.mean(), diff.std() / np.sqrt(n_d)))
worst = max(abs(m) / se for _, _, m, se in cond_checks)
print(f"E[(w - v(z)) h(z)] over {len(cond_checks)} (h, component) pairs: max |t| = {worst:.2f}")
closed_dir = (A0 - ALPHA[0]) / A0 ** 2
print(f"d/dalpha_1 E[z1]: per-draw {w_draw[:, 0].mean():.5f} +- {w_draw[:, 0].std() / np.sqrt(n_d):.5f}, "
      f"field {v_cond[:, 0].mean():.5f} +- {v_cond[:, 0].std() / np.sqrt(n_d):.5f}, closed {closed_dir:.5f}; "
      f"per-draw variance {w_draw[:, 0].var():.5f} vs field {v_cond[:, 0].var():.5f}")
print(f"per-draw velocities sum to zero on the simplex: max |sum_i w_i| = {np.abs(w_draw.sum(1)).max():.1e}")
print(f"elapsed {time.time() - T0:.1f} s")

# %% [markdown]
# ## Figures

# %%
fig, axes = plt.subplots(1, 4, figsize=(19, 4.6))
ax = axes[0]
gx = np.linspace(-3, 3, 15)
X1, X2 = np.meshgrid(gx, gx)
P = np.stack([X1, X2], -1)
V, Vs = P @ D.T, P @ D_sym.T
r2 = X1 ** 2 + X2 ** 2
ax.contour(X1, X2, np.exp(-r2 / (2 * s2)), levels=6, colors="0.7", linewidths=0.8)
ax.quiver(X1, X2, V[..., 0], V[..., 1], color="C0", angles="xy", label="v = dx/da (with curl)")
ax.quiver(X1, X2, Vs[..., 0], Vs[..., 1], color="C3", alpha=0.5, angles="xy", label="curl-free sym(D) x")
ax.set_aspect("equal")
ax.legend(fontsize=7, loc="upper right")
ax.set_title("transformed normal: velocity fields, a = 1")
ax = axes[1]
bins = np.linspace(-18, 2, 60)
for r, lab in ((resid_normal, "normal, v = dx/da"), (resid_curlfree, "normal, curl-free"),
               (resid_dir, "Dirichlet E[dz/dα₁|z]"), (resid_wrong, "Dirichlet, wrong field")):
  ax.hist(np.log10(np.abs(r) + 1e-18), bins=bins, histtype="step", label=lab)
ax.set_xlabel("log10 |continuity residual|")
ax.legend(fontsize=7)
ax.set_title("d log q/dφ + div v + v·∇log q")
ax = axes[2]
t = np.linspace(0.02, 0.96, 17)
T1, T2 = np.meshgrid(t, t)
inside = T1 + T2 < 0.97
Y = jnp.asarray(np.stack([T1[inside], T2[inside]], -1))
VF = np.asarray(jax.vmap(lambda y: field_simplex(ALPHA[0], y))(Y))
ax.quiver(np.asarray(Y[:, 0]), np.asarray(Y[:, 1]), VF[:, 0], VF[:, 1], color="C0", angles="xy", label="E[dz/dα₁ | z]")
sel = slice(0, 150)
ax.quiver(zd[sel, 0], zd[sel, 1], w_draw[sel, 0], w_draw[sel, 1], color="0.5", alpha=0.5, angles="xy",
          label="per-draw dz/dα₁ (irt.dirichlet)")
ax.plot([0, 1, 0, 0], [0, 0, 1, 0], "k", lw=0.8)
ax.set_xlabel("z1")
ax.set_ylabel("z2")
ax.legend(fontsize=7)
ax.set_title(f"Dirichlet{tuple(float(a) for a in ALPHA)}: field on the simplex")
ax = axes[3]
CURL = np.full(T1.shape, np.nan)
CURL[inside] = np.asarray(jax.vmap(lambda y: curl2(field_simplex, ALPHA[0], y))(Y))
im = ax.pcolormesh(T1, T2, CURL, shading="nearest", cmap="RdBu_r",
                   vmin=-np.nanmax(np.abs(CURL)), vmax=np.nanmax(np.abs(CURL)))
fig.colorbar(im, ax=ax)
ax.set_title("curl ∂v2/∂z1 − ∂v1/∂z2")
ax.set_xlabel("z1")
fig.tight_layout()
fig.savefig(os.path.join(OUT, "03_velocity_fields.png"), dpi=100)
print(f"saved {os.path.join(OUT, '03_velocity_fields.png')}")

# %% [markdown]
# ## Checks

# %%
np.testing.assert_allclose(D, [[1.5, 0.5], [-0.5, 1.5]], atol=1e-12)
np.testing.assert_allclose(seed_dRdx, [[0.6, -0.2], [0.2, 0.6]], atol=1e-12)
assert np.abs(resid_normal).max() < 1e-10 * max(1.0, scale_normal), np.abs(resid_normal).max()
assert np.abs(resid_curlfree).max() < 1e-10 * max(1.0, scale_normal)
assert np.allclose(curl_normal[:, 0, 1], 0.5, atol=1e-12)
for name, g in (("reparam", g_reparam), ("curl-free", g_curlfree)):
  se = g.std() / np.sqrt(N)
  assert abs(g.mean() - 24.0) < 5 * se, (name, g.mean())
  c = g - g.mean()
  var_se = np.sqrt((np.mean(c ** 4) - g.var() ** 2) / N)
  assert abs(g.var() - var_closed[name]) < 5 * var_se, (name, g.var(), var_closed[name])
assert abs(float(log_q_simplex(ALPHA[0], yd[0])) - stats.dirichlet.logpdf(zd[0], ALPHA)) < 1e-10
# the conditional-mean field solves the continuity equation (quadrature-limited), the wrong one does not
assert np.abs(resid_dir).max() < 1e-6 * np.abs(dlogq_dir).mean(), np.abs(resid_dir).max()
assert np.median(np.abs(resid_wrong)) > 1e-2 * np.abs(dlogq_dir).mean()
# the Dirichlet field has a rotational part
assert np.abs(curl_dir).mean() > 1e3 * np.abs(resid_dir).max()
# per-draw velocities: conditional mean is the field; the mean gradient is the closed form
assert worst < 5, worst
for g in (w_draw[:, 0], v_cond[:, 0]):
  assert abs(g.mean() - closed_dir) < 5 * g.std() / np.sqrt(n_d)
assert np.abs(w_draw.sum(1)).max() < 1e-10
assert v_cond[:, 0].var() < w_draw[:, 0].var()
print(f"all checks passed; total {time.time() - T0:.1f} s")
