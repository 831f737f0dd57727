"""Every kind of bad input in README "Bad input: what happens", planted among the
three real bundled clips: the folder is still prepared and the real clips kept."""

import contextlib
import os
import pathlib

import numpy as np
import pytest

from inrv_jax.data import video_io
from inrv_jax.data.builders import video_folder
from hostile_files import (marked_frames, write_audio_only_mkv, write_encoded,
                           write_resizing_avi, write_rotated_mp4)

REAL = video_folder.BUNDLED_FILES
T, SIZE = 8, 16


def bikes_frames(n: int) -> np.ndarray:
  return video_io.read_video(video_folder.bundled_dir() / "bikes.mp4", max_frames=n)


def plant_broken(folder):
  (folder / "broken.mp4").write_bytes(b"this is not a video" * 100)
  return "broken.mp4"


def plant_truncated(folder):
  data = (video_folder.bundled_dir() / "bikes.mp4").read_bytes()
  (folder / "truncated.mp4").write_bytes(data[:len(data) // 3])  # cut before the index
  return "truncated.mp4"


def plant_empty_file(folder):
  (folder / "empty.mp4").touch()
  return "empty.mp4"


def plant_short(folder):
  video_io.write_mp4(folder / "short.mp4", bikes_frames(T - 4))
  return "short.mp4"


def plant_audio_only(folder):
  write_audio_only_mkv(folder / "audio.mkv")
  return "audio.mkv"


def plant_non_video_files(folder):
  (folder / "notes.txt").write_text("not a video")
  (folder / "poster.png").write_bytes(b"\x89PNG not really")
  (folder / "not_a_file.mp4").mkdir()
  return None


def plant_non_utf8_name(folder):
  try:
    path = os.path.join(os.fsencode(folder), b"caf\xe9 \xff.mp4")
    video_io.write_mp4(os.fsdecode(path), bikes_frames(T))
  except (OSError, UnicodeError):
    pytest.skip("this file system refuses names that aren't UTF-8")
  return os.fsdecode(path)


def plant_rotated(folder):
  write_rotated_mp4(folder / "phone.mp4", marked_frames(T, 32, 64), rotate_tag=90)
  return "phone.mp4"


def plant_size_change(folder):
  write_resizing_avi(folder / "switch.avi",
                     [marked_frames(T // 2, 32, 64), marked_frames(T // 2, 48, 80)])
  return "switch.avi"


def with_alpha(frames: np.ndarray) -> np.ndarray:
  return np.concatenate([frames, np.full(frames.shape[:3] + (1,), 128, np.uint8)], -1)


def planter(name: str, frames: np.ndarray, *how, **options):
  """A planter of `frames` encoded as `write_encoded(path, frames, *how, **options)`."""
  def plant(folder):
    write_encoded(folder / name, frames, *how, **options)
    return name
  return plant


def plant_png_named_mp4(folder):
  video_io.write_png(folder / "poster.png", marked_frames(1, 32, 64)[0])
  (folder / "poster.png").rename(folder / "still.mp4")
  return "still.mp4"


def plant_broken_symlink(folder):
  (folder / "gone.mp4").symlink_to(folder / "deleted.mp4")
  return "gone.mp4"


def plant_symlink_loop(folder):
  (folder / "loop.mp4").symlink_to(folder / "loop.mp4")
  return "loop.mp4"


def plant_named(name: str):
  def plant(folder):
    video_io.write_mp4(folder / name, bikes_frames(T))
    return name
  return plant


FRAMES = marked_frames(T, 32, 64)
GREY = FRAMES[..., 0]

MARKED = ("grey.mp4", "alpha.mkv", "alpha.mov", "ten_bit.mp4", "sixteen.mkv", "rgb48.mov",
          "line.mov", "column.mov", "vfr.mp4", "really_mp4.avi")

# kind -> (planter, how the planted file ends: "skipped" with this reason, "prepared", "ignored")
KINDS = {
    "broken file": (plant_broken, ("skipped", "cannot decode")),
    "truncated file": (plant_truncated, ("skipped", "cannot decode")),
    "empty (0-byte) file": (plant_empty_file, ("skipped", "cannot decode")),
    "clip shorter than T": (plant_short, ("skipped", f"only {T - 4} frames")),
    "no video stream": (plant_audio_only, ("skipped", "no video stream")),
    "non-video files": (plant_non_video_files, ("ignored", None)),
    "file name not UTF-8": (plant_non_utf8_name, ("prepared", "caf\\xe9 \\xff.mp4")),
    "rotation metadata": (plant_rotated, ("prepared", "phone.mp4")),
    "frame size changes mid-stream": (plant_size_change, ("prepared", "switch.avi")),
    "grayscale (H.264 gray)": (planter("grey.mp4", GREY, "libx264", "gray", "gray"),
                               ("prepared", "grey.mp4")),
    "alpha (FFV1 yuva420p, MKV)": (planter("alpha.mkv", with_alpha(FRAMES), "ffv1", "yuva420p",
                                           "rgba"), ("prepared", "alpha.mkv")),
    "alpha (PNG rgba, MOV)": (planter("alpha.mov", with_alpha(FRAMES), "png", "rgba", "rgba"),
                              ("prepared", "alpha.mov")),
    "10-bit (H.264 yuv420p10le)": (planter("ten_bit.mp4", FRAMES, "libx264", "yuv420p10le"),
                                   ("prepared", "ten_bit.mp4")),
    "16-bit (FFV1 gray16le)": (planter("sixteen.mkv", GREY.astype(np.uint16) * 257, "ffv1",
                                       "gray16le", "gray16le"), ("prepared", "sixteen.mkv")),
    "16-bit RGB (PNG rgb48be, MOV)": (planter("rgb48.mov", FRAMES.astype(np.uint16) * 257,
                                              "png", "rgb48be", "rgb48le"),
                                      ("prepared", "rgb48.mov")),
    "1 pixel high": (planter("line.mov", marked_frames(T, 1, 64), "png", "rgb24"),
                     ("prepared", "line.mov")),
    "1 pixel wide": (planter("column.mov", marked_frames(T, 64, 1), "png", "rgb24"),
                     ("prepared", "column.mov")),
    "variable frame rate": (planter("vfr.mp4", FRAMES, "libx264", "yuv420p",
                                    pts=[0, 40, 50, 300, 310, 700, 705, 1000]),
                            ("prepared", "vfr.mp4")),
    "MP4 named .avi": (planter("really_mp4.avi", FRAMES, "libx264", "yuv420p",
                               container_format="mp4"), ("prepared", "really_mp4.avi")),
    "PNG image named .mp4": (plant_png_named_mp4, ("skipped", "only 1 frames")),
    "broken symlink": (plant_broken_symlink, ("skipped", "cannot read")),
    "symlink loop": (plant_symlink_loop, ("skipped", "cannot read")),
    "Cyrillic name": (plant_named("видео.mp4"), ("prepared", "видео.mp4")),
    "Japanese name": (plant_named("動画.mp4"), ("prepared", "動画.mp4")),
}


def folder_with(tmp_path: pathlib.Path, planter) -> tuple[pathlib.Path, str | None]:
  """The three real bundled clips (linked) and the planted input, in one folder."""
  folder = tmp_path / "videos"
  folder.mkdir()
  for name in REAL:
    (folder / name).symlink_to(video_folder.bundled_dir() / name)
  return folder, planter(folder)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_bad_input_among_real_clips_keeps_the_real_clips(tmp_path, data_dir, kind):
  planter, (outcome, detail) = KINDS[kind]
  folder, planted = folder_with(tmp_path, planter)
  with pytest.warns(UserWarning, match="switch.avi") if planted == "switch.avi" else contextlib.nullcontext():
    source, builder = video_folder.prepare(str(folder), (), str(data_dir), T, SIZE, SIZE, 0, ())
  sources = [source[i]["source"].decode() for i in range(len(source))]
  skipped = video_folder.skipped_files(builder)
  assert [s for s in sources if s in REAL] == list(REAL)  # every real clip, in order
  if outcome == "skipped":
    assert sources == list(REAL)
    assert [pathlib.Path(s["file"]).name for s in skipped] == [planted]
    assert detail in skipped[0]["reason"] and planted in skipped[0]["reason"]
  elif outcome == "ignored":
    assert sources == list(REAL) and skipped == []
  else:
    assert skipped == [] and sorted(sources) == sorted([*REAL, detail])
    clip = source[sources.index(detail)]["video"]
    assert clip.shape == (T, SIZE, SIZE, 3)
    if detail in MARKED:  # grey, a white top-left corner unless 1 pixel high or wide
      assert np.abs(clip[0, -4:, -4:] - 60.).max() < 15
      assert clip[0, :2, :2].mean() > 200 or detail in ("line.mov", "column.mov")
    if kind == "rotation metadata":  # white corner top-left, turned clockwise: top right
      assert clip[0, :2, -2:].mean() > 200 and clip[0, :2, :2].mean() < 100

