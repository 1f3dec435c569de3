"""Mixtures (irt.mixture.of): samples against SciPy mixture CDFs (KS), per-sample
gradients against finite differences of SciPy mixture CDFs divided by the
mixture density (1-D) or of SciPy conditional CDFs through the triangular
system (factorized multivariate), Monte-Carlo unbiasedness of first and second
derivatives against closed forms from weights and component moments, jit /
vmap / grad of vmap, float32 / float64, forward mode, bad input, NumPyro."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as st

import irt_jax as irt
from irt_jax import mixture
from irt_jax._src.mixture import Mixture
from tests.references import scipy_dist

KEY = jax.random.key(0)

# name -> (component family, logits, component params with K = 3 last).
CASES = {
    "normal": (irt.normal, [0.3, -0.2, 0.5], ([-2.0, 0.5, 3.0], [1.0, 0.5, 2.0])),
    "gamma": (irt.gamma, [0.0, 0.7, -0.4], ([0.4, 3.0, 9.0], [1.0, 2.0, 1.5])),
    "beta": (irt.beta, [0.2, 0.0, -0.3], ([0.5, 4.0, 20.0], [2.0, 4.0, 3.0])),
    "student_t": (irt.student_t, [0.0, 0.5, 0.1],
                  ([3.0, 8.0, 1.5], [-3.0, 0.0, 4.0], [1.0, 0.7, 1.5])),
}


def make(name, dtype=jnp.float64):
  family, logits, comps = CASES[name]
  params = mixture.Params(jnp.asarray(logits, dtype),
                          family.Params(*[jnp.asarray(v, dtype) for v in comps]))
  return family, mixture.of(family), params


class ScipyMixture:
  """sum_k w_k F_k with SciPy components (float64; nothing from irt_jax)."""

  def __init__(self, family, logits, comps):
    self.w = sp.softmax(np.asarray(logits, np.float64))
    self.dist = scipy_dist(family, family.Params(*[np.asarray(v, np.float64)
                                                   for v in comps]))

  def cdf(self, x):
    return self.dist.cdf(np.asarray(x)[..., None]) @ self.w

  def sf(self, x):
    return self.dist.sf(np.asarray(x)[..., None]) @ self.w

  def pdf(self, x):
    return self.dist.pdf(np.asarray(x)[..., None]) @ self.w

  def logcdf(self, x):
    return sp.logsumexp(self.dist.logcdf(np.asarray(x)[..., None]), b=self.w, axis=-1)

  def logsf(self, x):
    return sp.logsumexp(self.dist.logsf(np.asarray(x)[..., None]), b=self.w, axis=-1)

  def logpdf(self, x):
    return sp.logsumexp(self.dist.logpdf(np.asarray(x)[..., None]), b=self.w, axis=-1)


def scipy_mixture(name, logits=None, comps=None):
  family, lg, cp = CASES[name]
  return ScipyMixture(family, lg if logits is None else logits,
                      cp if comps is None else comps)


def fd_velocity(name, field, k, x, rel_step=1e-6, log=False):
  """-(dF/dphi)/q(x) for phi = logits[k] or components.<field>[k], by central
  differences of the SciPy mixture CDF (or SF on the upper side; of log CDF /
  log SF times F/q or S/q when ``log``)."""
  family, logits, comps = CASES[name]
  logits = np.asarray(logits, np.float64)
  comps = [np.asarray(v, np.float64) for v in comps]
  if field == "logits":
    base = logits[k]
  else:
    base = comps[family.Params._fields.index(field)][k]
  h = rel_step * max(abs(base), 1.0)

  def mix(delta):
    lg, cp = logits.copy(), [v.copy() for v in comps]
    if field == "logits":
      lg[k] += delta
    else:
      cp[family.Params._fields.index(field)][k] += delta
    return scipy_mixture(name, lg, cp)

  plus, minus, mid = mix(h), mix(-h), mix(0.0)
  if log:
    lower = mid.logcdf(x) < mid.logsf(x)
    d_lcdf = (plus.logcdf(x) - minus.logcdf(x)) / (2 * h)
    d_lsf = (plus.logsf(x) - minus.logsf(x)) / (2 * h)
    return np.where(lower, -d_lcdf * np.exp(mid.logcdf(x) - mid.logpdf(x)),
                    d_lsf * np.exp(mid.logsf(x) - mid.logpdf(x)))
  lower = mid.cdf(x) < 0.5
  d_cdf = (plus.cdf(x) - minus.cdf(x)) / (2 * h)
  d_sf = (plus.sf(x) - minus.sf(x)) / (2 * h)
  return -np.where(lower, d_cdf, -d_sf) / mid.pdf(x)


@functools.lru_cache(maxsize=None)
def draws_and_jacobian(name, dtype_name):
  """Draws z and per-draw dz/dparams (params broadcast to one row per draw),
  one compilation per (family, dtype), shared by the tests below."""
  dtype = jnp.dtype(dtype_name)
  _, mix, p = make(name, dtype)
  n = 40_000 if (dtype == jnp.float64 and name in ("normal", "gamma")) else 4000
  full = jax.tree.map(lambda v: jnp.broadcast_to(v, (n,) + v.shape), p)

  def f(q):
    z = mix.sample(KEY, q, (n,), dtype)
    return jnp.sum(z), z

  jac, z = jax.jit(jax.grad(f, has_aux=True))(full)
  return z, jac


# ------------------------------------------------------------- univariate ---


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", CASES)
def test_samples_follow_the_scipy_mixture(name, dtype):
  z, _ = draws_and_jacobian(name, dtype)
  assert z.dtype == jnp.dtype(dtype) and z.ndim == 1
  result = st.kstest(np.asarray(z, np.float64), scipy_mixture(name).cdf)
  assert result.pvalue > 1e-3, result


@pytest.mark.parametrize("name", CASES)
def test_cdf_log_prob_and_moments_match_scipy(name):
  _, mix, p = make(name)
  ref = scipy_mixture(name)
  x = np.asarray(draws_and_jacobian(name, "float64")[0][:64])
  values = jax.jit(lambda q, z: (mix.cdf(q, z), mix.log_prob(q, z), mix.log_cdf(q, z),
                                 mix.log_sf(q, z)))(p, x)
  for got, want in zip(values, (ref.cdf(x), ref.logpdf(x), ref.logcdf(x), ref.logsf(x))):
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-14)
  means, variances = ref.dist.stats()
  m = means @ ref.w
  np.testing.assert_allclose(mix.mean(p), m, rtol=1e-12)
  np.testing.assert_allclose(mix.variance(p), (variances + means ** 2) @ ref.w - m ** 2,
                             rtol=1e-12)


def test_tails_keep_precision():
  """Far out (30 sd in float64, 9 sd in float32) log_cdf / log_sf and the
  velocity stay accurate, against SciPy in log space."""
  _, mix, p = make("normal")
  x = np.array([-60.0, -30.0, 30.0, 60.0])
  ref = scipy_mixture("normal")
  np.testing.assert_allclose(mix.log_cdf(p, x), ref.logcdf(x), rtol=1e-10, atol=1e-15)
  np.testing.assert_allclose(mix.log_sf(p, x), ref.logsf(x), rtol=1e-10, atol=1e-15)
  cases = [("logits", 0), ("logits", 2), ("loc", 2), ("scale", 0)]
  tangents = []
  for field, k in cases:
    t = jax.tree.map(jnp.zeros_like, p)
    if field == "logits":
      t = t._replace(logits=t.logits.at[k].set(1.0))
    else:
      t = t._replace(components=t.components._replace(
          **{field: getattr(t.components, field).at[k].set(1.0)}))
    tangents.append(t)
  tangents = jax.tree.map(lambda *v: jnp.stack(v), *tangents)
  for dtype, xs, tol in [(jnp.float64, x, 1e-6), (jnp.float32, x / 3, 1e-4)]:
    cast = lambda tree: jax.tree.map(lambda v: v.astype(dtype), tree)
    vel = jax.jit(jax.vmap(mix._velocity, in_axes=(None, None, 0)))(
        cast(p), jnp.asarray(xs, dtype), cast(tangents))
    for i, (field, k) in enumerate(cases):
      got = np.asarray(vel[i], np.float64)
      want = fd_velocity("normal", field, k, np.asarray(xs, dtype).astype(np.float64),
                         log=True)
      err = np.abs(got - want) / np.maximum(np.abs(want), 1e-3)
      assert err.max() < tol, (dtype, field, k, got, want)


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-7), ("float32", 1e-4)])
@pytest.mark.parametrize("name", CASES)
def test_per_sample_gradient_matches_scipy_finite_differences(name, dtype, tol):
  """dz/dphi = -(dF/dphi)/q for phi = each logit and each component
  parameter; error relative to max(|ref|, 1)."""
  family, _, _ = make(name)
  z, jac = draws_and_jacobian(name, dtype)
  z, jac = np.asarray(z[:200], np.float64), jax.tree.map(lambda v: v[:200], jac)
  u = scipy_mixture(name).cdf(z)
  keep = (u > 1e-10) & (u < 1 - 1e-10)  # where the FD reference is reliable
  fields = [("logits", jac.logits)] + [
      (f, getattr(jac.components, f)) for f in family.Params._fields]
  worst = 0.0
  for field, g in fields:
    for k in range(3):
      ref = fd_velocity(name, field, k, z)
      got = np.asarray(g[:, k], np.float64)
      err = np.abs(got - ref)[keep] / np.maximum(np.abs(ref), 1.0)[keep]
      worst = max(worst, err.max())
      assert err.max() < tol, (field, k, err.max())
  print(f"{name} {dtype}: max error {worst:.2e}")


def closed_forms(name):
  """(f, field, k, d/dphi E[f(z)]) from weights and component moments."""
  family, logits, comps = CASES[name]
  w = sp.softmax(np.asarray(logits))
  dist = scipy_dist(family, family.Params(*[np.asarray(v) for v in comps]))
  m, v = dist.stats()
  m2 = v + m ** 2
  e1, e2 = w @ m, w @ m2
  out = []
  for k in range(3):
    out += [(lambda z: z, "logits", k, w[k] * (m[k] - e1)),
            (lambda z: z ** 2, "logits", k, w[k] * (m2[k] - e2))]
  if family is irt.normal:
    loc, scale = (np.asarray(c) for c in comps)
    out += [(lambda z: z, "loc", k, w[k]) for k in range(3)]
    out += [(lambda z: z ** 2, "loc", k, 2 * w[k] * loc[k]) for k in range(3)]
    out += [(lambda z: z ** 2, "scale", k, 2 * w[k] * scale[k]) for k in range(3)]
  if family is irt.gamma:
    a, r = (np.asarray(c) for c in comps)
    out += [(lambda z: z, "concentration", k, w[k] / r[k]) for k in range(3)]
    out += [(lambda z: z, "rate", k, -w[k] * a[k] / r[k] ** 2) for k in range(3)]
  return out


@pytest.mark.parametrize("name", ["normal", "gamma"])
def test_monte_carlo_gradient_is_unbiased(name):
  """d/dphi E[z] and E[z^2] (per-draw d z^2 = 2 z dz) within 5 standard errors."""
  z, jac = draws_and_jacobian(name, "float64")
  z = np.asarray(z)
  n = z.size
  for f, field, k, truth in closed_forms(name):
    power = 1 if float(f(2.0)) == 2.0 else 2
    g = jac.logits if field == "logits" else getattr(jac.components, field)
    g = np.asarray(g[:, k]) * (1.0 if power == 1 else 2 * z)
    se = g.std() / np.sqrt(n)
    assert abs(g.mean() - truth) < 5 * se, (field, k, power, g.mean(), truth, se)


def test_second_order_is_unbiased_and_modes_agree():
  """d2/dl_j^2 E[z] = w_j (1 - 2 w_j)(m_j - E z), d2/dl_j dloc_j E[z] =
  w_j (1 - w_j): per-sample reverse-over-reverse (custom_vjp) is unbiased,
  and jax.hessian with mode="jvp" equals its mean on the same draws."""
  _, mix, p = make("normal")
  n = 20_000
  w = sp.softmax(np.asarray(CASES["normal"][1]))
  m = np.asarray(CASES["normal"][2][0])
  e1 = w @ m
  full = jax.tree.map(lambda v: jnp.broadcast_to(v, (n,) + v.shape), p)

  def first(q):
    return jax.grad(lambda r: jnp.sum(mix.sample(KEY, r, (n,))))(q).logits

  def mean_z(logits, loc, mode):
    q = p._replace(logits=logits, components=p.components._replace(loc=loc))
    return jnp.mean(mix.sample(KEY, q, (n,), mode=mode))

  second, hess = jax.jit(lambda q, l, c: (   # one program (compiles faster than two)
      jax.grad(lambda r: jnp.sum(first(r)[:, 0]))(q),
      jax.hessian(lambda l, c: mean_z(l, c, "jvp"), argnums=(0, 1))(l, c)))(
          full, p.logits, p.components.loc)
  h_ll = np.asarray(second.logits[:, 0])
  h_lm = np.asarray(second.components.loc[:, 0])
  for h, truth in [(h_ll, w[0] * (1 - 2 * w[0]) * (m[0] - e1)), (h_lm, w[0] * (1 - w[0]))]:
    se = h.std() / np.sqrt(n)
    assert abs(h.mean() - truth) < 5 * se, (h.mean(), truth, se)

  np.testing.assert_allclose(hess[0][0][0, 0], h_ll.mean(), rtol=1e-9)
  np.testing.assert_allclose(hess[0][1][0, 0], h_lm.mean(), rtol=1e-9)


def test_jit_vmap_grad_of_vmap_and_forward_mode():
  _, mix, p = make("normal")
  f = lambda q: mix.sample(KEY, q, (8,))
  np.testing.assert_allclose(jax.jit(f)(p), f(p), rtol=1e-13)
  keys = jax.random.split(KEY, 3)
  batched = jax.jit(jax.vmap(lambda k: mix.sample(k, p, (8,))))(keys)
  np.testing.assert_allclose(batched[2], mix.sample(keys[2], p, (8,)), rtol=1e-13)
  # grad of a vmap over parameter sets == per-set jacobians (jacrev, vjp mode)
  # == jacfwd through mode="jvp".
  stacked = jax.tree.map(lambda v: jnp.stack([v, 1.5 * v]), p)
  g_v = jax.jit(jax.grad(lambda s: jax.vmap(lambda q: f(q).sum())(s).sum()))(stacked)
  second = jax.tree.map(lambda v: 1.5 * v, p)
  rev = jax.jit(jax.jacrev(f))(second)
  fwd = jax.jit(jax.jacfwd(lambda q: mix.sample(KEY, q, (8,), mode="jvp")))(second)
  for a, b, c in zip(jax.tree.leaves(g_v), jax.tree.leaves(rev), jax.tree.leaves(fwd)):
    np.testing.assert_allclose(a[1], b.sum(0), rtol=1e-12)
    np.testing.assert_allclose(b, c, rtol=1e-12, atol=1e-300)


def test_family_object_is_hashable_and_named():
  assert mixture.of(irt.normal) == mixture.of(irt.normal)
  assert hash(mixture.of(irt.gamma)) == hash(mixture.of(irt.gamma))
  assert mixture.of(irt.normal) != mixture.of(irt.normal, event_ndims=1)
  assert repr(mixture.of(irt.beta)) == "irt_jax.mixture.of(irt_jax.beta)"
  assert mixture.of(irt.beta).SUPPORT == irt.beta.SUPPORT
  _, mix, p = make("normal")
  z = jax.jit(lambda m, q: m.sample(KEY, q, (4,)), static_argnums=0)(mix, p)
  np.testing.assert_allclose(z, mix.sample(KEY, p, (4,)), rtol=1e-13)


def test_bad_input():
  _, mix, p = make("normal")
  with pytest.raises(ValueError, match="logits"):
    mix.sample(KEY, p._replace(logits=jnp.array([0.0, jnp.nan, 1.0])))
  with pytest.raises(ValueError, match="logits"):
    mix.sample(KEY, p._replace(logits=jnp.float64(0.0)))
  with pytest.raises(ValueError, match="components"):  # no K axis
    mix.sample(KEY, p._replace(components=irt.normal.Params(0.0, 1.0)))
  with pytest.raises(ValueError, match="components"):  # K = 2 vs 3
    mix.sample(KEY, p._replace(components=irt.normal.Params(jnp.zeros(2), 1.0)))
  with pytest.raises(ValueError, match="scale"):
    mix.sample(KEY, p._replace(components=p.components._replace(
        scale=jnp.array([1.0, -1.0, 1.0]))))
  with pytest.raises(TypeError, match="components"):
    mix.sample(KEY, p._replace(components=irt.gamma.Params(jnp.ones(3))))
  with pytest.raises(ValueError, match="mode"):
    mix.sample(KEY, p, mode="fwd")
  with pytest.raises(ValueError, match="event_ndims"):
    mixture.of(irt.normal, event_ndims=2)
  with pytest.raises(ValueError, match="component"):
    mixture.of(object())
  with pytest.raises(ValueError, match="univariate"):
    mixture.of(irt.normal, event_ndims=1).cdf(
        mixture.Params(jnp.zeros(2), irt.normal.Params(jnp.zeros((2, 3)), 1.0)),
        jnp.zeros(3))
  # Under jit an invalid parameter gives NaN, never a plausible draw.
  bad = jax.jit(lambda q: mix.sample(KEY, q, (4,)))(
      p._replace(logits=jnp.array([0.0, jnp.nan, 1.0])))
  assert np.all(np.isnan(bad))
  bad = jax.jit(lambda q: mix.sample(KEY, q, (64,)))(
      p._replace(components=p.components._replace(scale=jnp.array([1.0, -1.0, 1.0]))))
  assert np.any(np.isnan(bad)) and not np.all(np.isnan(bad))  # only component 1


def test_numpyro_distribution_samples_and_scores():
  numpyro_mod = pytest.importorskip("irt_jax.numpyro")
  _, mix, p = make("normal")
  d = numpyro_mod.Distribution(mix, p)
  assert d.has_rsample and d.batch_shape == () and d.event_shape == ()
  z = d.sample(KEY, (7,))
  assert z.shape == (7,)
  np.testing.assert_allclose(d.log_prob(z), scipy_mixture("normal").logpdf(np.asarray(z)),
                             rtol=1e-10)
  np.testing.assert_allclose(d.mean, mix.mean(p), rtol=1e-12)
  np.testing.assert_allclose(z, mix.sample(KEY, p, (7,)), rtol=1e-13)
  mv = mixture.of(irt.normal, event_ndims=1)
  q = mixture.Params(jnp.zeros(2), irt.normal.Params(jnp.zeros((2, 3)), 1.0))
  d = numpyro_mod.Distribution(mv, q)
  assert d.batch_shape == () and d.event_shape == (3,)
  assert d.log_prob(d.sample(KEY, (4,))).shape == (4,)


# ------------------------------------------- factorized multivariate (D) ---

MV_LOGITS = np.array([0.3, -0.2, 0.5])
MV_LOC = np.array([[-2.0, 0.0, 1.0], [0.5, 2.0, -1.0], [3.0, -1.0, 0.0]])   # [K, D]
MV_SCALE = np.array([[1.0, 0.5, 2.0], [0.5, 1.0, 1.0], [2.0, 1.5, 0.7]])


def mv_make(dtype=jnp.float64):
  mix = mixture.of(irt.normal, event_ndims=1)
  p = mixture.Params(jnp.asarray(MV_LOGITS, dtype),
                     irt.normal.Params(jnp.asarray(MV_LOC, dtype),
                                       jnp.asarray(MV_SCALE, dtype)))
  return mix, p


def scipy_transform(logits, loc, scale, x):
  """Graves' T_d(x) = sum_k w_k(x_<d) Phi_k(x_d) from SciPy, float64."""
  lq = st.norm.logpdf(x[:, None, :], loc, scale)                       # [n, K, D]
  prefix = np.concatenate([np.zeros(lq.shape[:2] + (1,)), np.cumsum(lq, -1)[..., :-1]], -1)
  log_r = np.log(sp.softmax(logits))[None, :, None] + prefix
  r = np.exp(log_r - sp.logsumexp(log_r, axis=1, keepdims=True))
  return np.sum(r * st.norm.cdf(x[:, None, :], loc, scale), axis=1)


