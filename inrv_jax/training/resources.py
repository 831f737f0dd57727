"""Start-up check: everything a config needs that is not in this repository.

Pretrained weight files (CLIP for conditioning, VGG16 + LPIPS linear layers
for the LPIPS loss) and the dataset's raw files are checked before any work
starts, and one error lists every missing piece with where to get it.
"""

import ml_collections

from inrv_jax import errors
from inrv_jax import pretrained
from inrv_jax.models import clip_vision
from inrv_jax.models import lpips
from inrv_jax.models import vgg16


def needed_weights(config: ml_collections.ConfigDict) -> dict[pretrained.WeightFile, str]:
  """The weight files this config needs -> their local-path override ("" = cache)."""
  needed = {}
  if config.train.lpips_weight > 0:
    needed[vgg16.IMAGENET_WEIGHTS] = config.train.vgg16_weights
    if config.train.lpips_weights or not lpips.packaged_lin_weights():
      needed[lpips.LIN_WEIGHTS] = config.train.lpips_weights  # else the lin layers inrv_jax ships
  if config.model.conditioning == "clip" and config.model.clip.pretrained:
    needed[clip_vision.CLIP_WEIGHTS] = config.model.clip.weights
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
