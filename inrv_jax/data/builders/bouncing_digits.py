"""Seeded Moving-MNIST generator: digits bouncing around a 64x64 canvas."""

import numpy as np

CANVAS = 64
SPEED = 3.6  # pixels per frame: the standard 0.1 of the free range (64 - 28)


def bouncing_digits(digits: np.ndarray, rng: np.random.Generator, num_frames: int,
                    num_digits: int = 2, canvas: int = CANVAS) -> np.ndarray:
  """One video (T, canvas, canvas) uint8 of `num_digits` digits drawn from `digits` (N, h, w).

  Each digit starts at a uniform position with a uniform direction, moves
  SPEED pixels per frame and bounces off the walls; overlapping digits
  combine by maximum.
  """
  size = digits.shape[1]
  free = canvas - size
  video = np.zeros((num_frames, canvas, canvas), np.uint8)
  for _ in range(num_digits):
    digit = digits[rng.integers(len(digits))]
    pos = rng.uniform(0, free, size=2)                 # (y, x)
    angle = rng.uniform(0, 2 * np.pi)
    vel = SPEED * np.array([np.sin(angle), np.cos(angle)])
    for t in range(num_frames):
      y, x = np.round(pos).astype(int)
      np.maximum(video[t, y:y + size, x:x + size], digit, out=video[t, y:y + size, x:x + size])
      pos = pos + vel
      for axis in range(2):                            # reflect off the walls
        if pos[axis] < 0:
          pos[axis], vel[axis] = -pos[axis], -vel[axis]
        elif pos[axis] > free:
          pos[axis], vel[axis] = 2 * free - pos[axis], -vel[axis]
  return video