def fd_triangular_velocity(x, which, index, h=1e-6):
  """-(dT/dx)^-1 dT/dphi with both factors by central differences of SciPy."""
  args = [MV_LOGITS, MV_LOC, MV_SCALE]
  size = x.shape[-1]
  jac = np.stack([(scipy_transform(*args, x + h * np.eye(size)[j])
                   - scipy_transform(*args, x - h * np.eye(size)[j])) / (2 * h)
                  for j in range(size)], -1)
  plus, minus = [a.copy() for a in args], [a.copy() for a in args]
  plus[which][index] += h
  minus[which][index] -= h
  t_dot = (scipy_transform(*plus, x) - scipy_transform(*minus, x)) / (2 * h)
  assert np.allclose(np.triu(jac, 1), 0.0)  # triangular: T_d sees x_<=d only
  return -np.linalg.solve(jac, t_dot[..., None])[..., 0]


@functools.lru_cache(maxsize=None)
def mv_draws_and_vjps(dtype_name, n):
  """Draws [n, D] and, per coordinate d, the per-draw gradients of z_d."""
  dtype = jnp.dtype(dtype_name)
  mix, p = mv_make(dtype)
  full = jax.tree.map(lambda v: jnp.broadcast_to(v, (n,) + v.shape), p)

  def run(q):
    z, vjp = jax.vjp(lambda r: mix.sample(KEY, r, (n,), dtype), q)
    cts = jnp.eye(3, dtype=dtype)[:, None, :] * jnp.ones((n, 1), dtype)
    return z, jax.vmap(vjp)(cts)[0]

  return jax.jit(run)(full)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_multivariate_samples_follow_each_marginal(dtype):
  """Coordinate d of the mixture is the 1-D mixture sum_k w_k F_kd: KS."""
  z, _ = mv_draws_and_vjps(dtype, 4000)
  assert z.shape == (4000, 3) and z.dtype == jnp.dtype(dtype)
  w = sp.softmax(MV_LOGITS)
  for d in range(3):
    cdf = lambda x: st.norm.cdf(np.asarray(x)[:, None], MV_LOC[:, d], MV_SCALE[:, d]) @ w
    result = st.kstest(np.asarray(z[:, d], np.float64), cdf)
    assert result.pvalue > 1e-3, (d, result)


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-7), ("float32", 1e-4)])
def test_multivariate_velocity_matches_scipy_conditional_cdfs(dtype, tol):
  """The triangular-system rule against finite differences of SciPy's
  conditional CDFs (both dT/dx and dT/dphi), per draw, absolute error
  relative to max(|ref|, 1)."""
  z, grads = mv_draws_and_vjps(dtype, 4000)
  m = 25
  x = np.asarray(z[:m], np.float64)
  worst = 0.0
  for which, index in [(0, (0,)), (0, (2,)), (1, (0, 0)), (1, (1, 2)), (1, (2, 1)),
                       (2, (2, 0)), (2, (0, 2))]:
    ref = fd_triangular_velocity(x, which, index)                 # [m, D]
    leaf = [grads.logits, grads.components.loc, grads.components.scale][which]
    got = np.asarray(leaf[(slice(None), slice(0, m)) + index], np.float64).T  # [m, D]
    err = np.abs(got - ref) / np.maximum(np.abs(ref), 1.0)
    worst = max(worst, err.max())
    assert err.max() < tol, (which, index, err.max())
  print(f"multivariate {dtype}: max error {worst:.2e}")


