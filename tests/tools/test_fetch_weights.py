"""The weight-fetching command: offline, it names every missing file and where to get it."""

import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def fetch(*args, cache):
  env = {**os.environ, "PYTHONPATH": str(REPO), "INRV_CACHE_DIR": str(cache),
         "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}
  return subprocess.run([sys.executable, "-m", "inrv_jax.tools.fetch_weights", *args],
                        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_offline_lists_every_missing_file(tmp_path):
  result = fetch("--config=configs/faces.py", cache=tmp_path)
  assert result.returncode == 2 and "Traceback" not in result.stderr
  for expected in ("ViT-B-32.pt", "--config.model.clip.weights", "vgg16-397923af.pth",
                   "https://download.pytorch.org/models/vgg16-397923af.pth",
                   "--config.train.vgg16_weights"):
    assert expected in result.stderr
  assert "lpips_v0.1_vgg.pth" not in result.stderr  # the lin layers ship with inrv_jax


def test_quickstart_needs_nothing(tmp_path):
  result = fetch("--config=configs/quickstart.py", cache=tmp_path)
  assert result.returncode == 0 and "needs no pretrained weights" in result.stdout
