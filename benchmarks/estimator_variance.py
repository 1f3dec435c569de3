"""Estimator variances against closed forms (Mohamed et al. 2020 setting).

    python benchmarks/estimator_variance.py

N(1, 1), f = (x + 3)^2, 200k draws: per-sample mean and variance of the pathwise,
score-function (baselines) and measure-valued estimators of d/dmu and d/dsigma
against their closed forms; gamma-rate measure-valued gradient; DiCE Hessian.
Prints only (about 20 s).
"""
import functools, jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
import irt_jax as irt
from irt_jax import estimators as est, diagnostics as diag
key = jax.random.key(7); N = 200_000; a = 4.0
p = irt.normal.Params(jnp.asarray(1.0), jnp.asarray(1.0))
f = lambda x: (x + 3.0) ** 2
def v_se(g):
  g = np.asarray(g); c = g - g.mean(); v = (c**2).mean(); return v, np.sqrt(((c**4).mean() - v**2) / g.size)
print("N(1,1), f=(x+3)^2, N=%d per-sample variance (MC +- s.e. | closed form)" % N)
for name, fn, cmu, csig in [
    ("pathwise", est.pathwise, 4, 4*a*a+8),
    ("score none", est.score_function, a**4+14*a*a+15, None),
    ("score leave_one_out", functools.partial(est.score_function, baseline="leave_one_out"), 8*a*a+10, None),
    ("score optimal", functools.partial(est.score_function, baseline="optimal"), 8*a*a+6, None),
    ("score batch_mean", functools.partial(est.score_function, baseline="batch_mean"), 8*a*a+10, None),
    ("measure_valued coupled", est.measure_valued, (16/np.pi-4)*a*a, 4*a*a+4),
    ("measure_valued uncoupled", functools.partial(est.measure_valued, coupling=False), (8/np.pi-2)*a*a+4/np.pi, 16*a*a+8)]:
  g = fn(f, irt.normal, p, key, N)
  vm, sm = v_se(g.loc); vs, ss = v_se(g.scale)
  print(f"  {name:26s} mu: mean {float(g.loc.mean()):.4f} (2a=8)  var {vm:9.3f} +- {sm:6.3f} | {cmu:8.3f}   "
        f"sigma: mean {float(g.scale.mean()):.4f} (2)  var {vs:8.3f} +- {ss:6.3f} | {csig if csig is None else round(csig, 3)}")
ag, r = 2.5, 1.5
pg = irt.gamma.Params(jnp.asarray(ag), jnp.asarray(r))
for c, cv in ((True, ag**2/r**4), (False, ag**2*(2*ag+1)/r**4)):
  g = est.measure_valued(lambda z: z, irt.gamma, pg, key, N, wrt="rate", coupling=c)
  v, s = v_se(g.rate)
  print(f"Gamma(2.5, 1.5) rate MVD f=z coupling={c}: mean {float(g.rate.mean()):.5f} +- {float(g.rate.std())/np.sqrt(N):.5f} (closed {-ag/r**2:.5f}), var {v:.4f} +- {s:.4f} (closed {cv:.4f})")
keys = jax.random.split(key, 200)
h = jax.jit(jax.vmap(lambda k: jax.hessian(lambda q: est.score_function_surrogate(lambda x: x**2, irt.normal, q, k, 2000))(irt.normal.Params(jnp.asarray(0.5), jnp.asarray(1.2)))))(keys)
hh = np.stack([h.loc.loc, h.loc.scale, h.scale.scale], 1)
print("DiCE Hessian of E[x^2], N(0.5,1.2), 200 x 2000 draws: [d2/dloc2, d2/dloc dscale, d2/dscale2] =", hh.mean(0).round(4), "+-", (hh.std(0)/np.sqrt(200)).round(4), "(closed 2, 0, 2)")
def ws(k, q, s, dtype=None):
  lam, kk = q; return lam * jax.random.exponential(k, s, jnp.result_type(lam)) ** (1 / kk)
cdf = lambda q, z: -jnp.expm1(-(z / q[0]) ** q[1]); sf = lambda q, z: jnp.exp(-(z / q[0]) ** q[1])
prm = (jnp.asarray(2.0), jnp.asarray(1.5))
c = diag.gradient_check(irt.implicit(ws, cdf), cdf, prm, key, 2000, sf=sf)
print(f"gradient_check Weibull(2, 1.5) via irt.implicit, 2000 draws: max rel error {c.max_rel_error:.2e} ({c.parameter}, z={c.z:.3f})")
wrong = lambda q, z, t: z / q[0] * t[0] + z * jnp.log(z / q[0]) / q[1] ** 2 * t[1]
c = diag.gradient_check(irt.implicit(ws, cdf, velocity=wrong), cdf, prm, key, 2000, sf=sf)
print(f"gradient_check wrong Weibull velocity: max rel error {c.max_rel_error:.3f} at parameter {c.parameter}, draw {c.index}")
for fam, vals in ((irt.normal, (0.5, 2.0)), (irt.gamma, (0.7, 1.5)), (irt.beta, (0.8, 2.5)), (irt.student_t, (3.5, 0.5, 2.0))):
  q = fam.Params(*[jnp.asarray(v) for v in vals]); z = fam.sample(key, q, (500,))
  eye = jnp.eye(len(vals)); d = fam.Params(*[eye[:, i] for i in range(len(vals))])
  o = jax.jit(jax.vmap(lambda dd: diag.transport_residual(fam.log_prob, irt.velocity_from_cdf(fam.cdf), q, z, direction=dd)))(d)
  rel = np.abs(o.residual) / (np.abs(o.d_log_q) + np.abs(o.divergence) + np.abs(o.v_dot_grad))
  print(f"transport residual {fam.__name__:18s} 500 draws, per parameter max |r|/scale:", np.asarray(rel.max(1)))
