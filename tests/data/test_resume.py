"""Preparation resumes after an interruption without redoing finished shards."""

import numpy as np
import pytest

from array_record.python import array_record_module
from inrv_jax import config_defaults
from inrv_jax.data import datasets
from inrv_jax.data.builders import sharded_writer
from inrv_jax.data.builders import sources
from inrv_jax.data.builders import video_folder

CALLS: list[int] = []
FAIL_AT = [-1]


def fake_clips(i: int) -> list:
  CALLS.append(i)
  if i == FAIL_AT[0]:
    raise KeyboardInterrupt
  if i == 4:
    raise ValueError("planted bad source")
  return [(f"s{i}", s, np.full((2, 4, 4, 3), i, np.uint8)) for s in range(i % 2 + 1)]


def read(path) -> list[bytes]:
  reader = array_record_module.ArrayRecordReader(str(path))
  records = reader.read_all()
  reader.close()
  return records


def test_writer_resumes_at_the_first_unfinished_shard(tmp_path):
  jobs = [sharded_writer.Job(fake_clips, (i,), f"s{i}") for i in range(10)]
  make = lambda clip, index: f"{clip[0]}:{clip[1]}:{index}".encode()
  CALLS.clear()
  FAIL_AT[0] = 7
  with pytest.raises(KeyboardInterrupt):
    sharded_writer.write_shards(jobs, tmp_path, make, jobs_per_shard=3, workers=1)
  assert CALLS == list(range(8))
  CALLS.clear()
  FAIL_AT[0] = -1
  shards = sharded_writer.write_shards(jobs, tmp_path, make, jobs_per_shard=3, workers=1)
  assert CALLS == [6, 7, 8, 9]  # shards {0,1,2} and {3,4,5} were not redone
  assert [s.num_clips for s in shards] == [4, 4, 4, 2]
  assert shards[1].skipped == [{"file": "s4", "reason": "ValueError: planted bad source"}]
  records = [r.decode() for s in shards for r in read(s.path)]
  assert [int(r.split(":")[2]) for r in records] == list(range(14))  # global index runs on
  assert records[:3] == ["s0:0:0", "s1:0:1", "s1:1:2"]


def test_interrupted_builder_equals_uninterrupted(tmp_path, monkeypatch):
  data = config_defaults.base_config().data
  data.num_frames, data.height, data.width, data.stride = 4, 8, 8, 0
  data.prepare_workers = 1
  monkeypatch.setattr(video_folder.VideoFolder, "JOBS_PER_SHARD", 1)
  data.dir = str(tmp_path / "fresh")
  fresh, _ = datasets.prepare(data)

  real = sources.video_file_clips
  seen, stop = [], [True]

  def interrupted(path, spec):
    seen.append(path)
    if stop[0] and path.endswith("carphone_pristine.mp4"):
      raise KeyboardInterrupt
    return real(path, spec)

  data.dir = str(tmp_path / "resumed")
  monkeypatch.setattr(sources, "video_file_clips", interrupted)
  with pytest.raises(KeyboardInterrupt):
    datasets.prepare(data)
  assert len(seen) == 3
  seen.clear()
  stop[0] = False
  resumed, builder = datasets.prepare(data)
  assert [p.rsplit("/", 1)[1] for p in seen] == ["carphone_pristine.mp4"]
  assert builder.info.splits["train"].num_shards == 3
  assert len(resumed) == len(fresh) == 3
  for i in range(3):
    np.testing.assert_array_equal(resumed[i]["video"], fresh[i]["video"])
