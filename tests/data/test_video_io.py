"""Decoding as a player shows it: rotation metadata, frame sizes that change."""

import numpy as np
import pytest

from inrv_jax.data import video_io
from hostile_files import marked_frames, write_resizing_avi, write_rotated_mp4

# ffmpeg's autorotate (and every player) turns a frame tagged rotate=R by R
# degrees clockwise: where the white top-left corner of the stored 64x32 frame lands.
CORNER_AFTER_CLOCKWISE = {0: "top_left", 90: "top_right", 180: "bottom_right",
                          270: "bottom_left", -90: "bottom_left", -180: "bottom_right",
                          -270: "top_right"}


def bright_corner(frame: np.ndarray) -> str:
  h, w = frame.shape[:2]
  corners = {"top_left": frame[:4, :4], "top_right": frame[:4, w - 4:],
             "bottom_left": frame[h - 4:, :4], "bottom_right": frame[h - 4:, w - 4:]}
  return max(corners, key=lambda k: corners[k].mean())


@pytest.mark.parametrize("rotate", sorted(CORNER_AFTER_CLOCKWISE))
def test_rotation_metadata_gives_frames_as_a_player_shows_them(tmp_path, rotate):
  path = write_rotated_mp4(tmp_path / "phone.mp4", marked_frames(3, 32, 64), rotate)
  video = video_io.read_video(path)
  upright = rotate % 180 == 0
  assert video.shape == ((3, 32, 64, 3) if upright else (3, 64, 32, 3))
  assert bright_corner(video[0]) == CORNER_AFTER_CLOCKWISE[rotate]


def test_a_frame_size_change_is_scaled_to_the_first_size_with_a_warning(tmp_path):
  small, large = marked_frames(3, 32, 64), np.full((3, 48, 80, 3), 200, np.uint8)
  path = write_resizing_avi(tmp_path / "switch.avi", [small, large])
  with pytest.warns(UserWarning, match=r"switch\.avi.*64x32 to 80x48"):
    video = video_io.read_video(path)
  assert video.shape == (6, 32, 64, 3)
  np.testing.assert_allclose(video[3:].mean(), 200, atol=3)  # the later frames, scaled
  assert bright_corner(video[0]) == "top_left"
