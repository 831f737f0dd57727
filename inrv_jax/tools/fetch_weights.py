"""Fetch the pretrained weight files a config needs into the cache, or check local copies.

  python -m inrv_jax.tools.fetch_weights --config=configs/faces.py
  python -m inrv_jax.tools.fetch_weights --config=configs/faces.py \
      --config.model.clip.weights=/data/ViT-B-32.pt --config.train.vgg16_weights=/data/vgg16.pth

Each file is downloaded from its canonical URL into ~/.cache/inrv_jax (or
$INRV_CACHE_DIR) and checked against its SHA-256; a local path given in the
config is checked instead. Offline, the message lists every missing file with
its URL and the config field that takes a local copy.
"""

from absl import app
from ml_collections import config_flags

from inrv_jax import errors
from inrv_jax import pretrained
from inrv_jax.training import resources

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (configs/NAME.py).")


def main(argv):
  del argv
  needed = resources.needed_weights(_CONFIG.value)
  if not needed:
    print("this config needs no pretrained weights")
    return
  with errors.exit_on_user_error():
    found = pretrained.require(needed)
  for name, path in found.items():
    print(f"{name}: {path} (sha256 verified)")


if __name__ == "__main__":
  app.run(main, flags_parser=errors.parse_flags)
