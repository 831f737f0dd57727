"""Several optimiser steps per compiled call (train.steps_per_call) equal one step a call."""

import json

import jax
import jax.numpy as jnp
import numpy as np

from inrv_jax.runtime import parallel
from inrv_jax.training import stages
from inrv_jax.training import train
from inrv_jax.data import datasets
from inrv_jax.data import pipeline


def test_k_steps_in_one_call_equal_k_single_steps(tiny_config):
  c = tiny_config
  source = datasets.load(c.data)
  mesh = parallel.make_mesh()
  trainer = train.setup(c, len(source), mesh)
  batches = pipeline.Batches(source, c.train.batch_size, c.seed, 0)
  local = [next(batches) for _ in range(5)]
  batches.close()
  active = jnp.int32(len(source))
  single = parallel.replicate(trainer.state, mesh)
  losses = []
  for batch in local:
    single, metrics = trainer.step(single, parallel.global_batch(batch, mesh), active)
    losses.append(float(metrics["loss"]))
  fresh = train.setup(c, len(source), mesh).state  # the same init (same seed)
  scanned, stacked = trainer.steps(parallel.replicate(fresh, mesh),
                                   parallel.global_batch(train.stack(local), mesh,
                                                         stacked=True), active)
  assert int(scanned.step) == int(single.step) == 5
  np.testing.assert_allclose(np.asarray(stacked["loss"]), losses, rtol=1e-6)
  for a, b in zip(jax.tree.leaves(single.params), jax.tree.leaves(scanned.params)):
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-6, atol=1e-7)


def test_calls_end_on_every_logged_saved_or_last_step(tiny_config):
  c = tiny_config
  c.train.steps_per_call, c.train.log_every, c.train.checkpoint_every = 4, 5, 10
  c.eval.every = 0
  stage = stages.Stage(0, 8, 0, 23)
  calls = list(train.LoopClock.of(stage, c).calls(0))
  assert [call.end for call in calls] == [4, 5, 9, 10, 14, 15, 19, 20, 23]
  assert [call.start for call in calls] == [0, 4, 5, 9, 10, 14, 15, 19, 20]
  assert [call.end for call in calls if call.log] == [5, 10, 15, 20, 23]
  assert [call.end for call in calls if call.checkpoint] == [10, 20, 23]
  assert [call.opens_stage for call in calls] == [True] + [False] * 8
  assert not any(call.snapshot for call in calls)


def test_a_resumed_stage_keeps_its_calls_and_snapshot_steps(tiny_config):
  # a later stage resumed mid-way: the calls from there are those of the uninterrupted run
  c = tiny_config
  c.train.steps_per_call, c.train.log_every, c.train.checkpoint_every = 8, 5, 10
  c.eval.every = 6
  clock = train.LoopClock.of(stages.Stage(1, 8, 3, 21), c)
  straight = list(clock.calls(3))
  assert [call.end for call in straight] == [5, 6, 10, 12, 15, 18, 20, 21]
  assert straight[0].opens_stage and not any(call.opens_stage for call in straight[1:])
  assert [call.end for call in straight if call.snapshot] == [6, 12, 18]
  assert list(clock.calls(10)) == straight[3:]


def test_training_with_steps_per_call_matches_one_step_per_call(tiny_config, tmp_path):
  c = tiny_config
  c.train.num_steps = 20
  one = train.train_and_evaluate(c, tmp_path / "one")
  c.train.steps_per_call = 4
  four = train.train_and_evaluate(c, tmp_path / "four")
  for a, b in zip(jax.tree.leaves(one.params), jax.tree.leaves(four.params)):
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-6)
  rows = lambda d: [json.loads(l) for l in (d / "metrics.jsonl").read_text().splitlines()]
  loss_rows = lambda d: [(r["step"], r["loss"]) for r in rows(d) if "loss" in r]
  assert [s for s, _ in loss_rows(tmp_path / "one")] == [s for s, _ in loss_rows(tmp_path / "four")]
  np.testing.assert_allclose([l for _, l in loss_rows(tmp_path / "four")],
                             [l for _, l in loss_rows(tmp_path / "one")], rtol=1e-5)


def test_each_stage_logs_its_first_step_once_whatever_the_steps_per_call(tiny_config, tmp_path):
  # a stage's first step is logged from inside a full-length call; a 1-step stage once
  c = tiny_config
  c.train.stages = ((2, 1), (4, 4), (0, 3))  # 1 + 8 + 12 steps at batch 2
  c.eval.every = 0
  rows = {}
  for k in (1, 4):
    c.train.steps_per_call = k
    train.train_and_evaluate(c, tmp_path / str(k))
    lines = (tmp_path / str(k) / "metrics.jsonl").read_text().splitlines()
    rows[k] = [(r["step"], r["stage"], r["loss"]) for r in map(json.loads, lines) if "loss" in r]
  assert [(s, g) for s, g, _ in rows[4]] == [(s, g) for s, g, _ in rows[1]] == [
      (1, 0), (2, 1), (5, 1), (9, 1), (10, 2), (15, 2), (20, 2), (21, 2)]
  np.testing.assert_allclose([l for *_, l in rows[4]], [l for *_, l in rows[1]], rtol=1e-5)
