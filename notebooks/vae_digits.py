# %% [markdown]
# # A VAE with implicit-reparameterization latents on the digits data (Flax + optax)
#
# **What this shows.** A variational autoencoder (Kingma & Welling 2014) trained for real,
# once per latent family, where every latent draw comes from an `irt_jax` sampler, so the
# gradient of the ELBO reaches the encoder weights through the implicit rule
# `dz/dphi = -(dF(z; phi)/dphi) / q(z; phi)` (Figurnov, Mohamed & Mnih 2018, section 4):
#
# | family | posterior `q(z | x)` (from the encoder) | prior `p(z)` | decoder input |
# |---|---|---|---|
# | Normal | `N(loc, softplus)` per dimension | `N(0, 1)` | `z` |
# | Gamma | `Gamma(softplus, softplus)` (concentration, rate) | `Gamma(0.3, 0.3)` | `z` |
# | Beta | `Beta(softplus, softplus)` | `Beta(1, 1)` (uniform) | `z` |
# | Dirichlet | `Dirichlet(softplus)` over `K = D + 1` categories | `Dirichlet(1, ..., 1)` (uniform on the simplex) | `z` |
# | von Mises | `vonMises(atan2(u, v), softplus)` per dimension (angles) | uniform on the circle | `(cos z, sin z)` |
#
# Data: scikit-learn's 8x8 digits (shipped with scikit-learn, no download), pixels
# binarized at 8 of 16, a fixed 1347 / 450 train/test split. Decoder: independent
# Bernoulli pixels. Encoder and decoder: MLPs (Flax linen). Objective, single-sample
# Monte Carlo per image:
#
# `ELBO(x) = E_q[log p(x | z)] + E_q[log p(z) - log q(z | x)]`,
#
# with `log p(z)` and `log q(z | x)` from the families' `log_prob` (no analytic KL, so the
# same code serves every family); Gamma, Beta and Dirichlet write this term in an
# unconstrained space (`log z`, `logit z`, `log z`) where their float32 draws never round
# to the support's boundary (see "The latent families"). The `log q - log p` term is
# warmed up linearly from weight 0 to 1 over the first steps (Bowman et al. 2016; Sønderby et al. 2016) against
# posterior collapse (without it the von Mises latent collapsed onto its uniform prior for
# some seeds); after the warm-up the objective is the plain ELBO, and every reported
# number (training curve, test nELBO) is the plain ELBO. Training: Adam (optax) in one `jax.jit`-compiled step,
# `jax.vmap`-ed over the seeds (one compilation per family trains all seeds at once),
# with a tqdm progress bar. Reported: the test negative ELBO (10 draws per test image,
# mean and spread over seeds), against the trivial baseline of independent Bernoulli
# pixels fitted on the training set; a latent-space plot (`D = 2`, test images coloured by
# label); decoded draws from each prior.
#
# Run: `python notebooks/vae_digits.py` (full: 3 seeds x 4000 steps per family, a few
# minutes per family on 2 CPU cores) or `python notebooks/vae_digits.py --small` (1 seed,
# 300 steps, well under 2 minutes). Outputs go to `$IRT_NOTEBOOK_OUT` (default
# `notebooks/output/`): `vae_digits_latent.png`, `vae_digits_prior_samples.png`,
# `vae_digits_training.png`, `vae_digits_nelbo.json`.

# %%
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from flax import linen as nn  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import irt_jax as irt  # noqa: E402

parser = argparse.ArgumentParser(description="VAE with implicit-reparameterization latents on digits.")
parser.add_argument("--small", action="store_true", help="tiny configuration (1 seed, 300 steps)")
parser.add_argument("--steps", type=int, default=None, help="training steps per family")
parser.add_argument("--seeds", type=int, default=None, help="number of seeds (trained together with vmap)")
parser.add_argument("--families", default="normal,gamma,beta,dirichlet,von_mises",
                    help="comma-separated subset of the latent families")
ARGS, _ = parser.parse_known_args()  # tolerate a notebook kernel's own arguments

