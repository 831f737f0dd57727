"""Start-up check: everything a config needs that is not in this repository.

Pretrained weight files (CLIP for conditioning, VGG16 + LPIPS linear layers
for the LPIPS loss) and the dataset's raw files are checked before any work
starts, and one error lists every missing piece with where to get it.
"""

import ml_collections

from inrv_jax import errors
from inrv_jax import pretrained


def needed_weights(config: ml_collections.ConfigDict) -> dict[str, str]:
  """Registry names of the weight files this config needs -> their local-path override."""
  needed = {}
  if config.train.get("lpips_weight", 0.0) > 0:
    from inrv_jax.models import lpips  # registers vgg16 / lpips_vgg
    needed["vgg16"] = config.train.vgg16_weights
    if config.train.lpips_weights or not lpips.packaged_lin_weights():
      needed["lpips_vgg"] = config.train.lpips_weights  # else the lin layers inrv_jax ships
  if config.model.conditioning == "clip" and config.model.get("clip_pretrained", False):
    from inrv_jax.tools import convert_clip  # registers the CLIP file
    needed[convert_clip.CLIP_WEIGHTS.name] = config.model.clip_weights
  return needed


def check(config: ml_collections.ConfigDict, data_problem) -> None:
  """Raise one UserError naming every missing weight file and the data problem, if any.

  data_problem: a callable returning a message (or None) about the dataset's
  raw files; it is only consulted when weights are missing, to report both.
  """
  try:
    pretrained.require(needed_weights(config))
  except pretrained.MissingWeightsError as err:
    problem = data_problem()
    raise errors.UserError(str(err) + (f"\n\nand the dataset: {problem}" if problem else ""))
