"""Ray Tune sweeps over k and λ (§5.5, Fig. 6). Built in the sweeps issue."""
