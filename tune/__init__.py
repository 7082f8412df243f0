"""Ray Tune sweeps over k and λ (§5.5, Fig. 6): ``python -m tune.sweep`` (docs/tuning.md)."""
