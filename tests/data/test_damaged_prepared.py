"""Prepared data that is damaged is prepared again with one line, not a Riegeli or
protobuf traceback; two processes preparing one new folder at once both succeed; a
script without a `__main__` guard prepares without hanging; a truncated video keeps
the clips of the frames that decode, whatever the stride."""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from inrv_jax.data import video_io
from inrv_jax.data.builders import base
from inrv_jax.data.builders import video_folder
from hostile_files import write_encoded

REPO = pathlib.Path(__file__).resolve().parents[2]
T, SIZE = 8, 16


def linked_folder(folder: pathlib.Path, copies: int = 1) -> pathlib.Path:
  """The three bundled clips, linked `copies` times each under distinct names."""
  folder.mkdir()
  for k in range(copies):
    for name in video_folder.BUNDLED_FILES:
      (folder / f"{k}_{name}").symlink_to(video_folder.bundled_dir() / name)
  return folder


def damage_shard(kind: str):
  def damage(prepared: pathlib.Path):
    shard = next(prepared.glob("*.array_record-*"))
    data = shard.read_bytes()
    if kind == "truncated":
      shard.write_bytes(data[:len(data) // 2])
    elif kind == "zeroed":
      shard.write_bytes(bytes(len(data)))
    elif kind == "garbage":
      shard.write_bytes(b"not an array_record file " * 100)
    else:
      shard.unlink()
  return damage


def garbage_info(prepared: pathlib.Path):
  (prepared / "dataset_info.json").write_text("{this is not json")


DAMAGE = {"shard truncated": damage_shard("truncated"), "shard zeroed": damage_shard("zeroed"),
          "shard garbage": damage_shard("garbage"), "shard missing": damage_shard("missing"),
          "dataset_info.json garbage": garbage_info}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damaged_prepared_data_is_prepared_again_with_one_line(tmp_path, capfd, kind):
  folder = linked_folder(tmp_path / "videos")
  data_dir = str(tmp_path / "prepared")
  source, builder = video_folder.prepare(str(folder), (), data_dir, T, SIZE, SIZE, 0, ())
  first = [np.asarray(source[i]["video"]) for i in range(len(source))]
  DAMAGE[kind](pathlib.Path(builder.data_dir))
  capfd.readouterr()
  source, builder = video_folder.prepare(str(folder), (), data_dir, T, SIZE, SIZE, 0, ())
  again = [np.asarray(source[i]["video"]) for i in range(len(source))]
  err = capfd.readouterr().err
  lines = [l for l in err.splitlines() if "damaged" in l]
  assert len(lines) == 1 and "the prepared data is damaged" in lines[0]
  assert "preparing it again" in lines[0] and str(builder.data_dir) in lines[0]
  assert "Traceback" not in err
  assert len(again) == len(first) == 3
  for a, b in zip(first, again):
    np.testing.assert_array_equal(a, b)


PREPARE = textwrap.dedent("""
    import sys
    from inrv_jax.data.builders import video_folder
    source, builder = video_folder.prepare(sys.argv[1], (), sys.argv[2], 8, 16, 16, 8, (),
                                           workers=1)
    print("clips", len(source), sum(int(source[i]["index"]) == i for i in range(len(source))))
""")


def test_two_processes_preparing_one_new_folder_both_succeed(tmp_path):
  folder = linked_folder(tmp_path / "videos", copies=2)
  env = {**os.environ, "PYTHONPATH": str(REPO)}
  runs = [subprocess.Popen([sys.executable, "-c", PREPARE, str(folder), str(tmp_path / "data")],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
          for _ in range(2)]
  outs = [run.communicate() for run in runs]
  for run, (out, err) in zip(runs, outs):
    assert run.returncode == 0, err[-2000:]
  counts = [out.split()[-2:] for out, _ in outs]
  assert counts[0] == counts[1] and counts[0][0] == counts[0][1] and int(counts[0][0]) > 6
  assert not list((tmp_path / "data").rglob("*.tmp"))


UNGUARDED = textwrap.dedent("""
    import sys
    from inrv_jax import config_defaults
    from inrv_jax.data import datasets
    c = config_defaults.base_config()
    c.data.path, c.data.dir = sys.argv[1], sys.argv[2]
    c.data.num_frames, c.data.height, c.data.width = 8, 16, 16
    c.data.stride, c.data.prepare_workers = 0, 2
    print("clips", len(datasets.load(c.data)))
""")


def test_a_script_without_a_main_guard_prepares_without_hanging(tmp_path):
  folder = linked_folder(tmp_path / "videos", copies=3)  # 9 videos: a pool's worth
  script = tmp_path / "unguarded.py"
  script.write_text(UNGUARDED)
  env = {**os.environ, "PYTHONPATH": str(REPO)}
  try:
    result = subprocess.run([sys.executable, str(script), str(folder), str(tmp_path / "data")],
                            env=env, capture_output=True, text=True, timeout=600)
  except subprocess.TimeoutExpired:
    pytest.fail("preparing from an unguarded script hung")
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.split()[-1] == "9"
  assert "no `if __name__ == \"__main__\":` guard" in result.stderr


def test_a_guarded_script_is_not_taken_for_an_unguarded_one(tmp_path):
  from inrv_jax.data.builders import sharded_writer
  script = tmp_path / "guarded.py"
  script.write_text(textwrap.dedent(f"""
      import sys
      sys.path.insert(0, {str(REPO)!r})
      from inrv_jax.data.builders import sharded_writer
      top = sharded_writer.unguarded_main_script()
      def main():
        return sharded_writer.unguarded_main_script()
      if __name__ == "__main__":
        print(top, main())
  """))
  result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
  assert result.stdout.split() == ["True", "False"], result.stderr[-2000:]
  assert not sharded_writer.unguarded_main_script()  # pytest's own guarded entry point


def truncated_mp4(path: pathlib.Path) -> int:
  """A 48-frame MP4 (index first, as `-movflags faststart` writes it) cut in half: its first
  frames decode, then decoding fails. Returns how many frames decode."""
  frames = video_io.read_video(video_folder.bundled_dir() / "bikes.mp4", max_frames=48)
  full = path.with_name("full.mp4")
  write_encoded(full, frames, "libx264", "yuv420p", container_options={"movflags": "faststart"})
  data = full.read_bytes()
  full.unlink()
  path.write_bytes(data[:len(data) // 2])
  decoded = 0
  with pytest.raises(video_io.VideoReadError, match="cannot decode"):
    for _ in video_io.iter_frames(path):
      decoded += 1
  return decoded


@pytest.mark.parametrize("stride", [0, 4, 8])
def test_a_truncated_video_keeps_the_frames_that_decode(tmp_path, stride):
  folder = tmp_path / "videos"
  folder.mkdir()
  decoded = truncated_mp4(folder / "cut.mp4")
  assert decoded >= T
  source, builder = video_folder.prepare(str(folder), (), str(tmp_path / "data"), T, SIZE, SIZE,
                                         stride, ())
  starts = [int(source[i]["start"]) for i in range(len(source))]
  assert starts == (list(range(0, decoded - T + 1, stride)) if stride else [0])
  assert base.skipped_files(builder) == []
  if stride:  # stride 0 stops after the first clip, before the damage
    [cut] = base.cut_short_files(builder)
    assert cut["kept_frames"] == decoded and "cut.mp4" in cut["file"]
    assert "cannot decode" in cut["reason"]
  manifest = json.loads((pathlib.Path(builder.data_dir) / base.MANIFEST).read_text())
  assert len(manifest) == (1 if stride else 0)
