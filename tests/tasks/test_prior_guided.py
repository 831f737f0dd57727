"""The learned prior in the tasks: a tiny model trained on real clips, its prior fitted by
training; prior-guided inversion of half-hidden clips beats the unguided one on the
hidden pixels, sampling defaults to the prior, and the eval reports it."""

import jax
import numpy as np

import inrv_jax
from inrv_jax.data import datasets
from inrv_jax.evaluation import evaluate
from inrv_jax.tasks import inversion


def test_prior_guided_inversion_beats_unguided_on_hidden_pixels(guided_workdir):
  model = inrv_jax.load(guided_workdir)
  assert model.prior is not None
  clips = datasets.clips01(datasets.load(model.config.data), range(model.num_videos))
  unguided = inversion.invert(clips, "inpaint_box", model, key=0, progress=False,
                              use_prior=False)
  guided = inversion.invert(clips, "inpaint_box", model, key=0, progress=False)  # default
  assert guided.latents_per_start.shape[1] == model.config.prior.inversion_starts
  hidden = lambda r: float(np.mean(r.metrics["psnr_unobserved"]))
  baseline = float(np.mean(guided.metrics["baseline_psnr_unobserved"]))
  assert hidden(unguided) > baseline  # the model has learned something to fill in
  assert hidden(guided) > hidden(unguided) + 0.3, (hidden(guided), hidden(unguided))
  once = inversion.invert(clips[:4], "inpaint_box", model, key=0, progress=False)
  again = inversion.invert(clips[:4], "inpaint_box", model, key=0, progress=False)
  np.testing.assert_array_equal(once.latents_per_start, again.latents_per_start)  # seeded


def test_cli_sample_defaults_to_the_prior(guided_workdir):
  from inrv_jax.tasks import cli  # pylint: disable=import-outside-toplevel
  record = cli.sample_command(guided_workdir, num=3, seed=1)
  assert record["method"] == "prior"
  z = np.load(guided_workdir / "sample" / "latents.npy")
  model = inrv_jax.load(guided_workdir)
  np.testing.assert_array_equal(z, model.prior.sample(jax.random.key(1), 3,
                                                      anchors=model.latents))


def test_novelty_of_training_latents_is_a_copy_and_of_samples_is_measured(guided_workdir):
  model = inrv_jax.load(guided_workdir)
  own = evaluate.nearest_training_psnr(model, model.latents[:4])
  assert np.all(own > 60)  # each training latent's nearest training video is itself
  scores = evaluate.novelty(model, model.latents[:4], seed=0)
  assert scores["test_inversions"]["copies_fraction"] == 1.0
  prior = scores["prior_samples"]
  assert prior["num_videos"] == evaluate.NOVELTY_SAMPLES
  assert 0.0 <= prior["copies_fraction"] <= 1.0 and np.isfinite(prior["psnr_mean"])