def test_multivariate_monte_carlo_gradient_is_unbiased():
  """d/dlogit_k E[z_d] = w_k (m_kd - E z_d), d/dloc_kd E[z_d^2] = 2 w_k m_kd,
  d/dscale_kd E[z_d^2] = 2 w_k s_kd, and d/dloc_kd E[z_d'] = 0 for d' != d
  (the coupling through the responsibilities averages out)."""
  n = 40_000
  z, grads = mv_draws_and_vjps("float64", n)
  z = np.asarray(z)
  w = sp.softmax(MV_LOGITS)
  e1 = w @ MV_LOC
  checks = []
  for k in range(3):
    for d in range(3):
      checks.append((grads.logits[d, :, k], 1, w[k] * (MV_LOC[k, d] - e1[d]), d))
      checks.append((grads.components.loc[d, :, k, d], 2, 2 * w[k] * MV_LOC[k, d], d))
      checks.append((grads.components.scale[d, :, k, d], 2, 2 * w[k] * MV_SCALE[k, d], d))
      other = (d + 1) % 3
      checks.append((grads.components.loc[other, :, k, d], 1, 0.0, other))
  for g, power, truth, d in checks:
    g = np.asarray(g) * (1.0 if power == 1 else 2 * z[:, d])
    se = g.std() / np.sqrt(n)
    assert abs(g.mean() - truth) < 5 * se + 1e-12, (power, d, g.mean(), truth, se)


