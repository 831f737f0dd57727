"""Snapshots during training: PNGs, TensorBoard images and recon_psnr every eval.every steps."""

import json
import struct

import numpy as np
from tensorboardX.proto import event_pb2

from inrv_jax.evaluation import snapshots
from inrv_jax.training import train
from inrv_jax.data import datasets


def tensorboard_values(directory):
  """[(step, tag, summary value)] of every event file in `directory` (TFRecord framing:
  length (u64), its CRC, the Event proto, its CRC)."""
  found = []
  for path in sorted(directory.iterdir()):
    data, at = path.read_bytes(), 0
    while at < len(data):
      (length,) = struct.unpack("<Q", data[at:at + 8])
      event = event_pb2.Event.FromString(data[at + 12:at + 12 + length])
      at += 12 + length + 4
      found += [(event.step, v.tag, v) for v in event.summary.value]
  return found


def test_snapshots_every_n_steps_and_final_recon_psnr_is_evaluations(tiny_config, tmp_path):
  tiny_config.train.num_steps = 10
  tiny_config.eval.every = 4
  model = train.train_and_evaluate(tiny_config, tmp_path)

  names = sorted(p.name for p in (tmp_path / "snapshots").iterdir())
  assert names == [f"step_{s}_{kind}.png" for s in (4, 8) for kind in ("reconstructions",
                                                                          "samples")]
  rows = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  recon = {r["step"]: r["recon_psnr"] for r in rows if "recon_psnr" in r}
  assert sorted(recon) == [4, 8, 10]  # the snapshots, then the final outputs
  assert recon[4] < recon[10]
  # the last value is evaluation's PSNR of the first eval.num_recon clips
  per_clip = snapshots.reconstruction_psnr(model, datasets.load(tiny_config.data))
  np.testing.assert_allclose(recon[10], np.mean(per_clip[:tiny_config.eval.num_recon]),
                             rtol=1e-6)

  values = tensorboard_values(tmp_path / "tensorboard")
  images = [(step, tag, v.image) for step, tag, v in values if v.HasField("image")]
  assert [(step, tag) for step, tag, _ in images] == [
      (4, "reconstructions"), (4, "samples"), (8, "reconstructions"), (8, "samples")]
  png = images[0][2]
  assert png.encoded_image_string.startswith(b"\x89PNG") and png.width > png.height > 0
  assert [step for step, tag, _ in values if tag == "recon_psnr"] == [4, 8, 10]
