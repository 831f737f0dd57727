"""Where a compiled call's time goes: its XLA ops ranked by their summed run time.

`jax.profiler` traces a few calls; XLA's runtime records each op it runs (a
fusion, a dot, a copy: one HLO instruction of the compiled program) as an
event on the thread that ran it (on CPU, the XLA Eigen pool's threads). The
events are summed by instruction name over all threads and divided by the
number of calls; the compiled HLO text gives each instruction's shape and the
JAX operation it came from (its `op_name`).

On CPU the ops of one call run one after another, each on the cores it
parallelises over. For the quickstart's step the named ops add up to the
call's wall time (28.1 of 28.6 ms); for the paper step they cover only about a
third of it: a large matrix product's event covers its dispatch (about 0.9 ms
for a `f32[10000,256]` dot that needs at least 6.5 ms), and the product itself
runs as Eigen tasks with no event of their own (BENCHMARKS.md, "The paper
step: what the profile could not name"). Each row's `of_wall` (its time over
the profiled calls' wall time) shows how much a ranking explains.
Used by `python -m inrv_jax.bench.speed --measure=train --profile_ops=N`.
"""

import collections
import pathlib
import re
import tempfile
import time
from typing import Callable

import jax

_INSTRUCTION = re.compile(r"\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*(\S+)")
_OP_NAME = re.compile(r'op_name="([^"]*)"')


def hlo_instructions(hlo_text: str) -> dict[str, tuple[str, str]]:
  """{instruction name: (result shape, JAX op_name or "")} of compiled HLO text
  (`jax.jit(f).lower(...).compile().as_text()`)."""
  found = {}
  for line in hlo_text.splitlines():
    match = _INSTRUCTION.match(line)
    if match:
      op_name = _OP_NAME.search(line)
      found[match.group(1)] = (match.group(2), op_name.group(1) if op_name else "")
  return found


def top_ops(run: Callable[[], None], calls: int, hlo_text: str, count: int) -> list[dict]:
  """Runs `run` (one blocking call of the program `hlo_text` describes) `calls` times
  under the profiler; returns its `count` costliest ops, costliest first.

  Each row: "op" (instruction name), "ms_per_call" (summed over threads, divided
  by calls), "share" (of the time of all named ops, 0-1), "of_wall" (of the
  calls' wall time, 0-1 on CPU), "shape", "from" (the JAX op_name; empty where
  the compiled HLO keeps none: copies, wrapped reductions, some dots). Events
  whose name is not an instruction of `hlo_text` (Python, the runtime's own
  bookkeeping) are left out. Raises ValueError for calls < 1.
  """
  if calls < 1:
    raise ValueError(f"top_ops: calls must be >= 1, got {calls}")
  with tempfile.TemporaryDirectory() as trace_dir:
    jax.profiler.start_trace(trace_dir)
    try:
      start = time.perf_counter()
      for _ in range(calls):
        run()
      wall_ns = (time.perf_counter() - start) * 1e9
    finally:
      jax.profiler.stop_trace()
    traces = sorted(pathlib.Path(trace_dir).rglob("*.xplane.pb"))
    profile = jax.profiler.ProfileData.from_file(str(traces[-1]))
  known = hlo_instructions(hlo_text)
  nanoseconds = collections.Counter()
  for plane in profile.planes:
    for line in plane.lines:
      for event in line.events:
        if event.name in known:
          nanoseconds[event.name] += event.duration_ns
  total = sum(nanoseconds.values()) or 1
  return [{"op": name, "ms_per_call": ns / calls / 1e6, "share": ns / total,
           "of_wall": ns / wall_ns, "shape": known[name][0], "from": known[name][1]}
          for name, ns in nanoseconds.most_common(count)]