def test_multivariate_second_order():
  """d2/dlogit_0^2 E[z_2] = w_0 (1 - 2 w_0)(m_02 - E z_2) for the last
  coordinate (the most coupled one): per-draw reverse-over-reverse is unbiased
  and jax.hessian through mode="jvp" equals its mean on the same draws."""
  mix, p = mv_make()
  n = 20_000
  w = sp.softmax(MV_LOGITS)
  truth = w[0] * (1 - 2 * w[0]) * (MV_LOC[0, 2] - w @ MV_LOC[:, 2])
  full = jax.tree.map(lambda v: jnp.broadcast_to(v, (n,) + v.shape), p)

  def first(q):
    return jax.grad(lambda r: jnp.sum(mix.sample(KEY, r, (n,))[:, 2]))(q).logits[:, 0]

  mean_z2 = lambda l: jnp.mean(mix.sample(KEY, p._replace(logits=l), (n,), mode="jvp")[:, 2])
  second, hess = jax.jit(lambda q, l: (   # one program (compiles faster than two)
      jax.grad(lambda r: jnp.sum(first(r)))(q), jax.hessian(mean_z2)(l)))(full, p.logits)
  h = np.asarray(second.logits[:, 0])
  se = h.std() / np.sqrt(n)
  assert abs(h.mean() - truth) < 5 * se, (h.mean(), truth, se)
  np.testing.assert_allclose(hess[0, 0], h.mean(), rtol=1e-9)


