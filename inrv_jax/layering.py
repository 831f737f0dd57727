"""The package's layer order, bottom to top: the one place it is written down.

A module may import modules of its own layer and of the layers below it,
never above, at module level or inside a function. Only the top layer may
import the repository's `configs/` (it is not part of the installed
package). tests/test_layering.py walks every import of every module and
fails on an upward edge or on a module that no layer names.

One batch, bottom to top: data/pipeline.py -> train.py (the step) ->
models/inrv.py (latent -> hypernetwork -> INR weights) -> models/inr.py
(render) -> losses.py. One latent: trained_model.py -> tasks/rendering.py ->
media.py.
"""

LAYERS = (
    # 0: errors, the config and its checks, pretrained weight files and their formats
    #    (no torch), XLA flags, huge pages for XLA's CPU buffers (and the one call that
    #    applies both), a profile of XLA's ops, arrays cached with a checksum.
    ("errors", "config_defaults", "config_check", "pretrained", "formats", "xla_cpu",
     "hugepages", "cpu_runtime", "op_profile", "cached_arrays"),
    # 1: models: pure functions and Flax modules; each pretrained model owns its `load`.
    ("models",),
    # 2: what training and the tasks share: losses, metrics, devices, the progressive
    #    plan and optimizer, FVD, media files, datasets and the input pipeline, which
    #    pixels a training step renders.
    ("losses", "metrics", "parallel", "stages", "fvd", "media", "data", "pixel_sampling"),
    # 3: what a checkpoint holds, start-up checks, a trained model loaded from a workdir,
    #    why training stops early (signals, values that are not finite), CLIP features,
    #    the learned prior's fit and its checkpoints.
    ("checkpoints", "resources", "trained_model", "stopping", "clip_features", "learned_prior"),
    # 4: tasks on a trained model (render, sample, interpolate, invert, FVD, evaluation).
    ("tasks", "evaluation"),
    # 5: programs: training, the command line, benchmarks, converters and importers.
    ("train", "main", "bench", "bench_pipeline", "bench_inversion", "tools", "layering",
     "__init__"),
)

CONFIGS = "configs"  # the repository's config files: importable by the top layer only


def layer_of(module: str) -> int | None:
  """Layer index of `inrv_jax.<name>[...]` or `configs[...]`; None for other modules.

  Raises KeyError for a module of the package that no layer names.
  """
  parts = module.split(".")
  if parts[0] == CONFIGS:
    return len(LAYERS) - 1
  if parts[0] != "inrv_jax":
    return None
  top = parts[1] if len(parts) > 1 else "__init__"
  for index, names in enumerate(LAYERS):
    if top in names:
      return index
  raise KeyError(f"inrv_jax.{top} is in no layer of inrv_jax/layering.py")
