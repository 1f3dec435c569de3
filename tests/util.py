"""Per-sample derivatives without dense Jacobians.

Draws of the elementwise families depend only on their own parameters, so
broadcasting the parameters to the batch shape and differentiating the *sum*
returns every per-sample derivative in one reverse pass (and, differentiating
the sum of those, every per-sample second derivative: the Hessian of a sum of
independent terms is diagonal).
"""

import jax
import jax.numpy as jnp
import numpy as np


def broadcast_params(params, shape):
  return jax.tree.map(lambda v: jnp.broadcast_to(v, shape), params)


def per_sample_grad(sample_fn, params, shape, f=lambda z: z):
  """d f(z_i)/d param_i for every draw, as a Params of arrays of ``shape``."""
  full = broadcast_params(params, shape)
  return jax.jit(jax.grad(lambda q: jnp.sum(f(sample_fn(q)))))(full)


def per_sample_second(sample_fn, params, shape, field, f=lambda z: z):
  """d^2 f(z_i)/d field_i^2 by reverse-over-reverse, one value per draw."""
  full = broadcast_params(params, shape)

  def first(q):
    return getattr(jax.grad(lambda r: jnp.sum(f(sample_fn(r))))(q), field)

  return getattr(jax.jit(jax.grad(lambda q: jnp.sum(first(q))))(full), field)


def subprocess_env(device_count=None):
  """Environment for a test's child Python: this checkout importable, CPU only,
  this process's XLA flags plus (optionally) a host device count."""
  import os
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  flags = [f for f in env.get("XLA_FLAGS", "").split()
           if "xla_force_host_platform_device_count" not in f]
  if device_count is not None:
    flags.append(f"--xla_force_host_platform_device_count={device_count}")
  env["XLA_FLAGS"] = " ".join(flags)
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
  return env


def mean_ok(g, want, sigmas=5.0):
  """``(ok, mean, stderr)``: the per-sample values ``g`` (draws on axis 0) have
  a mean within ``sigmas`` standard errors of ``want``."""
  g = np.asarray(g, np.float64)
  se = g.std(axis=0) / np.sqrt(g.shape[0])
  return bool(np.all(np.abs(g.mean(axis=0) - want) < sigmas * se + 1e-12)), g.mean(0), se


def var_z(g, want):
  """``(z, variance)``: z-score of the per-sample variance of ``g`` against ``want``."""
  g = np.asarray(g, np.float64)
  c = g - g.mean()
  v = np.mean(c ** 2)
  se = np.sqrt((np.mean(c ** 4) - v ** 2) / g.size)
  return abs(v - want) / se, v