CONFIG = dict(
    latent_dim=2,              # D: the latent-space plot needs 2
    hidden=256 if not ARGS.small else 128,
    batch_size=128,
    learning_rate=2e-3 if not ARGS.small else 3e-3,
    steps=ARGS.steps or (300 if ARGS.small else 4000),
    seeds=ARGS.seeds or (1 if ARGS.small else 3),
    test_draws=10,             # z-draws per test image for the test nELBO
    kl_warmup=100 if ARGS.small else 1000,   # steps of linear KL warm-up (weight 0 -> 1)
    split_seed=0,
    test_fraction=0.25,
)
DTYPE = jnp.float32
OUT = os.environ.get("IRT_NOTEBOOK_OUT", os.path.join("notebooks", "output"))
os.makedirs(OUT, exist_ok=True)
T0 = time.time()
print("config:", "small" if ARGS.small else "full", CONFIG)

# %% [markdown]
# ## Data and the trivial baseline
#
# The baseline ignores every dependence between pixels: pixel `j` is Bernoulli with the
# training frequency `p_j` (add-one smoothed), test negative log-likelihood
# `-sum_j [x_j log p_j + (1 - x_j) log(1 - p_j)]`. A VAE that learnt anything beats it.

# %%
digits = load_digits()
X_all = (digits.data >= 8).astype(np.float32)          # 1797 x 64, {0, 1}
Y_all = digits.target
perm = np.random.default_rng(CONFIG["split_seed"]).permutation(len(X_all))
n_test = int(round(CONFIG["test_fraction"] * len(X_all)))
test_idx, train_idx = np.sort(perm[:n_test]), np.sort(perm[n_test:])
X_train, X_test = X_all[train_idx], X_all[test_idx]
Y_test = Y_all[test_idx]
N_PIX = X_all.shape[1]

p_pix = (X_train.sum(0) + 1.0) / (len(X_train) + 2.0)
BASELINE_NLL = float(-(X_test * np.log(p_pix) + (1 - X_test) * np.log1p(-p_pix)).sum(1).mean())
print(f"train {X_train.shape}, test {X_test.shape}, mean pixel {X_train.mean():.3f}; "
      f"independent-pixel Bernoulli baseline test NLL = {BASELINE_NLL:.3f} nats")

# %% [markdown]
# ## The latent families
#
# Each family is a few lines: how the encoder's raw outputs become `q`'s parameters, how
# a draw is made (an `irt_jax` sampler, so differentiable in those parameters), its
# `log q - log p`, the decoder's view of `z`, a 2-d summary of `q` for the plot, and a
# prior draw for the decoded samples.
#
# Numerical guards: concentrations are `softplus(.) + 0.01`. In float32, Gamma draws with a
# small concentration underflow to `z = 0` and Beta / Dirichlet draws round to exactly 0
# or 1 (Beta(0.05, 0.05): a fifth of them), where `log_prob` is infinite. So those three
# latents are drawn in an unconstrained space, `y = log z` (`irt.gamma.sample_log`,
# `irt.dirichlet.sample_log`) or `y = logit z` (`irt.beta.sample_logit`), and
# `log q - log p` is evaluated there with the matching densities (`log_prob_log`,
# `log_prob_logit`), which include the Jacobian of `z -> y`; it is the same for `q` and
# `p`, so it cancels and the term is exactly the one in `z`, with no clipping. The decoder
# sees `z = exp(y)` or `sigmoid(y)` (which may round; only the densities must not).

# %%
D = CONFIG["latent_dim"]


def pos(raw):
  return jax.nn.softplus(raw) + 0.01


class Family(NamedTuple):
  name: str
  n_raw: int                                      # encoder outputs per image
  q_params: Callable                              # raw (B, n_raw) -> Params
  draw: Callable                                  # (key, q) -> (z, log q(z) - log p(z)) per image
  features: Callable                              # z -> decoder input
  summary: Callable                               # q -> (B, 2) for the latent plot
  prior_draw: Callable                            # (key, n) -> z
  axes_label: str


def normal_q(raw):
  return irt.normal.Params(raw[..., :D], pos(raw[..., D:]))


def normal_draw(key, q):
  z = irt.normal.sample(key, q, None, DTYPE)
  prior = irt.normal.Params(0.0, 1.0)
  return z, (irt.normal.log_prob(q, z) - irt.normal.log_prob(prior, z)).sum(-1)


G_PRIOR = (0.3, 0.3)


def gamma_q(raw):
  return irt.gamma.Params(pos(raw[..., :D]), pos(raw[..., D:]))


