"""Batches: contents, epochs, exact resume, per-process rows."""

import numpy as np
import pytest

from inrv_jax.data import datasets
from inrv_jax.data import pipeline


@pytest.fixture(scope="module")
def source(data_dir):
  from inrv_jax import config_defaults
  from tests.conftest import tiny
  return datasets.load(tiny(config_defaults.base_config(), data_dir).data)  # 8 real clips


def take(source, start, n, batch=4, **kw):
  batches = pipeline.Batches(source, batch, seed=3, start_step=start, **kw)
  out = [next(batches) for _ in range(n)]
  batches.close()
  return out


def test_batches_hold_the_records_in_unit_range(source):
  (b,) = take(source, 0, 1)
  assert b["video"].shape == (4, 8, 16, 16, 3) and b["video"].dtype == np.float32
  assert b["index"].dtype == np.int32
  for row, i in enumerate(b["index"]):
    expected = (source[int(i)]["video"].astype(np.float32) / 255 - 0.5) / 0.5
    np.testing.assert_allclose(b["video"][row], expected, atol=1e-6)
  assert -1.0 <= b["video"].min() < 0.0 < b["video"].max() <= 1.0


def test_every_clip_once_per_epoch_reshuffled(source):
  batches = take(source, 0, 4)  # 16 rows = 2 epochs of 8 clips
  order = np.concatenate([b["index"] for b in batches])
  assert sorted(order[:8]) == list(range(8)) and sorted(order[8:]) == list(range(8))
  assert not np.array_equal(order[:8], order[8:])


def test_resumed_run_sees_the_same_batches(source):
  straight = take(source, 0, 7)
  resumed = take(source, 5, 2, prefetch=1, threads=1)
  for a, b in zip(straight[5:], resumed):
    np.testing.assert_array_equal(a["index"], b["index"])
    np.testing.assert_array_equal(a["video"], b["video"])


def test_each_process_reads_only_its_rows(source, monkeypatch):
  whole = take(source, 2, 2)
  parts = []
  for p in range(2):
    monkeypatch.setattr(pipeline.parallel, "process_slice",
                        lambda n, p=p: slice(p * n // 2, (p + 1) * n // 2))
    parts.append(take(source, 2, 2))
  for s in range(2):
    np.testing.assert_array_equal(
        np.concatenate([parts[0][s]["index"], parts[1][s]["index"]]), whole[s]["index"])
    assert parts[0][s]["video"].shape[0] == 2


@pytest.mark.parametrize("start", [0, 5])
def test_index_batches_are_the_positions_of_the_batches_read(source, start):
  """IndexBatches (resident clips) yields the rows Batches reads, in order, epoch after
  epoch, and the resident array's rows are those clips."""
  read = take(source, start, 9)
  positions = pipeline.IndexBatches(len(source), 4, seed=3, start_step=start)
  clips = pipeline.resident_clips(source, max_mib=1)
  for batch in read:
    index = next(positions)["index"]
    assert index.dtype == np.int32
    np.testing.assert_array_equal(index, batch["index"])
    np.testing.assert_array_equal(pipeline.clips_lib.to_unit_range(clips[index]),
                                  batch["video"])


def test_clips_are_resident_only_within_the_budget(source):
  clip_mib = source[0]["video"].nbytes / 2**20  # 8 clips of 8x16x16x3 bytes
  assert pipeline.resident_clips(source, max_mib=8 * clip_mib).shape == (8, 8, 16, 16, 3)
  assert pipeline.resident_clips(source, max_mib=7.9 * clip_mib) is None
  assert pipeline.resident_clips(source, max_mib=0) is None
  # with 8 more bytes a pixel beside the clips (the importance sampler's distribution)
  assert pipeline.resident_clips(source, max_mib=8 * clip_mib * 11 / 3,
                                 bytes_per_pixel=11) is not None
  assert pipeline.resident_clips(source, max_mib=8 * clip_mib, bytes_per_pixel=11) is None
