"""Per-sample derivatives without dense Jacobians.

Draws of the elementwise families depend only on their own parameters, so
broadcasting the parameters to the batch shape and differentiating the *sum*
returns every per-sample derivative in one reverse pass (and, differentiating
the sum of those, every per-sample second derivative: the Hessian of a sum of
independent terms is diagonal).
"""

import jax
import jax.numpy as jnp


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