def gamma_draw(key, q):
  log_z = irt.gamma.sample_log(key, q, None, DTYPE)   # densities of y = log z
  log_q = irt.gamma.log_prob_log(q, log_z)
  log_p = irt.gamma.log_prob_log(irt.gamma.Params(*G_PRIOR), log_z)
  return jnp.exp(log_z), (log_q - log_p).sum(-1)


def beta_q(raw):
  return irt.beta.Params(pos(raw[..., :D]), pos(raw[..., D:]))


def beta_draw(key, q):
  y = irt.beta.sample_logit(key, q, None, DTYPE)   # y = logit z, never +-inf
  log_q = irt.beta.log_prob_logit(q, y)
  log_p = irt.beta.log_prob_logit(irt.beta.Params(1.0, 1.0), y)   # uniform z, in y
  return jax.nn.sigmoid(y), (log_q - log_p).sum(-1)


K = D + 1


def dirichlet_q(raw):
  return irt.dirichlet.Params(pos(raw))


def dirichlet_draw(key, q):
  y = irt.dirichlet.sample_log(key, q, None, DTYPE)   # (B, K): y = log z, z on the simplex
  log_q = irt.dirichlet.log_prob_log(q, y)
  log_p = irt.dirichlet.log_prob_log(irt.dirichlet.Params(jnp.ones(K, DTYPE)), y)
  return jnp.exp(y), log_q - log_p


def simplex_2d(m):                                 # barycentric -> plane (K = 3)
  return jnp.stack([m[..., 1] + 0.5 * m[..., 2], np.sqrt(3) / 2 * m[..., 2]], -1)


from irt_jax import von_mises  # noqa: E402


# loc is the direction of a 2-vector (a raw angle output drifts to |loc| ~ 100s, where
# the map raw -> angle is hopeless to optimise); the concentration starts near 5: from a
# near-uniform start (kappa ~ 0.7) the KL to the uniform prior drove kappa to its floor
# before loc carried any information (posterior collapse, test nELBO ~ the baseline).
def vm_q(raw):
  loc = jnp.arctan2(raw[..., :D], raw[..., D:2 * D] + 1e-6)
  return von_mises.Params(loc, pos(raw[..., 2 * D:] + 5.0))


def vm_draw(key, q):
  z = von_mises.sample(key, q, None, DTYPE)        # angles in [-pi, pi)
  return z, (von_mises.log_prob(q, z) + jnp.log(2 * jnp.pi)).sum(-1)


def wrap(a):
  return (a + jnp.pi) % (2 * jnp.pi) - jnp.pi


FAMILIES = {
    "normal": Family(
        "normal", 2 * D, normal_q, normal_draw, lambda z: z, lambda q: q.loc,
        lambda k, n: irt.normal.sample(k, irt.normal.Params(0.0, 1.0), (n, D), DTYPE),
        "posterior mean of z"),
    "gamma": Family(
        "gamma", 2 * D, gamma_q, gamma_draw, lambda z: z,
        lambda q: jnp.log10(q.concentration / q.rate),
        lambda k, n: irt.gamma.sample(k, irt.gamma.Params(*G_PRIOR), (n, D), DTYPE),
        "log10 posterior mean of z"),
    "beta": Family(
        "beta", 2 * D, beta_q, beta_draw, lambda z: z,
        lambda q: q.concentration1 / (q.concentration1 + q.concentration0),
        lambda k, n: irt.beta.sample(k, irt.beta.Params(1.0, 1.0), (n, D), DTYPE),
        "posterior mean of z"),
    "dirichlet": Family(
        "dirichlet", K, dirichlet_q, dirichlet_draw, lambda z: z,
        lambda q: simplex_2d(q.concentration / q.concentration.sum(-1, keepdims=True)),
        lambda k, n: irt.dirichlet.sample(k, irt.dirichlet.Params(jnp.ones(K)), (n,), DTYPE),
        "posterior mean (simplex)"),
    "von_mises": Family(
        "von_mises", 3 * D, vm_q, vm_draw, lambda z: jnp.concatenate([jnp.cos(z), jnp.sin(z)], -1),
        lambda q: wrap(q.loc),
        lambda k, n: jax.random.uniform(k, (n, D), DTYPE, -jnp.pi, jnp.pi),
        "posterior mode angles (torus)"),
}
RUN = [f for f in ARGS.families.split(",") if f]
assert all(f in FAMILIES for f in RUN), RUN
print("families:", RUN)

