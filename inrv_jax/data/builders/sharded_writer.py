"""Resumable, parallel preparation: jobs -> array_record shards in a work directory.

Jobs (one source file/folder/range each) are grouped, in order, into shards
of `jobs_per_shard`. A process pool runs the jobs (decode, crop, resize) and
the main process serialises their clips into the shard being written. A
finished shard is renamed into place and gets a `shard-K.json` beside it
(clip count, skipped sources); on a rerun, shards with their json are not
redone, so an interrupted preparation continues where it stopped. TFDS's own
`download_and_prepare` restarts from nothing after an interruption, which is
why the builders write their shards here and only hand the finished files to
TFDS.
"""

import ast
import dataclasses
import errno
import hashlib
import json
import multiprocessing
import os
import pathlib
import shutil
import sys
from typing import Callable

from absl import logging
from array_record.python import array_record_module
import tqdm

from inrv_jax import errors

MIN_JOBS_FOR_POOL = 8


@dataclasses.dataclass(frozen=True)
class Job:
  """One unit of work: `fn(*args)` -> [(source name, start, clip), ...]."""
  fn: Callable  # a module-level function, so worker processes can import it
  args: tuple
  name: str     # the source, as named in progress and in the skipped manifest


@dataclasses.dataclass
class Shard:
  path: pathlib.Path
  num_clips: int
  skipped: list[dict]         # sources that gave no clip: {"file", "reason"}
  sources: list[list] = dataclasses.field(default_factory=list)  # [name, clips] per source
  cut_short: list[dict] = dataclasses.field(default_factory=list)  # + "kept_frames"


def run_job(job: Job) -> tuple[list, dict | None]:
  """(clips, None); ([], {"file", "reason"}) when the source gives no clip; (clips,
  {"file", "reason", "kept_frames"}) when it was cut short (sources.Clips.cut_short)."""
  try:
    clips = job.fn(*job.args)
    cut = getattr(clips, "cut_short", None)
    return list(clips), ({"file": job.name, **cut} if cut else None)
  except errors.DataError as err:
    return [], {"file": job.name, "reason": str(err)}
  except Exception as err:  # a decoder crash on one file must not stop 10,000 others
    return [], {"file": job.name, "reason": f"{type(err).__name__}: {err}"}


def _atomic_write_text(path: pathlib.Path, text: str) -> None:
  tmp = path.with_suffix(path.suffix + ".tmp")
  try:
    tmp.write_text(text)
    os.replace(tmp, path)
  finally:
    tmp.unlink(missing_ok=True)


def _plan_id(jobs: list[Job], jobs_per_shard: int, tag: str) -> str:
  digest = hashlib.sha256(f"{tag}|{jobs_per_shard}".encode())
  for job in jobs:
    digest.update(f"{job.name}|{job.args!r}\n".encode())
  return digest.hexdigest()


def _open_work_dir(work_dir: pathlib.Path, plan: str) -> None:
  """Keep finished shards only if they were made for this very job list."""
  plan_file = work_dir / "plan.json"
  if plan_file.exists() and json.loads(plan_file.read_text()).get("plan") != plan:
    print(f"{errors.path_text(work_dir)}: the sources changed since the last run; preparing "
          "from the start", file=sys.stderr, flush=True)
    shutil.rmtree(work_dir)
  work_dir.mkdir(parents=True, exist_ok=True)
  _atomic_write_text(plan_file, json.dumps({"plan": plan}))


def _shard_paths(work_dir: pathlib.Path, k: int) -> tuple[pathlib.Path, pathlib.Path]:
  return work_dir / f"shard-{k:05d}.array_record", work_dir / f"shard-{k:05d}.json"


def _pool_map(jobs: list[Job], workers: int):
  """Results of `run_job` in job order, computed `workers` at a time."""
  if workers <= 1 or len(jobs) < MIN_JOBS_FOR_POOL:  # starting workers costs seconds
    yield from map(run_job, jobs)
    return
  if unguarded_main_script():
    print("preparing in this process only: the script that calls it has no "
          "`if __name__ == \"__main__\":` guard, and worker processes would run it again",
          file=sys.stderr, flush=True)
    yield from map(run_job, jobs)
    return
  # spawn, not fork: the parent may hold JAX/XLA threads.
  with multiprocessing.get_context("spawn").Pool(min(workers, len(jobs))) as pool:
    yield from pool.imap(run_job, jobs)


def _is_main_guard(node: ast.stmt) -> bool:
  """Whether `node` is `if __name__ == "__main__":` (either operand order)."""
  if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
    return False
  sides = [node.test.left, *node.test.comparators]
  names = [s.id for s in sides if isinstance(s, ast.Name)]
  texts = [s.value for s in sides if isinstance(s, ast.Constant)]
  return names == ["__name__"] and texts == ["__main__"]


