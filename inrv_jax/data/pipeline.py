"""grain over a TFDS data source -> per-step local rows of global batches.

Batch s of a run is a pure function of (seed, s): grain's MapDataset gives
random access to a shuffled (reshuffled every epoch), repeated stream of the
clips, and global batch s is stream rows [s*B, (s+1)*B). The iterator's
whole state is therefore the step, which the Orbax checkpoint already holds
(`train.step`): resuming at step s reads exactly the batches an
uninterrupted run would, whatever the prefetch depth or worker count.

Multi-host: each process reads only its rows of every global batch
(`parallel.process_slice`), so the global batch, and the order, do not depend
on the number of processes; parallel.global_batch then assembles them with
`jax.make_array_from_process_local_data`.

Reading runs ahead of the train step on `threads` threads (grain
ReadOptions), and optionally in `workers` processes (grain mp_prefetch) that
read and convert the uint8 records to [-1, 1] float32 in parallel.

A training split small enough to hold in memory (`resident_clips`, under
data.resident_mib) skips the readers: `IndexBatches` yields only the dataset
positions of the same rows, in the same order, and the compiled step gathers
the clips from the copy it holds (training/train.py). Reading the digits model's
64 clips a step through grain's threads took about a quarter of the 2 CPU
cores its step needs (BENCHMARKS.md, "The digits model"). Each process then
holds the whole training split, not only its rows.
"""

from absl import flags
import grain
import numpy as np

from inrv_jax.runtime import parallel
from inrv_jax.data import clips as clips_lib

NO_END = 1 << 62  # the step stream is unbounded; train.py decides when to stop


def _to_example(record: dict) -> dict[str, np.ndarray]:
  return {"video": clips_lib.to_unit_range(np.asarray(record["video"])),  # (T, H, W, 3)
          "index": np.asarray(record["index"], np.int32)}


def index_stream(num_clips: int, seed: int) -> grain.MapDataset:
  """The dataset positions of a source of num_clips records in the order training reads
  them: every position once per epoch, reshuffled each epoch, forever. A record's
  "index" is its position (data/builders/base.py)."""
  return grain.MapDataset.range(num_clips).seed(seed).shuffle().repeat(None)


def step_positions(stream: grain.MapDataset, global_batch: int, rows: slice,
                   step: int) -> np.ndarray:
  """The positions (B_local,) int32 of `rows` (this process's) of global batch `step`:
  stream entries [step * global_batch, (step + 1) * global_batch)."""
  first = step * global_batch
  return np.fromiter((stream[i] for i in range(first + rows.start, first + rows.stop)),
                     np.int32, rows.stop - rows.start)


def resident_clips(source, max_mib: float, bytes_per_pixel: int = 3) -> np.ndarray | None:
  """Every clip of `source` as one array (N, T, H, W, 3) uint8, row i = record i, when
  N clips of bytes_per_pixel bytes a pixel (3: the clips alone; more with what the
  trainer keeps beside them) take at most max_mib MiB; None when they take more or
  max_mib <= 0."""
  n = len(source)
  if max_mib <= 0 or n == 0:
    return None
  first = np.asarray(source[0]["video"])
  if n * first[..., 0].size * bytes_per_pixel > max_mib * 2**20:
    return None
  clips = np.empty((n, *first.shape), np.uint8)
  for i in range(n):
    clips[i] = source[i]["video"]
  return clips


class IndexBatches:
  """The dataset positions of this process's rows of global batch `step`, for steps
  start, start+1, ...: the rows `Batches` reads, as positions into resident clips.

  next(batches) -> {"index": (B_local,) int32}; close() does nothing (no readers).
  """

  def __init__(self, num_clips: int, global_batch: int, seed: int, start_step: int):
    self._stream = index_stream(num_clips, seed)
    self._global_batch, self._rows = global_batch, parallel.process_slice(global_batch)
    self._step = start_step

  def __iter__(self):
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    step, self._step = self._step, self._step + 1
    return {"index": step_positions(self._stream, self._global_batch, self._rows, step)}

  def close(self):
    pass


class StepBatch:
  """step -> this process's rows of global batch `step` (picklable for worker processes)."""

  def __init__(self, source, global_batch: int, seed: int, rows: slice):
    self._source, self._seed = source, seed
    self._global_batch, self._rows = global_batch, rows
    self._stream = None  # built lazily, in the process that reads

  def __call__(self, step: int) -> dict[str, np.ndarray]:
    if self._stream is None:
      self._stream = index_stream(len(self._source), self._seed)
    examples = [_to_example(self._source[int(i)])
                for i in step_positions(self._stream, self._global_batch, self._rows, step)]
    return {k: np.stack([e[k] for e in examples]) for k in examples[0]}  # (B_local, ...)

  def __getstate__(self):
    return {**self.__dict__, "_stream": None}


def batch_dataset(source, global_batch: int, seed: int, start_step: int,
                  prefetch: int = 4, threads: int = 2, workers: int = 0) -> grain.IterDataset:
  """Batches for steps start_step, start_step + 1, ... as a grain IterDataset."""
  make = StepBatch(source, global_batch, seed, parallel.process_slice(global_batch))
  steps = grain.MapDataset.range(start_step, NO_END).map(make)
  ds = steps.to_iter_dataset(grain.ReadOptions(num_threads=max(threads, 1),
                                               prefetch_buffer_size=max(prefetch, 1)))
  if workers > 0:
    if not flags.FLAGS.is_parsed():  # grain's workers read absl flags (parsed already under main.py)
      flags.FLAGS.mark_as_parsed()
    ds = ds.mp_prefetch(grain.MultiprocessingOptions(
        num_workers=workers, per_worker_buffer_size=max(prefetch // workers, 1)))
  return ds


class Batches:
  """Local rows of global batch `step`, for steps start, start+1, ... (prefetched).

  next(batches) -> {"video": (B_local, T, H, W, 3) float32 in [-1, 1],
                    "index": (B_local,) int32}; close() stops the readers.
  """

  def __init__(self, source, global_batch: int, seed: int, start_step: int,
               prefetch: int = 4, threads: int = 2, workers: int = 0):
    self._iter = iter(batch_dataset(source, global_batch, seed, start_step,
                                    prefetch, threads, workers))

  def __iter__(self):
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    return next(self._iter)

  def close(self):
    close = getattr(self._iter, "close", None)
    if close is not None:
      close()
