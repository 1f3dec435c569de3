"""Renders docs/API.md from the docstrings: `python -m tests.apidoc > docs/API.md`."""

import importlib
import inspect
import types

import irt_jax as irt


def public_objects():
  """(qualified name, object) for every public name, modules expanded."""
  out = []
  for name in irt.__all__:
    obj = getattr(irt, name)
    if isinstance(obj, types.ModuleType):
      out.append((f"irt_jax.{name}", obj))
      for sub in getattr(obj, "__all__", []):
        out.append((f"irt_jax.{name}.{sub}", getattr(obj, sub)))
    else:
      out.append((f"irt_jax.{name}", obj))
  import irt_jax.numpyro as irn  # optional dependency, documented too
  out.append(("irt_jax.numpyro", irn))
  out += [(f"irt_jax.numpyro.{n}", getattr(irn, n)) for n in irn.__all__]
  return out


def _signature(obj):
  try:
    return str(inspect.signature(obj))
  except (TypeError, ValueError):
    return ""


def render():
  lines = ["# irt_jax API", "",
           "Generated from the docstrings by `python -m tests.apidoc > docs/API.md`; "
           "the tests fail when it is stale.", ""]
  for name, obj in public_objects():
    doc = inspect.getdoc(obj) or ""
    if isinstance(obj, types.ModuleType):
      # The implementation module carries the real description.
      src = obj.__name__.replace("irt_jax.", "irt_jax._src.", 1)
      try:
        doc = inspect.getdoc(importlib.import_module(src)) or doc
      except ImportError:
        pass
      lines += [f"## `{name}`", "", doc.split("\n\n")[0], ""]
      continue
    if isinstance(obj, (int, float, str, tuple)) and not callable(obj):
      lines += [f"### `{name}` = `{obj!r}`", ""]
      continue
    lines += [f"### `{name}{_signature(obj)}`", "", "```text", doc, "```", ""]
  return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
  print(render(), end="")
