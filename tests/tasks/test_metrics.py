import numpy as np

from inrv_jax import metrics


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


def test_ssim_is_one_for_equal_videos_and_lower_for_noise():
  a = videos(0)
  np.testing.assert_allclose(metrics.ssim(a, a), 1.0, rtol=1e-9)
  noisy = np.clip(a + 0.2 * videos(2) - 0.1, 0, 1)
  assert (metrics.ssim(a, noisy) < 0.95).all()
  assert (metrics.ssim(a, noisy) > metrics.ssim(a, videos(3))).all()
