"""Video files -> prepared clip datasets -> sharded training batches."""
