"""Commands beside the main one: importing the authors' checkpoint (import_official),
fetching pretrained weights (fetch_weights), the CPU settings in use (cpu_settings)."""