def test_multivariate_density_moments_and_shapes():
  mix, p = mv_make()
  x = np.asarray(mv_draws_and_vjps("float64", 4000)[0][:16])
  lq = st.norm.logpdf(x[:, None, :], MV_LOC, MV_SCALE).sum(-1)
  want = sp.logsumexp(lq + np.log(sp.softmax(MV_LOGITS)), axis=-1)
  np.testing.assert_allclose(mix.log_prob(p, x), want, rtol=1e-12)
  w = sp.softmax(MV_LOGITS)
  np.testing.assert_allclose(mix.mean(p), w @ MV_LOC, rtol=1e-12)
  np.testing.assert_allclose(mix.variance(p), w @ (MV_SCALE ** 2 + MV_LOC ** 2)
                             - (w @ MV_LOC) ** 2, rtol=1e-12)
  # Batch axes before K: logits [2, K], components [2, K, D]; shape = batch.
  q = jax.tree.map(lambda v: jnp.stack([v, v + 1.0]), p)
  assert mix.sample(KEY, q, (5, 2)).shape == (5, 2, 3)
  with pytest.raises(ValueError, match="components"):  # no D axis after K
    mix.sample(KEY, p._replace(components=irt.normal.Params(jnp.zeros(3), 1.0)))
  with pytest.raises(ValueError, match="value"):
    mix.log_prob(p, jnp.zeros(4))
  # Gamma components (independent gammas), float32: finite gradients.
  gmix = mixture.of(irt.gamma, event_ndims=1)
  gp = mixture.Params(jnp.zeros(2, jnp.float32),
                      irt.gamma.Params(jnp.array([[0.5, 2.0], [4.0, 1.0]], jnp.float32)))
  g = jax.jit(jax.grad(lambda r: gmix.sample(KEY, r, (64,)).sum()))(gp)
  assert all(np.all(np.isfinite(v)) for v in jax.tree.leaves(g))


# ------------------------- factorized multivariate gamma components ---

GM_LOGITS = np.array([0.2, -0.5, 0.4])
GM_CONC = np.array([[0.5, 2.0, 8.0], [3.0, 0.8, 1.5], [6.0, 4.0, 0.3]])   # [K, D]
GM_RATE = np.array([[1.0, 2.0, 1.5], [0.5, 1.0, 3.0], [2.0, 0.7, 1.0]])
N_GM = 20_000


