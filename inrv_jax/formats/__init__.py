"""File formats of pretrained weights, read without torch and without running pickled code."""
