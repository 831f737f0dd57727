"""The bidirectional GRU vs torch.nn.GRU and a NumPy reference of its equations."""

import numpy as np
import pytest
import jax
import jax.numpy as jnp
from flax import nnx

from inrv_jax.models import clip_vision
from inrv_jax.models import gru as gru_lib
from inrv_jax.models import from_torch

IN, HIDDEN, LAYERS, B, T = 6, 5, 3, 2, 7


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def _torch_named_weights(rng, prefix="") -> dict[str, np.ndarray]:
  state = {}
  for k in range(LAYERS):
    fan_in = IN if k == 0 else 2 * HIDDEN
    for suffix in ("", "_reverse"):
      for name, shape in [("weight_ih", (3 * HIDDEN, fan_in)), ("weight_hh", (3 * HIDDEN, HIDDEN)),
                          ("bias_ih", (3 * HIDDEN,)), ("bias_hh", (3 * HIDDEN,))]:
        state[f"{prefix}{name}_l{k}{suffix}"] = rng.uniform(-0.5, 0.5, shape).astype(np.float32)
  return state


def _numpy_direction(x, w_ih, w_hh, b_ih, b_hh, reverse):
  """torch.nn.GRU's documented equations, one time step at a time. x (B, T, in)."""
  h = np.zeros((x.shape[0], w_hh.shape[1]))
  out = np.zeros((x.shape[0], x.shape[1], w_hh.shape[1]))
  steps = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
  for t in steps:
    xr, xz, xn = np.split(x[:, t] @ w_ih.T + b_ih, 3, axis=-1)
    hr, hz, hn = np.split(h @ w_hh.T + b_hh, 3, axis=-1)
    r, z = _sigmoid(xr + hr), _sigmoid(xz + hz)
    n = np.tanh(xn + r * hn)
    h = (1 - z) * n + z * h
    out[:, t] = h
  return out


def _numpy_gru(x, state):
  for k in range(LAYERS):
    directions = [_numpy_direction(x, *(state[f"{n}_l{k}{s}"] for n in
                                        ("weight_ih", "weight_hh", "bias_ih", "bias_hh")),
                                   reverse=bool(s)) for s in ("", "_reverse")]
    x = np.concatenate(directions, axis=-1)
  return x


@nnx.jit
def _run(model, x, key=None):
  return model(x, key)


def _gru(state, dropout_rate=0.0) -> gru_lib.GRU:
  model = gru_lib.GRU(IN, HIDDEN, LAYERS, bidirectional=True, dropout_rate=dropout_rate,
                      rngs=nnx.Rngs(0))
  clip_vision.load_params(model, from_torch.gru_params_from_torch(state), nnx.Param)
  return model


def test_matches_numpy_reference():
  rng = np.random.default_rng(0)
  state = _torch_named_weights(rng, prefix="clip.gru.")
  x = rng.normal(size=(B, T, IN)).astype(np.float32)
  got = _run(_gru(state), jnp.asarray(x))
  assert got.shape == (B, T, 2 * HIDDEN)
  np.testing.assert_allclose(np.asarray(got), _numpy_gru(x, {k[len("clip.gru."):]: v
                                                              for k, v in state.items()}),
                             atol=1e-5)


def test_matches_torch_gru_in_eval_mode():
  torch = pytest.importorskip("torch")
  torch.manual_seed(0)
  ref = torch.nn.GRU(IN, HIDDEN, num_layers=LAYERS, batch_first=True, bidirectional=True,
                     dropout=0.1).eval()
  state = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
  x = np.random.default_rng(1).normal(size=(B, T, IN)).astype(np.float32)
  with torch.no_grad():
    want, _ = ref(torch.from_numpy(x))
  got = _run(_gru(state, dropout_rate=0.1), jnp.asarray(x))
  np.testing.assert_allclose(np.asarray(got), want.numpy(), atol=1e-5)


def test_init_matches_torch_bounds_and_shapes():
  model = gru_lib.GRU(IN, HIDDEN, LAYERS, rngs=nnx.Rngs(0))
  leaves = jax.tree.leaves(nnx.state(model, nnx.Param))
  assert len(leaves) == LAYERS * 2 * 4
  assert max(float(jnp.abs(leaf).max()) for leaf in leaves) <= HIDDEN ** -0.5
  layer1 = model.layers[1].forward
  assert layer1.ih_kernel.shape == (2 * HIDDEN, 3 * HIDDEN)


def test_dropout_only_with_a_key_and_not_after_the_last_layer():
  rng = np.random.default_rng(2)
  model = _gru(_torch_named_weights(rng), dropout_rate=0.5)
  x = jnp.asarray(rng.normal(size=(B, T, IN)).astype(np.float32))
  plain = _run(model, x)
  np.testing.assert_array_equal(_run(model, x, None), plain)
  key = jax.random.key(0)
  dropped = _run(model, x, key)
  assert not np.allclose(dropped, plain)
  np.testing.assert_array_equal(_run(model, x, key), dropped)  # deterministic given the key
  one_layer = gru_lib.GRU(IN, HIDDEN, 1, dropout_rate=0.5, rngs=nnx.Rngs(0))
  np.testing.assert_array_equal(_run(one_layer, x, key), _run(one_layer, x))


def test_unidirectional():
  model = gru_lib.GRU(IN, HIDDEN, 2, bidirectional=False, rngs=nnx.Rngs(0))
  assert nnx.eval_shape(lambda m, x: m(x), model, jnp.ones((B, T, IN))).shape == (B, T, HIDDEN)
