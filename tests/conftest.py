"""Test configuration: float64 available everywhere; float32 is always asked for
explicitly (dtype=jnp.float32), so both precisions are tested on purpose.

The suite is compile-bound, and many tests build the same XLA program (the
same family at the same shapes, parameter regimes that differ only in value).
One compilation cache on disk, shared by the xdist workers and removed at the
end, lets each such program compile once per run.
"""

import os
import shutil
import tempfile

import jax

jax.config.update("jax_enable_x64", True)

_CACHE_ENV = "IRT_JAX_TEST_COMPILATION_CACHE"


def pytest_configure(config):
  if _CACHE_ENV not in os.environ:   # the controller; workers inherit the path
    os.environ[_CACHE_ENV] = tempfile.mkdtemp(prefix="irt_jax_xla_cache_")
    config._irt_jax_cache_owner = True
  jax.config.update("jax_compilation_cache_dir", os.environ[_CACHE_ENV])
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.3)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def pytest_unconfigure(config):
  if getattr(config, "_irt_jax_cache_owner", False):
    shutil.rmtree(os.environ.pop(_CACHE_ENV), ignore_errors=True)
