"""grain over a TFDS data source -> per-step global batches sharded on `data`.

Batch s of a run is a pure function of (seed, s): grain's MapDataset gives
random access to a shuffled, repeated stream, so resuming at step s reads
exactly the batches an uninterrupted run would. Each process reads only its
rows of the global batch; a background thread prefetches.
"""

import queue
import threading

import grain
import numpy as np

from inrv_jax import parallel
from inrv_jax.data import clips as clips_lib


def _to_example(record: dict) -> dict[str, np.ndarray]:
  return {"video": clips_lib.to_unit_range(np.asarray(record["video"])),  # (T, H, W, 3)
          "index": np.asarray(record["index"], np.int32)}


def clip_stream(source, seed: int) -> grain.MapDataset:
  """Every clip once per epoch, reshuffled each epoch, forever."""
  return (grain.MapDataset.source(source).seed(seed).shuffle()
          .repeat(None).map(_to_example))


class Batches:
  """Local rows of global batch `step`, for steps start, start+1, ... (prefetched)."""

  def __init__(self, source, global_batch: int, seed: int, start_step: int,
               prefetch: int = 2):
    self._stream = clip_stream(source, seed)
    self._rows = parallel.process_slice(global_batch)
    self._global_batch = global_batch
    self._queue: queue.Queue = queue.Queue(maxsize=max(prefetch, 1))
    self._next = start_step
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._fill, daemon=True)
    self._thread.start()

  def batch(self, step: int) -> dict[str, np.ndarray]:
    first = step * self._global_batch
    rows = range(first + self._rows.start, first + self._rows.stop)
    examples = [self._stream[i] for i in rows]
    return {k: np.stack([e[k] for e in examples]) for k in examples[0]}

  def _fill(self):
    step = self._next
    while not self._stop.is_set():
      try:
        item = (step, self.batch(step))
      except Exception as err:  # surfaced to the consumer
        item = (step, err)
      while not self._stop.is_set():
        try:
          self._queue.put(item, timeout=0.1)
          break
        except queue.Full:
          continue
      step += 1

  def __next__(self) -> dict[str, np.ndarray]:
    step, item = self._queue.get()
    if isinstance(item, Exception):
      raise item
    assert step == self._next, (step, self._next)
    self._next += 1
    return item

  def close(self):
    self._stop.set()
    self._thread.join(timeout=5)
