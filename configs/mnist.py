"""Moving MNIST: the standard 10,000 videos of two bouncing digits, 20 frames of 64x64.

mnist_test_seq.npy goes in <manual_dir>; or generate videos from mnist.npz with
--config.data.generated_videos=N (see docs/datasets.md).
"""

from inrv_jax import config_defaults


def get_config(arg: str | None = None):
  del arg
  c = config_defaults.base_config()
  c.data.name = "moving_mnist"     # builder (TFDS name inrv_moving_mnist)
  c.data.path = ""                 # unused (raw files come from data.manual_dir)
  c.data.num_frames = 20           # all 20 frames of the standard sequences
  c.data.height = 64               # native 64 x 64, no resize
  c.data.width = 64
  c.data.stride = 0                # one clip per video
  c.model.hn_in = 128              # paper: 128 above 2000 training videos
  c.train.loss = "weighted_mse"    # paper: w (pred - gt)^2, w = 2 on background, 4 on digits
  c.train.batch_size = 1           # the release trains 1-2 videos per GPU
  c.train.num_steps = 1_000_000    # long run; stop and resume at will
  c.train.checkpoint_every = 2000  # steps between checkpoints
  c.train.log_every = 100          # steps between metric lines
  c.eval.fps = 8                   # frame rate of written videos
  return c