@functools.lru_cache(maxsize=None)
def gm_draws_and_vjps(dtype_name):
  """Draws [N_GM, D] of a mixture of independent gammas and, per coordinate d,
  the per-draw gradients of z_d: one compile per dtype."""
  dtype = jnp.dtype(dtype_name)
  mix = mixture.of(irt.gamma, event_ndims=1)
  p = mixture.Params(jnp.asarray(GM_LOGITS, dtype), irt.gamma.Params(
      jnp.asarray(GM_CONC, dtype), jnp.asarray(GM_RATE, dtype)))
  full = jax.tree.map(lambda v: jnp.broadcast_to(v, (N_GM,) + v.shape), p)

  def run(q):
    z, vjp = jax.vjp(lambda r: mix.sample(KEY, r, (N_GM,), dtype), q)
    cts = jnp.eye(3, dtype=dtype)[:, None, :] * jnp.ones((N_GM, 1), dtype)
    return z, jax.vmap(vjp)(cts)[0]

  z, grads = jax.jit(run)(full)
  assert z.dtype == dtype
  return np.asarray(z, np.float64), jax.tree.map(lambda v: np.asarray(v, np.float64), grads)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gamma_product_mixture_marginals_follow_scipy(dtype):
  """Coordinate d is the 1-D mixture sum_k w_k Gamma(a_kd, r_kd): KS per d."""
  z, grads = gm_draws_and_vjps(dtype)
  assert z.shape == (N_GM, 3) and np.all(z > 0)
  assert all(np.all(np.isfinite(v)) for v in jax.tree.leaves(grads))
  w = sp.softmax(GM_LOGITS)
  for d in range(3):
    cdf = lambda x: st.gamma.cdf(np.asarray(x)[:, None], GM_CONC[:, d],
                                 scale=1 / GM_RATE[:, d]) @ w
    result = st.kstest(z[:, d], cdf)
    assert result.pvalue > 1e-3, (d, result)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gamma_product_mixture_gradient_of_mean_is_unbiased(dtype):
  """E[z_d] = sum_k w_k a_kd / r_kd: d/dlogit_k = w_k (m_kd - E z_d),
  d/da_kd = w_k / r_kd, d/dr_kd = -w_k a_kd / r_kd^2, and d/da_kd E[z_d'] = 0
  for d' != d (through the responsibilities, zero only on average for
  d' > d), per-draw gradients within 4 standard errors."""
  _, grads = gm_draws_and_vjps(dtype)
  w = sp.softmax(GM_LOGITS)
  m = GM_CONC / GM_RATE
  e1 = w @ m
  checks = []
  for k in range(3):
    for d in range(3):
      checks.append(("logits", grads.logits[d, :, k], w[k] * (m[k, d] - e1[d])))
      checks.append(("concentration", grads.components.concentration[d, :, k, d],
                     w[k] / GM_RATE[k, d]))
      checks.append(("rate", grads.components.rate[d, :, k, d],
                     -w[k] * GM_CONC[k, d] / GM_RATE[k, d] ** 2))
      for other in range(3):
        if other != d:
          checks.append(("cross", grads.components.concentration[other, :, k, d], 0.0))
  worst = 0.0
  for name, g, truth in checks:
    se = g.std() / np.sqrt(N_GM)
    assert abs(g.mean() - truth) < 4 * se + 1e-12, (name, g.mean(), truth, se)
    worst = max(worst, abs(g.mean() - truth) / max(se, 1e-300))
  print(f"gamma product mixture {dtype}: worst |mean - truth| / se = {worst:.2f}")


# ------------------------------------ full-covariance normal components ---

FC_LOC = MV_LOC
FC_TRIL = np.array([[[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [-0.5, 0.3, 1.2]],
                    [[0.7, 0.0, 0.0], [-0.4, 1.1, 0.0], [0.2, 0.9, 0.5]],
                    [[1.5, 0.0, 0.0], [0.0, 0.6, 0.0], [0.8, -0.7, 0.9]]])


def fc_make(dtype=jnp.float64):
  mix = mixture.multivariate_normal
  p = mixture.Params(jnp.asarray(MV_LOGITS, dtype), mixture.MultivariateNormalParams(
      jnp.asarray(FC_LOC, dtype), jnp.asarray(FC_TRIL, dtype)))
  return mix, p


def scipy_conditional_transform(logits, loc, tril, x):
  """T_d(x) = sum_k w_k(x_<d) F_k(x_d | x_<d) from covariances by Gaussian
  conditioning (SciPy/NumPy, float64; no Cholesky forward substitution)."""
  n, size = x.shape
  out = np.zeros((n, size))
  log_w = np.log(sp.softmax(logits))
  for d in range(size):
    log_r, cond = [], []
    for k in range(len(logits)):
      cov = tril[k] @ tril[k].T
      if d == 0:
        log_r.append(np.full(n, log_w[k]))
        cond.append(st.norm.cdf(x[:, 0], loc[k, 0], np.sqrt(cov[0, 0])))
        continue
      a, b = cov[:d, :d], cov[d, :d]
      log_r.append(log_w[k] + st.multivariate_normal(loc[k, :d], a).logpdf(x[:, :d]))
      gain = np.linalg.solve(a, b)
      mean = loc[k, d] + (x[:, :d] - loc[k, :d]) @ gain
      cond.append(st.norm.cdf(x[:, d], mean, np.sqrt(cov[d, d] - b @ gain)))
    log_r = np.stack(log_r, -1).reshape(n, -1)
    r = np.exp(log_r - sp.logsumexp(log_r, axis=-1, keepdims=True))
    out[:, d] = np.sum(r * np.stack(cond, -1), axis=-1)
  return out


@functools.lru_cache(maxsize=None)
def fc_draws_and_vjps(dtype_name, n):
  dtype = jnp.dtype(dtype_name)
  mix, p = fc_make(dtype)
  full = jax.tree.map(lambda v: jnp.broadcast_to(v, (n,) + v.shape), p)

  def run(q):
    z, vjp = jax.vjp(lambda r: mix.sample(KEY, r, (n,), dtype), q)
    cts = jnp.eye(3, dtype=dtype)[:, None, :] * jnp.ones((n, 1), dtype)
    return z, jax.vmap(vjp)(cts)[0]

  return jax.jit(run)(full)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_full_covariance_samples_follow_each_marginal(dtype):
  z, _ = fc_draws_and_vjps(dtype, 4000)
  assert z.shape == (4000, 3) and z.dtype == jnp.dtype(dtype)
  w = sp.softmax(MV_LOGITS)
  sd = np.sqrt(np.sum(FC_TRIL ** 2, axis=-1))   # [K, D]
  for d in range(3):
    cdf = lambda x: st.norm.cdf(np.asarray(x)[:, None], FC_LOC[:, d], sd[:, d]) @ w
    result = st.kstest(np.asarray(z[:, d], np.float64), cdf)
    assert result.pvalue > 1e-3, (d, result)


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-7), ("float32", 1e-4)])
def test_full_covariance_velocity_matches_scipy_conditional_cdfs(dtype, tol):
  z, grads = fc_draws_and_vjps(dtype, 4000)
  m, h = 20, 1e-6
  x = np.asarray(z[:m], np.float64)
  args = [MV_LOGITS, FC_LOC, FC_TRIL]
  jac = np.stack([(scipy_conditional_transform(*args, x + h * np.eye(3)[j])
                   - scipy_conditional_transform(*args, x - h * np.eye(3)[j])) / (2 * h)
                  for j in range(3)], -1)
  assert np.allclose(np.triu(jac, 1), 0.0, atol=1e-9)
  worst = 0.0
  for which, index in [(0, (1,)), (1, (0, 2)), (1, (2, 1)), (2, (0, 2, 0)),
                       (2, (1, 1, 0)), (2, (2, 2, 2)), (2, (1, 2, 1))]:
    plus, minus = [a.copy() for a in args], [a.copy() for a in args]
    plus[which][index] += h
    minus[which][index] -= h
    t_dot = (scipy_conditional_transform(*plus, x)
             - scipy_conditional_transform(*minus, x)) / (2 * h)
    ref = -np.linalg.solve(jac, t_dot[..., None])[..., 0]
    leaf = [grads.logits, grads.components.loc, grads.components.scale_tril][which]
    got = np.asarray(leaf[(slice(None), slice(0, m)) + index], np.float64).T
    err = np.abs(got - ref) / np.maximum(np.abs(ref), 1.0)
    worst = max(worst, err.max())
    assert err.max() < tol, (which, index, err.max())
  print(f"full covariance {dtype}: max error {worst:.2e}")


