"""Public API surface and the README's code, run as written."""

import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np

import irt_jax as irt

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_all_is_complete_and_importable():
  for name in irt.__all__:
    assert hasattr(irt, name), name
  for family in (irt.normal, irt.gamma, irt.beta, irt.student_t, irt.dirichlet):
    for name in family.__all__:
      obj = getattr(family, name)
      assert obj.__doc__, f"{family.__name__}.{name} has no docstring"
    for name in ("Params", "sample", "log_prob", "mean", "variance"):
      assert name in family.__all__
  for family in (irt.normal, irt.gamma, irt.beta, irt.student_t):
    assert "cdf" in family.__all__


def test_params_are_pytrees():
  p = irt.gamma.Params(jnp.ones(3), 2.0)
  leaves = jax.tree.leaves(p)
  assert len(leaves) == 2
  doubled = jax.tree.map(lambda v: v * 2, p)
  assert isinstance(doubled, irt.gamma.Params)


def test_readme_code_blocks_run():
  text = (ROOT / "README.md").read_text()
  blocks = re.findall(r"```python\n(.*?)```", text, re.S)
  assert len(blocks) >= 3
  scope = {}
  for block in blocks:
    exec(compile(block, "README.md", "exec"), scope)  # pylint: disable=exec-used
  # The README's stated numbers hold.
  key = scope["key"]
  assert abs(scope["g"] - 5.0) < 0.5
  assert abs(scope["h"] - 2.0) < 0.3
  assert scope["z"].shape == (100,)
  # Estimators: the leave-one-out score function is unbiased for 2 loc = 4.
  loo = np.asarray(scope["loo"].loc)
  assert abs(loo.mean() - 4.0) < 5 * loo.std() / np.sqrt(loo.size)
  # The training-loop example learns: the gamma mean a/rate near 3, the bits' signs.
  theta = np.asarray(scope["theta"])
  assert abs(np.exp(theta[0] - theta[1]) - 3.0) < 0.5, theta
  np.testing.assert_array_equal(np.sign(scope["logits"]), [1, -1, 1])
  np.testing.assert_allclose(
      jax.jit(jax.grad(lambda lam: scope["weibull"](key, (lam, 1.5), (100,)).sum()))(2.0),
      scope["weibull"](key, (2.0, 1.5), (100,)).sum() / 2.0, rtol=1e-5)