# %% [markdown]
# ## The model and the compiled training step
#
# `VAE.__call__` encodes a batch, draws one `z` per image from `q`, decodes Bernoulli
# logits and returns the per-image ELBO. The loss is its negative batch mean. The
# training step (Adam) is `jax.jit(jax.vmap(step, (0, 0, 0, None)))`: the seeds' parameters, optimizer
# states, batches and keys are stacked along a leading axis.

# %%
class MLP(nn.Module):
  hidden: int
  out: int

  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Dense(self.hidden)(x))
    x = nn.relu(nn.Dense(self.hidden)(x))
    return nn.Dense(self.out)(x)


class VAE(nn.Module):
  family: Family
  hidden: int

  def setup(self):
    self.encoder = MLP(self.hidden, self.family.n_raw)
    self.decoder = MLP(self.hidden, N_PIX)

  def q(self, x):
    return self.family.q_params(self.encoder(x))

  def decode(self, z):
    return self.decoder(self.family.features(z))            # Bernoulli logits

  def init_both(self, x, z):                                  # creates the weights, no sampling
    return self.encoder(x), self.decode(z)

  def __call__(self, x, key, kl_weight=1.0):
    q = self.q(x)
    z, log_q_minus_log_p = self.family.draw(key, q)
    logits = self.decode(z)
    log_lik = -optax.sigmoid_binary_cross_entropy(logits, x).sum(-1)
    return log_lik - kl_weight * log_q_minus_log_p            # per-image ELBO (weight 1), shape (B,)


def make_trainer(fam: Family):
  model = VAE(fam, CONFIG["hidden"])
  opt = optax.adam(CONFIG["learning_rate"])
  x_train = jnp.asarray(X_train)

  def init(key):
    z0 = jnp.full((2, K if fam.name == "dirichlet" else D), 0.5, DTYPE)
    params = model.init(key, x_train[:2], z0, method=VAE.init_both)
    return params, opt.init(params)

  def loss_fn(params, batch, key, kl_weight):
    # the gradient follows the warmed-up objective; the reported loss is the true -ELBO
    # (the same draw, weight 1)
    log_lik_and_kl = model.apply(params, batch, key, kl_weight)
    true = model.apply(jax.lax.stop_gradient(params), batch, key)
    return -log_lik_and_kl.mean(), -true.mean()

  def step(params, opt_state, seed_key, t):
    k_batch, k_z = jax.random.split(jax.random.fold_in(seed_key, t))
    batch = x_train[jax.random.randint(k_batch, (CONFIG["batch_size"],), 0, x_train.shape[0])]
    kl_weight = jnp.minimum(1.0, (t + 1.0) / CONFIG["kl_warmup"])
    (_, loss), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch, k_z, kl_weight)
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  def test_nelbo(params, key, x):
    """Test nELBO: mean over images of the mean over `test_draws` draws of -ELBO."""
    keys = jax.random.split(key, CONFIG["test_draws"])
    elbos = jax.vmap(lambda k: model.apply(params, x, k))(keys)   # (draws, N)
    return -elbos.mean()

  return model, jax.jit(jax.vmap(init)), jax.jit(jax.vmap(step, (0, 0, 0, None))), jax.jit(jax.vmap(test_nelbo, (0, 0, None)))


# %% [markdown]
# ## Training: one run per family, all seeds at once

