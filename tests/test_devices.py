"""pmap over 4 host CPU devices gives the same numbers as a loop (subprocess,
since the device count is fixed when JAX starts)."""

import subprocess
import sys
import textwrap

from tests.util import subprocess_env

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
  env = subprocess_env(device_count=4)
  out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                       text=True, timeout=600)
  assert out.returncode == 0 and "PMAP_OK" in out.stdout, out.stderr[-3000:]


# --- two processes joined by jax.distributed, each holding half the keys ------
# Each process runs irt_jax.diagnostics.variance_study on its half of the
# repetitions (repetition_range), the per-process summaries are exchanged with a
# cross-process all-gather, and each process pools them (pooled mean / variance).
STUDY = dict(sizes=(100, 1000), repetitions=64)
WORKER = textwrap.dedent("""
    import sys
    pid, port = int(sys.argv[1]), sys.argv[2]
    import jax
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=pid)
    import numpy as np
    from jax.experimental import multihost_utils
    import irt_jax as irt
    from irt_jax import diagnostics, estimators
    assert jax.process_count() == 2 and jax.device_count() == 2
    sizes, R = %(sizes)r, %(repetitions)d
    half = diagnostics.variance_study(   # d/da E[z] = 1 for z ~ Gamma(a, 1)
        {"pathwise": estimators.pathwise}, lambda z: z, irt.gamma,
        irt.gamma.Params(2.0, 1.0), jax.random.key(0), sizes, R,
        repetition_range=(R // 2 * pid, R // 2 * (pid + 1)))
    assert half.repetitions == R // 2
    mine = np.stack([np.full(len(sizes), half.repetitions, float),
                     half.mean["pathwise"].concentration,
                     half.variance["pathwise"].concentration])
    both = np.asarray(multihost_utils.process_allgather(mine))   # (2, 3, sizes)
    assert both.shape == (2, 3, len(sizes)), both.shape
    n, m, v = both[:, 0], both[:, 1], both[:, 2]
    assert np.array_equal(both[pid], mine)   # row i is process i's own share
    total = n.sum(0)
    mean = (n * m).sum(0) / total
    var = ((n - 1) * v + n * (m - mean) ** 2).sum(0) / (total - 1)
    print("STATS", *np.concatenate([mean, var, np.sqrt(var / total)]).tolist(), flush=True)
""" % STUDY)


def _free_port():
  import socket
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_combine_to_the_single_process_result():
  import jax
  import numpy as np
  import irt_jax as irt
  env = subprocess_env()
  port = str(_free_port())
  procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(i), port], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for i in range(2)]
  outs = [p.communicate(timeout=300) for p in procs]
  for p, (out, err) in zip(procs, outs):
    assert p.returncode == 0 and "STATS" in out, err[-3000:]
  stats = [np.array(line.split()[1:], float) for out, _ in outs
           for line in out.splitlines() if line.startswith("STATS")]
  assert len(stats) == 2, outs

  from irt_jax import diagnostics, estimators
  one = diagnostics.variance_study(  # the single-process study over all keys
      {"pathwise": estimators.pathwise}, lambda z: z, irt.gamma,
      irt.gamma.Params(2.0, 1.0), jax.random.key(0), **STUDY)
  want = np.concatenate([one.mean["pathwise"].concentration,
                         one.variance["pathwise"].concentration,
                         one.stderr["pathwise"].concentration])
  for got in stats:  # both processes hold the same combined result
    np.testing.assert_allclose(got, want, rtol=1e-12)
  k = len(STUDY["sizes"])
  mean, stderr = want[:k], want[2 * k:]
  assert np.all(np.abs(mean - 1.0) < 5 * stderr), (mean, stderr)  # and it is unbiased


# --- jax.shard_map: keys sharded over 2 host devices, gradients pmean-ed -------
SHARD_MAP = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P
    jax.config.update("jax_enable_x64", True)
    import irt_jax as irt
    from irt_jax import mixture, truncated
    assert jax.device_count() == 2, jax.devices()
    mesh = jax.make_mesh((2,), ("d",))
    FAMILIES = {
        "normal": lambda t: (irt.normal, irt.normal.Params(t, 1.0)),
        "gamma": lambda t: (irt.gamma, irt.gamma.Params(t, 1.0)),
        "beta": lambda t: (irt.beta, irt.beta.Params(t, 2.0)),
        "student_t": lambda t: (irt.student_t, irt.student_t.Params(t + 1.0)),
        "von_mises": lambda t: (irt.von_mises, irt.von_mises.Params(0.3, t)),
        "dirichlet": lambda t: (irt.dirichlet, irt.dirichlet.Params(jnp.stack([t, 1.0, 3.0]))),
        "von_mises_fisher": lambda t: (irt.von_mises_fisher, irt.von_mises_fisher.Params(
            jnp.array([0.0, 0.6, 0.8]), t)),
        "truncated_normal": lambda t: (truncated.of(irt.normal), truncated.Params(
            irt.normal.Params(t, 1.0), -1.0, 2.0)),
        "mixture": lambda t: (mixture.of(irt.normal), mixture.Params(
            jnp.array([0.0, 0.5]), irt.normal.Params(jnp.stack([-t, t]), 1.0))),
    }
    keys = jax.random.split(jax.random.key(3), 2)
    sharded_keys = jax.device_put(keys, NamedSharding(mesh, P("d")))
    for name, make in FAMILIES.items():
        def grad_one(key, t, mode="vjp"):
            fam, _ = make(t)
            return jax.grad(lambda s: jnp.mean(fam.sample(key, make(s)[1], (64,), mode=mode)))(t)
        want = np.asarray(jax.jit(jax.vmap(grad_one, (0, None)))(keys, 2.0))

        # One program per family (compiles faster than one per variant).
        @jax.jit
        def sharded(ks, t, ts):
            # Parameters replicated, both rules: shard_map sums the cotangent of a
            # replicated input over the devices, so each device holds the total.
            totals = [jax.shard_map(lambda k, s: grad_one(k[0], s, mode), mesh=mesh,
                                    in_specs=(P("d"), P()), out_specs=P())(ks, t)
                      for mode in ("vjp", "jvp")]
            # Parameters sharded too: one gradient per device.
            each = jax.shard_map(lambda k, s: grad_one(k[0], s[0])[None], mesh=mesh,
                                 in_specs=(P("d"), P("d")), out_specs=P("d"))(ks, ts)
            return totals, each

        ts = jax.device_put(jnp.full((2,), 2.0), NamedSharding(mesh, P("d")))
        totals, each = sharded(sharded_keys, 2.0, ts)
        for mode, total in zip(("vjp", "jvp"), totals):  # against the unsharded vjp rule
            np.testing.assert_allclose(np.asarray(total), want.sum(), rtol=1e-10, atol=1e-12,
                                       err_msg=f"{name} {mode} replicated")
        np.testing.assert_allclose(np.asarray(each), want, rtol=1e-10, atol=1e-12,
                                   err_msg=f"{name} sharded")
    print("SHARD_MAP_OK")
""")


def test_every_family_inside_shard_map_equals_the_unsharded_result():
  """The rejection samplers' loops (gamma, beta, Dirichlet, von Mises, vMF) carry
  values that vary over the manual axis; every family's gradient in both modes
  works under jax.shard_map and equals the unsharded gradient for the same keys."""
  env = subprocess_env(device_count=2)
  out = subprocess.run([sys.executable, "-c", SHARD_MAP], env=env, capture_output=True,
                       text=True, timeout=900)
  assert out.returncode == 0 and "SHARD_MAP_OK" in out.stdout, out.stderr[-3000:]
