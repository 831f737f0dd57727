"""How2Sign-Faces, the paper's recipe.

25 frames of 100x100, hn_in 128, CLIP conditional regularisation, L1 + 0.7
LPIPS-VGG16 per frame, Adam 1e-4, progressive initialisation 10 -> 100 ->
1,000 -> 10,000 -> all videos.

Variants (big_vision style, --config=configs/faces.py:VARIANT):
  (none)  the paper recipe above (the release's `-clip` model)
  plain   the same without conditioning (latent table -> hypernetwork)
  gauss   the Gaussian-prior variant (`-var`: 0.05 KL on the latent table)
The dataset comes from the authors' How2Sign-Faces archive: see README "Datasets".
"""

from inrv_jax import config_defaults

VARIANTS = ("", "plain", "gauss")


def get_config(arg: str | None = None):
  variant = arg or ""
  if variant not in VARIANTS:
    raise ValueError(f"configs/faces.py: unknown variant {variant!r}; choose one of "
                     f"{[v for v in VARIANTS if v]} or none")
  c = config_defaults.base_config()
  c.data.name = "how2sign_faces"   # TFDS builder of the authors' face clips
  c.data.path = ""                 # unused by how2sign_faces (see data.manual_dir)
  c.data.num_frames = 25           # paper: first 25 frames
  c.data.height = 100              # paper: 100 x 100
  c.data.width = 100
  c.data.stride = 0                # first clip of every video only
  c.model.hn_in = 128              # paper: 128 above 2000 training videos
  c.train.batch_size = 1           # the release trains 1-2 videos per GPU
  c.train.learning_rate = 1e-4     # paper
  c.model.conditioning = "clip"    # paper Sec. 3.2: CLIP + bi-GRU descriptor merged with the table row
  c.train.loss = "l1"              # paper pixel term
  c.train.lpips_weight = 0.7       # paper: + 0.7 LPIPS-VGG16 per frame
  c.train.pixel_fraction = 1.0     # whole frames (LPIPS needs them)
  # progressive initialisation (paper Sec. 3.3): (first n videos, epochs); 0 = all
  c.train.stages = ((10, 710), (100, 101), (1000, 50), (10000, 10), (0, 100))
  c.train.num_steps = 0            # 0 = run the whole stage plan
  c.train.checkpoint_every = 2000
  c.train.log_every = 100
  c.eval.fps = 25
  if variant == "plain":
    c.model.conditioning = "none"
  if variant == "gauss":
    c.model.conditioning = "gauss_prior"
  return c
