"""TFDS builders (array_record, no TensorFlow), one per dataset."""