# %%
S, STEPS = CONFIG["seeds"], CONFIG["steps"]
results, trained, curves = {}, {}, {}
for fi, name in enumerate(RUN):
  fam = FAMILIES[name]
  t_fam = time.time()
  model, init, step, test_nelbo = make_trainer(fam)
  seed_keys = jnp.stack([jax.random.key(1000 * s + fi) for s in range(S)])
  params, opt_state = init(jax.vmap(lambda k: jax.random.fold_in(k, 0))(seed_keys))
  train_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(seed_keys)
  eval_keys = jax.vmap(lambda k: jax.random.fold_in(k, 2))(seed_keys)
  nelbo_init = np.asarray(test_nelbo(params, eval_keys, jnp.asarray(X_test)))
  losses = []
  bar = tqdm(range(STEPS), desc=f"{name:>9s}", mininterval=1.0, file=sys.stderr)
  for t in bar:
    params, opt_state, loss = step(params, opt_state, train_keys, t)
    losses.append(loss)
    if (t + 1) % 100 == 0:
      bar.set_postfix(loss=f"{float(np.mean(np.asarray(losses[-100:]))):.2f}")
  losses = np.asarray(jnp.stack(losses))                          # (STEPS, S)
  nelbo = np.asarray(test_nelbo(params, eval_keys, jnp.asarray(X_test)))
  window = min(50, STEPS // 4)
  results[name] = dict(
      test_nelbo_mean=float(nelbo.mean()),
      test_nelbo_std=float(nelbo.std(ddof=1)) if S > 1 else float("nan"),
      test_nelbo_per_seed=[float(v) for v in nelbo],
      test_nelbo_at_init=[float(v) for v in nelbo_init],
      train_loss_first=float(losses[:window].mean()),
      train_loss_last=float(losses[-window:].mean()),
      seconds=round(time.time() - t_fam, 1),
  )
  trained[name] = (model, jax.tree.map(lambda a: a[0], params))   # seed 0 for the figures
  curves[name] = losses
  print(f"{name:>9s}: test nELBO {nelbo.mean():.3f}"
        + (f" +- {nelbo.std(ddof=1):.3f}" if S > 1 else "")
        + f" (seeds {np.round(nelbo, 3).tolist()}), at init {nelbo_init.mean():.1f}; "
        f"{results[name]['seconds']:.0f} s")

# %% [markdown]
# ## Test negative-ELBO table

# %%
print(f"\nTest negative ELBO (nats per image, {CONFIG['test_draws']} draws per test image, "
      f"mean +- sd over {S} seed{'s' if S > 1 else ''}; {STEPS} steps, D = {D})")
print(f"{'latent family':>30s}  {'test nELBO':>16s}")
print(f"{'independent-pixel baseline':>30s}  {BASELINE_NLL:10.3f}")
for name, r in results.items():
  spread = f" +- {r['test_nelbo_std']:.3f}" if S > 1 else ""
  print(f"{name:>30s}  {r['test_nelbo_mean']:10.3f}{spread}")
table = dict(config=dict(CONFIG, mode="small" if ARGS.small else "full"),
             baseline_independent_bernoulli_test_nll=BASELINE_NLL,
             families=results)
with open(os.path.join(OUT, "vae_digits_nelbo.json"), "w") as fh:
  json.dump(table, fh, indent=2)
print(f"saved {os.path.join(OUT, 'vae_digits_nelbo.json')}")

# %% [markdown]
# ## Figures
#
# Latent space: a 2-d summary of `q(z | x)` for every test image (seed 0), coloured by
# its digit label. Prior samples: `z ~ p(z)` decoded to Bernoulli pixel means. Training:
# the per-step loss (negative ELBO on the batch), smoothed.

# %%
xt = jnp.asarray(X_test)
fig, axes = plt.subplots(1, len(RUN), figsize=(3.8 * len(RUN) + 1, 4), squeeze=False,
                         layout="constrained")
for ax, name in zip(axes[0], RUN):
  model, p = trained[name]
  s = np.asarray(FAMILIES[name].summary(model.apply(p, xt, method=VAE.q)))
  sc = ax.scatter(s[:, 0], s[:, 1], c=Y_test, cmap="tab10", s=8, vmin=-0.5, vmax=9.5)
  if name == "dirichlet":
    ax.plot([0, 1, 0.5, 0], [0, 0, np.sqrt(3) / 2, 0], "k-", lw=0.8)
    ax.set_aspect("equal")
  if name == "von_mises":
    ax.set_xlim(-np.pi, np.pi)
    ax.set_ylim(-np.pi, np.pi)
  ax.set_title(f"{name}: {FAMILIES[name].axes_label}", fontsize=9)
fig.colorbar(sc, ax=axes[0].tolist(), ticks=range(10), label="digit")
fig.savefig(os.path.join(OUT, "vae_digits_latent.png"), dpi=90)
print(f"saved {os.path.join(OUT, 'vae_digits_latent.png')}")

N_SHOW = 12
fig, axes = plt.subplots(len(RUN), N_SHOW, figsize=(N_SHOW * 0.8, len(RUN) * 0.95), squeeze=False)
for r, name in enumerate(RUN):
  model, p = trained[name]
  z = FAMILIES[name].prior_draw(jax.random.key(7), N_SHOW)
  imgs = np.asarray(jax.nn.sigmoid(model.apply(p, z, method=VAE.decode))).reshape(-1, 8, 8)
  for c in range(N_SHOW):
    axes[r, c].imshow(imgs[c], cmap="gray_r", vmin=0, vmax=1)
    axes[r, c].set_xticks([])
    axes[r, c].set_yticks([])
  axes[r, 0].set_ylabel(name, fontsize=8)
fig.suptitle("decoded draws from the prior (Bernoulli means)", fontsize=9)
fig.savefig(os.path.join(OUT, "vae_digits_prior_samples.png"), dpi=90)
print(f"saved {os.path.join(OUT, 'vae_digits_prior_samples.png')}")

fig, ax = plt.subplots(figsize=(6, 4))
w = max(1, STEPS // 60)
for i, name in enumerate(RUN):
  c = curves[name].mean(1)
  sm = np.convolve(c, np.ones(w) / w, mode="valid")
  ax.plot(np.arange(len(sm)) + w, sm, f"C{i}", label=name)
ax.axhline(BASELINE_NLL, color="k", ls="--", lw=1, label="independent-pixel baseline (test)")
ax.set_xlabel("step")
ax.set_ylabel("training loss (−ELBO, nats)")
ax.set_ylim(top=max(BASELINE_NLL * 1.6, 10))
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(OUT, "vae_digits_training.png"), dpi=90)
print(f"saved {os.path.join(OUT, 'vae_digits_training.png')}")

# %% [markdown]
# ## Checks
#
# Every family trained: a finite test nELBO below the independent-pixel baseline, a
# training loss that went down, and a reconstruction-term gradient that reaches the encoder
# weights (that gradient exists only through `dz/dphi`, the implicit rule). The
# unconstrained-space densities agree with `log_prob` plus the log-Jacobian where `z` is
# representable.

# %%
assert results and list(results) == RUN, (sorted(results), RUN)   # every asked-for family ran
for name, r in results.items():
  assert all(np.isfinite(r["test_nelbo_per_seed"])), (name, r)
  assert r["test_nelbo_mean"] < BASELINE_NLL, (name, r["test_nelbo_mean"], BASELINE_NLL)
  assert max(r["test_nelbo_per_seed"]) < min(r["test_nelbo_at_init"]), (name, r)
  assert r["train_loss_last"] < r["train_loss_first"] - 1.0, (name, r)

for name in RUN:
  model, p = trained[name]

  def recon(enc_params, model=model, p=p):
    q = model.apply(dict(params=dict(p["params"], encoder=enc_params)), xt[:32], method=VAE.q)
    z, _ = model.family.draw(jax.random.key(3), q)
    logits = model.apply(p, z, method=VAE.decode)
    return -optax.sigmoid_binary_cross_entropy(logits, xt[:32]).sum()

  g = jax.jit(jax.grad(recon))(p["params"]["encoder"])
  g_norm = float(optax.global_norm(g))
  assert np.isfinite(g_norm) and g_norm > 0, (name, g_norm)
  print(f"{name:>9s}: |d E[log p(x|z)] / d encoder| = {g_norm:.3g} (through dz/dphi)")

a_, b_, z_ = jnp.array([0.3, 2.0, 7.0]), jnp.array([0.3, 1.5, 0.2]), jnp.array([0.05, 0.3, 0.9])
assert np.allclose(irt.gamma.log_prob_log(irt.gamma.Params(a_, b_), jnp.log(z_)),
                   irt.gamma.log_prob(irt.gamma.Params(a_, b_), z_) + jnp.log(z_), rtol=1e-5, atol=1e-5)
assert np.allclose(irt.beta.log_prob_logit(irt.beta.Params(a_, b_), jnp.log(z_) - jnp.log1p(-z_)),
                   irt.beta.log_prob(irt.beta.Params(a_, b_), z_) + jnp.log(z_ * (1 - z_)),
                   rtol=1e-5, atol=1e-5)
print(f"all checks passed; total {time.time() - T0:.1f} s")
