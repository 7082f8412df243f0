"""Training: the feature store (samples -> model batches). Ray Train and evaluation follow."""
