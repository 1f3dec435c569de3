"""Shared helpers of irt_jax._src.utils that carry numerics or layout."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

import irt_jax as irt
from irt_jax._src import utils

KEY = jax.random.key(3)


def test_padded_draw_keeps_aligned_counts_and_pads_the_others():
  # A count already a multiple of 8 draws exactly as jax.random does.
  np.testing.assert_array_equal(utils.padded_draw(jax.random.normal, KEY, (4, 6), jnp.float32),
                                jax.random.normal(KEY, (4, 6), jnp.float32))
  # Otherwise: the first prod(shape) of a padded flat draw, in shape.
  x = utils.padded_draw(jax.random.uniform, KEY, (3, 333), jnp.float64, minval=2.0, maxval=3.0)
  assert x.shape == (3, 333) and x.dtype == jnp.float64
  flat = jax.random.uniform(KEY, (1000,), jnp.float64, minval=2.0, maxval=3.0)
  np.testing.assert_array_equal(np.ravel(x), flat[:999])
  assert utils.multiple_of_8(999) == 1000 and utils.multiple_of_8(1000) == 1000
  assert utils.padded_draw(jax.random.normal, KEY, (), jnp.float32).shape == ()


@pytest.mark.parametrize("family,params,dist", [
    (irt.normal, irt.normal.Params(1.0, 2.0), st.norm(1.0, 2.0)),
    (irt.gamma, irt.gamma.Params(0.3), st.gamma(0.3)),
    (irt.student_t, irt.student_t.Params(3.0), st.t(3.0)),
])
def test_families_at_an_odd_number_of_draws(family, params, dist):
  """20,001 draws (a count not a multiple of 8): KS against SciPy, and a
  finite gradient."""
  z = family.sample(KEY, params, (20_001,), jnp.float64)
  assert z.shape == (20_001,)
  assert st.kstest(np.asarray(z), dist.cdf).pvalue > 1e-3
  g = jax.grad(lambda p: family.sample(KEY, p, (20_001,), jnp.float64).sum())(
      jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), params))
  assert all(np.isfinite(v) for v in jax.tree.leaves(g))
