"""Hyperparameter sweeps over k (groups per stage) and λ (distillation weight) on Ray Tune
(§5.5, Fig. 6).

group_cache.py   groups and priors for one k, built once and shared by its trials
slots.py         a cluster-wide cap on Ray Train runs in flight during a sweep
sweep.py         run_sweep(): the Tune driver, one ChoirRec training run per trial
report.py        tune/results.csv, the plots, tune/best.yaml
"""

from choirrec.lazy_exports import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {"run_sweep": "sweep"})
__all__ = __dir__()
