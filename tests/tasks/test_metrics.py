import numpy as np

from inrv_jax.evaluation import metrics


def videos(seed, shape=(2, 3, 16, 16, 3)):
  return np.random.default_rng(seed).uniform(size=shape).astype(np.float32)


def test_psnr_matches_its_definition_and_masks_select_pixels():
  a, b = videos(0), videos(1)
  expected = -10 * np.log10(np.mean((a.astype(np.float64) - b) ** 2, axis=(1, 2, 3, 4)))
  np.testing.assert_allclose(metrics.psnr(a, b), expected, rtol=1e-6)
  mask = np.zeros(a.shape[:4], bool)
  mask[:, 0] = True
  np.testing.assert_allclose(metrics.psnr(a, b, mask), metrics.psnr(a[:, :1], b[:, :1]))
  assert np.isnan(metrics.psnr(a, b, np.zeros_like(mask))).all()


def test_ssim_is_one_for_equal_videos_and_matches_the_closed_form_for_flat_ones():
  a = videos(0)
  np.testing.assert_allclose(metrics.ssim(a, a), 1.0, rtol=1e-9)
  flat_a, flat_b = np.full((1, 2, 12, 12, 3), 0.2), np.full((1, 2, 12, 12, 3), 0.6)
  c1 = metrics.SSIM_K1 ** 2  # no variance: SSIM is the luminance term alone
  np.testing.assert_allclose(metrics.ssim(flat_a, flat_b), (2 * 0.2 * 0.6 + c1) / (0.04 + 0.36 + c1))


def test_ssim_falls_with_noise():
  ramp = np.broadcast_to(np.linspace(0, 1, 16)[None, None, :, None, None], (1, 2, 16, 16, 3))
  noise = np.random.default_rng(0).normal(size=ramp.shape)
  mild, strong = [metrics.ssim(ramp, np.clip(ramp + s * noise, 0, 1))[0] for s in (0.02, 0.2)]
  assert 1.0 > mild > 0.5 > strong
