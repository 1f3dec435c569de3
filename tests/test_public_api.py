"""The public surface: every module is exported, every public name has a
docstring with a runnable example (run by pytest --doctest-modules), and
the API page docs/API.md is up to date with the docstrings."""

import importlib
import inspect
import pathlib

import irt_jax as irt
from tests import apidoc

ROOT = pathlib.Path(irt.__file__).parent
OPTIONAL = {"numpyro"}  # needs an optional dependency; imported explicitly


def public_modules():
  return sorted(p.stem for p in ROOT.glob("*.py") if not p.stem.startswith("_"))


def test_all_is_complete_and_importable():
  for name in public_modules():
    if name in OPTIONAL:
      importlib.import_module(f"irt_jax.{name}")
      continue
    assert name in irt.__all__, f"irt_jax.{name} is not in irt_jax.__all__"
  for name in irt.__all__:
    assert hasattr(irt, name), name
  assert irt.__version__


def test_every_public_callable_has_an_example():
  missing = []
  for name, obj in apidoc.public_objects():
    if callable(obj) and ">>>" not in (inspect.getdoc(obj) or ""):
      missing.append(name)
  assert not missing, f"no >>> example in the docstring of: {missing}"


def test_api_page_is_up_to_date():
  page = pathlib.Path(__file__).parent.parent / "docs" / "API.md"
  assert page.read_text() == apidoc.render(), (
      "docs/API.md is stale: regenerate it with `python -m tests.apidoc > docs/API.md`")
