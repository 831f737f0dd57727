"""FVD: the Fréchet distance, I3D's inputs, and the real Kinetics-400 I3D on real clips."""


import jax
import numpy as np
import pytest

from inrv_jax import errors
from inrv_jax.evaluation import fvd
from inrv_jax.data import video_io
from inrv_jax.data.builders import video_folder
from inrv_jax.models import i3d

# Kinetics-400 classes (alphabetical index) a clip of a man talking should call up.
FACE_ACTIONS = {397: "yawning", 319: "sneezing", 331: "sticking tongue out", 316: "smoking",
                304: "singing", 176: "kissing", 112: "eating chips", 101: "drinking beer"}


def test_frechet_distance_is_the_closed_form_for_diagonal_gaussians():
  rng = np.random.default_rng(0)
  mu_a, mu_b = rng.normal(size=5), rng.normal(size=5)
  var_a, var_b = rng.uniform(0.5, 2.0, 5), rng.uniform(0.5, 2.0, 5)
  expected = np.sum((mu_a - mu_b) ** 2) + np.sum(var_a + var_b - 2 * np.sqrt(var_a * var_b))
  got = fvd.frechet_distance(mu_a, np.diag(var_a), mu_b, np.diag(var_b))
  assert got == pytest.approx(expected, rel=1e-9)
  assert fvd.frechet_distance(mu_a, np.diag(var_a), mu_a, np.diag(var_a)) == pytest.approx(
      0.0, abs=1e-9)


def test_frechet_distance_of_full_covariances_is_symmetric_and_sees_a_shift():
  rng = np.random.default_rng(1)
  a = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6))
  b = rng.normal(size=(500, 6)) * 0.5
  ab = fvd.distance_between_features(a, b)
  assert ab > 1.0
  assert ab == pytest.approx(fvd.distance_between_features(b, a), rel=1e-6)
  # the same covariance: only the squared mean shift is left (6 dimensions x 3^2)
  assert fvd.distance_between_features(a, a + 3.0) == pytest.approx(54.0, rel=1e-6)


def test_i3d_inputs_quantise_resize_and_scale():
  white = np.full((2, 3, 10, 20, 3), 255, np.uint8)
  out = np.asarray(fvd.i3d_inputs(white))
  assert out.shape == (2, 3, 224, 224, 3)
  np.testing.assert_allclose(out, 1.0, atol=1e-6)
  gray = np.asarray(fvd.i3d_inputs(np.full((1, 2, 8, 8, 3), 0.5, np.float32)))
  np.testing.assert_allclose(gray, 128 / 127.5 - 1.0, atol=1e-6)  # 0.5 -> uint8 128
  with pytest.raises(errors.UserError, match=r"\(B, T, H, W, 3\)"):
    fvd.i3d_inputs(np.zeros((3, 10, 20, 3)))


def test_the_packaged_weights_have_1d_batchnorm_statistics():
  variables = i3d.read_variables()
  stats = jax.tree.leaves(variables["batch_stats"])
  assert len(stats) > 50 and all(s.ndim == 1 for s in stats)


def test_a_missing_weights_file_is_named(tmp_path):
  with pytest.raises(errors.UserError, match="no such I3D weights file"):
    i3d.read_variables(tmp_path / "absent.ckpt")


def _clips(name: str, count: int = 4) -> np.ndarray:
  """count back-to-back 16-frame clips (uint8) of one bundled video, at its own size."""
  video = video_io.read_video(video_folder.bundled_dir() / name, max_frames=16 * count)
  return video.reshape(count, 16, *video.shape[1:])


@pytest.fixture(scope="module")
def extractor():
  return fvd.FeatureExtractor(batch_size=4)


@pytest.fixture(scope="module")
def features(extractor):
  """I3D features of four 16-frame clips of three real videos."""
  return {name: extractor(_clips(f"{name}.mp4"))
          for name in ("carphone_pristine", "carphone_distorted", "bikes")}


def test_too_few_videos_or_frames_are_refused(extractor):
  with pytest.raises(errors.UserError, match="at least 2 videos"):
    fvd.gaussian(np.zeros((1, 400)))
  with pytest.raises(errors.UserError, match="over 16 frames needs videos that long, got 8"):
    extractor(np.zeros((2, 8, 32, 32, 3), np.uint8))
  with pytest.raises(errors.UserError, match="at least 9 frames, got 8"):
    extractor.net(np.zeros((1, 8, 224, 224, 3), np.float32))


def test_i3d_sees_face_actions_in_the_talking_face_clip(features):
  top5 = np.argsort(-features["carphone_pristine"].mean(axis=0))[:5]
  assert len(set(top5.tolist()) & set(FACE_ACTIONS)) >= 3, top5


def test_fvd_is_zero_for_the_same_videos_and_smaller_for_the_same_scene(features):
  face, compressed, bikes = (features[k] for k in ("carphone_pristine", "carphone_distorted",
                                                   "bikes"))
  assert abs(fvd.distance_between_features(face, face)) < 1e-2
  same_scene = fvd.distance_between_features(face, compressed)
  assert 0 < same_scene < 0.5 * fvd.distance_between_features(face, bikes)


@pytest.mark.parametrize("entry", ["fvd", "extractor", "i3d_inputs"])
@pytest.mark.parametrize("scale, planted, found", [
    (1.0, None, r"\[21, 193\] \(uint8 frames as floats\? divide by 255\)"),  # the issue's
    (1 / 255, -0.5, r"\[-0.5, [\d.]+\]$"),
    (1 / 255, np.nan, r"\[[\d.]+, [\d.]+\] and NaN$")])
def test_float_videos_outside_0_1_are_refused_naming_the_range(extractor, entry, scale, planted,
                                                                found):
  real = _clips("bikes.mp4", count=2)[:, :, :32, :32]  # uint8 in [21, 193]
  wrong = real.astype(np.float32) * np.float32(scale)
  if planted is not None:
    wrong[0, 0, 0, 0, 0] = planted
  call = {"fvd": lambda: fvd.fvd(real, wrong, extractor), "extractor": lambda: extractor(wrong),
          "i3d_inputs": lambda: fvd.i3d_inputs(wrong)}[entry]
  with pytest.raises(errors.UserError, match=r"values in \[0, 1\]; got float32 values in " + found):
    call()


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_features_that_are_not_finite_are_refused_before_the_square_root(bad):
  features = np.random.default_rng(0).normal(size=(6, 400))
  features[3, 17] = bad
  with pytest.raises(errors.UserError, match="features of 1 of 6 videos are not finite"):
    fvd.distance_between_features(np.random.default_rng(1).normal(size=(6, 400)), features)
