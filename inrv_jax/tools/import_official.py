"""Import the authors' released PyTorch checkpoint into an inrv_jax workdir.

  python -m inrv_jax.tools.import_official --checkpoint PATH --workdir DIR \
      [--config=configs/faces.py[:VARIANT]] [--config.data.height=...]

The file (`{'model': state_dict, 'optim': ..., 'learned_latents': ...}`, see
INRV_SPEC.md "The released checkpoint") is read with `torch_pickle`, which
refuses anything but tensor reconstruction. Every tensor is mapped:
  latent_codes.weight (N, E)                -> latent_table (N, E)
  hyper_net.nets.{i}.net.{j}.0.weight (o, i) -> hypernet.heads[i].layers[j].kernel (i, o)
  hyper_net.nets.{i}.net.{j}.0.bias          -> hypernet.heads[i].layers[j].bias
  clip.gru.*                                 -> conditioner.gru   (models/from_torch.py)
  mergeclipinstance.{0,2}.*                  -> conditioner.merge1/merge2
  clip.model.visual.*                        -> conditioner.clip  (frozen; stored in
                                                the checkpoint's `frozen` item)
The unused `net.*` INR, CLIP's text tower and `optim` are not imported (the
Adam state starts fresh). Architecture sizes and the number of videos are read
from the tensor shapes and checked against the config; a mismatch names the
key and both shapes.

Latents (`seen_latents`, what `TrainedModel.latents` holds for CLIP models):
  * conditioning="clip": z depends on the video frames, so the post-merge z
    recorded in `learned_latents` IS the model's latent of each video; every
    training index must be present.
  * otherwise the table rows are the latents (z = row); `learned_latents`, when
    present, are stored as seen_latents for rows they cover (rows they miss
    keep the table row), and `TrainedModel.latents` stays the table.

The workdir is written to a temporary sibling and renamed into place at the
end, so a failed import leaves no half-written workdir.
"""

import pathlib
import shutil
import tempfile

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app
from absl import flags
from absl import logging
from flax import nnx
from ml_collections import config_flags

from inrv_jax.training import checkpoints
from inrv_jax.runtime import cpu_runtime
from inrv_jax import config_defaults
from inrv_jax import errors
from inrv_jax.formats import torch_pickle
from inrv_jax.training import stages
from inrv_jax.models import clip_vision
from inrv_jax.models import from_torch
from inrv_jax.models import inrv as inrv_lib

HEAD = "hyper_net.nets.{i}.net.{j}.0.{kind}"
TABLE = "latent_codes.weight"
GRU_PREFIX, MERGE_PREFIX, CLIP_PREFIX = "clip.gru.", "mergeclipinstance.", "clip.model."
VISUAL_PREFIX = CLIP_PREFIX + "visual."
IGNORED_PREFIXES = ("net.", CLIP_PREFIX)  # unused INR; CLIP text tower (visual.* is used)
DEFAULT_CONFIG = pathlib.Path(__file__).resolve().parents[2] / "configs" / "faces.py"


class CheckpointImportError(errors.UserError):
  """The file is not a usable INR-V checkpoint for this config."""


class UnsafeCheckpointError(CheckpointImportError):
  """The pickle asks to run something other than tensor reconstruction."""

# ------------------------------------------------------------------ reading


def read_checkpoint(path: pathlib.Path) -> tuple[dict, dict | None]:
  """(flat state dict of float arrays, learned_latents or None) of the authors' file."""
  if not path.is_file():
    raise CheckpointImportError(f"{path}: no such checkpoint file")
  try:
    blob = torch_pickle.load(path)
  except torch_pickle.UnsafePickleError as err:
    raise UnsafeCheckpointError(f"{err}; nothing was imported") from err
  except (ValueError, EOFError, KeyError, OSError) as err:
    raise CheckpointImportError(f"{path}: not a readable PyTorch checkpoint ({err})") from err
  state = blob.get("model", blob) if isinstance(blob, dict) else None
  if not isinstance(state, dict) or TABLE not in state:
    raise CheckpointImportError(
        f"{path}: not an INR-V checkpoint (expected a dict with 'model' holding {TABLE!r} "
        "and hyper_net.nets.* tensors)")
  learned = blob.get("learned_latents") if "model" in blob else None
  return {k: np.asarray(v) for k, v in state.items() if isinstance(v, np.ndarray)}, learned


