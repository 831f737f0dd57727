import numpy as np
import pytest

from inrv_jax import errors
from inrv_jax.tasks import masks

T, H, W = 16, 32, 32


def grid(text):
  return masks.parse(text).grid(T, H, W)


def test_full_observes_everything():
  assert grid("full").all()


def test_inpaint_box_observes_exactly_the_box_in_every_frame():
  m = grid("inpaint_box:top=2,bottom=16,left=4,right=30")
  expected = np.zeros((T, H, W), bool)
  expected[:, 2:16, 4:30] = True
  np.testing.assert_array_equal(m, expected)
  top_half = grid("inpaint_box")  # the paper's default: the top half
  assert top_half[:, :H // 2].all() and not top_half[:, H // 2:].any()


def test_sparse_observes_the_fraction_seeded():
  m = grid("sparse:fraction=0.25,seed=3")
  assert m.sum() == round(0.25 * T * H * W)
  np.testing.assert_array_equal(m, grid("sparse:fraction=0.25,seed=3"))
  assert (m != grid("sparse:fraction=0.25,seed=4")).any()
  assert 0.15 < m[:, :, :W // 2].mean() < 0.35  # spread over the grid, not one block


def test_future_observes_the_first_k_frames():
  m = grid("future:k=4")
  assert m[:4].all() and not m[4:].any()
  assert grid("future")[: T // 4].all() and not grid("future")[T // 4:].any()


def test_frame_interp_observes_frames_i_and_j_only():
  m = grid("frame_interp:i=0,j=15")
  assert m[[0, 15]].all()
  assert not m[1:15].any()
  np.testing.assert_array_equal(grid("frame_interp"), m)  # default: first and last


def test_superres_observes_the_strided_low_resolution_grid():
  m = grid("superres:factor=4")
  assert m.sum() == T * (H // 4) * (W // 4)
  assert m[:, ::4, ::4].all()
  assert not m[:, 1::4].any() and not m[:, :, 2::4].any()


@pytest.mark.parametrize("text", ["full", "inpaint_box:top=0,bottom=16,left=0,right=32",
                                  "sparse:fraction=0.25,seed=0", "future:k=4",
                                  "frame_interp:i=0,j=15", "superres:factor=4"])
def test_parse_round_trips(text):
  spec = masks.parse(text)
  assert masks.parse(str(spec)) == spec
  assert masks.MaskSpec.make(spec.kind, **dict(spec.params)) == spec


@pytest.mark.parametrize("text, message", [
    ("", "empty mask spec"),
    ("blur", "unknown mask kind 'blur'"),
    ("future:frames=3", "has no parameter 'frames'"),
    ("future:k=x", "k must be a number"),
    ("future:k", "expected name=value"),
    ("future:k=0", "k must be between 1"),
    ("inpaint_box:top=20,bottom=10", "the box must satisfy"),
    ("frame_interp:i=0,j=16", "frames i and j"),
    ("sparse:fraction=0.00001", "observes no pixel"),
])
def test_bad_specs_say_what_is_wrong(text, message):
  with pytest.raises(errors.UserError, match=message):
    masks.parse(text).grid(T, H, W)


def test_arrays_that_observe_nothing_are_refused():
  with pytest.raises(masks.MaskError, match="mask 1 observes no pixel"):
    masks.as_arrays([np.ones((T, H, W), bool), np.zeros((T, H, W), bool)], 2, T, H, W)
  with pytest.raises(masks.MaskError, match="got 1 masks for 2 videos"):
    masks.as_arrays(["full"], 2, T, H, W)


def test_as_arrays_mixes_specs_strings_and_arrays():
  out = masks.as_arrays(["full", masks.MaskSpec.make("future", k=2), grid("superres")], 3, T, H, W)
  assert out.shape == (3, T, H, W) and out.dtype == bool
  np.testing.assert_array_equal(out[1], grid("future:k=2"))
