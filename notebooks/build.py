"""Pairs each teaching notebook (``notebooks/0*.py``, percent format) with an
executed ``.ipynb``: the same cells, run top to bottom, with their printed output
and every figure they save embedded, so a reader on the web sees the results
without running anything.

    python notebooks/build.py            # all of them (`make notebooks`)
    python notebooks/build.py 01 05      # those whose name starts so

No Jupyter needed: cells run in one namespace in this process, ``stdout`` is
captured per cell and ``Figure.savefig`` is wrapped to embed what it writes.
``tests/test_notebooks.py`` checks that every ``.ipynb`` holds exactly the cells
of its ``.py`` (so a changed script with a stale notebook fails) and that its
last output says "all checks passed".
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import traceback

HERE = pathlib.Path(__file__).resolve().parent


def cells(source: str) -> list[tuple[str, str]]:
  """``[(kind, text)]`` of a percent-format script: kind ``"markdown"`` (the
  ``# `` prefixes removed) or ``"code"``."""
  out: list[tuple[str, list[str]]] = []
  for line in source.splitlines():
    if line.startswith("# %%"):
      out.append(("markdown" if "[markdown]" in line else "code", []))
    elif out:
      out[-1][1].append(line)
    elif line.strip():
      out.append(("code", [line]))
  result = []
  for kind, lines in out:
    if kind == "markdown":
      lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in lines]
    text = "\n".join(lines).strip("\n")
    if text:
      result.append((kind, text))
  return result


def _lines(text: str) -> list[str]:
  parts = text.split("\n")
  return [p + "\n" for p in parts[:-1]] + [parts[-1]]


def build(path: pathlib.Path) -> pathlib.Path:
  """Runs ``path`` cell by cell and writes ``path.with_suffix('.ipynb')``."""
  import matplotlib
  matplotlib.use("Agg")
  from matplotlib.figure import Figure

  figures: list[bytes] = []
  plain_savefig = Figure.savefig

  def savefig(self, *args, **kwargs):
    plain_savefig(self, *args, **kwargs)
    buf = io.BytesIO()
    plain_savefig(self, buf, format="png", dpi=80)
    figures.append(buf.getvalue())

  nb_cells = []
  scope = {"__name__": "__main__", "__file__": str(path)}
  count = 0
  with tempfile.TemporaryDirectory() as out_dir:
    os.environ["IRT_NOTEBOOK_OUT"] = out_dir
    Figure.savefig = savefig
    try:
      for kind, text in cells(path.read_text()):
        if kind == "markdown":
          nb_cells.append({"cell_type": "markdown", "metadata": {}, "source": _lines(text)})
          continue
        count += 1
        figures.clear()
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
          try:
            exec(compile(text, f"{path.name} cell {count}", "exec"), scope)  # noqa: S102
          except Exception:  # the notebook records it, then the build fails
            traceback.print_exc(file=stdout)
            raise RuntimeError(f"{path.name}: cell {count} failed:\n{stdout.getvalue()}")
        outputs = []
        if stdout.getvalue():
          outputs.append({"output_type": "stream", "name": "stdout",
                          "text": _lines(stdout.getvalue().rstrip("\n") + "\n")})
        for png in figures:
          outputs.append({"output_type": "display_data", "metadata": {},
                          "data": {"image/png": base64.b64encode(png).decode("ascii"),
                                   "text/plain": ["<Figure>"]}})
        nb_cells.append({"cell_type": "code", "execution_count": count, "metadata": {},
                         "outputs": outputs, "source": _lines(text)})
    finally:
      Figure.savefig = plain_savefig
  notebook = {"cells": nb_cells, "metadata": {
      "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
      "language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}
  target = path.with_suffix(".ipynb")
  target.write_text(json.dumps(notebook, indent=1) + "\n")
  return target


def main(prefixes: list[str]) -> None:
  paths = [p for p in sorted(HERE.glob("0*.py"))
           if not prefixes or any(p.name.startswith(x) for x in prefixes)]
  if len(paths) == 1:
    print(f"{paths[0].name} -> {build(paths[0]).name}", file=sys.stderr)
    return
  env = dict(os.environ, JAX_ENABLE_X64="1", MPLBACKEND="Agg")
  for path in paths:  # one process each: a notebook's JAX settings stay its own
    subprocess.run([sys.executable, __file__, path.name], check=True, env=env,
                   cwd=HERE.parent)


if __name__ == "__main__":
  main(sys.argv[1:])