def infer_sizes(state: dict) -> dict:
  """Model sizes implied by the tensor shapes (for messages and checks)."""
  heads = sum(1 for k in state if k.startswith("hyper_net.nets.") and k.endswith(".net.0.0.weight"))
  layers = sum(1 for k in state
               if k.startswith("hyper_net.nets.0.net.") and k.endswith(".0.weight"))
  first = state.get(HEAD.format(i=0, j=0, kind="weight"))
  sizes = {"num_videos": state[TABLE].shape[0], "table_dim": state[TABLE].shape[1],
           "heads": heads, "head_layers": layers,
           "conditioning": "clip" if any(k.startswith(GRU_PREFIX) for k in state) else "none"}
  if first is not None:
    sizes.update(latent_dim=first.shape[1], hypernet_hidden=first.shape[0])
  outs = [state.get(HEAD.format(i=i, j=layers - 1, kind="bias")) for i in range(heads)]
  if heads >= 2 and all(o is not None for o in outs):
    inr_hidden = outs[1].shape[0]
    sizes.update(inr_hidden=inr_hidden, inr_hidden_layers=heads // 2 - 1,
                 inr_in_features=outs[0].shape[0] // max(inr_hidden, 1))
  return sizes

# ------------------------------------------------------------------ expected layout


def expected_shapes(model_config: ml_collections.ConfigDict, num_videos: int) -> dict:
  """{authors' key: (shape, config fields that set it)} for every tensor we import."""
  m = model_config
  spec = inrv_lib.inr_spec_from_config(m)
  clip = m.conditioning == "clip"
  out = {TABLE: ((num_videos, m.clip.table_dim if clip else m.latent_dim),
                 "model.clip.table_dim" if clip else "model.latent_dim")}
  dims = [m.latent_dim] + [m.hypernet_hidden] * m.hypernet_hidden_layers
  for i, shape in enumerate(spec.shapes):
    head_dims = dims + [int(np.prod(shape))]
    for j, (fan_in, fan_out) in enumerate(zip(head_dims[:-1], head_dims[1:])):
      why = "model.latent_dim, model.hypernet_hidden, model.hypernet_hidden_layers, model.inr.*"
      out[HEAD.format(i=i, j=j, kind="weight")] = ((fan_out, fan_in), why)
      out[HEAD.format(i=i, j=j, kind="bias")] = ((fan_out,), why)
  if not clip:
    return out
  h = m.clip.gru_hidden
  for k in range(m.clip.gru_layers):
    for sfx in ("", "_reverse"):
      fan_in = m.clip.output_dim if k == 0 else 2 * h
      why = "model.clip.gru_hidden, model.clip.gru_layers, model.clip.output_dim"
      out[f"{GRU_PREFIX}weight_ih_l{k}{sfx}"] = ((3 * h, fan_in), why)
      out[f"{GRU_PREFIX}weight_hh_l{k}{sfx}"] = ((3 * h, h), why)
      out[f"{GRU_PREFIX}bias_ih_l{k}{sfx}"] = ((3 * h,), why)
      out[f"{GRU_PREFIX}bias_hh_l{k}{sfx}"] = ((3 * h,), why)
  why = "model.clip.merge_hidden, model.clip.gru_hidden, model.clip.table_dim, model.latent_dim"
  out[MERGE_PREFIX + "0.weight"] = ((m.clip.merge_hidden, 2 * h + m.clip.table_dim), why)
  out[MERGE_PREFIX + "0.bias"] = ((m.clip.merge_hidden,), why)
  out[MERGE_PREFIX + "2.weight"] = ((m.latent_dim, m.clip.merge_hidden), why)
  out[MERGE_PREFIX + "2.bias"] = ((m.latent_dim,), why)
  out.update(_visual_shapes(m))
  return out


def _visual_shapes(m: ml_collections.ConfigDict) -> dict:
  """OpenAI CLIP `visual.*` tensors of the configured ViT."""
  w, p, why = m.clip.width, m.clip.patch_size, "model.clip_* (ViT sizes)"
  tokens = 1 + (m.clip.image_size // p) ** 2
  v = VISUAL_PREFIX
  out = {f"{v}conv1.weight": (w, 3, p, p), f"{v}class_embedding": (w,),
         f"{v}positional_embedding": (tokens, w), f"{v}proj": (w, m.clip.output_dim)}
  for ln in ("ln_pre", "ln_post"):
    out[f"{v}{ln}.weight"] = out[f"{v}{ln}.bias"] = (w,)
  for i in range(m.clip.layers):
    b = f"{v}transformer.resblocks.{i}."
    out.update({f"{b}attn.in_proj_weight": (3 * w, w), f"{b}attn.in_proj_bias": (3 * w,),
                f"{b}attn.out_proj.weight": (w, w), f"{b}attn.out_proj.bias": (w,),
                f"{b}mlp.c_fc.weight": (4 * w, w), f"{b}mlp.c_fc.bias": (4 * w,),
                f"{b}mlp.c_proj.weight": (w, 4 * w), f"{b}mlp.c_proj.bias": (w,)})
    for ln in ("ln_1", "ln_2"):
      out[f"{b}{ln}.weight"] = out[f"{b}{ln}.bias"] = (w,)
  return {k: (shape, why) for k, shape in out.items()}


def check_shapes(path: pathlib.Path, state: dict, model_config: ml_collections.ConfigDict):
  """UserError naming the first key whose shape (or presence) disagrees with the config."""
  sizes = infer_sizes(state)
  looks = ", ".join(f"{k}={v}" for k, v in sizes.items())
  want_clip = model_config.conditioning == "clip"
  if want_clip != (sizes["conditioning"] == "clip"):
    raise CheckpointImportError(
        f"{path}: the checkpoint {'has' if not want_clip else 'has no'} CLIP conditioning "
        f"({GRU_PREFIX}* tensors) but the config says model.conditioning="
        f"{model_config.conditioning!r}; use a config that matches (e.g. configs/faces.py for "
        f"CLIP, configs/faces.py:plain otherwise). The checkpoint looks like: {looks}")
  expected = expected_shapes(model_config, sizes["num_videos"])
  for key, (want, why) in expected.items():
    if key not in state:
      raise CheckpointImportError(f"{path}: missing tensor {key!r} (expected shape {want} from the "
                         f"config's {why}). The checkpoint looks like: {looks}")
    got = tuple(state[key].shape)
    if got != tuple(want):
      raise CheckpointImportError(
          f"{path}: {key} has shape {got} in the checkpoint but the config ({why}) "
          f"expects {tuple(want)}. The checkpoint looks like: {looks}")
  extra = sorted(k for k in state if k not in expected and not k.startswith(IGNORED_PREFIXES))
  if extra:
    raise CheckpointImportError(f"{path}: tensors the config has no place for: {extra[:8]}"
                       f"{' ...' if len(extra) > 8 else ''}. The checkpoint looks like: {looks}")

# ------------------------------------------------------------------ mapping


def _subdict(state: dict, prefix: str) -> dict:
  return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def param_tree(state: dict, model_config: ml_collections.ConfigDict) -> dict:
  """The pure dict of `nnx.state(INRV, nnx.Param)` filled from the authors' tensors."""
  spec = inrv_lib.inr_spec_from_config(model_config)
  f32 = lambda x: np.asarray(x, np.float32)  # pylint: disable=unnecessary-lambda-assignment
  heads = {}
  for i in range(len(spec.shapes)):
    layers = {}
    for j in range(model_config.hypernet_hidden_layers + 1):
      layers[j] = {"kernel": f32(state[HEAD.format(i=i, j=j, kind="weight")]).T,
                   "bias": f32(state[HEAD.format(i=i, j=j, kind="bias")])}
    heads[i] = {"layers": layers}
  tree = {"latent_table": f32(state[TABLE]), "hypernet": {"heads": heads}}
  if model_config.conditioning == "clip":
    tree["conditioner"] = {
        "gru": from_torch.gru_params_from_torch(_subdict(state, GRU_PREFIX)),
        **from_torch.merge_params_from_torch(_subdict(state, MERGE_PREFIX))}
  return tree


def sampling_latents(path: pathlib.Path, learned, table: np.ndarray,
                     model_config: ml_collections.ConfigDict) -> np.ndarray:
  """seen_latents (N, latent_dim) from `learned_latents` (see the module docstring)."""
  num_videos, latent_dim = table.shape[0], model_config.latent_dim
  clip = model_config.conditioning == "clip"
  if learned is None:
    if clip:
      raise CheckpointImportError(
          f"{path}: a CLIP-conditioned checkpoint without 'learned_latents'; the latent of a "
          "training video depends on its frames, so there are no latents to sample from")
    return table.astype(np.float32)
  if not isinstance(learned, dict):
    raise CheckpointImportError(f"{path}: 'learned_latents' is a {type(learned).__name__}, "
                                "expected "
                       "a dict {video index: [None, None, z]}")
  out = np.full((num_videos, latent_dim), np.nan, np.float32) if clip else table.astype(np.float32)
  covered = set()
  for index, entry in learned.items():
    z = entry[-1] if isinstance(entry, (list, tuple)) else entry
    z = np.asarray(z, np.float32).reshape(-1) if isinstance(z, np.ndarray) else None
    if z is None or z.shape != (latent_dim,):
      raise CheckpointImportError(f"{path}: learned_latents[{index!r}] is not a z of {latent_dim} "
                                  "numbers "
                         f"(model.latent_dim={latent_dim})")
    if not isinstance(index, (int, np.integer)) or not 0 <= int(index) < num_videos:
      raise CheckpointImportError(f"{path}: learned_latents has index {index!r}, but the latent "
                         f"table ({TABLE}) holds {num_videos} videos")
    out[int(index)] = z
    covered.add(int(index))
  missing = sorted(set(range(num_videos)) - covered)
  if clip and missing:
    raise CheckpointImportError(f"{path}: learned_latents lacks {len(missing)} of {num_videos} "
                       f"training videos (e.g. {missing[:5]}); their z can't be recovered "
                       "without the videos")
  return out


def build_module(state: dict, config: ml_collections.ConfigDict, num_videos: int):
  """(graphdef, params, frozen) of an INRV holding the authors' tensors."""
  build_config = config.model.copy_and_resolve_references()
  build_config.clip.pretrained = False  # CLIP comes from the checkpoint itself
  module = inrv_lib.INRV(build_config, num_videos, rngs=nnx.Rngs(config.seed))
  if config.model.conditioning == "clip":
    clip_vision.load_params(module.conditioner.clip,
                            from_torch.clip_params_from_openai(_subdict(state, CLIP_PREFIX)))
  graphdef, params, frozen = nnx.split(module, nnx.Param, ...)
  tree = param_tree(state, config.model)
  want = jax.tree.map(np.shape, nnx.to_pure_dict(params))
  if jax.tree.map(np.shape, tree) != want:  # a bug here, not in the user's file
    raise AssertionError("imported parameter tree does not match the model's")
  nnx.replace_by_pure_dict(params, jax.tree.map(jnp.asarray, tree))
  return graphdef, params, frozen

# ------------------------------------------------------------------ writing


def _write_workdir(tmp: pathlib.Path, config, params, frozen, seen: np.ndarray, meta: dict):
  num_videos = meta["num_videos"]
  tx = stages.make_optimizer(config, stages.plan_for(config, num_videos))
  state = checkpoints.new_state(params, tx, config.seed, jnp.asarray(seen))
  mngr = checkpoints.manager(tmp, config.train.keep_checkpoints)
  checkpoints.save(mngr, 0, state, meta, frozen if jax.tree.leaves(frozen) else None)
  checkpoints.close(mngr)
  checkpoints.write_config(tmp, config)


def import_checkpoint(checkpoint: str | pathlib.Path, workdir: str | pathlib.Path,
                      config: ml_collections.ConfigDict) -> pathlib.Path:
  """Read, check, map and write; returns the workdir. Raises errors.UserError subclasses."""
  path = pathlib.Path(checkpoint).expanduser()
  workdir = pathlib.Path(workdir).expanduser().resolve()
  if workdir.exists() and (not workdir.is_dir() or any(workdir.iterdir())):
    raise CheckpointImportError(
        f"{workdir}: exists and is not an empty directory; choose a new --workdir")
  config = config.copy_and_resolve_references()
  state, learned = read_checkpoint(path)
  check_shapes(path, state, config.model)
  num_videos = state[TABLE].shape[0]
  seen = sampling_latents(path, learned, state[TABLE], config.model)
  _, params, frozen = build_module(state, config, num_videos)
  meta = {"num_videos": num_videos, "stage": 0, "step": 0, "imported_from": str(path),
          "frozen_in_checkpoint": bool(jax.tree.leaves(frozen))}
  workdir.parent.mkdir(parents=True, exist_ok=True)
  tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{workdir.name}.importing-", dir=workdir.parent))
  try:
    _write_workdir(tmp, config, params, frozen, seen, meta)
    if workdir.exists():
      workdir.rmdir()  # empty, checked above
    tmp.rename(workdir)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  return workdir

# ------------------------------------------------------------------ command line


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)  # Orbax is chatty at INFO
  config = FLAGS.config
  if config is None:  # no --config and no configs/faces.py beside the package
    config = config_defaults.base_config()
    config.data.num_frames, config.data.height, config.data.width = 25, 100, 100
  with errors.exit_on_user_error():
    workdir = import_checkpoint(FLAGS.checkpoint, FLAGS.workdir, config)
  print(f"imported {FLAGS.checkpoint} into {workdir}; in Python: "
        f"model = inrv_jax.load({str(workdir)!r}); inrv_jax.render(model, model.latents[:4])")


if __name__ == "__main__":
  cpu_runtime.use_cpu_settings()  # before JAX starts; may restart with huge pages
  FLAGS = flags.FLAGS
  config_flags.DEFINE_config_file(
      "config", str(DEFAULT_CONFIG) if DEFAULT_CONFIG.is_file() else None,
      "Config the checkpoint was trained with (configs/NAME.py[:variant]; default "
      "configs/faces.py).", lock_config=False)
  flags.DEFINE_string("checkpoint", None, "The authors' PyTorch checkpoint (.pth).")
  flags.DEFINE_string("workdir", None, "New workdir to write (must not exist, or be empty).")
  flags.mark_flags_as_required(["checkpoint", "workdir"])
  app.run(main, flags_parser=errors.parse_flags)