def test_full_covariance_monte_carlo_gradient_is_unbiased():
  """E[z_d^2] = sum_k w_k (loc_kd^2 + sum_j L_kdj^2): d/dL_kdj = 2 w_k L_kdj
  (off-diagonal entries included), d/dloc_kd = 2 w_k loc_kd; d/dlogit_k
  E[z_d] = w_k (loc_kd - E z_d)."""
  n = 40_000
  z, grads = fc_draws_and_vjps("float64", n)
  z = np.asarray(z)
  w = sp.softmax(MV_LOGITS)
  checks = []
  for k in range(3):
    for d in range(3):
      checks.append((grads.logits[d, :, k], 1, w[k] * (FC_LOC[k, d] - w @ FC_LOC[:, d]), d))
      checks.append((grads.components.loc[d, :, k, d], 2, 2 * w[k] * FC_LOC[k, d], d))
      for j in range(d + 1):
        checks.append((grads.components.scale_tril[d, :, k, d, j], 2,
                       2 * w[k] * FC_TRIL[k, d, j], d))
  for g, power, truth, d in checks:
    g = np.asarray(g) * (1.0 if power == 1 else 2 * z[:, d])
    se = g.std() / np.sqrt(n)
    assert abs(g.mean() - truth) < 5 * se + 1e-12, (power, d, g.mean(), truth, se)


def test_full_covariance_second_order_density_and_bad_input():
  mix, p = fc_make()
  n = 8000
  # d2/dlogit_0^2 E[z_2] = w_0 (1 - 2 w_0)(loc_02 - E z_2): per-draw
  # reverse-over-reverse is unbiased; jax.hessian (mode="jvp") equals its mean.
  w = sp.softmax(MV_LOGITS)
  truth = w[0] * (1 - 2 * w[0]) * (FC_LOC[0, 2] - w @ FC_LOC[:, 2])
  full = jax.tree.map(lambda v: jnp.broadcast_to(v, (n,) + v.shape), p)

  def first(q):
    return jax.grad(lambda r: jnp.sum(mix.sample(KEY, r, (n,))[:, 2]))(q).logits[:, 0]

  mean_z2 = lambda l: jnp.mean(mix.sample(KEY, p._replace(logits=l), (n,), mode="jvp")[:, 2])
  second, hess = jax.jit(lambda q, l: (   # one program (compiles faster than two)
      jax.grad(lambda r: jnp.sum(first(r)))(q), jax.hessian(mean_z2)(l)))(full, p.logits)
  h = np.asarray(second.logits[:, 0])
  se = h.std() / np.sqrt(n)
  assert abs(h.mean() - truth) < 5 * se, (h.mean(), truth, se)
  np.testing.assert_allclose(hess[0, 0], h.mean(), rtol=1e-9)
  x = np.asarray(fc_draws_and_vjps("float64", 4000)[0][:8])
  want = sp.logsumexp(np.stack([st.multivariate_normal(FC_LOC[k], FC_TRIL[k] @ FC_TRIL[k].T)
                                .logpdf(x) for k in range(3)], -1) + np.log(w), axis=-1)
  np.testing.assert_allclose(mix.log_prob(p, x), want, rtol=1e-12)
  np.testing.assert_allclose(mix.mean(p), w @ FC_LOC, rtol=1e-12)
  var = np.sum(FC_TRIL ** 2, -1)
  np.testing.assert_allclose(mix.variance(p), w @ (var + FC_LOC ** 2) - (w @ FC_LOC) ** 2,
                             rtol=1e-12)
  bad_diag = FC_TRIL.copy()
  bad_diag[1, 2, 2] = -1.0
  for comps, match in [
      (mixture.MultivariateNormalParams(FC_LOC, bad_diag), "scale_tril"),
      (mixture.MultivariateNormalParams(FC_LOC[:2], FC_TRIL[:2]), "loc"),
      (mixture.MultivariateNormalParams(FC_LOC, FC_TRIL[..., :2, :2]), "scale_tril"),
      (mixture.MultivariateNormalParams(FC_LOC * np.nan, FC_TRIL), "loc")]:
    with pytest.raises(ValueError, match=match):
      mix.sample(KEY, p._replace(components=comps))
  out = jax.jit(lambda q: mix.sample(KEY, q, (4,)))(p._replace(
      components=mixture.MultivariateNormalParams(jnp.asarray(FC_LOC), jnp.asarray(bad_diag))))
  assert np.all(np.isnan(out))


# ------------------------------ the O(K D) rule against the dense solve ---

