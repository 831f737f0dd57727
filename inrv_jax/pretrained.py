"""Pretrained weight files that no pip package ships: fetch, verify, cache.

Each entry names its canonical URL and a SHA-256 (or a prefix of one, as
torchvision publishes). `path(name, override)` returns a local file: the
override if given, else the cache (~/.cache/inrv_jax or $INRV_CACHE_DIR),
downloading into it when online. When the file can't be had,
`MissingWeightsError` says which file, where it comes from, and which config
field takes a local path. `require({entry: override})` checks several at
once, so a run stops at start-up listing everything that is missing.

The entries themselves live beside the model that loads them (big_vision's
models/*.load): `clip_vision.CLIP_WEIGHTS`, `vgg16.IMAGENET_WEIGHTS`,
`lpips.LIN_WEIGHTS`; `resources.needed_weights(config)` lists a config's.
"""

import dataclasses
import hashlib
import os
import pathlib
import shutil
import tempfile
import urllib.error
import urllib.request

from inrv_jax import errors


@dataclasses.dataclass(frozen=True)
class WeightFile:
  """A pretrained weight file: where it comes from, its checksum, its cache name."""
  name: str          # short key, e.g. "vgg16"
  url: str           # canonical download URL
  sha256: str        # full hex digest or a leading prefix of it
  filename: str      # name in the cache directory
  config_field: str  # config field that takes a local path instead


class MissingWeightsError(errors.UserError):
  """A weight file that can't be had; the message says where to get it."""


def cache_dir() -> pathlib.Path:
  """Where fetched weight files live: $INRV_CACHE_DIR, else ~/.cache/inrv_jax."""
  return pathlib.Path(os.environ.get("INRV_CACHE_DIR",
                                     pathlib.Path.home() / ".cache" / "inrv_jax"))


def sha256_of(path: os.PathLike) -> str:
  """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def _describe(entry: WeightFile) -> str:
  return (f"  {entry.filename}: download {entry.url} (sha256 {entry.sha256}...) "
          f"and set --config.{entry.config_field}=/path/to/{entry.filename}, "
          f"or place it at {cache_dir() / entry.filename}")


def _verified(entry: WeightFile, path: pathlib.Path) -> pathlib.Path:
  digest = sha256_of(path)
  if not digest.startswith(entry.sha256):
    raise MissingWeightsError(
        f"{path}: checksum mismatch for {entry.name} (sha256 {digest}, expected "
        f"{entry.sha256}...). Delete it and fetch it again:\n{_describe(entry)}")
  return path


def _download(entry: WeightFile, dest: pathlib.Path, timeout: float) -> None:
  dest.parent.mkdir(parents=True, exist_ok=True)
  with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
    try:
      with urllib.request.urlopen(entry.url, timeout=timeout) as response:
        shutil.copyfileobj(response, tmp)
    except (urllib.error.URLError, OSError) as err:
      os.unlink(tmp.name)
      raise MissingWeightsError(
          f"could not download {entry.name} ({err}); this machine may be offline. "
          f"Fetch it by hand:\n{_describe(entry)}") from err
  try:
    _verified(entry, pathlib.Path(tmp.name))
  except MissingWeightsError:
    os.unlink(tmp.name)
    raise
  os.replace(tmp.name, dest)


def path(entry: WeightFile, override: str = "", download: bool = True,
         timeout: float = 30.0) -> pathlib.Path:
  """Local path of `entry`'s file, SHA-256 verified; downloads into the cache if allowed.

  Raises MissingWeightsError (naming the file, URL and config field) when the
  override does not exist, the checksum differs, or the file is not cached
  and can't be downloaded.
  """
  if override:
    local = pathlib.Path(override).expanduser()
    if not local.is_file():
      raise MissingWeightsError(
          f"--config.{entry.config_field}={override}: no such file.\n{_describe(entry)}")
    return _verified(entry, local)
  cached = cache_dir() / entry.filename
  if cached.is_file():
    return _verified(entry, cached)
  if not download:
    raise MissingWeightsError(f"missing pretrained weights:\n{_describe(entry)}")
  _download(entry, cached, timeout)
  return cached


def require(entries_and_overrides: dict[WeightFile, str], download: bool = True,
            timeout: float = 30.0) -> dict[str, pathlib.Path]:
  """Resolve several files -> {entry.name: path}; one error lists every missing one."""
  found, problems = {}, []
  for entry, override in entries_and_overrides.items():
    try:
      found[entry.name] = path(entry, override, download=download, timeout=timeout)
    except MissingWeightsError as err:
      problems.append(str(err))
  if problems:
    raise MissingWeightsError(
        "pretrained weights needed by this config are not available:\n"
        + "\n".join(problems))
  return found
