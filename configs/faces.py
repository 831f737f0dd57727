"""How2Sign-Faces, the paper's recipe.

25 frames of 100x100, latent_dim 128, CLIP conditional regularisation, L1 + 0.7
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
  variant = config_defaults.check_variant("configs/faces.py", arg, VARIANTS)
  # the authors' face clips: first 25 frames at 100 x 100, latent_dim 128 (10,000 videos)
  c = config_defaults.paper_dataset_config("how2sign_faces")
  c.model.conditioning = "clip"    # paper Sec. 3.2: CLIP + bi-GRU descriptor merged with the table row
  c.train.loss = "l1"              # paper pixel term
  c.train.lpips_weight = 0.7       # paper: + 0.7 LPIPS-VGG16 per frame
  c.train.pixel_fraction = 1.0     # whole frames (LPIPS needs them)
  c.train.learning_rate = 1e-4     # paper
  # progressive initialisation (paper Sec. 3.3): (first n videos, epochs); 0 = all
  c.train.stages = ((10, 710), (100, 101), (1000, 50), (10000, 10), (0, 100))
  c.train.num_steps = 0            # 0 = run the whole stage plan
  if variant == "plain":
    c.model.conditioning = "none"
  if variant == "gauss":
    c.model.conditioning = "gauss_prior"
  return c
