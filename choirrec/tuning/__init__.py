"""Hyperparameter sweeps over k (groups per stage) and λ (distillation weight) on Ray Tune."""
