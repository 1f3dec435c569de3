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


# --- two processes joined by jax.distributed, each holding half the keys ------
WORKER = textwrap.dedent("""
    import sys
    pid, port = int(sys.argv[1]), sys.argv[2]
    import jax
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=pid)
    import jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import irt_jax as irt
    assert jax.process_count() == 2 and jax.device_count() == 2

    def estimate(key):  # one repetition of a variance study: d/da E[z] = 1
        return jax.grad(lambda a: irt.gamma.sample(
            key, irt.gamma.Params(a), (1000,)).mean())(2.0)

    keys = jax.random.split(jax.random.key(0), 64)
    local = jax.vmap(estimate)(keys[32 * pid:32 * (pid + 1)])  # this half only
    mesh = Mesh(np.array(jax.devices()), ("rep",))
    grads = jax.make_array_from_process_local_data(
        NamedSharding(mesh, P("rep")), np.asarray(local), (64,))
    stats = jax.jit(lambda g: jnp.stack([g.mean(), g.var()]),
                    out_shardings=NamedSharding(mesh, P()))(grads)
    print("STATS", *np.asarray(stats.addressable_data(0)).tolist(), flush=True)
""")


def _free_port():
  import socket
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_combine_to_the_single_process_result():
  import jax
  import numpy as np
  import irt_jax as irt
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env.pop("XLA_FLAGS", None)
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
  port = str(_free_port())
  procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(i), port], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for i in range(2)]
  outs = [p.communicate(timeout=300) for p in procs]
  for p, (out, err) in zip(procs, outs):
    assert p.returncode == 0 and "STATS" in out, err[-3000:]
  stats = [np.array(line.split()[1:], float) for out, _ in outs
           for line in out.splitlines() if line.startswith("STATS")]

  keys = jax.random.split(jax.random.key(0), 64)
  one = jax.vmap(lambda k: jax.grad(lambda a: irt.gamma.sample(
      k, irt.gamma.Params(a), (1000,)).mean())(2.0))(keys)
  want = np.array([one.mean(), one.var()])
  for got in stats:  # both processes hold the same combined result
    np.testing.assert_allclose(got, want, rtol=1e-12)
  assert abs(want[0] - 1.0) < 5 * np.sqrt(want[1] / 64)  # and it is unbiased
