"""Test configuration: float64 available everywhere; float32 is always asked for
explicitly (dtype=jnp.float32), so both precisions are tested on purpose."""

import jax

jax.config.update("jax_enable_x64", True)
