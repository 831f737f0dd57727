"""A workdir trained on N devices loads, renders, samples and resumes on M devices."""

import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]

# argv: devices, data dir, workdir, tests dir, steps, output .npz
ON_DEVICES = textwrap.dedent("""
    import pathlib, sys
    import jax
    jax.config.update("jax_num_cpu_devices", int(sys.argv[1]))
    sys.path.insert(0, sys.argv[4])
    import numpy as np
    import inrv_jax
    from tiny_configs import tiny
    from inrv_jax import config_defaults
    from inrv_jax.training import train
    assert jax.device_count() == int(sys.argv[1])
    c = tiny(config_defaults.base_config(), pathlib.Path(sys.argv[2]))
    c.train.num_steps = int(sys.argv[5])
    model = inrv_jax.load(sys.argv[3]) if c.train.num_steps == 0 else train.train_and_evaluate(
        c, sys.argv[3])
    loaded = inrv_jax.load(sys.argv[3])
    np.savez(sys.argv[6], step=loaded.step,
             render=inrv_jax.render(loaded, loaded.latents[:2], progress=False),
             sample=inrv_jax.sample(jax.random.key(0), 2, model=loaded))
""")


def on_devices(devices: int, data_dir, workdir, steps: int, out: pathlib.Path) -> dict:
  """Train to `steps` (0: only load) on `devices` simulated CPU devices; its load's renders."""
  env = {**os.environ, "PYTHONPATH": str(REPO)}
  result = subprocess.run(
      [sys.executable, "-c", ON_DEVICES, str(devices), str(data_dir), str(workdir),
       str(REPO / "tests"), str(steps), str(out)], env=env, capture_output=True, text=True)
  assert result.returncode == 0, result.stderr[-3000:]
  return dict(np.load(out))


@pytest.mark.parametrize("trained_on,used_on", [(2, 1), (1, 2)])
def test_a_workdir_moves_between_device_counts(data_dir, tmp_path, trained_on, used_on):
  workdir = tmp_path / "wd"
  trained = on_devices(trained_on, data_dir, workdir, 10, tmp_path / "trained.npz")
  moved = on_devices(used_on, data_dir, workdir, 0, tmp_path / "moved.npz")
  assert trained["step"] == moved["step"] == 10
  np.testing.assert_allclose(moved["render"], trained["render"], atol=1e-6)
  np.testing.assert_allclose(moved["sample"], trained["sample"], atol=1e-6)
  resumed = on_devices(used_on, data_dir, workdir, 20, tmp_path / "resumed.npz")
  assert resumed["step"] == 20 and np.all(np.isfinite(resumed["render"]))
