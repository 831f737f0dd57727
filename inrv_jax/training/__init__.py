"""Training: the step and the loop (train), the progressive plan and optimizer (stages),
losses, which pixels a step renders (pixel_sampling), checkpoints, start-up checks
(resources), early stops (stopping) and the CLIP features of conditioning="clip"."""
