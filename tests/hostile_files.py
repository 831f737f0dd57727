"""Video files as phones, editors and broken encoders leave them, made with PyAV."""

import fractions
import pathlib

import av
import numpy as np


def marked_frames(num_frames: int, height: int, width: int) -> np.ndarray:
  """(T, H, W, 3) uint8 grey frames with a white top-left quarter-height square."""
  frames = np.full((num_frames, height, width, 3), 60, np.uint8)
  side = height // 4
  frames[:, :side, :side] = 255
  return frames


def write_rotated_mp4(path: pathlib.Path, frames: np.ndarray, rotate_tag: int) -> pathlib.Path:
  """An H.264 MP4 of `frames` whose display matrix says what ffmpeg's
  `-metadata:s:v:0 rotate=<rotate_tag>` says: the player turns the frames
  `rotate_tag` degrees clockwise (PyAV's rotation is counter-clockwise)."""
  with av.open(str(path), "w") as container:
    stream = container.add_stream("libx264", rate=8)
    stream.width, stream.height = frames.shape[2], frames.shape[1]
    stream.pix_fmt = "yuv420p"
    stream.set_display_rotation(-rotate_tag)
    for frame in frames:
      container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    container.mux(stream.encode())
  return path


def write_resizing_avi(path: pathlib.Path, parts: list[np.ndarray]) -> pathlib.Path:
  """An MJPEG AVI (one video stream) whose frame size changes: `parts` are
  (T_i, H_i, W_i, 3) uint8 runs of frames, each encoded at its own size, as a
  camera that switches resolution leaves them."""
  with av.open(str(path), "w") as container:
    stream = container.add_stream("mjpeg", rate=8)
    stream.height, stream.width = parts[0].shape[1:3]
    stream.pix_fmt = "yuvj420p"
    pts = 0
    for part in parts:
      encoder = av.CodecContext.create("mjpeg", "w")
      encoder.height, encoder.width = part.shape[1:3]
      encoder.pix_fmt, encoder.time_base = "yuvj420p", fractions.Fraction(1, 8)
      for frame in part:
        image = av.VideoFrame.from_ndarray(frame, format="rgb24")
        image.pts, pts = pts, pts + 1
        for packet in encoder.encode(image):
          packet.stream = stream
          container.mux(packet)
      for packet in encoder.encode(None):
        packet.stream = stream
        container.mux(packet)
  return path


def write_audio_only_mkv(path: pathlib.Path) -> pathlib.Path:
  """A Matroska file with a 0.1 s silent audio stream and no video stream."""
  with av.open(str(path), "w") as container:
    stream = container.add_stream("pcm_s16le", rate=8000)
    frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
    frame.sample_rate = 8000
    for packet in [*stream.encode(frame), *stream.encode(None)]:
      container.mux(packet)
  return path


def write_encoded(path: pathlib.Path, frames: np.ndarray, codec: str, pix_fmt: str,
                  frame_format: str = "rgb24", pts: list[int] | None = None,
                  container_format: str | None = None,
                  container_options: dict | None = None) -> pathlib.Path:
  """`frames` ((T, H, W[, C]) in `frame_format`, e.g. gray, rgba, rgb48le) encoded
  with `codec` as `pix_fmt`; `pts` (in 1/1000 s) gives irregular timestamps (a
  variable-frame-rate file); `container_format` overrides the one the name implies;
  `container_options` are the muxer's (e.g. {"movflags": "faststart"})."""
  with av.open(str(path), "w", format=container_format,
               options=container_options or {}) as container:
    stream = container.add_stream(codec, rate=8)
    stream.width, stream.height = frames.shape[2], frames.shape[1]
    stream.pix_fmt = pix_fmt
    if pts is not None:
      stream.codec_context.time_base = fractions.Fraction(1, 1000)
    for index, array in enumerate(frames):
      frame = av.VideoFrame.from_ndarray(array, format=frame_format)
      if pts is not None:
        frame.pts, frame.time_base = pts[index], fractions.Fraction(1, 1000)
      container.mux(stream.encode(frame))
    container.mux(stream.encode())
  return path
