"""Evaluation: PSNR/SSIM (metrics), FVD and its I3D features (fvd), a model's FVD against
real videos (fvd_eval), the snapshots written during and after training (snapshots), and
`--mode=eval`'s report (evaluate)."""
