"""pmap over 4 host CPU devices gives the same numbers as a loop (subprocess,
since the device count is fixed when JAX starts)."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    import irt_jax as irt
    assert jax.device_count() == 4, jax.devices()
    keys = jax.random.split(jax.random.key(0), 4)
    a = jnp.array([0.5, 1.0, 2.0, 5.0])

    def grad_of_mean(key, a):
        return jax.grad(lambda c: irt.gamma.sample(key, irt.gamma.Params(c), (1000,)).mean())(a)

    def beta_draws(key, a):
        return irt.beta.sample(key, irt.beta.Params(a, 2.0), (100,))

    for fn in (grad_of_mean, beta_draws):
        par = jax.pmap(fn)(keys, a)
        loop = jnp.stack([fn(keys[i], a[i]) for i in range(4)])
        np.testing.assert_allclose(np.asarray(par), np.asarray(loop), rtol=1e-12)
    print("PMAP_OK")
""")


def test_pmap_over_four_cpu_devices_matches_a_loop():
  env = dict(os.environ)
  env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
  env["JAX_PLATFORMS"] = "cpu"
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
  out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                       text=True, timeout=600)
  assert out.returncode == 0 and "PMAP_OK" in out.stdout, out.stderr[-3000:]