def unguarded_main_script() -> bool:
  """Whether this call comes from the top-level code of the main script outside an
  `if __name__ == "__main__":` block. Spawned (and forkserver) workers import the
  main script again; run unguarded, it would start preparing again in every worker
  and the pool would never finish."""
  main = sys.modules.get("__main__")
  frame = sys._getframe(1)  # pylint: disable=protected-access
  while frame is not None and not (frame.f_code.co_name == "<module>"
                                   and main is not None and frame.f_globals is vars(main)):
    frame = frame.f_back
  if frame is None:  # called from an interactive session, a notebook, a thread: no script
    return False
  try:
    tree = ast.parse(pathlib.Path(frame.f_code.co_filename).read_text())
  except (OSError, SyntaxError, ValueError):  # `python -c`: spawned workers run nothing of it
    return False
  line = frame.f_lineno
  return not any(_is_main_guard(node) and node.lineno <= line <= (node.end_lineno or line)
                 for node in tree.body)


def write_shards(jobs: list[Job], work_dir: pathlib.Path, make_record: Callable,
                 jobs_per_shard: int, workers: int = 0, tag: str = "",
                 desc: str = "preparing") -> list[Shard]:
  """Run every job not yet in a finished shard; return all shards in order.

  make_record(clip tuple, index) -> serialized bytes; index counts clips over
  all shards (the record's position in the dataset).
  workers: processes decoding sources (0 = one per CPU core, 1 = in this process).
  """
  work_dir = pathlib.Path(work_dir)
  _open_work_dir(work_dir, _plan_id(jobs, jobs_per_shard, tag))
  groups = [jobs[i:i + jobs_per_shard] for i in range(0, len(jobs), jobs_per_shard)]
  done = {k: json.loads(_shard_paths(work_dir, k)[1].read_text())
          for k in range(len(groups)) if _shard_paths(work_dir, k)[1].exists()}
  pending = [job for k, group in enumerate(groups) if k not in done for job in group]
  if done:
    logging.info("%s: %d of %d shards already prepared", work_dir, len(done), len(groups))

  bar = tqdm.tqdm(total=len(jobs), initial=len(jobs) - len(pending), desc=desc,
                  unit="src", dynamic_ncols=True)
  results = _pool_map(pending, workers or os.cpu_count() or 1)
  tmp = None
  try:
    index, num_skipped = 0, 0
    for k, group in enumerate(groups):
      if k in done:
        index += done[k]["num_clips"]
        continue
      path, meta = _shard_paths(work_dir, k)
      tmp = path.with_suffix(".array_record.tmp")
      writer = array_record_module.ArrayRecordWriter(str(tmp), "group_size:1")
      start, skipped, counts, cut_short = index, [], [], []
      for job in group:
        clips, note = next(results)
        if note and not clips:
          print(f"skipping {note['reason']}", file=sys.stderr, flush=True)
          skipped.append(note)
          num_skipped += 1
        elif note:
          print(f"{note['file']}: cut short, kept its first {note['kept_frames']} frames "
                f"({note['reason']})", file=sys.stderr, flush=True)
          cut_short.append(note)
        counts.append([job.name, len(clips)])
        for clip in clips:
          writer.write(make_record(clip, index))
          index += 1
        bar.update(1)
        bar.set_postfix(clips=index, skipped=num_skipped, refresh=False)
      writer.close()
      os.replace(tmp, path)
      tmp = None
      done[k] = {"num_clips": index - start, "skipped": skipped, "sources": counts,
                 "cut_short": cut_short}
      _atomic_write_text(meta, json.dumps(done[k]))
  except (OSError, RuntimeError, ValueError) as err:
    if "No space left" in str(err) or getattr(err, "errno", None) == errno.ENOSPC:
      raise errors.DataError(f"{work_dir}: the disk is full while preparing the data "
                             f"({_shards_done(done)} kept; the partial shard was removed); "
                             "free space and rerun to continue") from err
    raise
  finally:
    if tmp is not None:
      tmp.unlink(missing_ok=True)  # a shard cut short: nothing can resume from it
    bar.close()
    results.close()
  return [Shard(_shard_paths(work_dir, k)[0], done[k]["num_clips"], done[k]["skipped"],
                done[k].get("sources", []), done[k].get("cut_short", []))
          for k in range(len(groups))]


def _shards_done(done: dict) -> str:
  return f"{len(done)} finished shard{'s' if len(done) != 1 else ''}"
