"""Prepare the dataset a config names, with progress; rerun to resume an interrupted run.

  python -m inrv_jax.data.prepare --config=configs/faces.py \
      [--config.data.manual_dir=RAW] [--config.data.dir=PREPARED]
"""

from absl import app
from absl import flags
from ml_collections import config_flags

from inrv_jax import errors
from inrv_jax.data import datasets

_CONFIG = config_flags.DEFINE_config_file("config", None, "config file (configs/*.py)",
                                          lock_config=True)


def main(argv):
  del argv
  with errors.exit_on_user_error():
    errors.check_config_file()
    source, builder = datasets.prepare(_CONFIG.value.data)
  skipped = datasets.base.skipped_files(builder)
  cut = datasets.base.cut_short_files(builder)
  print(f"{builder.info.full_name}: {len(source)} clips in {builder.data_dir}; "
        f"{len(skipped)} sources skipped"
        + (f", {len(cut)} cut short (their first frames kept)" if cut else "")
        + f" (listed in {builder.data_dir}/{datasets.base.MANIFEST})")


if __name__ == "__main__":
  flags.mark_flags_as_required(["config"])
  app.run(main, flags_parser=errors.parse_flags)
