r"""Importance-weighted objectives: the IWAE bound, DReG and sticking the landing.

With ``K`` draws ``z_k ~ q_phi`` (reparameterized: every irt_jax family),
log weights ``log w_k = f(z_k) - log q_phi(z_k)`` (``f = log p(x, z)``, the
model's log joint) and normalized weights ``w~_k = w_k / sum_j w_j``, the
importance-weighted bound (Burda, Grosse & Salakhutdinov, ICLR 2016) is

.. math::  \mathcal L_K = E\Big[\log \frac1K \sum_{k=1}^K w_k\Big]
           \le \log p(x),

(``K = 1``: the ELBO). Its gradient with respect to the variational
parameters ``phi`` has three estimators here, as scalar *objectives* whose
``jax.grad`` is the estimator, with the same signature as the other
estimators (``f``, ``family``, ``params``, ``key``, ``num_samples = K``):

* :func:`iwae_bound`: the plain reparameterized gradient of
  ``log mean_k w_k``, ``sum_k w~_k (d log w_k/dz_k dz_k/dphi - s_k)``,
  ``s_k = d log q_phi(z_k)/dphi`` at fixed ``z``: the score term makes its
  signal-to-noise ratio fall like ``1/sqrt(K)`` (Rainforth et al., ICML 2018).
* :func:`dreg`: the doubly-reparameterized gradient (Tucker, Lawson, Gu &
  Maddison, ICLR 2019) ``sum_k w~_k^2 d log w_k/dz_k dz_k/dphi``: the score
  term, rewritten by a second reparameterization, has the same expectation;
  unbiased for ``L_K``, its SNR grows with ``K``.
* :func:`sticking_the_landing`: ``sum_k w~_k d log w_k/dz_k dz_k/dphi``, the
  score term dropped (Roeder, Wu & Duvenaud, NeurIPS 2017): unbiased for
  ``K = 1`` (``E[s] = 0``), **biased** for ``K > 1`` (Tucker et al. 2019,
  section 4), and zero variance when ``q`` is the exact posterior.

In all three ``log q`` inside ``d log w/dz`` is evaluated with
``stop_gradient``-ed parameters, so the gradient reaches ``phi`` through the
draws only; the families need ``sample`` and ``log_prob`` and nothing else.
Each objective's *value* is ``log mean_k w_k``, and its gradient with respect
to anything ``f`` closes over (the model's parameters ``theta``) is the IWAE
one, ``sum_k w~_k d f(z_k)/dtheta``: one loss serves a training step for
both. For a batch of data points each with its own bound, ``jax.vmap`` the
objective over them (``f`` maps one draw of the params' shape to a scalar,
so without vmap the bound is taken over the whole draw at once).

References:
  Y. Burda, R. Grosse, R. Salakhutdinov, "Importance weighted autoencoders",
  ICLR 2016.
  G. Roeder, Y. Wu, D. Duvenaud, "Sticking the landing: simple, lower-variance
  gradient estimators for variational inference", NeurIPS 2017.
  T. Rainforth, A. Kosiorek, T. A. Le, C. Maddison, M. Igl, F. Wood, Y. W. Teh,
  "Tighter variational bounds are not necessarily better", ICML 2018.
  G. Tucker, D. Lawson, S. Gu, C. Maddison, "Doubly reparameterized gradient
  estimators for Monte Carlo objectives", ICLR 2019.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from irt_jax._src import montecarlo as _mc
from irt_jax._src import utils

PyTree = Any
Cost = _mc.Cost

_sg = jax.lax.stop_gradient


def _check(f, family, params, key, num_samples):
  _mc.check_family(family, "sample", "log_prob")
  if not callable(f):
    raise ValueError(f"f: expected a callable log joint f(z) -> scalar, got {f!r}")
  num_samples = _mc.check_num_samples(num_samples)
  params = _mc.prepare_params(family, params)
  key = utils.check_key(key)
  _mc.validate(family, params)
  return params, key, num_samples


def _log_weights(f, family, params, keys, stop_q):
  """``(z_k, log w_k)`` with draws reparameterized in ``params``; ``log q``
  at stopped params when ``stop_q``."""
  q_params = _sg(params) if stop_q else params

  def one(k):
    z = family.sample(k, params)
    cost = _mc.scalar_cost(f, z)
    return z, cost - jnp.sum(family.log_prob(q_params, z))

  return jax.vmap(one)(keys)


def _log_mean_exp(lw):
  return jax.nn.logsumexp(lw) - jnp.log(jnp.asarray(lw.shape[0], lw.dtype))


def _objective(kind, f, family, num_samples, params, key):
  keys = _mc.sample_keys(key, num_samples)
  if kind == "iwae":
    return _log_mean_exp(_log_weights(f, family, params, keys, False)[1])
  z, lw = _log_weights(f, family, params, keys, True)
  w = _sg(jax.nn.softmax(lw))             # normalized weights, held fixed
  coef = w * w if kind == "dreg" else w   # the phi-path's weights
  # theta-path (f's closed-over parameters): weights w in total, i.e. coef on
  # the reparameterized term and (w - coef) on f at stopped draws.
  f_fixed = jax.vmap(f)(_sg(z))
  surrogate = jnp.sum(coef * lw) + jnp.sum((w - coef) * f_fixed)
  # Value: the bound itself (the surrogate's value carries no meaning).
  return surrogate - _sg(surrogate) + _log_mean_exp(_sg(lw))


def iwae_bound(f: Cost, family: Any, params: PyTree, key: Any,
               num_samples: int) -> jax.Array:
  r"""The importance-weighted bound ``log (1/K) sum_k w_k``, reparameterized.

  .. math::  \hat{\mathcal L}_K = \log \frac1K \sum_{k=1}^K
             \frac{p(x, z_k)}{q_\phi(z_k)}, \qquad z_k \sim q_\phi,\;
             E[\hat{\mathcal L}_K] \le \log p(x)

  (Burda et al., ICLR 2016; ``K = 1``: the ELBO's one-draw estimate).
  ``jax.grad`` of it is the plain IWAE gradient estimator (pathwise through
  the draws *and* through ``log q``'s parameters). Its gradient with respect
  to ``params`` has a signal-to-noise ratio that falls like ``1/sqrt(K)``
  (Rainforth et al., ICML 2018): prefer :func:`dreg` for ``params``. See
  :mod:`irt_jax._src.importance_weighted` for the notation.

  Args:
    f: the log joint ``f(z) = log p(x, z) -> scalar`` for one draw ``z``
      (the params' batch + event shape); may close over model parameters.
    family: a family (``Params``, ``sample`` with gradients, ``log_prob``).
    params: ``family.Params`` of ``q``.
    key: a PRNG key (draw ``k`` uses ``jax.random.split(key, K)[k]``, as every
      estimator: :func:`dreg` with the same key sees the same draws).
    num_samples: ``K >= 1`` (static).

  Returns:
    The scalar bound estimate.

  Raises:
    ValueError: ``num_samples < 1``, invalid concrete params (named).

  >>> import jax, jax.numpy as jnp, irt_jax as irt
  >>> from irt_jax import estimators
  >>> x = 1.0          # p(z) = N(0, 1), p(x|z) = N(z, 1): log p(x) = log N(x; 0, 2)
  >>> log_joint = lambda z: (irt.normal.log_prob(irt.normal.Params(0.0, 1.0), z)
  ...                        + irt.normal.log_prob(irt.normal.Params(z, 1.0), x))
  >>> q = irt.normal.Params(0.5, 0.5 ** 0.5)       # the exact posterior: w_k = p(x)
  >>> b = estimators.iwae_bound(log_joint, irt.normal, q, jax.random.key(0), 8)
  >>> round(float(b), 5), round(float(irt.normal.log_prob(irt.normal.Params(0.0, 2 ** 0.5), x)), 5)
  (-1.51551, -1.51551)
  """
  params, key, num_samples = _check(f, family, params, key, num_samples)
  return _mc.call(_objective, ("iwae", f, family, num_samples), params, key)


def dreg(f: Cost, family: Any, params: PyTree, key: Any,
         num_samples: int) -> jax.Array:
  r"""Surrogate whose ``jax.grad`` is the doubly-reparameterized IWAE gradient.

  .. math::  \nabla_\phi \mathcal L_K \approx \sum_{k=1}^K \tilde w_k^2\,
             \frac{\partial \log w_k}{\partial z_k}
             \frac{\partial z_k}{\partial \phi},
             \qquad \log w_k = f(z_k) - \log q_{\bot(\phi)}(z_k)

  (Tucker, Lawson, Gu & Maddison, ICLR 2019, eq. 5; ``\bot`` =
  stop-gradient, ``w~`` the normalized weights, held fixed). Unbiased for
  the gradient of the IWAE bound :func:`iwae_bound` (its score term
  ``-sum_k w~_k s_k`` is replaced by its doubly-reparameterized form, of
  equal expectation); its signal-to-noise ratio in ``phi`` does not fall
  with ``K`` as the plain one does (``benchmarks/iwae_snr.py``). The value is
  the bound ``log mean_k w_k``; the gradient with respect to parameters that
  ``f`` closes over is the IWAE one, ``sum_k w~_k df(z_k)/dtheta``, so one
  loss trains both the model and ``q``. At the exact posterior every draw's
  ``phi``-gradient is 0.

  Args:
    f: the log joint ``f(z) = log p(x, z) -> scalar`` for one draw ``z``,
      differentiable in ``z``; may close over model parameters.
    family: a reparameterized family (every irt_jax family).
    params: ``family.Params`` of ``q`` (differentiate the result with respect
      to them).
    key: a PRNG key (the same draws as :func:`iwae_bound` with this key).
    num_samples: ``K >= 1`` (static).

  Returns:
    The scalar surrogate (value: the IWAE bound estimate).

  Raises:
    ValueError: ``num_samples < 1``, invalid concrete params (named).

  >>> import jax, irt_jax as irt
  >>> from irt_jax import estimators
  >>> log_joint = lambda z: (irt.normal.log_prob(irt.normal.Params(0.0, 1.0), z)
  ...                        + irt.normal.log_prob(irt.normal.Params(z, 1.0), 1.0))
  >>> q = irt.normal.Params(0.5, 0.5 ** 0.5)       # the exact posterior
  >>> g = jax.grad(lambda p: estimators.dreg(log_joint, irt.normal, p,
  ...                                        jax.random.key(0), 8))(q)
  >>> round(abs(float(g.loc)), 9), round(abs(float(g.scale)), 9)
  (0.0, 0.0)
  """
  params, key, num_samples = _check(f, family, params, key, num_samples)
  return _mc.call(_objective, ("dreg", f, family, num_samples), params, key)


def sticking_the_landing(f: Cost, family: Any, params: PyTree, key: Any,
                         num_samples: int) -> jax.Array:
  r"""Surrogate whose ``jax.grad`` is the sticking-the-landing gradient.

  .. math::  \sum_{k=1}^K \tilde w_k\, \frac{\partial \log w_k}{\partial z_k}
             \frac{\partial z_k}{\partial \phi},
             \qquad \log w_k = f(z_k) - \log q_{\bot(\phi)}(z_k)

  (Roeder, Wu & Duvenaud, NeurIPS 2017): the reparameterized gradient with
  the score term ``-sum_k w~_k s_k`` dropped. For ``K = 1`` (the ELBO) it is
  unbiased (``E[s] = 0``) and has zero variance at the exact posterior.
  For ``K > 1`` it is **biased** for the IWAE gradient (``E[w~_k s_k] != 0``;
  Tucker et al., ICLR 2019, section 4): use :func:`dreg` there. Value and
  gradient with respect to ``f``'s closed-over parameters as in
  :func:`dreg`.

  Args:
    f: the log joint ``f(z) = log p(x, z) -> scalar`` for one draw ``z``.
    family: a reparameterized family (every irt_jax family).
    params: ``family.Params`` of ``q``.
    key: a PRNG key.
    num_samples: ``K >= 1`` (static).

  Returns:
    The scalar surrogate (value: the IWAE bound estimate).

  Raises:
    ValueError: ``num_samples < 1``, invalid concrete params (named).

  >>> import jax, irt_jax as irt
  >>> from irt_jax import estimators
  >>> log_joint = lambda z: (irt.normal.log_prob(irt.normal.Params(0.0, 1.0), z)
  ...                        + irt.normal.log_prob(irt.normal.Params(z, 1.0), 1.0))
  >>> q = irt.normal.Params(0.0, 1.0)     # ELBO gradient: (x - 2 mu, 1/sigma - 2 sigma)
  >>> stl = jax.grad(lambda p, k: estimators.sticking_the_landing(
  ...     log_joint, irt.normal, p, k, 1))
  >>> g = jax.vmap(stl, (None, 0))(q, jax.random.split(jax.random.key(0), 20000))
  >>> round(float(g.loc.mean()), 1), round(float(g.scale.mean()), 1)
  (1.0, -1.0)
  """
  params, key, num_samples = _check(f, family, params, key, num_samples)
  return _mc.call(_objective, ("stl", f, family, num_samples), params, key)
