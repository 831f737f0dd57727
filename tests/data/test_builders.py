"""Each builder from a small manual directory in the real layout (real mp4/png files)."""

import pathlib

import numpy as np
import pytest
import tensorflow_datasets as tfds

from inrv_jax import config_defaults
from inrv_jax import errors
from inrv_jax.data import datasets
from inrv_jax.data.builders import base
from inrv_jax.data.builders import bouncing_digits
from inrv_jax.data.builders import fake_raw

T, H, W = 8, 16, 16


def data_config(name: str, tmp: pathlib.Path, manual: pathlib.Path, **overrides):
  d = config_defaults.base_config().data
  d.name, d.path, d.dir, d.manual_dir = name, "", str(tmp / "prepared"), str(manual)
  d.num_frames, d.height, d.width, d.stride = T, H, W, 0
  d.prepare_workers = 1
  for k, v in overrides.items():
    d[k] = v
  return d


def check_records(source, count: int):
  assert len(source) == count
  for i in range(count):
    r = source[i]
    assert r["video"].shape == (T, H, W, 3) and r["video"].dtype == np.uint8
    assert int(r["index"]) == i
  assert max(int(source[i]["video"].max()) for i in range(count)) > 100


def reasons(builder) -> dict[str, str]:
  return {pathlib.Path(s["file"]).parent.name: s["reason"] for s in base.skipped_files(builder)}


def test_how2sign_faces_with_bad_files_and_two_workers(tmp_path):
  manual = tmp_path / "raw"
  fake_raw.write_how2sign(manual, videos=3, cuts=2, num_frames=T + 2, size=64,
                          short=1, corrupt=1)
  data = data_config("how2sign_faces", tmp_path, manual, prepare_workers=2)
  source, builder = datasets.prepare(data)
  check_records(source, 6)
  assert builder.info.full_name == "how2sign_faces/16x16x8/1.0.0"
  # natural order: vid000/cut-0, vid000/cut-1, vid001/cut-0, ...
  assert source[1]["source"].decode().endswith("vid000/cut-1.mp4")
  skipped = reasons(builder)
  assert set(skipped) == {"short0", "corrupt0"}
  assert "only 3 frames" in skipped["short0"]
  assert "cut-0.mp4" in skipped["corrupt0"]
  # [-1, 1] at read time, through the public TFDS API too
  again = tfds.data_source("how2sign_faces/16x16x8", split="train", data_dir=data.dir)
  np.testing.assert_array_equal(again[5]["video"], source[5]["video"])


def test_sky_timelapse_crops_columns_and_skips_bad_image(tmp_path):
  manual = tmp_path / "raw"
  fake_raw.write_sky(manual, clips=3, num_frames=T, bad_image=True)
  source, builder = datasets.prepare(data_config("sky_timelapse", tmp_path, manual))
  check_records(source, 3)
  skipped = base.skipped_files(builder)
  assert len(skipped) == 1 and "frame_2.png" in skipped[0]["reason"]
  # the stored clip is the 140:500 column crop, resized
  from inrv_jax.data import clips as clips_lib
  frames = fake_raw.real_frames(0, T, 360, 640)[:, :, 140:500]
  expected = clips_lib.resize(frames, H, W).astype(int)
  assert np.abs(source[0]["video"].astype(int) - expected).mean() < 4  # png round trip exact; resize same


def test_rainbow_jelly_windows_with_stride(tmp_path):
  manual = tmp_path / "raw"
  fake_raw.write_jelly(manual, pieces=2, num_frames=2 * T + 3, short=True)
  source, builder = datasets.prepare(data_config("rainbow_jelly", tmp_path, manual, stride=T))
  check_records(source, 4)  # 2 back-to-back windows per piece
  assert [int(source[i]["start"]) for i in range(4)] == [0, T, 0, T]
  assert builder.info.full_name == f"rainbow_jelly/16x16x8_stride{T}/1.0.0"
  assert "zz_short.mp4" in base.skipped_files(builder)[0]["file"]


def test_moving_mnist_standard_file_axis_order(tmp_path):
  manual = tmp_path / "raw"
  fake_raw.write_mnist(manual, videos=5)
  seq = np.load(manual / "mnist_test_seq.npy")  # (20, N, 64, 64)
  data = data_config("moving_mnist", tmp_path, manual, num_frames=20, height=64, width=64)
  source, builder = datasets.prepare(data)
  assert builder.info.full_name == "inrv_moving_mnist/64x64x20/1.0.0"
  assert len(source) == 5
  video = source[3]["video"]
  assert video.shape == (20, 64, 64, 3) and video.dtype == np.uint8
  np.testing.assert_array_equal(video[..., 1], seq[:, 3])


def test_moving_mnist_generated_is_seeded(tmp_path):
  manual = tmp_path / "raw"
  fake_raw.write_mnist(manual, videos=1)
  data = data_config("moving_mnist", tmp_path, manual, generated_videos=3, generator_seed=7,
                     height=64, width=64, num_frames=12)
  source, builder = datasets.prepare(data)
  assert len(source) == 3 and "generated3_seed7" in builder.info.full_name
  digits = np.load(manual / "mnist.npz")["x_train"]
  expected = bouncing_digits.bouncing_digits(digits, np.random.default_rng([7, 2]), 12)
  np.testing.assert_array_equal(source[2]["video"][..., 0], expected)
  # two digits of 16x8 lit pixels are visible in every frame
  assert ((expected > 0).sum(axis=(1, 2)) >= 16 * 8).all()


def test_bouncing_digits_stay_on_canvas_and_move():
  digits = np.full((1, 28, 28), 255, np.uint8)
  video = bouncing_digits.bouncing_digits(digits, np.random.default_rng(0), 60, num_digits=1)
  assert video.shape == (60, 64, 64)
  assert ((video > 0).sum(axis=(1, 2)) == 28 * 28).all()   # never clipped by the walls
  assert not np.array_equal(video[0], video[1])


def test_video_folder_bundled(tmp_path):
  data = data_config("video_folder", tmp_path, tmp_path, path="bundled", stride=T)
  source, builder = datasets.prepare(data)
  assert len(source) > 20 and base.skipped_files(builder) == []
  assert source[0]["source"] == b"bigbuckbunny.mp4"


def test_missing_raw_data_says_where_to_get_and_put_it(tmp_path):
  data = data_config("how2sign_faces", tmp_path, tmp_path / "nothing")
  with pytest.raises(errors.DataError) as err:
    datasets.prepare(data)
  message = str(err.value)
  assert "How2Sign-Blobs/train/faces_intervals_2s" in message
  assert "INR-V-VideoGenerationSpace" in message and "manual_dir" in message
  data = data_config("moving_mnist", tmp_path, tmp_path / "nothing")
  with pytest.raises(errors.DataError, match="mnist_test_seq.npy"):
    datasets.prepare(data)
