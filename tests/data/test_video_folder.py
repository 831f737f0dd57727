"""video_folder on the real bundled clips, and its messages for bad input."""

import pathlib
import shutil

import numpy as np
import pytest

from inrv_jax import errors
from inrv_jax.data import clips
from inrv_jax.data import video_io
from inrv_jax.data.builders import video_folder


def prepare(path, data_dir, files=(), num_frames=8, size=16, stride=8):
  return video_folder.prepare(str(path), files, str(data_dir), num_frames, size, size,
                              stride, ())


def test_bundled_clips_give_the_expected_clips(data_dir):
  source, builder = prepare("bundled", data_dir, num_frames=16, size=32, stride=16)
  # bigbuckbunny 132 frames -> 8 clips, bikes 250 -> 15, carphone 120 -> 7
  assert len(source) == 8 + 15 + 7
  assert video_folder.skipped_files(builder) == []
  first, last = source[0], source[len(source) - 1]
  assert first["video"].shape == (16, 32, 32, 3) and first["video"].dtype == np.uint8
  assert first["source"] == b"bigbuckbunny.mp4" and first["start"] == 0
  assert last["source"] == b"carphone_pristine.mp4" and last["start"] == 96
  assert [int(source[i]["index"]) for i in range(len(source))] == list(range(len(source)))
  scaled = clips.to_unit_range(np.stack([source[i]["video"] for i in range(len(source))]))
  assert scaled.min() >= -1.0 and scaled.max() <= 1.0
  assert scaled.min() < -0.9 and scaled.max() > 0.9  # real content spans the range
  # the clip is the resized video: compare with a direct decode of bikes' frame 16
  frames = video_io.read_video(video_folder.bundled_dir() / "bikes.mp4", max_frames=17)
  direct = clips.resize(frames[16:17], 32, 32)[0]
  bikes_second_clip = source[8 + 1]["video"][0]
  assert np.abs(direct.astype(int) - bikes_second_clip.astype(int)).mean() < 1.0


def test_stride_zero_keeps_the_first_clip_of_each_video(data_dir):
  source, _ = prepare("bundled", data_dir, stride=0)
  assert len(source) == 3


def test_empty_directory_names_the_path(tmp_path, data_dir):
  (tmp_path / "notes.txt").write_text("no videos here")
  with pytest.raises(errors.DataError, match=str(tmp_path)):
    prepare(tmp_path, data_dir)


def test_missing_directory_names_the_path(tmp_path, data_dir):
  with pytest.raises(errors.DataError, match="does_not_exist"):
    prepare(tmp_path / "does_not_exist", data_dir)


def test_bad_files_are_skipped_and_named_good_ones_used(tmp_path, data_dir):
  videos = tmp_path / "videos"
  videos.mkdir()
  shutil.copy(video_folder.bundled_dir() / "carphone_pristine.mp4", videos / "good.mp4")
  (videos / "broken.mp4").write_bytes(b"this is not a video" * 100)
  short = video_io.read_video(video_folder.bundled_dir() / "bikes.mp4", max_frames=4)
  video_io.write_mp4(videos / "short.mp4", short)
  source, builder = prepare(videos, data_dir)
  assert len(source) == 120 // 8  # only good.mp4's clips
  skipped = {pathlib.Path(s["file"]).name: s["reason"] for s in video_folder.skipped_files(builder)}
  assert set(skipped) == {"broken.mp4", "short.mp4"}
  assert "cannot decode" in skipped["broken.mp4"] and str(videos) in skipped["broken.mp4"]
  assert "only 4 frames" in skipped["short.mp4"]


def test_no_usable_video_lists_every_reason(tmp_path, data_dir):
  (tmp_path / "a.mp4").write_bytes(b"garbage")
  with pytest.raises(errors.DataError, match="a.mp4"):
    prepare(tmp_path, data_dir)


def test_preparing_says_nothing_is_downloaded(tmp_path, capfd, caplog):
  """TFDS' 'Downloading and preparing dataset Unknown size' and its custom-config
  warning are replaced by one honest line before and one after."""
  prepare("bundled", tmp_path, stride=0, size=12)
  out, err = capfd.readouterr()
  assert "Preparing video_folder/12x12x8_" in out and "nothing is downloaded" in out
  assert "Prepared video_folder/12x12x8_" in out and str(tmp_path) in out
  for noise in ("Downloading and preparing", "Unknown size", "downloaded and prepared",
                "Using custom data configuration", "has no dataset_info.json"):
    assert noise not in out + err + caplog.text
  prepare("bundled", tmp_path, stride=0, size=12)  # prepared already: silent
  out, err = capfd.readouterr()
  assert "Prepar" not in out + err
  assert "Using custom data configuration" not in caplog.text
