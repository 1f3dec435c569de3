"""Test configuration: float64 available everywhere; float32 is always asked for
explicitly (dtype=jnp.float32), so both precisions are tested on purpose.

The suite compiles thousands of small programs and runs most of them once, so
XLA's backend optimizations cost more than they save: at
``--xla_backend_optimization_level=0`` the compile-bound tests take about 30%
less time. Set before jax starts its backend; a level the user chose in
``XLA_FLAGS`` is kept, and child processes (``tests.util.subprocess_env``)
inherit it. ``make demo`` and the benchmarks run at XLA's default level, so
both levels are exercised.
"""

import os

if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                             + " --xla_backend_optimization_level=0").strip()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
