"""Command line: flags and config -> one call per mode.

  python -m inrv_jax.main --config=configs/quickstart.py --workdir=DIR
  python -m inrv_jax.main --config=configs/faces.py:plain --config.train.num_steps=N ...
"""

import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from inrv_jax import errors

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Config file (configs/NAME.py[:variant]).",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and outputs.")
flags.DEFINE_enum("mode", "train", ["train"], "What to do with the workdir.")
flags.mark_flags_as_required(["config", "workdir"])


def run(mode: str, config, workdir: str):
  if mode == "train":
    from inrv_jax import train
    return train.train_and_evaluate(config, workdir)
  raise app.UsageError(f"unknown --mode={mode}")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)  # Orbax and TFDS are chatty at INFO
  try:
    run(FLAGS.mode, FLAGS.config, FLAGS.workdir)
  except errors.UserError as err:
    print(f"error: {err}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  app.run(main)
