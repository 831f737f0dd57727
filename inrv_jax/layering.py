"""The package's layer order, bottom to top: the one place it is written down.

A module may import modules of its own layer and of the layers below it,
never above, at module level or inside a function. Only the top layer may
import the repository's `configs/` (it is not part of the installed
package). tests/test_layering.py walks every import of every module and
fails on an upward edge or on a module that no layer names.

One batch, bottom to top: data/pipeline.py -> training/train.py (the step) ->
models/inrv.py (latent -> hypernetwork -> INR weights) -> models/inr.py
(render) -> training/losses.py. One latent: trained_model.py ->
tasks/rendering.py -> media.py.

Names are module paths under inrv_jax/, a package standing for all its
modules; the longest name that matches a module decides its layer (so
`training.train` sits above the rest of `training`).
"""

LAYERS = (
    # 0: errors, the config and its checks, pretrained weight files and their formats
    #    (no torch), the runtime: XLA's CPU flags, huge pages for XLA's CPU buffers, the
    #    one call that applies both, devices and meshes.
    ("errors", "config_defaults", "config_check", "pretrained", "formats", "runtime"),
    # 1: models: pure functions and Flax modules; each pretrained model owns its `load`.
    ("models",),
    # 2: what training and the tasks share: losses, metrics, the progressive plan and
    #    optimizer, FVD, media files, datasets, the input pipeline and cached arrays,
    #    which pixels a training step renders, the metrics.jsonl rows.
    ("training.losses", "evaluation.metrics", "training.stages", "evaluation.fvd", "media",
     "data", "training.pixel_sampling", "training.metrics_log"),
    # 3: what a checkpoint holds, start-up checks, a trained model loaded from a workdir,
    #    why training stops early (signals, values that are not finite), CLIP features,
    #    the learned prior's fit and its checkpoints.
    ("training.checkpoints", "training.resources", "trained_model", "training.stopping",
     "training.clip_features", "learned_prior"),
    # 4: tasks on a trained model (render, sample, interpolate, invert) and their
    #    evaluation (snapshots during training, FVD of a model, the eval report).
    ("tasks", "evaluation"),
    # 5: programs: training, the command line, benchmarks, converters and importers.
    ("training", "main", "bench", "tools", "layering", "__init__"),
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
  path = parts[1:] or ["__init__"]
  for length in range(len(path), 0, -1):  # the longest name that matches
    name = ".".join(path[:length])
    for index, names in enumerate(LAYERS):
      if name in names:
        return index
  raise KeyError(f"inrv_jax.{path[0]} is in no layer of inrv_jax/layering.py")