@pytest.mark.parametrize("component", [irt.normal, irt.gamma])
def test_factorized_rule_equals_dense_triangular_solve(component):
  """The forward substitution of Mixture._forward_substitution (running sums,
  event-major layout) equals the generic path (D Jacobian columns by
  forward mode, then a dense triangular solve), forward and transposed, with
  per-draw parameters, in float64. (The component only supplies its terms:
  one closed-form and one rule-based component cover both kinds.)"""
  k, d, n = 4, 7, 64
  keys = jax.random.split(jax.random.key(11), 3)
  pos = lambda key: jnp.exp(0.5 * jax.random.normal(key, (n, k, d)))
  comps = {irt.normal: lambda: irt.normal.Params(2 * jax.random.normal(keys[0], (n, k, d)),
                                                 pos(keys[1])),
           irt.gamma: lambda: irt.gamma.Params(pos(keys[0]), pos(keys[1]))}[component]()
  fast = mixture.of(component, event_ndims=1)
  dense = Mixture(component, event_ndims=1)   # its own object: of() is cached
  dense._factorized = False
  assert dense is not fast
  p, _, _, _ = fast._prepare(mixture.Params(jax.random.normal(keys[2], (n, k)), comps),
                             jnp.float64)
  # The rules are compared at points of high density, not at draws (no sampler
  # program to compile): each coordinate near a component's mean.
  pick = jax.random.randint(keys[2], (n, d), 0, k)[:, None, :]
  mean = jnp.take_along_axis(component.mean(comps), pick, axis=1)[:, 0]
  z = mean * jnp.exp(0.2 * jax.random.normal(keys[0], (n, d)))
  p_dot = jax.tree.map(lambda v: jax.random.normal(keys[0], v.shape, v.dtype), p)
  z_bar = jax.random.normal(keys[1], z.shape, z.dtype)

  @jax.jit   # one program for the four (compiles faster than four)
  def rules(q, x, q_dot, x_bar):
    return [(m._velocity(q, x, q_dot),
             jax.linear_transpose(functools.partial(m._velocity, q, x), q)(x_bar)[0])
            for m in (fast, dense)]

  (va, ta), (vb, tb) = rules(p, z, p_dot, z_bar)
  np.testing.assert_allclose(va, vb, rtol=1e-8, atol=1e-10)
  for u, v in zip(jax.tree.leaves(ta), jax.tree.leaves(tb)):
    np.testing.assert_allclose(u, v, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("mode", ["vjp", "jvp"])
def test_guarded_terms_where_a_component_overflows(mode):
  """Float32, components N(0, 1) and N(1e10, 1e-10): at the draws of the
  first, the second's standardized value x ~ -1e20 overflows in x^2 (log q =
  log F = -inf), so the rule takes its guarded branch (terms at a safe
  point). Reference, float64: there the second CDF is 0, so dz/dloc_0 = 1,
  dz/dscale_0 = z, dz/dlogit_0 = -dz/dlogit_1 = -w_1 Phi(z) / phi(z), and
  nothing for the second component's parameters."""
  n, dtype = 2000, jnp.float32
  logits = np.array([0.3, -0.2])
  p = mixture.Params(jnp.asarray(logits, dtype), irt.normal.Params(
      jnp.asarray([0.0, 1e10], dtype), jnp.asarray([1.0, 1e-10], dtype)))
  full = jax.tree.map(lambda v: jnp.broadcast_to(v, (n,) + v.shape), p)
  mix = mixture.of(irt.normal)
  f = lambda q: mix.sample(KEY, q, (n,), dtype, mode=mode)
  if mode == "vjp":
    jac = jax.jit(jax.grad(lambda q: f(q).sum()))(full)
  else:    # forward mode, one tangent per parameter column, in one program
    jac = jax.tree.map(lambda v: np.zeros(v.shape), full)
    columns = [(leaf, k) for leaf in range(3) for k in range(2)]
    tangents = []
    for leaf, k in columns:
      t = [jnp.zeros_like(v) for v in jax.tree.leaves(full)]
      t[leaf] = t[leaf].at[:, k].set(1.0)
      tangents.append(jax.tree.unflatten(jax.tree.structure(full), t))
    cols = jax.jit(lambda q, ts: [jax.jvp(f, (q,), (t,))[1] for t in ts])(full, tangents)
    leaves = jax.tree.leaves(jac)
    for (leaf, k), col in zip(columns, cols):
      leaves[leaf][:, k] = np.asarray(col)
    jac = jax.tree.unflatten(jax.tree.structure(full), leaves)
  z = np.asarray(f(full), np.float64)
  first = np.abs(z) < 1e5                   # draws of the first component
  assert first.sum() > n // 2
  w1 = sp.softmax(logits)[1]
  with np.errstate(divide="ignore", invalid="ignore"):   # z ~ 1e10 unused
    d_logit = -w1 * st.norm.cdf(z) / st.norm.pdf(z)
  want = {"logits": np.stack([d_logit, -d_logit], -1),
          "loc": np.stack([np.ones(n), np.zeros(n)], -1),
          "scale": np.stack([z, np.zeros(n)], -1)}
  got = {"logits": jac.logits, "loc": jac.components.loc, "scale": jac.components.scale}
  for name in want:
    g = np.asarray(got[name], np.float64)[first]
    assert np.all(np.isfinite(g)), name
    err = np.abs(g - want[name][first]) / np.maximum(np.abs(want[name][first]), 1.0)
    assert err.max() < 1e-4, (name, err.max())


@pytest.mark.parametrize("k", [5, 40])
def test_vmapped_transposed_rule_float32_matches_float64(k):
  """Diagonal normals, K = 5 (forward substitution) and K = 40 > _UNROLL_K
  (the dense path), 20,000 draws under jit(vmap(vjp)) over two parameter
  sets, float32 against the float64 rule at the same draws: the pattern that
  hit an XLA:CPU fusion miscompile in the running-sum scan."""
  d, n = 3, 20_000
  keys = jax.random.split(jax.random.key(5), 3)
  base = mixture.Params(
      jax.random.normal(keys[0], (2, k)),
      irt.normal.Params(3 * jax.random.normal(keys[1], (2, k, d)),
                        jnp.exp(0.3 * jax.random.normal(keys[2], (2, k, d)))))
  mix = mixture.of(irt.normal, event_ndims=1)

  def one(r):
    z, vjp = jax.vjp(lambda s: mix.sample(KEY, s, (n,), jnp.float32), r)
    return z, vjp(jnp.cos(z))[0]

  z32, g32 = jax.jit(jax.vmap(one))(jax.tree.map(lambda v: v.astype(jnp.float32), base))
  rule64 = jax.jit(lambda q, z: jax.linear_transpose(
      functools.partial(mix._velocity, q, z), q)(jnp.cos(z))[0])
  for i in range(2):   # float64, one parameter set at a time, at the same draws
    q = jax.tree.map(lambda v: v[i].astype(jnp.float64), base)
    z = jnp.asarray(z32[i], jnp.float64)
    g64 = rule64(q, z)
    for a, b in zip(jax.tree.leaves(g32), jax.tree.leaves(g64)):
      a, b = np.asarray(a[i], np.float64), np.asarray(b)
      np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-3 * np.abs(b).max())
