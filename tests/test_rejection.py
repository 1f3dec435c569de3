"""The compacted rejection loop (irt_jax/_src/rejection.py) on a sampler
whose answer is known: accept a uniform proposal u * scale when u < p, so the
accepted values are uniform on [0, p * scale). Checked: every element gets an
accepted value (also when the claimed max_fail is far too optimistic, so the
buffers overflow and the whole-batch fallback must finish the job), the values
follow the right law (KS), per-element parameters reach their own elements,
odd batch sizes, skipped elements, and the round cap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st

from irt_jax._src import rejection


def _propose(key, params, count):
  p, scale = params
  u = jax.random.uniform(key, (count,), jnp.float64)
  return u * scale, u < p


@pytest.mark.parametrize("max_fail", [0.7, 0.05])   # honest / far too optimistic
@pytest.mark.parametrize("shape", [(4001,), (7, 13), (3,)])
def test_every_element_accepted_with_the_right_law(shape, max_fail):
  n = int(np.prod(shape))
  scale = jnp.arange(1, n + 1, dtype=jnp.float64).reshape(shape)   # per element
  fn = jax.jit(lambda k: rejection.sample(k, _propose, (0.3, scale), shape, jnp.nan,
                                          max_fail=max_fail))
  v = np.asarray(fn(jax.random.key(1)))
  assert v.shape == shape and np.all(np.isfinite(v))
  u = (v / np.asarray(scale)).ravel()                    # back to the proposal's u
  assert np.all((u >= 0) & (u < 0.3))
  if n > 1000:
    assert st.kstest(u, st.uniform(0, 0.3).cdf).pvalue > 1e-3


def test_stage_sizes_shrink_and_are_multiples_of_8():
  sizes = rejection.stage_sizes(10**6, 0.05, 3)
  assert sizes == sorted(sizes, reverse=True) and all(s % 8 == 0 for s in sizes)
  assert 50_000 <= sizes[0] <= 53_000       # 5% of 1e6 plus a 6-sd margin
  assert rejection.stage_sizes(20, 0.35, 3) == []        # small batches: no buffers


def test_skip_and_round_cap():
  shape = (1000,)
  skip = jnp.arange(1000) % 2 == 0
  p = jnp.where(skip, 0.0, 0.5)                           # skipped ones never accept
  v = rejection.sample(jax.random.key(2), _propose, (p, 1.0), shape, -1.0,
                       max_fail=0.5, skip=skip)
  v = np.asarray(v)
  assert np.all((v[1::2] >= 0) & (v[1::2] < 0.5))
  # Nothing is ever accepted: the loops stop at the cap and leave the fill.
  v = rejection.sample(jax.random.key(3), _propose, (0.0, 1.0), shape, -1.0,
                       max_fail=0.5, max_rounds=5)
  assert np.all(np.asarray(v) == -1.0)
