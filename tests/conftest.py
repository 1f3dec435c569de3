"""Test configuration: float64 available everywhere; float32 is always asked for
explicitly (dtype=jnp.float32), so both precisions are tested on purpose.

The suite is compile-bound (hundreds of distinct XLA programs, each run once on
small inputs), so XLA:CPU's backend compiles them at LLVM -O0: about 30% less
compile time, the same HLO. Set ``XLA_FLAGS`` with your own
``--xla_backend_optimization_level`` to test at another level; the demo,
notebooks run by hand and benchmarks use XLA's defaults."""

import os

OPT_LEVEL_FLAG = "--xla_backend_optimization_level=0"
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {OPT_LEVEL_FLAG}".strip()

import jax  # noqa: E402  (after XLA_FLAGS: read when the backend starts)

jax.config.update("jax_enable_x64", True)
