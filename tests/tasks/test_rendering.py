import numpy as np
import pytest

from inrv_jax import errors
from inrv_jax.models import inr as inr_lib
from inrv_jax.tasks import rendering


@pytest.mark.parametrize("chunk", [1, 4096, 5000, 8192])
def test_chunked_render_equals_unchunked_bit_for_bit(tiny_model, chunk):
  z = tiny_model.latents[:5]  # two video batches of 4 and 1
  kwargs = dict(num_frames=6, resolution=(24, 40), video_batch=4)  # 5760 px: 2 blocks
  whole = rendering.render(tiny_model, z, chunk_pixels=1 << 30, **kwargs)
  np.testing.assert_array_equal(rendering.render(tiny_model, z, chunk_pixels=chunk, **kwargs),
                                whole)


def test_render_is_the_inr_on_the_grid_at_any_size(tiny_model):
  z = tiny_model.latents[:2]
  video = rendering.render(tiny_model, z, num_frames=5, resolution=(7, 9))
  assert video.shape == (2, 5, 7, 9, 3) and video.dtype == np.float32
  raw = inr_lib.grid_apply(tiny_model.inr_spec, tiny_model.inr_weights(z), 5, 7, 9)
  np.testing.assert_allclose(video, (np.clip(np.asarray(raw), -1, 1) + 1) / 2, atol=1e-6)
  default = rendering.render(tiny_model, z)
  assert default.shape == (2, 4, 8, 12, 3)  # the training clip size


def test_bad_latents_and_sizes_are_refused(tiny_model):
  with pytest.raises(errors.UserError, match=r"latents must be \(n, 8\)"):
    rendering.render(tiny_model, np.zeros((2, 5)))
  with pytest.raises(errors.UserError, match="must be positive"):
    rendering.render(tiny_model, tiny_model.latents[:1], resolution=(0, 4))


def test_model_from_needs_a_model_and_says_how(monkeypatch, tmp_path):
  from inrv_jax import trained_model
  monkeypatch.setattr(trained_model, "_LAST_MODEL", [])
  monkeypatch.delenv(rendering.WORKDIR_ENV, raising=False)
  with pytest.raises(errors.UserError, match="INRV_WORKDIR=DIR"):
    rendering.model_from()
  monkeypatch.setenv(rendering.WORKDIR_ENV, str(tmp_path / "nowhere"))
  with pytest.raises(errors.UserError, match="nowhere: no such workdir"):
    rendering.model_from()
  with pytest.raises(errors.UserError, match="not a trained inrv_jax workdir"):
    rendering.model_from(workdir=tmp_path)


def test_zero_frames_or_rows_are_refused_not_replaced_by_the_default(tiny_model):
  with pytest.raises(errors.UserError, match="render size must be positive, got 0x8x12"):
    rendering.render(tiny_model, tiny_model.latents[:1], num_frames=0)
  with pytest.raises(errors.UserError, match="render size must be positive, got 4x0x12"):
    rendering.render(tiny_model, tiny_model.latents[:1], resolution=(0, 12))
