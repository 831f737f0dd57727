"""Pure INR functions and the Flax modules that emit their weights."""
