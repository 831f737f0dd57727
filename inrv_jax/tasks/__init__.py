"""What a trained latent space can do: render, sample, interpolate, invert."""
