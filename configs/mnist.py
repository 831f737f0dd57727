"""Moving MNIST: the standard 10,000 videos of two bouncing digits, 20 frames of 64x64.

mnist_test_seq.npy goes in <manual_dir>; or generate videos from mnist.npz with
--config.data.generated_videos=N (see README "Datasets").
"""

from inrv_jax import config_defaults


def get_config(arg: str | None = None):
  config_defaults.check_variant("configs/mnist.py", arg)
  # all 20 frames of the standard sequences at their native 64 x 64, one clip per video
  c = config_defaults.paper_dataset_config("moving_mnist", num_frames=20, size=64)
  c.train.loss = "weighted_mse"    # paper: w (pred - gt)^2, w = 2 on background, 4 on digits
  c.eval.fps = 8                   # frame rate of written videos
  return c
